package ledger

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/txscript"
)

// inputPlan is what review learned about one input.
type inputPlan struct {
	internal      bool
	change, index uint32   // the wallet position the input's derivations name
	der           *derived // the wallet's scripts there
	prev          txOut    // the output spent
}

// signPlan is review's verdict: which inputs to sign, and with which of
// the wallet's key placeholders (by position in the template).
type signPlan struct {
	inputs []inputPlan
	toSign []bool
}

// keyMatch reports whether a BIP-32 derivation names internal key k of
// the wallet: same fingerprint, the key's origin path, then a change step
// of 0 or 1 (the placeholders are /** or /<0;1>/*) and an index
// (is_keyexpr_compatible_with_derivation_info in sign_psbt.c).
func keyMatch(k *keyInfo, d *derivation) (change, index uint32, ok bool) {
	if !k.internal || d.fpr != k.fpr || len(d.path) != len(k.path)+2 {
		return 0, 0, false
	}
	for i, s := range k.path {
		if d.path[i] != s {
			return 0, 0, false
		}
	}
	change, index = d.path[len(d.path)-2], d.path[len(d.path)-1]
	return change, index, change <= 1
}

// review decides which inputs are the wallet's and which of its keys sign
// them, checks that every output claiming to be change is, and writes what
// the screen would show. It follows preprocess_inputs and
// preprocess_outputs of the app's sign_psbt.c (LedgerHQ/app-bitcoin-new,
// commit fc8d7ab610afd834fe512542ba258cf65661ee08).
func (e *Emulator) review(w *wallet, p *unsignedPSBT) (*signPlan, string, error) {
	t := p.tx
	plan := &signPlan{inputs: make([]inputPlan, len(t.ins)), toSign: make([]bool, len(w.order))}
	var totalIn int64
	nInternal, missingTx := 0, 0
	for i := range t.ins {
		in, ip := &p.inputs[i], &plan.inputs[i]
		prev, hasTx, err := prevOut(in, &t.ins[i], i)
		if err != nil {
			return nil, "", err
		}
		ip.prev = prev
		totalIn += prev.value
		// Every derivation that names one of the wallet's own keys marks
		// that key for signing and gives the input's position; the last
		// one found wins, as in the app.
		found := false
		for _, d := range in.derivations {
			for pos, ki := range w.order {
				if c, idx, ok := keyMatch(&w.keys[ki], &d); ok {
					plan.toSign[pos] = true
					found, ip.change, ip.index = true, c, idx
				}
			}
		}
		if !found {
			continue
		}
		der, err := w.derive(e, ip.change, ip.index)
		if err != nil {
			return nil, "", err
		}
		if !bytes.Equal(der.scriptPubKey, prev.script) {
			continue // external: the wallet does not have this script there
		}
		ip.der = der
		if err := checkInternalInput(w, in, der, hasTx, i); err != nil {
			return nil, "", err
		}
		if !hasTx {
			missingTx++
		}
		ip.internal = true
		nInternal++
	}
	if nInternal == 0 {
		return nil, "", fail(swIncorrectData, "no input belongs to wallet %q", w.name)
	}
	var text strings.Builder
	fmt.Fprintf(&text, "Sign transaction from wallet %q (%d of %d inputs)\n", w.name, nInternal, len(t.ins))
	if missingTx > 0 {
		// The app signs such segwit inputs after a warning screen.
		fmt.Fprintf(&text, "Warning: %d input(s) without the previous transaction: their amounts are not proven\n", missingTx)
	}
	var totalOut int64
	nChange := 0
	for j := range t.outs {
		out := &t.outs[j]
		totalOut += out.value
		change, err := e.isChange(w, &p.outputs[j], out, j)
		if err != nil {
			return nil, "", err
		}
		if change {
			nChange++
			continue
		}
		fmt.Fprintf(&text, "Send %s to %s\n", btcutil.Amount(out.value), scriptText(out.script, e))
	}
	if totalOut > totalIn {
		return nil, "", fail(swIncorrectData, "the outputs spend more than the inputs")
	}
	fmt.Fprintf(&text, "Change outputs: %d\nFee: %s\n", nChange, btcutil.Amount(totalIn-totalOut))
	return plan, text.String(), nil
}

// checkInternalInput makes the checks the app makes on an input it will
// sign: the UTXO fields its script type needs, a sighash type the emulator
// signs, and redeem and witness scripts that are the wallet's. The app
// finds a wrong script only when it computes the sighash, after the user
// approved; the emulator refuses before asking.
func checkInternalInput(w *wallet, in *psbtInput, der *derived, hasTx bool, i int) error {
	_, hasW := in.fields[inWitnessUtxo]
	switch {
	case w.kind == kindSh && (!hasTx || hasW):
		return failCode(swIncorrectData, ecSignLegacyUtxo, "input %d", i)
	case w.kind != kindSh && !hasW:
		return failCode(swIncorrectData, ecSignSegwitUtxo, "input %d", i)
	}
	if v, ok := in.fields[inSighashType]; ok {
		if len(v) != 4 {
			return fail(swIncorrectData, "input %d: malformed sighash type", i)
		}
		if ht := uint32(v[0]) | uint32(v[1])<<8 | uint32(v[2])<<16 | uint32(v[3])<<24; ht != sighashAll {
			return fail(swNotSupported, "input %d: sighash type %#x (the emulator signs SIGHASH_ALL only)", i, ht)
		}
	}
	ws, hasWS := in.fields[inWitnessScript]
	rs, hasRS := in.fields[inRedeemScript]
	switch {
	case der.witnessScript != nil && !hasWS:
		return fail(swIncorrectData, "input %d: no witness script", i)
	case hasWS && !bytes.Equal(ws, der.witnessScript):
		return failCode(swIncorrectData, ecSignBadWitnessScript, "input %d: witness script", i)
	case der.redeemScript != nil && !hasRS:
		return fail(swIncorrectData, "input %d: no redeem script", i)
	case hasRS && !bytes.Equal(rs, der.redeemScript):
		return failCode(swIncorrectData, ecSignBadRedeemScript, "input %d: redeem script", i)
	}
	return nil
}

// isChange reports whether output j is change: a derivation of one of the
// wallet's own keys on the change branch whose position gives the
// output's script. An output that carries a derivation with this device's
// fingerprint but does not derive from the wallet is refused; the app
// would show it as an external output instead.
func (e *Emulator) isChange(w *wallet, o *psbtOutput, out *txOut, j int) (bool, error) {
	claims := false
	for _, d := range o.derivations {
		if d.fpr != e.xfp {
			continue
		}
		claims = true
		for _, ki := range w.order {
			c, idx, ok := keyMatch(&w.keys[ki], &d)
			if !ok {
				continue
			}
			der, err := w.derive(e, c, idx)
			if err != nil {
				return false, err
			}
			if bytes.Equal(der.scriptPubKey, out.script) {
				// An address of the receive branch is shown, as the app
				// does: only the change branch is change.
				return c == 1, nil
			}
		}
	}
	if claims {
		return false, fail(swIncorrectData, "output %d claims to be change of this device but does not derive from wallet %q", j, w.name)
	}
	return false, nil
}

func scriptText(script []byte, e *Emulator) string {
	_, addrs, _, err := txscript.ExtractPkScriptAddrs(script, e.params)
	if err == nil && len(addrs) == 1 {
		return addrs[0].EncodeAddress()
	}
	return fmt.Sprintf("script %x", script)
}

// sign makes the signatures and returns the YIELD payloads. Like the app's
// sign_transaction, it goes through the wallet's own key placeholders in
// template order and, for each that a derivation named, signs every
// internal input with the key at the placeholder's origin path, then the
// input's change and index. Each signature is ECDSA over the digest
// computed in sighash.go (BIP-143 for sh-wsh and wsh, the legacy one for
// sh, scriptCode the wallet's script), RFC 6979 nonce, low S, DER, and
// SIGHASH_ALL. The app ignores partial signatures already in the PSBT and
// so does the emulator.
//
// A payload is input index (varint) | 33 | public key | signature; the
// public key is left out under protocol version 0 (yield_signature).
func (e *Emulator) sign(w *wallet, p *unsignedPSBT, plan *signPlan, proto byte) ([][]byte, error) {
	t := p.tx
	var hashes *bip143Hashes
	if w.kind != kindSh {
		hashes = newBIP143Hashes(t)
	}
	digests := make([]*[32]byte, len(t.ins))
	var out [][]byte
	for pos, ki := range w.order {
		if !plan.toSign[pos] {
			continue
		}
		origin, err := e.privAt(w.keys[ki].path)
		if err != nil {
			return nil, err
		}
		branches := map[uint32]*hdkeychain.ExtendedKey{}
		for i := range plan.inputs {
			ip := &plan.inputs[i]
			if !ip.internal {
				continue
			}
			if digests[i] == nil {
				d, err := inputSighash(w, t, hashes, i, ip)
				if err != nil {
					return nil, fail(swBadState, "input %d: sighash: %v", i, err)
				}
				digests[i] = &d
			}
			br := branches[ip.change]
			if br == nil {
				if br, err = origin.Derive(ip.change); err != nil {
					return nil, fail(swBadState, "derive: %v", err)
				}
				branches[ip.change] = br
			}
			child, err := br.Derive(ip.index)
			if err != nil {
				return nil, fail(swBadState, "derive: %v", err)
			}
			priv, err := child.ECPrivKey()
			if err != nil {
				return nil, fail(swBadState, "derive: %v", err)
			}
			sig := append(ecdsa.Sign(priv, digests[i][:]).Serialize(), sighashAll)
			y := varint(uint64(i))
			if proto >= 1 {
				pub := priv.PubKey().SerializeCompressed()
				y = append(append(y, byte(len(pub))), pub...)
			}
			out = append(out, append(y, sig...))
		}
	}
	return out, nil
}

// inputSighash is the SIGHASH_ALL digest of internal input i.
func inputSighash(w *wallet, t *tx, hashes *bip143Hashes, i int, ip *inputPlan) ([32]byte, error) {
	if w.kind == kindSh {
		return legacySighash(t, i, ip.der.redeemScript, sighashAll)
	}
	return segwitV0Sighash(t, hashes, i, ip.der.witnessScript, ip.prev.value, sighashAll)
}

// privAt derives the emulator's extended private key at path.
func (e *Emulator) privAt(path []uint32) (*hdkeychain.ExtendedKey, error) {
	k := e.master
	for _, s := range path {
		var err error
		if k, err = k.Derive(s); err != nil {
			return nil, fail(swBadState, "derive: %v", err)
		}
	}
	return k, nil
}
