// Package transport moves raw bytes between countersign and a signing device.
// It knows nothing about any vendor's protocol: drivers in hw/<vendor> frame
// their messages on top of it, and device emulators plug in underneath it, so
// a driver runs unchanged against a real device, a vendor simulator or
// countersign's own emulator.
//
// Two shapes cover the devices countersign speaks to:
//
//   - Transport carries fixed-size reports of at most ReportSize bytes, one at
//     a time: USB HID (Coldcard, Trezor One, Ledger), the Coldcard simulator's
//     unix datagram socket, the Trezor emulator's UDP port, and an in-memory
//     Pipe for tests.
//   - Stream carries whole length-prefixed messages over TCP, the shape of
//     Ledger's Speculos APDU socket.
//
// Every call takes a context; cancelling it makes a blocked Read or Write
// return ctx.Err() promptly. Report boundaries are preserved on every
// Transport: one Write arrives as exactly one Read on the other side.
package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// ReportSize is the size of a full-speed USB HID report, the unit every
// report-based device in countersign's scope uses.
const ReportSize = 64

// ErrClosed is returned by calls on a Transport or Stream that was closed,
// by either end where the other end is visible (Pipe).
var ErrClosed = errors.New("transport closed")

// ErrNoUSB is returned by the USB functions of a binary built without cgo.
var ErrNoUSB = errors.New("USB support not compiled in (built without cgo)")

// Transport carries reports of at most ReportSize bytes to and from one
// device. Implementations are safe for one concurrent reader, one concurrent
// writer and a concurrent Close; protocol code above them serialises whole
// exchanges itself.
type Transport interface {
	// Write sends one report.
	Write(ctx context.Context, report []byte) error
	// Read returns the next report from the device, blocking until one
	// arrives, ctx ends or the transport is closed.
	Read(ctx context.Context) ([]byte, error)
	// Close releases the device. It unblocks pending calls.
	Close() error
}

// checkReport rejects reports no device in scope can carry.
func checkReport(report []byte) error {
	if len(report) == 0 || len(report) > ReportSize {
		return fmt.Errorf("transport: report of %d bytes (want 1..%d)", len(report), ReportSize)
	}
	return nil
}

// deadliner is the part of net.Conn that deadlines go through.
type deadliner func(time.Time) error

// withDeadline runs op with the connection deadline tied to ctx: ctx's own
// deadline applies, and cancelling ctx moves the deadline to the past so a
// blocked read or write returns at once. Errors caused by ctx come back as
// ctx.Err(), so callers can tell Ctrl-C from a dead device.
func withDeadline(ctx context.Context, set deadliner, op func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dl, _ := ctx.Deadline()
	if err := set(dl); err != nil {
		return netError(ctx, err)
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = set(time.Unix(1, 0))
		close(fired)
	})
	err := op()
	if !stop() {
		// The callback has started: let it finish, or its past deadline
		// could land on the next call's read after the reset below.
		<-fired
	}
	_ = set(time.Time{})
	return netError(ctx, err)
}

// netError maps what the net package returns for a closed socket or an
// expired deadline to ErrClosed and ctx's error.
func netError(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, net.ErrClosed):
		return ErrClosed
	case errors.Is(err, os.ErrDeadlineExceeded):
		// Only ctx sets deadlines here, so this is ctx's deadline racing
		// the check above.
		return context.DeadlineExceeded
	}
	return err
}
