package transport

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"
)

// bufConn is a net.Conn over an in-memory byte stream: reads come from in,
// writes go to out. Deadlines are accepted and ignored (nothing blocks).
type bufConn struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (c *bufConn) Read(b []byte) (int, error)       { return c.in.Read(b) }
func (c *bufConn) Write(b []byte) (int, error)      { return c.out.Write(b) }
func (c *bufConn) Close() error                     { return nil }
func (c *bufConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *bufConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *bufConn) SetDeadline(time.Time) error      { return nil }
func (c *bufConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bufConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzStream reads length-prefixed messages from an arbitrary byte stream,
// as a host reads a Speculos APDU socket (trailer: a 2-byte status word
// outside the length) or an emulator reads its requests: no panic, nothing
// above the limit, and writing the messages back with the same framing
// gives exactly the bytes consumed. Seeds: testdata/fuzz/FuzzStream
// (Speculos-framed APDU responses, and a recorded Ledger emulator session).
func FuzzStream(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x02hi\x90\x00"), true)
	f.Add([]byte("\x00\x00\x00\x05\xe0\x01\x00\x00\x00"), false)
	f.Fuzz(func(t *testing.T, data []byte, trailer bool) {
		opts := StreamOptions{MaxMessage: 0xffff}
		if trailer {
			opts.ReadTrailer, opts.WriteTrailer = 2, 2
		}
		c := &bufConn{in: bytes.NewReader(data)}
		s := NewStream(c, opts)
		w := &bufConn{in: bytes.NewReader(nil)}
		back := NewStream(w, opts)
		ctx := context.Background()
		consumed := 0
		for {
			msg, err := s.ReadMessage(ctx)
			if err != nil {
				break
			}
			if len(msg) > opts.MaxMessage+opts.ReadTrailer {
				t.Fatalf("message of %d bytes above the limit", len(msg))
			}
			consumed = len(data) - c.in.Len()
			if err := back.WriteMessage(ctx, msg); err != nil {
				t.Fatalf("writing back a message of %d bytes: %v", len(msg), err)
			}
		}
		if !bytes.Equal(w.out.Bytes(), data[:consumed]) {
			t.Fatalf("re-framed messages differ from the %d bytes read:\n%x\n%x", consumed, w.out.Bytes(), data[:consumed])
		}
	})
}
