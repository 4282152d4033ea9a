package coldcard

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/countersign/countersign/hw/transport"
)

// Stats counts the traffic of one driver instance.
type Stats struct {
	RoundTrips int // request/reply exchanges
	FramesOut  int // reports written
	FramesIn   int // reports read
	BytesOut   int // request bytes before framing
	BytesIn    int // reply bytes after reassembly
	Resyncs    int // link resets after a broken exchange
	// Polls counts the round trips answered "still waiting", and Waited
	// the time spent between them: the user's (or the device's) time,
	// neither host nor link work.
	Polls  int
	Waited time.Duration
}

// drainQuiet is how long the link must stay silent before a resync
// considers stale replies drained; drainMax bounds how many stale reports a
// resync reads (a few replies' worth) before it gives up on the device.
const (
	drainQuiet = 25 * time.Millisecond
	drainMax   = 4 * (maxMsgLen/framePayload + 1)
)

// link runs request/reply exchanges over a transport: framing, then the
// session cipher once one is set up. It is not safe for concurrent use; the
// Coldcard type serialises calls.
type link struct {
	t       transport.Transport
	cipher  *linkCipher // nil until ncry succeeds
	timeout time.Duration
	stats   Stats

	// broken is set when an exchange stopped half way (timeout,
	// cancellation, framing error). The device may still send the rest of
	// a reply and both cipher streams may be out of step, so the link must
	// be reset and the session set up again before it is used.
	broken bool
}

// roundTrip sends req and returns the device's decoded reply. Failure
// replies (err_, refu, busy, fram) come back as a *replyError.
func (l *link) roundTrip(ctx context.Context, req []byte) (reply, error) {
	if l.broken {
		return reply{}, errors.New("link is out of step after an interrupted exchange")
	}
	if len(req) < 4 || len(req) > maxMsgLen {
		return reply{}, fmt.Errorf("request of %d bytes (want 4..%d)", len(req), maxMsgLen)
	}
	if err := ctx.Err(); err != nil {
		return reply{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()

	l.broken = true // until the reply is complete
	wire := req
	if l.cipher != nil {
		wire = l.cipher.seal(req)
	}
	for _, r := range frameMessage(wire, l.cipher != nil) {
		if err := l.t.Write(ctx, r); err != nil {
			return reply{}, noReply(err)
		}
		l.stats.FramesOut++
	}
	l.stats.BytesOut += len(req)

	asm := assembler{max: maxMsgLen}
	for {
		r, err := l.t.Read(ctx)
		if err != nil {
			return reply{}, noReply(err)
		}
		l.stats.FramesIn++
		msg, encrypted, done, err := asm.add(r)
		if err != nil {
			return reply{}, fmt.Errorf("bad frame from the device: %w", err)
		}
		if !done {
			continue
		}
		l.stats.RoundTrips++
		l.stats.BytesIn += len(msg)
		switch {
		case encrypted && l.cipher == nil:
			return reply{}, errors.New("encrypted reply before a session was set up")
		case encrypted:
			msg = l.cipher.open(msg)
		case l.cipher != nil:
			// A framing error can come back in clear: the device
			// could not decrypt the request. Anything else in clear on
			// an encrypted link did not come from the session's peer.
			rep, err := decodeReply(msg)
			if rep.code != "fram" {
				return reply{}, fmt.Errorf("unencrypted %q reply on an encrypted link", printable(msg[:min(4, len(msg))]))
			}
			return rep, err
		}
		rep, err := decodeReply(msg)
		var re *replyError
		if err == nil || errors.As(err, &re) && re.code != "fram" {
			l.broken = false
		}
		return rep, err
	}
}

// noReply explains a transport failure in the middle of an exchange. A
// deadline there is the reply timeout or the caller's deadline: either way
// the device did not answer in time.
func noReply(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no reply from the device: %w", err)
	}
	return err
}

// resync discards whatever is left of an interrupted exchange: it tells the
// device to drop a partly received message, then reads until the link has
// been quiet for drainQuiet. The session cipher is dropped; the caller sets
// up a new session.
func (l *link) resync(ctx context.Context) error {
	l.stats.Resyncs++
	l.cipher = nil
	if err := l.t.Write(ctx, resetReport()); err != nil {
		return err
	}
	l.stats.FramesOut++
	for drained := 0; ; drained++ {
		if drained > drainMax {
			return errors.New("the device keeps sending; unplug it and try again")
		}
		dctx, cancel := context.WithTimeout(ctx, drainQuiet)
		_, err := l.t.Read(dctx)
		cancel()
		if err == nil {
			l.stats.FramesIn++
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			l.broken = false
			return nil
		}
		return err
	}
}

// startSession runs the ncry exchange with a fresh host key pair and
// switches the link to the new session key.
func (l *link) startSession(ctx context.Context) (sessionReply, error) {
	priv, err := btcec.NewPrivateKey()
	if err != nil {
		return sessionReply{}, err
	}
	l.cipher = nil // ncry itself always travels in clear
	rep, err := l.roundTrip(ctx, reqEncryptStart(uncompressedXY(priv.PubKey())))
	if err != nil {
		return sessionReply{}, err
	}
	s, err := rep.mypb()
	if err != nil {
		l.broken = true
		return s, err
	}
	key, err := sessionKey(priv, s.devicePub)
	if err != nil {
		l.broken = true
		return s, err
	}
	c, err := newLinkCipher(key)
	if err != nil {
		return s, err
	}
	l.cipher = c
	return s, nil
}
