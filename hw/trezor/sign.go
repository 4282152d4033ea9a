package trezor

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	tp "github.com/countersign/countersign/hw/trezor/trezorproto"
	"github.com/countersign/countersign/psbt"
)

// signPlan is everything the device may ask for while signing, prepared
// from the PSBT: the inputs and outputs as messages, and the previous
// transactions by hash, each decoded and hashed once.
type signPlan struct {
	tx      *wire.MsgTx
	inputs  []tp.TxInputType
	ownKeys [][]byte // per input: the device's pubkey this pass signs with
	outputs []tp.TxOutputType
	prev    map[chainhash.Hash]*prevTx
}

// prevTx is a previous transaction, converted to messages on first request.
type prevTx struct {
	tx      *wire.MsgTx
	inputs  []*tp.TxInputType
	outputs []*tp.TxOutputBinType
}

// SignPSBT adds the Trezor's partial signatures to out (the adapter's
// private copy, which has passed psbt.CheckWallet). Every input must carry
// a non_witness_utxo (the device checks each previous transaction) and a
// BIP-32 derivation for this device's fingerprint: a Trezor signs only when
// it holds a key of every input. The user confirms outputs, total and fee
// on the device.
func (z *Trezor) SignPSBT(ctx context.Context, out *bpsbt.Packet, wal *hw.Wallet) (*bpsbt.Packet, error) {
	const op = "sign transaction"
	w, err := newWalletView(wal.Descriptor, wal.Network)
	if err != nil {
		return nil, &hw.Error{Device: z.name(), Op: op, Kind: hw.ErrUnsupported, Err: err}
	}
	fp, err := z.fingerprint(ctx)
	if err != nil {
		return nil, err
	}
	// A device holding several keys of one input signs one of them per
	// pass; each pass is a new confirmation on the device. Every pass adds
	// at least one signature, so the loop ends.
	for {
		plan, done, err := z.plan(out, w, fp)
		if err != nil {
			return nil, &hw.Error{Device: z.name(), Op: op, Kind: hw.ErrDevice, Err: err}
		}
		if done {
			return out, nil
		}
		sigs, err := z.signPass(ctx, plan, w.coin)
		if err != nil {
			return nil, z.fail(op, err)
		}
		if err := addSignatures(out, plan, sigs); err != nil {
			return nil, z.fail(op, err)
		}
	}
}

// plan prepares one signing pass: for each input the device's next key
// without a signature (or, for an input it has fully signed, its first key:
// the device needs every input, and that repeated signature is dropped).
// done is true when no input has an unsigned key of the device left.
func (z *Trezor) plan(p *bpsbt.Packet, w *walletView, fp [4]byte) (*signPlan, bool, error) {
	tx := p.UnsignedTx
	pl := &signPlan{tx: tx, prev: map[chainhash.Hash]*prevTx{}}
	fpLE := binary.LittleEndian.Uint32(fp[:])
	remaining := 0
	for i := range p.Inputs {
		in := &p.Inputs[i]
		var first, mine *bpsbt.Bip32Derivation
		for _, dv := range in.Bip32Derivation {
			if dv == nil || dv.MasterKeyFingerprint != fpLE {
				continue
			}
			if first == nil {
				first = dv
			}
			if mine == nil && !hasSig(in, dv.PubKey) {
				mine = dv
			}
		}
		if first == nil {
			return nil, false, fmt.Errorf("input #%d has no key of this Trezor (fingerprint %x): a Trezor signs only transactions whose every input it holds a key for", i, fp)
		}
		if mine != nil {
			remaining++
		} else {
			mine = first
		}
		msg, err := z.inputMessage(p, w, i, mine)
		if err != nil {
			return nil, false, err
		}
		pl.inputs = append(pl.inputs, *msg)
		pl.ownKeys = append(pl.ownKeys, mine.PubKey)
		prev := in.NonWitnessUtxo
		if prev == nil {
			return nil, false, fmt.Errorf("input #%d has no non_witness_utxo: a Trezor checks the previous transaction of every input, so the PSBT must carry it", i)
		}
		h := tx.TxIn[i].PreviousOutPoint.Hash
		if _, ok := pl.prev[h]; !ok {
			if prev.TxHash() != h {
				return nil, false, fmt.Errorf("input #%d: non_witness_utxo is not the transaction it spends", i)
			}
			pl.prev[h] = &prevTx{tx: prev}
		}
	}
	if remaining == 0 {
		return nil, true, nil
	}
	for o := range tx.TxOut {
		msg, err := z.outputMessage(p, w, fp, o)
		if err != nil {
			return nil, false, err
		}
		pl.outputs = append(pl.outputs, *msg)
	}
	return pl, false, nil
}

// inputMessage describes input i for the device, signing with the key of
// derivation dv.
func (z *Trezor) inputMessage(p *bpsbt.Packet, w *walletView, i int, dv *bpsbt.Bip32Derivation) (*tp.TxInputType, error) {
	in := &p.Inputs[i]
	txIn := p.UnsignedTx.TxIn[i]
	der, err := z.position(w, dv)
	if err != nil {
		return nil, fmt.Errorf("input #%d: %w", i, err)
	}
	if w.d.Script != descriptor.ScriptSh && !bytes.Equal(in.WitnessScript, der.WitnessScript) ||
		w.d.Script != descriptor.ScriptWsh && !bytes.Equal(in.RedeemScript, der.RedeemScript) {
		return nil, fmt.Errorf("input #%d: its scripts are not the wallet's at %d/%d", i, der.Branch, der.Index)
	}
	amount, err := inputAmount(p, i)
	if err != nil {
		return nil, fmt.Errorf("input #%d: %w", i, err)
	}
	ms, err := w.multisig(der)
	if err != nil {
		return nil, fmt.Errorf("input #%d: %w", i, err)
	}
	h := txIn.PreviousOutPoint.Hash
	return &tp.TxInputType{
		AddressN:   append([]uint32(nil), dv.Bip32Path...),
		PrevHash:   reverse(h[:]),
		PrevIndex:  txIn.PreviousOutPoint.Index,
		Sequence:   tp.U32(txIn.Sequence),
		ScriptType: tp.U32(w.inType),
		Multisig:   ms,
		Amount:     tp.U64(uint64(amount)),
	}, nil
}

// position finds where in the wallet a derivation of this device's key
// points, and checks the key there is the one recorded.
func (z *Trezor) position(w *walletView, dv *bpsbt.Bip32Derivation) (*descriptor.Derived, error) {
	var fp [4]byte
	binary.LittleEndian.PutUint32(fp[:], dv.MasterKeyFingerprint)
	for k, key := range w.d.Keys {
		if key.Origin == nil || key.Origin.Fingerprint != fp {
			continue
		}
		branch, index, ok := w.locate(k, dv.Bip32Path)
		if !ok {
			continue
		}
		der, err := w.derive(branch, index)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(der.Keys[k].PubKey, dv.PubKey) {
			return der, nil
		}
	}
	return nil, fmt.Errorf("the derivation %s of key %x is not one of the wallet's keys", descriptor.Path(dv.Bip32Path), dv.PubKey)
}

// inputAmount is the value of the output input i spends.
func inputAmount(p *bpsbt.Packet, i int) (int64, error) {
	in := &p.Inputs[i]
	op := p.UnsignedTx.TxIn[i].PreviousOutPoint
	if in.NonWitnessUtxo != nil {
		if int(op.Index) >= len(in.NonWitnessUtxo.TxOut) {
			return 0, errors.New("non_witness_utxo has no such output")
		}
		return in.NonWitnessUtxo.TxOut[op.Index].Value, nil
	}
	if in.WitnessUtxo != nil {
		return in.WitnessUtxo.Value, nil
	}
	return 0, errors.New("no previous output")
}

// outputMessage describes output o: the wallet's change (derivations of
// this device, scripts the wallet derives) as address_n + multisig so the
// device verifies it is change; anything else as its address or OP_RETURN
// data.
func (z *Trezor) outputMessage(p *bpsbt.Packet, w *walletView, fp [4]byte, o int) (*tp.TxOutputType, error) {
	txOut := p.UnsignedTx.TxOut[o]
	if txOut.Value < 0 {
		return nil, fmt.Errorf("output #%d has a negative amount", o)
	}
	amount := uint64(txOut.Value)
	fpLE := binary.LittleEndian.Uint32(fp[:])
	for _, dv := range p.Outputs[o].Bip32Derivation {
		if dv == nil || dv.MasterKeyFingerprint != fpLE {
			continue
		}
		der, err := z.position(w, dv)
		if err != nil || !bytes.Equal(der.ScriptPubKey, txOut.PkScript) {
			continue
		}
		ms, err := w.multisig(der)
		if err != nil {
			return nil, fmt.Errorf("output #%d: %w", o, err)
		}
		return &tp.TxOutputType{
			AddressN: append([]uint32(nil), dv.Bip32Path...), Amount: amount, ScriptType: w.outType, Multisig: ms,
		}, nil
	}
	if txscript.GetScriptClass(txOut.PkScript) == txscript.NullDataTy {
		data, err := nullData(txOut.PkScript)
		if err != nil {
			return nil, fmt.Errorf("output #%d: %w", o, err)
		}
		return &tp.TxOutputType{Amount: amount, ScriptType: tp.PayToOpReturn, OpReturnData: data}, nil
	}
	_, addrs, _, err := txscript.ExtractPkScriptAddrs(txOut.PkScript, w.net)
	if err != nil || len(addrs) != 1 {
		return nil, fmt.Errorf("output #%d pays a script that has no address (%x): a Trezor cannot sign it", o, txOut.PkScript)
	}
	return &tp.TxOutputType{Address: addrs[0].EncodeAddress(), Amount: amount, ScriptType: tp.PayToAddress}, nil
}

// nullData returns the data pushed by an OP_RETURN script (one push, or
// none).
func nullData(script []byte) ([]byte, error) {
	pushes, err := txscript.PushedData(script)
	if err != nil {
		return nil, err
	}
	switch len(pushes) {
	case 0:
		return []byte{}, nil
	case 1:
		return pushes[0], nil
	}
	return nil, errors.New("OP_RETURN output with more than one data push")
}

// signPass runs one SignTx exchange and returns the signatures by input.
func (z *Trezor) signPass(ctx context.Context, pl *signPlan, coin string) ([][]byte, error) {
	prompt := fmt.Sprintf("Review the transaction on your %s (%d inputs, %d outputs): check each address and amount, then the total and fee, and confirm.", z.name(), len(pl.inputs), len(pl.outputs))
	req := tp.Message(&tp.SignTx{
		OutputsCount: uint32(len(pl.outputs)), InputsCount: uint32(len(pl.inputs)), CoinName: coin,
		Version: tp.U32(uint32(pl.tx.Version)), LockTime: tp.U32(pl.tx.LockTime),
	})
	sigs := make([][]byte, len(pl.inputs))
	for {
		typ, payload, err := z.call(ctx, req, prompt)
		if err != nil {
			return nil, err
		}
		if typ != tp.TypeTxRequest {
			z.link.broken = true
			return nil, fmt.Errorf("the device sent %s while signing, expected TxRequest", typ)
		}
		var tr tp.TxRequest
		if err := tr.Unmarshal(payload); err != nil {
			z.link.broken = true
			return nil, err
		}
		if s := tr.Serialized; s != nil && s.SignatureIndex != nil {
			i := int(*s.SignatureIndex)
			if i >= len(sigs) || len(s.Signature) == 0 {
				return nil, fmt.Errorf("the device sent a signature for input #%d of %d", i, len(sigs))
			}
			if sigs[i] != nil {
				return nil, fmt.Errorf("the device signed input #%d twice", i)
			}
			sigs[i] = s.Signature
		}
		if tr.RequestType == nil {
			return nil, errors.New("the device sent a TxRequest without a request type")
		}
		if *tr.RequestType == tp.TxFinished {
			break
		}
		ack, err := pl.answer(&tr)
		if err != nil {
			// Leave the device's signing screen before reporting.
			z.abort()
			return nil, err
		}
		req = ack
	}
	for i, s := range sigs {
		if s == nil {
			return nil, fmt.Errorf("the device finished without signing input #%d", i)
		}
	}
	return sigs, nil
}

// answer builds the TxAck for one TxRequest.
func (pl *signPlan) answer(tr *tp.TxRequest) (*tp.TxAck, error) {
	kind := *tr.RequestType
	det := tr.Details
	if det == nil {
		det = &tp.TxRequestDetailsType{}
	}
	if det.TxHash == nil {
		if det.RequestIndex == nil {
			return nil, fmt.Errorf("the device asked for a piece of the transaction (request %d) without an index", kind)
		}
		i := int(*det.RequestIndex)
		switch kind {
		case tp.TxInput:
			if i >= len(pl.inputs) {
				return nil, fmt.Errorf("the device asked for input #%d of %d", i, len(pl.inputs))
			}
			return &tp.TxAck{Tx: &tp.TransactionType{Inputs: []tp.TxInputType{pl.inputs[i]}}}, nil
		case tp.TxOutput:
			if i >= len(pl.outputs) {
				return nil, fmt.Errorf("the device asked for output #%d of %d", i, len(pl.outputs))
			}
			return &tp.TxAck{Tx: &tp.TransactionType{Outputs: []tp.TxOutputType{pl.outputs[i]}}}, nil
		}
		return nil, fmt.Errorf("the device asked for request type %d of the transaction, which countersign does not send (original transactions and extra data are not used)", kind)
	}
	if len(det.TxHash) != 32 {
		return nil, fmt.Errorf("the device asked for a previous transaction with a %d-byte hash", len(det.TxHash))
	}
	var h chainhash.Hash
	copy(h[:], reverse(det.TxHash))
	prev, ok := pl.prev[h]
	if !ok {
		return nil, fmt.Errorf("the device asked for transaction %s, which no input spends", h)
	}
	switch kind {
	case tp.TxMeta:
		return &tp.TxAck{Tx: &tp.TransactionType{
			Version: tp.U32(uint32(prev.tx.Version)), LockTime: tp.U32(prev.tx.LockTime),
			InputsCnt: tp.U32(uint32(len(prev.tx.TxIn))), OutputsCnt: tp.U32(uint32(len(prev.tx.TxOut))),
			ExtraDataLen: tp.U32(0),
		}}, nil
	case tp.TxInput, tp.TxOutput:
	default:
		return nil, fmt.Errorf("the device asked for request type %d of previous transaction %s, which Bitcoin transactions do not have", kind, h)
	}
	if det.RequestIndex == nil {
		return nil, fmt.Errorf("the device asked for a piece of transaction %s without an index", h)
	}
	i := int(*det.RequestIndex)
	if kind == tp.TxInput {
		if i >= len(prev.tx.TxIn) {
			return nil, fmt.Errorf("the device asked for input #%d of transaction %s, which has %d", i, h, len(prev.tx.TxIn))
		}
		if prev.inputs == nil {
			prev.inputs = make([]*tp.TxInputType, len(prev.tx.TxIn))
		}
		if prev.inputs[i] == nil {
			in := prev.tx.TxIn[i]
			ph := in.PreviousOutPoint.Hash
			prev.inputs[i] = &tp.TxInputType{
				PrevHash: reverse(ph[:]), PrevIndex: in.PreviousOutPoint.Index,
				ScriptSig: append([]byte{}, in.SignatureScript...), Sequence: tp.U32(in.Sequence),
			}
		}
		return &tp.TxAck{Tx: &tp.TransactionType{Inputs: []tp.TxInputType{*prev.inputs[i]}}}, nil
	}
	if i >= len(prev.tx.TxOut) {
		return nil, fmt.Errorf("the device asked for output #%d of transaction %s, which has %d", i, h, len(prev.tx.TxOut))
	}
	if prev.outputs == nil {
		prev.outputs = make([]*tp.TxOutputBinType, len(prev.tx.TxOut))
	}
	if prev.outputs[i] == nil {
		o := prev.tx.TxOut[i]
		if o.Value < 0 {
			return nil, fmt.Errorf("output #%d of transaction %s has a negative amount", i, h)
		}
		prev.outputs[i] = &tp.TxOutputBinType{Amount: uint64(o.Value), ScriptPubkey: o.PkScript}
	}
	return &tp.TxAck{Tx: &tp.TransactionType{BinOutputs: []tp.TxOutputBinType{*prev.outputs[i]}}}, nil
}

// addSignatures verifies each signature against the PSBT's own sighash and
// the device's key for the input, then adds it. Nothing is added unless
// every signature verifies.
func addSignatures(p *bpsbt.Packet, pl *signPlan, sigs [][]byte) error {
	v, err := psbt.NewSigVerifier(p)
	if err != nil {
		return err
	}
	type add struct {
		i        int
		pub, sig []byte
	}
	var adds []add
	for i, der := range sigs {
		if hasSig(&p.Inputs[i], pl.ownKeys[i]) {
			continue // signed in an earlier pass
		}
		sig := append(append([]byte{}, der...), byte(txscript.SigHashAll))
		if err := v.Verify(i, pl.ownKeys[i], sig); err != nil {
			return fmt.Errorf("input #%d: the device's signature does not verify for key %x: %w", i, pl.ownKeys[i], err)
		}
		adds = append(adds, add{i, pl.ownKeys[i], sig})
	}
	for _, a := range adds {
		p.Inputs[a.i].PartialSigs = append(p.Inputs[a.i].PartialSigs, &bpsbt.PartialSig{PubKey: a.pub, Signature: a.sig})
	}
	return nil
}

func hasSig(in *bpsbt.PInput, pub []byte) bool {
	for _, ps := range in.PartialSigs {
		if ps != nil && bytes.Equal(ps.PubKey, pub) {
			return true
		}
	}
	return false
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[len(b)-1-i] = b[i]
	}
	return out
}
