package descriptor

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
)

// Parsing of tr(), rawtr(), multi_a(), sortedmulti_a() and musig(), following
// BIP-386 (tr, tree expressions), BIP-387 (multi_a, sortedmulti_a) and
// BIP-390 (musig). Leaves are limited to pk(), multi_a() and
// sortedmulti_a(): other miniscript fragments are refused by name.

// trParser collects the distinct key expressions of one descriptor.
type trParser struct {
	d     *Descriptor
	fams  []family
	index map[string]int
	count int // key expressions seen, to bound work on hostile input
}

// maxTrKeyExprs bounds the key expressions of one tr(): a 999-key multi_a
// plus a musig of the same keys, with room to spare.
const maxTrKeyExprs = 4000

// parseTr parses the arguments of tr(...) or rawtr(...).
func parseTr(raw bool, args string) (*Descriptor, []family, error) {
	p := &trParser{d: &Descriptor{Script: ScriptTr, Tap: &Taproot{Raw: raw}}, index: map[string]int{}}
	name := "tr"
	if raw {
		name = "rawtr"
	}
	parts, err := splitTop(args)
	if err != nil {
		return nil, nil, invalid(err)
	}
	switch {
	case args == "":
		return nil, nil, invalid(fmt.Errorf("%s() has no key: write %s(KEY) or tr(KEY,{leaf,leaf})", name, name))
	case raw && len(parts) > 1:
		return nil, nil, invalid(errors.New("rawtr() takes exactly one key and no script tree: use tr(KEY,TREE) for script paths"))
	case len(parts) > 2:
		return nil, nil, invalid(errors.New("tr() takes a key and at most one tree expression: group several leaves as {A,B}"))
	}
	internal, err := p.tapKey(parts[0])
	if err != nil {
		return nil, nil, err
	}
	p.d.Tap.Internal = internal
	if len(parts) == 2 {
		tree, err := p.tree(parts[1], 0)
		if err != nil {
			return nil, nil, err
		}
		p.d.Tap.Tree = tree
	}
	return p.d, p.fams, nil
}

// splitTop splits s at the commas outside any (), {} or <>.
func splitTop(s string) ([]string, error) {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '{', '<':
			depth++
		case ')', '}', '>':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced %q in %q", s[i], shorten(s))
			}
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced brackets in %q: a '(', '{' or '<' is not closed", shorten(s))
	}
	return append(parts, s[start:]), nil
}

// tree parses a tree expression: a leaf script or {TREE,TREE}.
func (p *trParser) tree(s string, depth int) (*TapTree, error) {
	if depth > maxTapTreeDepth {
		return nil, invalid(fmt.Errorf("script tree is deeper than %d levels, the BIP-341 limit", maxTapTreeDepth))
	}
	if strings.HasPrefix(s, "{") {
		if !strings.HasSuffix(s, "}") {
			return nil, invalid(errors.New("tree branch is missing its closing '}'"))
		}
		parts, err := splitTop(s[1 : len(s)-1])
		if err != nil {
			return nil, invalid(err)
		}
		if len(parts) != 2 {
			return nil, invalid(fmt.Errorf("tree branch {...} has %d parts: BIP-386 branches hold exactly two, e.g. {A,{B,C}}", len(parts)))
		}
		left, err := p.tree(parts[0], depth+1)
		if err != nil {
			return nil, err
		}
		right, err := p.tree(parts[1], depth+1)
		if err != nil {
			return nil, err
		}
		return &TapTree{Left: left, Right: right}, nil
	}
	leaf, err := p.leaf(s)
	if err != nil {
		return nil, err
	}
	return &TapTree{Leaf: leaf}, nil
}

// leaf parses pk(KEY), multi_a(k,KEY,...) or sortedmulti_a(k,KEY,...).
func (p *trParser) leaf(s string) (*TapLeaf, error) {
	name, args, ok := call(s)
	if !ok {
		if s == "" {
			return nil, invalid(errors.New("empty script leaf: write pk(KEY), multi_a(k,KEY,...) or sortedmulti_a(k,KEY,...)"))
		}
		return nil, invalid(fmt.Errorf("script leaf %q is not an expression: write pk(KEY), multi_a(k,KEY,...) or sortedmulti_a(k,KEY,...)", shorten(s)))
	}
	switch name {
	case "pk":
		k, err := p.tapKey(args)
		if err != nil {
			return nil, err
		}
		return &TapLeaf{Kind: LeafPk, Threshold: 1, Keys: []TapKey{k}}, nil
	case "multi_a", "sortedmulti_a":
	case "multi", "sortedmulti":
		return nil, invalid(fmt.Errorf("%s() is not valid in a taproot leaf: use %s_a() (BIP-387)", name, name))
	case "tr", "rawtr", "wsh", "sh":
		return nil, invalid(fmt.Errorf("%s() nested in tr(): a script leaf is pk(), multi_a() or sortedmulti_a()", name))
	default:
		return nil, invalid(fmt.Errorf("script leaf %s() is not supported: countersign's taproot leaves are pk(), multi_a() and sortedmulti_a() (miniscript leaves are not)", shorten(name)))
	}
	parts, err := splitTop(args)
	if err != nil {
		return nil, invalid(err)
	}
	m, err := parseThreshold(parts[0])
	if err != nil {
		return nil, invalid(err)
	}
	keys := parts[1:]
	if len(keys) == 0 {
		return nil, invalid(fmt.Errorf("%s() has no keys: list the cosigners' keys after the threshold", name))
	}
	if len(keys) > maxMultiAKeys {
		return nil, invalid(fmt.Errorf("%s() has %d keys: BIP-387 allows at most %d", name, len(keys), maxMultiAKeys))
	}
	l := &TapLeaf{Kind: LeafMultiA, Threshold: m, Keys: make([]TapKey, len(keys))}
	if name == "sortedmulti_a" {
		l.Kind = LeafSortedMultiA
	}
	for i, ks := range keys {
		if l.Keys[i], err = p.tapKey(ks); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// tapKey parses a key expression inside tr(): a key or musig(KEY,...)/path.
func (p *trParser) tapKey(s string) (TapKey, error) {
	if !strings.HasPrefix(s, "musig(") {
		if strings.ContainsAny(s, "(){}") {
			return TapKey{}, invalid(fmt.Errorf("%q is a script expression where a key was expected", shorten(s)))
		}
		i, err := p.addKey(s)
		return TapKey{Key: i}, err
	}
	end := strings.IndexByte(s, ')')
	if end < 0 {
		return TapKey{}, invalid(errors.New("musig( is missing its closing ')'"))
	}
	inner, rest := s[len("musig("):end], s[end+1:]
	if strings.ContainsAny(inner, "(){}") {
		return TapKey{}, invalid(errors.New("musig() cannot be nested or hold scripts: its arguments are keys (BIP-390)"))
	}
	t := TapKey{MuSig: []int{}}
	for _, ks := range strings.Split(inner, ",") {
		i, err := p.addKey(ks)
		if err != nil {
			return TapKey{}, err
		}
		t.MuSig = append(t.MuSig, i)
	}
	if rest != "" {
		if !strings.HasPrefix(rest, "/") {
			return TapKey{}, invalid(fmt.Errorf("unexpected %q after musig(...): derivation steps start with '/'", shorten(rest)))
		}
		var tmp Key
		if err := parsePath(&tmp, strings.Split(rest[1:], "/")); err != nil {
			return TapKey{}, invalid(fmt.Errorf("musig(): %w", err))
		}
		if tmp.HardenedWildcard {
			return TapKey{}, invalid(errors.New("musig() cannot have hardened child derivation /*h: there is no aggregate private key (BIP-390)"))
		}
		for _, e := range tmp.Path {
			if e.Multi == nil && e.Index >= HardenedKeyStart {
				return TapKey{}, invalid(errors.New("musig() cannot have hardened derivation steps: there is no aggregate private key (BIP-390)"))
			}
			for _, v := range e.Multi {
				if v >= HardenedKeyStart {
					return TapKey{}, invalid(errors.New("musig() cannot have hardened derivation steps: there is no aggregate private key (BIP-390)"))
				}
			}
		}
		t.Path, t.Wildcard = tmp.Path, tmp.Wildcard
	}
	if len(t.Path) > 0 || t.Wildcard {
		for _, i := range t.MuSig {
			k := &p.d.Keys[i]
			switch {
			case k.XPub == nil:
				return TapKey{}, invalid(errors.New("musig() with derivation after it needs every participant to be an xpub (BIP-390)"))
			case k.Wildcard:
				return TapKey{}, invalid(errors.New("musig() with derivation after it cannot have ranged participants (/*): derive either the participants or the aggregate (BIP-390)"))
			case k.multipathLen() > 0:
				return TapKey{}, invalid(errors.New("musig() with derivation after it cannot have multipath participants (<a;b>): put the multipath after musig(...) (BIP-390)"))
			}
		}
	}
	return t, nil
}

// addKey parses one key expression and returns its index in Keys, reusing
// an earlier identical expression.
func (p *trParser) addKey(s string) (int, error) {
	if p.count++; p.count > maxTrKeyExprs {
		return 0, invalid(fmt.Errorf("more than %d key expressions in one descriptor", maxTrKeyExprs))
	}
	k, fam, err := parseTrKey(s)
	if err != nil {
		return 0, invalidKey(len(p.d.Keys), err)
	}
	id := k.String()
	if k.Private {
		id += "#private"
	}
	if i, ok := p.index[id]; ok {
		return i, nil
	}
	p.d.Keys = append(p.d.Keys, k)
	p.fams = append(p.fams, fam)
	p.index[id] = len(p.d.Keys) - 1
	return len(p.d.Keys) - 1, nil
}

// parseTrKey parses a key expression in a taproot context: 64-character
// x-only keys are allowed (BIP-386), uncompressed keys are not.
func parseTrKey(s string) (Key, family, error) {
	body := s
	if strings.HasPrefix(body, "[") {
		if end := strings.IndexByte(body, ']'); end >= 0 {
			body = body[end+1:]
		}
	}
	if len(body) == 64 && isHex(body) {
		// Parse the origin with a placeholder compressed key, then set the
		// x-only key itself.
		raw, _ := hex.DecodeString(body)
		pk, err := schnorr.ParsePubKey(raw)
		if err != nil {
			return Key{}, familyAny, errors.New("x-only public key is not a point on secp256k1: check that it was copied correctly")
		}
		k, fam, err := parseKey(s[:len(s)-64] + "02" + body)
		if err != nil {
			return Key{}, familyAny, err
		}
		k.PubKey, k.XOnly = pk, true
		return k, fam, nil
	}
	k, fam, err := parseKey(s)
	if err != nil {
		return Key{}, familyAny, err
	}
	if k.Uncompressed {
		return Key{}, familyAny, errors.New("uncompressed public key in tr(): taproot keys are x-only (64 hex) or compressed (66 hex)")
	}
	return k, fam, nil
}
