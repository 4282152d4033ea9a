package ur

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzDecoder feeds newline-separated UR parts to a Decoder.
func FuzzDecoder(f *testing.F) {
	f.Add("ur:bytes/aeadaolazmjendeoti")
	f.Fuzz(func(t *testing.T, in string) {
		d := Decoder{MaxMessageLen: 1 << 20}
		for _, p := range strings.Split(in, "\n") {
			d.Receive(p)
		}
		if have, total := d.Progress(); have > total {
			t.Fatalf("have %d of %d", have, total)
		}
		d.Result()
	})
}

// FuzzBytewords: whatever decodes re-encodes to the same minimal text.
func FuzzBytewords(f *testing.F) {
	f.Add("aeadaolazmjendeoti")
	f.Fuzz(func(t *testing.T, in string) {
		b, err := DecodeBytewords(Minimal, in)
		if err == nil && EncodeBytewords(Minimal, b) != strings.ToLower(in) {
			t.Fatalf("%q does not round-trip", in)
		}
		DecodeBytewords(Standard, in)
		DecodeBytewords(URI, in)
	})
}

// FuzzFountainPart: decoded parts re-encode to canonical CBOR that decodes
// to the same part.
func FuzzFountainPart(f *testing.F) {
	f.Add([]byte{0x85, 0x0c, 0x08, 0x18, 0x64, 0x1a, 0x12, 0x34, 0x56, 0x78, 0x45, 1, 5, 3, 3, 5})
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := decodeFountainPart(in)
		if err != nil {
			return
		}
		q, err := decodeFountainPart(p.cbor())
		if err != nil || !bytes.Equal(q.cbor(), p.cbor()) {
			t.Fatalf("re-encoding is not stable: %v", err)
		}
	})
}

// FuzzRegistry runs every registry decoder on the same bytes; what
// decodes as crypto-output must re-encode and decode to the same text.
func FuzzRegistry(f *testing.F) {
	f.Add([]byte{0x42, 0x01, 0x02})
	f.Fuzz(func(t *testing.T, in []byte) {
		DecodePSBT(in)
		DecodeAccount(in)
		DecodeOutputDescriptor(in)
		d, err := DecodeCryptoOutputDescriptor(in)
		if err != nil {
			return
		}
		enc, err := EncodeCryptoOutputDescriptor(d, OutputOptions{Multipath: true})
		if err != nil {
			t.Fatalf("decoded %s but cannot encode it: %v", d, err)
		}
		again, err := DecodeCryptoOutputDescriptor(enc)
		if err != nil || again.String() != d.String() {
			t.Fatalf("%s re-decoded as %v: %v", d, again, err)
		}
	})
}
