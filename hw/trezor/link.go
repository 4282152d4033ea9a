package trezor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/countersign/countersign/hw/transport"
	tp "github.com/countersign/countersign/hw/trezor/trezorproto"
)

// Stats counts the traffic of one driver instance.
type Stats struct {
	MessagesOut, MessagesIn int // protobuf messages
	ReportsOut, ReportsIn   int // 64-byte reports
	BytesOut, BytesIn       int // payload bytes before framing
	Sent                    map[tp.MessageType]int
	Received                map[tp.MessageType]int
	Resyncs                 int // link resets after an interrupted exchange
}

func (s Stats) clone() Stats {
	c := s
	c.Sent, c.Received = map[tp.MessageType]int{}, map[tp.MessageType]int{}
	for k, v := range s.Sent {
		c.Sent[k] = v
	}
	for k, v := range s.Received {
		c.Received[k] = v
	}
	return c
}

// drainQuiet is how long the link must stay silent before a resync
// considers stale replies drained.
const drainQuiet = 50 * time.Millisecond

// link sends and receives whole messages over a transport. It is not safe
// for concurrent use; the Trezor type serialises calls.
type link struct {
	t     transport.Transport
	stats Stats
	// broken is set when an exchange stopped half way: the device may still
	// send the rest of a reply, or still wait for the user.
	broken bool
}

func newLink(t transport.Transport) *link {
	return &link{t: t, stats: Stats{Sent: map[tp.MessageType]int{}, Received: map[tp.MessageType]int{}}}
}

// send writes one message.
func (l *link) send(ctx context.Context, m tp.Message) error {
	payload := m.Marshal()
	reports, err := tp.EncodeReports(m.Type(), payload)
	if err != nil {
		return err
	}
	for _, r := range reports {
		if err := l.t.Write(ctx, r); err != nil {
			l.broken = true
			return fmt.Errorf("send %s: %w", m.Type(), err)
		}
		l.stats.ReportsOut++
	}
	l.stats.MessagesOut++
	l.stats.BytesOut += len(payload)
	l.stats.Sent[m.Type()]++
	return nil
}

// recv reads one message. A report that breaks the codec, or a transport
// failure, leaves the link broken.
func (l *link) recv(ctx context.Context) (tp.MessageType, []byte, error) {
	var asm tp.Assembler
	for {
		r, err := l.t.Read(ctx)
		if err != nil {
			if asm.InProgress() || !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				l.broken = true
			}
			return 0, nil, err
		}
		l.stats.ReportsIn++
		typ, payload, done, err := asm.Add(r)
		if err != nil {
			l.broken = true
			return 0, nil, fmt.Errorf("bad report from the device: %w", err)
		}
		if done {
			l.stats.MessagesIn++
			l.stats.BytesIn += len(payload)
			l.stats.Received[typ]++
			return typ, payload, nil
		}
	}
}

// drain reads and drops whatever the device still sends until the link has
// been quiet for drainQuiet.
func (l *link) drain(ctx context.Context) error {
	for {
		dctx, cancel := context.WithTimeout(ctx, drainQuiet)
		_, err := l.t.Read(dctx)
		cancel()
		if err == nil {
			l.stats.ReportsIn++
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil
		}
		return err
	}
}

// pingEmulator sends the UDP emulator probe and waits for its answer, as
// trezorlib's UdpTransport does before using an address.
func pingEmulator(ctx context.Context, t transport.Transport, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := t.Write(ctx, []byte("PINGPING")); err != nil {
		return err
	}
	for {
		r, err := t.Read(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return errors.New("no Trezor emulator answers there (no reply to PINGPING)")
			}
			return fmt.Errorf("no Trezor emulator answers there: %w", err)
		}
		if string(r) == "PONGPONG" {
			return nil
		}
		// A report left over from an earlier session: keep waiting.
	}
}
