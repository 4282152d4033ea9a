package psbt

import (
	"fmt"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"
)

// Extract is the BIP-174 Transaction Extractor: it returns the network
// transaction of a PSBT whose inputs are all finalized, with each input's
// final scriptSig and witness in place. Before returning it executes every
// input's script against the prevout recorded in the PSBT (standard
// verification flags), so a transaction that would not validate is refused
// rather than broadcast. A PSBT with an input that is not finalized is
// refused (ErrRefused) naming the input; p is not changed.
func Extract(p *bpsbt.Packet) (*wire.MsgTx, error) {
	if err := checkShape(p); err != nil {
		return nil, err
	}
	tx, err := extractTx(p)
	if err != nil {
		return nil, err
	}
	if err := executeScripts(tx, analyze(p, nil), nil, nil); err != nil {
		return nil, err
	}
	return tx, nil
}

// extractTx copies the unsigned transaction and fills in the final scripts.
func extractTx(p *bpsbt.Packet) (*wire.MsgTx, error) {
	tx := p.UnsignedTx.Copy()
	for i := range p.Inputs {
		in := &p.Inputs[i]
		if !isFinalized(in) {
			return nil, fmt.Errorf("%w: input %d (%s) is not finalized: collect the missing signatures and run finalize first",
				ErrRefused, i, tx.TxIn[i].PreviousOutPoint)
		}
		f, err := existingFinal(in, i)
		if err != nil {
			return nil, err
		}
		tx.TxIn[i].SignatureScript = f.scriptSig
		tx.TxIn[i].Witness = f.witness
	}
	return tx, nil
}
