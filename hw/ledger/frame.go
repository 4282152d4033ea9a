package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/countersign/countersign/hw/transport"
)

// Ledger HID framing (the "APDU over HID" transport of every Ledger device):
// an APDU, and its response, travel as a series of 64-byte reports
//
//	+---------+-----+----------+----------------------------+
//	| channel | tag | sequence | payload                    |
//	| 2 (BE)  |  1  |  2 (BE)  | 59 bytes, zero padded      |
//	+---------+-----+----------+----------------------------+
//
// with channel 0x0101, tag 0x05 and sequence numbers counting from 0. The
// payload of report 0 begins with the 2-byte big-endian length of the whole
// message (the response length includes its 2-byte status word), so report
// 0 carries at most 57 bytes of message and each later report 59.
const (
	hidChannel   = 0x0101
	hidTag       = 0x05
	hidHeaderLen = 5 // channel, tag, sequence
	// maxMessage bounds a reassembled response: the longest APDU response
	// is 255 data bytes plus the status word; anything near 64 KiB is a
	// desynchronised stream.
	maxMessage = 0xffff
)

// hidFrames splits msg into the 64-byte reports that carry it.
func hidFrames(msg []byte) ([][]byte, error) {
	if len(msg) > maxMessage {
		return nil, fmt.Errorf("message of %d bytes is too long for HID framing", len(msg))
	}
	var out [][]byte
	rest := msg
	for seq := 0; seq == 0 || len(rest) > 0; seq++ {
		r := make([]byte, transport.ReportSize)
		binary.BigEndian.PutUint16(r[0:], hidChannel)
		r[2] = hidTag
		binary.BigEndian.PutUint16(r[3:], uint16(seq))
		p := r[hidHeaderLen:]
		if seq == 0 {
			binary.BigEndian.PutUint16(p, uint16(len(msg)))
			p = p[2:]
		}
		n := copy(p, rest)
		rest = rest[n:]
		out = append(out, r)
	}
	return out, nil
}

// hidReassembler collects the reports of one message.
type hidReassembler struct {
	want int    // message length from report 0; -1 before it
	seq  uint16 // next expected sequence number
	buf  []byte
}

func newHIDReassembler() *hidReassembler { return &hidReassembler{want: -1} }

// add takes the next report and returns the message once it is complete.
func (h *hidReassembler) add(r []byte) ([]byte, bool, error) {
	if len(r) < hidHeaderLen+2 {
		return nil, false, fmt.Errorf("HID report of %d bytes is too short", len(r))
	}
	if ch := binary.BigEndian.Uint16(r[0:]); ch != hidChannel {
		return nil, false, fmt.Errorf("HID report on channel %#04x, want %#04x", ch, hidChannel)
	}
	if r[2] != hidTag {
		return nil, false, fmt.Errorf("HID report with tag %#02x, want %#02x", r[2], hidTag)
	}
	if seq := binary.BigEndian.Uint16(r[3:]); seq != h.seq {
		return nil, false, fmt.Errorf("HID report %d arrived where report %d was expected", seq, h.seq)
	}
	p := r[hidHeaderLen:]
	if h.seq == 0 {
		h.want = int(binary.BigEndian.Uint16(p))
		h.buf = make([]byte, 0, h.want)
		p = p[2:]
	}
	h.seq++
	need := h.want - len(h.buf)
	if len(p) > need {
		p = p[:need] // the rest is padding
	}
	h.buf = append(h.buf, p...)
	if len(h.buf) < h.want {
		return nil, false, nil
	}
	return h.buf, true, nil
}

// Link carries one APDU to the device and brings back its response data
// and status word. Implementations are not safe for concurrent exchanges;
// the Ledger type serialises them.
type Link interface {
	Exchange(ctx context.Context, apdu []byte) (data []byte, sw uint16, err error)
	Close() error
}

// errLinkClosed reports an exchange on a closed link.
var errLinkClosed = errors.New("the connection to the device is closed")

// hidLink frames APDUs into HID reports over a transport.Transport.
type hidLink struct {
	t    transport.Transport
	once sync.Once
}

// HIDLink returns a Link over a USB HID transport (or an in-memory pipe to
// an emulator speaking the same framing).
func HIDLink(t transport.Transport) Link { return &hidLink{t: t} }

func (l *hidLink) Exchange(ctx context.Context, apdu []byte) ([]byte, uint16, error) {
	frames, err := hidFrames(apdu)
	if err != nil {
		return nil, 0, err
	}
	for _, f := range frames {
		if err := l.t.Write(ctx, f); err != nil {
			return nil, 0, linkError(err)
		}
	}
	r := newHIDReassembler()
	for {
		rep, err := l.t.Read(ctx)
		if err != nil {
			return nil, 0, linkError(err)
		}
		msg, done, err := r.add(rep)
		if err != nil {
			return nil, 0, err
		}
		if done {
			return splitStatus(msg)
		}
	}
}

func (l *hidLink) Close() error {
	var err error
	l.once.Do(func() { err = l.t.Close() })
	return err
}

// speculosLink speaks Speculos's APDU socket framing: each request is a
// 4-byte big-endian length and the APDU; each response a 4-byte big-endian
// length counting only the response data, the data, then the 2-byte status
// word (speculos/mcu/apdu.py).
type speculosLink struct {
	s    *transport.Stream
	once sync.Once
}

// SpeculosOptions is the transport.Stream framing a host uses towards a
// Speculos APDU socket.
var SpeculosOptions = transport.StreamOptions{ReadTrailer: 2, MaxMessage: maxMessage}

// SpeculosLink returns a Link over a stream opened with SpeculosOptions
// (transport.DialTCP(ctx, addr, ledger.SpeculosOptions)).
func SpeculosLink(s *transport.Stream) Link { return &speculosLink{s: s} }

func (l *speculosLink) Exchange(ctx context.Context, apdu []byte) ([]byte, uint16, error) {
	if err := l.s.WriteMessage(ctx, apdu); err != nil {
		return nil, 0, linkError(err)
	}
	msg, err := l.s.ReadMessage(ctx)
	if err != nil {
		return nil, 0, linkError(err)
	}
	return splitStatus(msg)
}

func (l *speculosLink) Close() error {
	var err error
	l.once.Do(func() { err = l.s.Close() })
	return err
}

// splitStatus separates a response into data and status word.
func splitStatus(msg []byte) ([]byte, uint16, error) {
	if len(msg) < 2 {
		return nil, 0, fmt.Errorf("response of %d bytes has no status word", len(msg))
	}
	n := len(msg) - 2
	return msg[:n:n], binary.BigEndian.Uint16(msg[n:]), nil
}

// linkError names a lost connection plainly; context errors pass through.
func linkError(err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, transport.ErrClosed):
		return fmt.Errorf("%w: %w", errLinkClosed, err)
	}
	return fmt.Errorf("connection to the device lost: %w", err)
}
