package jade

import (
	"errors"
	"fmt"

	"github.com/countersign/countersign/hw"
)

// RPC error codes (Blockstream/Jade@cfce08ce, main/utils/cbor_rpc.h).
const (
	CodeInvalidRequest  = -32600
	CodeUnknownMethod   = -32601
	CodeBadParameters   = -32602
	CodeInternalError   = -32603
	CodeUserCancelled   = -32000
	CodeProtocolError   = -32001
	CodeHWLocked        = -32002
	CodeNetworkMismatch = -32003
)

// RPCError is an error reply from the device.
type RPCError struct {
	Code    int
	Message string
	Data    []byte
}

func (e *RPCError) Error() string {
	// The message is the device's text: quoted, so that nothing it holds
	// reaches a terminal as control characters.
	return fmt.Sprintf("the Jade answered %q (error %d)", e.Message, e.Code)
}

// Messages of the firmware that mean the wallet is not registered
// (main/multisig.c multisig_load_from_storage, main/process/
// get_registered_multisig.c).
var notRegisteredMessages = []string{
	"Cannot find named multisig wallet",
	"Named multisig wallet does not exist for this signer",
}

// kindOf maps an error reply to the adapter's kinds.
func kindOf(e *RPCError) (why string, kind error) {
	switch e.Code {
	case CodeUserCancelled:
		return "cancelled on the Jade", hw.ErrRejected
	case CodeHWLocked:
		return "the Jade is locked; unlock it and try again", hw.ErrLocked
	case CodeNetworkMismatch:
		return "this Jade's wallet is tied to the other network type (mainnet or the test networks): it cannot be used for this wallet's network", hw.ErrDevice
	case CodeUnknownMethod:
		return "the Jade's firmware does not know this request: update the firmware with Blockstream's app", hw.ErrUnsupported
	case CodeBadParameters:
		for _, m := range notRegisteredMessages {
			if e.Message == m {
				return "the wallet is not registered on this Jade", hw.ErrNotRegistered
			}
		}
	}
	return "", hw.ErrDevice
}

// fail wraps err as an hw.Error of the right kind for operation op.
func (j *Jade) fail(op string, err error) error {
	var already *hw.Error
	if errors.As(err, &already) {
		if already.Op == "" {
			already.Op = op
		}
		if already.Device == "" {
			already.Device = j.name()
		}
		return err
	}
	var re *RPCError
	if errors.As(err, &re) {
		if re.Code == CodeHWLocked {
			j.ready = false // locked since (unplugged, or logged out): unlock again next time
		}
		why, kind := kindOf(re)
		if why != "" {
			err = fmt.Errorf("%s: %w", why, err)
		}
		return &hw.Error{Device: j.name(), Op: op, Kind: kind, Err: err}
	}
	// Anything else (transport, timeouts, cancellation) is classified by
	// the adapter from its cause, and named there.
	return err
}
