package coordinator_test

import (
	"context"
	"testing"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/psbt"
)

// TestTaprootWorkflow: the coordinator's spend, sign (MuSig2: nonces, then
// partial signatures, each through the gate), finalize and broadcast for a
// 2-of-3 taproot wallet, with a fake backend.
func TestTaprootWorkflow(t *testing.T) {
	r := newRigScript(t, descriptor.ScriptTr, 300_000)
	ctx := context.Background()
	w, err := r.c.Wallet(ctx, "family")
	if err != nil || w.Descriptor.Script != descriptor.ScriptTr || w.Descriptor.N() != 3 || len(w.Labels) != 3 || w.Labels[1] != "bob" {
		t.Fatalf("wallet %+v, %v", w, err)
	}
	sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 120_000)}, FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	p := sp.PSBT
	for round := 0; round < 2; round++ {
		for _, name := range []string{"alice", "bob", "carol"} {
			plan, err := r.c.PrepareSign(ctx, "", p, coordinator.GateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			out, err := r.c.Sign(ctx, plan, hw.NewSigner(r.keys[name]))
			if err != nil {
				t.Fatalf("round %d, %s: %v", round+1, name, err)
			}
			p = out.PSBT
		}
	}
	rep, err := psbt.Inspect(p, w.Info())
	if err != nil || !rep.ReadyToFinalize || rep.Inputs[0].MuSig2 == nil || rep.Inputs[0].MuSig2.PartialSigs != 3 {
		t.Fatalf("after two rounds: %+v, %v", rep, err)
	}
	fin, err := r.c.Finalize(ctx, "", p, coordinator.GateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if wit := fin.Tx.TxIn[0].Witness; len(wit) != 1 || len(wit[0]) != 64 {
		t.Fatalf("witness of %d items, want the MuSig2 key path", len(wit))
	}
	raw, _ := psbt.Serialize(fin.PSBT)
	if _, err := r.c.Broadcast(ctx, "", raw, coordinator.GateOptions{}); err != nil || len(r.b.broadcast) != 1 {
		t.Fatalf("broadcast: %v", err)
	}
}
