package coldcard

// Framing layer: a message travels as a run of 64-byte HID reports. The
// first byte of each report is the frame header:
//
//	bit 7 (0x80)   last report of the message
//	bit 6 (0x40)   the message is encrypted (meaningful on the last report)
//	bits 0-5       payload bytes in this report, 0..63
//
// followed by 63 payload bytes, zero padded. Every report but the last
// carries a full 63 bytes. A report whose header says "last, zero bytes"
// tells the device to drop whatever it has assembled so far: the reset that
// resynchronises a link after a broken exchange.

import "fmt"

const (
	reportSize    = 64
	framePayload  = reportSize - 1
	flagLast      = 0x80
	flagEncrypted = 0x40
	lengthMask    = 0x3f
)

// frameMessage splits msg into reports.
func frameMessage(msg []byte, encrypted bool) [][]byte {
	out := make([][]byte, 0, (len(msg)+framePayload-1)/framePayload)
	for off := 0; off < len(msg); off += framePayload {
		n := min(framePayload, len(msg)-off)
		r := make([]byte, reportSize)
		r[0] = byte(n)
		copy(r[1:], msg[off:off+n])
		if off+n == len(msg) {
			r[0] |= flagLast
			if encrypted {
				r[0] |= flagEncrypted
			}
		}
		out = append(out, r)
	}
	return out
}

// resetReport is the zero-length last frame that makes the device discard a
// partly received message. It gets no reply. The 0xff padding is what ckcc
// sends; the device ignores it.
func resetReport() []byte {
	r := make([]byte, reportSize)
	r[0] = flagLast
	for i := 1; i < len(r); i++ {
		r[i] = 0xff
	}
	return r
}

// assembler collects the reports of one incoming message.
type assembler struct {
	buf []byte
	max int // largest message accepted
}

// add takes one report. When it completes a message, done is true and msg
// holds the payload; the assembler is then ready for the next message.
func (a *assembler) add(report []byte) (msg []byte, encrypted, done bool, err error) {
	if len(report) == 0 {
		return nil, false, false, fmt.Errorf("empty report")
	}
	hdr := report[0]
	if hdr == 0 {
		return nil, false, false, fmt.Errorf("report with a zero frame header")
	}
	n := int(hdr & lengthMask)
	if 1+n > len(report) {
		return nil, false, false, fmt.Errorf("frame header 0x%02x claims %d bytes in a %d-byte report", hdr, n, len(report))
	}
	last := hdr&flagLast != 0
	if !last && n != framePayload {
		return nil, false, false, fmt.Errorf("frame header 0x%02x: a report before the last must carry %d bytes", hdr, framePayload)
	}
	if len(a.buf)+n > a.max {
		return nil, false, false, fmt.Errorf("message longer than %d bytes", a.max)
	}
	a.buf = append(a.buf, report[1:1+n]...)
	if !last {
		return nil, false, false, nil
	}
	msg, a.buf = a.buf, nil
	return msg, hdr&flagEncrypted != 0, true, nil
}
