package trezor

import (
	"context"
	"errors"
	"fmt"
	"time"

	tp "github.com/countersign/countersign/hw/trezor/trezorproto"
)

// cancelTimeout bounds sending Cancel after the caller gave up.
const cancelTimeout = time.Second

// call sends req and answers the device's interaction requests until it
// sends a final reply, which it returns:
//
//   - ButtonRequest: prompt (or a default instruction) goes to the user,
//     then ButtonAck; the wait for the next message lasts as long as ctx.
//   - PinMatrixRequest: Options.PIN gives the positions; without it, or
//     when it fails, Cancel.
//   - PassphraseRequest: Options.Passphrase gives the passphrase.
//   - Failure: a *FailureError.
//
// If ctx ends while the device waits for the user, Cancel is sent so the
// device leaves its screen, and the link is resynchronised on the next call.
func (z *Trezor) call(ctx context.Context, req tp.Message, prompt string) (tp.MessageType, []byte, error) {
	if err := z.ensureLink(ctx); err != nil {
		return 0, nil, err
	}
	if err := z.link.send(ctx, req); err != nil {
		return 0, nil, err
	}
	waitingUser := false
	var hostErr error // why the host cancelled a request (PIN entry failed...)
	for {
		rctx, cancel := ctx, context.CancelFunc(func() {})
		if !waitingUser {
			rctx, cancel = context.WithTimeout(ctx, z.opts.ReplyTimeout)
		}
		typ, payload, err := z.link.recv(rctx)
		cancel()
		if err != nil {
			if cerr := ctxErr(ctx); cerr != nil {
				z.abort()
				return 0, nil, cerr
			}
			if errors.Is(err, context.DeadlineExceeded) {
				z.link.broken = true
				return 0, nil, fmt.Errorf("no reply to %s within %s", req.Type(), z.opts.ReplyTimeout)
			}
			return 0, nil, err
		}
		waitingUser = false
		switch typ {
		case tp.TypeButtonRequest:
			var br tp.ButtonRequest
			if err := br.Unmarshal(payload); err != nil {
				z.link.broken = true
				return 0, nil, err
			}
			z.opts.Prompt.Prompt(z.buttonPrompt(br.Code, prompt))
			if err := z.link.send(ctx, &tp.ButtonAck{}); err != nil {
				return 0, nil, err
			}
			waitingUser = true
		case tp.TypePinMatrixRequest:
			var pr tp.PinMatrixRequest
			if err := pr.Unmarshal(payload); err != nil {
				z.link.broken = true
				return 0, nil, err
			}
			positions, err := z.askPIN(ctx, PINKind(pr.Kind))
			if err != nil {
				hostErr = err
				if ctx.Err() != nil {
					z.abort()
					return 0, nil, err
				}
				if err := z.link.send(ctx, &tp.Cancel{}); err != nil {
					return 0, nil, err
				}
				continue
			}
			if err := z.link.send(ctx, &tp.PinMatrixAck{Pin: positions}); err != nil {
				return 0, nil, err
			}
		case tp.TypePassphraseRequest:
			var pr tp.PassphraseRequest
			if err := pr.Unmarshal(payload); err != nil {
				z.link.broken = true
				return 0, nil, err
			}
			ack, err := z.askPassphrase(ctx, pr.OnDevice)
			if err != nil {
				hostErr = err
				if ctx.Err() != nil {
					z.abort()
					return 0, nil, err
				}
				if err := z.link.send(ctx, &tp.Cancel{}); err != nil {
					return 0, nil, err
				}
				continue
			}
			if err := z.link.send(ctx, ack); err != nil {
				return 0, nil, err
			}
		case tp.TypeFailure:
			if tp.IsInvalidProtocol(typ, payload) {
				return 0, nil, errTHP
			}
			var f tp.Failure
			if err := f.Unmarshal(payload); err != nil {
				return 0, nil, err
			}
			if hostErr != nil {
				return 0, nil, hostErr
			}
			return 0, nil, &FailureError{Code: f.Code, Message: f.Message}
		default:
			if hostErr != nil {
				// The device went on although the host cancelled: the
				// exchange is out of step.
				z.link.broken = true
				return 0, nil, hostErr
			}
			return typ, payload, nil
		}
	}
}

// buttonPrompt is what the user reads while the device waits for a press.
func (z *Trezor) buttonPrompt(code uint32, prompt string) string {
	if prompt != "" {
		return prompt
	}
	switch code {
	case tp.ButtonRequestPublicKey:
		return fmt.Sprintf("Confirm the public key on your %s.", z.name())
	case tp.ButtonRequestAddress:
		return fmt.Sprintf("Check the address on your %s and confirm it.", z.name())
	}
	return fmt.Sprintf("Confirm on your %s.", z.name())
}

func (z *Trezor) askPIN(ctx context.Context, kind PINKind) (string, error) {
	if z.opts.PIN == nil {
		return "", errors.New("the Trezor is locked and asks for its PIN, but no PIN entry is available here: run the command in a terminal, or unlock the device (for example with Trezor Suite) first")
	}
	positions, err := z.opts.PIN(ctx, kind)
	if err != nil {
		return "", fmt.Errorf("PIN entry: %w", err)
	}
	if err := checkPINPositions(positions); err != nil {
		return "", fmt.Errorf("PIN entry: %w", err)
	}
	return positions, nil
}

func (z *Trezor) askPassphrase(ctx context.Context, deviceAsks bool) (*tp.PassphraseAck, error) {
	if deviceAsks {
		// Firmware before 2.3.0 takes it on its own screen.
		return &tp.PassphraseAck{}, nil
	}
	if z.opts.Passphrase == nil {
		return nil, errors.New("the Trezor has passphrase protection and asks for the passphrase, but no passphrase entry is available here")
	}
	onDeviceOK := z.features.HasCapability(tp.CapabilityPassphraseEntry)
	p, onDevice, err := z.opts.Passphrase(ctx, onDeviceOK)
	if err != nil {
		return nil, fmt.Errorf("passphrase entry: %w", err)
	}
	if onDevice {
		if !onDeviceOK {
			return nil, errors.New("this Trezor cannot take the passphrase on its own screen")
		}
		return &tp.PassphraseAck{OnDevice: true}, nil
	}
	if len(p) > 50 {
		return nil, errors.New("a Trezor passphrase has at most 50 bytes")
	}
	return &tp.PassphraseAck{Passphrase: tp.Str(p)}, nil
}

// abort tells the device to leave whatever it waits for after the caller
// gave up, and marks the link for resynchronisation.
func (z *Trezor) abort() {
	z.link.broken = true
	ctx, cancel := context.WithTimeout(context.Background(), cancelTimeout)
	defer cancel()
	_ = z.link.send(ctx, &tp.Cancel{})
}

// ensureLink resynchronises a link left broken by an interrupted exchange:
// it drains what the device still sends and starts over with Initialize.
func (z *Trezor) ensureLink(ctx context.Context) error {
	if !z.link.broken {
		return nil
	}
	z.link.stats.Resyncs++
	if err := z.link.drain(ctx); err != nil {
		return fmt.Errorf("resynchronise the link: %w", err)
	}
	fp, hasFP := z.fp, z.hasFP
	if err := z.initialize(ctx); err != nil {
		return err
	}
	z.fp, z.hasFP = fp, hasFP
	return nil
}

// ctxErr is ctx's error, also when its deadline has passed but its own
// timer has not fired yet: a child context with the same deadline can
// notice first.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}
