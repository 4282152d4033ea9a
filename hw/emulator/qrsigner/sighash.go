package qrsigner

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"

	"github.com/btcsuite/btcd/wire"
)

// Signature hashes, computed here from the specs rather than with
// txscript or countersign's psbt package, whose PSBTs and verification
// this emulator exists to check: the legacy digest as Bitcoin Core's
// SignatureHash computes it (src/script/interpreter.cpp, SigVersion::BASE)
// and BIP-143's for segwit v0. Checked against BIP-143's examples and
// Bitcoin Core's sighash.json (testdata/).

// Sighash types.
const (
	sighashAll          = 0x01
	sighashNone         = 0x02
	sighashSingle       = 0x03
	sighashAnyoneCanPay = 0x80
)

func dsha(b []byte) [32]byte {
	h := sha256.Sum256(b)
	return sha256.Sum256(h[:])
}

func writeOutpoint(b *bytes.Buffer, op wire.OutPoint) {
	b.Write(op.Hash[:])
	binary.Write(b, binary.LittleEndian, op.Index)
}

func writeOutput(b *bytes.Buffer, o *wire.TxOut) {
	binary.Write(b, binary.LittleEndian, o.Value)
	wire.WriteVarBytes(b, 0, o.PkScript)
}

// legacySighash is the pre-segwit digest of input i of tx for scriptCode,
// with hashType as a full 32-bit value (its low 5 bits and 0x80 choose
// what is signed; all of it is committed).
func legacySighash(tx *wire.MsgTx, i int, scriptCode []byte, hashType uint32) [32]byte {
	base := hashType & 0x1f
	anyone := hashType&sighashAnyoneCanPay != 0
	if base == sighashSingle && i >= len(tx.TxOut) {
		// Core's "SIGHASH_SINGLE bug": the digest is the number one.
		var one [32]byte
		one[0] = 1
		return one
	}
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, tx.Version)
	ins := tx.TxIn
	if anyone {
		ins = tx.TxIn[i : i+1]
	}
	wire.WriteVarInt(&b, 0, uint64(len(ins)))
	for j, in := range ins {
		if anyone {
			j = i
		}
		writeOutpoint(&b, in.PreviousOutPoint)
		if j == i {
			writeScriptCode(&b, scriptCode)
		} else {
			b.WriteByte(0)
		}
		seq := in.Sequence
		if j != i && (base == sighashNone || base == sighashSingle) {
			seq = 0
		}
		binary.Write(&b, binary.LittleEndian, seq)
	}
	switch base {
	case sighashNone:
		b.WriteByte(0)
	case sighashSingle:
		wire.WriteVarInt(&b, 0, uint64(i+1))
		for j := 0; j < i; j++ {
			writeOutput(&b, &wire.TxOut{Value: -1})
		}
		writeOutput(&b, tx.TxOut[i])
	default:
		wire.WriteVarInt(&b, 0, uint64(len(tx.TxOut)))
		for _, o := range tx.TxOut {
			writeOutput(&b, o)
		}
	}
	binary.Write(&b, binary.LittleEndian, tx.LockTime)
	binary.Write(&b, binary.LittleEndian, hashType)
	return dsha(b.Bytes())
}

// writeScriptCode writes scriptCode with its length, leaving out every
// OP_CODESEPARATOR as Core's CTransactionSignatureSerializer does: it
// walks the opcodes (GetOp), and stops at a truncated push, keeping the
// bytes up to where the walk stopped while the length still counts the
// whole script.
func writeScriptCode(b *bytes.Buffer, s []byte) {
	const opCodeSeparator = 0xab
	seps := 0
	for pc := 0; ; {
		op, next, ok := getOp(s, pc)
		pc = next
		if !ok {
			break
		}
		if op == opCodeSeparator {
			seps++
		}
	}
	wire.WriteVarInt(b, 0, uint64(len(s)-seps))
	begin, pc := 0, 0
	for {
		op, next, ok := getOp(s, pc)
		pc = next
		if !ok {
			break
		}
		if op == opCodeSeparator {
			b.Write(s[begin : pc-1])
			begin = pc
		}
	}
	if begin != len(s) {
		b.Write(s[begin:pc])
	}
}

// getOp reads the opcode at pc and skips its push data. It returns where
// the next opcode starts, or, when the script ends inside a push, how far
// Core's GetScriptOp got (past the opcode and any whole length bytes) and
// false. At the end of the script it returns pc and false.
func getOp(s []byte, pc int) (op byte, next int, ok bool) {
	if pc >= len(s) {
		return 0, pc, false
	}
	op = s[pc]
	pc++
	var n int
	switch {
	case op < 0x4c:
		n = int(op)
	case op == 0x4c:
		if len(s)-pc < 1 {
			return op, pc, false
		}
		n = int(s[pc])
		pc++
	case op == 0x4d:
		if len(s)-pc < 2 {
			return op, pc, false
		}
		n = int(binary.LittleEndian.Uint16(s[pc:]))
		pc += 2
	case op == 0x4e:
		if len(s)-pc < 4 {
			return op, pc, false
		}
		n = int(binary.LittleEndian.Uint32(s[pc:]))
		pc += 4
	}
	if n < 0 || len(s)-pc < n {
		return op, pc, false
	}
	return op, pc + n, true
}

// segwitHashes are BIP-143's hashPrevouts, hashSequence and hashOutputs
// for SIGHASH_ALL, shared by every input of a transaction.
type segwitHashes struct {
	prevouts, sequence, outputs [32]byte
}

func newSegwitHashes(tx *wire.MsgTx) *segwitHashes {
	var p, s, o bytes.Buffer
	for _, in := range tx.TxIn {
		writeOutpoint(&p, in.PreviousOutPoint)
		binary.Write(&s, binary.LittleEndian, in.Sequence)
	}
	for _, out := range tx.TxOut {
		writeOutput(&o, out)
	}
	return &segwitHashes{prevouts: dsha(p.Bytes()), sequence: dsha(s.Bytes()), outputs: dsha(o.Bytes())}
}

// witnessSighash is BIP-143's digest of input i spending amount with
// scriptCode (the witness script, without its length) under hashType.
func witnessSighash(tx *wire.MsgTx, h *segwitHashes, i int, scriptCode []byte, amount int64, hashType uint32) [32]byte {
	base := hashType & 0x1f
	anyone := hashType&sighashAnyoneCanPay != 0
	var zero [32]byte
	prevouts, sequence, outputs := h.prevouts, h.sequence, h.outputs
	if anyone {
		prevouts = zero
	}
	if anyone || base == sighashSingle || base == sighashNone {
		sequence = zero
	}
	switch {
	case base == sighashSingle && i < len(tx.TxOut):
		var o bytes.Buffer
		writeOutput(&o, tx.TxOut[i])
		outputs = dsha(o.Bytes())
	case base == sighashSingle || base == sighashNone:
		outputs = zero
	}
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, tx.Version)
	b.Write(prevouts[:])
	b.Write(sequence[:])
	writeOutpoint(&b, tx.TxIn[i].PreviousOutPoint)
	wire.WriteVarBytes(&b, 0, scriptCode)
	binary.Write(&b, binary.LittleEndian, amount)
	binary.Write(&b, binary.LittleEndian, tx.TxIn[i].Sequence)
	b.Write(outputs[:])
	binary.Write(&b, binary.LittleEndian, tx.LockTime)
	binary.Write(&b, binary.LittleEndian, hashType)
	return dsha(b.Bytes())
}
