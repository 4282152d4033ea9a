package descriptor

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// maxDepth is the deepest BIP-32 path: the serialized depth is one byte.
const maxDepth = 255

// parseIndex parses one BIP-380 path element: a decimal number below 2^31,
// optionally followed by h or ' for a hardened step.
func parseIndex(s string) (uint32, error) {
	num, hardened := s, false
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'h', '\'':
			num, hardened = s[:n-1], true
		case 'H':
			return 0, fmt.Errorf("hardened marker 'H' in step %q is not allowed (BIP-380 accepts only h or '); write %sh", s, s[:n-1])
		}
	}
	if num == "" || strings.TrimLeft(num, "0123456789") != "" {
		return 0, fmt.Errorf("derivation step %q is not a number: write a decimal index, with h for a hardened step (e.g. 48h)", s)
	}
	v, err := strconv.ParseUint(num, 10, 32)
	if err != nil || v >= uint64(HardenedKeyStart) {
		return 0, fmt.Errorf("derivation step %q is out of range: indexes go up to 2147483647; write h to mark a hardened step instead of adding 2^31", s)
	}
	if hardened {
		v += uint64(HardenedKeyStart)
	}
	return uint32(v), nil
}

// formatIndex prints an index the canonical way: h for hardened.
func formatIndex(b *strings.Builder, v uint32) {
	if v >= HardenedKeyStart {
		b.WriteString(strconv.FormatUint(uint64(v-HardenedKeyStart), 10))
		b.WriteByte('h')
		return
	}
	b.WriteString(strconv.FormatUint(uint64(v), 10))
}

// parseOrigin parses the inside of a key origin "[fingerprint/path]".
func parseOrigin(s string) (*Origin, error) {
	parts := strings.Split(s, "/")
	fpr := parts[0]
	if len(fpr) != 8 || !isHex(fpr) {
		return nil, fmt.Errorf("key origin fingerprint %q must be exactly 8 hex characters (the first 4 bytes of the master key's hash160)", fpr)
	}
	o := &Origin{}
	if _, err := hex.Decode(o.Fingerprint[:], []byte(fpr)); err != nil {
		return nil, fmt.Errorf("key origin fingerprint %q is not hex", fpr)
	}
	if len(parts)-1 > maxDepth {
		return nil, fmt.Errorf("key origin path has %d steps; BIP-32 paths have at most %d", len(parts)-1, maxDepth)
	}
	for _, p := range parts[1:] {
		switch {
		case p == "":
			return nil, errors.New("empty step in key origin: remove the doubled or trailing '/'")
		case strings.HasPrefix(p, "*"):
			return nil, errors.New("a key origin cannot hold a wildcard '*': it lists the fixed steps from the master to the key")
		case strings.ContainsAny(p, "<>;"):
			return nil, errors.New("a key origin cannot hold a multipath step <a;b>: put it after the extended key")
		}
		v, err := parseIndex(p)
		if err != nil {
			return nil, fmt.Errorf("key origin: %w", err)
		}
		o.Path = append(o.Path, v)
	}
	return o, nil
}

// parsePath parses the steps after an extended key: numbers, at most one
// BIP-389 multipath step <a;b;...>, and an optional final /* or /*h.
func parsePath(k *Key, steps []string) error {
	multipath := false
	for j, p := range steps {
		last := j == len(steps)-1
		switch {
		case p == "":
			return errors.New("empty derivation step: remove the doubled or trailing '/'")
		case p[0] == '*':
			switch p {
			case "*":
			case "*h", "*'":
				k.HardenedWildcard = true
			case "*H":
				return errors.New("hardened marker 'H' in \"*H\" is not allowed (BIP-380 accepts only h or '); write *h")
			default:
				return fmt.Errorf("wildcard step %q is malformed: write /* or /*h", p)
			}
			if !last {
				return errors.New("the wildcard '*' must be the last step of a key")
			}
			k.Wildcard = true
		case p[0] == '<':
			if multipath {
				return errors.New("more than one multipath step <a;b> in one key: BIP-389 allows one per key")
			}
			multipath = true
			alts, err := parseMultipath(p)
			if err != nil {
				return err
			}
			k.Path = append(k.Path, PathElem{Multi: alts})
		case strings.ContainsAny(p, "<>;"):
			return fmt.Errorf("multipath step %q is missing its opening '<': write it as <0;1>", p)
		default:
			v, err := parseIndex(p)
			if err != nil {
				return err
			}
			k.Path = append(k.Path, PathElem{Index: v})
		}
	}
	return nil
}

// parseMultipath parses "<a;b;...>": two or more distinct indexes.
func parseMultipath(p string) ([]uint32, error) {
	if len(p) < 2 || p[len(p)-1] != '>' {
		return nil, fmt.Errorf("multipath step %q is missing its closing '>': write it as <0;1>", p)
	}
	inner := p[1 : len(p)-1]
	if inner == "" {
		return nil, errors.New("empty multipath step <>: list two or more indexes, e.g. <0;1>")
	}
	parts := strings.Split(inner, ";")
	if len(parts) < 2 {
		return nil, fmt.Errorf("multipath step %q has one index: BIP-389 needs two or more (e.g. <0;1>), or write the index as a plain step", p)
	}
	alts := make([]uint32, 0, len(parts))
	seen := make(map[uint32]bool, len(parts))
	for _, a := range parts {
		if a == "" {
			return nil, fmt.Errorf("multipath step %q has an empty index: list numbers separated by ';'", p)
		}
		v, err := parseIndex(a)
		if err != nil {
			return nil, fmt.Errorf("multipath step %q: %w", p, err)
		}
		if seen[v] {
			return nil, fmt.Errorf("multipath step %q lists %s twice: BIP-389 forbids duplicate indexes", p, a)
		}
		seen[v] = true
		alts = append(alts, v)
	}
	return alts, nil
}

// formatPath appends the steps after an extended key.
func formatPath(b *strings.Builder, k *Key) {
	for _, e := range k.Path {
		b.WriteByte('/')
		if e.Multi == nil {
			formatIndex(b, e.Index)
			continue
		}
		b.WriteByte('<')
		for j, v := range e.Multi {
			if j > 0 {
				b.WriteByte(';')
			}
			formatIndex(b, v)
		}
		b.WriteByte('>')
	}
	if k.Wildcard {
		b.WriteString("/*")
		if k.HardenedWildcard {
			b.WriteByte('h')
		}
	}
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
