package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/bitbox02"
	"github.com/countersign/countersign/hw/coldcard"
	"github.com/countersign/countersign/hw/file"
	"github.com/countersign/countersign/hw/jade"
	"github.com/countersign/countersign/hw/ledger"
	"github.com/countersign/countersign/hw/qrsigner"
	"github.com/countersign/countersign/hw/trezor"
)

// SignerOptions are the flags shared by commands that use a signer.
type SignerOptions struct {
	PassphraseFile string
	NoWait         bool
	QROptions
}

// QROptions are the QR signer's flags (--with qr...).
type QROptions struct {
	FPS         float64
	MaxFragment int
	QROut       string
	FromImage   []string
}

// used reports whether any QR flag was given.
func (q QROptions) used() bool {
	return q.FPS != 0 || q.MaxFragment != 0 || q.QROut != "" || len(q.FromImage) > 0
}

// signerForms lists every --with form, for usage errors.
const signerForms = "key:NAME, file:DIR, qr[:ur|:bbqr], coldcard[:FINGERPRINT], ledger[:FINGERPRINT], trezor[:FINGERPRINT], bitbox02[:FINGERPRINT], jade[:FINGERPRINT], path:PATH (see `countersign device list`)"

// OpenSigner resolves a --with selector to a signer behind the hw adapter:
//
//	key:NAME             a software key in the key store
//	file:DIR             an air-gapped signer reached through PSBT files in DIR
//	qr[:ur|:bbqr]        an air-gapped signer with a camera, through QR codes
//	coldcard[:FPR], ledger[:FPR], trezor[:FPR], bitbox02[:FPR], jade[:FPR], path:...   a hardware signer
func (f *Factory) OpenSigner(ctx context.Context, spec string, so SignerOptions) (*hw.Signer, error) {
	if err := checkSignerFlags(spec, so); err != nil {
		return nil, err
	}
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "key":
		if arg == "" {
			return nil, usagef("--with key:NAME needs the key's name (see `countersign key list`)")
		}
		k, err := f.openUnlockedOrSoftKey(ctx, arg, so.PassphraseFile)
		if err != nil {
			return nil, err
		}
		return hw.NewSigner(k), nil
	case "file":
		if arg == "" {
			return nil, usagef("--with file:DIR needs the folder of the SD card")
		}
		// The file signer's lines say which file to carry to the device and
		// where the signed one is expected: instructions, not progress, so
		// they are printed with or without a terminal.
		prompt := func(msg string) { fmt.Fprintln(f.IO.ErrOut, msg) }
		return hw.NewSigner(&file.Signer{Dir: arg, Wait: !so.NoWait, Prompt: prompt}), nil
	case "qr":
		q, err := f.qrSigner(arg, so)
		if err != nil {
			return nil, err
		}
		return hw.NewSigner(q), nil
	}

	s, err := f.Registry().Select(ctx, spec)
	switch {
	case errors.Is(err, hw.ErrBadSelector):
		return nil, withHint(err, "signer forms: "+signerForms)
	case errors.Is(err, hw.ErrNoDevice):
		return nil, withHint(err, "check that the device is plugged in and unlocked, then run `countersign device list`",
			"for emulators set COUNTERSIGN_EMULATORS=1")
	}
	return s, err
}

// checkSignerFlags refuses flags that do not go with the signer, before
// anything is asked of the user.
func checkSignerFlags(spec string, so SignerOptions) error {
	if kind, _, _ := strings.Cut(spec, ":"); so.QROptions.used() && kind != "qr" {
		return usagef("--fps, --max-fragment, --qr-out and --from-image are for QR signers: --with qr, qr:ur or qr:bbqr")
	}
	return nil
}

// qrSigner opens a QR signer: "" and "ur" for UR signers (Keystone,
// Passport, SeedSigner, Jade, Krux), "bbqr" for a Coldcard Q. The code is
// animated on stderr when it is a terminal, sized to it; the answer is
// read from what a USB scanner types (stdin, echo off at a terminal), from
// a pipe, or from --from-image files. With --qr-out the signer returns
// pending after writing the files unless it can wait: stdin is a terminal
// (a scanner) and --no-wait is not given.
func (f *Factory) qrSigner(format string, so SignerOptions) (*qrsigner.Signer, error) {
	fm, err := qrsigner.ParseFormat(format)
	if err != nil {
		return nil, withHint(err, "QR signer forms: qr (UR: Keystone, Passport, SeedSigner, Jade, Krux), qr:ur, qr:bbqr (Coldcard Q)")
	}
	if so.NoWait && so.QROut == "" {
		return nil, usagef("--no-wait with a QR signer needs --qr-out DIR: without the files the code on the screen is the only way the PSBT reaches the device")
	}
	for _, img := range so.FromImage {
		if _, err := os.Stat(img); err != nil {
			return nil, usagef("--from-image %s: %v", img, err)
		}
	}
	o := qrsigner.Options{
		Format:      fm,
		FPS:         so.FPS,
		MaxFragment: so.MaxFragment,
		OutDir:      so.QROut,
		Images:      so.FromImage,
		Wait:        !so.NoWait && (f.IO.StdinTTY || len(so.FromImage) > 0),
		// Instructions say what to scan and where the files are: printed
		// with or without a terminal, like the file signer's.
		Prompt: func(msg string) { fmt.Fprintln(f.IO.ErrOut, safe(msg)) },
		Status: f.prompter(),
	}
	if f.IO.StderrTTY {
		o.Screen = f.IO.ErrOut
		o.Width, o.Height = f.IO.termSize()
	}
	in, restore := f.IO.scanner()
	o.In = in
	f.onClose(func() error { restore(); return nil })
	return qrsigner.New(o), nil
}

// Registry builds the device registry over every driver countersign has.
func (f *Factory) Registry() *hw.Registry {
	r := hw.NewRegistry(f.deviceDrivers()...)
	r.Getenv = f.Getenv
	r.Prompt = f.prompter()
	return r
}

// EnvJadePINRelay lets countersign relay a locked Jade's PIN check to its
// PIN server when set to "1".
const EnvJadePINRelay = "COUNTERSIGN_JADE_PIN_RELAY"

// jadePINRelayTimeout bounds one request to a Jade's PIN server.
const jadePINRelayTimeout = 30 * time.Second

// deviceDrivers lists the hardware signer families, one per vendor package.
// At a terminal a locked Trezor asks for its PIN (blind matrix) and
// passphrase; without one it is reported locked, with what to do. A
// BitBox02 is paired once, at a terminal (the code shows on both screens
// and the user confirms it on the device); the pairing is remembered in
// <data-dir>/bitbox02/pairings.json, so later runs, scripts included, need
// no confirmation.
// A locked
// Jade checks its PIN with a PIN server on the network, through the host:
// countersign relays that only when COUNTERSIGN_JADE_PIN_RELAY=1, since
// it means a request to a third party's server.
func (f *Factory) deviceDrivers() []hw.Driver {
	to := trezor.DriverOptions{}
	if f.IO.CanPrompt() {
		to.PIN = trezor.TerminalPIN(f.IO.In, f.IO.ErrOut)
		to.Passphrase = f.trezorPassphrase
	}
	bo := bitbox02.DriverOptions{AllowPairing: f.IO.CanPrompt()}
	if dir, err := f.DataDir(); err == nil {
		bo.Pairings = bitbox02.FileStore{Path: filepath.Join(dir, "bitbox02", "pairings.json")}
	}
	jo := jade.DriverOptions{}
	if f.Getenv(EnvJadePINRelay) == "1" {
		jo.PINRelay = &http.Client{Timeout: jadePINRelayTimeout}
	}
	if f.Global.Network != "" {
		jo.Network, _ = descriptor.NetworkParams(f.Global.Network) // checked when the flag was parsed
	}
	return []hw.Driver{coldcard.Driver(), ledger.Driver(), trezor.NewDriver(to), bitbox02.NewDriver(bo), jade.NewDriver(jo)}
}

// trezorPassphrase asks for a Trezor's BIP-39 passphrase, offering entry
// on the device when it supports that (safer: nothing typed on this computer).
func (f *Factory) trezorPassphrase(ctx context.Context, onDeviceOK bool) (string, bool, error) {
	p := newLinePrompter(f.IO)
	if onDeviceOK {
		on, err := p.Confirm("Enter the Trezor passphrase on the device itself?", true)
		if err != nil {
			return "", false, err
		}
		if on {
			return "", true, nil
		}
	}
	// Typed here, never taken from COUNTERSIGN_PASSPHRASE: that is the key
	// store's, and a wrong Trezor passphrase silently opens another wallet.
	pass, err := f.typedSecret("Trezor passphrase (empty for none): ")
	if err != nil {
		return "", false, err
	}
	return string(pass), false, nil
}

// prompter prints device instructions ("Confirm on your Coldcard") and
// waiting progress on stderr when it is a terminal; scripts and logs stay
// silent. Device strings inside them are escaped.
func (f *Factory) prompter() func(string) {
	return func(msg string) {
		if f.IO.StderrTTY {
			fmt.Fprintln(f.IO.ErrOut, safe(msg))
		}
	}
}

// registrationHint adds the fix for an unregistered wallet.
func registrationHint(err error, walletName, spec string) error {
	if errors.Is(err, hw.ErrNotRegistered) {
		return withHint(err, fmt.Sprintf("register it first: countersign device register %s --with %s", walletName, spec))
	}
	return err
}
