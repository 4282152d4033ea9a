package bitbox02

import (
	"encoding/binary"
)

// Device side of the USB framing, after bitbox02-firmware (commit
// a3467ad11daee7081cc041ba9217c81e471022e6) src/usb/usb_frame.c:
// _cmd_init, _cmd_continue and usb_frame_reply. Reports are 64 bytes:
// an init frame is CID(4) CMD(1, bit 7 set) BCNT(2) data(57), a
// continuation frame CID(4) SEQ(1) data(59).
const (
	reportSize = 64
	initData   = reportSize - 7
	contData   = reportSize - 5
	cmdHWW     = 0x80 | 0x40 | 0x01
	cmdError   = 0x80 | 0x3f
	// usbDataMaxLen is USB_DATA_MAX_LEN (usb_frame.h).
	usbDataMaxLen = 7609

	frameErrInvalidCmd  = 0x01
	frameErrInvalidLen  = 0x03
	frameErrInvalidSeq  = 0x04
	frameErrChannelBusy = 0x06
	// frameErrIgnore means drop the report silently (FRAME_ERR_IGNORE).
	frameErrIgnore = 0x80
)

// frameState reassembles one incoming message, like the firmware's State.
type frameState struct {
	initialized bool
	cid         uint32
	cmd         byte
	want        int
	seq         byte
	data        []byte
}

// add processes one report. It returns the finished message's command and
// data when complete, or a FRAME_ERR_* code (0 when none) to report on cid.
func (s *frameState) add(r []byte) (done bool, errCode byte, cid uint32) {
	if len(r) < 7 {
		return false, frameErrInvalidLen, 0
	}
	cid = binary.BigEndian.Uint32(r)
	typ := r[4]
	if typ&0x80 != 0 {
		// _cmd_init: a new init frame from the same channel resynchronises;
		// one from another channel mid-message is busy.
		if s.initialized && cid != s.cid {
			return false, frameErrChannelBusy, cid
		}
		if s.initialized && cid == s.cid {
			return false, frameErrInvalidSeq, cid
		}
		n := int(binary.BigEndian.Uint16(r[5:]))
		if n > usbDataMaxLen {
			return false, frameErrInvalidLen, cid
		}
		*s = frameState{initialized: true, cid: cid, cmd: typ, want: n, data: make([]byte, 0, n)}
		// A report shorter than 64 bytes carries what it has (the HID
		// layer pads to 64; a broken host may not).
		s.data = append(s.data, r[7:min(len(r), 7+min(n, initData))]...)
		return s.finish(), 0, cid
	}
	// _cmd_continue
	if !s.initialized {
		return false, frameErrIgnore, cid
	}
	if cid != s.cid {
		return false, frameErrChannelBusy, cid
	}
	if typ != s.seq {
		s.reset()
		return false, frameErrInvalidSeq, cid
	}
	if len(s.data) >= s.want {
		s.reset()
		return false, frameErrInvalidLen, cid
	}
	s.seq++
	s.data = append(s.data, r[5:min(len(r), 5+min(s.want-len(s.data), contData))]...)
	return s.finish(), 0, cid
}

func (s *frameState) finish() bool { return len(s.data) == s.want }

func (s *frameState) reset() { *s = frameState{} }

// replyFrames cuts a reply into reports (usb_frame_reply); zero padding.
func replyFrames(cid uint32, cmd byte, data []byte) [][]byte {
	first := make([]byte, reportSize)
	binary.BigEndian.PutUint32(first, cid)
	first[4] = cmd
	binary.BigEndian.PutUint16(first[5:], uint16(len(data)))
	n := copy(first[7:], data)
	out := [][]byte{first}
	for seq := byte(0); n < len(data); seq++ {
		r := make([]byte, reportSize)
		binary.BigEndian.PutUint32(r, cid)
		r[4] = seq
		n += copy(r[5:], data[n:])
		out = append(out, r)
	}
	return out
}

// errorFrame is usb_frame_prepare_err.
func errorFrame(cid uint32, code byte) []byte {
	r := make([]byte, reportSize)
	binary.BigEndian.PutUint32(r, cid)
	r[4] = cmdError
	r[6] = 1
	r[7] = code
	return r
}
