// Package hw is countersign's signer layer: the Signer interface every device
// driver implements, the registry that finds attached signers, and the
// sentinel errors that the CLI maps to exit code 5.
//
// Drivers receive a PSBT and the wallet's descriptor. They never touch the
// store or the chain: registration records and drafts are the caller's job.
package hw

import (
	"context"
	"errors"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
)

var (
	// ErrDevice is wrapped by every device or transport failure.
	ErrDevice = errors.New("signer error")
	// ErrRejected means the user refused on the device.
	ErrRejected = errors.New("rejected on the device")
	// ErrNotRegistered means the device does not know the wallet; the fix is
	// `countersign device register`.
	ErrNotRegistered = errors.New("wallet not registered on the device")
	// ErrNoDevice means no signer matched the selection.
	ErrNoDevice = errors.New("no matching signer")
)

// Signer is one signing device or key. Methods that need the user to press a
// button block until they do or ctx ends.
type Signer interface {
	// Fingerprint is the BIP-32 fingerprint of the signer's master key.
	Fingerprint(ctx context.Context) ([4]byte, error)
	// Xpub returns the extended public key at path (from the master).
	Xpub(ctx context.Context, path []uint32) (*hdkeychain.ExtendedKey, error)
	// Register enrolls the multisig wallet on the device. It returns the
	// device's proof of registration where it has one (Ledger's HMAC), else nil.
	Register(ctx context.Context, d *descriptor.Descriptor, net *chaincfg.Params, name string) ([]byte, error)
	// DisplayAddress shows the wallet's address at (branch, index) on the
	// device and returns the address the device computed.
	DisplayAddress(ctx context.Context, d *descriptor.Descriptor, net *chaincfg.Params, name string, branch, index uint32) (string, error)
	// Sign returns a copy of p with the signer's partial signatures added. It
	// adds nothing else and never finalizes.
	Sign(ctx context.Context, p *bpsbt.Packet, d *descriptor.Descriptor, net *chaincfg.Params, name string) (*bpsbt.Packet, error)
	// Close releases the device.
	Close() error
}
