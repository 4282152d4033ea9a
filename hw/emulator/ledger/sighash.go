package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"

	"github.com/btcsuite/btcd/wire"
)

// The emulator computes its signature hashes itself, from the BIPs, rather
// than through txscript or countersign's psbt package: the driver's PSBTs
// are built and verified with those, and an emulator that shared their
// sighash code could not catch a bug in it. The digests are checked against
// BIP-143's examples and Bitcoin Core's sighash vectors (testdata/).

// Sighash types (Bitcoin Core src/script/interpreter.h).
const (
	sighashAll          = 0x01
	sighashNone         = 0x02
	sighashSingle       = 0x03
	sighashAnyoneCanPay = 0x80
)

// tx is a transaction as the signature hashes see it.
type tx struct {
	version  uint32
	ins      []txIn
	outs     []txOut
	locktime uint32
}

type txIn struct {
	prevHash  [32]byte // internal byte order, as serialized
	prevIndex uint32
	scriptSig []byte
	sequence  uint32
}

type txOut struct {
	value  int64
	script []byte
}

// txFromWire copies a parsed transaction; its witnesses are dropped, as no
// digest here covers them.
func txFromWire(m *wire.MsgTx) *tx {
	t := &tx{version: uint32(m.Version), locktime: m.LockTime}
	for _, in := range m.TxIn {
		t.ins = append(t.ins, txIn{prevHash: in.PreviousOutPoint.Hash, prevIndex: in.PreviousOutPoint.Index, scriptSig: in.SignatureScript, sequence: in.Sequence})
	}
	for _, out := range m.TxOut {
		t.outs = append(t.outs, txOut{value: out.Value, script: out.PkScript})
	}
	return t
}

// appendCompactSize writes n as Bitcoin's CompactSize.
func appendCompactSize(b []byte, n uint64) []byte {
	switch {
	case n < 0xfd:
		return append(b, byte(n))
	case n <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(b, 0xfd), uint16(n))
	case n <= 0xffffffff:
		return binary.LittleEndian.AppendUint32(append(b, 0xfe), uint32(n))
	}
	return binary.LittleEndian.AppendUint64(append(b, 0xff), n)
}

func appendBytes(b, data []byte) []byte {
	return append(appendCompactSize(b, uint64(len(data))), data...)
}

func appendOutPoint(b []byte, in *txIn) []byte {
	return binary.LittleEndian.AppendUint32(append(b, in.prevHash[:]...), in.prevIndex)
}

func appendTxOut(b []byte, o *txOut) []byte {
	return appendBytes(binary.LittleEndian.AppendUint64(b, uint64(o.value)), o.script)
}

// serialize is the transaction without witnesses: version, inputs,
// outputs, lock time (the form txids and legacy signature hashes use).
func (t *tx) serialize() []byte {
	b := binary.LittleEndian.AppendUint32(nil, t.version)
	b = appendCompactSize(b, uint64(len(t.ins)))
	for i := range t.ins {
		b = appendOutPoint(b, &t.ins[i])
		b = appendBytes(b, t.ins[i].scriptSig)
		b = binary.LittleEndian.AppendUint32(b, t.ins[i].sequence)
	}
	b = appendCompactSize(b, uint64(len(t.outs)))
	for i := range t.outs {
		b = appendTxOut(b, &t.outs[i])
	}
	return binary.LittleEndian.AppendUint32(b, t.locktime)
}

func doubleSHA256(b []byte) [32]byte {
	h := sha256.Sum256(b)
	return sha256.Sum256(h[:])
}

// txid is the double SHA-256 of the serialization without witnesses, in
// internal byte order (as outpoints carry it).
func (t *tx) txid() [32]byte { return doubleSHA256(t.serialize()) }

const (
	opPushData1     = 0x4c
	opPushData2     = 0x4d
	opPushData4     = 0x4e
	opCodeSeparator = 0xab
)

var errScript = errors.New("script ends inside a push")

// withoutCodeSeparators is the legacy scriptCode: the script with every
// OP_CODESEPARATOR removed (Bitcoin Core's
// CTransactionSignatureSerializer::SerializeScriptCode). A 0xab byte
// inside pushed data is data, not an opcode, so the script is walked
// opcode by opcode.
func withoutCodeSeparators(script []byte) ([]byte, error) {
	out := make([]byte, 0, len(script))
	for pc := 0; pc < len(script); {
		op := script[pc]
		n, size := 0, 1
		switch {
		case op < opPushData1:
			n = int(op)
		case op == opPushData1 && pc+2 <= len(script):
			n, size = int(script[pc+1]), 2
		case op == opPushData2 && pc+3 <= len(script):
			n, size = int(binary.LittleEndian.Uint16(script[pc+1:])), 3
		case op == opPushData4 && pc+5 <= len(script):
			v := binary.LittleEndian.Uint32(script[pc+1:])
			if uint64(v) > uint64(len(script)) {
				return nil, errScript
			}
			n, size = int(v), 5
		case op >= opPushData1 && op <= opPushData4:
			return nil, errScript
		}
		end := pc + size + n
		if end > len(script) {
			return nil, errScript
		}
		if op != opCodeSeparator {
			out = append(out, script[pc:end]...)
		}
		pc = end
	}
	return out, nil
}

// legacySighash is the original (pre-segwit) signature hash of input idx,
// for the P2SH inputs of sh() wallets, where scriptCode is the redeem
// script. The algorithm is Bitcoin Core's SignatureHash for
// SigVersion::BASE (src/script/interpreter.cpp): a copy of the
// transaction with every scriptSig emptied but idx's, which carries the
// scriptCode; NONE drops the outputs, SINGLE keeps those up to idx (the
// earlier ones blanked to value -1 and an empty script), both zero the
// other inputs' sequences; ANYONECANPAY keeps only input idx. The copy is
// serialized without witnesses, followed by the 4-byte hash type, and
// hashed twice with SHA-256. SINGLE without a matching output signs the
// number 1, a quirk consensus keeps.
func legacySighash(t *tx, idx int, scriptCode []byte, hashType uint32) ([32]byte, error) {
	if idx < 0 || idx >= len(t.ins) {
		return [32]byte{}, errors.New("input index out of range")
	}
	base := hashType & 0x1f
	if base == sighashSingle && idx >= len(t.outs) {
		return [32]byte{1}, nil
	}
	code, err := withoutCodeSeparators(scriptCode)
	if err != nil {
		return [32]byte{}, err
	}
	c := &tx{version: t.version, locktime: t.locktime}
	for i, in := range t.ins {
		in.scriptSig = nil
		if i == idx {
			in.scriptSig = code
		} else if base == sighashNone || base == sighashSingle {
			in.sequence = 0
		}
		c.ins = append(c.ins, in)
	}
	switch base {
	case sighashNone:
	case sighashSingle:
		for i := 0; i < idx; i++ {
			c.outs = append(c.outs, txOut{value: -1})
		}
		c.outs = append(c.outs, t.outs[idx])
	default:
		c.outs = t.outs
	}
	if hashType&sighashAnyoneCanPay != 0 {
		c.ins = c.ins[idx : idx+1]
	}
	return doubleSHA256(binary.LittleEndian.AppendUint32(c.serialize(), hashType)), nil
}

// bip143Hashes are the three digests BIP-143 shares between the inputs of
// one transaction (its "hashPrevouts", "hashSequence", "hashOutputs" for
// SIGHASH_ALL), computed once so that signing n inputs costs O(n).
type bip143Hashes struct {
	prevouts, sequences, outputs [32]byte
}

func newBIP143Hashes(t *tx) *bip143Hashes {
	var prev, seq, outs []byte
	for i := range t.ins {
		prev = appendOutPoint(prev, &t.ins[i])
		seq = binary.LittleEndian.AppendUint32(seq, t.ins[i].sequence)
	}
	for i := range t.outs {
		outs = appendTxOut(outs, &t.outs[i])
	}
	return &bip143Hashes{prevouts: doubleSHA256(prev), sequences: doubleSHA256(seq), outputs: doubleSHA256(outs)}
}

// bip143Preimage is the message BIP-143 ("Transaction Signature
// Verification for Version 0 Witness Program", Specification) hashes for
// input idx spending amount under scriptCode (the witness script for
// P2WSH, without its length prefix):
//
//	nVersion | hashPrevouts | hashSequence | outpoint | scriptCode |
//	amount | nSequence | hashOutputs | nLockTime | nHashType
//
// ANYONECANPAY zeroes hashPrevouts and hashSequence; NONE and SINGLE zero
// hashSequence; NONE zeroes hashOutputs, and SINGLE hashes only output idx
// (zero when there is none). Unlike the legacy hash, the scriptCode is
// used as given: BIP-143 removes no OP_CODESEPARATOR.
func bip143Preimage(t *tx, h *bip143Hashes, idx int, scriptCode []byte, amount int64, hashType uint32) ([]byte, error) {
	if idx < 0 || idx >= len(t.ins) {
		return nil, errors.New("input index out of range")
	}
	base := hashType & 0x1f
	acp := hashType&sighashAnyoneCanPay != 0
	var prevouts, sequences, outputs [32]byte
	if !acp {
		prevouts = h.prevouts
	}
	if !acp && base != sighashSingle && base != sighashNone {
		sequences = h.sequences
	}
	switch {
	case base != sighashSingle && base != sighashNone:
		outputs = h.outputs
	case base == sighashSingle && idx < len(t.outs):
		outputs = doubleSHA256(appendTxOut(nil, &t.outs[idx]))
	}
	in := &t.ins[idx]
	b := make([]byte, 0, 4+32+32+36+9+len(scriptCode)+8+4+32+4+4)
	b = binary.LittleEndian.AppendUint32(b, t.version)
	b = append(b, prevouts[:]...)
	b = append(b, sequences[:]...)
	b = appendOutPoint(b, in)
	b = appendBytes(b, scriptCode)
	b = binary.LittleEndian.AppendUint64(b, uint64(amount))
	b = binary.LittleEndian.AppendUint32(b, in.sequence)
	b = append(b, outputs[:]...)
	b = binary.LittleEndian.AppendUint32(b, t.locktime)
	return binary.LittleEndian.AppendUint32(b, hashType), nil
}

// segwitV0Sighash is the BIP-143 digest: the preimage hashed twice.
func segwitV0Sighash(t *tx, h *bip143Hashes, idx int, scriptCode []byte, amount int64, hashType uint32) ([32]byte, error) {
	pre, err := bip143Preimage(t, h, idx, scriptCode, amount, hashType)
	if err != nil {
		return [32]byte{}, err
	}
	return doubleSHA256(pre), nil
}
