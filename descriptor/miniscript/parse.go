package miniscript

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
)

// ErrInvalid wraps every error about a miniscript that is not valid:
// syntax, arguments, the type system, or a script over the size limit.
var ErrInvalid = errors.New("miniscript: invalid")

// maxNesting bounds the recursion depth of the parser and the decoder, so
// hostile input cannot exhaust the stack. A P2WSH script of 3600 bytes
// cannot nest deeper than this; tapscripts that do are refused.
const maxNesting = 2000

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// PubKey is a literal serialized public key: 33-byte compressed, or 32-byte
// x-only in Tapscript. It is the Key that ParseHexKey and Decode produce.
type PubKey []byte

// String returns the key in lowercase hex.
func (p PubKey) String() string { return hex.EncodeToString(p) }

// PubKeyBytes is the KeyBytes for PubKey keys.
func PubKeyBytes(k Key) ([]byte, error) {
	p, ok := k.(PubKey)
	if !ok {
		return nil, fmt.Errorf("miniscript: key %s is not a literal public key", k)
	}
	return p, nil
}

// HexKeyParser returns the KeyParser for literal hex public keys in ctx: a
// valid compressed key in P2WSH; an x-only or compressed key in Tapscript.
func HexKeyParser(ctx Context) KeyParser {
	return func(expr string) (Key, error) {
		b, err := hex.DecodeString(expr)
		if err != nil {
			return nil, fmt.Errorf("key %q is not hex", expr)
		}
		return checkPubKey(ctx, b)
	}
}

// checkPubKey validates a serialized key for ctx.
func checkPubKey(ctx Context, b []byte) (PubKey, error) {
	switch {
	case len(b) == 33 && (b[0] == 2 || b[0] == 3):
		if _, err := btcec.ParsePubKey(b); err != nil {
			return nil, fmt.Errorf("key %x is not on the curve", b)
		}
	case len(b) == 32 && ctx == Tapscript:
		if _, err := schnorr.ParsePubKey(b); err != nil {
			return nil, fmt.Errorf("x-only key %x is not on the curve", b)
		}
	default:
		return nil, fmt.Errorf("key %x has %d bytes, not a %s key", b, len(b), ctx)
	}
	return PubKey(b), nil
}

// Parse parses a miniscript expression for ctx. Every key expression is
// handed to parseKey (nil means HexKeyParser(ctx)). The result is a valid
// miniscript (well typed, type B at the top, script within the context's
// size limit); whether it is also safe to use is IsSane's question.
func Parse(s string, ctx Context, parseKey KeyParser) (*Node, error) {
	if parseKey == nil {
		parseKey = HexKeyParser(ctx)
	}
	p := &parser{s: s, ctx: ctx, parseKey: parseKey}
	n, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if p.pos != len(s) {
		return nil, invalidf("unexpected %q at offset %d", p.rest(), p.pos)
	}
	if err := n.checkValidTopLevel(); err != nil {
		return nil, err
	}
	return n, nil
}

// checkValidTopLevel is Core's IsValidTopLevel: every node typed, B at the
// top, script within the context's limit.
func (n *Node) checkValidTopLevel() error {
	if bad := n.firstUntyped(); bad != nil {
		return invalidf("%s does not type-check (%s)", bad, typeHint(bad))
	}
	if !n.typ.Has(TypeB) {
		return invalidf("top level must be of type B, %s is %s", n, n.typ)
	}
	if n.size > n.ctx.maxScriptSize() {
		return invalidf("script is %d bytes, over the %s limit of %d", n.size, n.ctx, n.ctx.maxScriptSize())
	}
	return nil
}

func (c Context) maxScriptSize() int {
	if c == Tapscript {
		return MaxTapscriptScriptSize
	}
	return MaxP2WSHScriptSize
}

// firstUntyped returns the innermost node whose fragment requirements fail.
func (n *Node) firstUntyped() *Node {
	for _, s := range n.Subs {
		if b := s.firstUntyped(); b != nil {
			return b
		}
	}
	if n.typ == 0 {
		return n
	}
	return nil
}

// typeHint names the subexpression types of an ill-typed node.
func typeHint(n *Node) string {
	var parts []string
	for _, s := range n.Subs {
		parts = append(parts, s.typ.String())
	}
	return fmt.Sprintf("%s of [%s]", n.Frag, strings.Join(parts, " "))
}

type parser struct {
	s        string
	pos      int
	ctx      Context
	parseKey KeyParser
}

func (p *parser) rest() string {
	r := p.s[p.pos:]
	if len(r) > 20 {
		r = r[:20] + "..."
	}
	return r
}

func (p *parser) expect(c byte) error {
	if p.pos >= len(p.s) || p.s[p.pos] != c {
		if p.pos >= len(p.s) {
			return invalidf("expected %q at end of input", c)
		}
		return invalidf("expected %q at offset %d, got %q", c, p.pos, p.rest())
	}
	p.pos++
	return nil
}

// ident reads a fragment name or wrapper prefix.
func (p *parser) ident() string {
	start := p.pos
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' {
			p.pos++
			continue
		}
		break
	}
	return p.s[start:p.pos]
}

// arg reads one raw argument (a key expression or a number) up to the next
// ',' or ')' outside brackets.
func (p *parser) arg() (string, error) {
	start, depth := p.pos, 0
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case '(', '[', '{':
			depth++
		case ']', '}':
			depth--
		case ')':
			if depth == 0 {
				return p.s[start:p.pos], nil
			}
			depth--
		case ',':
			if depth == 0 {
				return p.s[start:p.pos], nil
			}
		}
		p.pos++
	}
	return "", invalidf("unterminated argument list")
}

func (p *parser) node(frag Fragment, k uint32, keys []Key, hash []byte, subs ...*Node) *Node {
	return newNode(p.ctx, frag, k, keys, hash, subs...)
}

// expr parses one expression, wrappers included.
func (p *parser) expr(depth int) (*Node, error) {
	if depth > maxNesting {
		return nil, invalidf("nesting deeper than %d", maxNesting)
	}
	start := p.pos
	name := p.ident()
	if p.pos < len(p.s) && p.s[p.pos] == ':' {
		if name == "" {
			return nil, invalidf("empty wrapper prefix at offset %d", start)
		}
		p.pos++
		inner, err := p.expr(depth + 1)
		if err != nil {
			return nil, err
		}
		// Wrappers apply right to left: "dv:X" is d:(v:X).
		for i := len(name) - 1; i >= 0; i-- {
			if inner, err = p.wrap(name[i], inner); err != nil {
				return nil, err
			}
		}
		return inner, nil
	}
	switch name {
	case "0":
		return p.node(Just0, 0, nil, nil), nil
	case "1":
		return p.node(Just1, 0, nil, nil), nil
	case "":
		return nil, invalidf("expected an expression at offset %d, got %q", p.pos, p.rest())
	}
	if err := p.expect('('); err != nil {
		return nil, err
	}
	n, err := p.call(name, depth)
	if err != nil {
		return nil, err
	}
	if err := p.expect(')'); err != nil {
		return nil, err
	}
	return n, nil
}

func (p *parser) wrap(c byte, x *Node) (*Node, error) {
	switch c {
	case 'a':
		return p.node(WrapA, 0, nil, nil, x), nil
	case 's':
		return p.node(WrapS, 0, nil, nil, x), nil
	case 'c':
		return p.node(WrapC, 0, nil, nil, x), nil
	case 'd':
		return p.node(WrapD, 0, nil, nil, x), nil
	case 'v':
		return p.node(WrapV, 0, nil, nil, x), nil
	case 'j':
		return p.node(WrapJ, 0, nil, nil, x), nil
	case 'n':
		return p.node(WrapN, 0, nil, nil, x), nil
	case 't':
		return p.node(AndV, 0, nil, nil, x, p.node(Just1, 0, nil, nil)), nil
	case 'l':
		return p.node(OrI, 0, nil, nil, p.node(Just0, 0, nil, nil), x), nil
	case 'u':
		return p.node(OrI, 0, nil, nil, x, p.node(Just0, 0, nil, nil)), nil
	}
	return nil, invalidf("unknown wrapper %q", string(c))
}

func (p *parser) key() (Key, error) {
	a, err := p.arg()
	if err != nil {
		return nil, err
	}
	if a == "" {
		return nil, invalidf("empty key expression at offset %d", p.pos)
	}
	k, err := p.parseKey(a)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return k, nil
}

// number reads a decimal without sign or leading zeros, as BIP-379
// arguments are written.
func (p *parser) number() (uint32, error) {
	a, err := p.arg()
	if err != nil {
		return 0, err
	}
	if a == "" || (len(a) > 1 && a[0] == '0') {
		return 0, invalidf("bad number %q", a)
	}
	for _, c := range a {
		if c < '0' || c > '9' {
			return 0, invalidf("bad number %q", a)
		}
	}
	v, err := strconv.ParseUint(a, 10, 32)
	if err != nil {
		return 0, invalidf("number %q out of range", a)
	}
	return uint32(v), nil
}

// subs parses n comma-separated subexpressions.
func (p *parser) subs(n, depth int) ([]*Node, error) {
	out := make([]*Node, 0, n)
	for i := 0; i < n; i++ {
		if i > 0 {
			if err := p.expect(','); err != nil {
				return nil, err
			}
		}
		s, err := p.expr(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *parser) call(name string, depth int) (*Node, error) {
	switch name {
	case "pk_k", "pk_h", "pk", "pkh":
		k, err := p.key()
		if err != nil {
			return nil, err
		}
		switch name {
		case "pk_k":
			return p.node(PkK, 0, []Key{k}, nil), nil
		case "pk_h":
			return p.node(PkH, 0, []Key{k}, nil), nil
		case "pk":
			return p.node(WrapC, 0, nil, nil, p.node(PkK, 0, []Key{k}, nil)), nil
		}
		return p.node(WrapC, 0, nil, nil, p.node(PkH, 0, []Key{k}, nil)), nil
	case "older", "after":
		v, err := p.number()
		if err != nil {
			return nil, err
		}
		if v < 1 || v >= 1<<31 {
			return nil, invalidf("%s(%d): the value must be in 1..2^31-1", name, v)
		}
		if name == "older" {
			return p.node(Older, v, nil, nil), nil
		}
		return p.node(After, v, nil, nil), nil
	case "sha256", "hash256", "ripemd160", "hash160":
		a, err := p.arg()
		if err != nil {
			return nil, err
		}
		want := 32
		frag := map[string]Fragment{"sha256": Sha256, "hash256": Hash256, "ripemd160": Ripemd160, "hash160": Hash160}[name]
		if frag == Ripemd160 || frag == Hash160 {
			want = 20
		}
		h, err := hex.DecodeString(a)
		if err != nil || len(h) != want {
			return nil, invalidf("%s needs a %d-byte hex digest, got %q", name, want, a)
		}
		return p.node(frag, 0, nil, h), nil
	case "multi", "multi_a":
		if name == "multi" && p.ctx == Tapscript {
			return nil, invalidf("multi is not available in tapscript; use multi_a")
		}
		if name == "multi_a" && p.ctx == P2WSH {
			return nil, invalidf("multi_a is only available in tapscript; use multi")
		}
		k, err := p.number()
		if err != nil {
			return nil, err
		}
		var keys []Key
		for p.pos < len(p.s) && p.s[p.pos] == ',' {
			p.pos++
			key, err := p.key()
			if err != nil {
				return nil, err
			}
			keys = append(keys, key)
		}
		limit, frag := MaxMultiKeys, Multi
		if name == "multi_a" {
			limit, frag = MaxMultiAKeys, MultiA
		}
		if len(keys) == 0 || len(keys) > limit {
			return nil, invalidf("%s needs 1 to %d keys, got %d", name, limit, len(keys))
		}
		if k < 1 || int(k) > len(keys) {
			return nil, invalidf("%s threshold %d out of range 1..%d", name, k, len(keys))
		}
		return p.node(frag, k, keys, nil), nil
	case "thresh":
		k, err := p.number()
		if err != nil {
			return nil, err
		}
		var subs []*Node
		for p.pos < len(p.s) && p.s[p.pos] == ',' {
			p.pos++
			s, err := p.expr(depth + 1)
			if err != nil {
				return nil, err
			}
			subs = append(subs, s)
		}
		if len(subs) == 0 || k < 1 || int(k) > len(subs) {
			return nil, invalidf("thresh(%d) with %d subexpressions: need 1 <= k <= n", k, len(subs))
		}
		return p.node(Thresh, k, nil, nil, subs...), nil
	case "andor", "and_v", "and_b", "and_n", "or_b", "or_c", "or_d", "or_i":
		count := 2
		if name == "andor" {
			count = 3
		}
		subs, err := p.subs(count, depth)
		if err != nil {
			return nil, err
		}
		switch name {
		case "andor":
			return p.node(AndOr, 0, nil, nil, subs...), nil
		case "and_n":
			return p.node(AndOr, 0, nil, nil, subs[0], subs[1], p.node(Just0, 0, nil, nil)), nil
		}
		frag := map[string]Fragment{"and_v": AndV, "and_b": AndB, "or_b": OrB, "or_c": OrC, "or_d": OrD, "or_i": OrI}[name]
		return p.node(frag, 0, nil, nil, subs...), nil
	}
	return nil, invalidf("unknown fragment %q", name)
}
