package coordinator_test

import (
	"context"
	"testing"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/psbt"
)

// TestEverySignatureVerifiedOncePerProcess: combining three copies of a
// PSBT, each signed by one cosigner, vets every copy and the result
// (each through the gate with its signatures verified), merges and
// reports; finalizing vets and finalizes. A fresh coordinator (a new
// process) for each step verifies every distinct signature exactly once,
// however many times the steps ask.
func TestEverySignatureVerifiedOncePerProcess(t *testing.T) {
	r := newRig(t, 100_000, 110_000, 120_000, 130_000)
	ctx := context.Background()
	sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{{Address: outside(t, 0).Address}}, SendAll: true, FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	n := len(sp.PSBT.Inputs)
	// Each cosigner signs the unsigned PSBT; again holds the same copies
	// for the one-process path below (Combine clears its slice).
	unsigned := mustSerialize(t, sp.PSBT)
	var copies, again []*bpsbt.Packet
	for _, name := range []string{"alice", "bob", "carol"} {
		c := r.signedCopy(t, unsigned, name)
		copies = append(copies, c)
		q, err := psbt.Decode(mustSerialize(t, c))
		if err != nil {
			t.Fatal(err)
		}
		again = append(again, q)
	}
	fresh := func() *coordinator.Coordinator {
		return &coordinator.Coordinator{Store: r.c.Store, BackendDefault: r.c.BackendDefault, OpenBackend: r.c.OpenBackend}
	}
	c := fresh()
	comb, err := c.Combine(ctx, "", copies, coordinator.GateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := c.Memo().Stats()
	t.Logf("combine: %d inputs, %d signatures verified, %d checks answered from memory", n, st.Verified, st.Remembered)
	if st.Verified != 3*n || st.Remembered < 3*n {
		t.Fatalf("combine verified %d signatures (remembered %d) for %d distinct ones", st.Verified, st.Remembered, 3*n)
	}
	c = fresh()
	if _, err := c.Finalize(ctx, "", comb.PSBT, coordinator.GateOptions{}); err != nil {
		t.Fatal(err)
	}
	st = c.Memo().Stats()
	t.Logf("finalize: %d signatures verified, %d checks answered from memory", st.Verified, st.Remembered)
	if st.Verified != 3*n || st.Remembered < 3*n {
		t.Fatalf("finalize verified %d signatures (remembered %d) for %d distinct ones", st.Verified, st.Remembered, 3*n)
	}
	// One process that combines and finalizes verifies each once.
	c = fresh()
	comb, err = c.Combine(ctx, "", again, coordinator.GateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Finalize(ctx, "", comb.PSBT, coordinator.GateOptions{}); err != nil {
		t.Fatal(err)
	}
	st = c.Memo().Stats()
	t.Logf("combine and finalize: %d signatures verified, %d checks answered from memory", st.Verified, st.Remembered)
	if st.Verified != 3*n || st.Remembered < 6*n {
		t.Fatalf("combine and finalize verified %d signatures (remembered %d) for %d distinct ones", st.Verified, st.Remembered, 3*n)
	}
}
