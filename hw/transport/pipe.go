package transport

import (
	"context"
	"sync"
)

// pipeDepth is how many reports may wait unread in each direction. A real HID
// endpoint buffers a handful; a deeper queue only hides flow-control bugs.
const pipeDepth = 32

// Pipe returns the two ends of an in-memory Transport: what one end writes,
// the other reads, report by report. Tests connect a driver to an emulator
// with it. Closing either end makes both ends return ErrClosed once the
// reports already queued for them are read, as an unplugged device would.
func Pipe() (Transport, Transport) {
	ab := make(chan []byte, pipeDepth)
	ba := make(chan []byte, pipeDepth)
	done := make(chan struct{})
	once := new(sync.Once)
	a := &pipeEnd{in: ba, out: ab, done: done, once: once}
	b := &pipeEnd{in: ab, out: ba, done: done, once: once}
	return a, b
}

type pipeEnd struct {
	in   <-chan []byte
	out  chan<- []byte
	done chan struct{} // closed when either end closes
	once *sync.Once
}

func (p *pipeEnd) Write(ctx context.Context, report []byte) error {
	if err := checkReport(report); err != nil {
		return err
	}
	select {
	case <-p.done:
		return ErrClosed
	default:
	}
	// Copy: the caller may reuse its buffer, a USB stack would have sent it.
	msg := append([]byte(nil), report...)
	select {
	case p.out <- msg:
		return nil
	case <-p.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pipeEnd) Read(ctx context.Context) ([]byte, error) {
	// Deliver what is already queued before reporting a close, so the last
	// reply of an exchange is not lost to a racing Close.
	select {
	case msg := <-p.in:
		return msg, nil
	default:
	}
	select {
	case msg := <-p.in:
		return msg, nil
	case <-p.done:
		select {
		case msg := <-p.in:
			return msg, nil
		default:
			return nil, ErrClosed
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *pipeEnd) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}
