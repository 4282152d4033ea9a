package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// TestSpendMaxPSBTSizeFlag: --max-psbt-size takes bytes, a device kind
// (its limit, named as the source) or none; anything else is bad usage.
func TestSpendMaxPSBTSizeFlag(t *testing.T) {
	for _, tc := range []struct {
		arg    string
		bytes  int
		source string // a part of it
		bad    bool
	}{
		{"", 0, "", false},
		{"none", -1, "", false},
		{"250000", 250_000, "", false},
		{"coldcard", 2 << 20, "MAX_TXN_LEN_MK4", false},
		{"Coldcard-Mk3", 384 << 10, "Mk3", false},
		{"jade", 401<<10 - 128, "MAX_INPUT_MSG_SIZE", false},
		{"ledger", -1, "", false}, // streams: no limit
		{"999", 0, "", true},
		{"2MB", 0, "", true},
		{"abacus", 0, "", true},
	} {
		n, src, err := parseMaxPSBTSize(tc.arg)
		if (err != nil) != tc.bad || n != tc.bytes || !strings.Contains(src, tc.source) {
			t.Errorf("%q: %d %q %v", tc.arg, n, src, err)
		}
	}
	// Through the command: the flag reaches the options, a bad one exits 2.
	io, _, _, _ := TestStreams()
	f := NewFactory(io, func(string) string { return "" })
	defer f.Close()
	var got *SpendOptions
	cmd := newCmdSpend(f, func(_ context.Context, o *SpendOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"w", "--send-all", "bcrt1qxyz", "--max-psbt-size", "jade"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.Execute(); err != nil || got == nil || got.MaxPSBTSize != "jade" {
		t.Fatalf("parsed %+v: %v", got, err)
	}
	dir := t.TempDir()
	if r := runCLI(t, dir, "", "spend", "w", "--send-all", "bcrt1qxyz", "--max-psbt-size", "lots"); r.Code != 2 || !strings.Contains(r.Err, "a device kind (coldcard, coldcard-mk3, jade") {
		t.Fatalf("bad --max-psbt-size: exit %d: %s", r.Code, r.Err)
	}
}

// bigPSBT is a one-input PSBT of no stored wallet whose input carries a
// previous transaction of outputs 43-byte outputs.
func bigPSBT(t *testing.T, outputs int) []byte {
	t.Helper()
	prev := wire.NewMsgTx(2)
	prev.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{1}}, nil, nil))
	script := append([]byte{0x00, 0x20}, bytes.Repeat([]byte{7}, 32)...)
	for i := 0; i < outputs; i++ {
		prev.AddTxOut(wire.NewTxOut(int64(10_000+i), script))
	}
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: prev.TxHash(), Index: 0}, nil, nil))
	tx.AddTxOut(wire.NewTxOut(9_000, script))
	p, err := bpsbt.NewFromUnsignedTx(tx)
	if err != nil {
		t.Fatal(err)
	}
	p.Inputs[0].NonWitnessUtxo = prev
	var buf bytes.Buffer
	if err := p.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestInspectDeviceSizeWarning: `psbt inspect --device KIND` warns when
// the PSBT is over that device's limit, in text and JSON, and only then.
func TestInspectDeviceSizeWarning(t *testing.T) {
	dir, work := t.TempDir(), t.TempDir()
	big := filepath.Join(work, "big.psbt")
	raw := bigPSBT(t, 10_000) // about 430 kB: over a Jade's 401 KiB, under a Coldcard Mk4's 2 MiB
	if err := os.WriteFile(big, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, dir, "", "psbt", "inspect", big, "--device", "jade", "--device", "coldcard")
	if r.Code != 0 || !strings.Contains(r.Out, "WARNING: the PSBT is ") || !strings.Contains(r.Out, "a jade takes") || strings.Contains(r.Out, "a coldcard takes") {
		t.Fatalf("text: exit %d\n%s\n%s", r.Code, r.Out, r.Err)
	}
	r = runCLI(t, dir, "", "--json", "psbt", "inspect", big, "--device", "jade")
	var j struct {
		Warnings []string `json:"warnings"`
	}
	mustJSON(t, r.Out, &j)
	n := 0
	for _, w := range j.Warnings {
		if strings.Contains(w, "a jade takes") {
			n++
		}
	}
	if r.Code != 0 || n != 1 {
		t.Fatalf("json: exit %d, warnings %q", r.Code, j.Warnings)
	}
	// No device named, or one with room: no size warning.
	for _, args := range [][]string{{"psbt", "inspect", big}, {"psbt", "inspect", big, "--device", "coldcard", "--device", "trezor"}} {
		if r := runCLI(t, dir, "", args...); r.Code != 0 || strings.Contains(r.Out, "takes") {
			t.Fatalf("%v: exit %d\n%s", args, r.Code, r.Out)
		}
	}
	small := filepath.Join(work, "small.psbt")
	os.WriteFile(small, bigPSBT(t, 3), 0o600)
	if r := runCLI(t, dir, "", "psbt", "inspect", small, "--device", "jade"); r.Code != 0 || strings.Contains(r.Out, "takes") {
		t.Fatalf("small: exit %d\n%s", r.Code, r.Out)
	}
	if r := runCLI(t, dir, "", "psbt", "inspect", big, "--device", "abacus"); r.Code != 2 || !strings.Contains(r.Err, "expected a device kind") {
		t.Fatalf("unknown kind: exit %d: %s", r.Code, r.Err)
	}
}
