package coordinator_test

import (
	"context"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/wallet"
)

// TestLocateConcurrently calls the update source's Locate from many
// goroutines at once, as the gate does for finalized inputs: the first
// miss fills its script index while others read it. Run with -race; a
// plain run can also die of Go's "concurrent map read and map write".
func TestLocateConcurrently(t *testing.T) {
	r := newRig(t, 100_000, 200_000)
	ctx := context.Background()
	for round := range 20 {
		locate, err := r.c.LocateFor(ctx, "family")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					// Scripts no wallet has: every call misses the coins and
					// asks for the derived index.
					if _, _, ok := locate([]byte{0x00, 0x20, byte(round), byte(g), byte(i)}); ok {
						t.Error("a made-up script was located in the wallet")
						return
					}
				}
			}()
		}
		wg.Wait()
	}
}

// TestLocateFromScriptIndex: a wallet past wallet.ScriptIndexFrom addresses
// finds its scripts through the store's script index, derived once by the
// first process that asks; a later process (a fresh coordinator) derives
// nothing up front, and believes an index row only if the position
// derives to the script.
func TestLocateFromScriptIndex(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if err := r.c.Store.ApplySync(ctx, "family", wallet.SyncUpdate{Height: 1, Hash: chainhash.Hash{1}, ReceiveHighWater: 3000}); err != nil {
		t.Fatal(err)
	}
	w, err := r.c.Wallet(ctx, "family")
	if err != nil {
		t.Fatal(err)
	}
	script := func(branch, index uint32) []byte {
		d, err := w.Descriptor.Derive(branch, index, regtest)
		if err != nil {
			t.Fatal(err)
		}
		return d.ScriptPubKey
	}
	foreign := []byte{0x00, 0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}
	check := func(c *coordinator.Coordinator, what string) {
		t.Helper()
		locate, err := c.LocateFor(ctx, "family")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range [][2]uint32{{0, 2500}, {0, 3019}, {1, 7}, {0, 0}} {
			if b, i, ok := locate(script(p[0], p[1])); !ok || b != p[0] || i != p[1] {
				t.Errorf("%s: %d/%d located at %d/%d (%v)", what, p[0], p[1], b, i, ok)
			}
		}
		if _, _, ok := locate(foreign); ok {
			t.Errorf("%s: a script not of the wallet was located", what)
		}
		if _, _, ok := locate(script(0, 3020)); ok {
			t.Errorf("%s: a script past the gap limit was located", what)
		}
	}
	check(r.c, "first process")
	key := coordinator.DescriptorKey(w)
	for branch, want := range []uint32{3020, 20} {
		if n, err := r.c.Store.ScriptIndexUpTo(ctx, "family", uint32(branch), key); err != nil || n != want {
			t.Fatalf("branch %d indexed up to %d (%v), want %d", branch, n, err, want)
		}
	}
	fresh := &coordinator.Coordinator{Store: r.c.Store}
	check(fresh, "later process")

	// A row that lies about a position is not believed.
	other := newRig(t)
	if err := other.c.Store.ApplySync(ctx, "family", wallet.SyncUpdate{Height: 1, Hash: chainhash.Hash{1}, ReceiveHighWater: 3000}); err != nil {
		t.Fatal(err)
	}
	ow, err := other.c.Wallet(ctx, "family")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.c.Store.ExtendScriptIndex(ctx, "family", 0, coordinator.DescriptorKey(ow), 0, [][]byte{foreign}); err != nil {
		t.Fatal(err)
	}
	locate, err := other.c.LocateFor(ctx, "family")
	if err != nil {
		t.Fatal(err)
	}
	if b, i, ok := locate(foreign); ok {
		t.Errorf("a script the index places at %d/%d but the wallet does not derive there was located", b, i)
	}
}
