package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/internal/regtest"
)

// fundIndex sends amount to the wallet's address at (branch, index).
func fundIndex(t *testing.T, node *regtest.Node, desc string, branch, index uint32, amount int64) {
	t.Helper()
	d, err := descriptor.Parse(desc)
	if err != nil {
		t.Fatal(err)
	}
	der, err := d.Derive(branch, index, node.Params())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.FundScript(context.Background(), der.ScriptPubKey, amount); err != nil {
		t.Fatal(err)
	}
}

func syncJSONOf(t *testing.T, dir, backend string, args ...string) syncJSON {
	t.Helper()
	return syncWallet(t, dir, backend, "w", args...)
}

func syncWallet(t *testing.T, dir, backend, name string, args ...string) syncJSON {
	t.Helper()
	var s syncJSON
	out := mustRun(t, dir, append([]string{"--json", "--backend", backend, "wallet", "sync", name}, args...)...)
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return s
}

// checkBlockTimes: every confirmed transaction in the wallet's history
// (want of them) carries the timestamp of its block's header, read from
// the node on its own, and --csv dates it by that time.
func checkBlockTimes(t *testing.T, node *regtest.Node, dir string, want int) {
	t.Helper()
	var hist []historyJSON
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "wallet", "history", "w")), &hist); err != nil {
		t.Fatal(err)
	}
	csvOut := mustRun(t, dir, "wallet", "history", "w", "--csv")
	n := 0
	for _, h := range hist {
		if h.Height == 0 {
			continue
		}
		n++
		hash, err := node.Client().GetBlockHash(int64(h.Height))
		if err != nil {
			t.Fatal(err)
		}
		hdr, err := node.Client().GetBlockHeader(hash)
		if err != nil {
			t.Fatal(err)
		}
		if stamp := hdr.Timestamp.UTC().Format(time.RFC3339); h.BlockTime != stamp {
			t.Errorf("%s at %d: block_time %q, the header says %s", h.TxID, h.Height, h.BlockTime, stamp)
		} else if !strings.Contains(csvOut, "\n"+stamp+","+h.TxID+",") {
			t.Errorf("%s: the CSV is not dated %s:\n%s", h.TxID, stamp, csvOut)
		}
	}
	if n != want {
		t.Errorf("%d confirmed transactions in the history, want %d", n, want)
	}
}

func TestSyncRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	ctx := context.Background()
	dir := t.TempDir()
	desc, _ := testDescriptor(t, "wsh", 2, 3)
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "w", "--descriptor", desc)
	be := node.RPCURL()

	// Coins at receive 0, 7, 19 and change 3, plus one at receive 45.
	fundIndex(t, node, desc, 0, 0, 100_000)
	fundIndex(t, node, desc, 0, 7, 200_000)
	fundIndex(t, node, desc, 0, 19, 300_000)
	fundIndex(t, node, desc, 1, 3, 400_000)
	fundIndex(t, node, desc, 0, 45, 500_000)

	// Unconfirmed first: everything within the gap shows as unconfirmed.
	s := syncJSONOf(t, dir, be)
	if s.Unconfirmed != 1_000_000 || s.Confirmed != 0 || s.UTXOs != 4 {
		t.Fatalf("unconfirmed sync: %+v", s)
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s = syncJSONOf(t, dir, be)
	if s.Confirmed != 1_000_000 || s.Unconfirmed != 0 || s.UTXOs != 4 {
		t.Fatalf("gap 20 must find indexes 0, 7, 19 and change 3 but not 45: %+v", s)
	}
	if s.NextReceive != 20 || s.NextChange != 4 {
		t.Fatalf("counters not advanced past used addresses: %+v", s)
	}
	if !s.Incremental {
		t.Fatalf("the sync after one block was not incremental: %+v", s)
	}
	checkBlockTimes(t, node, dir, 4) // from the new block's header

	// A second sync after one new block makes only a handful of requests.
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s = syncJSONOf(t, dir, be)
	if !s.Incremental || s.NewTxs != 0 || s.RoundTrips > 8 {
		t.Fatalf("incremental sync did too much work: %+v", s)
	}
	t.Logf("incremental sync: %d round trips", s.RoundTrips)

	// A full rescan agrees with the incremental one.
	full := syncJSONOf(t, dir, be, "--full")
	if full.Incremental || full.Confirmed != s.Confirmed || full.UTXOs != s.UTXOs || full.NextReceive != s.NextReceive {
		t.Fatalf("full rescan disagrees with incremental sync:\nfull %+v\nincr %+v", full, s)
	}

	// --gap 50 reaches index 45.
	s = syncJSONOf(t, dir, be, "--gap", "50")
	if s.Confirmed != 1_500_000 || s.UTXOs != 5 {
		t.Fatalf("gap 50 must find index 45: %+v", s)
	}

	var utxos []utxoJSON
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "wallet", "utxos", "w")), &utxos); err != nil {
		t.Fatal(err)
	}
	found := map[[2]uint32]bool{}
	for _, u := range utxos {
		found[[2]uint32{u.Branch, u.Index}] = true
		if u.Confirmations < 1 {
			t.Fatalf("confirmed coin shows %d confirmations: %+v", u.Confirmations, u)
		}
	}
	for _, want := range [][2]uint32{{0, 0}, {0, 7}, {0, 19}, {1, 3}, {0, 45}} {
		if !found[want] {
			t.Fatalf("coin at %d/%d missing from utxos: %+v", want[0], want[1], utxos)
		}
	}
	var hist []historyJSON
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "wallet", "history", "w")), &hist); err != nil {
		t.Fatal(err)
	}
	if len(hist) != 5 {
		t.Fatalf("history has %d transactions, want 5", len(hist))
	}
	checkBlockTimes(t, node, dir, 5) // as btcd's search reported them

	// Wrong network: a regtest backend for a testnet wallet is refused (exit 2).
	mustRun(t, dir, "--network", "testnet", "wallet", "create", "t", "--descriptor", desc)
	if r := runCLI(t, dir, "", "--backend", be, "wallet", "sync", "t"); r.Code != 2 {
		t.Fatalf("wrong network: exit %d, want 2 (%s)", r.Code, r.Err)
	}
	// Backend down: a clear message and exit 1, store untouched.
	before := mustRun(t, dir, "--json", "wallet", "balance", "w")
	if r := runCLI(t, dir, "", "--backend", "btcd://u:p@127.0.0.1:1", "wallet", "sync", "w"); r.Code != 1 {
		t.Fatalf("backend down: exit %d, want 1 (%s)", r.Code, r.Err)
	}
	if after := mustRun(t, dir, "--json", "wallet", "balance", "w"); after != before {
		t.Fatalf("failed sync changed the store")
	}
}
