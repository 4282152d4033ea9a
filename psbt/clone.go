package psbt

import (
	"bytes"
	"slices"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"
)

// Clone returns a deep copy of p, so that a signer can add signatures
// without touching the caller's packet. It copies field by field rather than
// through serialization, which would decompress every public key again.
func Clone(p *bpsbt.Packet) (*bpsbt.Packet, error) {
	if err := checkShape(p); err != nil {
		return nil, err
	}
	return clonePacket(p), nil
}

// clonePacket deep-copies a packet so that the combiner never changes the
// PSBTs it was given. The packet must have passed checkShape.
func clonePacket(p *bpsbt.Packet) *bpsbt.Packet {
	out := &bpsbt.Packet{
		UnsignedTx: p.UnsignedTx.Copy(),
		Inputs:     make([]bpsbt.PInput, len(p.Inputs)),
		Outputs:    make([]bpsbt.POutput, len(p.Outputs)),
		Unknowns:   cloneUnknowns(p.Unknowns),
	}
	for i := range p.Inputs {
		out.Inputs[i] = cloneInput(&p.Inputs[i])
	}
	for i := range p.Outputs {
		out.Outputs[i] = cloneOutput(&p.Outputs[i])
	}
	return out
}

func cloneInput(in *bpsbt.PInput) bpsbt.PInput {
	out := bpsbt.PInput{
		SighashType:        in.SighashType,
		RedeemScript:       bytes.Clone(in.RedeemScript),
		WitnessScript:      bytes.Clone(in.WitnessScript),
		FinalScriptSig:     bytes.Clone(in.FinalScriptSig),
		FinalScriptWitness: bytes.Clone(in.FinalScriptWitness),
		TaprootKeySpendSig: bytes.Clone(in.TaprootKeySpendSig),
		TaprootInternalKey: bytes.Clone(in.TaprootInternalKey),
		TaprootMerkleRoot:  bytes.Clone(in.TaprootMerkleRoot),
		Bip32Derivation:    cloneDerivations(in.Bip32Derivation),
		Unknowns:           cloneUnknowns(in.Unknowns),
	}
	if in.NonWitnessUtxo != nil {
		out.NonWitnessUtxo = in.NonWitnessUtxo.Copy()
	}
	if in.WitnessUtxo != nil {
		out.WitnessUtxo = wire.NewTxOut(in.WitnessUtxo.Value, bytes.Clone(in.WitnessUtxo.PkScript))
	}
	for _, ps := range in.PartialSigs {
		if ps != nil {
			out.PartialSigs = append(out.PartialSigs, &bpsbt.PartialSig{PubKey: bytes.Clone(ps.PubKey), Signature: bytes.Clone(ps.Signature)})
		}
	}
	for _, s := range in.TaprootScriptSpendSig {
		if s != nil {
			c := *s
			c.XOnlyPubKey, c.LeafHash, c.Signature = bytes.Clone(s.XOnlyPubKey), bytes.Clone(s.LeafHash), bytes.Clone(s.Signature)
			out.TaprootScriptSpendSig = append(out.TaprootScriptSpendSig, &c)
		}
	}
	for _, l := range in.TaprootLeafScript {
		if l != nil {
			c := *l
			c.ControlBlock, c.Script = bytes.Clone(l.ControlBlock), bytes.Clone(l.Script)
			out.TaprootLeafScript = append(out.TaprootLeafScript, &c)
		}
	}
	out.TaprootBip32Derivation = cloneTapDerivations(in.TaprootBip32Derivation)
	return out
}

func cloneOutput(o *bpsbt.POutput) bpsbt.POutput {
	return bpsbt.POutput{
		RedeemScript:           bytes.Clone(o.RedeemScript),
		WitnessScript:          bytes.Clone(o.WitnessScript),
		Bip32Derivation:        cloneDerivations(o.Bip32Derivation),
		TaprootInternalKey:     bytes.Clone(o.TaprootInternalKey),
		TaprootTapTree:         bytes.Clone(o.TaprootTapTree),
		TaprootBip32Derivation: cloneTapDerivations(o.TaprootBip32Derivation),
		Unknowns:               cloneUnknowns(o.Unknowns),
	}
}

func cloneDerivations(ds []*bpsbt.Bip32Derivation) []*bpsbt.Bip32Derivation {
	var out []*bpsbt.Bip32Derivation
	for _, d := range ds {
		if d != nil {
			out = append(out, &bpsbt.Bip32Derivation{PubKey: bytes.Clone(d.PubKey), MasterKeyFingerprint: d.MasterKeyFingerprint, Bip32Path: slices.Clone(d.Bip32Path)})
		}
	}
	return out
}

func cloneTapDerivations(ds []*bpsbt.TaprootBip32Derivation) []*bpsbt.TaprootBip32Derivation {
	var out []*bpsbt.TaprootBip32Derivation
	for _, d := range ds {
		if d == nil {
			continue
		}
		c := *d
		c.XOnlyPubKey, c.Bip32Path = bytes.Clone(d.XOnlyPubKey), slices.Clone(d.Bip32Path)
		c.LeafHashes = nil
		for _, h := range d.LeafHashes {
			c.LeafHashes = append(c.LeafHashes, bytes.Clone(h))
		}
		out = append(out, &c)
	}
	return out
}

func cloneUnknowns(us []*bpsbt.Unknown) []*bpsbt.Unknown {
	var out []*bpsbt.Unknown
	for _, u := range us {
		if u != nil {
			out = append(out, &bpsbt.Unknown{Key: bytes.Clone(u.Key), Value: bytes.Clone(u.Value)})
		}
	}
	return out
}
