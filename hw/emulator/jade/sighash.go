package jade

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"

	"github.com/btcsuite/btcd/wire"
)

// Signature hashes, computed here from the specifications rather than with
// txscript or countersign's psbt package, whose results the driver's tests
// check: an emulator sharing that code could not catch a bug in it. Tested
// with BIP-143's examples and Bitcoin Core's legacy sighash vectors
// (testdata/).

const (
	hashAll          = 0x01
	hashNone         = 0x02
	hashSingle       = 0x03
	hashAnyoneCanPay = 0x80
)

// sigTx is a transaction as the digests read it; witnesses play no part.
type sigTx struct {
	version  int32
	inputs   []sigIn
	outputs  []sigOut
	lockTime uint32
}

type sigIn struct {
	outpoint [36]byte // txid (internal order) and index, as serialized
	script   []byte
	sequence uint32
}

type sigOut struct {
	value  int64
	script []byte
}

func newSigTx(m *wire.MsgTx) *sigTx {
	t := &sigTx{version: m.Version, lockTime: m.LockTime}
	for _, in := range m.TxIn {
		var s sigIn
		copy(s.outpoint[:32], in.PreviousOutPoint.Hash[:])
		binary.LittleEndian.PutUint32(s.outpoint[32:], in.PreviousOutPoint.Index)
		s.script, s.sequence = in.SignatureScript, in.Sequence
		t.inputs = append(t.inputs, s)
	}
	for _, out := range m.TxOut {
		t.outputs = append(t.outputs, sigOut{out.Value, out.PkScript})
	}
	return t
}

func compactSize(b []byte, n int) []byte {
	switch {
	case n < 0xfd:
		return append(b, byte(n))
	case n <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(b, 0xfd), uint16(n))
	default:
		return binary.LittleEndian.AppendUint32(append(b, 0xfe), uint32(n))
	}
}

func appendBytes(b, data []byte) []byte {
	return append(compactSize(b, len(data)), data...)
}

func appendOut(b []byte, o sigOut) []byte {
	return appendBytes(binary.LittleEndian.AppendUint64(b, uint64(o.value)), o.script)
}

func sha256d(b []byte) [32]byte {
	first := sha256.Sum256(b)
	return sha256.Sum256(first[:])
}

// stripCodeSeparators removes OP_CODESEPARATOR (0xab) opcodes from a
// script, stepping over pushed data: the legacy digest's scriptCode
// (Bitcoin Core, SerializeScriptCode).
func stripCodeSeparators(s []byte) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		op := s[i]
		size, n := 1, 0
		switch {
		case op >= 1 && op <= 0x4b:
			n = int(op)
		case op == 0x4c:
			if i+1 >= len(s) {
				return nil, errors.New("truncated push")
			}
			size, n = 2, int(s[i+1])
		case op == 0x4d:
			if i+2 >= len(s) {
				return nil, errors.New("truncated push")
			}
			size, n = 3, int(binary.LittleEndian.Uint16(s[i+1:]))
		case op == 0x4e:
			if i+4 >= len(s) {
				return nil, errors.New("truncated push")
			}
			v := binary.LittleEndian.Uint32(s[i+1:])
			if uint64(v) > uint64(len(s)) {
				return nil, errors.New("truncated push")
			}
			size, n = 5, int(v)
		}
		if i+size+n > len(s) {
			return nil, errors.New("truncated push")
		}
		if op != 0xab {
			out = append(out, s[i:i+size+n]...)
		}
		i += size + n
	}
	return out, nil
}

// legacyDigest is the pre-segwit signature hash (Bitcoin Core's
// SignatureHash for SigVersion::BASE, src/script/interpreter.cpp) of input
// idx with scriptCode: every other scriptSig emptied; NONE drops the
// outputs and SINGLE keeps outputs up to idx (earlier ones as value -1 and
// no script), both zeroing the other inputs' sequences; ANYONECANPAY keeps
// input idx alone. The copy, serialized without witnesses and followed by
// the 4-byte hash type, is hashed twice. SINGLE with no output at idx
// signs the value 1, a bug consensus preserves.
func legacyDigest(t *sigTx, idx int, scriptCode []byte, hashType uint32) ([32]byte, error) {
	if idx < 0 || idx >= len(t.inputs) {
		return [32]byte{}, errors.New("no such input")
	}
	base := hashType & 0x1f
	if base == hashSingle && idx >= len(t.outputs) {
		return [32]byte{1}, nil
	}
	code, err := stripCodeSeparators(scriptCode)
	if err != nil {
		return [32]byte{}, err
	}
	ins := make([]sigIn, 0, len(t.inputs))
	for i, in := range t.inputs {
		switch {
		case i == idx:
			in.script = code
		default:
			in.script = nil
			if base == hashNone || base == hashSingle {
				in.sequence = 0
			}
		}
		ins = append(ins, in)
	}
	if hashType&hashAnyoneCanPay != 0 {
		ins = ins[idx : idx+1]
	}
	var outs []sigOut
	switch base {
	case hashNone:
	case hashSingle:
		for i := 0; i < idx; i++ {
			outs = append(outs, sigOut{value: -1})
		}
		outs = append(outs, t.outputs[idx])
	default:
		outs = t.outputs
	}
	b := binary.LittleEndian.AppendUint32(nil, uint32(t.version))
	b = compactSize(b, len(ins))
	for _, in := range ins {
		b = append(b, in.outpoint[:]...)
		b = appendBytes(b, in.script)
		b = binary.LittleEndian.AppendUint32(b, in.sequence)
	}
	b = compactSize(b, len(outs))
	for _, o := range outs {
		b = appendOut(b, o)
	}
	b = binary.LittleEndian.AppendUint32(b, t.lockTime)
	b = binary.LittleEndian.AppendUint32(b, hashType)
	return sha256d(b), nil
}

// segwitCache holds BIP-143's hashPrevouts, hashSequence and hashOutputs,
// shared by every input of a transaction.
type segwitCache struct {
	prevouts, sequences, outputs [32]byte
}

func newSegwitCache(t *sigTx) *segwitCache {
	var p, s, o []byte
	for _, in := range t.inputs {
		p = append(p, in.outpoint[:]...)
		s = binary.LittleEndian.AppendUint32(s, in.sequence)
	}
	for _, out := range t.outputs {
		o = appendOut(o, out)
	}
	return &segwitCache{prevouts: sha256d(p), sequences: sha256d(s), outputs: sha256d(o)}
}

// segwitPreimage is the message BIP-143 signs for input idx, spending
// amount, with scriptCode (the witness script of P2WSH, without a length):
//
//	version | hashPrevouts | hashSequence | outpoint | scriptCode |
//	amount | sequence | hashOutputs | lockTime | hashType
//
// ANYONECANPAY zeroes hashPrevouts; ANYONECANPAY, NONE and SINGLE zero
// hashSequence; NONE zeroes hashOutputs and SINGLE hashes output idx alone
// (zero when there is none).
func segwitPreimage(t *sigTx, c *segwitCache, idx int, scriptCode []byte, amount int64, hashType uint32) ([]byte, error) {
	if idx < 0 || idx >= len(t.inputs) {
		return nil, errors.New("no such input")
	}
	base := hashType & 0x1f
	acp := hashType&hashAnyoneCanPay != 0
	var prevouts, sequences, outputs [32]byte
	if !acp {
		prevouts = c.prevouts
		if base != hashNone && base != hashSingle {
			sequences = c.sequences
		}
	}
	switch {
	case base != hashNone && base != hashSingle:
		outputs = c.outputs
	case base == hashSingle && idx < len(t.outputs):
		outputs = sha256d(appendOut(nil, t.outputs[idx]))
	}
	in := t.inputs[idx]
	b := binary.LittleEndian.AppendUint32(nil, uint32(t.version))
	b = append(b, prevouts[:]...)
	b = append(b, sequences[:]...)
	b = append(b, in.outpoint[:]...)
	b = appendBytes(b, scriptCode)
	b = binary.LittleEndian.AppendUint64(b, uint64(amount))
	b = binary.LittleEndian.AppendUint32(b, in.sequence)
	b = append(b, outputs[:]...)
	b = binary.LittleEndian.AppendUint32(b, t.lockTime)
	return binary.LittleEndian.AppendUint32(b, hashType), nil
}

func segwitDigest(t *sigTx, c *segwitCache, idx int, scriptCode []byte, amount int64, hashType uint32) ([32]byte, error) {
	pre, err := segwitPreimage(t, c, idx, scriptCode, amount, hashType)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256d(pre), nil
}
