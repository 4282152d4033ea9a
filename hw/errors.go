package hw

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/countersign/countersign/hw/transport"
	"github.com/countersign/countersign/psbt"
)

// The kinds of signer failure. Every one of them is an ErrDevice (exit code
// 5) except ErrNoDevice (3) and ErrMismatch (a safety refusal, 4); the CLI
// tells them apart with errors.Is, never by matching messages.
var (
	// ErrDevice is wrapped by every device or transport failure.
	ErrDevice = errors.New("signer error")
	// ErrRejected means the user refused on the device.
	ErrRejected = fmt.Errorf("%w: rejected on the device", ErrDevice)
	// ErrNotRegistered means the device does not know the wallet; the fix is
	// `countersign device register`.
	ErrNotRegistered = fmt.Errorf("%w: wallet not registered on the device", ErrDevice)
	// ErrLocked means the device waits for its PIN (or passphrase).
	ErrLocked = fmt.Errorf("%w: device locked", ErrDevice)
	// ErrAppClosed means the device is unlocked but the app countersign
	// talks to (Ledger's Bitcoin app) is not open.
	ErrAppClosed = fmt.Errorf("%w: the Bitcoin app is not open", ErrDevice)
	// ErrDisconnected means the device went away during the operation.
	ErrDisconnected = fmt.Errorf("%w: device disconnected", ErrDevice)
	// ErrTimeout means the device did not answer in time.
	ErrTimeout = fmt.Errorf("%w: device timed out", ErrDevice)
	// ErrUnsupported means the signer cannot do what was asked (a file
	// signer showing an address, a device without taproot multisig).
	ErrUnsupported = fmt.Errorf("%w: not supported by this signer", ErrDevice)
	// ErrPending means the PSBT was handed to an air-gapped signer and its
	// signatures are not back yet. It is not a failure: the message says
	// where the file is and how to add the signatures later.
	ErrPending = errors.New("signature pending on the air-gapped signer")
	// ErrNoDevice means no signer matched the selection.
	ErrNoDevice = errors.New("no matching signer")
	// ErrMismatch means a device disagrees with the wallet (another
	// address, a key that is not the wallet's): a safety refusal.
	ErrMismatch = fmt.Errorf("%w: the signer disagrees with the wallet", psbt.ErrRefused)
)

// Error is a failure of one operation on one signer. It unwraps to its kind
// (one of the sentinels above) and to the cause.
type Error struct {
	Device string // "coldcard 0f056943"
	Op     string // "sign transaction"
	Kind   error  // ErrDevice, ErrRejected, ErrNotRegistered, ...
	Err    error
}

func (e *Error) Error() string {
	s := e.Err.Error()
	if e.Op != "" {
		s = e.Op + ": " + s
	}
	if e.Device != "" {
		s = e.Device + ": " + s
	}
	return s
}

func (e *Error) Unwrap() []error { return []error{e.Kind, e.Err} }

// Errorf is how drivers report a failure of a kind; the adapter fills in the
// device and the operation.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Err: fmt.Errorf(format, args...)}
}

// Kind returns the kind of a signer error: one of the sentinels above, or
// nil when err is not a signer error.
func Kind(err error) error {
	for _, k := range []error{ErrRejected, ErrNotRegistered, ErrLocked, ErrAppClosed, ErrDisconnected, ErrTimeout, ErrUnsupported, ErrDevice} {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

// classify turns whatever a driver returned into an *Error naming the
// device and the operation. Safety refusals and bad input from the psbt
// package keep their meaning (exit 4 and 2), cancellation passes through
// (Ctrl-C is not a device fault), and everything else gets a kind.
func classify(device, op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Device == "" {
			e.Device = device
		}
		if e.Op == "" {
			e.Op = op
		}
		return err
	}
	switch {
	case errors.Is(err, ErrPending), errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, psbt.ErrRefused), errors.Is(err, psbt.ErrMalformed):
		return fmt.Errorf("%s: %s: %w", device, op, err)
	case errors.Is(err, context.DeadlineExceeded), isNetTimeout(err):
		return &Error{Device: device, Op: op, Kind: ErrTimeout, Err: err}
	case errors.Is(err, transport.ErrClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ENODEV), errors.Is(err, syscall.ENOENT):
		return &Error{Device: device, Op: op, Kind: ErrDisconnected, Err: err}
	case Kind(err) != nil:
		return &Error{Device: device, Op: op, Kind: Kind(err), Err: err}
	}
	return &Error{Device: device, Op: op, Kind: ErrDevice, Err: err}
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
