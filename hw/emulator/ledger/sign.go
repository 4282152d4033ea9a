package ledger

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
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

// keyMatch reports whether a BIP-32 derivation names key expression e,
// an internal key of the wallet or a musig() with one: same fingerprint, the key's origin path,
// then one of the expression's two steps and an index
// (is_keyexpr_compatible_with_derivation_info in sign_psbt.c); change is 1
// when the step is the expression's second (N of /<M;N>/*).
func keyMatch(w *wallet, e *keyExpr, d *derivation) (change, index uint32, ok bool) {
	var fpr [4]byte
	var root []uint32
	switch {
	case w.internalExpr(e):
		fpr, root = w.keys[e.key].fpr, w.keys[e.key].path
	case e.musig != nil && w.musigSigner(e) >= 0:
		// A musig() key derives from the aggregate's synthetic xpub
		// (fill_keyexpr_info_if_internal): its fingerprint, no origin.
		if fpr, ok = w.musigFingerprint(e); !ok {
			return 0, 0, false
		}
	default:
		return 0, 0, false
	}
	if d.fpr != fpr || len(d.path) != len(root)+2 {
		return 0, 0, false
	}
	for i, s := range root {
		if d.path[i] != s {
			return 0, 0, false
		}
	}
	step, index := d.path[len(d.path)-2], d.path[len(d.path)-1]
	switch step {
	case e.num[0]:
		return 0, index, true
	case e.num[1]:
		return 1, index, true
	}
	return 0, 0, false
}

// review decides which inputs are the wallet's and which of its keys sign
// them, checks that every output claiming to be change is, and writes what
// the screen would show. It follows preprocess_inputs and
// preprocess_outputs of the app's sign_psbt.c (LedgerHQ/app-bitcoin-new,
// commit fc8d7ab610afd834fe512542ba258cf65661ee08).
func (e *Emulator) review(w *wallet, p *unsignedPSBT) (*signPlan, string, error) {
	t := p.tx
	plan := &signPlan{inputs: make([]inputPlan, len(t.ins)), toSign: make([]bool, len(w.pol.exprs))}
	var totalIn int64
	nInternal, missingTx, nonDefaultSighash := 0, 0, false
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
			for pos, ke := range w.pol.exprs {
				if c, idx, ok := keyMatch(w, ke, &d); ok {
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
		nonDefault, err := checkInternalInput(w, in, der, hasTx, i, len(t.outs))
		if err != nil {
			return nil, "", err
		}
		nonDefaultSighash = nonDefaultSighash || nonDefault
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
	if nonDefaultSighash {
		// The app warns before the review (ui_warn_nondefault_sighash).
		text.WriteString("Warning: non-default sighash type\n")
	}
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
func checkInternalInput(w *wallet, in *psbtInput, der *derived, hasTx bool, i, nOutputs int) (nonDefault bool, err error) {
	_, hasW := in.fields[inWitnessUtxo]
	kind := w.pol.kind
	switch {
	case kind == kindSh && (!hasTx || hasW):
		return false, failCode(swIncorrectData, ecSignLegacyUtxo, "input %d", i)
	case kind != kindSh && !hasW:
		return false, failCode(swIncorrectData, ecSignSegwitUtxo, "input %d", i)
	}
	if _, nonDefault, err = inputHashType(w, in, i, nOutputs); err != nil {
		return false, err
	}
	ws, hasWS := in.fields[inWitnessScript]
	rs, hasRS := in.fields[inRedeemScript]
	switch {
	case der.witnessScript != nil && !hasWS:
		return false, fail(swIncorrectData, "input %d: no witness script", i)
	case hasWS && !bytes.Equal(ws, der.witnessScript):
		return false, failCode(swIncorrectData, ecSignBadWitnessScript, "input %d: witness script", i)
	case der.redeemScript != nil && !hasRS:
		return false, fail(swIncorrectData, "input %d: no redeem script", i)
	case hasRS && !bytes.Equal(rs, der.redeemScript):
		return false, failCode(swIncorrectData, ecSignBadRedeemScript, "input %d: redeem script", i)
	}
	return nonDefault, nil
}

// inputHashType is the input's PSBT_IN_SIGHASH_TYPE, or the default:
// SIGHASH_ALL before taproot, SIGHASH_DEFAULT (0) in taproot. Like the app
// (sign_psbt.c, preprocess_inputs) it signs DEFAULT (taproot only) and
// ALL, and after a warning NONE, SINGLE and each with ANYONECANPAY;
// anything else is SW_NOT_SUPPORTED, and SINGLE for an input without the
// output of its index is refused with EC_SIGN_PSBT_UNALLOWED_SIGHASH_SINGLE.
// nonDefault reports a type that needs the warning.
func inputHashType(w *wallet, in *psbtInput, i, nOutputs int) (ht uint32, nonDefault bool, err error) {
	ht = sighashAll
	if w.pol.kind == kindTr {
		ht = sighashDefault
	}
	v, ok := in.fields[inSighashType]
	if !ok {
		return ht, false, nil
	}
	if len(v) != 4 {
		return 0, false, fail(swIncorrectData, "input %d: malformed sighash type", i)
	}
	ht = binary.LittleEndian.Uint32(v)
	switch ht {
	case sighashAll:
	case sighashDefault:
		if w.pol.kind != kindTr {
			return 0, false, fail(swNotSupported, "input %d: SIGHASH_DEFAULT outside taproot", i)
		}
	case sighashNone, sighashSingle, sighashAll | sighashAnyoneCanPay, sighashNone | sighashAnyoneCanPay, sighashSingle | sighashAnyoneCanPay:
		nonDefault = true
	default:
		return 0, false, fail(swNotSupported, "input %d: sighash type %#x", i, ht)
	}
	if ht&sighashSingle == sighashSingle && i >= nOutputs {
		return 0, false, failCode(swNotSupported, ecSignSighashSingle, "input %d: SIGHASH_SINGLE without output %d", i, i)
	}
	return ht, nonDefault, nil
}

// isChange reports whether output j is change: a derivation of one of the
// wallet's own keys on the change branch whose position gives the
// output's script. An output that carries a derivation with this device's
// fingerprint but does not derive from the wallet is refused; the app
// would show it as an external output instead.
func (e *Emulator) isChange(w *wallet, o *psbtOutput, out *txOut, j int) (bool, error) {
	claims := false
	for _, d := range o.derivations {
		// A musig() key's derivation names the aggregate's fingerprint,
		// which keyMatch knows; only this device's own fingerprint makes
		// an output that does not derive a false claim.
		claims = claims || d.fpr == e.xfp
		for _, ke := range w.pol.exprs {
			c, idx, ok := keyMatch(w, ke, &d)
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
// sign_transaction, it goes through the wallet's own key expressions in
// template order (for tr: the internal key, then the leaves left to right)
// and, for each that a derivation named, signs every internal input with
// the key at the expression's origin path, then its step for the input's
// change and the input's index. The app ignores partial signatures already
// in the PSBT and so does the emulator.
//
// Before taproot a signature is ECDSA over the digest computed in
// sighash.go (BIP-143 for sh-wsh and wsh, the legacy one for sh, the
// scriptCode the wallet's script), RFC 6979 nonce, low S, DER, then the
// hash type byte (SIGHASH_ALL unless the input names another). In taproot
// it is BIP-340 Schnorr over the BIP-341
// digest (taproot.go): with the internal key tweaked by the tree's root for
// a key-path spend, with the leaf's key and the leaf's hash in the digest
// for a script-path spend; 64 bytes, and the hash type byte after them
// unless it is SIGHASH_DEFAULT (sign_sighash_schnorr_and_yield).
//
// A payload is (yield_signature):
//
//	input index (varint) | len (1) | pubkey_augm | signature
//
// where pubkey_augm is the 33-byte compressed key before taproot, the
// 32-byte x-only output key for a key-path spend, and the 32-byte x-only
// key followed by the 32-byte tapleaf hash for a script-path spend; len
// and pubkey_augm are left out under protocol version 0.
//
// A musig() expression signs only in MuSig2's round 2 (musigRoot is the
// session's rand_root; nil skips them), with the partial-signature YIELD
// of musig.go.
func (e *Emulator) sign(w *wallet, p *unsignedPSBT, plan *signPlan, proto byte, musigRoot *[32]byte) ([][]byte, error) {
	t := p.tx
	var hashes *bip143Hashes
	var tapHashes *bip341Hashes
	switch w.pol.kind {
	case kindTr:
		prevs := make([]txOut, len(plan.inputs))
		for i := range plan.inputs {
			prevs[i] = plan.inputs[i].prev
		}
		tapHashes = newBIP341Hashes(t, prevs)
	case kindWsh, kindShWsh:
		hashes = newBIP143Hashes(t)
	}
	var out [][]byte
	for pos, ke := range w.pol.exprs {
		if !plan.toSign[pos] {
			continue
		}
		if ke.musig != nil {
			if musigRoot == nil {
				continue
			}
			for i := range plan.inputs {
				if !plan.inputs[i].internal {
					continue
				}
				ht, _, err := inputHashType(w, &p.inputs[i], i, len(t.outs))
				if err != nil {
					return nil, err
				}
				y, err := e.musigSign(w, p, tapHashes, i, &plan.inputs[i], ke, *musigRoot, ht)
				if err != nil {
					return nil, err
				}
				out = append(out, y)
			}
			continue
		}
		origin, err := e.privAt(w.keys[ke.key].path)
		if err != nil {
			return nil, err
		}
		branches := map[uint32]*hdkeychain.ExtendedKey{}
		for i := range plan.inputs {
			ip := &plan.inputs[i]
			if !ip.internal {
				continue
			}
			step := ke.num[ip.change]
			br := branches[step]
			if br == nil {
				if br, err = origin.Derive(step); err != nil {
					return nil, fail(swBadState, "derive: %v", err)
				}
				branches[step] = br
			}
			child, err := br.Derive(ip.index)
			if err != nil {
				return nil, fail(swBadState, "derive: %v", err)
			}
			priv, err := child.ECPrivKey()
			if err != nil {
				return nil, fail(swBadState, "derive: %v", err)
			}
			ht, _, err := inputHashType(w, &p.inputs[i], i, len(t.outs))
			if err != nil {
				return nil, err
			}
			var y []byte
			if w.pol.kind == kindTr {
				y, err = signTaproot(w, t, tapHashes, i, ip, ke, priv, ht, proto)
			} else {
				y, err = signECDSA(w, t, hashes, i, ip, priv, ht, proto)
			}
			if err != nil {
				return nil, err
			}
			out = append(out, y)
		}
	}
	return out, nil
}

// signECDSA signs input i before taproot.
func signECDSA(w *wallet, t *tx, hashes *bip143Hashes, i int, ip *inputPlan, priv *btcec.PrivateKey, ht uint32, proto byte) ([]byte, error) {
	var d [32]byte
	var err error
	if w.pol.kind == kindSh {
		d, err = legacySighash(t, i, ip.der.redeemScript, ht)
	} else {
		d, err = segwitV0Sighash(t, hashes, i, ip.der.witnessScript, ip.prev.value, ht)
	}
	if err != nil {
		return nil, fail(swBadState, "input %d: sighash: %v", i, err)
	}
	sig := append(ecdsa.Sign(priv, d[:]).Serialize(), byte(ht))
	y := varint(uint64(i))
	if proto >= 1 {
		pub := priv.PubKey().SerializeCompressed()
		y = append(append(y, byte(len(pub))), pub...)
	}
	return append(y, sig...), nil
}

// signTaproot signs input i for key expression ke: a key-path spend when
// ke is the internal key, else a script-path spend of the leaf ke is in.
func signTaproot(w *wallet, t *tx, h *bip341Hashes, i int, ip *inputPlan, ke *keyExpr, priv *btcec.PrivateKey, ht uint32, proto byte) ([]byte, error) {
	td := ip.der.tap
	var leaf *[32]byte
	if ke != w.pol.internal {
		for li := range td.leaves {
			for _, k := range leafExprs(td.leaves[li].n) {
				if k == ke {
					leaf = &td.leaves[li].hash
				}
			}
		}
		if leaf == nil {
			return nil, fail(swBadState, "key expression %d is in no leaf", ke.pos)
		}
	} else {
		var err error
		if priv, err = tweakPrivKey(priv, td.tweak); err != nil {
			return nil, fail(swBadState, "input %d: %v", i, err)
		}
	}
	d, err := taprootSighash(t, h, i, ht, leaf)
	if err != nil {
		return nil, fail(swBadState, "input %d: sighash: %v", i, err)
	}
	sig, err := schnorr.Sign(priv, d[:])
	if err != nil {
		return nil, fail(swBadState, "input %d: sign: %v", i, err)
	}
	sb := sig.Serialize()
	if ht != sighashDefault {
		sb = append(sb, byte(ht))
	}
	y := varint(uint64(i))
	if proto >= 1 {
		augm := schnorr.SerializePubKey(priv.PubKey())
		if leaf != nil {
			augm = append(augm, leaf[:]...)
		}
		y = append(append(y, byte(len(augm))), augm...)
	}
	return append(y, sb...), nil
}

// leafExprs lists the key expressions of a leaf script.
func leafExprs(n *node) []*keyExpr {
	var out []*keyExpr
	walk(n, func(m *node) { out = append(out, m.keys...) })
	return out
}

// tweakPrivKey is BIP-341's taproot_tweak_seckey: negate d if its point
// has an odd Y, then add the tweak.
func tweakPrivKey(priv *btcec.PrivateKey, tweak [32]byte) (*btcec.PrivateKey, error) {
	d := priv.Key
	if priv.PubKey().SerializeCompressed()[0] == 0x03 {
		d.Negate()
	}
	var t btcec.ModNScalar
	if t.SetBytes(&tweak) != 0 {
		return nil, errTweakOverflow
	}
	d.Add(&t)
	if d.IsZero() {
		return nil, errTweakOverflow
	}
	return &btcec.PrivateKey{Key: d}, nil
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
