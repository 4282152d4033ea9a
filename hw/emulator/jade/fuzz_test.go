package jade

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// FuzzRequest feeds arbitrary bytes to the request decoder: the scanner
// never panics, agrees with fxamacker's well-formedness check on what it
// accepts, and decodeRequest never panics on an item.
func FuzzRequest(f *testing.F) {
	f.Add([]byte{0xa2, 0x62, 'i', 'd', 0x61, '1', 0x66, 'm', 'e', 't', 'h', 'o', 'd', 0x64, 'p', 'i', 'n', 'g'})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := itemLen(b)
		if err != nil {
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("itemLen %d of %d bytes", n, len(b))
		}
		if werr := cbor.Wellformed(b[:n]); werr != nil {
			t.Fatalf("scanner accepted %x, fxamacker: %v", b[:n], werr)
		}
		_, _ = decodeRequest(b[:n])
	})
}

// streamConn is a connection whose peer sent b and then hung up; replies
// are collected.
type streamConn struct {
	r   *bytes.Reader
	out bytes.Buffer
}

func (c *streamConn) Read(p []byte) (int, error) {
	if c.r.Len() == 0 {
		return 0, io.EOF
	}
	return c.r.Read(p)
}
func (c *streamConn) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c *streamConn) Close() error                { return nil }

// FuzzSession serves arbitrary bytes as one connection's requests to an
// emulator holding a registration: no input may panic it, and every reply
// it writes is well-formed CBOR.
func FuzzSession(f *testing.F) {
	w := newTestWallet(f, variantWsh, true)
	reg, _ := cbor.Marshal(map[string]any{"id": "r", "method": "register_multisig", "params": w.registration("vault")})
	f.Add(reg)
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := New(Config{Mnemonic: testMnemonic, OutputChunk: 500})
		if err != nil {
			t.Fatal(err)
		}
		e.stale = time.Millisecond
		c := &streamConn{r: bytes.NewReader(append(append([]byte(nil), reg...), b...))}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.ServeConn(ctx, c); err != nil {
			t.Fatalf("ServeConn: %v", err)
		}
		out := c.out.Bytes()
		for len(out) > 0 {
			n, err := itemLen(out)
			if err != nil || cbor.Wellformed(out[:n]) != nil {
				t.Fatalf("reply %x: %v", out, err)
			}
			out = out[n:]
		}
	})
}

// FuzzPSBT: the parser never panics, and what it accepts serializes back
// to bytes it parses to the same pairs.
func FuzzPSBT(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePSBT(b)
		if err != nil {
			return
		}
		again, err := parsePSBT(p.serialize())
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if fmt.Sprint(pairs(t, p.serialize())) != fmt.Sprint(pairs(t, again.serialize())) {
			t.Fatal("round trip changed the PSBT")
		}
	})
}
