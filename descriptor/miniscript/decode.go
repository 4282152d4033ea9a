package miniscript

import (
	"bytes"
	"fmt"

	"github.com/btcsuite/btcd/txscript"
)

// DecodeOptions says how Decode turns script data back into keys.
type DecodeOptions struct {
	// Key maps a pushed public key (33 bytes in P2WSH, 32 in Tapscript)
	// to a Key. Nil makes PubKey keys.
	Key func(pub []byte) (Key, error)
	// KeyByHash maps the HASH160 of a pk_h back to its key and the key's
	// serialized bytes (for example from a PSBT's BIP-32 derivations).
	// Nil makes every pk_h an error, since the key is not in the script.
	KeyByHash func(hash160 []byte) (Key, []byte, error)
}

// tok is one script element; VERIFY opcodes are split into their plain
// form followed by OP_VERIFY, as the grammar below needs.
type tok struct {
	op   byte
	data []byte
	push bool
}

// Decode recovers the miniscript whose encoding is script (for example a
// PSBT input's witness script or tapscript leaf). It fails unless script
// is exactly the encoding of a valid miniscript in ctx.
//
// The grammar reads the script from its end, as Bitcoin Core's
// miniscript::FromScript does: an and_v chain extends to the left until
// IF, ELSE, NOTIF, TOALTSTACK, SWAP or the start of the script. Scripts are
// decoded to one canonical tree (and_v chains nest to the right), so
// Decode(Script(n)) has n's script but may print differently from n when n
// groups an and_v chain another way.
func Decode(script []byte, ctx Context, opts DecodeOptions) (*Node, error) {
	toks, err := tokenize(script)
	if err != nil {
		return nil, err
	}
	d := &decoder{toks: toks, i: len(toks), ctx: ctx, opts: opts, keyBytes: map[string][]byte{}}
	if d.opts.Key == nil {
		d.opts.Key = func(pub []byte) (Key, error) { return checkPubKey(ctx, pub) }
	}
	n, err := d.bkv(0)
	if err != nil {
		return nil, err
	}
	if d.i != 0 {
		return nil, invalidf("script has %d leading elements that are not part of the miniscript", d.i)
	}
	if err := n.checkValidTopLevel(); err != nil {
		return nil, err
	}
	again, err := n.Script(func(k Key) ([]byte, error) {
		b, ok := d.keyBytes[k.String()]
		if !ok {
			return nil, fmt.Errorf("no bytes for key %s", k)
		}
		return b, nil
	})
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, script) {
		return nil, invalidf("script is not the canonical encoding of %s", n)
	}
	return n, nil
}

func tokenize(script []byte) ([]tok, error) {
	var toks []tok
	tz := txscript.MakeScriptTokenizer(0, script)
	for tz.Next() {
		op, data := tz.Opcode(), tz.Data()
		switch op {
		case txscript.OP_CHECKSIGVERIFY:
			toks = append(toks, tok{op: txscript.OP_CHECKSIG}, tok{op: txscript.OP_VERIFY})
		case txscript.OP_CHECKMULTISIGVERIFY:
			toks = append(toks, tok{op: txscript.OP_CHECKMULTISIG}, tok{op: txscript.OP_VERIFY})
		case txscript.OP_EQUALVERIFY:
			toks = append(toks, tok{op: txscript.OP_EQUAL}, tok{op: txscript.OP_VERIFY})
		case txscript.OP_NUMEQUALVERIFY:
			toks = append(toks, tok{op: txscript.OP_NUMEQUAL}, tok{op: txscript.OP_VERIFY})
		default:
			isPush := op <= txscript.OP_PUSHDATA4
			toks = append(toks, tok{op: op, data: data, push: isPush})
		}
	}
	if err := tz.Err(); err != nil {
		return nil, invalidf("malformed script: %v", err)
	}
	if len(toks) == 0 {
		return nil, invalidf("empty script")
	}
	return toks, nil
}

type decoder struct {
	toks     []tok
	i        int // tokens not yet consumed: toks[:i]
	ctx      Context
	opts     DecodeOptions
	keyBytes map[string][]byte
}

// peek returns the k-th unconsumed token from the end, or nil.
func (d *decoder) peek(k int) *tok {
	if d.i-1-k < 0 {
		return nil
	}
	return &d.toks[d.i-1-k]
}

func (d *decoder) pop() (*tok, error) {
	if d.i == 0 {
		return nil, invalidf("script ends too early")
	}
	d.i--
	return &d.toks[d.i], nil
}

func (d *decoder) popOp(op byte) error {
	t, err := d.pop()
	if err != nil {
		return err
	}
	if t.push || t.op != op {
		return invalidf("expected %s in the script", opName(op))
	}
	return nil
}

func opName(op byte) string {
	return fmt.Sprintf("opcode 0x%02x", op)
}

func (d *decoder) isOp(k int, op byte) bool {
	t := d.peek(k)
	return t != nil && !t.push && t.op == op
}

// atBoundary reports whether no more and_v operands can be to the left.
func (d *decoder) atBoundary() bool {
	t := d.peek(0)
	if t == nil {
		return true
	}
	if t.push {
		return false
	}
	switch t.op {
	case txscript.OP_IF, txscript.OP_ELSE, txscript.OP_NOTIF, txscript.OP_TOALTSTACK, txscript.OP_SWAP:
		return true
	}
	return false
}

func (d *decoder) node(frag Fragment, k uint32, keys []Key, hash []byte, subs ...*Node) *Node {
	return newNode(d.ctx, frag, k, keys, hash, subs...)
}

// bkv decodes an and_v chain up to the next boundary.
func (d *decoder) bkv(depth int) (*Node, error) {
	e, err := d.single(depth + 1)
	if err != nil {
		return nil, err
	}
	for !d.atBoundary() {
		x, err := d.single(depth + 1)
		if err != nil {
			return nil, err
		}
		e = d.node(AndV, 0, nil, nil, x, e)
	}
	return e, nil
}

// w decodes a W expression: a:X or s:X.
func (d *decoder) w(depth int) (*Node, error) {
	if d.isOp(0, txscript.OP_FROMALTSTACK) {
		d.i--
		x, err := d.bkv(depth + 1)
		if err != nil {
			return nil, err
		}
		if err := d.popOp(txscript.OP_TOALTSTACK); err != nil {
			return nil, err
		}
		return d.node(WrapA, 0, nil, nil, x), nil
	}
	x, err := d.bkv(depth + 1)
	if err != nil {
		return nil, err
	}
	if err := d.popOp(txscript.OP_SWAP); err != nil {
		return nil, err
	}
	return d.node(WrapS, 0, nil, nil, x), nil
}

// number pops a script number pushed minimally enough to be one.
func (d *decoder) number() (int64, error) {
	t, err := d.pop()
	if err != nil {
		return 0, err
	}
	switch {
	case !t.push && t.op >= txscript.OP_1 && t.op <= txscript.OP_16:
		return int64(t.op-txscript.OP_1) + 1, nil
	case t.push && len(t.data) > 0 && len(t.data) <= 5:
		var v int64
		for i, b := range t.data {
			v |= int64(b) << (8 * i)
		}
		if t.data[len(t.data)-1]&0x80 != 0 {
			v &^= int64(0x80) << (8 * (len(t.data) - 1))
			v = -v
		}
		return v, nil
	}
	return 0, invalidf("expected a number in the script")
}

func (d *decoder) key(pub []byte) (Key, error) {
	k, err := d.opts.Key(pub)
	if err != nil {
		return nil, invalidf("%v", err)
	}
	d.keyBytes[k.String()] = append([]byte(nil), pub...)
	return k, nil
}

func (d *decoder) keyLen() int {
	if d.ctx == Tapscript {
		return 32
	}
	return 33
}

func (d *decoder) popKey() (Key, error) {
	t, err := d.pop()
	if err != nil {
		return nil, err
	}
	if !t.push || len(t.data) != d.keyLen() {
		return nil, invalidf("expected a %d-byte key push", d.keyLen())
	}
	return d.key(t.data)
}

func (d *decoder) single(depth int) (*Node, error) {
	if depth > maxNesting {
		return nil, invalidf("nesting deeper than %d", maxNesting)
	}
	t, err := d.pop()
	if err != nil {
		return nil, err
	}
	if t.push {
		switch {
		case t.op == txscript.OP_0:
			return d.node(Just0, 0, nil, nil), nil
		case len(t.data) == d.keyLen():
			k, err := d.key(t.data)
			if err != nil {
				return nil, err
			}
			return d.node(PkK, 0, []Key{k}, nil), nil
		}
		return nil, invalidf("unexpected %d-byte push", len(t.data))
	}
	switch t.op {
	case txscript.OP_1:
		return d.node(Just1, 0, nil, nil), nil
	case txscript.OP_CHECKSEQUENCEVERIFY, txscript.OP_CHECKLOCKTIMEVERIFY:
		v, err := d.number()
		if err != nil {
			return nil, err
		}
		if v < 1 || v >= 1<<31 {
			return nil, invalidf("time lock %d out of range 1..2^31-1", v)
		}
		if t.op == txscript.OP_CHECKSEQUENCEVERIFY {
			return d.node(Older, uint32(v), nil, nil), nil
		}
		return d.node(After, uint32(v), nil, nil), nil
	case txscript.OP_VERIFY:
		// pk_h: DUP HASH160 <20> EQUAL VERIFY.
		if d.isOp(0, txscript.OP_EQUAL) && d.peek(1) != nil && d.peek(1).push && len(d.peek(1).data) == 20 &&
			d.isOp(2, txscript.OP_HASH160) && d.isOp(3, txscript.OP_DUP) {
			h := d.peek(1).data
			d.i -= 4
			if d.opts.KeyByHash == nil {
				return nil, invalidf("pk_h key hash %x: no key lookup given", h)
			}
			k, b, err := d.opts.KeyByHash(h)
			if err != nil {
				return nil, invalidf("pk_h key hash %x: %v", h, err)
			}
			d.keyBytes[k.String()] = b
			return d.node(PkH, 0, []Key{k}, nil), nil
		}
		x, err := d.single(depth + 1)
		if err != nil {
			return nil, err
		}
		return d.node(WrapV, 0, nil, nil, x), nil
	case txscript.OP_EQUAL:
		// Hash fragments: SIZE <32> EQUAL VERIFY <HASHOP> <h> EQUAL.
		if h := d.peek(0); h != nil && h.push && (len(h.data) == 32 || len(h.data) == 20) {
			op := d.peek(1)
			sz := d.peek(4)
			if op == nil || op.push || !d.isOp(2, txscript.OP_VERIFY) || !d.isOp(3, txscript.OP_EQUAL) ||
				sz == nil || !sz.push || !bytes.Equal(sz.data, []byte{32}) || !d.isOp(5, txscript.OP_SIZE) {
				return nil, invalidf("malformed hash check")
			}
			var frag Fragment
			switch {
			case op.op == txscript.OP_SHA256 && len(h.data) == 32:
				frag = Sha256
			case op.op == txscript.OP_HASH256 && len(h.data) == 32:
				frag = Hash256
			case op.op == txscript.OP_RIPEMD160 && len(h.data) == 20:
				frag = Ripemd160
			case op.op == txscript.OP_HASH160 && len(h.data) == 20:
				frag = Hash160
			default:
				return nil, invalidf("malformed hash check")
			}
			digest := append([]byte(nil), h.data...)
			d.i -= 6
			return d.node(frag, 0, nil, digest), nil
		}
		k, err := d.number()
		if err != nil {
			return nil, err
		}
		var ws []*Node
		for d.isOp(0, txscript.OP_ADD) {
			d.i--
			w, err := d.w(depth + 1)
			if err != nil {
				return nil, err
			}
			ws = append(ws, w)
		}
		x, err := d.single(depth + 1)
		if err != nil {
			return nil, err
		}
		subs := []*Node{x}
		for j := len(ws) - 1; j >= 0; j-- {
			subs = append(subs, ws[j])
		}
		if k < 1 || k > int64(len(subs)) {
			return nil, invalidf("thresh(%d) with %d subexpressions", k, len(subs))
		}
		return d.node(Thresh, uint32(k), nil, nil, subs...), nil
	case txscript.OP_NUMEQUAL:
		if d.ctx != Tapscript {
			return nil, invalidf("NUMEQUAL outside multi_a")
		}
		k, err := d.number()
		if err != nil {
			return nil, err
		}
		var keys []Key
		for d.isOp(0, txscript.OP_CHECKSIGADD) {
			d.i--
			key, err := d.popKey()
			if err != nil {
				return nil, err
			}
			keys = append(keys, key)
		}
		if err := d.popOp(txscript.OP_CHECKSIG); err != nil {
			return nil, err
		}
		first, err := d.popKey()
		if err != nil {
			return nil, err
		}
		keys = append(keys, first)
		for a, b := 0, len(keys)-1; a < b; a, b = a+1, b-1 {
			keys[a], keys[b] = keys[b], keys[a]
		}
		if len(keys) > MaxMultiAKeys || k < 1 || k > int64(len(keys)) {
			return nil, invalidf("multi_a(%d) with %d keys", k, len(keys))
		}
		return d.node(MultiA, uint32(k), keys, nil), nil
	case txscript.OP_CHECKMULTISIG:
		if d.ctx != P2WSH {
			return nil, invalidf("CHECKMULTISIG is not available in tapscript")
		}
		n, err := d.number()
		if err != nil {
			return nil, err
		}
		if n < 1 || n > MaxMultiKeys {
			return nil, invalidf("multi with %d keys", n)
		}
		keys := make([]Key, n)
		for j := n - 1; j >= 0; j-- {
			if keys[j], err = d.popKey(); err != nil {
				return nil, err
			}
		}
		k, err := d.number()
		if err != nil {
			return nil, err
		}
		if k < 1 || k > n {
			return nil, invalidf("multi(%d) with %d keys", k, n)
		}
		return d.node(Multi, uint32(k), keys, nil), nil
	case txscript.OP_CHECKSIG:
		x, err := d.single(depth + 1)
		if err != nil {
			return nil, err
		}
		return d.node(WrapC, 0, nil, nil, x), nil
	case txscript.OP_0NOTEQUAL:
		x, err := d.single(depth + 1)
		if err != nil {
			return nil, err
		}
		return d.node(WrapN, 0, nil, nil, x), nil
	case txscript.OP_BOOLAND, txscript.OP_BOOLOR:
		y, err := d.w(depth + 1)
		if err != nil {
			return nil, err
		}
		x, err := d.single(depth + 1)
		if err != nil {
			return nil, err
		}
		if t.op == txscript.OP_BOOLAND {
			return d.node(AndB, 0, nil, nil, x, y), nil
		}
		return d.node(OrB, 0, nil, nil, x, y), nil
	case txscript.OP_ENDIF:
		last, err := d.bkv(depth + 1)
		if err != nil {
			return nil, err
		}
		t2, err := d.pop()
		if err != nil {
			return nil, err
		}
		if t2.push {
			return nil, invalidf("unexpected push before a branch")
		}
		switch t2.op {
		case txscript.OP_ELSE:
			first, err := d.bkv(depth + 1)
			if err != nil {
				return nil, err
			}
			t3, err := d.pop()
			if err != nil {
				return nil, err
			}
			switch {
			case !t3.push && t3.op == txscript.OP_IF:
				return d.node(OrI, 0, nil, nil, first, last), nil
			case !t3.push && t3.op == txscript.OP_NOTIF:
				x, err := d.single(depth + 1)
				if err != nil {
					return nil, err
				}
				return d.node(AndOr, 0, nil, nil, x, last, first), nil
			}
			return nil, invalidf("ELSE without IF or NOTIF")
		case txscript.OP_IF:
			if d.isOp(0, txscript.OP_DUP) {
				d.i--
				return d.node(WrapD, 0, nil, nil, last), nil
			}
			if d.isOp(0, txscript.OP_0NOTEQUAL) && d.isOp(1, txscript.OP_SIZE) {
				d.i -= 2
				return d.node(WrapJ, 0, nil, nil, last), nil
			}
			return nil, invalidf("IF without ELSE that is neither d: nor j:")
		case txscript.OP_NOTIF:
			frag := OrC
			if d.isOp(0, txscript.OP_IFDUP) {
				d.i--
				frag = OrD
			}
			x, err := d.single(depth + 1)
			if err != nil {
				return nil, err
			}
			return d.node(frag, 0, nil, nil, x, last), nil
		}
		return nil, invalidf("ENDIF without a matching IF")
	}
	return nil, invalidf("opcode 0x%02x has no place in miniscript", t.op)
}
