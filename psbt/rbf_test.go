package psbt

import (
	"testing"

	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
)

// TestMinReplacementFee: the absolute rule (old fee + 1 sat/vB of the new
// size) and the strictly-higher-rate rule in btcd's whole sat/kvB.
func TestMinReplacementFee(t *testing.T) {
	for _, c := range []struct{ oldFee, oldV, newV, want int64 }{
		{200, 200, 200, 400},   // 1 sat/vB -> at least old fee + 200
		{200, 200, 150, 350},   // smaller replacement: the absolute rule
		{1000, 100, 100, 1100}, // 10 sat/vB: old fee + 100
		// 10 sat/vB replaced by a far larger one: the rate rule is higher.
		{1000, 100, 300, 3001},
		{141, 141, 141, 282},
	} {
		got := MinReplacementFee(c.oldFee, c.oldV, c.newV)
		if got != c.want {
			t.Errorf("MinReplacementFee(%d, %d, %d) = %d, want %d", c.oldFee, c.oldV, c.newV, got, c.want)
		}
		// The result meets both rules and one sat less does not.
		rateOK := func(fee int64) bool { return fee*1000/c.newV > c.oldFee*1000/c.oldV }
		if !rateOK(got) || got < c.oldFee+c.newV || (rateOK(got-1) && got-1 >= c.oldFee+c.newV) {
			t.Errorf("%+v: %d is not the least fee meeting both rules", c, got)
		}
	}
}

// TestSendAllWithOtherOutputs: with send-all and several outputs, the one
// without an amount takes what is left after the fee and the others.
func TestSendAllWithOtherOutputs(t *testing.T) {
	tw := newTestWallet(t, descriptor.ScriptWsh, 2, 3, true)
	utxos := []UTXO{tw.utxo(t, 0, 0, 100_000, 1), tw.utxo(t, 0, 1, 200_000, 2)}
	p, sum, err := Build(BuildRequest{Wallet: tw.info, UTXOs: utxos, SendAll: true,
		Preselected: []wire.OutPoint{utxos[0].OutPoint, utxos[1].OutPoint},
		Outputs:     []Output{{Script: externalScript(2), Value: 50_000}, {Script: externalScript(3)}}, FeeRate: 4, Rand: seeded(3)})
	if err != nil {
		t.Fatal(err)
	}
	out := p.UnsignedTx.TxOut
	if len(out) != 2 || out[0].Value != 50_000 || out[1].Value != 300_000-50_000-sum.Fee || sum.ChangeUsed {
		t.Fatalf("outputs %v %v, fee %d", out[0], out[1], sum.Fee)
	}
	// Two outputs without an amount: which takes the rest is unclear.
	_, _, err = Build(BuildRequest{Wallet: tw.info, UTXOs: utxos, SendAll: true,
		Outputs: []Output{{Script: externalScript(2)}, {Script: externalScript(3)}}, FeeRate: 4})
	if err == nil {
		t.Fatal("two remainder outputs accepted")
	}
}
