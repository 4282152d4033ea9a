package psbt

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/base58"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
)

// update is the Updater half of Build: it proves each coin belongs to the
// wallet, then records what signers need to sign it and to recognise the
// change.
func (b *builder) update(p *bpsbt.Packet, coins []coin, sum *BuildSummary) error {
	w := b.req.Wallet
	xpubs, err := globalXpubs(b.d)
	if err != nil {
		return err
	}
	p.Unknowns = xpubs

	utxos := make([]UTXO, len(coins))
	var missing []chainhash.Hash
	for k, c := range coins {
		utxos[k] = b.req.UTXOs[c.utxo]
		if utxos[k].PrevTx == nil {
			missing = append(missing, utxos[k].OutPoint.Hash)
		}
	}
	if len(missing) > 0 && b.req.PrevTxs != nil {
		prev, err := b.req.PrevTxs(missing)
		if err != nil {
			return err
		}
		for k := range utxos {
			if utxos[k].PrevTx == nil {
				utxos[k].PrevTx = prev[utxos[k].OutPoint.Hash]
			}
		}
	}
	derived := make([]*descriptor.Derived, len(coins))
	errs := make([]error, len(coins))
	parallelFor(len(coins), func(k int) {
		derived[k], errs[k] = checkCoin(b.d, w.Network, utxos[k])
	})
	for k := range coins {
		if errs[k] != nil {
			return errs[k]
		}
		u := utxos[k]
		if b.d.Script == descriptor.ScriptTr {
			updateTapInput(&p.Inputs[k], u.PrevTx, u.OutPoint.Index, derived[k])
			continue
		}
		updateInput(&p.Inputs[k], u.PrevTx, u.OutPoint.Index, derived[k], b.d.Script)
	}
	if sum.ChangeUsed {
		if b.d.Script == descriptor.ScriptTr {
			updateTapOutput(&p.Outputs[sum.ChangeOutput], b.change)
		} else {
			updateOutput(&p.Outputs[sum.ChangeOutput], b.change)
		}
	}
	return nil
}

// checkCoin re-derives the script a coin was paid to and checks its
// previous transaction: a coin whose data does not add up is refused
// rather than spent on the caller's word.
func checkCoin(d *descriptor.Descriptor, net *chaincfg.Params, u UTXO) (*descriptor.Derived, error) {
	op := u.OutPoint
	if u.PrevTx == nil {
		return nil, badRequest("coin %s has no previous transaction: it is needed as non_witness_utxo for every input; fetch it from the chain backend", op)
	}
	if h := u.PrevTx.TxHash(); h != op.Hash {
		return nil, fmt.Errorf("%w: coin %s: its previous transaction hashes to %s: the chain data is wrong; sync the wallet again", ErrRefused, op, h)
	}
	if int64(op.Index) >= int64(len(u.PrevTx.TxOut)) {
		return nil, fmt.Errorf("%w: coin %s: the previous transaction has only %d outputs", ErrRefused, op, len(u.PrevTx.TxOut))
	}
	prev := u.PrevTx.TxOut[op.Index]
	if prev.Value != u.Value {
		return nil, fmt.Errorf("%w: coin %s: the wallet records %d sat but the transaction pays %d sat; sync the wallet again", ErrRefused, op, u.Value, prev.Value)
	}
	dv, err := d.Derive(u.Branch, u.Index, net)
	if err != nil {
		return nil, badRequest("coin %s at branch %d index %d: %v", op, u.Branch, u.Index, err)
	}
	if !bytes.Equal(dv.ScriptPubKey, prev.PkScript) {
		return nil, fmt.Errorf("%w: coin %s pays to script %x, not to the wallet's address %s at branch %d index %d; the coin list is wrong",
			ErrRefused, op, prev.PkScript, dv.Address, u.Branch, u.Index)
	}
	return dv, nil
}

// updateInput fills an input's records: the whole previous transaction
// always (it proves the amount, closing the BIP-143 fee attack), the output
// itself for segwit, the scripts, and every cosigner's derivation. The
// caller has checked vout with checkCoin.
func updateInput(in *bpsbt.PInput, prevTx *wire.MsgTx, vout uint32, d *descriptor.Derived, t descriptor.ScriptType) {
	in.NonWitnessUtxo = prevTx
	if t != descriptor.ScriptSh {
		prev := prevTx.TxOut[vout]
		in.WitnessUtxo = wire.NewTxOut(prev.Value, bytes.Clone(prev.PkScript))
	}
	in.RedeemScript = d.RedeemScript
	in.WitnessScript = d.WitnessScript
	in.Bip32Derivation = derivations(d)
}

// updateOutput marks a change output: its scripts and every cosigner's
// derivation, so that signers can verify it is change.
func updateOutput(out *bpsbt.POutput, d *descriptor.Derived) {
	out.RedeemScript = d.RedeemScript
	out.WitnessScript = d.WitnessScript
	out.Bip32Derivation = derivations(d)
}

func derivations(d *descriptor.Derived) []*bpsbt.Bip32Derivation {
	out := make([]*bpsbt.Bip32Derivation, len(d.Keys))
	for k, dk := range d.Keys {
		out[k] = &bpsbt.Bip32Derivation{
			PubKey:               bytes.Clone(dk.PubKey),
			MasterKeyFingerprint: fingerprintValue(dk.Fingerprint),
			Bip32Path:            slices.Clone(dk.Path),
		}
	}
	return out
}

// globalXpubs returns a PSBT_GLOBAL_XPUB record per extended key of the
// descriptor, sorted by key: the key's 78-byte serialization, and as value
// its origin (fingerprint and path). A key without origin is its own root:
// its own fingerprint and an empty path.
func globalXpubs(d *descriptor.Descriptor) ([]*bpsbt.Unknown, error) {
	var out []*bpsbt.Unknown
	for k, key := range d.Keys {
		if key.XPub == nil {
			continue
		}
		ser := base58.Decode(key.XPub.String())
		if len(ser) != xpubSerializedBytes+4 {
			return nil, badRequest("key %d: cannot serialize the extended public key", k)
		}
		var fp [4]byte
		var path []uint32
		if key.Origin != nil {
			fp, path = key.Origin.Fingerprint, key.Origin.Path
		} else {
			pk, err := key.XPub.ECPubKey()
			if err != nil {
				return nil, badRequest("key %d: %v", k, err)
			}
			copy(fp[:], btcutil.Hash160(pk.SerializeCompressed()))
		}
		rec := &bpsbt.Unknown{
			Key:   append([]byte{globalXpub}, ser[:xpubSerializedBytes]...),
			Value: bpsbt.SerializeBIP32Derivation(fingerprintValue(fp), path),
		}
		if !slices.ContainsFunc(out, func(u *bpsbt.Unknown) bool { return bytes.Equal(u.Key, rec.Key) }) {
			out = append(out, rec)
		}
	}
	slices.SortFunc(out, func(a, b *bpsbt.Unknown) int { return bytes.Compare(a.Key, b.Key) })
	return out, nil
}
