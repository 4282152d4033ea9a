package transport

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
)

// DefaultMaxMessage bounds a Stream message unless StreamOptions says
// otherwise: far above any APDU, far below anything that could exhaust memory.
const DefaultMaxMessage = 1 << 20

// StreamOptions describe a length-prefixed framing. Each message is a 4-byte
// big-endian length followed by the payload.
//
// Speculos (Ledger's emulator) counts only the response data in the length
// and then sends the 2-byte status word after it: a host talking to Speculos
// sets ReadTrailer to 2, and an emulator answering like Speculos sets
// WriteTrailer to 2.
type StreamOptions struct {
	ReadTrailer  int // bytes that follow a received payload but are not counted in its length
	WriteTrailer int // trailing bytes of a sent message left out of its length
	MaxMessage   int // largest payload accepted; 0 means DefaultMaxMessage
}

// Stream carries whole length-prefixed messages over a byte stream (TCP).
type Stream struct {
	conn net.Conn
	opts StreamOptions
	rmu  sync.Mutex
	wmu  sync.Mutex
}

// DialTCP connects to addr ("127.0.0.1:9999").
func DialTCP(ctx context.Context, addr string, opts StreamOptions) (*Stream, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: tcp %s: %w", addr, err)
	}
	return NewStream(c, opts), nil
}

// NewStream frames messages on an established connection; emulators use it
// on the connections they accept.
func NewStream(conn net.Conn, opts StreamOptions) *Stream {
	if opts.MaxMessage <= 0 {
		opts.MaxMessage = DefaultMaxMessage
	}
	return &Stream{conn: conn, opts: opts}
}

// WriteMessage sends msg; its last WriteTrailer bytes are not counted in the
// length prefix.
func (s *Stream) WriteMessage(ctx context.Context, msg []byte) error {
	n := len(msg) - s.opts.WriteTrailer
	if n < 0 {
		return fmt.Errorf("transport: message of %d bytes is shorter than its %d-byte trailer", len(msg), s.opts.WriteTrailer)
	}
	buf := make([]byte, 4+len(msg))
	binary.BigEndian.PutUint32(buf, uint32(n))
	copy(buf[4:], msg)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return withDeadline(ctx, s.conn.SetWriteDeadline, func() error {
		_, err := s.conn.Write(buf)
		return err
	})
}

// ReadMessage returns the next message, trailer included.
func (s *Stream) ReadMessage(ctx context.Context) ([]byte, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	var out []byte
	err := withDeadline(ctx, s.conn.SetReadDeadline, func() error {
		var hdr [4]byte
		if _, err := io.ReadFull(s.conn, hdr[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if uint64(n) > uint64(s.opts.MaxMessage) {
			return fmt.Errorf("transport: message of %d bytes exceeds the %d-byte limit", n, s.opts.MaxMessage)
		}
		out = make([]byte, int(n)+s.opts.ReadTrailer)
		_, err := io.ReadFull(s.conn, out)
		return err
	})
	if err == io.ErrUnexpectedEOF {
		err = fmt.Errorf("transport: connection closed mid-message: %w", err)
	}
	return out, err
}

// Close closes the connection.
func (s *Stream) Close() error { return s.conn.Close() }
