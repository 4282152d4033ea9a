package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/countersign/countersign/internal/regtest"
)

// tapCosigners makes n cosigners at the taproot multisig path m/48h/1h/0h/3h.
func tapCosigners(t *testing.T, n int) []testCosigner {
	t.Helper()
	var cs []testCosigner
	for i := range n {
		cs = append(cs, newTestCosigner(t, byte(0x40+i), 3))
	}
	return cs
}

// TestTaprootReceiveRegtest: `wallet create --script tr` builds the default
// taproot wallet (MuSig2 key path of all keys, one sortedmulti_a leaf),
// `wallet show` explains both paths, and coins sent by btcd (which
// validates taproot) to its addresses show up after a sync.
func TestTaprootReceiveRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	ctx := context.Background()
	dir := t.TempDir()
	cs := tapCosigners(t, 3)
	args := []string{"--network", "regtest", "wallet", "create", "tap", "--script", "tr", "-m", "2"}
	for _, c := range cs {
		args = append(args, "--cosigner", c.Expr)
	}
	mustRun(t, dir, args...)
	mustRun(t, dir, "backend", "set", node.RPCURL())

	show := mustRun(t, dir, "wallet", "show", "tap")
	for _, want := range []string{"P2TR taproot", "musig of 3 or 2 of 3", "Key path: all 3 cosigners together as one MuSig2 key", "Script leaf 1: any 2 of 3 keys"} {
		if !strings.Contains(show, want) {
			t.Fatalf("wallet show lacks %q:\n%s", want, show)
		}
	}
	var v struct {
		Script    string   `json:"script"`
		N         int      `json:"n"`
		Threshold int      `json:"threshold"`
		Paths     []string `json:"spending_paths"`
		Cosigners []struct {
			Fingerprint string `json:"fingerprint"`
		} `json:"cosigners"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "wallet", "show", "tap")), &v); err != nil {
		t.Fatal(err)
	}
	if v.Script != "tr" || v.N != 3 || v.Threshold != 2 || len(v.Paths) != 2 || len(v.Cosigners) != 3 || v.Cosigners[1].Fingerprint != cs[1].FP {
		t.Fatalf("wallet show --json: %+v", v)
	}

	var total int64
	for _, amt := range []int64{40_000_000, 25_000_000} {
		addr := strings.TrimSpace(mustRun(t, dir, "address", "tap"))
		if !strings.HasPrefix(addr, "bcrt1p") {
			t.Fatalf("receive address %s is not a taproot address", addr)
		}
		a, err := btcutil.DecodeAddress(addr, node.Params())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := node.Fund(ctx, a, amt); err != nil {
			t.Fatal(err)
		}
		total += amt
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, "wallet", "sync", "tap")
	var bal struct {
		Confirmed int64 `json:"confirmed_sat"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "wallet", "balance", "tap")), &bal); err != nil {
		t.Fatal(err)
	}
	if bal.Confirmed != total {
		t.Fatalf("balance %d, want %d", bal.Confirmed, total)
	}
}
