package bitbox02

import (
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
)

// The emulated firmware's miniscript: the firmware parses a wallet policy's
// wsh(<miniscript>) with rust-miniscript, sanity-checks it and encodes the
// witness script at each address (src/rust/bitbox02-rust/src/hww/api/
// bitcoin/policies.rs parse, Wsh::witness_script; BitBoxSwiss/
// bitbox02-firmware a3467ad1). This is the emulator's own small compiler,
// written from BIP-379's fragment and wrapper table, for the fragments
// countersign's wallets use: 0, 1, pk_k, pk_h, pk, pkh, older, after,
// multi, thresh, and_v, and_b, and_n, andor, or_b, or_c, or_d, or_i and
// the wrappers a s c t d v j n l u. Hash fragments are refused, as the
// firmware's key translator refuses them. It checks the basic types (B, V,
// K, W), that the top level is B and that every satisfaction needs a
// signature (property s); it does not emulate the rest of rust-miniscript's
// type properties and sanity check (malleability, time-lock mixing),
// which countersign's descriptor parser enforces before a wallet reaches a
// device.

// maxMiniscriptDepth is MAX_MINISCRIPT_ENCODE_DEPTH of policies.rs: a tree
// of height 64 or more is refused.
const maxMiniscriptDepth = 64

// msNode is one fragment; wrappers are nodes of their letter with one sub.
type msNode struct {
	frag string
	k    uint32 // multi/thresh threshold, older/after value
	keys []int  // positions in the policy's placeholder list
	subs []*msNode
}

// msParser reads a miniscript, collecting its key placeholders left to
// right (rust-miniscript iter_pk order).
type msParser struct {
	pks []policyKey
}

// parseWshPolicy parses "wsh(<miniscript>)" into its tree and its key
// placeholders.
func parseWshPolicy(text string) (*msNode, []policyKey, error) {
	bad := apiErr(errInvalidInput)
	inner, ok := strings.CutPrefix(text, "wsh(")
	if !ok {
		return nil, nil, bad
	}
	inner, ok = strings.CutSuffix(inner, ")")
	if !ok {
		return nil, nil, bad
	}
	p := &msParser{}
	n, err := p.parse(inner, 0)
	if err != nil {
		return nil, nil, bad
	}
	if t, err := n.typ(); err != nil || t != 'B' {
		return nil, nil, bad
	}
	if n.height() >= maxMiniscriptDepth {
		return nil, nil, bad
	}
	// Part of the firmware's sanity_check: every way to satisfy the
	// policy needs a signature (BIP-379 property s).
	if !n.signed() {
		return nil, nil, bad
	}
	return n, p.pks, nil
}

var errMS = apiErr(errInvalidInput)

// parse reads one expression: [wrappers:]name(args) or 0 or 1.
func (p *msParser) parse(s string, depth int) (*msNode, error) {
	if depth > 2*maxMiniscriptDepth {
		return nil, errMS
	}
	open := strings.IndexByte(s, '(')
	head := s
	if open >= 0 {
		head = s[:open]
	}
	if c := strings.IndexByte(head, ':'); c >= 0 {
		wraps := head[:c]
		if wraps == "" {
			return nil, errMS
		}
		n, err := p.parse(s[c+1:], depth+1)
		if err != nil {
			return nil, err
		}
		for i := len(wraps) - 1; i >= 0; i-- {
			w := wraps[i]
			switch w {
			case 'a', 's', 'c', 'd', 'v', 'j', 'n':
				n = &msNode{frag: string(w), subs: []*msNode{n}}
			case 't':
				n = &msNode{frag: "and_v", subs: []*msNode{n, {frag: "1"}}}
			case 'l':
				n = &msNode{frag: "or_i", subs: []*msNode{{frag: "0"}, n}}
			case 'u':
				n = &msNode{frag: "or_i", subs: []*msNode{n, {frag: "0"}}}
			default:
				return nil, errMS
			}
		}
		return n, nil
	}
	if open < 0 {
		if s == "0" || s == "1" {
			return &msNode{frag: s}, nil
		}
		return nil, errMS
	}
	if !strings.HasSuffix(s, ")") {
		return nil, errMS
	}
	args, err := splitArgs(s[open+1 : len(s)-1])
	if err != nil {
		return nil, err
	}
	name := s[:open]
	switch name {
	case "pk_k", "pk_h", "pk", "pkh":
		if len(args) != 1 {
			return nil, errMS
		}
		i, err := p.key(args[0])
		if err != nil {
			return nil, err
		}
		switch name {
		case "pk":
			return &msNode{frag: "c", subs: []*msNode{{frag: "pk_k", keys: []int{i}}}}, nil
		case "pkh":
			return &msNode{frag: "c", subs: []*msNode{{frag: "pk_h", keys: []int{i}}}}, nil
		}
		return &msNode{frag: name, keys: []int{i}}, nil
	case "older", "after":
		if len(args) != 1 {
			return nil, errMS
		}
		v, err := msNumber(args[0])
		if err != nil || v < 1 || v >= 1<<31 {
			return nil, errMS
		}
		return &msNode{frag: name, k: v}, nil
	case "multi":
		if len(args) < 2 || len(args)-1 > 20 {
			return nil, errMS
		}
		k, err := msNumber(args[0])
		if err != nil || k < 1 || int(k) > len(args)-1 {
			return nil, errMS
		}
		n := &msNode{frag: name, k: k}
		for _, a := range args[1:] {
			i, err := p.key(a)
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, i)
		}
		return n, nil
	case "thresh":
		if len(args) < 2 {
			return nil, errMS
		}
		k, err := msNumber(args[0])
		if err != nil || k < 1 || int(k) > len(args)-1 {
			return nil, errMS
		}
		n := &msNode{frag: name, k: k}
		for _, a := range args[1:] {
			sub, err := p.parse(a, depth+1)
			if err != nil {
				return nil, err
			}
			n.subs = append(n.subs, sub)
		}
		return n, nil
	case "and_v", "and_b", "or_b", "or_c", "or_d", "or_i", "and_n", "andor":
		want := 2
		if name == "andor" {
			want = 3
		}
		if len(args) != want {
			return nil, errMS
		}
		n := &msNode{frag: name}
		for _, a := range args {
			sub, err := p.parse(a, depth+1)
			if err != nil {
				return nil, err
			}
			n.subs = append(n.subs, sub)
		}
		if name == "and_n" {
			n = &msNode{frag: "andor", subs: []*msNode{n.subs[0], n.subs[1], {frag: "0"}}}
		}
		return n, nil
	}
	// sha256, hash256, ripemd160, hash160 and anything else.
	return nil, errMS
}

// key reads a placeholder and returns its position in the list.
func (p *msParser) key(s string) (int, error) {
	k, err := parsePolicyKey(s)
	if err != nil {
		return 0, err
	}
	p.pks = append(p.pks, k)
	return len(p.pks) - 1, nil
}

// msNumber is a decimal without sign or leading zero.
func msNumber(s string) (uint32, error) {
	if err := noLeadingZero(s); err != nil {
		return 0, errMS
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, errMS
	}
	return uint32(v), nil
}

// splitArgs splits at the commas outside parentheses.
func splitArgs(s string) ([]string, error) {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return nil, errMS
			}
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, errMS
	}
	out = append(out, s[start:])
	for _, a := range out {
		if a == "" {
			return nil, errMS
		}
	}
	return out, nil
}

// typ is the node's basic type (BIP-379 "Basic types"): B, V, K or W.
func (n *msNode) typ() (byte, error) {
	sub := func(i int) byte {
		t, err := n.subs[i].typ()
		if err != nil {
			return 0
		}
		return t
	}
	switch n.frag {
	case "0", "1", "older", "after", "multi":
		return 'B', nil
	case "pk_k", "pk_h":
		return 'K', nil
	case "thresh":
		for i := range n.subs {
			want := byte('W')
			if i == 0 {
				want = 'B'
			}
			if sub(i) != want {
				return 0, errMS
			}
		}
		return 'B', nil
	case "and_v":
		x, y := sub(0), sub(1)
		if x != 'V' || (y != 'B' && y != 'K' && y != 'V') {
			return 0, errMS
		}
		return y, nil
	case "and_b", "or_b":
		if sub(0) != 'B' || sub(1) != 'W' {
			return 0, errMS
		}
		return 'B', nil
	case "or_c":
		if sub(0) != 'B' || sub(1) != 'V' {
			return 0, errMS
		}
		return 'V', nil
	case "or_d":
		if sub(0) != 'B' || sub(1) != 'B' {
			return 0, errMS
		}
		return 'B', nil
	case "or_i":
		x, z := sub(0), sub(1)
		if x != z || (x != 'B' && x != 'K' && x != 'V') {
			return 0, errMS
		}
		return x, nil
	case "andor":
		x, y, z := sub(0), sub(1), sub(2)
		if x != 'B' || y != z || (y != 'B' && y != 'K' && y != 'V') {
			return 0, errMS
		}
		return y, nil
	case "a", "s":
		if sub(0) != 'B' {
			return 0, errMS
		}
		return 'W', nil
	case "c":
		if sub(0) != 'K' {
			return 0, errMS
		}
		return 'B', nil
	case "d":
		if sub(0) != 'V' {
			return 0, errMS
		}
		return 'B', nil
	case "v":
		if sub(0) != 'B' {
			return 0, errMS
		}
		return 'V', nil
	case "j", "n":
		if sub(0) != 'B' {
			return 0, errMS
		}
		return 'B', nil
	}
	return 0, errMS
}

// height counts edges from the node to its deepest leaf.
func (n *msNode) height() int {
	h := 0
	for _, s := range n.subs {
		h = max(h, 1+s.height())
	}
	return h
}

// Script opcodes the compiler writes.
const (
	op0           = 0x00
	op1           = 0x51
	opIf          = 0x63
	opNotIf       = 0x64
	opElse        = 0x67
	opEndIf       = 0x68
	opVerify      = 0x69
	opToAlt       = 0x6b
	opFromAlt     = 0x6c
	opIfDup       = 0x73
	opDup         = 0x76
	opSwap        = 0x7c
	opSize        = 0x82
	opEqual       = 0x87
	opEqualVerify = 0x88
	op0NotEqual   = 0x92
	opAdd         = 0x93
	opBoolAnd     = 0x9a
	opBoolOr      = 0x9b
	opNumEqual    = 0x9c
	opHash160     = 0xa9
	opCheckSig    = 0xac
	opCheckMulti  = 0xae
	opCLTV        = 0xb1
	opCSV         = 0xb2
)

// scriptBuilder remembers whether the script ends in an opcode, so v: can
// merge into CHECKSIGVERIFY, CHECKMULTISIGVERIFY, EQUALVERIFY or
// NUMEQUALVERIFY (BIP-379: "v:X = [X] VERIFY (or VERIFY version of last
// opcode in [X])").
type scriptBuilder struct {
	b    []byte
	last int // the last opcode, or -1 after a data push
}

func (s *scriptBuilder) op(o byte) { s.b = append(s.b, o); s.last = int(o) }

func (s *scriptBuilder) data(d []byte) {
	s.b = append(s.b, byte(len(d))) // keys and hashes: 20 or 33 bytes
	s.b = append(s.b, d...)
	s.last = -1
}

// num pushes a script number: OP_0, OP_1..OP_16, else its minimal
// little-endian encoding.
func (s *scriptBuilder) num(n uint32) {
	switch {
	case n == 0:
		s.op(op0)
	case n <= 16:
		s.op(byte(0x50 + n))
	default:
		var d []byte
		for v := n; v > 0; v >>= 8 {
			d = append(d, byte(v))
		}
		if d[len(d)-1]&0x80 != 0 {
			d = append(d, 0)
		}
		s.data(d)
	}
}

func (s *scriptBuilder) verify() {
	switch s.last {
	case opCheckSig, opCheckMulti, opEqual, opNumEqual:
		s.b[len(s.b)-1]++
		s.last = int(s.b[len(s.b)-1])
	default:
		s.op(opVerify)
	}
}

// compile writes the node's script with the placeholders' derived keys.
func (n *msNode) compile(s *scriptBuilder, keys [][]byte) {
	switch n.frag {
	case "0":
		s.op(op0)
	case "1":
		s.op(op1)
	case "pk_k":
		s.data(keys[n.keys[0]])
	case "pk_h":
		s.op(opDup)
		s.op(opHash160)
		s.data(btcutil.Hash160(keys[n.keys[0]]))
		s.op(opEqualVerify)
	case "older":
		s.num(n.k)
		s.op(opCSV)
	case "after":
		s.num(n.k)
		s.op(opCLTV)
	case "multi":
		s.num(n.k)
		for _, i := range n.keys {
			s.data(keys[i])
		}
		s.num(uint32(len(n.keys)))
		s.op(opCheckMulti)
	case "thresh":
		for i, sub := range n.subs {
			sub.compile(s, keys)
			if i > 0 {
				s.op(opAdd)
			}
		}
		s.num(n.k)
		s.op(opEqual)
	case "and_v":
		n.subs[0].compile(s, keys)
		n.subs[1].compile(s, keys)
	case "and_b", "or_b":
		n.subs[0].compile(s, keys)
		n.subs[1].compile(s, keys)
		if n.frag == "and_b" {
			s.op(opBoolAnd)
		} else {
			s.op(opBoolOr)
		}
	case "or_c", "or_d":
		n.subs[0].compile(s, keys)
		if n.frag == "or_d" {
			s.op(opIfDup)
		}
		s.op(opNotIf)
		n.subs[1].compile(s, keys)
		s.op(opEndIf)
	case "or_i":
		s.op(opIf)
		n.subs[0].compile(s, keys)
		s.op(opElse)
		n.subs[1].compile(s, keys)
		s.op(opEndIf)
	case "andor":
		n.subs[0].compile(s, keys)
		s.op(opNotIf)
		n.subs[2].compile(s, keys)
		s.op(opElse)
		n.subs[1].compile(s, keys)
		s.op(opEndIf)
	case "a":
		s.op(opToAlt)
		n.subs[0].compile(s, keys)
		s.op(opFromAlt)
	case "s":
		s.op(opSwap)
		n.subs[0].compile(s, keys)
	case "c":
		n.subs[0].compile(s, keys)
		s.op(opCheckSig)
	case "d":
		s.op(opDup)
		s.op(opIf)
		n.subs[0].compile(s, keys)
		s.op(opEndIf)
	case "v":
		n.subs[0].compile(s, keys)
		s.verify()
	case "j":
		s.op(opSize)
		s.op(op0NotEqual)
		s.op(opIf)
		n.subs[0].compile(s, keys)
		s.op(opEndIf)
	case "n":
		n.subs[0].compile(s, keys)
		s.op(op0NotEqual)
	}
}

// witnessScript compiles the tree for the placeholders' derived keys.
func (n *msNode) witnessScript(keys [][]byte) []byte {
	s := &scriptBuilder{last: -1}
	n.compile(s, keys)
	return s.b
}

// signed is BIP-379's property s: every satisfaction of the node needs a
// signature.
func (n *msNode) signed() bool {
	sub := func(i int) bool { return n.subs[i].signed() }
	switch n.frag {
	case "0", "pk_k", "pk_h", "multi", "c":
		return true
	case "1", "older", "after":
		return false
	case "and_v", "and_b":
		return sub(0) || sub(1)
	case "or_b", "or_c", "or_d", "or_i":
		return sub(0) && sub(1)
	case "andor":
		return sub(2) && (sub(0) || sub(1))
	case "thresh":
		signed := 0
		for i := range n.subs {
			if sub(i) {
				signed++
			}
		}
		return signed >= len(n.subs)-int(n.k)+1
	case "a", "s", "d", "v", "j", "n":
		return sub(0)
	}
	return false
}
