package soft

import (
	"errors"
	"fmt"

	"github.com/countersign/countersign/hw"
)

var (
	// ErrWrongPassphrase means the key file did not decrypt with the
	// passphrase given. The key file itself is intact.
	ErrWrongPassphrase = errors.New("wrong passphrase for the key")
	// ErrExists means a key of that name is already in the store; keys are
	// never overwritten.
	ErrExists = errors.New("key already exists")
	// ErrNotFound means the store has no key of that name. It wraps
	// hw.ErrNoDevice: to the CLI a missing key is a signer that is not there.
	ErrNotFound = fmt.Errorf("%w: no such key in the key store", hw.ErrNoDevice)
	// ErrInvalid is wrapped by every rejection of bad input: a key name, a
	// mnemonic, an extended key, a word count or a BIP-39 passphrase.
	ErrInvalid = errors.New("invalid key input")
	// ErrClosed is returned by a Signer used after Close.
	ErrClosed = fmt.Errorf("%w: software key already closed", hw.ErrDevice)
)
