// Package qrsigner signs through QR codes with an air-gapped signer that
// has a camera and a screen: a Coldcard Q (BBQr), or Keystone, Passport,
// SeedSigner, Jade (QR mode) and Krux (BC-UR).
//
// SignPSBT shows the PSBT as an animated QR code in the terminal (Unicode
// half blocks, sized to the terminal it is given), and reads the signed
// PSBT back from what a USB QR scanner types: one part a line, in any
// order, duplicates ignored, BBQr or UR recognised by content. The answer
// can also come from image files (photos or screenshots of the device's
// screen, decoded in Go) or from parts piped into stdin. With an output
// folder it writes the frames as PNG files, an animated GIF and the parts
// as text (parts.txt, one per line) instead of, or before, showing them,
// and can return hw.ErrPending at once so the signatures are added later,
// as the file signer (hw/file) does with microSD cards.
//
// Register shows the wallet for the device to enrol: the Coldcard
// multisig setup file as BBQr text for a Coldcard Q, a crypto-output UR
// (or output-descriptor, the version 3 type) for the others.
//
// A camera signer has no channel back but what it shows, so Fingerprint,
// Xpub and DisplayAddress fail with hw.ErrUnsupported and say how to do
// that on the device. Its fingerprint being unknown, the hw adapter takes
// back any cosigner's new signatures, each verified.
//
// The transports are the codecs in hw/qr: bbqr (BBQr.md), ur (BCR-2020-005
// and BCR-2024-001 with the registry types of BCR-2020-006/010) and render
// (QR symbols, terminal and image output, image decoding).
//
// The package lives beside the vendor drivers (hw/coldcard, hw/file)
// rather than under hw/qr, whose packages are pure codecs on the floor
// below hw; its emulator is hw/emulator/qrsigner, as hw/emulator/coldcard
// is hw/coldcard's.
package qrsigner

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
)

// Format is the QR transport a signer speaks.
type Format int

const (
	// UR is Blockchain Commons' Uniform Resources: crypto-psbt for PSBTs,
	// crypto-output for wallets (Keystone, Passport, SeedSigner, Jade,
	// Krux, Sparrow).
	UR Format = iota
	// BBQr is Coinkite's "Better Bitcoin QR" (Coldcard Q).
	BBQr
)

// String is the format's selector word: "ur" or "bbqr".
func (f Format) String() string {
	if f == BBQr {
		return "bbqr"
	}
	return "ur"
}

// ParseFormat reads "ur" or "bbqr" (any case); "" is UR, the format of
// generic QR signers.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "ur":
		return UR, nil
	case "bbqr":
		return BBQr, nil
	}
	return UR, fmt.Errorf("%w: unknown QR format %q: use ur or bbqr", hw.ErrBadSelector, s)
}

// Defaults.
const (
	// DefaultFPS is the animation speed: BBQr.md's 250 ms a frame, which
	// the Coldcard Q and the UR signers all follow.
	DefaultFPS = 4
	// DefaultURFragment is the UR fragment length in bytes: about 460
	// characters a part, a version 11 code that a phone-grade camera reads
	// off a laptop screen at arm's length.
	DefaultURFragment = 200
	// DefaultMaxVersion caps the QR version (97 modules) when neither
	// --max-fragment nor the terminal says more.
	DefaultMaxVersion = 20
	// TerminalBorder is the quiet zone drawn in the terminal, in modules.
	// ISO/IEC 18004 asks for 4, which image files get; the terminal gets
	// 2 so that one more QR version fits, which the signers' decoders read.
	TerminalBorder = 2
	// statusRows are the lines under the code: progress and a hint.
	statusRows = 3
)

// Options configure a Signer. The zero value shows UR parts nowhere and
// reads nothing: set at least Screen and In, Images, or OutDir.
type Options struct {
	Format Format
	// URv2 writes the version 2/3 registry types, psbt and
	// output-descriptor, instead of crypto-psbt and crypto-output. Few
	// signers read them yet. Answers of either version are always read.
	URv2 bool
	// FPS is the animation speed; 0 means DefaultFPS.
	FPS float64
	// MaxFragment is the most bytes of the payload one QR code carries:
	// the UR fragment length, or for BBQr the bytes a part holds after
	// encoding (5 per 8 characters). 0 means DefaultURFragment for UR and
	// codes up to DefaultMaxVersion for BBQr.
	MaxFragment int
	// Width and Height are the terminal's size in character cells; the
	// code, its border and the status lines are made to fit. 0 means no
	// limit.
	Width, Height int
	// Screen is the terminal the animation is drawn on (ANSI escapes);
	// nil shows nothing there.
	Screen io.Writer
	// In is what a USB QR scanner types: one part a line. Piped text of
	// the same form works too. nil reads nothing.
	In io.Reader
	// Images are pictures of the signer's answer (PNG, GIF, JPEG if the
	// program registered it): when set, the answer is read from them and
	// nothing is shown or read from In.
	Images []string
	// OutDir receives the frames (frame-001.png, ...), an animated GIF and
	// parts.txt before anything else happens.
	OutDir string
	// Wait, with OutDir, waits for the answer on Screen/In after writing
	// the files; without it SignPSBT returns hw.ErrPending once they are
	// written. Without OutDir the signer always waits: the code on the
	// screen is the only way the PSBT reaches the device.
	Wait bool
	// Prompt receives instructions (what to scan, what was written);
	// nil is silent.
	Prompt func(string)
	// Status receives progress ("12/20 parts") and notes about ignored
	// scans when there is no Screen to draw them under the code; nil is
	// silent.
	Status func(string)
}

// Signer is a QR code signer behind the hw adapter.
type Signer struct {
	o Options

	linesOnce sync.Once
	lines     chan line
}

var _ hw.Device = (*Signer)(nil)

// New returns a signer with the given options.
func New(o Options) *Signer {
	return &Signer{o: o}
}

// Selector is how the user names this signer on the command line.
func (s *Signer) Selector() string { return "qr:" + s.o.Format.String() }

// Info describes the signer for messages.
func (s *Signer) Info() hw.DeviceInfo {
	model := "camera signer (UR: Keystone, Passport, SeedSigner, Jade, Krux)"
	name := "QR signer (UR)"
	if s.o.Format == BBQr {
		model, name = "camera signer (BBQr: Coldcard Q)", "QR signer (BBQr)"
	}
	return hw.DeviceInfo{Type: "qr", Model: model, Transport: "qr", Path: s.Selector(), Name: name}
}

// ErrUnsupported is returned for what a camera signer cannot tell. It
// wraps hw.ErrUnsupported.
var ErrUnsupported = fmt.Errorf("%w: a QR signer only shows its answers on its own screen", hw.ErrUnsupported)

// Fingerprint is not available through QR codes.
func (s *Signer) Fingerprint(ctx context.Context) ([4]byte, error) {
	return [4]byte{}, fmt.Errorf("%w: read the fingerprint on the device (it is in its xpub export), or import its cosigner QR (crypto-account) with `countersign wallet import`, which prints its key", ErrUnsupported)
}

// Xpub is not available through QR codes.
func (s *Signer) Xpub(ctx context.Context, path descriptor.Path) (*hdkeychain.ExtendedKey, error) {
	return nil, fmt.Errorf("%w: export the multisig xpub on the device (Keystone, Passport, SeedSigner: Export Xpub, multisig; Coldcard Q: Settings > Multisig Wallets > Export XPUB), save the scan to a file and pass it to `countersign wallet import`, which prints the key for --cosigner", ErrUnsupported)
}

// DisplayAddress is not available through QR codes: the device could show
// an address, but nothing brings what it computed back to compare.
func (s *Signer) DisplayAddress(ctx context.Context, w *hw.Wallet, branch, index uint32) (string, error) {
	return "", fmt.Errorf("%w: check the address on the device itself (SeedSigner and Keystone verify an address QR against the registered wallet; Coldcard Q: Address Explorer)", ErrUnsupported)
}

// Close does nothing: a reader blocked on In cannot be interrupted, and
// the process owns stdin.
func (s *Signer) Close() error { return nil }

func (s *Signer) prompt(msg string) {
	if s.o.Prompt != nil {
		s.o.Prompt(msg)
	}
}

func (s *Signer) fps() float64 {
	if s.o.FPS <= 0 {
		return DefaultFPS
	}
	return s.o.FPS
}
