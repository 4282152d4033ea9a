package bitbox02

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The USB framing: U2F-HID style 64-byte reports on one channel (CID).
// Written from bitbox02-firmware at commit
// a3467ad11daee7081cc041ba9217c81e471022e6, src/usb/usb_frame.c and
// usb_frame.h (device side) and py/bitbox02/bitbox02/communication/u2fhid/
// u2fhid.py (host side):
//
//	init frame:         CID (4, big-endian) | CMD (1, bit 7 set) | BCNT (2, big-endian) | data (57)
//	continuation frame: CID (4)             | SEQ (1, 0..0x7f)   | data (59)
//
// A message of BCNT bytes is one init frame and as many continuation frames
// (SEQ 0, 1, ...) as the rest needs; unused bytes are padding. The device
// answers on the CID the request came on, with the same CMD, or with CMD
// ERROR (0xbf) and a one-byte error code.
const (
	reportSize = 64
	initData   = reportSize - 7
	contData   = reportSize - 5

	// cmdHWW is the hardware-wallet command, U2FHID_VENDOR_FIRST + 1
	// (src/usb/u2f/u2f_hid.h: 0x80 | 0x40, plus one).
	cmdHWW = 0x80 | 0x40 | 0x01
	// cmdError is FRAME_ERROR (0x80 | 0x3f).
	cmdError = 0x80 | 0x3f

	// maxMessage is USB_DATA_MAX_LEN (usb_frame.h): one init frame and 128
	// continuation frames, SEQ 0..127.
	maxMessage = initData + 128*contData
)

// Frame error codes (usb_frame.h FRAME_ERR_*).
var frameErrors = map[byte]string{
	0x01: "invalid command",
	0x02: "invalid parameter",
	0x03: "invalid length",
	0x04: "invalid sequence",
	0x05: "message timeout",
	0x06: "channel busy",
	0x0a: "lock required",
	0x0b: "invalid channel",
	0x7e: "encryption failed",
	0x7f: "other error",
}

// ErrFrame is wrapped by every error about a report that breaks the framing.
var ErrFrame = errors.New("bitbox02 usb framing")

// FrameError is the device's ERROR frame.
type FrameError struct{ Code byte }

func (e *FrameError) Error() string {
	if s, ok := frameErrors[e.Code]; ok {
		return "the device reported a framing error: " + s
	}
	return fmt.Sprintf("the device reported framing error 0x%02x", e.Code)
}

// encodeFrames cuts data into the reports of one message.
func encodeFrames(cid uint32, cmd byte, data []byte) ([][]byte, error) {
	if len(data) > maxMessage {
		return nil, fmt.Errorf("%w: message of %d bytes exceeds the %d-byte limit", ErrFrame, len(data), maxMessage)
	}
	if cmd&0x80 == 0 {
		return nil, fmt.Errorf("%w: command 0x%02x lacks the init bit", ErrFrame, cmd)
	}
	r := make([]byte, reportSize)
	binary.BigEndian.PutUint32(r, cid)
	r[4] = cmd
	binary.BigEndian.PutUint16(r[5:], uint16(len(data)))
	n := copy(r[7:], data)
	out := [][]byte{r}
	for seq := byte(0); n < len(data); seq++ {
		r := make([]byte, reportSize)
		binary.BigEndian.PutUint32(r, cid)
		r[4] = seq
		n += copy(r[5:], data[n:])
		out = append(out, r)
	}
	return out, nil
}

// assembler rebuilds one message from the reports of channel cid. Reports
// of other channels are ignored (the tail of an earlier, abandoned exchange
// arrives on its own CID).
type assembler struct {
	cid     uint32
	started bool
	cmd     byte
	want    int
	seq     byte
	data    []byte
}

// add takes one report. It returns true when the message is complete;
// cmd() and message() then hold it. An ERROR frame on the channel comes
// back as a *FrameError.
func (a *assembler) add(r []byte) (bool, error) {
	if len(r) < 5 {
		return false, fmt.Errorf("%w: report of %d bytes", ErrFrame, len(r))
	}
	if binary.BigEndian.Uint32(r) != a.cid {
		return false, nil
	}
	if r[4]&0x80 != 0 {
		if a.started {
			return false, fmt.Errorf("%w: a new message began before the last one ended (%d of %d bytes)", ErrFrame, len(a.data), a.want)
		}
		if len(r) < 7 {
			return false, fmt.Errorf("%w: init report of %d bytes", ErrFrame, len(r))
		}
		a.cmd = r[4]
		a.want = int(binary.BigEndian.Uint16(r[5:]))
		if a.cmd == cmdError {
			if a.want < 1 || len(r) < 8 {
				return false, fmt.Errorf("%w: empty error frame", ErrFrame)
			}
			return false, &FrameError{Code: r[7]}
		}
		if a.want > maxMessage {
			return false, fmt.Errorf("%w: message of %d bytes announced, limit %d", ErrFrame, a.want, maxMessage)
		}
		a.started = true
		a.data = make([]byte, 0, a.want)
		a.data = append(a.data, r[7:min(len(r), 7+a.want)]...)
		return len(a.data) == a.want, nil
	}
	if !a.started {
		return false, fmt.Errorf("%w: continuation report (seq %d) without an init report", ErrFrame, r[4])
	}
	if r[4] != a.seq {
		return false, fmt.Errorf("%w: continuation report seq %d, expected %d", ErrFrame, r[4], a.seq)
	}
	a.seq++
	a.data = append(a.data, r[5:min(len(r), 5+a.want-len(a.data))]...)
	return len(a.data) == a.want, nil
}

func (a *assembler) message() []byte { return a.data }
