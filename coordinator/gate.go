package coordinator

import (
	"bytes"
	"context"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet/scan"
)

// GateOptions are what a user may relax at a step, each with its own flag.
type GateOptions struct {
	// AllowHighFee lets a fee above 1,000 sat/vB or 5% of the amount sent
	// through (--allow-high-fee).
	AllowHighFee bool
	// OverridePolicy, when not empty, is the reason a breach of the
	// wallet's spending policy goes through (--override-policy); each
	// rule overridden is journaled with it.
	OverridePolicy string
	// Devices names signer kinds (DeviceLimits) whose PSBT size limit
	// Inspect warns about, besides the kinds registered for the wallet.
	// No step refuses a PSBT for its size: the device would.
	Devices []string
}

// gate runs psbt.Gate, the one safety check of every step, with the limits
// the store sets for the wallet: outputs of the wallet must stay within the
// gap past the addresses handed out (or seen used), so that a sync finds
// them. Finalized inputs (finalize's result, broadcast) must spend scripts
// the wallet has.
func (c *Coordinator) gate(ctx context.Context, w *Wallet, p *bpsbt.Packet, verifySigs bool, opts GateOptions) (*psbt.Report, error) {
	rules, err := c.rules(ctx, w)
	if err != nil {
		return nil, err
	}
	rules.AllowHighFee = opts.AllowHighFee
	rules.VerifySignatures = verifySigs
	return psbt.Gate(p, w.Info(), rules)
}

// rules are the gate's limits for w.
func (c *Coordinator) rules(ctx context.Context, w *Wallet) (psbt.GateRules, error) {
	rec, err := c.Store.Wallet(ctx, w.Name)
	if err != nil {
		return psbt.GateRules{}, err
	}
	st, err := c.Store.ScanState(ctx, w.Name)
	if err != nil {
		return psbt.GateRules{}, err
	}
	const gap = scan.DefaultGap
	src, err := c.updateSource(ctx, w)
	if err != nil {
		return psbt.GateRules{}, err
	}
	return psbt.GateRules{
		ReceiveLimit: max(rec.NextReceive, st.ReceiveHighWater) + gap,
		ChangeLimit:  max(rec.NextChange, st.ChangeHighWater) + gap,
		Gap:          gap,
		Locate:       src.Locate,
	}, nil
}

// packetOf turns a signed network transaction into a PSBT whose inputs are
// finalized with the transaction's own scripts, so the gate can check it
// like any other: previous transactions are added by the update.
func packetOf(tx *wire.MsgTx) (*bpsbt.Packet, error) {
	bare := tx.Copy()
	for _, in := range bare.TxIn {
		in.SignatureScript, in.Witness = nil, nil
	}
	p, err := bpsbt.NewFromUnsignedTx(bare)
	if err != nil {
		return nil, err
	}
	for i, in := range tx.TxIn {
		p.Inputs[i].FinalScriptSig = in.SignatureScript
		if len(in.Witness) > 0 {
			var b bytes.Buffer
			if err := psbtWriteWitness(&b, in.Witness); err != nil {
				return nil, err
			}
			p.Inputs[i].FinalScriptWitness = b.Bytes()
		}
	}
	return p, nil
}

// psbtWriteWitness serializes a witness stack as PSBT_IN_FINAL_SCRIPTWITNESS
// holds it.
func psbtWriteWitness(b *bytes.Buffer, w wire.TxWitness) error {
	if err := wire.WriteVarInt(b, 0, uint64(len(w))); err != nil {
		return err
	}
	for _, item := range w {
		if err := wire.WriteVarBytes(b, 0, item); err != nil {
			return err
		}
	}
	return nil
}
