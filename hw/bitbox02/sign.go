package bitbox02

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/hw"
	bb "github.com/countersign/countersign/hw/bitbox02/bbproto"
)

// The streaming signing protocol, written from bitbox02-firmware at commit
// a3467ad11daee7081cc041ba9217c81e471022e6,
// src/rust/bitbox02-rust/src/hww/api/bitcoin/signtx.rs (_process): after
// BTCSignInit the device asks, through BTCSignNextResponse, for every input
// (first pass), each input's previous transaction (PREVTX_INIT, then every
// input and output of it), every output, and every input again (second
// pass), answering each input of the second pass with its signature; the
// response after the last one says DONE and carries the last signature.

// signPlan is the PSBT as the device will ask for it.
type signPlan struct {
	tx      *wire.MsgTx
	inputs  []*bb.BTCSignInputRequest
	pubkeys [][]byte // per input: the device's key
	prev    []*wire.MsgTx
	outputs []*bb.BTCSignOutputRequest
}

// SignPSBT has the device sign every input of p (the adapter's private
// copy, which passed psbt.CheckWallet) and adds the signatures as partial
// signatures. The BitBox02 signs only transactions whose every input is its
// wallet's, and checks each input's previous transaction, so every input
// needs a BIP-32 derivation of this device and a non_witness_utxo. The user
// confirms each recipient, the total and the fee on the device.
func (b *BitBox02) SignPSBT(ctx context.Context, p *bpsbt.Packet, w *hw.Wallet) (*bpsbt.Packet, error) {
	const op = "sign transaction"
	v, err := b.view(ctx, op, w)
	if err != nil {
		return nil, err
	}
	plan, err := v.plan(p, b.fp)
	if err != nil {
		return nil, b.fail(op, err)
	}
	known, err := b.isRegistered(ctx, v)
	if err != nil {
		return nil, b.fail(op, err)
	}
	if !known {
		return nil, b.fail(op, &hw.Error{Kind: hw.ErrNotRegistered, Err: fmt.Errorf("the BitBox02 does not know wallet %q yet", w.Name)})
	}
	sigs, err := b.stream(ctx, v, plan)
	if err != nil {
		return nil, b.fail(op, err)
	}
	for i, sig := range sigs {
		der, err := derSignature(sig)
		if err != nil {
			return nil, b.fail(op, fmt.Errorf("input #%d: %w", i, err))
		}
		in := &p.Inputs[i]
		if hasPartialSig(in, plan.pubkeys[i]) {
			continue
		}
		in.PartialSigs = append(in.PartialSigs, &bpsbt.PartialSig{PubKey: plan.pubkeys[i], Signature: der})
	}
	return p, nil
}

func hasPartialSig(in *bpsbt.PInput, pub []byte) bool {
	for _, ps := range in.PartialSigs {
		if ps != nil && bytes.Equal(ps.PubKey, pub) {
			return true
		}
	}
	return false
}

// derSignature turns the device's 64-byte R||S into a DER signature with
// SIGHASH_ALL, the only type the device signs.
func derSignature(sig []byte) ([]byte, error) {
	if len(sig) != 64 {
		return nil, fmt.Errorf("the device returned a signature of %d bytes", len(sig))
	}
	var r, s btcec.ModNScalar
	if r.SetByteSlice(sig[:32]) || s.SetByteSlice(sig[32:]) || r.IsZero() || s.IsZero() {
		return nil, errors.New("the device returned a signature out of range")
	}
	return append(ecdsa.NewSignature(&r, &s).Serialize(), byte(txscript.SigHashAll)), nil
}

// plan turns the PSBT into the device's requests, checking everything the
// device needs is there.
func (v *walletView) plan(p *bpsbt.Packet, fp [4]byte) (*signPlan, error) {
	tx := p.UnsignedTx
	if tx.Version != 1 && tx.Version != 2 {
		return nil, unsupported("the BitBox02 signs transactions of version 1 or 2, not %d", tx.Version)
	}
	if tx.LockTime >= txscript.LockTimeThreshold {
		return nil, unsupported("the BitBox02 does not sign transactions locked to a time (locktime %d); only block-height locktimes", tx.LockTime)
	}
	if len(tx.TxIn) == 0 || len(tx.TxOut) == 0 {
		return nil, errors.New("the transaction has no inputs or no outputs")
	}
	fpLE := binary.LittleEndian.Uint32(fp[:])
	pl := &signPlan{tx: tx}
	for i, txIn := range tx.TxIn {
		in := &p.Inputs[i]
		var mine *bpsbt.Bip32Derivation
		for _, dv := range in.Bip32Derivation {
			if dv != nil && dv.MasterKeyFingerprint == fpLE {
				mine = dv
				break
			}
		}
		if mine == nil {
			return nil, fmt.Errorf("input #%d has no key of this BitBox02 (fingerprint %x): a BitBox02 signs only transactions whose every input is its wallet's", i, fp)
		}
		branch, index, ok := v.position(mine.Bip32Path)
		if !ok {
			return nil, fmt.Errorf("input #%d: the derivation of this BitBox02's key is not below its account path", i)
		}
		der, err := v.d.Derive(branch, index, v.net)
		if err != nil {
			return nil, fmt.Errorf("input #%d: %w", i, err)
		}
		if !bytes.Equal(der.Keys[v.own].PubKey, mine.PubKey) {
			return nil, fmt.Errorf("input #%d: the key recorded for this BitBox02 is not the wallet's at %d/%d", i, branch, index)
		}
		prev := in.NonWitnessUtxo
		if prev == nil {
			return nil, fmt.Errorf("input #%d has no non_witness_utxo: the BitBox02 checks the previous transaction of every input, so the PSBT must carry it (run `countersign psbt update`)", i)
		}
		op := txIn.PreviousOutPoint
		if prev.TxHash() != op.Hash {
			return nil, fmt.Errorf("input #%d: non_witness_utxo is not the transaction it spends", i)
		}
		if int(op.Index) >= len(prev.TxOut) {
			return nil, fmt.Errorf("input #%d spends output %d of a transaction with %d outputs", i, op.Index, len(prev.TxOut))
		}
		spent := prev.TxOut[op.Index]
		if !bytes.Equal(spent.PkScript, der.ScriptPubKey) {
			return nil, fmt.Errorf("input #%d does not spend the wallet's script at %d/%d", i, branch, index)
		}
		if spent.Value <= 0 {
			return nil, fmt.Errorf("input #%d spends an output of value %d", i, spent.Value)
		}
		if len(prev.TxIn) == 0 || len(prev.TxOut) == 0 {
			return nil, fmt.Errorf("input #%d: its previous transaction has no inputs or outputs", i)
		}
		pl.inputs = append(pl.inputs, &bb.BTCSignInputRequest{
			PrevOutHash:  append([]byte(nil), op.Hash[:]...),
			PrevOutIndex: op.Index,
			PrevOutValue: uint64(spent.Value),
			Sequence:     txIn.Sequence,
			Keypath:      append([]uint32(nil), mine.Bip32Path...),
		})
		pl.pubkeys = append(pl.pubkeys, append([]byte(nil), mine.PubKey...))
		pl.prev = append(pl.prev, prev)
	}
	for o, out := range tx.TxOut {
		msg, err := v.outputMessage(&p.Outputs[o], out, fpLE)
		if err != nil {
			return nil, fmt.Errorf("output #%d: %w", o, err)
		}
		pl.outputs = append(pl.outputs, msg)
	}
	return pl, nil
}

// outputMessage describes an output: the wallet's own (change, or a
// receive address of the wallet) as keypath plus script config, so the
// device derives and recognises it; anything else as type and payload.
func (v *walletView) outputMessage(po *bpsbt.POutput, out *wire.TxOut, fpLE uint32) (*bb.BTCSignOutputRequest, error) {
	if out.Value < 0 {
		return nil, fmt.Errorf("negative value %d", out.Value)
	}
	for _, dv := range po.Bip32Derivation {
		if dv == nil || dv.MasterKeyFingerprint != fpLE {
			continue
		}
		branch, index, ok := v.position(dv.Bip32Path)
		if !ok || index > maxAddressIndex {
			break
		}
		der, err := v.d.Derive(branch, index, v.net)
		if err != nil || !bytes.Equal(der.ScriptPubKey, out.PkScript) || !bytes.Equal(der.Keys[v.own].PubKey, dv.PubKey) {
			break
		}
		return &bb.BTCSignOutputRequest{Ours: true, Value: uint64(out.Value), Keypath: append([]uint32(nil), dv.Bip32Path...)}, nil
	}
	typ, payload, err := outputPayload(out.PkScript)
	if err != nil {
		return nil, err
	}
	if typ == bb.OutputOpReturn && out.Value != 0 {
		return nil, unsupported("the BitBox02 signs OP_RETURN outputs only with value 0")
	}
	if typ != bb.OutputOpReturn && out.Value == 0 {
		return nil, unsupported("the BitBox02 does not sign outputs of value 0")
	}
	return &bb.BTCSignOutputRequest{Type: typ, Value: uint64(out.Value), Payload: payload}, nil
}

// outputPayload splits a standard output script into the device's output
// type and payload (bitcoin/common.rs, Payload::pk_script, read backwards).
func outputPayload(script []byte) (uint32, []byte, error) {
	s := script
	switch {
	case len(s) == 25 && s[0] == txscript.OP_DUP && s[1] == txscript.OP_HASH160 && s[2] == 20 && s[23] == txscript.OP_EQUALVERIFY && s[24] == txscript.OP_CHECKSIG:
		return bb.OutputP2PKH, s[3:23], nil
	case len(s) == 23 && s[0] == txscript.OP_HASH160 && s[1] == 20 && s[22] == txscript.OP_EQUAL:
		return bb.OutputP2SH, s[2:22], nil
	case len(s) == 22 && s[0] == txscript.OP_0 && s[1] == 20:
		return bb.OutputP2WPKH, s[2:], nil
	case len(s) == 34 && s[0] == txscript.OP_0 && s[1] == 32:
		return bb.OutputP2WSH, s[2:], nil
	case len(s) == 34 && s[0] == txscript.OP_1 && s[1] == 32:
		return bb.OutputP2TR, s[2:], nil
	case len(s) >= 1 && s[0] == txscript.OP_RETURN:
		data, ok := opReturnData(s[1:])
		if ok {
			return bb.OutputOpReturn, data, nil
		}
	}
	return 0, nil, unsupported("its script %x is not a standard address the BitBox02 can show", script)
}

// opReturnData returns the single push after OP_RETURN, in its minimal
// form, as the device rebuilds the script from it.
func opReturnData(s []byte) ([]byte, bool) {
	if len(s) == 0 {
		return []byte{}, false
	}
	var data []byte
	switch op := s[0]; {
	case op >= 1 && op <= 75:
		data = s[1:]
		if len(data) != int(op) {
			return nil, false
		}
	case op == txscript.OP_PUSHDATA1 && len(s) >= 2:
		data = s[2:]
		if len(data) != int(s[1]) || len(data) <= 75 {
			return nil, false
		}
	default:
		return nil, false
	}
	return data, true
}

// stream runs one signing session and returns a signature per input.
func (b *BitBox02) stream(ctx context.Context, v *walletView, pl *signPlan) ([][]byte, error) {
	tx := pl.tx
	init := &bb.BTCSignInitRequest{
		Coin:          v.coin,
		ScriptConfigs: []*bb.ScriptConfigWithKeypath{{ScriptConfig: v.cfg, Keypath: v.account}},
		Version:       uint32(tx.Version),
		NumInputs:     uint32(len(pl.inputs)),
		NumOutputs:    uint32(len(pl.outputs)),
		Locktime:      tx.LockTime,
	}
	prompted := false
	wait := func() {
		if !prompted {
			prompted = true
			b.opts.Prompt.Prompt("Confirm the transaction on your BitBox02: check every recipient address and amount, then the total and the fee.")
		}
	}
	// Bound the exchange: each input twice and its host nonce once, its previous transaction once,
	// each output once, and a little slack.
	limit := 3*len(pl.inputs) + len(pl.outputs) + 8
	for _, prev := range pl.prev {
		limit += 1 + len(prev.TxIn) + len(prev.TxOut)
	}
	sigs := make([][]byte, len(pl.inputs))
	// Anti-klepto: a fresh secret nonce per input, committed to in the
	// input request, revealed when the device has committed to its own.
	ak, err := newAntiKlepto(len(pl.inputs))
	if err != nil {
		return nil, err
	}
	for i, in := range pl.inputs {
		c := ak.hostCommitment(i)
		in.HostNonceCommitment = c[:]
	}
	lastInput := -1
	req := &bb.Request{SignInit: init}
	for step := 0; ; step++ {
		if step > limit {
			return nil, fmt.Errorf("the device asked for more than %d items; giving up", limit)
		}
		rsp, err := b.api(ctx, req, wait)
		if err != nil {
			return nil, err
		}
		next := rsp.SignNext
		if next == nil {
			return nil, fmt.Errorf("the device answered with %s during signing, expected btc_sign_next", rsp.Kind)
		}
		if next.HasSignature {
			if lastInput < 0 || sigs[lastInput] != nil {
				return nil, errors.New("the device sent a signature that answers no input")
			}
			// The signature must carry the nonce both sides made: a
			// device that chose its nonce alone could leak its key.
			if err := ak.verify(lastInput, next.Signature); err != nil {
				return nil, fmt.Errorf("input #%d: %w", lastInput, err)
			}
			sigs[lastInput] = next.Signature
		}
		i := int(next.Index)
		switch next.Type {
		case bb.NextDone:
			for k, s := range sigs {
				if s == nil {
					return nil, fmt.Errorf("the device finished without signing input #%d", k)
				}
			}
			return sigs, nil
		case bb.NextInput:
			if i >= len(pl.inputs) {
				return nil, fmt.Errorf("the device asked for input #%d of %d", i, len(pl.inputs))
			}
			req, lastInput = &bb.Request{SignInput: pl.inputs[i]}, i
		case bb.NextOutput:
			if i >= len(pl.outputs) {
				return nil, fmt.Errorf("the device asked for output #%d of %d", i, len(pl.outputs))
			}
			req, lastInput = &bb.Request{SignOutput: pl.outputs[i]}, -1
		case bb.NextHostNonce:
			if i >= len(pl.inputs) {
				return nil, fmt.Errorf("the device asked for the host nonce of input #%d of %d", i, len(pl.inputs))
			}
			nonce, err := ak.reveal(i, next.SignerCommitment)
			if err != nil {
				return nil, fmt.Errorf("input #%d: %w", i, err)
			}
			req, lastInput = &bb.Request{BTC: &bb.BTCRequest{HostNonce: nonce}}, i
		case bb.NextPrevTxInit, bb.NextPrevTxInput, bb.NextPrevTxOutput:
			if i >= len(pl.prev) {
				return nil, fmt.Errorf("the device asked for the previous transaction of input #%d of %d", i, len(pl.inputs))
			}
			r, err := prevTxRequest(pl.prev[i], next)
			if err != nil {
				return nil, err
			}
			req, lastInput = &bb.Request{BTC: r}, -1
		default:
			return nil, fmt.Errorf("the device asked for item type %d, which countersign does not send (a payment request)", next.Type)
		}
	}
}

// prevTxRequest answers a request for (part of) a previous transaction.
func prevTxRequest(prev *wire.MsgTx, next *bb.BTCSignNextResponse) (*bb.BTCRequest, error) {
	j := int(next.PrevIndex)
	switch next.Type {
	case bb.NextPrevTxInit:
		return &bb.BTCRequest{PrevTxInit: &bb.BTCPrevTxInitRequest{
			Version: uint32(prev.Version), NumInputs: uint32(len(prev.TxIn)), NumOutputs: uint32(len(prev.TxOut)), Locktime: prev.LockTime,
		}}, nil
	case bb.NextPrevTxInput:
		if j >= len(prev.TxIn) {
			return nil, fmt.Errorf("the device asked for input #%d of a previous transaction with %d", j, len(prev.TxIn))
		}
		in := prev.TxIn[j]
		return &bb.BTCRequest{PrevTxInput: &bb.BTCPrevTxInputRequest{
			PrevOutHash: append([]byte(nil), in.PreviousOutPoint.Hash[:]...), PrevOutIndex: in.PreviousOutPoint.Index,
			SignatureScript: in.SignatureScript, Sequence: in.Sequence,
		}}, nil
	default:
		if j >= len(prev.TxOut) {
			return nil, fmt.Errorf("the device asked for output #%d of a previous transaction with %d", j, len(prev.TxOut))
		}
		out := prev.TxOut[j]
		if out.Value < 0 {
			return nil, fmt.Errorf("previous transaction output #%d has a negative value", j)
		}
		return &bb.BTCRequest{PrevTxOutput: &bb.BTCPrevTxOutputRequest{Value: uint64(out.Value), PubkeyScript: out.PkScript}}, nil
	}
}
