package descriptor

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Parse reads a multisig descriptor: sh(multi(...)), sh(wsh(multi(...))) or
// wsh(multi(...)), each also with sortedmulti, or wsh(MINISCRIPT), which
// must be sane (non-malleable, signed on every path, no timelock mix;
// see miniscript.Node.IsSane), or a taproot descriptor: tr(KEY),
// tr(KEY,TREE) with pk/multi_a/sortedmulti_a leaves, rawtr(KEY), KEY
// possibly musig(...) (see parse_tr.go). The BIP-380 checksum is
// optional but verified when present. Every limit is checked here (see
// validate), except hardened steps after an xpub, which BIP-380 lets parse
// and which fail in Derive. Errors wrap ErrInvalid.
func Parse(s string) (*Descriptor, error) {
	body, err := splitChecksum(strings.TrimSpace(s))
	if err != nil {
		return nil, invalid(err)
	}
	var d *Descriptor
	var fams []family
	if name, args, ok := call(body); ok && (name == "tr" || name == "rawtr") {
		d, fams, err = parseTr(name == "rawtr", args)
	} else {
		if strings.Contains(body, "musig(") {
			return nil, invalid(errors.New("musig() is only allowed inside tr() or rawtr() (BIP-390)"))
		}
		script, inner, uerr := unwrapScript(body)
		if uerr != nil {
			return nil, invalid(uerr)
		}
		switch {
		case isMulti(inner):
			d, fams, err = parseMulti(script, inner)
		case script == ScriptWsh:
			d, fams, err = parseMiniscript(inner)
		default:
			err = invalid(fmt.Errorf("%s holds %s: countersign accepts miniscript only directly inside wsh(); under %s use multi() or sortedmulti()", script.wrap("..."), describeInner(inner), script))
		}
	}
	if err != nil {
		return nil, err
	}
	if err := validate(d, fams); err != nil {
		return nil, err
	}
	d.cache = newNodeCache()
	if d.Miniscript != nil {
		if d.Threshold, err = primaryThreshold(d); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// isMulti reports whether s is a multi() or sortedmulti() call (or looks
// like one closely enough that parseMulti should give the error).
func isMulti(s string) bool {
	name, _, ok := call(s)
	return !ok || name == "multi" || name == "sortedmulti"
}

// describeInner names what a script wrapper holds, for errors.
func describeInner(s string) string {
	if name, _, ok := call(s); ok {
		return shorten(name) + "()"
	}
	return "something else"
}

// call splits "name(args)" into name and args.
func call(s string) (name, args string, ok bool) {
	open := strings.IndexByte(s, '(')
	if open <= 0 || !strings.HasSuffix(s, ")") {
		return "", "", false
	}
	return s[:open], s[open+1 : len(s)-1], true
}

// unwrapScript peels sh(), wsh() and sh(wsh()) off the multisig expression.
func unwrapScript(body string) (ScriptType, string, error) {
	name, args, ok := call(body)
	if !ok {
		return 0, "", fmt.Errorf("%q is not a descriptor: expected wsh(sortedmulti(...)), sh(wsh(sortedmulti(...))) or sh(sortedmulti(...))", shorten(body))
	}
	if inner, _, ok := call(args); ok && (inner == "tr" || inner == "rawtr") {
		return 0, "", fmt.Errorf("%s() nested in %s(): tr() is only allowed at the top level (BIP-386)", inner, name)
	}
	if inner, _, ok := call(args); ok && (inner == "multi_a" || inner == "sortedmulti_a") {
		return 0, "", fmt.Errorf("%s() is only valid inside tr() (BIP-387): write tr(KEY,%s(...))", inner, inner)
	}
	switch name {
	case "multi_a", "sortedmulti_a":
		return 0, "", fmt.Errorf("%s() is only valid inside tr() (BIP-387): write tr(KEY,%s(...))", name, name)
	case "wsh":
		if inner, _, ok := call(args); ok && (inner == "wsh" || inner == "sh") {
			return 0, "", fmt.Errorf("%s() nested in wsh(): wsh() must directly contain multi() or sortedmulti()", inner)
		}
		return ScriptWsh, args, nil
	case "sh":
		innerName, innerArgs, ok := call(args)
		switch {
		case ok && innerName == "wsh":
			if n, _, ok := call(innerArgs); ok && (n == "wsh" || n == "sh") {
				return 0, "", fmt.Errorf("%s() nested in wsh(): wsh() must directly contain multi() or sortedmulti()", n)
			}
			return ScriptShWsh, innerArgs, nil
		case ok && innerName == "sh":
			return 0, "", errors.New("sh() nested in sh(): sh() is only allowed at the top level")
		}
		return ScriptSh, args, nil
	case "multi", "sortedmulti":
		return 0, "", fmt.Errorf("bare %s() has no address: wrap it as wsh(%s(...)), sh(wsh(%s(...))) or sh(%s(...))", name, name, name, name)
	}
	return 0, "", fmt.Errorf("unsupported descriptor %s(): countersign handles multisig wallets only: wsh(multi|sortedmulti), sh(wsh(multi|sortedmulti)), sh(multi|sortedmulti), wsh(MINISCRIPT) and tr(...)", shorten(name))
}

// parseMulti parses "multi(k,KEY,...)" or "sortedmulti(k,KEY,...)" and
// returns the network family of each key for validate.
func parseMulti(script ScriptType, s string) (*Descriptor, []family, error) {
	name, args, ok := call(s)
	if !ok || (name != "multi" && name != "sortedmulti") {
		what := shorten(s)
		switch {
		case ok:
			what = name + "()"
		case s == "":
			what = "nothing"
		}
		if ok && name == "musig" {
			return nil, nil, invalid(errors.New("musig() is only allowed inside tr() or rawtr() (BIP-390)"))
		}
		return nil, nil, invalid(fmt.Errorf("expected multi(...) or sortedmulti(...) inside the script wrapper, found %s", what))
	}
	parts := strings.Split(args, ",")
	d := &Descriptor{Script: script, Sorted: name == "sortedmulti"}
	m, err := parseThreshold(parts[0])
	if err != nil {
		return nil, nil, invalid(err)
	}
	d.Threshold = m
	keys := parts[1:]
	if len(keys) == 0 {
		return nil, nil, invalid(fmt.Errorf("%s() has no keys: list the cosigners' keys after the threshold", name))
	}
	// Refuse too many keys before parsing them all.
	if err := checkKeyCount(script, len(keys)); err != nil {
		return nil, nil, err
	}
	d.Keys = make([]Key, len(keys))
	fams := make([]family, len(keys))
	for i, ks := range keys {
		if strings.ContainsAny(ks, "()") {
			return nil, nil, invalidKey(i, errors.New("is a script expression, not a key: multi() takes key expressions only"))
		}
		k, f, err := parseKey(ks)
		if err != nil {
			return nil, nil, invalidKey(i, err)
		}
		d.Keys[i], fams[i] = k, f
	}
	return d, fams, nil
}

// parseThreshold reads the number of required signatures.
func parseThreshold(s string) (int, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("threshold %q is not a number: write how many signatures are required, e.g. multi(2,...)", shorten(s))
	}
	v, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("threshold %q is out of range: a multisig needs at most 20 signatures", shorten(s))
	}
	return int(v), nil
}
