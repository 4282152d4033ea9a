package coldcard

// Miniscript and taproot descriptors as the EDGE firmware enrols them
// (shared/descriptor.py, shared/miniscript.py, shared/desc_utils.py on the
// new_edge branch of github.com/Coldcard/firmware, commit 8919b84a), written
// from BIP-379 (miniscript), BIP-380/386/387 (descriptors, tr, multi_a) and
// BIP-341/342. Only what a wallet needs: wsh(MINISCRIPT) and
// tr(KEY[,TREE]) with miniscript leaves, and (6.5.0X+, musig.go) a musig()
// internal key; no sh(), no musig() in leaves.

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/txscript"
)

// msKey is one key expression: an xpub with its origin and the two
// branches of its <a;b>/* step, or (older firmware, taproot internal key
// only) a static public key.
type msKey struct {
	xfp      uint32 // origin fingerprint as the firmware's number
	deriv    []uint32
	xpub     *hdkeychain.ExtendedKey
	branches [2]uint32 // receive, change
	static   []byte    // x-only or compressed static key; xpub is nil
	musig    bool      // a participant of the musig() internal key: not derived
	text     string
}

// msNode is one miniscript fragment with its wrappers.
type msNode struct {
	wrap string // wrappers, outermost first ("v", "sln", ...)
	frag string
	k    int      // threshold or time lock
	keys []int    // indexes into the wallet's keys
	subs []msNode // sub-expressions
}

// tapTree is a taproot script tree: a leaf or two branches.
type tapTree struct {
	leaf        *msNode
	left, right *tapTree
}

// descChecksum is BIP-380's descriptor checksum.
func descChecksum(s string) (string, error) {
	const inputCharset = "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ "
	const checksumCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	gen := [5]uint64{0xf5dee51989, 0xa9fdca3312, 0x1bab10e32d, 0x3706b1677a, 0x644d626ffd}
	polymod := func(c, val uint64) uint64 {
		c0 := c >> 35
		c = (c&0x7ffffffff)<<5 ^ val
		for i := range gen {
			if c0>>i&1 != 0 {
				c ^= gen[i]
			}
		}
		return c
	}
	c, cls, clsCount := uint64(1), uint64(0), 0
	for _, ch := range []byte(s) {
		pos := strings.IndexByte(inputCharset, ch)
		if pos < 0 {
			return "", fmt.Errorf("character %q not allowed in a descriptor", ch)
		}
		c = polymod(c, uint64(pos&31))
		cls = cls*3 + uint64(pos>>5)
		if clsCount++; clsCount == 3 {
			c = polymod(c, cls)
			cls, clsCount = 0, 0
		}
	}
	if clsCount > 0 {
		c = polymod(c, cls)
	}
	for range 8 {
		c = polymod(c, 0)
	}
	c ^= 1
	out := make([]byte, 8)
	for j := range out {
		out[j] = checksumCharset[c>>(5*(7-j))&31]
	}
	return string(out), nil
}

// stripChecksum checks and removes a "#checksum" suffix.
func stripChecksum(s string) (string, error) {
	body, sum, has := strings.Cut(s, "#")
	if !has {
		return s, nil
	}
	want, err := descChecksum(body)
	if err != nil {
		return "", err
	}
	if sum != want {
		return "", fmt.Errorf("Wrong checksum %s, expected %s", sum, want)
	}
	return body, nil
}

// descParser reads a descriptor left to right.
type descParser struct {
	s    string
	pos  int
	keys []msKey
	tap  bool
	e    *Emulator
	// keyFn, when set, resolves key expressions instead of parseKey (the
	// tests' single-letter keys of the BIP-379 vectors).
	keyFn func(text string) (msKey, error)
}

func (p *descParser) fail(format string, a ...any) error {
	return fmt.Errorf("descriptor at %d: %s", p.pos, fmt.Sprintf(format, a...))
}

func (p *descParser) eat(s string) bool {
	if strings.HasPrefix(p.s[p.pos:], s) {
		p.pos += len(s)
		return true
	}
	return false
}

func (p *descParser) expect(s string) error {
	if !p.eat(s) {
		return p.fail("expected %q", s)
	}
	return nil
}

// until returns the text up to the first of stops, not consuming it.
func (p *descParser) until(stops string) string {
	start := p.pos
	for p.pos < len(p.s) && !strings.ContainsRune(stops, rune(p.s[p.pos])) {
		p.pos++
	}
	return p.s[start:p.pos]
}

// key parses a key expression and returns its index.
func (p *descParser) key(static bool) (int, error) {
	text := p.until(",){}")
	if strings.HasPrefix(text, "musig(") {
		return 0, p.fail("musig() in a script leaf is not modelled by the emulator")
	}
	if p.keyFn != nil {
		k, err := p.keyFn(text)
		if err != nil {
			return 0, p.fail("%v", err)
		}
		p.keys = append(p.keys, k)
		return len(p.keys) - 1, nil
	}
	k, err := p.e.parseKey(text, static)
	if err != nil {
		return 0, p.fail("%v", err)
	}
	for _, o := range p.keys {
		if o.text == k.text && !o.musig {
			return 0, p.fail("Insane policy: duplicate key %s", text)
		}
	}
	p.keys = append(p.keys, k)
	return len(p.keys) - 1, nil
}

// parsePathSteps reads "48h/1h/0h/2h" style steps.
func parsePathSteps(s string) ([]uint32, error) {
	if s == "" {
		return nil, nil
	}
	var out []uint32
	for _, part := range strings.Split(s, "/") {
		hard := uint32(0)
		if n := len(part); n > 0 && strings.ContainsRune("hH'", rune(part[n-1])) {
			hard, part = hdkeychain.HardenedKeyStart, part[:n-1]
		}
		v, err := strconv.ParseUint(part, 10, 32)
		if err != nil || v >= hdkeychain.HardenedKeyStart {
			return nil, fmt.Errorf("bad derivation step %q", part)
		}
		out = append(out, uint32(v)+hard)
	}
	return out, nil
}

// parseKey reads "[xfp/path]xpub[/<a;b>/*]" (the firmware implies /<0;1>/*
// when the suffix is left out), or a static hex key where allowed.
func (e *Emulator) parseKey(text string, static bool) (msKey, error) {
	k := msKey{text: text}
	rest := text
	if strings.HasPrefix(rest, "[") {
		origin, after, ok := strings.Cut(rest[1:], "]")
		if !ok {
			return k, errors.New("Invalid key - missing ] in key origin info")
		}
		fpHex, path, _ := strings.Cut(origin, "/")
		fp, err := hex.DecodeString(fpHex)
		if err != nil || len(fp) != 4 {
			return k, fmt.Errorf("bad fingerprint %q", fpHex)
		}
		k.xfp = uint32(fp[0]) | uint32(fp[1])<<8 | uint32(fp[2])<<16 | uint32(fp[3])<<24
		if k.deriv, err = parsePathSteps(path); err != nil {
			return k, err
		}
		rest = after
	}
	if len(rest) == 64 || len(rest) == 66 {
		if _, err := hex.DecodeString(rest); err == nil {
			if !static || !e.fw.staticKeys() {
				return k, errors.New("only extended pubkeys allowed")
			}
			k.static, _ = hex.DecodeString(rest)
			return k, nil
		}
	}
	xpub, suffix, _ := strings.Cut(rest, "/")
	x, err := hdkeychain.NewKeyFromString(xpub)
	if err != nil {
		return k, errors.New("only extended pubkeys allowed")
	}
	if x.IsPrivate() {
		return k, errors.New("no privkeys")
	}
	if !x.IsForNet(e.net) {
		return k, errors.New("wrong chain")
	}
	k.xpub = x
	switch {
	case suffix == "":
		k.branches = [2]uint32{0, 1}
	case strings.HasPrefix(suffix, "<") && strings.HasSuffix(suffix, ">/*"):
		a, b, ok := strings.Cut(suffix[1:len(suffix)-3], ";")
		va, err1 := strconv.ParseUint(a, 10, 31)
		vb, err2 := strconv.ParseUint(b, 10, 31)
		if !ok || err1 != nil || err2 != nil || va == vb {
			return k, fmt.Errorf("bad multipath %q", suffix)
		}
		k.branches = [2]uint32{uint32(va), uint32(vb)}
	default:
		return k, fmt.Errorf("key derivation %q: only /<a;b>/* is allowed", suffix)
	}
	if k.deriv == nil && k.xfp == 0 {
		// Origin-less key: the firmware takes the key's own fingerprint.
		pub, err := x.ECPubKey()
		if err != nil {
			return k, err
		}
		fp := hash160(pub.SerializeCompressed())
		k.xfp = uint32(fp[0]) | uint32(fp[1])<<8 | uint32(fp[2])<<16 | uint32(fp[3])<<24
	} else if len(k.deriv) != int(x.Depth()) {
		return k, fmt.Errorf("deriv len != xpub depth (xfp=%s)", xfpString(k.xfp))
	}
	return k, nil
}

// fragment arity: how many keys, whether a leading number, how many subs.
var fragments = map[string]struct {
	num  bool
	keys int // -1: any number
	subs int // -1: any number
}{
	"pk": {keys: 1}, "pkh": {keys: 1}, "pk_k": {keys: 1}, "pk_h": {keys: 1},
	"older": {num: true}, "after": {num: true},
	"multi": {num: true, keys: -1}, "sortedmulti": {num: true, keys: -1},
	"multi_a": {num: true, keys: -1}, "sortedmulti_a": {num: true, keys: -1},
	"and_v": {subs: 2}, "and_b": {subs: 2}, "or_b": {subs: 2}, "or_c": {subs: 2},
	"or_d": {subs: 2}, "or_i": {subs: 2}, "andor": {subs: 3}, "and_n": {subs: 2},
	"thresh": {num: true, subs: -1},
}

// node parses one miniscript expression.
func (p *descParser) node(depth int) (msNode, error) {
	if depth > 100 {
		return msNode{}, p.fail("too deeply nested")
	}
	var n msNode
	name := p.until("(,){}")
	if w, f, ok := strings.Cut(name, ":"); ok {
		if strings.Trim(w, "asctdvjnlu") != "" || w == "" {
			return n, p.fail("unknown wrapper %q", w)
		}
		n.wrap, name = w, f
	}
	if name == "0" || name == "1" {
		n.frag = name
		return n, nil
	}
	spec, ok := fragments[name]
	if !ok {
		return n, p.fail("unknown fragment %q", name)
	}
	n.frag = name
	if (name == "multi" || name == "sortedmulti") && p.tap {
		return n, p.fail("%s not allowed in tapscript", name)
	}
	if (name == "multi_a" || name == "sortedmulti_a") && !p.tap {
		return n, p.fail("%s only allowed in tapscript", name)
	}
	if err := p.expect("("); err != nil {
		return n, err
	}
	if spec.num {
		v, err := strconv.ParseUint(p.until(",)"), 10, 32)
		if err != nil {
			return n, p.fail("bad number")
		}
		n.k = int(v)
		if name == "older" || name == "after" {
			if v < 1 || v >= 1<<31 {
				return n, p.fail("time lock %d out of range", v)
			}
			// From 6.4.0X, older() must have a consensus meaning
			// (shared/miniscript.py Older.verify, new_edge 8919b84a).
			if name == "older" && p.e != nil && p.e.fw.atLeast(6, 4, 0) {
				if v&(1<<22) != 0 && !(0x400000 < v && v < 0x410000) {
					return n, p.fail("Time-based older out of range [4194305, 4259839]")
				}
				if v&(1<<22) == 0 && !(0 < v && v < 0x10000) {
					return n, p.fail("Block-based older out of range [1, 65535]")
				}
			}
			return n, p.expect(")")
		}
	}
	for count := 0; ; count++ {
		if p.eat(")") {
			break
		}
		if (spec.num || count > 0) && !p.eat(",") {
			return n, p.fail("expected ','")
		}
		if spec.keys != 0 {
			i, err := p.key(false)
			if err != nil {
				return n, err
			}
			n.keys = append(n.keys, i)
		} else {
			s, err := p.node(depth + 1)
			if err != nil {
				return n, err
			}
			n.subs = append(n.subs, s)
		}
	}
	switch {
	case spec.keys > 0 && len(n.keys) != spec.keys,
		spec.subs > 0 && len(n.subs) != spec.subs:
		return n, p.fail("%s: wrong number of arguments", name)
	case spec.keys < 0 && (n.k < 1 || n.k > len(n.keys)),
		name == "thresh" && (n.k < 1 || n.k > len(n.subs)):
		return n, p.fail("%s: threshold %d of %d", name, n.k, max(len(n.keys), len(n.subs)))
	}
	return n, nil
}

// tree parses a taproot script tree; at most depth 4 (8 leaves), the
// firmware's limit (docs/taproot.md).
func (p *descParser) tree(depth int) (*tapTree, error) {
	if depth > 4 {
		return nil, p.fail("taptree deeper than 4")
	}
	if p.eat("{") {
		l, err := p.tree(depth + 1)
		if err != nil {
			return nil, err
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
		r, err := p.tree(depth + 1)
		if err != nil {
			return nil, err
		}
		return &tapTree{left: l, right: r}, p.expect("}")
	}
	n, err := p.node(0)
	if err != nil {
		return nil, err
	}
	return &tapTree{leaf: &n}, nil
}

// script compiles n with the keys given (33-byte keys for wsh, x-only for
// tapscript), BIP-379's translation table.
func (n *msNode) script(b *txscript.ScriptBuilder, keys [][]byte, tap bool) {
	// Wrappers apply innermost (rightmost) first; "v" rewrites the last
	// opcode of what it wraps, so compile the inner part first.
	inner := txscript.NewScriptBuilder()
	n.core(inner, keys, tap)
	body, _ := inner.Script()
	for i := len(n.wrap) - 1; i >= 0; i-- {
		w := txscript.NewScriptBuilder()
		switch n.wrap[i] {
		case 'a':
			w.AddOp(txscript.OP_TOALTSTACK).AddOps(body).AddOp(txscript.OP_FROMALTSTACK)
		case 's':
			w.AddOp(txscript.OP_SWAP).AddOps(body)
		case 'c':
			w.AddOps(body).AddOp(txscript.OP_CHECKSIG)
		case 't':
			w.AddOps(body).AddOp(txscript.OP_1)
		case 'd':
			w.AddOp(txscript.OP_DUP).AddOp(txscript.OP_IF).AddOps(body).AddOp(txscript.OP_ENDIF)
		case 'v':
			w.AddOps(verify(body))
		case 'j':
			w.AddOp(txscript.OP_SIZE).AddOp(txscript.OP_0NOTEQUAL).AddOp(txscript.OP_IF).AddOps(body).AddOp(txscript.OP_ENDIF)
		case 'n':
			w.AddOps(body).AddOp(txscript.OP_0NOTEQUAL)
		case 'l':
			w.AddOp(txscript.OP_IF).AddOp(txscript.OP_0).AddOp(txscript.OP_ELSE).AddOps(body).AddOp(txscript.OP_ENDIF)
		case 'u':
			w.AddOp(txscript.OP_IF).AddOps(body).AddOp(txscript.OP_ELSE).AddOp(txscript.OP_0).AddOp(txscript.OP_ENDIF)
		}
		body, _ = w.Script()
	}
	b.AddOps(body)
}

// verify is the "v:" wrapper: the last CHECKSIG, CHECKMULTISIG, EQUAL or
// NUMEQUAL becomes its VERIFY form, anything else gets OP_VERIFY.
func verify(s []byte) []byte {
	out := append([]byte(nil), s...)
	if len(out) > 0 {
		last := &out[len(out)-1]
		switch *last {
		case txscript.OP_CHECKSIG, txscript.OP_CHECKMULTISIG, txscript.OP_EQUAL, txscript.OP_NUMEQUAL:
			*last++ // each VERIFY form is the next opcode
			return out
		}
	}
	return append(out, txscript.OP_VERIFY)
}

func (n *msNode) core(b *txscript.ScriptBuilder, keys [][]byte, tap bool) {
	sub := func(i int) { n.subs[i].script(b, keys, tap) }
	switch n.frag {
	case "0":
		b.AddOp(txscript.OP_0)
	case "1":
		b.AddOp(txscript.OP_1)
	case "pk_k":
		b.AddData(keys[n.keys[0]])
	case "pk":
		b.AddData(keys[n.keys[0]]).AddOp(txscript.OP_CHECKSIG)
	case "pk_h":
		b.AddOp(txscript.OP_DUP).AddOp(txscript.OP_HASH160).AddData(hash160(keys[n.keys[0]])).AddOp(txscript.OP_EQUALVERIFY)
	case "pkh":
		b.AddOp(txscript.OP_DUP).AddOp(txscript.OP_HASH160).AddData(hash160(keys[n.keys[0]])).AddOp(txscript.OP_EQUALVERIFY).AddOp(txscript.OP_CHECKSIG)
	case "older":
		b.AddInt64(int64(n.k)).AddOp(txscript.OP_CHECKSEQUENCEVERIFY)
	case "after":
		b.AddInt64(int64(n.k)).AddOp(txscript.OP_CHECKLOCKTIMEVERIFY)
	case "multi", "sortedmulti":
		ks := n.keyBytes(keys)
		b.AddInt64(int64(n.k))
		for _, k := range ks {
			b.AddData(k)
		}
		b.AddInt64(int64(len(ks))).AddOp(txscript.OP_CHECKMULTISIG)
	case "multi_a", "sortedmulti_a":
		for i, k := range n.keyBytes(keys) {
			b.AddData(k)
			if i == 0 {
				b.AddOp(txscript.OP_CHECKSIG)
			} else {
				b.AddOp(txscript.OP_CHECKSIGADD)
			}
		}
		b.AddInt64(int64(n.k)).AddOp(txscript.OP_NUMEQUAL)
	case "and_v":
		sub(0)
		sub(1)
	case "and_b":
		sub(0)
		sub(1)
		b.AddOp(txscript.OP_BOOLAND)
	case "or_b":
		sub(0)
		sub(1)
		b.AddOp(txscript.OP_BOOLOR)
	case "or_c":
		sub(0)
		b.AddOp(txscript.OP_NOTIF)
		sub(1)
		b.AddOp(txscript.OP_ENDIF)
	case "or_d":
		sub(0)
		b.AddOp(txscript.OP_IFDUP).AddOp(txscript.OP_NOTIF)
		sub(1)
		b.AddOp(txscript.OP_ENDIF)
	case "or_i":
		b.AddOp(txscript.OP_IF)
		sub(0)
		b.AddOp(txscript.OP_ELSE)
		sub(1)
		b.AddOp(txscript.OP_ENDIF)
	case "andor":
		sub(0)
		b.AddOp(txscript.OP_NOTIF)
		sub(2)
		b.AddOp(txscript.OP_ELSE)
		sub(1)
		b.AddOp(txscript.OP_ENDIF)
	case "and_n": // andor(X,Y,0)
		sub(0)
		b.AddOp(txscript.OP_NOTIF).AddOp(txscript.OP_0).AddOp(txscript.OP_ELSE)
		sub(1)
		b.AddOp(txscript.OP_ENDIF)
	case "thresh":
		for i := range n.subs {
			sub(i)
			if i > 0 {
				b.AddOp(txscript.OP_ADD)
			}
		}
		b.AddInt64(int64(n.k)).AddOp(txscript.OP_EQUAL)
	}
}

// keyBytes are n's keys, sorted for the sorted forms.
func (n *msNode) keyBytes(keys [][]byte) [][]byte {
	out := make([][]byte, len(n.keys))
	for i, k := range n.keys {
		out[i] = keys[k]
	}
	if strings.HasPrefix(n.frag, "sorted") {
		for i := 1; i < len(out); i++ {
			for j := i; j > 0 && bytes.Compare(out[j-1], out[j]) > 0; j-- {
				out[j-1], out[j] = out[j], out[j-1]
			}
		}
	}
	return out
}

// usesKey reports whether key index i appears in n.
func (n *msNode) usesKey(i int) bool {
	for _, k := range n.keys {
		if k == i {
			return true
		}
	}
	for j := range n.subs {
		if n.subs[j].usesKey(i) {
			return true
		}
	}
	return false
}
