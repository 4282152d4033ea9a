package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
)

// BIP-341's signature message, computed here from the BIP rather than
// through txscript, for the reason sighash.go gives. It is checked against
// BIP-341's wallet test vectors (testdata/bip341_wallet_vectors.json).

// sighashDefault is BIP-341's SIGHASH_DEFAULT: ALL, with a 64-byte
// signature.
const sighashDefault = 0x00

// bip341Hashes are the single-SHA256 digests every input's message shares.
type bip341Hashes struct {
	prevouts, amounts, scriptPubKeys, sequences, outputs [32]byte
	prevs                                                []txOut
}

// newBIP341Hashes computes them from the transaction and the outputs its
// inputs spend.
func newBIP341Hashes(t *tx, prevs []txOut) *bip341Hashes {
	h := &bip341Hashes{prevs: prevs}
	var po, am, sp, sq, ou []byte
	for i := range t.ins {
		po = appendOutPoint(po, &t.ins[i])
		sq = binary.LittleEndian.AppendUint32(sq, t.ins[i].sequence)
	}
	for _, p := range prevs {
		am = binary.LittleEndian.AppendUint64(am, uint64(p.value))
		sp = appendBytes(sp, p.script)
	}
	for i := range t.outs {
		ou = appendTxOut(ou, &t.outs[i])
	}
	h.prevouts, h.amounts, h.scriptPubKeys = sha256.Sum256(po), sha256.Sum256(am), sha256.Sum256(sp)
	h.sequences, h.outputs = sha256.Sum256(sq), sha256.Sum256(ou)
	return h
}

// taprootSigMsg is BIP-341's SigMsg(hash_type, ext_flag) for input idx,
// with BIP-342's extension (tapleaf hash, key version 0, no
// OP_CODESEPARATOR) when leaf is not nil. No annex.
func taprootSigMsg(t *tx, h *bip341Hashes, idx int, hashType uint32, leaf *[32]byte) ([]byte, error) {
	if idx < 0 || idx >= len(t.ins) || len(h.prevs) != len(t.ins) {
		return nil, errors.New("input index out of range")
	}
	switch hashType &^ sighashAnyoneCanPay {
	case sighashDefault, sighashAll, sighashNone, sighashSingle:
	default:
		return nil, errors.New("undefined hash type")
	}
	if hashType == sighashDefault|sighashAnyoneCanPay {
		return nil, errors.New("undefined hash type")
	}
	out := hashType & 3
	acp := hashType&sighashAnyoneCanPay != 0
	if out == sighashSingle && idx >= len(t.outs) {
		return nil, errors.New("SIGHASH_SINGLE without a matching output")
	}
	m := []byte{0x00, byte(hashType)} // epoch 0, hash type
	m = binary.LittleEndian.AppendUint32(m, t.version)
	m = binary.LittleEndian.AppendUint32(m, t.locktime)
	if !acp {
		m = append(m, h.prevouts[:]...)
		m = append(m, h.amounts[:]...)
		m = append(m, h.scriptPubKeys[:]...)
		m = append(m, h.sequences[:]...)
	}
	if out != sighashNone && out != sighashSingle {
		m = append(m, h.outputs[:]...)
	}
	spendType := byte(0)
	if leaf != nil {
		spendType = 2 // ext_flag 1, no annex
	}
	m = append(m, spendType)
	if acp {
		m = appendOutPoint(m, &t.ins[idx])
		m = binary.LittleEndian.AppendUint64(m, uint64(h.prevs[idx].value))
		m = appendBytes(m, h.prevs[idx].script)
		m = binary.LittleEndian.AppendUint32(m, t.ins[idx].sequence)
	} else {
		m = binary.LittleEndian.AppendUint32(m, uint32(idx))
	}
	if out == sighashSingle {
		o := sha256.Sum256(appendTxOut(nil, &t.outs[idx]))
		m = append(m, o[:]...)
	}
	if leaf != nil {
		m = append(m, leaf[:]...)
		m = append(m, 0x00)                   // key_version
		m = append(m, 0xff, 0xff, 0xff, 0xff) // codesep_pos: none
	}
	return m, nil
}

// taprootSighash is the digest a Schnorr signature signs:
// TapSighash(0x00 || SigMsg) — the epoch byte is the message's first.
func taprootSighash(t *tx, h *bip341Hashes, idx int, hashType uint32, leaf *[32]byte) ([32]byte, error) {
	m, err := taprootSigMsg(t, h, idx, hashType, leaf)
	if err != nil {
		return [32]byte{}, err
	}
	return taggedHash("TapSighash", m), nil
}
