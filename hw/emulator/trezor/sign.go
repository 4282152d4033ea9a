package trezor

import (
	"bytes"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	tp "github.com/countersign/countersign/hw/trezor/trezorproto"
)

// maxTxItems bounds the inputs and outputs of one transaction, of the one
// being signed and of previous ones.
const maxTxItems = 10_000

// signInput is an input of the transaction being signed, as first sent.
type signInput struct {
	msg    tp.TxInputType
	raw    []byte // canonical encoding, compared when the input is sent again
	script *script
	amount int64
	fp     [32]byte // multisig fingerprint
}

// signState is one signing workflow.
type signState struct {
	s       *session
	c       *coin
	tx      *wire.MsgTx
	inputs  []signInput
	outRaw  [][]byte
	pending *tp.TxRequestSerializedType // signature for the next TxRequest
}

// request sends a TxRequest (with the pending signature) and returns the
// TxAck's transaction.
func (st *signState) request(kind uint32, index uint32, txHash []byte) (*tp.TransactionType, error) {
	req := &tp.TxRequest{RequestType: tp.U32(kind), Details: &tp.TxRequestDetailsType{TxHash: txHash}, Serialized: st.pending}
	if kind != tp.TxMeta {
		req.Details.RequestIndex = tp.U32(index)
	}
	st.pending = nil
	var ack tp.TxAck
	if err := st.s.ask(req, tp.TypeTxAck, &ack); err != nil {
		return nil, err
	}
	if ack.Tx == nil {
		return nil, dataError("Missing transaction data")
	}
	return ack.Tx, nil
}

func (st *signState) input(i int, txHash []byte) (*tp.TxInputType, error) {
	tx, err := st.request(tp.TxInput, uint32(i), txHash)
	if err != nil {
		return nil, err
	}
	if len(tx.Inputs) != 1 {
		return nil, dataError("Expected exactly one input")
	}
	return &tx.Inputs[0], nil
}

func (st *signState) output(i int) (*tp.TxOutputType, error) {
	tx, err := st.request(tp.TxOutput, uint32(i), nil)
	if err != nil {
		return nil, err
	}
	if len(tx.Outputs) != 1 {
		return nil, dataError("Expected exactly one output")
	}
	return &tx.Outputs[0], nil
}

func (s *session) signTx(m *tp.SignTx) error {
	c, err := coinByName(m.CoinName)
	if err != nil {
		return err
	}
	if m.InputsCount < 1 || m.InputsCount > maxTxItems {
		return dataError("Transaction must have at least one input")
	}
	if m.OutputsCount < 1 || m.OutputsCount > maxTxItems {
		return dataError("Transaction must have at least one output")
	}
	master, pass, err := s.seed()
	if err != nil {
		return err
	}
	version, lockTime := uint32(1), uint32(0)
	if m.Version != nil {
		version = *m.Version
	}
	if m.LockTime != nil {
		lockTime = *m.LockTime
	}
	st := &signState{s: s, c: c, tx: wire.NewMsgTx(int32(version))}
	st.tx.LockTime = lockTime

	// Step 1: the inputs.
	var totalIn int64
	var walletPrefix []uint32
	for i := 0; i < int(m.InputsCount); i++ {
		in, err := st.input(i, nil)
		if err != nil {
			return err
		}
		si, err := st.checkInput(master, pass, in)
		if err != nil {
			return err
		}
		if i == 0 {
			walletPrefix = in.AddressN[:len(in.AddressN)-2]
		} else if !equalPath(walletPrefix, in.AddressN[:len(in.AddressN)-2]) || si.fp != st.inputs[0].fp {
			// Inputs of several wallets: nothing can be change.
			walletPrefix = nil
		}
		totalIn += si.amount
		st.inputs = append(st.inputs, *si)
		var h chainhash.Hash
		copy(h[:], reverse(in.PrevHash))
		seq := uint32(0xffffffff)
		if in.Sequence != nil {
			seq = *in.Sequence
		}
		st.tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: h, Index: in.PrevIndex}, Sequence: seq})
	}

	// Step 2: the outputs, each confirmed unless it is change.
	var totalOut, change int64
	for i := 0; i < int(m.OutputsCount); i++ {
		out, err := st.output(i)
		if err != nil {
			return err
		}
		pk, isChange, err := st.checkOutput(master, pass, out, walletPrefix)
		if err != nil {
			return err
		}
		if out.Amount > btcutil.MaxSatoshi {
			return dataError("Invalid output amount")
		}
		amount := int64(out.Amount)
		totalOut += amount
		if isChange {
			change += amount
		} else {
			addr := "OP_RETURN"
			if out.ScriptType != tp.PayToOpReturn {
				addr, _ = addressOf(c, pk)
			}
			text := fmt.Sprintf("Send %s to\n%s", formatAmount(amount, c), addr)
			if err := s.confirm(tp.ButtonRequestConfirmOutput, Screen{Kind: "output", Address: addr, Amount: amount, Text: text}); err != nil {
				return err
			}
		}
		st.outRaw = append(st.outRaw, out.Marshal())
		st.tx.AddTxOut(&wire.TxOut{Value: amount, PkScript: pk})
	}
	fee := totalIn - totalOut
	if fee < 0 {
		return fail(tp.FailureNotEnoughFunds, "Not enough funds")
	}
	spend := totalOut - change
	text := fmt.Sprintf("Total amount: %s\nincluding fee: %s", formatAmount(spend+fee, c), formatAmount(fee, c))
	if err := s.confirm(tp.ButtonRequestSignTx, Screen{Kind: "total", Amount: spend, Fee: fee, Text: text}); err != nil {
		return err
	}

	// Step 3: every previous transaction, checked against the inputs.
	seen := map[chainhash.Hash]bool{}
	for i := range st.inputs {
		h := st.tx.TxIn[i].PreviousOutPoint.Hash
		if seen[h] {
			continue
		}
		seen[h] = true
		if err := st.checkPrevTx(h); err != nil {
			return err
		}
	}

	// Step 4: signatures. Segwit inputs sign over the BIP-143 digest; the
	// whole transaction is streamed again for each legacy input.
	fetcher := txscript.NewMultiPrevOutFetcher(nil)
	for i, si := range st.inputs {
		fetcher.AddPrevOut(st.tx.TxIn[i].PreviousOutPoint, &wire.TxOut{Value: si.amount, PkScript: si.script.pkScript})
	}
	hashes := txscript.NewTxSigHashes(st.tx, fetcher)
	for i := range st.inputs {
		si := &st.inputs[i]
		var digest []byte
		if si.script.witness != nil {
			again, err := st.input(i, nil)
			if err != nil {
				return err
			}
			if !bytes.Equal(again.Marshal(), si.raw) {
				return fail(tp.FailureProcessError, "Transaction has changed during signing")
			}
			digest, err = txscript.CalcWitnessSigHash(si.script.witness, hashes, txscript.SigHashAll, st.tx, i, si.amount)
			if err != nil {
				return fail(tp.FailureProcessError, "Failed to compute the signature hash")
			}
		} else {
			if err := st.restream(); err != nil {
				return err
			}
			digest, err = txscript.CalcSignatureHash(si.script.redeem, txscript.SigHashAll, st.tx, i)
			if err != nil {
				return fail(tp.FailureProcessError, "Failed to compute the signature hash")
			}
		}
		sig := ecdsa.Sign(si.script.priv, digest)
		st.pending = &tp.TxRequestSerializedType{SignatureIndex: tp.U32(uint32(i)), Signature: sig.Serialize()}
	}
	s.send(&tp.TxRequest{RequestType: tp.U32(tp.TxFinished), Serialized: st.pending})
	return nil
}

// checkInput validates one input of the transaction being signed and
// derives its script.
func (st *signState) checkInput(mk *hdkeychain.ExtendedKey, pass string, in *tp.TxInputType) (*signInput, error) {
	if len(in.PrevHash) != 32 {
		return nil, dataError("Provided prev_hash is invalid.")
	}
	if in.Amount == nil {
		return nil, dataError("Missing amount field.")
	}
	if *in.Amount > btcutil.MaxSatoshi {
		return nil, dataError("Invalid amount specified")
	}
	st0 := uint32(tp.SpendAddress)
	if in.ScriptType != nil {
		st0 = *in.ScriptType
	}
	if in.Multisig == nil {
		return nil, dataError("The countersign emulator signs multisig inputs only")
	}
	if st0 != tp.SpendMultisig && st0 != tp.SpendWitness && st0 != tp.SpendP2SHWitness {
		return nil, dataError("Unsupported script type")
	}
	if len(in.AddressN) < 2 {
		return nil, dataError("Forbidden key path")
	}
	sc, err := st.s.resolve(st.c, mk, pass, in.AddressN, st0, in.Multisig)
	if err != nil {
		return nil, err
	}
	return &signInput{msg: *in, raw: in.Marshal(), script: sc, amount: int64(*in.Amount), fp: multisigFingerprint(in.Multisig)}, nil
}

// checkOutput computes an output's script and decides whether it is change.
func (st *signState) checkOutput(mk *hdkeychain.ExtendedKey, pass string, out *tp.TxOutputType, walletPrefix []uint32) ([]byte, bool, error) {
	switch out.ScriptType {
	case tp.PayToOpReturn:
		if out.Amount != 0 {
			return nil, false, dataError("OP_RETURN output with non-zero amount")
		}
		if out.Address != "" || len(out.AddressN) > 0 || out.Multisig != nil {
			return nil, false, dataError("OP_RETURN output with address or multisig")
		}
		pk, err := txscript.NullDataScript(out.OpReturnData)
		if err != nil {
			return nil, false, dataError("OP_RETURN data too long")
		}
		return pk, false, nil
	case tp.PayToAddress, tp.PayToScriptHash:
		if len(out.AddressN) > 0 {
			return nil, false, dataError("The countersign emulator does not pay single-key change")
		}
		if out.Address == "" {
			return nil, false, dataError("Missing address")
		}
		a, err := btcutil.DecodeAddress(out.Address, st.c.params)
		if err != nil || !a.IsForNet(st.c.params) {
			return nil, false, dataError("Invalid address")
		}
		pk, err := txscript.PayToAddrScript(a)
		if err != nil {
			return nil, false, dataError("Invalid address")
		}
		return pk, false, nil
	case tp.PayToMultisig, tp.PayToWitness, tp.PayToP2SHWitness:
	default:
		return nil, false, dataError("Unknown output script type")
	}
	if out.Multisig == nil || len(out.AddressN) < 2 || out.Address != "" {
		return nil, false, dataError("Multisig change needs address_n and multisig")
	}
	inType := map[uint32]uint32{tp.PayToMultisig: tp.SpendMultisig, tp.PayToWitness: tp.SpendWitness, tp.PayToP2SHWitness: tp.SpendP2SHWitness}[out.ScriptType]
	sc, err := st.s.resolve(st.c, mk, pass, out.AddressN, inType, out.Multisig)
	if err != nil {
		return nil, false, err
	}
	n := len(out.AddressN)
	isChange := walletPrefix != nil && out.Amount > 0 &&
		multisigFingerprint(out.Multisig) == st.inputs[0].fp &&
		equalPath(out.AddressN[:n-2], walletPrefix) &&
		out.AddressN[n-2] <= 1 && out.AddressN[n-1] <= 1_000_000
	for _, in := range st.inputs {
		s0 := uint32(tp.SpendAddress)
		if in.msg.ScriptType != nil {
			s0 = *in.msg.ScriptType
		}
		if s0 != inType {
			isChange = false
		}
	}
	return sc.pkScript, isChange, nil
}

// checkPrevTx streams one previous transaction and checks it against the
// inputs that spend it.
func (st *signState) checkPrevTx(h chainhash.Hash) error {
	st.s.e.mu.Lock()
	st.s.e.stats.PrevTxStreamed++
	st.s.e.mu.Unlock()
	txHash := reverse(h[:])
	meta, err := st.request(tp.TxMeta, 0, txHash)
	if err != nil {
		return err
	}
	if meta.Version == nil || meta.InputsCnt == nil || meta.OutputsCnt == nil {
		return dataError("Missing previous transaction metadata")
	}
	if meta.ExtraDataLen != nil && *meta.ExtraDataLen != 0 {
		return dataError("Extra data not allowed")
	}
	nIn, nOut := *meta.InputsCnt, *meta.OutputsCnt
	if nIn > maxTxItems || nOut > maxTxItems || nOut == 0 {
		return dataError("Invalid previous transaction")
	}
	prev := wire.NewMsgTx(int32(*meta.Version))
	if meta.LockTime != nil {
		prev.LockTime = *meta.LockTime
	}
	for j := 0; j < int(nIn); j++ {
		in, err := st.input(j, txHash)
		if err != nil {
			return err
		}
		if len(in.PrevHash) != 32 {
			return dataError("Provided prev_hash is invalid.")
		}
		var ph chainhash.Hash
		copy(ph[:], reverse(in.PrevHash))
		seq := uint32(0xffffffff)
		if in.Sequence != nil {
			seq = *in.Sequence
		}
		prev.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: ph, Index: in.PrevIndex}, SignatureScript: in.ScriptSig, Sequence: seq})
	}
	for k := 0; k < int(nOut); k++ {
		tx, err := st.request(tp.TxOutput, uint32(k), txHash)
		if err != nil {
			return err
		}
		if len(tx.BinOutputs) != 1 {
			return dataError("Expected exactly one previous output")
		}
		o := tx.BinOutputs[0]
		if o.Amount > btcutil.MaxSatoshi {
			return dataError("Invalid amount specified")
		}
		prev.AddTxOut(&wire.TxOut{Value: int64(o.Amount), PkScript: o.ScriptPubkey})
	}
	if prev.TxHash() != h {
		return dataError("Encountered invalid prev_hash")
	}
	for i := range st.inputs {
		op := st.tx.TxIn[i].PreviousOutPoint
		if op.Hash != h {
			continue
		}
		if int(op.Index) >= len(prev.TxOut) {
			return dataError("Not enough outputs in previous transaction.")
		}
		spent := prev.TxOut[op.Index]
		if spent.Value != st.inputs[i].amount {
			return dataError("Invalid amount specified")
		}
		if !bytes.Equal(spent.PkScript, st.inputs[i].script.pkScript) {
			return dataError("Input does not match scriptPubKey")
		}
	}
	return nil
}

// restream asks for every input and output again, as the firmware does
// before a legacy signature, and checks nothing changed.
func (st *signState) restream() error {
	for j := range st.inputs {
		in, err := st.input(j, nil)
		if err != nil {
			return err
		}
		if !bytes.Equal(in.Marshal(), st.inputs[j].raw) {
			return fail(tp.FailureProcessError, "Transaction has changed during signing")
		}
	}
	for k := range st.outRaw {
		out, err := st.output(k)
		if err != nil {
			return err
		}
		if !bytes.Equal(out.Marshal(), st.outRaw[k]) {
			return fail(tp.FailureProcessError, "Transaction has changed during signing")
		}
	}
	return nil
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[len(b)-1-i] = b[i]
	}
	return out
}

func formatAmount(sat int64, c *coin) string {
	unit := "BTC"
	if c.name != "Bitcoin" {
		unit = "TEST"
	}
	sign := ""
	if sat < 0 {
		sign, sat = "-", -sat
	}
	return fmt.Sprintf("%s%d.%08d %s", sign, sat/1e8, sat%1e8, unit)
}
