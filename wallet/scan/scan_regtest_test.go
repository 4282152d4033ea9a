package scan

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/chain"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/internal/regtest"
	"github.com/countersign/countersign/wallet"
)

// testDescriptor is a 2-of-3 wsh(sortedmulti) wallet over keys from fixed seeds.
func testDescriptor(t testing.TB) *descriptor.Descriptor {
	t.Helper()
	var keys []string
	for i := 1; i <= 3; i++ {
		seed := make([]byte, 32)
		for j := range seed {
			seed[j] = byte(i)
		}
		m, err := hdkeychain.NewMaster(seed, &chaincfg.RegressionNetParams)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := m.ECPubKey()
		fp := btcutil.Hash160(pub.SerializeCompressed())[:4]
		k := m
		for _, c := range []uint32{48, 1, 0, 2} {
			k, _ = k.Derive(hdkeychain.HardenedKeyStart + c)
		}
		n, _ := k.Neuter()
		keys = append(keys, fmt.Sprintf("[%x/48h/1h/0h/2h]%s/<0;1>/*", fp, n))
	}
	d, err := descriptor.Parse("wsh(sortedmulti(2," + strings.Join(keys, ",") + "))")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newWallet(t testing.TB, d *descriptor.Descriptor) *wallet.Store {
	t.Helper()
	st, err := wallet.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	err = st.CreateWallet(context.Background(), &wallet.Wallet{Name: "w", Descriptor: d.String(), Network: "regtest", Script: "wsh", Threshold: 2, N: 3, Labels: []string{"", "", ""}, Fingerprints: []string{"", "", ""}})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// fundMany pays value to each receive index in one transaction and mines it.
func fundMany(t testing.TB, node *regtest.Node, d *descriptor.Descriptor, branch uint32, idx []uint32, value int64) {
	t.Helper()
	ctx := context.Background()
	var outs []*wire.TxOut
	for _, i := range idx {
		der, err := d.Derive(branch, i, node.Params())
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, wire.NewTxOut(value, der.ScriptPubKey))
	}
	tx, err := node.Spend(ctx, outs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.SendRaw(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
}

// TestSyncInterruptedLeavesStoreAndNextSyncCompletes cancels a sync in the
// middle of its scan: the store keeps its previous state, and the next sync
// finds everything.
func TestSyncInterruptedLeavesStoreAndNextSyncCompletes(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest test")
	}
	node := regtest.Start(t)
	d := testDescriptor(t)
	st := newWallet(t, d)
	fundMany(t, node, d, 0, []uint32{0, 15, 30}, 10_000)
	b, err := chain.Open(node.RPCURL())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err = Sync(ctx, st, "w", d, node.Params(), b, Options{Progress: func(int) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted sync returned %v, want context.Canceled", err)
	}
	if us, _ := st.UTXOs(context.Background(), "w"); len(us) != 0 {
		t.Fatalf("interrupted sync wrote %d UTXOs", len(us))
	}
	res, err := Sync(context.Background(), st, "w", d, node.Params(), b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.UTXOs != 3 || res.ReceiveHighWater != 31 {
		t.Fatalf("next sync: %+v, want 3 coins and receive high water 31 (0, 15, 30 chained within the gap)", res)
	}
}

// BenchmarkSync1000 funds 1,000 receive addresses and times a first sync
// and a second sync with nothing new, reporting backend round trips.
func BenchmarkSync1000(b *testing.B) {
	node := regtest.Start(b)
	d := testDescriptor(b)
	idx := make([]uint32, 1000)
	for i := range idx {
		idx[i] = uint32(i)
	}
	// Ten addresses per funding transaction, as payouts batch them.
	for i := 0; i < len(idx); i += 10 {
		fundMany(b, node, d, 0, idx[i:i+10], 10_000)
	}
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st := newWallet(b, d)
		be, err := chain.Open(node.RPCURL())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		res, err := Sync(ctx, st, "w", d, node.Params(), be, Options{})
		if err != nil {
			b.Fatal(err)
		}
		first := time.Since(t0)
		rt1 := be.(chain.Counter).RoundTrips()
		t1 := time.Now()
		res2, err := Sync(ctx, st, "w", d, node.Params(), be, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if !res2.Incremental || res2.UTXOs != 1000 {
			b.Fatalf("second sync: %+v", res2)
		}
		second := time.Since(t1)
		rt2 := be.(chain.Counter).RoundTrips() - rt1
		if res.UTXOs != 1000 {
			b.Fatalf("found %d of 1000 coins", res.UTXOs)
		}
		b.ReportMetric(first.Seconds(), "first-sync-s")
		b.ReportMetric(float64(rt1), "first-roundtrips")
		b.ReportMetric(second.Seconds(), "resync-s")
		b.ReportMetric(float64(rt2), "resync-roundtrips")
	}
}

// TestSyncNothingNewMovesOnlyTheTip: after a first sync, a block with
// nothing for the wallet makes a sync that moves only the tip (journaled
// tip_only, every coin kept); a payment in the mempool, then its block,
// are still found by the syncs after it.
func TestSyncNothingNewMovesOnlyTheTip(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest test")
	}
	node := regtest.Start(t)
	ctx := context.Background()
	d := testDescriptor(t)
	st := newWallet(t, d)
	fundMany(t, node, d, 0, []uint32{0, 1, 2}, 20_000)
	b, err := chain.Open(node.RPCURL())
	if err != nil {
		t.Fatal(err)
	}
	sync := func(stage string, wantUTXOs int, wantTipOnly bool) *Result {
		t.Helper()
		res, err := Sync(ctx, st, "w", d, node.Params(), b, Options{})
		if err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
		es, err := st.Journal(ctx, "w", 1)
		if err != nil || len(es) != 1 || es[0].Action != wallet.ActionSyncApply {
			t.Fatalf("%s: journal %v %v", stage, es, err)
		}
		tipOnly := strings.Contains(string(es[0].Detail), `"tip_only":true`)
		if res.UTXOs != wantUTXOs || tipOnly != wantTipOnly {
			t.Fatalf("%s: %d coins, tip only %v (%s); want %d, %v", stage, res.UTXOs, tipOnly, es[0].Detail, wantUTXOs, wantTipOnly)
		}
		return res
	}
	sync("first", 3, false)
	// A block whose only payment is to someone else.
	if _, err := node.FundScript(ctx, append([]byte{0x00, 0x20}, make([]byte, 32)...), 50_000); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	res := sync("unrelated block", 3, true)
	if h, _, _ := node.Tip(ctx); res.Height != h || !res.Incremental {
		t.Fatalf("tip-only sync at %d (incremental %v), node at %d", res.Height, res.Incremental, h)
	}
	sync("nothing at all", 3, true)
	// A payment in the mempool is news, and so is its block.
	der, err := d.Derive(0, 3, node.Params())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.FundScript(ctx, der.ScriptPubKey, 30_000); err != nil {
		t.Fatal(err)
	}
	if r := sync("payment in the mempool", 4, false); r.NewTxs != 1 {
		t.Fatalf("payment in the mempool: %d new transactions", r.NewTxs)
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	sync("payment confirmed", 4, false)
	sync("then nothing", 4, true)
	us, err := st.UTXOs(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if u.Height == 0 {
			t.Fatalf("coin %s still unconfirmed", u.OutPoint)
		}
	}
}
