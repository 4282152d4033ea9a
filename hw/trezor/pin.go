package trezor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// PINKind says which PIN the device asks for.
type PINKind int

// The PIN requests (PinMatrixRequestType).
const (
	PINCurrent   PINKind = 1 // unlock the device
	PINNewFirst  PINKind = 2
	PINNewSecond PINKind = 3
)

// PINFunc asks the user for the device's PIN by blind matrix entry. The
// Trezor shows the digits 1-9 on a scrambled 3x3 grid that only its screen
// shows; the user answers with the positions of the PIN's digits on that
// grid, counted like a numeric keypad:
//
//	7 8 9
//	4 5 6
//	1 2 3
//
// so the computer never learns the PIN. The function returns those
// positions ("1"-"9" characters). An error (ErrPINCancelled or ctx's) cancels
// the request on the device.
type PINFunc func(ctx context.Context, kind PINKind) (string, error)

// PassphraseFunc asks the user for the BIP-39 passphrase when a device with
// passphrase protection wants it. onDeviceOK says the device can take the
// passphrase on its own screen; returning onDevice true asks for that.
type PassphraseFunc func(ctx context.Context, onDeviceOK bool) (passphrase string, onDevice bool, err error)

// ErrPINCancelled is what a PINFunc returns when the user gives up.
var ErrPINCancelled = errors.New("PIN entry cancelled")

// maxPINLen is the firmware's limit (trezorlib's MAX_PIN_LENGTH).
const maxPINLen = 50

// checkPINPositions accepts 1 to 50 positions, each a digit 1-9.
func checkPINPositions(s string) error {
	if len(s) == 0 || len(s) > maxPINLen {
		return fmt.Errorf("a PIN has 1 to %d digits", maxPINLen)
	}
	for _, c := range s {
		if c < '1' || c > '9' {
			return errors.New("type the positions of the PIN's digits on the device's grid, with the keys 1 to 9 only")
		}
	}
	return nil
}

// TerminalPIN returns a PINFunc for a terminal: it draws the positions grid
// on out and reads one line from in. The caller should switch off echo on
// the terminal if it wants (the positions alone do not reveal the PIN). An
// empty line cancels.
func TerminalPIN(in io.Reader, out io.Writer) PINFunc {
	r := bufio.NewReader(in)
	return func(ctx context.Context, kind PINKind) (string, error) {
		what := "the PIN of your Trezor"
		switch kind {
		case PINNewFirst:
			what = "a new PIN"
		case PINNewSecond:
			what = "the new PIN again"
		}
		fmt.Fprintf(out, "Enter %s. Your Trezor shows a grid of digits; type, for each digit of the PIN,\n"+
			"the position where the Trezor shows it, using this layout:\n\n"+
			"    7 8 9\n    4 5 6\n    1 2 3\n\n"+
			"(an empty line cancels) PIN positions: ", what)
		type result struct {
			line string
			err  error
		}
		res := make(chan result, 1)
		go func() {
			line, err := r.ReadString('\n')
			res <- result{line, err}
		}()
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case x := <-res:
			line := strings.TrimSpace(x.line)
			if x.err != nil && !(errors.Is(x.err, io.EOF) && line != "") {
				if errors.Is(x.err, io.EOF) {
					return "", ErrPINCancelled
				}
				return "", x.err
			}
			if line == "" {
				return "", ErrPINCancelled
			}
			if err := checkPINPositions(line); err != nil {
				return "", err
			}
			return line, nil
		}
	}
}
