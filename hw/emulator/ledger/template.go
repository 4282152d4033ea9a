package ledger

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// The descriptor template language of wallet policies (BIP-388,
// app-bitcoin-new doc/wallet.md), parsed the way the app's
// src/common/wallet.c parse_script does (LedgerHQ/app-bitcoin-new, commit
// fc8d7ab610afd834fe512542ba258cf65661ee08, and the 2.1.3 tag for what
// older versions refuse). A template the parser refuses is SW_INCORRECT_DATA
// (0x6A80) without an error code, as in the app's REGISTER_WALLET, whose
// read_and_parse_wallet_policy fails first.

// appFeatures is what one version of the app accepts in a template
// (CHANGELOG.md of app-bitcoin-new).
type appFeatures struct {
	miniscript    bool // miniscript inside wsh: 2.1.0
	tapTrees      bool // tr(KP,TREE) with pk, multi_a, sortedmulti_a leaves: 2.1.2
	tapMiniscript bool // any miniscript in tapleaves: 2.2.0
	musig         bool // musig() key expressions in tr: 2.4.0
	maxTreeDepth  int  // MAX_TAPTREE_POLICY_DEPTH minus one: a leaf's depth in the tree
	maxKeys       int  // MAX_N_KEYS_IN_WALLET_POLICY
	dummyKey      bool // the NUMS xpub is labelled unspendable: 2.2.2
}

// featuresOf maps a version string ("2.1.3", "2.4.6-rc") to its
// features; ok is false for a string that is not MAJOR.MINOR.PATCH.
func featuresOf(version string) (f appFeatures, ok bool) {
	var v [3]int
	core, _, _ := strings.Cut(version, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return f, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return f, false
		}
		v[i] = n
	}
	atLeast := func(a, b, c int) bool {
		if v[0] != a {
			return v[0] > a
		}
		if v[1] != b {
			return v[1] > b
		}
		return v[2] >= c
	}
	f = appFeatures{
		miniscript:    atLeast(2, 1, 0),
		tapTrees:      atLeast(2, 1, 2),
		tapMiniscript: atLeast(2, 2, 0),
		musig:         atLeast(2, 4, 0),
		dummyKey:      atLeast(2, 2, 2),
		maxTreeDepth:  3,
		maxKeys:       maxKeys,
	}
	if f.tapMiniscript {
		f.maxTreeDepth = 8
	}
	if atLeast(2, 2, 4) && !f.musig {
		f.maxKeys = 10
	}
	return f, true
}

// mustFeatures is featuresOf for a version known to parse.
func mustFeatures(version string) appFeatures {
	f, ok := featuresOf(version)
	if !ok {
		panic("ledger emulator: bad built-in version " + version)
	}
	return f
}

// keyExpr is a key expression (KP): @i or musig(@i,@j,...), then /** or
// /<M;N>/*; num holds M and N (0 and 1 for /**).
type keyExpr struct {
	key   int   // key index; -1 for musig
	musig []int // musig's key indexes, in order
	num   [2]uint32
	pos   int // the expression's position in the template, from 0
}

// node is one SCRIPT of the template: a top-level function (sh, wsh),
// multi/sortedmulti(_a), or a miniscript fragment; a wrapper is a node with
// one child, named by its letter.
type node struct {
	frag string
	k    uint32 // threshold, or older/after's argument
	keys []*keyExpr
	hash []byte
	subs []*node
	t    msType // miniscript type, when the node is miniscript
}

// tapTree is a TREE: a leaf script, or a branch of two trees.
type tapTree struct {
	leaf        *node
	left, right *tapTree
}

// policy is a parsed template.
type policy struct {
	kind     scriptKind
	script   *node    // the script inside sh/wsh
	internal *keyExpr // tr's internal key
	tree     *tapTree // tr's tree, nil for none
	exprs    []*keyExpr
}

// leaves lists a tree's scripts left to right.
func (t *tapTree) leaves(out []*node) []*node {
	if t == nil {
		return out
	}
	if t.leaf != nil {
		return append(out, t.leaf)
	}
	return t.right.leaves(t.left.leaves(out))
}

type templateParser struct {
	s     string
	pos   int
	nKeys int
	f     appFeatures
	exprs []*keyExpr
	tap   bool
}

func (p *templateParser) errorf(format string, args ...any) error {
	return fail(swIncorrectData, "template %q at %d: %s", p.s, p.pos, fmt.Sprintf(format, args...))
}

func (p *templateParser) consume(lit string) bool {
	if strings.HasPrefix(p.s[p.pos:], lit) {
		p.pos += len(lit)
		return true
	}
	return false
}

func (p *templateParser) expect(lit string) error {
	if !p.consume(lit) {
		return p.errorf("expected %q", lit)
	}
	return nil
}

// word reads a fragment name or wrapper letters: [a-z0-9_]*.
func (p *templateParser) word() string {
	start := p.pos
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			break
		}
		p.pos++
	}
	return p.s[start:p.pos]
}

// number reads a decimal with no leading zeros, at most max.
func (p *templateParser) number(max uint64) (uint64, error) {
	start := p.pos
	for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
		p.pos++
	}
	d := p.s[start:p.pos]
	if d == "" || (len(d) > 1 && d[0] == '0') || len(d) > 10 {
		return 0, p.errorf("expected a decimal number")
	}
	n, err := strconv.ParseUint(d, 10, 64)
	if err != nil || n > max {
		return 0, p.errorf("number %s out of range", d)
	}
	return n, nil
}

// parseTemplate parses a descriptor template over nKeys keys as the app
// version with features f would.
func parseTemplate(t string, nKeys int, f appFeatures) (*policy, error) {
	p := &templateParser{s: t, nKeys: nKeys, f: f}
	pol := &policy{}
	var err error
	switch {
	case p.consume("sh(wsh("):
		pol.kind = kindShWsh
		if pol.script, err = p.multi(false); err != nil {
			return nil, err
		}
		err = p.expect("))")
	case p.consume("sh("):
		pol.kind = kindSh
		if pol.script, err = p.multi(false); err != nil {
			return nil, err
		}
		err = p.expect(")")
	case p.consume("wsh("):
		pol.kind = kindWsh
		if strings.HasPrefix(p.s[p.pos:], "sortedmulti(") {
			pol.script, err = p.multi(false)
		} else if !f.miniscript {
			return nil, p.errorf("miniscript needs app 2.1.0")
		} else {
			pol.script, err = p.miniscript(0)
		}
		if err != nil {
			return nil, err
		}
		err = p.expect(")")
	case p.consume("tr("):
		pol.kind = kindTr
		p.tap = true
		if pol.internal, err = p.keyExpr(); err != nil {
			return nil, err
		}
		if p.consume(",") {
			if !f.tapTrees {
				return nil, p.errorf("taproot trees need app 2.1.2")
			}
			if pol.tree, err = p.tree(0); err != nil {
				return nil, err
			}
		}
		err = p.expect(")")
	case strings.HasPrefix(t, "pkh(") || strings.HasPrefix(t, "wpkh(") || strings.HasPrefix(t, "sh(wpkh("):
		return nil, fail(swNotSupported, "template %q: the emulator registers no single-key policies", t)
	default:
		return nil, p.errorf("unknown top-level script")
	}
	if err != nil {
		return nil, err
	}
	if p.pos != len(t) {
		return nil, p.errorf("trailing characters")
	}
	// Every key of the vector is used (count_distinct_keys_info equals
	// n_keys in handler_register_wallet).
	used := make([]bool, nKeys)
	for _, e := range p.exprs {
		if e.key >= 0 {
			used[e.key] = true
		}
		for _, k := range e.musig {
			used[k] = true
		}
	}
	for i, u := range used {
		if !u {
			return nil, p.errorf("key @%d is not used", i)
		}
	}
	pol.exprs = p.exprs
	return pol, nil
}

// multi parses multi(...) or sortedmulti(...) (multi_a and sortedmulti_a
// in a tapleaf).
func (p *templateParser) multi(tap bool) (*node, error) {
	name := p.word()
	want := map[string]bool{"multi": !tap, "sortedmulti": !tap, "multi_a": tap, "sortedmulti_a": tap}
	if !want[name] {
		return nil, p.errorf("expected multi or sortedmulti, got %q", name)
	}
	return p.fragment(name)
}

// tree parses a TREE at depth d.
func (p *templateParser) tree(d int) (*tapTree, error) {
	if d > p.f.maxTreeDepth {
		return nil, p.errorf("taptree deeper than %d", p.f.maxTreeDepth)
	}
	if p.consume("{") {
		l, err := p.tree(d + 1)
		if err != nil {
			return nil, err
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
		r, err := p.tree(d + 1)
		if err != nil {
			return nil, err
		}
		if err := p.expect("}"); err != nil {
			return nil, err
		}
		return &tapTree{left: l, right: r}, nil
	}
	start := p.pos
	name := p.word()
	p.pos = start
	var n *node
	var err error
	switch {
	case name == "sortedmulti_a":
		n, err = p.multi(true)
	case !p.f.tapMiniscript && name != "pk" && name != "multi_a":
		return nil, p.errorf("tapleaf %q: app versions before 2.2.0 accept only pk, multi_a and sortedmulti_a", name)
	default:
		n, err = p.miniscript(0)
	}
	if err != nil {
		return nil, err
	}
	return &tapTree{leaf: n}, nil
}

// keyExpr parses a KP.
func (p *templateParser) keyExpr() (*keyExpr, error) {
	e := &keyExpr{key: -1}
	switch {
	case p.consume("@"):
		n, err := p.keyIndex()
		if err != nil {
			return nil, err
		}
		e.key = n
	case p.consume("musig("):
		if !p.tap {
			return nil, p.errorf("musig is only allowed in taproot")
		}
		if !p.f.musig {
			return nil, p.errorf("musig needs app 2.4.0")
		}
		for {
			if err := p.expect("@"); err != nil {
				return nil, err
			}
			n, err := p.keyIndex()
			if err != nil {
				return nil, err
			}
			if len(e.musig) == maxMusigKeys {
				return nil, p.errorf("more than %d keys in musig", maxMusigKeys)
			}
			e.musig = append(e.musig, int(n))
			if p.consume(")") {
				break
			}
			if err := p.expect(","); err != nil {
				return nil, err
			}
		}
		if len(e.musig) < 2 {
			return nil, p.errorf("musig needs at least 2 keys")
		}
	default:
		return nil, p.errorf("expected a key expression")
	}
	switch {
	case p.consume("/**"):
		e.num = [2]uint32{0, 1}
	case p.consume("/<"):
		a, err := p.number(0x7fffffff)
		if err != nil {
			return nil, err
		}
		if err := p.expect(";"); err != nil {
			return nil, err
		}
		b, err := p.number(0x7fffffff)
		if err != nil {
			return nil, err
		}
		if a == b {
			return nil, p.errorf("M and N must differ in <M;N>/*")
		}
		if err := p.expect(">/*"); err != nil {
			return nil, err
		}
		e.num = [2]uint32{uint32(a), uint32(b)}
	default:
		return nil, p.errorf("expected /** or /<M;N>/* after a key")
	}
	e.pos = len(p.exprs)
	p.exprs = append(p.exprs, e)
	return e, nil
}

// keyIndex reads the i of @i: a key of the vector.
func (p *templateParser) keyIndex() (int, error) {
	n, err := p.number(0x7fff)
	if err != nil {
		return 0, err
	}
	if int(n) >= p.nKeys {
		return 0, p.errorf("@%d but %d keys", n, p.nKeys)
	}
	return int(n), nil
}

// maxMusigKeys is MAX_PUBKEYS_PER_MUSIG (src/common/wallet.h).
const maxMusigKeys = 5

// maxParseDepth bounds the recursion (the app's MAX_PARSE_DEPTH-like
// limit keeps its stack small; here it keeps fuzzed input from growing the
// stack without bound).
const maxParseDepth = 100

// miniscript parses a miniscript expression (with its wrappers) and types
// it.
func (p *templateParser) miniscript(depth int) (*node, error) {
	if depth > maxParseDepth {
		return nil, p.errorf("nested too deeply")
	}
	start := p.pos
	w := p.word()
	var wrappers string
	if p.consume(":") {
		wrappers = w
		for _, c := range wrappers {
			if !strings.ContainsRune("asctdvjnlu", c) {
				return nil, p.errorf("unknown wrapper %q", c)
			}
		}
		if wrappers == "" {
			return nil, p.errorf("empty wrapper list")
		}
		start = p.pos
		w = p.word()
	}
	if w == "" {
		p.pos = start
		return nil, p.errorf("expected a fragment")
	}
	n, err := p.fragmentDepth(w, depth)
	if err != nil {
		return nil, err
	}
	for i := len(wrappers) - 1; i >= 0; i-- {
		n = &node{frag: string(wrappers[i]), subs: []*node{n}}
		if n.t, err = typeOf(n, p.tap); err != nil {
			return nil, p.errorf("%v", err)
		}
	}
	return n, nil
}

func (p *templateParser) fragment(name string) (*node, error) { return p.fragmentDepth(name, 0) }

// fragmentDepth parses the arguments of fragment name, whose name was read.
func (p *templateParser) fragmentDepth(name string, depth int) (*node, error) {
	n := &node{frag: name}
	var err error
	if name == "0" || name == "1" {
		n.t, err = typeOf(n, p.tap)
		return n, err
	}
	if err := p.expect("("); err != nil {
		return nil, err
	}
	sub := func() error {
		s, err := p.miniscript(depth + 1)
		if err != nil {
			return err
		}
		n.subs = append(n.subs, s)
		return nil
	}
	subs := func(k int) error {
		for i := 0; i < k; i++ {
			if i > 0 {
				if err := p.expect(","); err != nil {
					return err
				}
			}
			if err := sub(); err != nil {
				return err
			}
		}
		return nil
	}
	switch name {
	case "pk", "pkh", "pk_k", "pk_h":
		ke, err := p.keyExpr()
		if err != nil {
			return nil, err
		}
		if ke.musig != nil && name != "pk" && name != "pk_k" {
			return nil, p.errorf("musig in %s", name)
		}
		n.keys = []*keyExpr{ke}
	case "older", "after":
		v, err := p.number(0x7fffffff)
		if err != nil {
			return nil, err
		}
		if v == 0 {
			return nil, p.errorf("%s(0)", name)
		}
		n.k = uint32(v)
	case "sha256", "hash256", "ripemd160", "hash160":
		size := 64
		if name == "ripemd160" || name == "hash160" {
			size = 40
		}
		if p.pos+size > len(p.s) {
			return nil, p.errorf("short hash")
		}
		h, err := hex.DecodeString(p.s[p.pos : p.pos+size])
		if err != nil || strings.ToLower(p.s[p.pos:p.pos+size]) != p.s[p.pos:p.pos+size] {
			return nil, p.errorf("bad hash")
		}
		p.pos += size
		n.hash = h
	case "andor":
		err = subs(3)
	case "and_v", "and_b", "and_n", "or_b", "or_c", "or_d", "or_i":
		err = subs(2)
	case "thresh", "multi", "sortedmulti", "multi_a", "sortedmulti_a":
		k, err := p.number(0x7fffffff)
		if err != nil {
			return nil, err
		}
		n.k = uint32(k)
		for p.consume(",") {
			if name == "thresh" {
				if err := sub(); err != nil {
					return nil, err
				}
				continue
			}
			ke, err := p.keyExpr()
			if err != nil {
				return nil, err
			}
			if ke.musig != nil {
				return nil, p.errorf("musig in %s", name)
			}
			n.keys = append(n.keys, ke)
		}
		count := len(n.keys) + len(n.subs)
		limit := maxMultiKeys
		if strings.HasSuffix(name, "_a") {
			limit = maxMultiAKeys
		}
		if count == 0 || n.k < 1 || int(n.k) > count || (name != "thresh" && count > limit) {
			return nil, p.errorf("%s(%d) of %d", name, n.k, count)
		}
		if name == "multi" && p.tap || name == "multi_a" && !p.tap {
			return nil, p.errorf("%s in the wrong context", name)
		}
	default:
		return nil, p.errorf("unknown fragment %q", name)
	}
	if err != nil {
		return nil, err
	}
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	if name == "sortedmulti" || name == "sortedmulti_a" {
		return n, nil // not miniscript: only a whole script or leaf
	}
	if n.t, err = typeOf(n, p.tap); err != nil {
		return nil, p.errorf("%v", err)
	}
	return n, nil
}

// Limits of multi (MAX_PUBKEYS_PER_MULTISIG) and multi_a (the app's
// MAX_PUBKEYS_PER_MULTI_A).
const (
	maxMultiKeys  = 16
	maxMultiAKeys = 999
)
