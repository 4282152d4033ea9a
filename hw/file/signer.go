// Package file signs through PSBT files for air-gapped signers: a Coldcard
// reading its microSD card, or any device or program that signs a PSBT file
// and writes the result beside it.
//
// Sign writes the PSBT into Dir (the mounted card), tells the user what to do
// on the device, and either returns ErrPending at once or waits for the file
// the device writes back. Coldcard names its output after the input file
// (firmware shared/auth.py and shared/files.py, Coldcard/firmware commit
// 8eb0e008f63f181e8f0834c00dedba3a07aca77c): for NAME.psbt it writes
// NAME-part.psbt while signatures are still missing, or NAME-signed.psbt plus
// the finished transaction NAME-final.txn (hex) when its signature completes
// the transaction, adding -2, -3, ... before the extension when a file of
// that name is already on the card. With its "Delete PSBTs" setting on it
// writes only TXID.txn. Sign accepts any new NAME-*.psbt, checks that it is
// the same transaction, and keeps nothing from it but partial signatures,
// each verified by psbt.Combine.
//
// A file signer has no channel back to the device, so Fingerprint, Xpub and
// DisplayAddress fail with ErrUnsupported: use the device itself for those.
package file

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/internal/atomicfile"
)

// ErrUnsupported is returned for what a file signer cannot do. It wraps
// hw.ErrUnsupported.
var ErrUnsupported = fmt.Errorf("%w: not possible with a file signer", hw.ErrUnsupported)

// defaultPoll is how often Sign looks for the signed file when Poll is 0:
// often enough to feel immediate after the card is back, rare enough to cost
// nothing.
const defaultPoll = time.Second

// Signer exchanges PSBT files with an air-gapped signer through Dir.
type Signer struct {
	Dir    string        // the folder the device reads and writes: the mounted microSD card
	Wait   bool          // wait for the signed file; otherwise Sign returns ErrPending
	Poll   time.Duration // how often to look for the signed file; 0 means one second
	Prompt func(string)  // receives instructions and progress lines; nil means silent
}

var _ hw.Device = (*Signer)(nil)

// Info names the folder for messages.
func (s *Signer) Info() hw.DeviceInfo {
	return hw.DeviceInfo{Type: "file", Model: "air-gapped signer (PSBT files)", Path: s.Dir, Name: "PSBT files in " + s.Dir}
}

// Fingerprint is not available through files.
func (s *Signer) Fingerprint(ctx context.Context) ([4]byte, error) {
	return [4]byte{}, fmt.Errorf("%w: a file signer cannot report its fingerprint; read it on the device (Coldcard: Advanced/Tools > View Identity) or from its exported xpub file", ErrUnsupported)
}

// Xpub is not available through files.
func (s *Signer) Xpub(ctx context.Context, path descriptor.Path) (*hdkeychain.ExtendedKey, error) {
	return nil, fmt.Errorf("%w: a file signer cannot derive xpubs; export them on the device (Coldcard: Settings > Multisig Wallets > Export XPUB) and import that file", ErrUnsupported)
}

// DisplayAddress is not available through files.
func (s *Signer) DisplayAddress(ctx context.Context, w *hw.Wallet, branch, index uint32) (string, error) {
	return "", fmt.Errorf("%w: a file signer cannot show addresses; check the address on the device itself (Coldcard: Address Explorer, after registering the wallet)", ErrUnsupported)
}

// Register writes the wallet as a Coldcard multisig file, NAME-coldcard.txt,
// into Dir for the user to import on the device. It returns no token.
func (s *Signer) Register(ctx context.Context, w *hw.Wallet) ([]byte, error) {
	name := w.Name
	if err := s.checkDir(ctx); err != nil {
		return nil, err
	}
	data, err := formats.Export(&formats.Wallet{Name: name, Descriptor: w.Descriptor, Network: w.Network}, formats.FormatColdcard)
	if err != nil {
		return nil, fmt.Errorf("write the Coldcard file of wallet %q: %w", name, err)
	}
	fn := stem(name, "wallet") + "-coldcard.txt"
	if err := atomicfile.WriteWith(filepath.Join(s.Dir, fn), data, atomicfile.Options{NoChmod: true}); err != nil {
		return nil, err
	}
	s.prompt(fmt.Sprintf("Wrote %s. On the Coldcard: Settings > Multisig Wallets > Import, choose %s, check every key and approve.",
		filepath.Join(s.Dir, fn), fn))
	return nil, nil
}

// Close does nothing: there is no connection to release.
func (s *Signer) Close() error { return nil }

func (s *Signer) prompt(line string) {
	if s.Prompt != nil {
		s.Prompt(line)
	}
}

// stem turns a wallet name into a short ASCII file-name part. '-' becomes
// '_' as well, because Coldcard removes every "-part" from a name when it
// names its output, which would break the match with what we wrote.
func stem(name, fallback string) string {
	const maxLen = 20
	var b strings.Builder
	for _, r := range name {
		if b.Len() == maxLen {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return fallback
	}
	return b.String()
}
