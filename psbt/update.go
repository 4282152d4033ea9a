package psbt

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
)

// UpdateSource is what the wallet knows beyond its descriptor, for
// completing a PSBT another tool made.
type UpdateSource struct {
	// Locate returns where in the wallet a script was paid: the
	// coordinator knows the wallet's coins and the addresses it has handed
	// out. It is asked for inputs and outputs whose BIP-32 derivations do
	// not name a wallet position. nil: derivations only.
	Locate func(pkScript []byte) (branch, index uint32, ok bool)
	// PrevTx returns a previous transaction by txid (from the store or
	// the backend), for inputs without non_witness_utxo. nil, or a nil
	// result: the input keeps what it has.
	PrevTx func(txid chainhash.Hash) *wire.MsgTx
}

// UpdateReport says what Update changed, one line per record, for the
// user: "input 0: added non_witness_utxo", "input 1: derivation of key
// 02ab... was [1a2b3c4d/0/5], the wallet's is [0f056943/48h/1h/0h/2h/0/5]".
type UpdateReport struct {
	Changes []string
	// Inputs and Outputs count the inputs and change outputs found to be
	// the wallet's.
	Inputs, Outputs int
}

// Update is the BIP-174 Updater for a PSBT of this wallet made by any tool
// (Bitcoin Core's descriptorprocesspsbt without signing): every input and
// output the wallet derives gets what signers need, taken from the wallet
// and never from the PSBT's word: the previous transaction and the
// witness_utxo, the redeem and witness scripts, every cosigner's BIP-32
// derivation with its full key origin (a derivation in another form, such
// as the [fingerprint of the xpub]/0/5 Electrum writes for a cosigner whose
// origin it does not know, is replaced), and the global xpubs. A record
// that contradicts the wallet is replaced, and said so in the report. An
// input or output the wallet does not derive is left alone: the wallet
// check refuses such a PSBT later if it matters. Errors wrap ErrMalformed
// (a PSBT that does not hold together) or ErrRefused (UTXO data that
// contradicts the previous transaction).
func Update(p *bpsbt.Packet, w WalletInfo, src UpdateSource) (*UpdateReport, error) {
	if err := checkShape(p); err != nil {
		return nil, err
	}
	w = w.withMemo()
	v := newWalletView(w)
	if v == nil {
		return nil, badRequest("no wallet descriptor and network to update the PSBT from")
	}
	rep := &UpdateReport{}
	change := func(format string, args ...any) { rep.Changes = append(rep.Changes, fmt.Sprintf(format, args...)) }
	v.prefetchClaims(p)
	if err := w.Memo.checkKeys(p); err != nil {
		return nil, err
	}
	segwit := v.d.Script != descriptor.ScriptSh

	for i := range p.Inputs {
		in := &p.Inputs[i]
		op := p.UnsignedTx.TxIn[i].PreviousOutPoint
		if in.NonWitnessUtxo == nil && src.PrevTx != nil {
			if tx := src.PrevTx(op.Hash); tx != nil && tx.TxHash() == op.Hash && int(op.Index) < len(tx.TxOut) {
				in.NonWitnessUtxo = tx
				change("input %d: added non_witness_utxo (the previous transaction %s)", i, op.Hash)
			}
		}
		if isFinalized(in) {
			// Its scripts are in the final scriptSig/witness: only the
			// amount's proof is added.
			continue
		}
		prevOut, err := resolvePrevOut(in, op, i)
		if err != nil {
			// No UTXO data at all: the input cannot be placed in the
			// wallet; one that lies is refused.
			if in.NonWitnessUtxo == nil && in.WitnessUtxo == nil {
				continue
			}
			return nil, err
		}
		d := v.place(inputDerivations(in), prevOut.PkScript, src.Locate)
		if d == nil {
			continue
		}
		rep.Inputs++
		where := fmt.Sprintf("input %d", i)
		if d.Tap != nil {
			updateTapRecords(in, prevOut, d, where, change)
			continue
		}
		if segwit && in.WitnessUtxo == nil {
			in.WitnessUtxo = wire.NewTxOut(prevOut.Value, bytes.Clone(prevOut.PkScript))
			change("%s: added witness_utxo", where)
		}
		if !segwit && in.WitnessUtxo != nil {
			in.WitnessUtxo = nil
			change("%s: removed the witness_utxo of a legacy P2SH input", where)
		}
		setScript(&in.RedeemScript, d.RedeemScript, where, "redeem script", change)
		setScript(&in.WitnessScript, d.WitnessScript, where, "witness script", change)
		in.Bip32Derivation = v.wallettruth(in.Bip32Derivation, d, where, change, true)
	}
	for j := range p.Outputs {
		out := &p.Outputs[j]
		pk := p.UnsignedTx.TxOut[j].PkScript
		d := v.place(outputDerivations(out), pk, src.Locate)
		if d == nil {
			continue
		}
		rep.Outputs++
		where := fmt.Sprintf("output %d", j)
		if d.Tap != nil {
			updateTapOutput(out, d)
			continue
		}
		setScript(&out.RedeemScript, d.RedeemScript, where, "redeem script", change)
		setScript(&out.WitnessScript, d.WitnessScript, where, "witness script", change)
		out.Bip32Derivation = v.wallettruth(out.Bip32Derivation, d, where, change, true)
	}
	if rep.Inputs > 0 {
		if err := v.setGlobalXpubs(p, change, true); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// place finds the wallet position that pays pkScript: one its derivations
// claim, else the one Locate knows. The scripts are re-derived and must
// match; nil when the script is not the wallet's.
func (v *walletView) place(ds []*bpsbt.Bip32Derivation, pkScript []byte, locate func([]byte) (uint32, uint32, bool)) *descriptor.Derived {
	for _, pos := range v.candidates(ds) {
		if d, err := v.derive(pos); err == nil && bytes.Equal(d.ScriptPubKey, pkScript) {
			return d
		}
	}
	if locate == nil {
		return nil
	}
	branch, index, ok := locate(pkScript)
	if !ok {
		return nil
	}
	if d, err := v.derive(position{branch, index}); err == nil && bytes.Equal(d.ScriptPubKey, pkScript) {
		return d
	}
	return nil
}

// setScript sets a redeem or witness script to the wallet's, reporting a
// change.
func setScript(dst *[]byte, want []byte, where, what string, change func(string, ...any)) {
	switch {
	case bytes.Equal(*dst, want):
		return
	case *dst == nil:
		change("%s: added the %s", where, what)
	case want == nil:
		change("%s: removed a %s the wallet's script type does not use", where, what)
	default:
		change("%s: replaced a %s that is not the wallet's (%x) with the wallet's", where, what, *dst)
	}
	*dst = bytes.Clone(want)
}

// wallettruth returns the wallet's derivations at d, one per cosigner with
// its full key origin, reporting every record of ds it corrects or drops
// (a derivation for a key that is not in the script), and with reportAdded
// those it adds.
func (v *walletView) wallettruth(ds []*bpsbt.Bip32Derivation, d *descriptor.Derived, where string, change func(string, ...any), reportAdded bool) []*bpsbt.Bip32Derivation {
	want := derivations(d)
	for _, w := range want {
		i := slices.IndexFunc(ds, func(x *bpsbt.Bip32Derivation) bool { return x != nil && bytes.Equal(x.PubKey, w.PubKey) })
		switch {
		case i < 0:
			if reportAdded {
				change("%s: added the derivation of key %x [%s]", where, w.PubKey, originString(w))
			}
		case ds[i].MasterKeyFingerprint != w.MasterKeyFingerprint || !slices.Equal(ds[i].Bip32Path, w.Bip32Path):
			change("%s: derivation of key %x was [%s], the wallet's is [%s]", where, w.PubKey, originString(ds[i]), originString(w))
		}
	}
	for _, x := range ds {
		if x != nil && !slices.ContainsFunc(want, func(w *bpsbt.Bip32Derivation) bool { return bytes.Equal(x.PubKey, w.PubKey) }) {
			change("%s: dropped a derivation for key %x [%s], which is not in the script", where, x.PubKey, originString(x))
		}
	}
	return want
}

// setGlobalXpubs makes the PSBT_GLOBAL_XPUB records of the wallet's keys
// the wallet's (the key and its origin); records of other xpubs are kept.
// Two serializations with the same chain code and public key are the same
// key, whatever their version bytes (a SLIP-132 Vpub and a tpub), depth,
// parent fingerprint and child number say: Electrum writes a key it knows
// without origin as if it were a master key (depth 0, no parent).
func (v *walletView) setGlobalXpubs(p *bpsbt.Packet, change func(string, ...any), reportAdded bool) error {
	// A wallet key serialized for another network is not a record to
	// correct: the PSBT was made for another chain.
	if err := v.checkXpubNetwork(p); err != nil {
		return refuse(RuleNetwork, err)
	}
	want, err := globalXpubs(v.d)
	if err != nil {
		return err
	}
	const keyMaterial = 1 + 4 + 1 + 4 + 4 // type, version, depth, parent, child: then chain code and key
	sameKey := func(a, b []byte) bool {
		return len(a) == 1+xpubSerializedBytes && len(b) == 1+xpubSerializedBytes && a[0] == globalXpub && b[0] == globalXpub && bytes.Equal(a[keyMaterial:], b[keyMaterial:])
	}
	var kept []*bpsbt.Unknown
	for _, u := range p.Unknowns {
		if u == nil {
			continue
		}
		i := slices.IndexFunc(want, func(w *bpsbt.Unknown) bool { return sameKey(u.Key, w.Key) })
		switch {
		case i < 0:
			kept = append(kept, u)
		case !bytes.Equal(u.Key, want[i].Key) || !bytes.Equal(u.Value, want[i].Value):
			change("global: xpub record of a wallet key had origin [%s]; replaced with the wallet's [%s]", valueOrigin(u.Value), valueOrigin(want[i].Value))
		}
	}
	for _, w := range want {
		if reportAdded && !slices.ContainsFunc(p.Unknowns, func(u *bpsbt.Unknown) bool { return u != nil && sameKey(u.Key, w.Key) }) {
			change("global: added the xpub record of %s", valueOrigin(w.Value))
		}
	}
	p.Unknowns = append(kept, want...)
	slices.SortFunc(p.Unknowns, func(a, b *bpsbt.Unknown) int { return bytes.Compare(a.Key, b.Key) })
	return nil
}

// originString prints a derivation's origin: 0f056943/48h/1h/0h/2h/0/5.
func originString(d *bpsbt.Bip32Derivation) string {
	fp := fingerprintOf(d)
	return hex.EncodeToString(fp[:]) + descriptor.Path(d.Bip32Path).Steps()
}

// valueOrigin prints an xpub record's value (fingerprint || path).
func valueOrigin(v []byte) string {
	if len(v) < 4 || len(v)%4 != 0 {
		return hex.EncodeToString(v)
	}
	path := make([]uint32, 0, len(v)/4-1)
	for k := 4; k < len(v); k += 4 {
		path = append(path, uint32(v[k])|uint32(v[k+1])<<8|uint32(v[k+2])<<16|uint32(v[k+3])<<24)
	}
	return hex.EncodeToString(v[:4]) + descriptor.Path(path).Steps()
}

// toWalletTruth corrects, in place, the records of one copy that combining
// decides by the wallet: the BIP-32 derivations of the wallet's keys on the
// inputs and change outputs it derives, and the global xpub records of its
// keys. Scripts and UTXO records are left as they are: copies that
// disagree on those are refused. Each correction is reported.
func (v *walletView) toWalletTruth(p *bpsbt.Packet, change func(string, ...any)) error {
	v.prefetchClaims(p)
	for i := range p.Inputs {
		in := &p.Inputs[i]
		if isFinalized(in) {
			continue
		}
		prevOut, err := resolvePrevOut(in, p.UnsignedTx.TxIn[i].PreviousOutPoint, i)
		if err != nil {
			continue
		}
		if d := v.place(in.Bip32Derivation, prevOut.PkScript, nil); d != nil && len(in.Bip32Derivation) > 0 {
			in.Bip32Derivation = v.wallettruth(in.Bip32Derivation, d, fmt.Sprintf("input %d", i), change, false)
		}
	}
	for j := range p.Outputs {
		out := &p.Outputs[j]
		if len(out.Bip32Derivation) == 0 {
			continue
		}
		if d := v.place(out.Bip32Derivation, p.UnsignedTx.TxOut[j].PkScript, nil); d != nil {
			out.Bip32Derivation = v.wallettruth(out.Bip32Derivation, d, fmt.Sprintf("output %d", j), change, false)
		}
	}
	hasXpubs := slices.ContainsFunc(p.Unknowns, func(u *bpsbt.Unknown) bool { return u != nil && len(u.Key) > 0 && u.Key[0] == globalXpub })
	if hasXpubs {
		return v.setGlobalXpubs(p, change, false)
	}
	return nil
}
