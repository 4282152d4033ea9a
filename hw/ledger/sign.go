package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcutil"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"

	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/psbt"
)

// maxYieldIndex is the largest input index a YIELD carries; larger values
// are tags for MuSig2 data (doc/bitcoin.md, SIGN_PSBT).
const maxYieldIndex = 0xffff

// SignPSBT adds the Ledger's partial signatures to p (the adapter's private
// copy) and, for a musig() wallet, its MuSig2 public nonces (round 1) or
// partial signatures (round 2) as BIP-373 records (musig.go). The user
// reviews the outputs and fee on the device. It needs the
// wallet's HMAC (w.Token, or a registration made in this session); the app
// itself decides which inputs belong to the wallet and which outputs are
// change.
func (d *Ledger) SignPSBT(ctx context.Context, out *bpsbt.Packet, w *hw.Wallet) (*bpsbt.Packet, error) {
	const op = "sign transaction"
	desc, net, name := w.Descriptor, w.Network, w.Name
	pol, err := d.policy(op, desc, name)
	if err != nil {
		return nil, err
	}
	if err := d.checkNetwork(op, desc, net); err != nil {
		return nil, err
	}
	if !d.hasOwnDerivation(out) {
		return nil, d.failAs(op, hw.ErrDevice, fmt.Errorf("no input of this PSBT has a BIP-32 derivation for fingerprint %x: nothing for this Ledger to sign", d.xfp))
	}
	// The device's copy: a musig() wallet's MuSig2 records as the round
	// this call runs needs them (musig.go).
	plan := &muSigPlan{}
	if pol.hasMuSig() {
		if plan, err = d.planMuSig(out); err != nil {
			return nil, d.fail(op, err)
		}
	}
	dev, err := psbt.Clone(out)
	if err != nil {
		return nil, err
	}
	plan.deviceCopy(dev)
	mp, err := merkleizePSBT(dev)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", d.name(), op, err)
	}
	if err := d.ready(op); err != nil {
		return nil, err
	}
	mac, err := d.hmacFor(pol, w)
	if err != nil {
		return nil, err
	}
	it := newInterpreter()
	pol.addTo(it)
	mp.addTo(it)
	req := reqSignPSBT(signPSBTRequest{
		global:      mp.global.commitment(),
		nInputs:     uint64(len(mp.inputs)),
		inputsRoot:  mp.inputCommitments.tree.root,
		nOutputs:    uint64(len(mp.outputs)),
		outputsRoot: mp.outputCommitments.tree.root,
		walletID:    pol.ID(),
		hmac:        mac,
	})
	d.opts.Prompt.Prompt(fmt.Sprintf("Review the transaction (%d inputs, %d outputs) from wallet %q on your %s: check every output and the fee, then sign (reject refuses).",
		len(mp.inputs), len(mp.outputs), name, d.name()))
	if _, err := d.command(ctx, insSignPSBT, req, it, true); err != nil {
		if m := muSigRefusal(plan.Round, err); m != nil {
			return nil, d.failAs(op, hw.ErrDevice, m)
		}
		return nil, d.failWallet(op, name, err)
	}
	added, err := d.addSignatures(out, it.yields, plan)
	if err != nil {
		return nil, d.fail(op, err)
	}
	if added == 0 {
		return nil, d.fail(op, errors.New("the Ledger approved but returned no signature"))
	}
	return out, nil
}

// hasOwnDerivation reports whether any input names this device's
// fingerprint, in a BIP-32 or a taproot BIP-32 derivation.
func (d *Ledger) hasOwnDerivation(p *bpsbt.Packet) bool {
	xfp := binary.LittleEndian.Uint32(d.xfp[:])
	for i := range p.Inputs {
		for _, der := range p.Inputs[i].Bip32Derivation {
			if der.MasterKeyFingerprint == xfp {
				return true
			}
		}
		for _, der := range p.Inputs[i].TaprootBip32Derivation {
			if der.MasterKeyFingerprint == xfp {
				return true
			}
		}
	}
	return false
}

// What SIGN_PSBT yields (doc/bitcoin.md of app-bitcoin-new, "SIGN_PSBT"):
// an input index at most 0xffff, then pubkey_augm_len | pubkey_augm |
// signature, where pubkey_augm is a compressed key (ECDSA, legacy and
// segwit v0), a 32-byte x-only key (taproot key path: the tweaked output
// key it signed with, pubkey_tweaked in src/handler/sign_psbt.c) or an
// x-only key and a 32-byte tapleaf hash (taproot script path); or a tag
// above 0xffff for
// MuSig2: 0xffffffff a public nonce, 0xfffffffe a partial signature, each
// followed by input index | nonce (66) or partial signature (32) |
// participant key (33) | aggregate key (33) | tapleaf hash (0 or 32).
const (
	tagMuSigPubNonce   = 0xffffffff
	tagMuSigPartialSig = 0xfffffffe
)

// yieldKind tells what one yield carries.
type yieldKind int

const (
	yieldECDSA      yieldKind = iota + 1 // a partial signature for a compressed key
	yieldTapKey                          // a taproot key-path signature
	yieldTapLeaf                         // a taproot script-path signature
	yieldMuSigNonce                      // a MuSig2 public nonce (BIP-373)
	yieldMuSigSig                        // a MuSig2 partial signature (BIP-373)
)

// partialSig is one signature (or MuSig2 record) the app yielded.
type partialSig struct {
	kind     yieldKind
	input    int
	pubKey   []byte // 33 bytes (ECDSA), 32 (taproot), or the MuSig2 participant's 33
	leafHash []byte // taproot script path (and MuSig2 in a leaf): 32 bytes
	sig      []byte // DER and sighash byte; 64/65-byte Schnorr; 66-byte nonce; 32-byte partial signature
	agg      []byte // MuSig2: the aggregate key, 33 bytes
}

// parseYield decodes one yield. Lengths are checked here; what they mean
// (whose key, valid signature) is addSignatures' job.
func parseYield(y []byte, nInputs int) (partialSig, error) {
	r := bytes.NewReader(y)
	tag, err := readVarint(r)
	if err != nil {
		return partialSig{}, fmt.Errorf("malformed yield %x", y)
	}
	if tag > maxYieldIndex {
		return parseMuSigYield(r, tag, nInputs)
	}
	idx := tag
	if idx >= uint64(nInputs) {
		return partialSig{}, fmt.Errorf("the Ledger yielded a signature for input %d of a %d-input transaction", idx, nInputs)
	}
	n, err := r.ReadByte()
	if err != nil || int(n) > r.Len() {
		return partialSig{}, fmt.Errorf("malformed yielded signature for input %d", idx)
	}
	augm := make([]byte, n)
	_, _ = r.Read(augm)
	sig := make([]byte, r.Len())
	_, _ = r.Read(sig)
	ps := partialSig{input: int(idx), sig: sig}
	switch n {
	case 33:
		ps.kind, ps.pubKey = yieldECDSA, augm
		if len(sig) < 9 || len(sig) > 73 {
			return partialSig{}, fmt.Errorf("the Ledger yielded a %d-byte ECDSA signature for input %d", len(sig), idx)
		}
		return ps, nil
	case 32:
		ps.kind, ps.pubKey = yieldTapKey, augm
	case 64:
		ps.kind, ps.pubKey, ps.leafHash = yieldTapLeaf, augm[:32], augm[32:]
	default:
		return partialSig{}, fmt.Errorf("the Ledger yielded a %d-byte key for input %d; a key is 33 bytes (ECDSA), 32 (taproot key path) or 64 (taproot key and leaf hash)", n, idx)
	}
	if len(sig) != 64 && len(sig) != 65 {
		return partialSig{}, fmt.Errorf("the Ledger yielded a %d-byte Schnorr signature for input %d", len(sig), idx)
	}
	return ps, nil
}

// parseMuSigYield decodes the rest of a MuSig2 yield.
func parseMuSigYield(r *bytes.Reader, tag uint64, nInputs int) (partialSig, error) {
	var ps partialSig
	var size int
	switch tag {
	case tagMuSigPubNonce:
		ps.kind, size = yieldMuSigNonce, 66
	case tagMuSigPartialSig:
		ps.kind, size = yieldMuSigSig, 32
	default:
		return partialSig{}, fmt.Errorf("the Ledger yielded data with the unknown tag %#x", tag)
	}
	idx, err := readVarint(r)
	if err != nil || idx >= uint64(nInputs) {
		return partialSig{}, fmt.Errorf("the Ledger yielded MuSig2 data for input %d of a %d-input transaction", idx, nInputs)
	}
	ps.input = int(idx)
	if rest := r.Len() - size - 33 - 33; rest != 0 && rest != 32 {
		return partialSig{}, fmt.Errorf("the Ledger yielded MuSig2 data of the wrong size for input %d", idx)
	}
	read := func(n int) []byte {
		b := make([]byte, n)
		_, _ = r.Read(b)
		return b
	}
	ps.sig, ps.pubKey, ps.agg = read(size), read(33), read(33)
	if r.Len() == 32 {
		ps.leafHash = read(32)
	}
	return ps, nil
}

// addSignatures verifies each yielded signature and adds it to p, and
// adds the MuSig2 nonces and partial signatures the plan expects as
// BIP-373 records (checked by the adapter). It returns how many it added.
func (d *Ledger) addSignatures(p *bpsbt.Packet, yields [][]byte, plan *muSigPlan) (int, error) {
	tx := p.UnsignedTx
	v, err := psbt.NewSigVerifier(p)
	if err != nil {
		return 0, err
	}
	added := 0
	for _, y := range yields {
		ps, err := parseYield(y, len(tx.TxIn))
		if err != nil {
			return 0, err
		}
		in := &p.Inputs[ps.input]
		var n bool
		switch ps.kind {
		case yieldECDSA:
			n, err = d.addECDSA(in, v, ps)
		case yieldTapKey, yieldTapLeaf:
			n, err = d.addSchnorr(in, v, ps)
		default:
			n, err = plan.addMuSig(p, ps)
		}
		if err != nil {
			return 0, err
		}
		if n {
			added++
		}
	}
	return added, nil
}

// addECDSA checks and adds a segwit v0 or legacy partial signature.
func (d *Ledger) addECDSA(in *bpsbt.PInput, v *psbt.SigVerifier, ps partialSig) (bool, error) {
	if err := d.checkOwnKey(in, ps); err != nil {
		return false, err
	}
	if ps.sig[len(ps.sig)-1] != byte(txscript.SigHashAll) {
		return false, fmt.Errorf("input %d: the Ledger signed with sighash type %#x; countersign asks for SIGHASH_ALL only", ps.input, ps.sig[len(ps.sig)-1])
	}
	if err := v.Verify(ps.input, ps.pubKey, ps.sig); err != nil {
		return false, fmt.Errorf("input %d: the Ledger's signature for key %x is refused: %w", ps.input, ps.pubKey, err)
	}
	return addPartialSig(in, ps), nil
}

// addSchnorr checks and adds a taproot key-path or script-path signature
// (BIP-371 PSBT_IN_TAP_KEY_SIG, PSBT_IN_TAP_SCRIPT_SIG).
func (d *Ledger) addSchnorr(in *bpsbt.PInput, v *psbt.SigVerifier, ps partialSig) (bool, error) {
	if len(ps.sig) == 65 {
		return false, fmt.Errorf("input %d: the Ledger signed with sighash type %#x; countersign asks for SIGHASH_DEFAULT only", ps.input, ps.sig[64])
	}
	if ps.kind == yieldTapKey {
		// The app yields the tweaked key it signed with: the output key
		// (sign_psbt.c, pubkey_tweaked). The internal key under it must be
		// the device's.
		if in.WitnessUtxo == nil || len(in.WitnessUtxo.PkScript) != 34 || !bytes.Equal(in.WitnessUtxo.PkScript[2:], ps.pubKey) {
			return false, fmt.Errorf("input %d: the Ledger made a key-path signature with key %x, which is not the input's output key", ps.input, ps.pubKey)
		}
		if len(in.TaprootInternalKey) != 32 || d.ownTapDerivation(in, in.TaprootInternalKey) == nil {
			return false, fmt.Errorf("input %d: the Ledger made a key-path signature, but the input's internal key is not one of its keys in the PSBT's derivations", ps.input)
		}
		if err := v.VerifyTapKey(ps.input, ps.sig); err != nil {
			return false, fmt.Errorf("input %d: the Ledger's key-path signature is refused: %w", ps.input, err)
		}
		if len(in.TaprootKeySpendSig) > 0 {
			return false, nil
		}
		in.TaprootKeySpendSig = ps.sig
		return true, nil
	}
	own := d.ownTapDerivation(in, ps.pubKey)
	if own == nil {
		return false, fmt.Errorf("input %d: the Ledger signed with taproot key %x, which is not one of its keys in the PSBT's derivations", ps.input, ps.pubKey)
	}
	if !slices.ContainsFunc(own.LeafHashes, func(h []byte) bool { return bytes.Equal(h, ps.leafHash) }) {
		return false, fmt.Errorf("input %d: the Ledger signed leaf %x with key %x, which the PSBT's derivation does not place in that leaf", ps.input, ps.leafHash, ps.pubKey)
	}
	if err := v.VerifyTap(ps.input, ps.pubKey, ps.leafHash, ps.sig); err != nil {
		return false, fmt.Errorf("input %d: the Ledger's signature for taproot key %x is refused: %w", ps.input, ps.pubKey, err)
	}
	for _, s := range in.TaprootScriptSpendSig {
		if bytes.Equal(s.XOnlyPubKey, ps.pubKey) && bytes.Equal(s.LeafHash, ps.leafHash) {
			return false, nil
		}
	}
	in.TaprootScriptSpendSig = append(in.TaprootScriptSpendSig, &bpsbt.TaprootScriptSpendSig{
		XOnlyPubKey: ps.pubKey, LeafHash: ps.leafHash, Signature: ps.sig, SigHash: txscript.SigHashDefault,
	})
	return true, nil
}

// ownTapDerivation returns the input's taproot derivation of x-only key x
// from this device's master key, or nil.
func (d *Ledger) ownTapDerivation(in *bpsbt.PInput, x []byte) *bpsbt.TaprootBip32Derivation {
	xfp := binary.LittleEndian.Uint32(d.xfp[:])
	for _, der := range in.TaprootBip32Derivation {
		if der != nil && der.MasterKeyFingerprint == xfp && bytes.Equal(der.XOnlyPubKey, x) {
			return der
		}
	}
	return nil
}

// checkOwnKey requires the signing key to be one of this device's keys for
// the input (by its BIP-32 derivation) and to appear in the input's script.
func (d *Ledger) checkOwnKey(in *bpsbt.PInput, ps partialSig) error {
	xfp := binary.LittleEndian.Uint32(d.xfp[:])
	own := false
	for _, der := range in.Bip32Derivation {
		if der.MasterKeyFingerprint == xfp && bytes.Equal(der.PubKey, ps.pubKey) {
			own = true
		}
	}
	if !own {
		return fmt.Errorf("input %d: the Ledger signed with key %x, which is not one of its keys in the PSBT's derivations", ps.input, ps.pubKey)
	}
	script := in.WitnessScript
	if script == nil {
		script = in.RedeemScript
	}
	if !scriptHasKey(script, ps.pubKey) {
		return fmt.Errorf("input %d: the Ledger signed with key %x, which the input's script does not hold", ps.input, ps.pubKey)
	}
	return nil
}

// scriptHasKey reports whether script pushes key, or its HASH160 (a
// miniscript pkh()), as data.
func scriptHasKey(script, key []byte) bool {
	h := btcutil.Hash160(key)
	tok := txscript.MakeScriptTokenizer(0, script)
	for tok.Next() {
		if bytes.Equal(tok.Data(), key) || bytes.Equal(tok.Data(), h) {
			return true
		}
	}
	return false
}

// addPartialSig adds ps unless the input already has a signature for its
// key. It reports whether it added one.
func addPartialSig(in *bpsbt.PInput, ps partialSig) bool {
	for _, s := range in.PartialSigs {
		if bytes.Equal(s.PubKey, ps.pubKey) {
			return false
		}
	}
	in.PartialSigs = append(in.PartialSigs, &bpsbt.PartialSig{PubKey: ps.pubKey, Signature: ps.sig})
	return true
}
