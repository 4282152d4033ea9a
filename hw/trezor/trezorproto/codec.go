// Package trezorproto is the Trezor wire protocol as countersign speaks it:
// the "v1" codec that cuts a message into 64-byte reports (this file), and
// the protobuf messages a multisig coordinator exchanges with the device
// (messages.go, bitcoin.go), encoded and decoded by hand with
// google.golang.org/protobuf/encoding/protowire.
//
// Both countersign's trezor driver (hw/trezor) and its emulator
// (hw/emulator/trezor) use this package; trezorlib, the vendor's Python
// library, is the independent check that both agree with the real protocol
// (see the interop test in hw/emulator/trezor).
//
// # Sources
//
// Message type ids and field numbers come from the firmware repository
// github.com/trezor/trezor-firmware, directory common/protob:
//
//	messages.proto             commit 586ef3ff8ca9e18c81acdfef8717147d900bd300 (MessageType enum)
//	messages-common.proto      commit 586ef3ff8ca9e18c81acdfef8717147d900bd300
//	messages-management.proto  commit 2c0504ad1cc1bf9a8b6496dab53e660c617b64f0
//	messages-bitcoin.proto     commit 245203e24add4dc33bf7955fc94f6d2759948b5a
//
// MultisigRedeemScriptType.pubkeys_order (field 6, enum MultisigPubkeysOrder
// PRESERVED = 0, LEXICOGRAPHIC = 1) is newer than that messages-bitcoin.proto;
// its number and values are the ones the firmware reads
// (core/src/apps/bitcoin/multisig.py, legacy/firmware/crypto.c) and
// trezor-suite's generated decoder uses. Failure_InvalidProtocol (17) and the
// fixed reply a Trezor-Host-Protocol-only device sends to a v1 message come
// from core/src/trezor/wire/thp/interface_context.py, commit
// 5f7d5b4f3afb3a549abf61ac9d71b92b8552c0f7.
//
// # The v1 codec
//
// A message is a 2-byte big-endian type, a 4-byte big-endian length and the
// protobuf payload. On the wire it is prefixed with "##" and cut into 63-byte
// pieces, each sent as a 64-byte report that starts with '?', the last one
// padded with zeros:
//
//	first report:         '?' '#' '#' type(2) length(4) payload[0:55]
//	continuation reports: '?' payload[...63 bytes]
//
// trezorlib's transport/protocol.py (ProtocolV1) and the firmware's
// legacy/firmware/usb.c and core/src/trezor/wire/codec/codec_v1.py do the
// same.
package trezorproto

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ReportSize is the size of every report on the wire (USB HID, WebUSB and the
// emulator's UDP datagrams).
const ReportSize = 64

// MaxMessageSize bounds the payload of one message accepted from the peer. A
// Trezor's largest message is a few kilobytes; the bound keeps a corrupted
// length from allocating without limit.
const MaxMessageSize = 1 << 20

const (
	firstHeaderLen = 3 + 2 + 4 // "?##", type, length
	firstDataLen   = ReportSize - firstHeaderLen
	nextDataLen    = ReportSize - 1
)

var (
	// ErrBadMagic means a report did not start with the codec's magic
	// characters: '?##' for the first report of a message, '?' for the
	// others. A device that speaks the Trezor-Host Protocol (THP) instead
	// of the v1 codec answers with such reports.
	ErrBadMagic = errors.New("trezor codec: unexpected magic characters")
	// ErrShortReport means a report was too short to hold its header.
	ErrShortReport = errors.New("trezor codec: report too short")
	// ErrTooLarge means a message announced more than MaxMessageSize bytes.
	ErrTooLarge = errors.New("trezor codec: message too large")
)

// EncodeReports cuts one message into 64-byte reports.
func EncodeReports(t MessageType, payload []byte) ([][]byte, error) {
	if len(payload) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(payload))
	}
	buf := make([]byte, 0, 8+len(payload))
	buf = append(buf, '#', '#')
	buf = binary.BigEndian.AppendUint16(buf, uint16(t))
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(payload)))
	buf = append(buf, payload...)
	var out [][]byte
	for off := 0; off < len(buf); off += nextDataLen {
		r := make([]byte, ReportSize)
		r[0] = '?'
		copy(r[1:], buf[off:min(off+nextDataLen, len(buf))])
		out = append(out, r)
	}
	return out, nil
}

// Assembler reassembles one message from reports. The zero value is ready;
// after a message completes (or an error), the next report must start a new
// message.
type Assembler struct {
	started bool
	typ     MessageType
	want    int
	buf     []byte
	// Max bounds the announced payload length; 0 means MaxMessageSize.
	Max int
}

// Reset drops a partly received message.
func (a *Assembler) Reset() {
	a.started, a.buf, a.want, a.typ = false, nil, 0, 0
}

// InProgress reports whether part of a message has been received.
func (a *Assembler) InProgress() bool { return a.started }

// Add takes the next report. When it completes a message, done is true and t
// and payload are the message. A malformed report resets the assembler and
// returns an error.
func (a *Assembler) Add(report []byte) (t MessageType, payload []byte, done bool, err error) {
	if !a.started {
		if len(report) < firstHeaderLen {
			a.Reset()
			return 0, nil, false, fmt.Errorf("%w: %d bytes for a first report", ErrShortReport, len(report))
		}
		if report[0] != '?' || report[1] != '#' || report[2] != '#' {
			a.Reset()
			return 0, nil, false, fmt.Errorf("%w: first report starts with % x", ErrBadMagic, report[:3])
		}
		typ := MessageType(binary.BigEndian.Uint16(report[3:5]))
		n := binary.BigEndian.Uint32(report[5:9])
		limit := a.Max
		if limit <= 0 {
			limit = MaxMessageSize
		}
		if uint64(n) > uint64(limit) {
			a.Reset()
			return 0, nil, false, fmt.Errorf("%w: %s announces %d bytes (limit %d)", ErrTooLarge, typ, n, limit)
		}
		a.started, a.typ, a.want = true, typ, int(n)
		a.buf = make([]byte, 0, a.want)
		a.take(report[firstHeaderLen:])
	} else {
		if len(report) < 1 {
			a.Reset()
			return 0, nil, false, fmt.Errorf("%w: empty continuation report", ErrShortReport)
		}
		if report[0] != '?' {
			a.Reset()
			return 0, nil, false, fmt.Errorf("%w: continuation report starts with 0x%02x", ErrBadMagic, report[0])
		}
		a.take(report[1:])
	}
	if len(a.buf) < a.want {
		return 0, nil, false, nil
	}
	t, payload = a.typ, a.buf
	a.Reset()
	return t, payload, true, nil
}

func (a *Assembler) take(data []byte) {
	if rest := a.want - len(a.buf); len(data) > rest {
		data = data[:rest]
	}
	a.buf = append(a.buf, data...)
}

// ReportsFor returns how many reports a payload of n bytes takes.
func ReportsFor(n int) int {
	total := 8 + n
	return (total + nextDataLen - 1) / nextDataLen
}
