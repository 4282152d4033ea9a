package bbqr

import (
	"bytes"
	"compress/flate"
	"io"
	"strings"
	"testing"
)

// FuzzJoiner feeds newline-separated parts to a Joiner: no panic, and a
// completed series decodes or errors cleanly. Seeds: testdata/fuzz/FuzzJoiner.
func FuzzJoiner(f *testing.F) {
	f.Add("B$HP0100AB")
	f.Fuzz(func(t *testing.T, in string) {
		j := Joiner{MaxSize: 1 << 20}
		for _, p := range strings.Split(in, "\n") {
			j.Add(p)
		}
		have, total := j.Progress()
		if have > total {
			t.Fatalf("have %d of %d", have, total)
		}
		if j.Complete() {
			j.Result()
		}
	})
}

// FuzzParseHeader: every accepted header formats back to itself.
func FuzzParseHeader(f *testing.F) {
	f.Add("B$ZP0A03")
	f.Fuzz(func(t *testing.T, in string) {
		h, err := ParseHeader(in)
		if err == nil && h.String() != in[:HeaderLen] {
			t.Fatalf("%q parsed as %+v", in, h)
		}
	})
}

// FuzzDeflate: our compressor's output inflates to the input and stays
// in the 1 KiB window.
func FuzzDeflate(f *testing.F) {
	f.Add([]byte("hello hello hello"))
	f.Fuzz(func(t *testing.T, in []byte) {
		z := deflate(in)
		out, err := io.ReadAll(flate.NewReader(bytes.NewReader(z)))
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("round trip: %v", err)
		}
		if d := maxDistance(t, z); d > windowSize {
			t.Fatalf("distance %d", d)
		}
	})
}
