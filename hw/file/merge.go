package file

import (
	"bytes"
	"fmt"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/psbt"
)

// mergeSignatures returns a copy of p with the partial signatures that
// signed has and p lacks. Nothing else is taken from the device's file: the
// signatures are grafted onto a copy of p, and psbt.Combine (which leaves
// its inputs alone) verifies each one against its sighash and the wallet
// before keeping it.
func mergeSignatures(p, signed *bpsbt.Packet, wi psbt.WalletInfo) (*bpsbt.Packet, error) {
	withSigs, err := psbt.Clone(p)
	if err != nil {
		return nil, err
	}
	added := 0
	for i := range withSigs.Inputs {
		if i >= len(signed.Inputs) {
			break
		}
		have := map[string]bool{}
		for _, ps := range withSigs.Inputs[i].PartialSigs {
			have[string(ps.PubKey)] = true
		}
		for _, ps := range signed.Inputs[i].PartialSigs {
			if ps == nil || have[string(ps.PubKey)] {
				continue
			}
			have[string(ps.PubKey)] = true
			withSigs.Inputs[i].PartialSigs = append(withSigs.Inputs[i].PartialSigs, &bpsbt.PartialSig{
				PubKey:    bytes.Clone(ps.PubKey),
				Signature: bytes.Clone(ps.Signature),
			})
			added++
		}
	}
	if added == 0 {
		return nil, fmt.Errorf("%w: it holds no partial signature the PSBT did not already have; was it signed by a cosigner of this wallet (and not finalized by another program)?", hw.ErrDevice)
	}
	return psbt.Combine([]*bpsbt.Packet{p, withSigs}, wi)
}
