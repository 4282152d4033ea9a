package bitbox02

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/countersign/countersign/hw/transport"
)

// The HWW layer: one request and one response per U2F message on command
// 0xc1. Written from bitbox02-firmware at commit
// a3467ad11daee7081cc041ba9217c81e471022e6, src/hww.c (device side) and
// py/bitbox02/bitbox02/communication/bitbox_api_protocol.py
// (BitBoxProtocolV7._raw_query, BitBoxCommonAPI.get_info):
//
//	request:  REQ_NEW (0x00) | payload     start a request
//	          REQ_RETRY (0x01)             poll an outstanding request
//	          REQ_CANCEL (0x02)            cancel it
//	          'i'                          device info, answered directly
//	response: RSP_ACK (0x00) | payload     done
//	          RSP_NOT_READY (0x01)         still working (waiting for the user): poll again
//	          RSP_BUSY (0x02)              another request is outstanding: try later
//	          RSP_NACK (0x03)              bad request
//
// The payload of REQ_NEW is an OP request of hww.rs: 'u' unlock, 'h'/'H'
// handshake, 'v' pairing verification, 'n' noise-encrypted API message.
//
// While a request is outstanding the device answers every message but
// REQ_RETRY and REQ_CANCEL with a lone RSP_BUSY, the 'i' request included
// (src/hww.c, hww_blocking_request_can_go_through and
// hww_blocked_req_error; src/usb/usb_processing.c, _usb_arbitrate_packet).
// REQ_CANCEL is answered NACK and cancels nothing yet (_cancel_packet is a
// TODO in the firmware): what frees the device is the host going quiet. A
// request no REQ_RETRY or REQ_CANCEL reached for
// USB_OUTSTANDING_OP_TIMEOUT_MS (500 ms) is dropped, with its screen
// (_check_lock_timeout, hww_abort_outstanding_op). The vendor's library
// still sends REQ_CANCEL when the caller gives up, and so does this
// driver, on every path that leaves a request outstanding.
const (
	reqNew    = 0x00
	reqRetry  = 0x01
	reqCancel = 0x02
	reqInfo   = 'i'

	rspAck      = 0x00
	rspNotReady = 0x01
	rspBusy     = 0x02
	rspNack     = 0x03

	// pollInterval is how often an outstanding request is polled (the
	// vendor's host library sleeps 200 ms).
	pollInterval = 200 * time.Millisecond
	// busyWait is how long to wait before retrying a request the device
	// dropped as busy (the vendor's library sleeps a second).
	busyWait = time.Second
)

// Stats counts the traffic of one connection.
type Stats struct {
	ReportsOut, ReportsIn int
	Queries               int // REQ_NEW requests
	Polls                 int // REQ_RETRY requests
	Busy                  int // RSP_BUSY answers
	Cancels               int // REQ_CANCEL requests
	APICalls              int // noise-encrypted API messages
	BytesOut, BytesIn     int // HWW payload bytes
}

// link exchanges HWW messages over a transport. It is not safe for
// concurrent use; the adapter serialises calls.
type link struct {
	t     transport.Transport
	stats Stats
	// replyTimeout bounds a single report exchange that needs no user.
	replyTimeout time.Duration
}

// newCID picks a channel id; 0 and the broadcast id are reserved.
func newCID() uint32 {
	var b [4]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0x01020304
		}
		if v := binary.BigEndian.Uint32(b[:]); v != 0 && v != 0xffffffff {
			return v
		}
	}
}

// exchange sends one HWW message on a fresh channel and returns the
// device's reply. A fresh CID per exchange means replies left over from an
// abandoned exchange are recognised and skipped.
func (l *link) exchange(ctx context.Context, msg []byte) ([]byte, error) {
	rsp, _, err := l.transact(ctx, msg)
	return rsp, err
}

// transact is exchange that also says whether the whole message went out,
// so the device may have acted on it even when no reply came.
func (l *link) transact(ctx context.Context, msg []byte) (rsp []byte, sent bool, err error) {
	cid := newCID()
	frames, err := encodeFrames(cid, cmdHWW, msg)
	if err != nil {
		return nil, false, err
	}
	for _, f := range frames {
		if err := l.t.Write(ctx, f); err != nil {
			return nil, false, err
		}
		l.stats.ReportsOut++
	}
	l.stats.BytesOut += len(msg)
	rsp, err = l.receive(ctx, cid)
	return rsp, true, err
}

// receive reads the reply on channel cid.
func (l *link) receive(ctx context.Context, cid uint32) ([]byte, error) {
	rctx, cancel := context.WithTimeout(ctx, l.replyTimeout)
	defer cancel()
	a := assembler{cid: cid}
	for {
		r, err := l.t.Read(rctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				return nil, fmt.Errorf("no reply from the device within %s: %w", l.replyTimeout, err)
			}
			return nil, err
		}
		l.stats.ReportsIn++
		done, err := a.add(r)
		if err != nil {
			return nil, err
		}
		if done {
			if a.cmd != cmdHWW {
				return nil, fmt.Errorf("%w: reply with command 0x%02x, expected 0x%02x", ErrFrame, a.cmd, cmdHWW)
			}
			l.stats.BytesIn += len(a.message())
			return a.message(), nil
		}
	}
}

// waitFunc is called once when a request turns out to wait for the user
// (the first RSP_NOT_READY), so the caller can tell the user what to do.
type waitFunc func()

// query runs one HWW request to completion: REQ_NEW, then REQ_RETRY every
// pollInterval while the device is not ready. When ctx ends while the
// request may be outstanding on the device (waiting between polls, or in
// the middle of the REQ_NEW or a REQ_RETRY exchange) it is cancelled
// (REQ_CANCEL) and polling stops, before returning ctx's error.
func (l *link) query(ctx context.Context, payload []byte, onWait waitFunc) ([]byte, error) {
	msg := append([]byte{reqNew}, payload...)
	var rsp []byte
	for {
		l.stats.Queries++
		var err error
		rsp, err = l.step(ctx, msg, false)
		if err != nil {
			return nil, err
		}
		if len(rsp) == 0 {
			return nil, errors.New("empty reply from the HWW layer")
		}
		if rsp[0] != rspBusy {
			break
		}
		// Another request (a U2F workflow, or another program) holds the
		// device.
		l.stats.Busy++
		if err := sleep(ctx, busyWait); err != nil {
			return nil, fmt.Errorf("the device stayed busy with another request: %w", err)
		}
	}
	waited := false
	for {
		switch rsp[0] {
		case rspAck:
			return rsp[1:], nil
		case rspNack:
			if waited {
				// No request is running: the device dropped ours, which
				// it does to a request not polled for 500 ms.
				return nil, errors.New("the device no longer has the request (NACK to a poll): it drops a request the host does not poll for half a second")
			}
			return nil, errors.New("the device refused the request (NACK)")
		case rspNotReady:
			if len(rsp) != 1 {
				return nil, fmt.Errorf("NOT_READY reply with %d bytes of payload", len(rsp)-1)
			}
		default:
			return nil, fmt.Errorf("unknown HWW status 0x%02x", rsp[0])
		}
		if !waited && onWait != nil {
			onWait()
		}
		waited = true
		if err := sleep(ctx, pollInterval); err != nil {
			l.cancel()
			return nil, err
		}
		l.stats.Polls++
		var err error
		rsp, err = l.step(ctx, []byte{reqRetry}, true)
		if err != nil {
			return nil, err
		}
		if len(rsp) == 0 {
			return nil, errors.New("empty reply from the HWW layer")
		}
		if rsp[0] == rspBusy {
			return nil, errors.New("the device answered a poll with BUSY")
		}
	}
}

// step sends REQ_NEW or REQ_RETRY and returns the reply. When the
// exchange fails (the caller gave up in the middle of it, or the device
// stopped answering) while our request is outstanding on the device,
// waiting for the user, the request is cancelled, as when the caller gives
// up between polls. It is outstanding when an earlier reply said NOT_READY
// (outstanding, for REQ_RETRY: whether this poll went out or not), or may
// be when a REQ_NEW went out and no reply came back. Nothing is sent when
// the transport is gone, nor for a REQ_NEW the device refused at the
// framing layer.
func (l *link) step(ctx context.Context, msg []byte, outstanding bool) ([]byte, error) {
	rsp, sent, err := l.transact(ctx, msg)
	if err == nil || transportGone(err) {
		return rsp, err
	}
	var fe *FrameError
	if outstanding || sent && !errors.As(err, &fe) {
		l.cancel()
	}
	return rsp, err
}

func transportGone(err error) bool {
	return errors.Is(err, transport.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// cancel asks the device to drop its outstanding request; used when the
// caller gives up while the device waits for the user. It has its own short
// deadline since the caller's context has ended. The answer does not
// matter: today's firmware answers NACK and drops the request on its own
// once the polls stop.
func (l *link) cancel() {
	ctx, stop := context.WithTimeout(context.Background(), 2*time.Second)
	defer stop()
	l.stats.Cancels++
	_, _ = l.exchange(ctx, []byte{reqCancel})
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Platform and edition codes of the info reply (src/hww.c, _api_info).
const (
	platformBitBox02     = 0x00
	platformBitBox02Plus = 0x02
	platformBitBox03     = 0x03
	editionMulti         = 0x00
	editionBTCOnly       = 0x01
)

// DeviceStatus is the reply to the 'i' request, which works in any state
// (locked, uninitialised) and without the encrypted channel.
type DeviceStatus struct {
	Version     string // "v9.21.0"
	Platform    byte
	Edition     byte
	Unlocked    bool
	Initialized bool // firmware 9.20.0 and newer; true for older ones that do not say
}

// Model names the product: "BitBox02 Multi", "BitBox02 Nova Bitcoin-only", ...
func (s DeviceStatus) Model() string {
	name := "BitBox02"
	switch s.Platform {
	case platformBitBox02Plus:
		name = "BitBox02 Nova"
	case platformBitBox03:
		name = "BitBox03"
	}
	switch s.Edition {
	case editionMulti:
		return name + " Multi"
	case editionBTCOnly:
		return name + " Bitcoin-only"
	}
	return name
}

// parseStatus decodes the 'i' reply: a length-prefixed version string, the
// platform, the edition, the unlocked flag and (from firmware 9.20.0) the
// initialised flag.
func parseStatus(b []byte) (DeviceStatus, error) {
	var s DeviceStatus
	if len(b) < 1 {
		return s, errors.New("empty info reply")
	}
	n := int(b[0])
	if len(b) < 1+n+3 {
		return s, fmt.Errorf("info reply of %d bytes is too short", len(b))
	}
	v := strings.TrimRight(string(b[1:1+n]), "\x00")
	for _, c := range v {
		if c < 0x20 || c > 0x7e {
			return s, fmt.Errorf("info reply: version %q is not printable ASCII", v)
		}
	}
	s.Version = v
	rest := b[1+n:]
	s.Platform, s.Edition = rest[0], rest[1]
	switch rest[2] {
	case 0:
	case 1:
		s.Unlocked = true
	default:
		return s, fmt.Errorf("info reply: unlocked flag 0x%02x", rest[2])
	}
	s.Initialized = true
	if len(rest) > 3 {
		switch rest[3] {
		case 0:
			s.Initialized = false
		case 1:
		default:
			return s, fmt.Errorf("info reply: initialized flag 0x%02x", rest[3])
		}
	}
	return s, nil
}

// info asks for the device status. A device still holding a request,
// typically one a host that went away left waiting for the user, answers
// a lone RSP_BUSY until it drops it (at most about 600 ms after the last
// poll); a status reply is never one byte long, so this waits and asks
// again, as query does for a busy REQ_NEW.
func (l *link) info(ctx context.Context) (DeviceStatus, error) {
	for {
		rsp, err := l.exchange(ctx, []byte{reqInfo})
		if err != nil {
			return DeviceStatus{}, err
		}
		if len(rsp) != 1 || rsp[0] != rspBusy {
			return parseStatus(rsp)
		}
		l.stats.Busy++
		if err := sleep(ctx, busyWait); err != nil {
			return DeviceStatus{}, fmt.Errorf("the device stayed busy with another request: %w", err)
		}
	}
}
