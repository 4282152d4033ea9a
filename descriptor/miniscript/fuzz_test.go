package miniscript

import (
	"bytes"
	"testing"
)

// FuzzParse: any text either fails with an error or parses to a node whose
// printed form parses to the same script, and whose script decodes back.
func FuzzParse(f *testing.F) {
	for _, c := range jsCases {
		f.Add(expandDigests(c.expr), c.tap)
	}
	keys := letterKeys(f)
	f.Fuzz(func(t *testing.T, s string, tap bool) {
		ctx := P2WSH
		if tap {
			ctx = Tapscript
		}
		n, err := Parse(s, ctx, letterParser(keys))
		if err != nil {
			return
		}
		_ = n.IsSane()
		_, _ = n.Paths(letterBytes(keys), 200)
		again, err := Parse(n.String(), ctx, letterParser(keys))
		if err != nil {
			t.Fatalf("%q printed as %q, which does not parse: %v", s, n.String(), err)
		}
		s1, err := n.Script(letterBytes(keys))
		if err != nil {
			t.Fatal(err)
		}
		s2, _ := again.Script(letterBytes(keys))
		if !bytes.Equal(s1, s2) {
			t.Fatalf("%q and its printed form %q encode differently", s, n.String())
		}
		d, err := Decode(s1, ctx, letterDecode(ctx, keys))
		if err != nil {
			t.Fatalf("%q: script %x does not decode: %v", s, s1, err)
		}
		if d.Type() != n.Type() {
			t.Fatalf("%q: decoded type %s, parsed %s", s, d.Type(), n.Type())
		}
	})
}

// FuzzDecode: any script either fails with an error or decodes to a node
// that encodes back to exactly that script.
func FuzzDecode(f *testing.F) {
	keys := letterKeys(f)
	for _, c := range jsCases {
		ctx := P2WSH
		if c.tap {
			ctx = Tapscript
		}
		if n, err := Parse(expandDigests(c.expr), ctx, letterParser(keys)); err == nil {
			s, _ := n.Script(letterBytes(keys))
			f.Add(s, c.tap)
		}
	}
	f.Fuzz(func(t *testing.T, script []byte, tap bool) {
		ctx := P2WSH
		if tap {
			ctx = Tapscript
		}
		n, err := Decode(script, ctx, letterDecode(ctx, keys))
		if err != nil {
			return
		}
		again, err := n.Script(letterBytes(keys))
		if err != nil || !bytes.Equal(again, script) {
			t.Fatalf("%x decodes to %s, which encodes to %x (%v)", script, n, again, err)
		}
	})
}
