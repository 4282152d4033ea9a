package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"

	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/psbt"
)

// maxYieldIndex is the largest input index a YIELD carries; larger values
// are tags for MuSig2 data (doc/bitcoin.md, SIGN_PSBT).
const maxYieldIndex = 0xffff

// SignPSBT adds the Ledger's partial signatures to p (the adapter's private
// copy). The user reviews the outputs and fee on the device. It needs the
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
	mp, err := merkleizePSBT(out)
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
		return nil, d.failWallet(op, name, err)
	}
	added, err := d.addSignatures(out, it.yields)
	if err != nil {
		return nil, d.fail(op, err)
	}
	if added == 0 {
		return nil, d.fail(op, errors.New("the Ledger approved but returned no signature"))
	}
	return out, nil
}

// hasOwnDerivation reports whether any input names this device's
// fingerprint.
func (d *Ledger) hasOwnDerivation(p *bpsbt.Packet) bool {
	xfp := binary.LittleEndian.Uint32(d.xfp[:])
	for i := range p.Inputs {
		for _, der := range p.Inputs[i].Bip32Derivation {
			if der.MasterKeyFingerprint == xfp {
				return true
			}
		}
	}
	return false
}

// partialSig is one signature the app yielded.
type partialSig struct {
	input  int
	pubKey []byte
	sig    []byte // DER and the sighash byte
}

// parseYield decodes input_index(varint) | pubkey_augm_len(1) |
// pubkey_augm | signature.
func parseYield(y []byte, nInputs int) (partialSig, error) {
	r := bytes.NewReader(y)
	idx, err := readVarint(r)
	if err != nil {
		return partialSig{}, fmt.Errorf("malformed yielded signature %x", y)
	}
	if idx > maxYieldIndex {
		return partialSig{}, fmt.Errorf("the Ledger yielded MuSig2 data (tag %#x), which countersign's wallets do not use", idx)
	}
	if idx >= uint64(nInputs) {
		return partialSig{}, fmt.Errorf("the Ledger yielded a signature for input %d of a %d-input transaction", idx, nInputs)
	}
	n, err := r.ReadByte()
	if err != nil || int(n) > r.Len() {
		return partialSig{}, fmt.Errorf("malformed yielded signature for input %d", idx)
	}
	pub := make([]byte, n)
	_, _ = r.Read(pub)
	if n != 33 {
		return partialSig{}, fmt.Errorf("the Ledger yielded a %d-byte key for input %d (a taproot signature?); countersign expects a compressed key", n, idx)
	}
	sig := make([]byte, r.Len())
	_, _ = r.Read(sig)
	if len(sig) < 9 || len(sig) > 73 {
		return partialSig{}, fmt.Errorf("the Ledger yielded a %d-byte signature for input %d", len(sig), idx)
	}
	return partialSig{input: int(idx), pubKey: pub, sig: sig}, nil
}

// addSignatures verifies each yielded signature and adds it to p. It
// returns how many it added.
func (d *Ledger) addSignatures(p *bpsbt.Packet, yields [][]byte) (int, error) {
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
		if err := d.checkOwnKey(in, ps); err != nil {
			return 0, err
		}
		if ps.sig[len(ps.sig)-1] != byte(txscript.SigHashAll) {
			return 0, fmt.Errorf("input %d: the Ledger signed with sighash type %#x; countersign asks for SIGHASH_ALL only", ps.input, ps.sig[len(ps.sig)-1])
		}
		if err := v.Verify(ps.input, ps.pubKey, ps.sig); err != nil {
			return 0, fmt.Errorf("input %d: the Ledger's signature for key %x is refused: %w", ps.input, ps.pubKey, err)
		}
		if n := addPartialSig(in, ps); n {
			added++
		}
	}
	return added, nil
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

// scriptHasKey reports whether script pushes key as data.
func scriptHasKey(script, key []byte) bool {
	tok := txscript.MakeScriptTokenizer(0, script)
	for tok.Next() {
		if bytes.Equal(tok.Data(), key) {
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
