package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/countersign/countersign/internal/regtest"
)

// importTestKeys stores cosigners' master keys as software keys k1..kn.
func importTestKeys(t *testing.T, dir string, cs []testCosigner) {
	t.Helper()
	for i, c := range cs {
		f := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(f, []byte(c.Master.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		mustRun(t, dir, "--network", "regtest", "key", "import", fmt.Sprintf("k%d", i+1), "--secret-file", f)
	}
}

type inspectedJSON struct {
	Wallet          string  `json:"wallet"`
	ReadyToFinalize bool    `json:"ready_to_finalize"`
	Fee             int64   `json:"fee"`
	FeeRate         float64 `json:"fee_rate"`
	Sent            int64   `json:"sent"`
	Inputs          []struct {
		Ours       bool `json:"ours"`
		Missing    int  `json:"missing"`
		Signatures []struct {
			Fingerprint string `json:"fingerprint"`
			Label       string `json:"label"`
		} `json:"signatures"`
	} `json:"inputs"`
	Outputs []struct {
		Kind   string `json:"kind"`
		Amount int64  `json:"amount"`
	} `json:"outputs"`
}

func inspectFile(t *testing.T, dir, file string) inspectedJSON {
	t.Helper()
	var r inspectedJSON
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "psbt", "inspect", file)), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSpendRegtest runs the main job end to end on the real node: fund,
// spend with change, sign with software keys into separate files, combine,
// finalize, broadcast, mine, and see the result in the next sync.
func TestSpendRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	for _, tc := range []struct {
		script string
		m, n   int
	}{
		{"wsh", 2, 3}, {"sh-wsh", 2, 3}, {"sh", 2, 3},
		{"wsh", 3, 5}, {"sh-wsh", 3, 5}, {"sh", 3, 5},
	} {
		t.Run(fmt.Sprintf("%s-%dof%d", tc.script, tc.m, tc.n), func(t *testing.T) {
			spendEndToEnd(t, node, tc.script, tc.m, tc.n)
		})
	}
}

func spendEndToEnd(t *testing.T, node *regtest.Node, script string, m, n int) {
	ctx := context.Background()
	dir := t.TempDir()
	desc, cs := testDescriptor(t, script, m, n)
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "w", "--descriptor", desc)
	mustRun(t, dir, "backend", "set", node.RPCURL())
	importTestKeys(t, dir, cs)

	// Receive two coins on handed-out addresses.
	for _, amt := range []int64{50_000_000, 30_000_000} {
		addr := strings.TrimSpace(mustRun(t, dir, "address", "w"))
		a, err := btcutil.DecodeAddress(addr, node.Params())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := node.Fund(ctx, a, amt); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, "wallet", "sync", "w")

	// Pay an external address 0.6 BTC: needs both coins, leaves change.
	ext := node.Address().EncodeAddress()
	work := t.TempDir()
	unsigned := filepath.Join(work, "unsigned.psbt")
	mustRun(t, dir, "spend", "w", "--to", ext+":0.6", "--fee-rate", "5", "-o", unsigned)
	r := inspectFile(t, dir, unsigned)
	if r.ReadyToFinalize || len(r.Inputs) != 2 || r.Inputs[0].Missing != m || r.Sent != 60_000_000 {
		t.Fatalf("unsigned PSBT: %+v", r)
	}
	change := 0
	for _, o := range r.Outputs {
		if o.Kind == "change" {
			change++
		}
	}
	if change != 1 {
		t.Fatalf("want one change output: %+v", r.Outputs)
	}

	// m cosigners sign separate copies; the last one is left out.
	var signed []string
	for i := 1; i <= m; i++ {
		out := filepath.Join(work, fmt.Sprintf("signed-%d.psbt", i))
		mustRun(t, dir, "sign", unsigned, "--with", fmt.Sprintf("key:k%d", i), "--yes", "-o", out)
		signed = append(signed, out)
	}
	r = inspectFile(t, dir, signed[0])
	// The wallet came from a bare descriptor (no labels): the local key's
	// name stands in, so the summary says who signed.
	if r.Inputs[0].Missing != m-1 || len(r.Inputs[0].Signatures) != 1 || r.Inputs[0].Signatures[0].Fingerprint != cs[0].FP || r.Inputs[0].Signatures[0].Label != "key k1" {
		t.Fatalf("after one signature: %+v", r.Inputs[0])
	}
	// Finalizing with one signature is refused and names who is missing.
	if res := runCLI(t, dir, "", "psbt", "finalize", signed[0]); res.Code != 4 || !strings.Contains(res.Err, cs[1].FP) {
		t.Fatalf("finalize with too few signatures: exit %d: %s", res.Code, res.Err)
	}

	combined := filepath.Join(work, "combined.psbt")
	mustRun(t, dir, append(append([]string{"psbt", "combine"}, signed...), "-o", combined)...)
	if r = inspectFile(t, dir, combined); !r.ReadyToFinalize {
		t.Fatalf("combined PSBT not ready: %+v", r)
	}
	txFile := filepath.Join(work, "tx.hex")
	mustRun(t, dir, "psbt", "finalize", combined, "-o", txFile)
	txid := strings.TrimSpace(mustRun(t, dir, "psbt", "broadcast", txFile))

	// Broadcast coins stop counting before the next sync.
	var bal map[string]any
	json.Unmarshal([]byte(mustRun(t, dir, "--json", "wallet", "balance", "w")), &bal)
	if bal["confirmed_sat"].(float64) != 0 {
		t.Fatalf("spent coins still counted after broadcast: %v", bal)
	}

	// The fee rate paid is at least the one asked.
	h, _ := chainhash.NewHashFromStr(txid)
	tx, err := node.Client().GetRawTransaction(h)
	if err != nil {
		t.Fatal(err)
	}
	msg := tx.MsgTx()
	vsize := (int64(msg.SerializeSizeStripped())*3 + int64(msg.SerializeSize()) + 3) / 4
	if paid := float64(r.Fee) / float64(vsize); paid < 5 {
		t.Fatalf("paid %.3f sat/vB (fee %d, vsize %d), asked 5", paid, r.Fee, vsize)
	}

	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s := syncJSONOf(t, dir, node.RPCURL())
	want := int64(80_000_000 - 60_000_000 - r.Fee)
	if s.Confirmed != want || s.UTXOs != 1 || s.NextChange != 1 {
		t.Fatalf("after the spend: %+v, want confirmed %d in one change coin", s, want)
	}
	mustDoctor(t, dir)
}

// mustDoctor fails the test unless `countersign doctor` passes every check.
func mustDoctor(t *testing.T, dir string) {
	t.Helper()
	r := runCLI(t, dir, "", "--json", "doctor")
	var rep doctorReport
	if err := json.Unmarshal([]byte(r.Out), &rep); err != nil || r.Code != 0 || !rep.OK {
		t.Fatalf("doctor: exit %d %v\n%s\n%s", r.Code, err, rep.failedChecks(), r.Err)
	}
}
