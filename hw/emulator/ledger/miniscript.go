package ledger

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"sort"

	"github.com/btcsuite/btcd/btcutil"
)

// Miniscript's type system and its translation to Script, written from
// BIP-379 (the fragment table, "Basic types" and "Type modifiers"), which
// the app's parse_script follows when it types each node.

// msType is a basic type (B, V, K, W; 0 is "not miniscript") and the z, o,
// n, d, u modifiers.
type msType struct {
	base          byte
	z, o, n, d, u bool
}

func (t msType) String() string {
	s := string(t.base)
	for _, m := range []struct {
		on bool
		c  string
	}{{t.z, "z"}, {t.o, "o"}, {t.n, "n"}, {t.d, "d"}, {t.u, "u"}} {
		if m.on {
			s += m.c
		}
	}
	return s
}

// typeOf types node n from its children's types (BIP-379's table).
func typeOf(n *node, tap bool) (msType, error) {
	var x, y, z msType
	if len(n.subs) > 0 {
		x = n.subs[0].t
	}
	if len(n.subs) > 1 {
		y = n.subs[1].t
	}
	if len(n.subs) > 2 {
		z = n.subs[2].t
	}
	bad := func() (msType, error) {
		var ts []string
		for _, s := range n.subs {
			ts = append(ts, s.t.String())
		}
		return msType{}, fmt.Errorf("%s of types %v is not valid miniscript", n.frag, ts)
	}
	for _, s := range n.subs {
		if s.t.base == 0 {
			return bad()
		}
	}
	switch n.frag {
	case "0":
		return msType{base: 'B', z: true, u: true, d: true}, nil
	case "1":
		return msType{base: 'B', z: true, u: true}, nil
	case "pk_k":
		return msType{base: 'K', o: true, n: true, d: true, u: true}, nil
	case "pk_h":
		return msType{base: 'K', n: true, d: true, u: true}, nil
	case "pk", "pkh": // c:pk_k, c:pk_h
		return msType{base: 'B', o: n.frag == "pk", n: true, d: true, u: true}, nil
	case "older", "after":
		return msType{base: 'B', z: true}, nil
	case "sha256", "hash256", "ripemd160", "hash160":
		return msType{base: 'B', o: true, n: true, d: true, u: true}, nil
	case "multi":
		return msType{base: 'B', n: true, d: true, u: true}, nil
	case "multi_a":
		return msType{base: 'B', d: true, u: true}, nil
	case "andor":
		if x.base != 'B' || !x.d || !x.u || y.base != z.base || (y.base != 'B' && y.base != 'K' && y.base != 'V') {
			return bad()
		}
		return msType{base: y.base, z: x.z && y.z && z.z, o: (x.z && y.o && z.o) || (x.o && y.z && z.z), u: y.u && z.u, d: z.d}, nil
	case "and_n": // andor(X,Y,0)
		if x.base != 'B' || !x.d || !x.u || y.base != 'B' {
			return bad()
		}
		return msType{base: 'B', z: x.z && y.z, o: x.o && y.z, u: y.u, d: true}, nil
	case "and_v":
		if x.base != 'V' || (y.base != 'B' && y.base != 'K' && y.base != 'V') {
			return bad()
		}
		return msType{base: y.base, z: x.z && y.z, o: (x.z && y.o) || (x.o && y.z), n: x.n || (x.z && y.n), u: y.u}, nil
	case "and_b":
		if x.base != 'B' || y.base != 'W' {
			return bad()
		}
		return msType{base: 'B', z: x.z && y.z, o: (x.z && y.o) || (x.o && y.z), n: x.n || (x.z && y.n), d: x.d && y.d, u: true}, nil
	case "or_b":
		if x.base != 'B' || !x.d || y.base != 'W' || !y.d {
			return bad()
		}
		return msType{base: 'B', z: x.z && y.z, o: (x.z && y.o) || (x.o && y.z), d: true, u: true}, nil
	case "or_c":
		if x.base != 'B' || !x.d || !x.u || y.base != 'V' {
			return bad()
		}
		return msType{base: 'V', z: x.z && y.z, o: x.o && y.z}, nil
	case "or_d":
		if x.base != 'B' || !x.d || !x.u || y.base != 'B' {
			return bad()
		}
		return msType{base: 'B', z: x.z && y.z, o: x.o && y.z, d: y.d, u: y.u}, nil
	case "or_i":
		if x.base != y.base || (x.base != 'B' && x.base != 'K' && x.base != 'V') {
			return bad()
		}
		return msType{base: x.base, o: x.z && y.z, u: x.u && y.u, d: x.d || y.d}, nil
	case "thresh":
		zs, os := 0, 0
		for i, s := range n.subs {
			if i == 0 && s.t.base != 'B' || i > 0 && s.t.base != 'W' || !s.t.d || !s.t.u {
				return bad()
			}
			if s.t.z {
				zs++
			}
			if s.t.o {
				os++
			}
		}
		all := len(n.subs)
		return msType{base: 'B', z: zs == all, o: zs == all-1 && os == 1, d: true, u: true}, nil
	case "a":
		if x.base != 'B' {
			return bad()
		}
		return msType{base: 'W', d: x.d, u: x.u}, nil
	case "s":
		if x.base != 'B' || !x.o {
			return bad()
		}
		return msType{base: 'W', d: x.d, u: x.u}, nil
	case "c":
		if x.base != 'K' {
			return bad()
		}
		return msType{base: 'B', o: x.o, n: x.n, d: x.d, u: true}, nil
	case "t": // and_v(X,1)
		if x.base != 'V' {
			return bad()
		}
		return msType{base: 'B', z: x.z, o: x.o, n: x.n, u: true}, nil
	case "d":
		if x.base != 'V' || !x.z {
			return bad()
		}
		// u only in tapscript, where MINIMALIF is consensus (BIP-379).
		return msType{base: 'B', o: true, n: true, d: true, u: tap}, nil
	case "v":
		if x.base != 'B' {
			return bad()
		}
		return msType{base: 'V', z: x.z, o: x.o, n: x.n}, nil
	case "j":
		if x.base != 'B' || !x.n {
			return bad()
		}
		return msType{base: 'B', o: x.o, n: true, d: true, u: x.u}, nil
	case "n":
		if x.base != 'B' {
			return bad()
		}
		return msType{base: 'B', z: x.z, o: x.o, n: x.n, d: x.d, u: true}, nil
	case "l", "u": // or_i(0,X), or_i(X,0)
		if x.base != 'B' {
			return bad()
		}
		return msType{base: 'B', o: x.z, u: x.u, d: true}, nil
	}
	return msType{}, fmt.Errorf("%s is not a miniscript fragment", n.frag)
}

// Opcodes (Bitcoin Core src/script/script.h) of the scripts compiled here.
const (
	opIf                  = 0x63
	opNotIf               = 0x64
	opElse                = 0x67
	opEndIf               = 0x68
	opVerify              = 0x69
	opToAltStack          = 0x6b
	opFromAltStack        = 0x6c
	opIfDup               = 0x73
	opDup                 = 0x76
	opSwap                = 0x7c
	opSize                = 0x82
	opEqualVerify         = 0x88
	op0NotEqual           = 0x92
	opAdd                 = 0x93
	opBoolAnd             = 0x9a
	opBoolOr              = 0x9b
	opNumEqual            = 0x9c
	opNumEqualVerify      = 0x9d
	opRipemd160           = 0xa6
	opSha256              = 0xa8
	opHash256             = 0xaa
	opCheckSig            = 0xac
	opCheckSigVerify      = 0xad
	opCheckMultisigVerify = 0xaf
	opCLTV                = 0xb1
	opCSV                 = 0xb2
	opCheckSigAdd         = 0xba
)

// verifyForm is the -VERIFY opcode v: merges into (BIP-379: "v:X" is
// [X] VERIFY, or [X] with its last opcode replaced by its VERIFY form).
var verifyForm = map[byte]byte{opEqual: opEqualVerify, opCheckSig: opCheckSigVerify, opCheckMultisig: opCheckMultisigVerify, opNumEqual: opNumEqualVerify}

// msScript is compiled script and its last opcode (0 when it ends with a
// push), which v: may turn into its VERIFY form.
type msScript struct {
	b    []byte
	last byte
}

func (s *msScript) op(ops ...byte) *msScript {
	s.b = append(s.b, ops...)
	s.last = ops[len(ops)-1]
	return s
}

func (s *msScript) push(data []byte) *msScript {
	s.b = appendPush(s.b, data)
	s.last = 0
	return s
}

func (s *msScript) num(n int64) *msScript {
	s.b = appendNum(s.b, n)
	s.last = 0
	return s
}

func (s *msScript) add(t msScript) *msScript {
	s.b = append(s.b, t.b...)
	s.last = t.last
	return s
}

// appendPush appends a minimal push of data (BIP-62's rules).
func appendPush(b, data []byte) []byte {
	switch n := len(data); {
	case n < 0x4c:
		b = append(b, byte(n))
	case n <= 0xff:
		b = append(b, 0x4c, byte(n))
	default:
		b = append(b, 0x4d, byte(n), byte(n>>8))
	}
	return append(b, data...)
}

// appendNum appends a minimal push of a script number.
func appendNum(b []byte, n int64) []byte {
	switch {
	case n == 0:
		return append(b, op0)
	case n >= 1 && n <= 16:
		return append(b, byte(op1-1+n))
	}
	var enc []byte
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		enc = append(enc, byte(n))
		n >>= 8
	}
	if enc[len(enc)-1]&0x80 != 0 {
		if neg {
			enc = append(enc, 0x80)
		} else {
			enc = append(enc, 0)
		}
	} else if neg {
		enc[len(enc)-1] |= 0x80
	}
	return appendPush(b, enc)
}

// keyFunc gives the public key of a key expression at the position being
// derived: 33 bytes compressed in wsh, 32 bytes x-only in tapscript.
type keyFunc func(*keyExpr) ([]byte, error)

// compile translates a node to Script (BIP-379's fragment table, and
// BIP-387 for multi_a/sortedmulti_a, BIP-383 for sortedmulti).
func compile(n *node, key keyFunc) (msScript, error) {
	var s msScript
	subs := make([]msScript, len(n.subs))
	for i, c := range n.subs {
		var err error
		if subs[i], err = compile(c, key); err != nil {
			return s, err
		}
	}
	keys := make([][]byte, len(n.keys))
	for i, k := range n.keys {
		var err error
		if keys[i], err = key(k); err != nil {
			return s, err
		}
	}
	switch n.frag {
	case "0":
		s.op(op0)
	case "1":
		s.op(op1)
	case "pk_k":
		s.push(keys[0])
	case "pk":
		s.push(keys[0]).op(opCheckSig)
	case "pk_h":
		s.op(opDup, opHash160).push(btcutil.Hash160(keys[0])).op(opEqualVerify)
	case "pkh":
		s.op(opDup, opHash160).push(btcutil.Hash160(keys[0])).op(opEqualVerify, opCheckSig)
	case "older":
		s.num(int64(n.k)).op(opCSV)
	case "after":
		s.num(int64(n.k)).op(opCLTV)
	case "sha256", "hash256", "ripemd160", "hash160":
		h := map[string]byte{"sha256": opSha256, "hash256": opHash256, "ripemd160": opRipemd160, "hash160": opHash160}[n.frag]
		s.op(opSize).num(32).op(opEqualVerify, h).push(n.hash).op(opEqual)
	case "andor":
		s.add(subs[0]).op(opNotIf).add(subs[2]).op(opElse).add(subs[1]).op(opEndIf)
	case "and_n":
		s.add(subs[0]).op(opNotIf, op0, opElse).add(subs[1]).op(opEndIf)
	case "and_v":
		s.add(subs[0]).add(subs[1])
	case "and_b":
		s.add(subs[0]).add(subs[1]).op(opBoolAnd)
	case "or_b":
		s.add(subs[0]).add(subs[1]).op(opBoolOr)
	case "or_c":
		s.add(subs[0]).op(opNotIf).add(subs[1]).op(opEndIf)
	case "or_d":
		s.add(subs[0]).op(opIfDup, opNotIf).add(subs[1]).op(opEndIf)
	case "or_i":
		s.op(opIf).add(subs[0]).op(opElse).add(subs[1]).op(opEndIf)
	case "thresh":
		s.add(subs[0])
		for _, t := range subs[1:] {
			s.add(t).op(opAdd)
		}
		s.num(int64(n.k)).op(opEqual)
	case "multi", "sortedmulti":
		if n.frag == "sortedmulti" {
			sortKeys(keys)
		}
		s.num(int64(n.k))
		for _, k := range keys {
			s.push(k)
		}
		s.num(int64(len(keys))).op(opCheckMultisig)
	case "multi_a", "sortedmulti_a":
		if n.frag == "sortedmulti_a" {
			sortKeys(keys)
		}
		for i, k := range keys {
			s.push(k)
			if i == 0 {
				s.op(opCheckSig)
			} else {
				s.op(opCheckSigAdd)
			}
		}
		s.num(int64(n.k)).op(opNumEqual)
	case "a":
		s.op(opToAltStack).add(subs[0]).op(opFromAltStack)
	case "s":
		s.op(opSwap).add(subs[0])
	case "c":
		s.add(subs[0]).op(opCheckSig)
	case "t":
		s.add(subs[0]).op(op1)
	case "d":
		s.op(opDup, opIf).add(subs[0]).op(opEndIf)
	case "v":
		s.add(subs[0])
		if v, ok := verifyForm[s.last]; ok {
			s.b[len(s.b)-1] = v
			s.last = v
		} else {
			s.op(opVerify)
		}
	case "j":
		s.op(opSize, op0NotEqual, opIf).add(subs[0]).op(opEndIf)
	case "n":
		s.add(subs[0]).op(op0NotEqual)
	case "l":
		s.op(opIf, op0, opElse).add(subs[0]).op(opEndIf)
	case "u":
		s.op(opIf).add(subs[0]).op(opElse, op0, opEndIf)
	default:
		return s, fmt.Errorf("cannot compile %s", n.frag)
	}
	return s, nil
}

func sortKeys(keys [][]byte) {
	sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 })
}

// leafHash is BIP-341's tapleaf hash of a script of leaf version v.
func leafHash(v byte, script []byte) [32]byte {
	return taggedHash("TapLeaf", appendBytes([]byte{v}, script))
}

// tapLeafVersion is BIP-342's leaf version.
const tapLeafVersion = 0xc0

// taggedHash is BIP-340's SHA256(SHA256(tag) || SHA256(tag) || msg).
func taggedHash(tag string, msg ...[]byte) [32]byte {
	t := sha256.Sum256([]byte(tag))
	h := sha256.New()
	h.Write(t[:])
	h.Write(t[:])
	for _, m := range msg {
		h.Write(m)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// Timelock kinds a miniscript can need (BIP-379 "Timelock Type Mixing"):
// relative and absolute, each by time or by height.
const (
	tlCSVTime = 1 << iota
	tlCSVHeight
	tlCLTVTime
	tlCLTVHeight
)

// msSafety is the rest of BIP-379's analysis: the malleability properties
// s (every satisfaction needs a signature), f (forced: no
// dissatisfaction), e (expressive: a unique dissatisfaction), whether every
// fragment's non-malleability requirement holds (m), the timelock kinds
// the fragment may need, and whether none of its conjunctions mixes a time
// lock with a height lock of the same sort (k).
type msSafety struct {
	s, f, e, m, k bool
	tl            int
}

// tlConflict reports whether two conjuncts mix time and height locks.
func tlConflict(a, b int) bool {
	return a&tlCSVTime != 0 && b&tlCSVHeight != 0 || a&tlCSVHeight != 0 && b&tlCSVTime != 0 ||
		a&tlCLTVTime != 0 && b&tlCLTVHeight != 0 || a&tlCLTVHeight != 0 && b&tlCLTVTime != 0
}

// safety computes msSafety bottom-up (BIP-379's malleability table).
func safety(n *node) msSafety {
	sub := make([]msSafety, len(n.subs))
	m, k, tl := true, true, 0
	for i, c := range n.subs {
		sub[i] = safety(c)
		m = m && sub[i].m
		k = k && sub[i].k
		tl |= sub[i].tl
	}
	var x, y, z msSafety
	if len(sub) > 0 {
		x = sub[0]
	}
	if len(sub) > 1 {
		y = sub[1]
	}
	if len(sub) > 2 {
		z = sub[2]
	}
	zero := msSafety{s: true, e: true, m: true, k: true}
	r := msSafety{m: m, k: k, tl: tl}
	switch n.frag {
	case "0":
		r.s, r.e = true, true
	case "1":
		r.f = true
	case "pk_k", "pk_h", "pk", "pkh", "multi", "multi_a", "sortedmulti", "sortedmulti_a":
		r.s, r.e = true, true
	case "older":
		r.f = true
		if n.k&(1<<22) != 0 {
			r.tl = tlCSVTime
		} else {
			r.tl = tlCSVHeight
		}
	case "after":
		r.f = true
		if n.k >= 500000000 {
			r.tl = tlCLTVTime
		} else {
			r.tl = tlCLTVHeight
		}
	case "sha256", "hash256", "ripemd160", "hash160":
	case "andor", "and_n":
		if n.frag == "and_n" {
			z = zero
		}
		r.m = r.m && x.e && (x.s || y.s || z.s)
		r.s = z.s && (x.s || y.s)
		r.f = z.f && (x.s || y.f)
		r.e = z.e && (x.s || y.f)
		r.k = r.k && !tlConflict(x.tl, y.tl)
	case "and_v":
		r.s, r.f = x.s || y.s, x.s || y.f
		r.k = r.k && !tlConflict(x.tl, y.tl)
	case "and_b":
		r.s = x.s || y.s
		r.f = x.f && y.f || x.s && x.f || y.s && y.f
		r.e = x.e && y.e && x.s && y.s
		r.k = r.k && !tlConflict(x.tl, y.tl)
	case "or_b":
		r.m = r.m && x.e && y.e && (x.s || y.s)
		r.s, r.e = x.s && y.s, true
	case "or_c":
		r.m = r.m && x.e && (x.s || y.s)
		r.s, r.f = x.s && y.s, true
	case "or_d":
		r.m = r.m && x.e && (x.s || y.s)
		r.s, r.f, r.e = x.s && y.s, y.f, y.e
	case "or_i":
		r.m = r.m && (x.s || y.s)
		r.s, r.f, r.e = x.s && y.s, x.f && y.f, x.e && y.f || y.e && x.f
	case "thresh":
		nonS, allS := 0, true
		for _, c := range sub {
			r.m = r.m && c.e
			if !c.s {
				nonS++
				allS = false
			}
		}
		r.m = r.m && nonS <= int(n.k)
		r.s, r.e = nonS <= int(n.k)-1, allS
		if n.k >= 2 {
			for i := range sub {
				for j := i + 1; j < len(sub); j++ {
					r.k = r.k && !tlConflict(sub[i].tl, sub[j].tl)
				}
			}
		}
	case "a", "s", "n":
		r.s, r.f, r.e = x.s, x.f, x.e
	case "c":
		r.s, r.f, r.e = true, x.f, x.e
	case "d":
		r.s, r.e = x.s, true
	case "v":
		r.s, r.f = x.s, true
	case "j":
		r.s, r.e = x.s, x.f
	case "t": // and_v(X,1)
		r.s, r.f = x.s, true
	case "l", "u": // or_i(0,X), or_i(X,0)
		r.s, r.e = x.s, x.f
	}
	return r
}

// Resource limits the app checks on a miniscript (is_miniscript_sane, with
// P2WSH's limits for tapscript too): at most 201 non-push opcodes counted
// with the keys of the CHECKMULTISIGs a satisfaction executes, and at most
// 100 witness elements to satisfy it (Bitcoin Core's MAX_OPS_PER_SCRIPT
// and MAX_STANDARD_P2WSH_STACK_ITEMS). The counts follow the miniscript
// resource model of BIP-379 ("Resource Limitations") and Bitcoin Core's
// miniscript.h.
const (
	maxOpsPerScript     = 201
	maxStandardP2WSHStk = 100
)

// msCost is a pair of counts for the satisfaction and the
// dissatisfaction; -1 when there is none.
type msCost struct{ sat, dsat int }

func addCost(a, b int) int {
	if a < 0 || b < 0 {
		return -1
	}
	return a + b
}

func maxCost(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// msResources is a node's ops (beyond the script's own opcodes: the keys
// of executed CHECKMULTISIGs) and its stack needs.
type msResources struct {
	ops, stack msCost
}

// resources computes msResources bottom-up.
func resources(n *node) msResources {
	sub := make([]msResources, len(n.subs))
	for i, c := range n.subs {
		sub[i] = resources(c)
	}
	var x, y, z msResources
	if len(sub) > 0 {
		x = sub[0]
	}
	if len(sub) > 1 {
		y = sub[1]
	}
	if len(sub) > 2 {
		z = sub[2]
	}
	zero := msResources{ops: msCost{-1, 0}, stack: msCost{-1, 0}}
	switch n.frag {
	case "0":
		return zero
	case "1":
		return msResources{ops: msCost{0, -1}, stack: msCost{0, -1}}
	case "pk_k", "pk", "multi_a", "sortedmulti_a":
		st := 1
		if len(n.keys) > 1 {
			st = len(n.keys)
		}
		return msResources{ops: msCost{0, 0}, stack: msCost{st, st}}
	case "pk_h", "pkh":
		return msResources{ops: msCost{0, 0}, stack: msCost{2, 2}}
	case "multi", "sortedmulti":
		k := len(n.keys)
		return msResources{ops: msCost{k, k}, stack: msCost{int(n.k) + 1, int(n.k) + 1}}
	case "older", "after":
		return msResources{ops: msCost{0, -1}, stack: msCost{0, -1}}
	case "sha256", "hash256", "ripemd160", "hash160":
		return msResources{ops: msCost{0, -1}, stack: msCost{1, -1}}
	case "andor", "and_n":
		if n.frag == "and_n" {
			z = zero
		}
		f := func(x, y, z msCost) msCost {
			return msCost{maxCost(addCost(x.sat, y.sat), addCost(x.dsat, z.sat)), addCost(x.dsat, z.dsat)}
		}
		return msResources{f(x.ops, y.ops, z.ops), f(x.stack, y.stack, z.stack)}
	case "and_v", "t":
		if n.frag == "t" {
			y = msResources{ops: msCost{0, -1}, stack: msCost{0, -1}}
		}
		return msResources{msCost{addCost(x.ops.sat, y.ops.sat), -1}, msCost{addCost(x.stack.sat, y.stack.sat), -1}}
	case "and_b":
		f := func(x, y msCost) msCost { return msCost{addCost(x.sat, y.sat), addCost(x.dsat, y.dsat)} }
		return msResources{f(x.ops, y.ops), f(x.stack, y.stack)}
	case "or_b":
		f := func(x, z msCost) msCost {
			return msCost{maxCost(addCost(x.sat, z.dsat), addCost(x.dsat, z.sat)), addCost(x.dsat, z.dsat)}
		}
		return msResources{f(x.ops, y.ops), f(x.stack, y.stack)}
	case "or_c", "or_d":
		f := func(x, z msCost) msCost {
			c := msCost{maxCost(x.sat, addCost(x.dsat, z.sat)), addCost(x.dsat, z.dsat)}
			if n.frag == "or_c" {
				c.dsat = -1
			}
			return c
		}
		return msResources{f(x.ops, y.ops), f(x.stack, y.stack)}
	case "or_i", "l", "u":
		if n.frag == "l" {
			x, y = zero, x
		} else if n.frag == "u" {
			y = zero
		}
		// The branch selector is one more witness element.
		return msResources{
			ops:   msCost{maxCost(x.ops.sat, y.ops.sat), maxCost(x.ops.dsat, y.ops.dsat)},
			stack: msCost{addCost(maxCost(x.stack.sat, y.stack.sat), 1), addCost(maxCost(x.stack.dsat, y.stack.dsat), 1)},
		}
	case "thresh":
		// best[j] is the most any choice of exactly j satisfied
		// children costs; the rest are dissatisfied.
		pick := func(get func(msResources) msCost) msCost {
			best := []int{0}
			for _, c := range sub {
				cc := get(c)
				next := make([]int, len(best)+1)
				for j := range next {
					next[j] = -1
					if j < len(best) {
						next[j] = addCost(best[j], cc.dsat)
					}
					if j > 0 {
						next[j] = maxCost(next[j], addCost(best[j-1], cc.sat))
					}
				}
				best = next
			}
			return msCost{best[n.k], best[0]}
		}
		return msResources{pick(func(r msResources) msCost { return r.ops }), pick(func(r msResources) msCost { return r.stack })}
	case "a", "s", "c", "n":
		return x
	case "d":
		return msResources{ops: msCost{x.ops.sat, 0}, stack: msCost{addCost(x.stack.sat, 1), 1}}
	case "v":
		return msResources{ops: msCost{x.ops.sat, -1}, stack: msCost{x.stack.sat, -1}}
	case "j":
		return msResources{ops: msCost{x.ops.sat, 0}, stack: msCost{x.stack.sat, 1}}
	}
	return msResources{ops: msCost{-1, -1}, stack: msCost{-1, -1}}
}

// opCount counts a script's non-push opcodes (those above OP_16), as
// consensus counts them toward MAX_OPS_PER_SCRIPT.
func opCount(script []byte) int {
	n := 0
	for i := 0; i < len(script); {
		op := script[i]
		i++
		switch {
		case op >= 1 && op <= 0x4b:
			i += int(op)
		case op == 0x4c && i < len(script):
			i += 1 + int(script[i])
		case op == 0x4d && i+1 < len(script):
			i += 2 + (int(script[i]) | int(script[i+1])<<8)
		case op > op1+15:
			n++
		}
	}
	return n
}
