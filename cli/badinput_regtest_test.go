package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/countersign/countersign/internal/regtest"
	"github.com/countersign/countersign/psbt"
)

// TestSpendBadInput: each refusal has its exit code and message, and leaves
// the files and the store as they were.
func TestSpendBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest test")
	}
	node := regtest.Start(t)
	ctx := context.Background()
	dir := t.TempDir()
	desc, cs := testDescriptor(t, "wsh", 2, 3)
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "w", "--descriptor", desc)
	mustRun(t, dir, "backend", "set", node.RPCURL())
	importTestKeys(t, dir, cs)
	a, _ := btcutil.DecodeAddress(strings.TrimSpace(mustRun(t, dir, "address", "w")), node.Params())
	node.Fund(ctx, a, 50_000_000)
	node.Mine(ctx, 1)
	mustRun(t, dir, "wallet", "sync", "w")
	work := t.TempDir()
	good := filepath.Join(work, "good.psbt")
	ext := node.Address().EncodeAddress()
	mustRun(t, dir, "spend", "w", "--to", ext+":0.1", "--fee-rate", "3", "-o", good)
	raw, _ := os.ReadFile(good)

	// A PSBT of another wallet (same shape, other keys).
	other := t.TempDir()
	desc2, _ := testDescriptor(t, "sh-wsh", 2, 3)
	mustRun(t, other, "--network", "regtest", "wallet", "create", "w2", "--descriptor", desc2)
	// A PSBT whose change output was swapped for an attacker's script.
	p, err := psbt.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range p.Outputs {
		if len(o.Bip32Derivation) > 0 {
			p.UnsignedTx.TxOut[i].PkScript = p.UnsignedTx.TxOut[1-i].PkScript
		}
	}
	swapped := filepath.Join(work, "swapped.psbt")
	b, _ := psbt.Serialize(p)
	os.WriteFile(swapped, b, 0o600)
	garbage := filepath.Join(work, "garbage.psbt")
	os.WriteFile(garbage, []byte("cHNidP8BAAoCAAAAAAAAAAAAAA"), 0o600)
	truncated := filepath.Join(work, "truncated.psbt")
	os.WriteFile(truncated, raw[:len(raw)/2], 0o600)

	before := mustRun(t, dir, "--json", "wallet", "show", "w")
	cases := []struct {
		name string
		dir  string
		args []string
		code int
		msg  string
	}{
		{"malformed", dir, []string{"psbt", "inspect", garbage}, 2, "PSBT"},
		{"truncated", dir, []string{"sign", truncated, "--with", "key:k1", "--yes"}, 2, "PSBT"},
		{"another wallet", other, []string{"sign", good, "--with", "key:k1", "--yes"}, 4, "does not belong to this wallet"},
		{"swapped change", dir, []string{"sign", swapped, "--with", "key:k1", "--yes"}, 4, "output"},
		{"fee rate too high", dir, []string{"spend", "w", "--to", ext + ":0.1", "--fee-rate", "1500", "-o", filepath.Join(work, "x.psbt")}, 4, "--allow-high-fee"},
		// The wallet's one coin is promised to the good draft: the check
		// needs it spent again.
		{"fee above 5%", dir, []string{"spend", "w", "--to", ext + ":0.0001", "--fee-rate", "500", "--allow-conflict", "-o", filepath.Join(work, "y.psbt")}, 4, "%"},
		{"finalize unsigned", dir, []string{"psbt", "finalize", good}, 4, cs[0].FP},
		{"bad amount", dir, []string{"spend", "w", "--to", ext + ":0.123456789", "--fee-rate", "2"}, 2, "8 decimal"},
		{"wrong network address", dir, []string{"spend", "w", "--to", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq:0.1", "--fee-rate", "2"}, 2, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, c.dir, "", c.args...)
			if r.Code != c.code || !strings.Contains(r.Err, c.msg) {
				t.Fatalf("exit %d, want %d; stderr %q should mention %q", r.Code, c.code, r.Err, c.msg)
			}
		})
	}
	if after, _ := os.ReadFile(good); string(after) != string(raw) {
		t.Fatal("a refused command changed the PSBT file")
	}
	for _, f := range []string{"x.psbt", "y.psbt"} {
		if _, err := os.Stat(filepath.Join(work, f)); err == nil {
			t.Fatalf("a refused spend wrote %s", f)
		}
	}
	if after := mustRun(t, dir, "--json", "wallet", "show", "w"); after != before {
		t.Fatalf("a refused command changed the wallet:\n%s\n%s", before, after)
	}
}
