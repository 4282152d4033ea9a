package miniscript

import (
	"crypto/sha256"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
)

// scriptNum serializes v as a minimal CScriptNum (little endian, sign bit
// in the top byte).
func scriptNum(v int64) []byte {
	if v == 0 {
		return nil
	}
	neg := v < 0
	if neg {
		v = -v
	}
	var out []byte
	for v > 0 {
		out = append(out, byte(v&0xff))
		v >>= 8
	}
	if out[len(out)-1]&0x80 != 0 {
		if neg {
			out = append(out, 0x80)
		} else {
			out = append(out, 0)
		}
	} else if neg {
		out[len(out)-1] |= 0x80
	}
	return out
}

// scriptNumPushSize is the size of the minimal push of v.
func scriptNumPushSize(v int64) int {
	if v == -1 || (v >= 0 && v <= 16) {
		return 1
	}
	return 1 + len(scriptNum(v))
}

// builder appends opcodes and minimal pushes.
type builder struct{ b []byte }

func (s *builder) op(ops ...byte) { s.b = append(s.b, ops...) }

func (s *builder) num(v int64) {
	switch {
	case v == 0:
		s.b = append(s.b, txscript.OP_0)
	case v == -1:
		s.b = append(s.b, txscript.OP_1NEGATE)
	case v >= 1 && v <= 16:
		s.b = append(s.b, txscript.OP_1+byte(v-1))
	default:
		s.data(scriptNum(v))
	}
}

// data pushes d; every push here is shorter than 76 bytes, so a direct
// length-prefixed push is the minimal one.
func (s *builder) data(d []byte) {
	s.b = append(s.b, byte(len(d)))
	s.b = append(s.b, d...)
}

// pubKey returns the bytes the script pushes for k in n's context.
func (n *Node) pubKey(k Key, kb KeyBytes) ([]byte, error) {
	if kb == nil {
		return nil, fmt.Errorf("miniscript: no key resolver for key %s", k)
	}
	b, err := kb(k)
	if err != nil {
		return nil, fmt.Errorf("miniscript: key %s: %w", k, err)
	}
	return n.ctx.scriptKey(b, k)
}

// scriptKey checks a serialized key against the context: P2WSH pushes
// 33-byte compressed keys (BIP-382 forbids uncompressed ones), Tapscript
// 32-byte x-only keys.
func (c Context) scriptKey(b []byte, k Key) ([]byte, error) {
	compressed := len(b) == 33 && (b[0] == 2 || b[0] == 3)
	if c == Tapscript {
		if compressed {
			return b[1:], nil
		}
		if len(b) == 32 {
			return b, nil
		}
		return nil, fmt.Errorf("miniscript: key %s: tapscript needs a 32-byte x-only or 33-byte compressed key, got %d bytes", k, len(b))
	}
	if !compressed {
		return nil, fmt.Errorf("miniscript: key %s: p2wsh needs a 33-byte compressed key, got %d bytes", k, len(b))
	}
	return b, nil
}

// Script encodes the node as Bitcoin script (BIP-379 translation table),
// resolving each key with kb. The v: wrapper folds into the VERIFY form of
// a final CHECKSIG, CHECKMULTISIG, EQUAL or NUMEQUAL.
func (n *Node) Script(kb KeyBytes) ([]byte, error) {
	var s builder
	s.b = make([]byte, 0, n.size)
	if err := n.encode(&s, kb, false); err != nil {
		return nil, err
	}
	return s.b, nil
}

// encode appends n's script; verify says a v: wrapper above n wants the
// VERIFY form of n's last opcode.
func (n *Node) encode(s *builder, kb KeyBytes, verify bool) error {
	// vfy picks the VERIFY variant of a final opcode.
	vfy := func(plain, verified byte) {
		if verify {
			s.op(verified)
		} else {
			s.op(plain)
		}
	}
	switch n.Frag {
	case Just0:
		s.op(txscript.OP_0)
	case Just1:
		s.op(txscript.OP_1)
	case PkK:
		k, err := n.pubKey(n.Keys[0], kb)
		if err != nil {
			return err
		}
		s.data(k)
	case PkH:
		k, err := n.pubKey(n.Keys[0], kb)
		if err != nil {
			return err
		}
		s.op(txscript.OP_DUP, txscript.OP_HASH160)
		s.data(btcutil.Hash160(k))
		s.op(txscript.OP_EQUALVERIFY)
	case Older:
		s.num(int64(n.K))
		s.op(txscript.OP_CHECKSEQUENCEVERIFY)
	case After:
		s.num(int64(n.K))
		s.op(txscript.OP_CHECKLOCKTIMEVERIFY)
	case Sha256, Hash256, Ripemd160, Hash160:
		s.op(txscript.OP_SIZE)
		s.data([]byte{32})
		s.op(txscript.OP_EQUALVERIFY, hashOpcode(n.Frag))
		s.data(n.Hash)
		vfy(txscript.OP_EQUAL, txscript.OP_EQUALVERIFY)
	case Multi:
		s.num(int64(n.K))
		for _, key := range n.Keys {
			k, err := n.pubKey(key, kb)
			if err != nil {
				return err
			}
			s.data(k)
		}
		s.num(int64(len(n.Keys)))
		vfy(txscript.OP_CHECKMULTISIG, txscript.OP_CHECKMULTISIGVERIFY)
	case MultiA:
		for i, key := range n.Keys {
			k, err := n.pubKey(key, kb)
			if err != nil {
				return err
			}
			s.data(k)
			if i == 0 {
				s.op(txscript.OP_CHECKSIG)
			} else {
				s.op(txscript.OP_CHECKSIGADD)
			}
		}
		s.num(int64(n.K))
		vfy(txscript.OP_NUMEQUAL, txscript.OP_NUMEQUALVERIFY)
	case WrapA:
		s.op(txscript.OP_TOALTSTACK)
		if err := n.sub(0).encode(s, kb, false); err != nil {
			return err
		}
		s.op(txscript.OP_FROMALTSTACK)
	case WrapS:
		s.op(txscript.OP_SWAP)
		return n.sub(0).encode(s, kb, verify)
	case WrapC:
		if err := n.sub(0).encode(s, kb, false); err != nil {
			return err
		}
		vfy(txscript.OP_CHECKSIG, txscript.OP_CHECKSIGVERIFY)
	case WrapD:
		s.op(txscript.OP_DUP, txscript.OP_IF)
		if err := n.sub(0).encode(s, kb, false); err != nil {
			return err
		}
		s.op(txscript.OP_ENDIF)
	case WrapV:
		x := n.sub(0)
		if err := x.encode(s, kb, !x.typ.Has(propX)); err != nil {
			return err
		}
		if x.typ.Has(propX) {
			s.op(txscript.OP_VERIFY)
		}
	case WrapJ:
		s.op(txscript.OP_SIZE, txscript.OP_0NOTEQUAL, txscript.OP_IF)
		if err := n.sub(0).encode(s, kb, false); err != nil {
			return err
		}
		s.op(txscript.OP_ENDIF)
	case WrapN:
		if err := n.sub(0).encode(s, kb, false); err != nil {
			return err
		}
		s.op(txscript.OP_0NOTEQUAL)
	case AndV:
		if err := n.sub(0).encode(s, kb, false); err != nil {
			return err
		}
		return n.sub(1).encode(s, kb, verify)
	case AndB, OrB:
		if err := n.sub(0).encode(s, kb, false); err != nil {
			return err
		}
		if err := n.sub(1).encode(s, kb, false); err != nil {
			return err
		}
		if n.Frag == AndB {
			s.op(txscript.OP_BOOLAND)
		} else {
			s.op(txscript.OP_BOOLOR)
		}
	case OrC, OrD:
		if err := n.sub(0).encode(s, kb, false); err != nil {
			return err
		}
		if n.Frag == OrD {
			s.op(txscript.OP_IFDUP)
		}
		s.op(txscript.OP_NOTIF)
		if err := n.sub(1).encode(s, kb, false); err != nil {
			return err
		}
		s.op(txscript.OP_ENDIF)
	case OrI:
		s.op(txscript.OP_IF)
		if err := n.sub(0).encode(s, kb, false); err != nil {
			return err
		}
		s.op(txscript.OP_ELSE)
		if err := n.sub(1).encode(s, kb, false); err != nil {
			return err
		}
		s.op(txscript.OP_ENDIF)
	case AndOr:
		if err := n.sub(0).encode(s, kb, false); err != nil {
			return err
		}
		s.op(txscript.OP_NOTIF)
		if err := n.sub(2).encode(s, kb, false); err != nil {
			return err
		}
		s.op(txscript.OP_ELSE)
		if err := n.sub(1).encode(s, kb, false); err != nil {
			return err
		}
		s.op(txscript.OP_ENDIF)
	case Thresh:
		for i, sub := range n.Subs {
			if err := sub.encode(s, kb, false); err != nil {
				return err
			}
			if i > 0 {
				s.op(txscript.OP_ADD)
			}
		}
		s.num(int64(n.K))
		vfy(txscript.OP_EQUAL, txscript.OP_EQUALVERIFY)
	default:
		return fmt.Errorf("miniscript: cannot encode fragment %s", n.Frag)
	}
	return nil
}

func hashOpcode(f Fragment) byte {
	switch f {
	case Sha256:
		return txscript.OP_SHA256
	case Hash256:
		return txscript.OP_HASH256
	case Ripemd160:
		return txscript.OP_RIPEMD160
	}
	return txscript.OP_HASH160
}

// WitnessScriptHash is the P2WSH program (SHA256 of the script), a helper
// for callers that build wsh() outputs from Script's result.
func WitnessScriptHash(script []byte) [32]byte { return sha256.Sum256(script) }
