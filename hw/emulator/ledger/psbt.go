package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/psbt"
)

// PSBT version 2 key types (BIP-370) the emulator reads.
const (
	globalUnsignedTx       = 0x00
	globalTxVersion        = 0x02
	globalFallbackLocktime = 0x03
	globalInputCount       = 0x04
	globalOutputCount      = 0x05
	globalTxModifiable     = 0x06
	globalVersion          = 0xFB

	inPreviousTxid         = 0x0E
	inOutputIndex          = 0x0F
	inSequence             = 0x10
	inRequiredTimeLocktime = 0x11
	inRequiredHeightLock   = 0x12

	outAmount = 0x03
	outScript = 0x04
)

// maxInputs is the app's limit on inputs (since 2.0.4); outputs get the
// same bound here.
const (
	maxInputs  = 512
	maxOutputs = 512
)

// signRequest is SIGN_PSBT's data.
type signRequest struct {
	global              mapCommitment
	nInputs, nOutputs   uint64
	inputsRoot, outputs [32]byte
	walletID            [32]byte
	hmac                []byte
}

func parseSignRequest(d []byte) (signRequest, error) {
	r := bytes.NewReader(d)
	var q signRequest
	bad := fail(swWrongDataLength, "malformed SIGN_PSBT")
	var err error
	if q.global.size, err = wire.ReadVarInt(r, 0); err != nil {
		return q, bad
	}
	if _, err := io.ReadFull(r, q.global.keysRoot[:]); err != nil {
		return q, bad
	}
	if _, err := io.ReadFull(r, q.global.valsRoot[:]); err != nil {
		return q, bad
	}
	if q.nInputs, err = wire.ReadVarInt(r, 0); err != nil {
		return q, bad
	}
	if _, err := io.ReadFull(r, q.inputsRoot[:]); err != nil {
		return q, bad
	}
	if q.nOutputs, err = wire.ReadVarInt(r, 0); err != nil {
		return q, bad
	}
	if _, err := io.ReadFull(r, q.outputs[:]); err != nil {
		return q, bad
	}
	if _, err := io.ReadFull(r, q.walletID[:]); err != nil {
		return q, bad
	}
	q.hmac = make([]byte, 32)
	if _, err := io.ReadFull(r, q.hmac); err != nil || r.Len() != 0 {
		return q, bad
	}
	return q, nil
}

func (s *session) signPSBT() ([]byte, error) {
	q, err := parseSignRequest(s.data)
	if err != nil {
		return nil, err
	}
	if q.nInputs == 0 || q.nInputs > maxInputs || q.nOutputs == 0 || q.nOutputs > maxOutputs {
		return nil, fail(swIncorrectData, "%d inputs, %d outputs", q.nInputs, q.nOutputs)
	}
	code := uint16(ecSignMissingHMAC)
	if err := s.checkHMAC(q.walletID, q.hmac, &code); err != nil {
		return nil, err
	}
	w, err := s.readWallet(q.walletID)
	if err != nil {
		return nil, err
	}
	if !w.hasInternalKey() {
		return nil, failCode(swIncorrectData, ecSignNoInternalKey, "no key of this device")
	}
	p, err := s.readPSBT(q)
	if err != nil {
		return nil, err
	}
	internal, text, err := s.e.review(w, p)
	if err != nil {
		return nil, err
	}
	if !s.approve(Request{Kind: "sign", Text: text}) {
		return nil, fail(swDeny, "refused")
	}
	sigs, err := s.e.sign(p, internal)
	if err != nil {
		return nil, err
	}
	for _, y := range sigs {
		if _, err := s.ask(append([]byte{ccYield}, y...)); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// readPSBT reads every map through the client commands and rebuilds the
// PSBT as version 0, which btcd parses and checks.
func (s *session) readPSBT(q signRequest) (*bpsbt.Packet, error) {
	global, err := s.readMap(q.global)
	if err != nil {
		return nil, err
	}
	g := mapOf(global)
	if _, ok := g[string([]byte{globalUnsignedTx})]; ok {
		return nil, fail(swIncorrectData, "a version 2 PSBT with an unsigned transaction")
	}
	if v, ok := g[string([]byte{globalVersion})]; !ok || !bytes.Equal(v, []byte{2, 0, 0, 0}) {
		return nil, fail(swIncorrectData, "PSBT_GLOBAL_VERSION is not 2")
	}
	tx := wire.NewMsgTx(0)
	ver, ok := u32(g, globalTxVersion)
	if !ok {
		return nil, fail(swIncorrectData, "no PSBT_GLOBAL_TX_VERSION")
	}
	tx.Version = int32(ver)
	if lt, ok := u32(g, globalFallbackLocktime); ok {
		tx.LockTime = lt
	} else if _, present := g[string([]byte{globalFallbackLocktime})]; present {
		return nil, fail(swIncorrectData, "malformed PSBT_GLOBAL_FALLBACK_LOCKTIME")
	}
	if n, ok := count(g, globalInputCount); !ok || n != q.nInputs {
		return nil, fail(swIncorrectData, "PSBT_GLOBAL_INPUT_COUNT disagrees with the command")
	}
	if n, ok := count(g, globalOutputCount); !ok || n != q.nOutputs {
		return nil, fail(swIncorrectData, "PSBT_GLOBAL_OUTPUT_COUNT disagrees with the command")
	}
	var ins, outs [][]kv
	for i := uint64(0); i < q.nInputs; i++ {
		m, err := s.readListedMap(q.inputsRoot, q.nInputs, i)
		if err != nil {
			return nil, err
		}
		im := mapOf(m)
		txid, ok := im[string([]byte{inPreviousTxid})]
		idx, ok2 := u32(im, inOutputIndex)
		if !ok || len(txid) != 32 || !ok2 {
			return nil, fail(swIncorrectData, "input %d has no outpoint", i)
		}
		seq := uint32(wire.MaxTxInSequenceNum)
		if v, present := im[string([]byte{inSequence})]; present {
			if len(v) != 4 {
				return nil, fail(swIncorrectData, "input %d: malformed sequence", i)
			}
			seq = binary.LittleEndian.Uint32(v)
		}
		if _, t := im[string([]byte{inRequiredTimeLocktime})]; t {
			return nil, fail(swNotSupported, "per-input time locks are not supported by the emulator")
		}
		if _, t := im[string([]byte{inRequiredHeightLock})]; t {
			return nil, fail(swNotSupported, "per-input time locks are not supported by the emulator")
		}
		var h chainhash.Hash
		copy(h[:], txid)
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: h, Index: idx}, Sequence: seq})
		ins = append(ins, without(m, inPreviousTxid, inOutputIndex, inSequence))
	}
	for i := uint64(0); i < q.nOutputs; i++ {
		m, err := s.readListedMap(q.outputs, q.nOutputs, i)
		if err != nil {
			return nil, err
		}
		om := mapOf(m)
		amt, ok := om[string([]byte{outAmount})]
		script, ok2 := om[string([]byte{outScript})]
		if !ok || len(amt) != 8 || !ok2 {
			return nil, fail(swIncorrectData, "output %d has no amount or script", i)
		}
		tx.AddTxOut(wire.NewTxOut(int64(binary.LittleEndian.Uint64(amt)), script))
		outs = append(outs, without(m, outAmount, outScript))
	}
	var raw bytes.Buffer
	raw.WriteString("psbt\xff")
	var txb bytes.Buffer
	if err := tx.SerializeNoWitness(&txb); err != nil {
		return nil, fail(swBadState, "serialize: %v", err)
	}
	writeKV(&raw, kv{[]byte{globalUnsignedTx}, txb.Bytes()})
	for _, e := range without(global, globalTxVersion, globalFallbackLocktime, globalInputCount, globalOutputCount, globalTxModifiable, globalVersion) {
		writeKV(&raw, e)
	}
	raw.WriteByte(0)
	for _, m := range append(ins, outs...) {
		for _, e := range m {
			writeKV(&raw, e)
		}
		raw.WriteByte(0)
	}
	p, err := bpsbt.NewFromRawBytes(&raw, false)
	if err != nil {
		return nil, fail(swIncorrectData, "the PSBT does not parse: %v", err)
	}
	return p, nil
}

// readListedMap reads map i of a list of map commitments.
func (s *session) readListedMap(root [32]byte, n, i uint64) ([]kv, error) {
	raw, err := s.getLeafElement(root, n, i, 73)
	if err != nil {
		return nil, err
	}
	c, err := parseCommitment(raw)
	if err != nil {
		return nil, err
	}
	return s.readMap(c)
}

func mapOf(m []kv) map[string][]byte {
	out := make(map[string][]byte, len(m))
	for _, e := range m {
		out[string(e.key)] = e.value
	}
	return out
}

func u32(m map[string][]byte, key byte) (uint32, bool) {
	v, ok := m[string([]byte{key})]
	if !ok || len(v) != 4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(v), true
}

func count(m map[string][]byte, key byte) (uint64, bool) {
	v, ok := m[string([]byte{key})]
	if !ok {
		return 0, false
	}
	r := bytes.NewReader(v)
	n, err := wire.ReadVarInt(r, 0)
	return n, err == nil && r.Len() == 0
}

// without drops the one-byte keys given.
func without(m []kv, keys ...byte) []kv {
	var out []kv
	for _, e := range m {
		drop := false
		for _, k := range keys {
			if len(e.key) == 1 && e.key[0] == k {
				drop = true
			}
		}
		if !drop {
			out = append(out, e)
		}
	}
	return out
}

func writeKV(b *bytes.Buffer, e kv) {
	_ = wire.WriteVarBytes(b, 0, e.key)
	_ = wire.WriteVarBytes(b, 0, e.value)
}

// review decides which inputs are the wallet's, checks that every output
// claiming to be change is, and writes what the screen would show.
func (e *Emulator) review(w *wallet, p *bpsbt.Packet) ([]bool, string, error) {
	tx := p.UnsignedTx
	internal := make([]bool, len(tx.TxIn))
	var totalIn int64
	nInternal := 0
	for i, txIn := range tx.TxIn {
		in := &p.Inputs[i]
		prev, err := prevOut(in, txIn.PreviousOutPoint, i)
		if err != nil {
			return nil, "", err
		}
		totalIn += prev.Value
		for _, d := range in.Bip32Derivation {
			var fpr [4]byte
			binary.LittleEndian.PutUint32(fpr[:], d.MasterKeyFingerprint)
			change, index, ok := w.position(fpr, d.Bip32Path)
			if !ok {
				continue
			}
			der, err := w.derive(e, change, index)
			if err != nil {
				return nil, "", err
			}
			if !bytes.Equal(der.scriptPubKey, prev.PkScript) {
				continue
			}
			if in.WitnessScript != nil && !bytes.Equal(in.WitnessScript, der.witnessScript) {
				return nil, "", failCode(swIncorrectData, ecSignBadWitnessScript, "input %d: witness script", i)
			}
			if in.RedeemScript != nil && !bytes.Equal(in.RedeemScript, der.redeemScript) {
				return nil, "", failCode(swIncorrectData, ecSignBadRedeemScript, "input %d: redeem script", i)
			}
			switch {
			case w.kind == kindSh && (in.NonWitnessUtxo == nil || in.WitnessUtxo != nil):
				return nil, "", failCode(swIncorrectData, ecSignLegacyUtxo, "input %d", i)
			case w.kind != kindSh && in.WitnessUtxo == nil:
				return nil, "", failCode(swIncorrectData, ecSignSegwitUtxo, "input %d", i)
			}
			if in.SighashType != 0 && in.SighashType != txscript.SigHashAll {
				return nil, "", fail(swNotSupported, "input %d: sighash type %d (the emulator signs SIGHASH_ALL only)", i, in.SighashType)
			}
			internal[i] = true
		}
		if internal[i] {
			nInternal++
		}
	}
	if nInternal == 0 {
		return nil, "", fail(swIncorrectData, "no input belongs to wallet %q", w.name)
	}
	var text strings.Builder
	fmt.Fprintf(&text, "Sign transaction from wallet %q (%d of %d inputs)\n", w.name, nInternal, len(tx.TxIn))
	var totalOut int64
	nChange := 0
	for j, out := range tx.TxOut {
		totalOut += out.Value
		claims, change := false, false
		for _, d := range p.Outputs[j].Bip32Derivation {
			var fpr [4]byte
			binary.LittleEndian.PutUint32(fpr[:], d.MasterKeyFingerprint)
			if fpr != e.xfp {
				continue
			}
			claims = true
			c, idx, ok := w.position(fpr, d.Bip32Path)
			if !ok {
				continue
			}
			der, err := w.derive(e, c, idx)
			if err != nil {
				return nil, "", err
			}
			if bytes.Equal(der.scriptPubKey, out.PkScript) {
				change = true
			}
		}
		if claims && !change {
			return nil, "", fail(swIncorrectData, "output %d claims to be change of this device but does not derive from wallet %q", j, w.name)
		}
		if change {
			nChange++
			continue
		}
		fmt.Fprintf(&text, "Send %s to %s\n", btcutil.Amount(out.Value), scriptText(out.PkScript, e))
	}
	if totalOut > totalIn {
		return nil, "", fail(swIncorrectData, "the outputs spend more than the inputs")
	}
	fmt.Fprintf(&text, "Change outputs: %d\nFee: %s\n", nChange, btcutil.Amount(totalIn-totalOut))
	return internal, text.String(), nil
}

// prevOut is the output an input spends, from its UTXO fields, checked the
// way the app does.
func prevOut(in *bpsbt.PInput, op wire.OutPoint, i int) (*wire.TxOut, error) {
	var fromTx *wire.TxOut
	if in.NonWitnessUtxo != nil {
		if in.NonWitnessUtxo.TxHash() != op.Hash || int(op.Index) >= len(in.NonWitnessUtxo.TxOut) {
			return nil, failCode(swIncorrectData, ecSignBadNonWitnessUtxo, "input %d", i)
		}
		fromTx = in.NonWitnessUtxo.TxOut[op.Index]
	}
	switch {
	case fromTx != nil && in.WitnessUtxo != nil:
		if fromTx.Value != in.WitnessUtxo.Value || !bytes.Equal(fromTx.PkScript, in.WitnessUtxo.PkScript) {
			return nil, failCode(swIncorrectData, ecSignUtxoMismatch, "input %d", i)
		}
		return fromTx, nil
	case fromTx != nil:
		return fromTx, nil
	case in.WitnessUtxo != nil:
		return in.WitnessUtxo, nil
	}
	return nil, failCode(swIncorrectData, ecSignMissingUtxo, "input %d", i)
}

func scriptText(script []byte, e *Emulator) string {
	_, addrs, _, err := txscript.ExtractPkScriptAddrs(script, e.params)
	if err == nil && len(addrs) == 1 {
		return addrs[0].EncodeAddress()
	}
	return fmt.Sprintf("script %x", script)
}

// sign signs the internal inputs with countersign's signer role and
// returns the YIELD payloads: input index (varint) | 33 | pubkey |
// signature with its sighash byte.
func (e *Emulator) sign(p *bpsbt.Packet, internal []bool) ([][]byte, error) {
	own := make([]map[string]bool, len(p.Inputs))
	for i := range p.Inputs {
		in := &p.Inputs[i]
		own[i] = map[string]bool{}
		for _, ps := range in.PartialSigs {
			own[i][string(ps.PubKey)] = true
		}
		if !internal[i] {
			// Keep the signer away from inputs that are not the wallet's.
			var keep []*bpsbt.Bip32Derivation
			for _, d := range in.Bip32Derivation {
				var fpr [4]byte
				binary.LittleEndian.PutUint32(fpr[:], d.MasterKeyFingerprint)
				if fpr != e.xfp {
					keep = append(keep, d)
				}
			}
			in.Bip32Derivation = keep
		}
	}
	if _, err := psbt.Sign(p, e.master); err != nil {
		if errors.Is(err, psbt.ErrRefused) || errors.Is(err, psbt.ErrMalformed) {
			return nil, fail(swIncorrectData, "%v", err)
		}
		return nil, fail(swBadState, "%v", err)
	}
	var out [][]byte
	for i := range p.Inputs {
		sigs := append([]*bpsbt.PartialSig(nil), p.Inputs[i].PartialSigs...)
		sort.Slice(sigs, func(a, b int) bool { return bytes.Compare(sigs[a].PubKey, sigs[b].PubKey) < 0 })
		for _, ps := range sigs {
			if own[i][string(ps.PubKey)] {
				continue
			}
			y := varint(uint64(i))
			y = append(y, byte(len(ps.PubKey)))
			y = append(y, ps.PubKey...)
			out = append(out, append(y, ps.Signature...))
		}
	}
	return out, nil
}
