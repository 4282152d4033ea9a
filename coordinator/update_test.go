package coordinator_test

import (
	"context"
	"sync"
	"testing"
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
