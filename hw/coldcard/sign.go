package coldcard

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"

	"github.com/countersign/countersign/hw"
)

// SignPSBT adds the Coldcard's partial signatures to p (the adapter's
// private copy). The user approves each pass on the device. The device
// itself finds the wallet from the PSBT's derivations and refuses inputs it
// cannot match to an enrolled wallet (hw.ErrNotRegistered); w's descriptor,
// when given, is asked about first ("msck") so that the fix is named before
// the user is made to press anything.
func (c *Coldcard) SignPSBT(ctx context.Context, p *bpsbt.Packet, w *hw.Wallet) (*bpsbt.Packet, error) {
	const op = "sign transaction"
	descWallet := c.usesDescriptors(w.Descriptor)
	if descWallet {
		if err := c.checkDescriptorWallet(op, w); err != nil {
			return nil, err
		}
	}
	if err := c.prepare(ctx); err != nil {
		return nil, err
	}
	if err := c.checkChain(op, w.Network); err != nil {
		return nil, err
	}
	mine := c.ownKeys(p)
	pl := &muSigPlan{}
	if descWallet {
		var err error
		if pl, err = c.planMuSig(p); err != nil {
			return nil, c.fail(op, err)
		}
		if mine == 0 && len(pl.Sessions) > 0 {
			mine = 1 // a key-path-only musig() wallet: one pass
		}
	}
	if mine == 0 {
		return nil, c.fail(op, fmt.Errorf("no input of this PSBT has a BIP-32 derivation for fingerprint %X: nothing for this Coldcard to sign", c.xfp))
	}
	named := ""
	if descWallet {
		names, err := c.listMiniscript(ctx)
		if err != nil {
			return nil, c.fail(op, err)
		}
		if !slices.Contains(names, w.Name) {
			return nil, c.failAs(op, hw.ErrNotRegistered, fmt.Errorf("the Coldcard holds no wallet named %q: register it first", w.Name))
		}
		if c.fw.atLeast(6, 4, 0) {
			named = w.Name // the firmware then signs for this wallet only
		}
	} else if w.Descriptor != nil {
		has, err := c.hasWallet(ctx, w.Descriptor)
		if err != nil {
			return nil, c.fail(op, err)
		}
		if !has {
			return nil, c.failAs(op, hw.ErrNotRegistered, fmt.Errorf("the Coldcard holds no %s wallet with these cosigners (%q): register it first", w.Descriptor.Policy(), w.Name))
		}
	}
	// Each pass signs at most one of the device's keys per input, so a
	// device holding k keys of an input needs up to k passes; mine bounds
	// the loop whatever the device does.
	for pass := 1; pass <= mine; pass++ {
		raw, err := pl.deviceBytes(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", c.name(), op, err)
		}
		signed, err := c.signPass(ctx, raw, named, pass, pl.Round, len(p.UnsignedTx.TxIn), len(p.UnsignedTx.TxOut))
		if err != nil {
			return nil, err
		}
		added, err := copySignatures(p, signed, c.xfp)
		if err != nil {
			return nil, c.fail(op, err)
		}
		if err := pl.copyMuSig(p, signed, added); err != nil {
			return nil, c.fail(op, err)
		}
		total := 0
		for _, n := range added {
			total += n
		}
		if total == 0 {
			if pass == 1 {
				return nil, c.fail(op, errors.New("the Coldcard approved but added no signature"))
			}
			break
		}
		if !needsAnotherPass(p, c.xfp, added) {
			break
		}
	}
	return p, nil
}

// ownKeys counts the (input, key) pairs whose derivation names this
// device's fingerprint.
func (c *Coldcard) ownKeys(p *bpsbt.Packet) int {
	xfp := binary.LittleEndian.Uint32(c.xfp[:])
	n := 0
	for i := range p.Inputs {
		for _, d := range p.Inputs[i].Bip32Derivation {
			if d.MasterKeyFingerprint == xfp {
				n++
			}
		}
		for _, d := range p.Inputs[i].TaprootBip32Derivation {
			if d.MasterKeyFingerprint == xfp && len(d.LeafHashes) > 0 {
				n++
			}
		}
	}
	return n
}

// signPass runs one upload/approve/download cycle and parses the result.
func (c *Coldcard) signPass(ctx context.Context, raw []byte, named string, pass int, round hw.MuSigRound, nIn, nOut int) (*bpsbt.Packet, error) {
	const op = "sign transaction"
	size, sum, err := c.upload(ctx, raw)
	if err != nil {
		return nil, c.fail("upload the PSBT", err)
	}
	req := reqSignTxn(size, sum)
	if named != "" {
		req = reqSignTxnNamed(size, sum, named)
	}
	if _, err := c.call(ctx, req); err != nil {
		return nil, c.fail(op, err)
	}
	msg := fmt.Sprintf("Review the transaction (%d inputs, %d outputs) on your %s and press OK to sign (X refuses).", nIn, nOut, c.name())
	switch {
	case pass > 1:
		msg = fmt.Sprintf("Approve pass %d on your %s: it signs with another of its keys in the same inputs (X refuses).", pass, c.name())
	case round == hw.MuSigRound1:
		msg += " This is MuSig2 round 1: it adds its nonce; keep it powered on until round 2, which it signs once every cosigner's nonce is in."
	case round == hw.MuSigRound2:
		msg += " This is MuSig2 round 2: it adds its partial signature."
	}
	c.opts.Prompt.Prompt(msg)
	rep, err := c.poll(ctx, reqSignedTxn())
	if err != nil {
		if r := muSigRefusal(err); r != nil {
			return nil, c.failAs(op, hw.ErrDevice, r)
		}
		return nil, c.fail(op, err)
	}
	length, resultSum, err := rep.strx("stok")
	if err != nil {
		return nil, c.fail(op, err)
	}
	result, err := c.download(ctx, length, resultSum)
	if err != nil {
		return nil, c.fail("download the signed PSBT", err)
	}
	signed, err := bpsbt.NewFromRawBytes(bytes.NewReader(result), false)
	if err != nil {
		return nil, c.fail(op, fmt.Errorf("the signed PSBT from the device does not parse: %w", err))
	}
	return signed, nil
}

// deviceBytes serialises the PSBT the device sees: p, with the MuSig2
// records of the plan's sessions under the firmware's aggregate key.
func (pl *muSigPlan) deviceBytes(p *bpsbt.Packet) ([]byte, error) {
	raw, err := serialize(p)
	if err != nil || len(pl.Sessions) == 0 {
		return raw, err
	}
	dev, err := bpsbt.NewFromRawBytes(bytes.NewReader(raw), false)
	if err != nil {
		return nil, err
	}
	pl.deviceCopy(dev)
	return serialize(dev)
}

func serialize(p *bpsbt.Packet) ([]byte, error) {
	var b bytes.Buffer
	if err := p.Serialize(&b); err != nil {
		return nil, fmt.Errorf("serialize PSBT: %w", err)
	}
	return b.Bytes(), nil
}

// copySignatures copies into dst the partial signatures in signed that are
// new, so the next pass uploads them; a signature for a key dst does not
// derive from fingerprint xfp is an error. It returns how many it copied per input. Verifying them is
// the adapter's job (hw.Signer), done once against the caller's packet.
func copySignatures(dst, signed *bpsbt.Packet, xfp [4]byte) ([]int, error) {
	if signed.UnsignedTx == nil || signed.UnsignedTx.TxHash() != dst.UnsignedTx.TxHash() || len(signed.Inputs) != len(dst.Inputs) {
		return nil, errors.New("the device returned a PSBT for a different transaction")
	}
	fp := binary.LittleEndian.Uint32(xfp[:])
	added := make([]int, len(dst.Inputs))
	for i := range signed.Inputs {
		in := &dst.Inputs[i]
		for _, ps := range signed.Inputs[i].PartialSigs {
			if hasSig(in, ps.PubKey) {
				continue
			}
			if !derivedFrom(in, ps.PubKey, fp) {
				return nil, fmt.Errorf("input #%d: the device signed for key %x, which the PSBT does not derive from fingerprint %X", i, ps.PubKey, xfp)
			}
			in.PartialSigs = append(in.PartialSigs, &bpsbt.PartialSig{PubKey: ps.PubKey, Signature: ps.Signature})
			added[i]++
		}
		// Taproot script-path signatures (BIP-371), one per key and leaf.
		for _, ts := range signed.Inputs[i].TaprootScriptSpendSig {
			if ts == nil || hasTapSig(in, ts.XOnlyPubKey, ts.LeafHash) {
				continue
			}
			if !tapDerivedFrom(in, ts.XOnlyPubKey, ts.LeafHash, fp) {
				return nil, fmt.Errorf("input #%d: the device signed for taproot key %x in leaf %x, which the PSBT does not derive from fingerprint %X", i, ts.XOnlyPubKey, ts.LeafHash, xfp)
			}
			c := *ts
			in.TaprootScriptSpendSig = append(in.TaprootScriptSpendSig, &c)
			added[i]++
		}
	}
	return added, nil
}

func hasSig(in *bpsbt.PInput, pub []byte) bool {
	for _, ps := range in.PartialSigs {
		if bytes.Equal(ps.PubKey, pub) {
			return true
		}
	}
	return false
}

func hasTapSig(in *bpsbt.PInput, x, leaf []byte) bool {
	for _, s := range in.TaprootScriptSpendSig {
		if bytes.Equal(s.XOnlyPubKey, x) && bytes.Equal(s.LeafHash, leaf) {
			return true
		}
	}
	return false
}

// tapDerivedFrom reports whether the PSBT derives taproot key x from
// fingerprint fp for the leaf.
func tapDerivedFrom(in *bpsbt.PInput, x, leaf []byte, fp uint32) bool {
	for _, d := range in.TaprootBip32Derivation {
		if d.MasterKeyFingerprint != fp || !bytes.Equal(d.XOnlyPubKey, x) {
			continue
		}
		for _, h := range d.LeafHashes {
			if bytes.Equal(h, leaf) {
				return true
			}
		}
	}
	return false
}

func derivedFrom(in *bpsbt.PInput, pub []byte, fp uint32) bool {
	for _, d := range in.Bip32Derivation {
		if d.MasterKeyFingerprint == fp && bytes.Equal(d.PubKey, pub) {
			return true
		}
	}
	return false
}

// needsAnotherPass reports whether an input that gained a signature in this
// pass still lacks one of the device's keys and still needs signatures.
func needsAnotherPass(p *bpsbt.Packet, xfp [4]byte, added []int) bool {
	fp := binary.LittleEndian.Uint32(xfp[:])
	for i := range p.Inputs {
		if added[i] == 0 {
			continue
		}
		in := &p.Inputs[i]
		script := in.WitnessScript
		if script == nil {
			script = in.RedeemScript
		}
		_, m, err := txscript.CalcMultiSigStats(script)
		if err != nil || len(in.PartialSigs) >= m {
			continue
		}
		for _, d := range in.Bip32Derivation {
			if d.MasterKeyFingerprint == fp && !hasSig(in, d.PubKey) {
				return true
			}
		}
	}
	return false
}
