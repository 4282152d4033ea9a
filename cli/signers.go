package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/coldcard"
	"github.com/countersign/countersign/hw/file"
	"github.com/countersign/countersign/hw/jade"
	"github.com/countersign/countersign/hw/ledger"
	"github.com/countersign/countersign/hw/trezor"
)

// SignerOptions are the flags shared by commands that use a signer.
type SignerOptions struct {
	PassphraseFile string
	NoWait         bool
}

// signerForms lists every --with form, for usage errors.
const signerForms = "key:NAME, file:DIR, coldcard[:FINGERPRINT], ledger[:FINGERPRINT], trezor[:FINGERPRINT], jade[:FINGERPRINT], path:PATH (see `countersign device list`)"

// OpenSigner resolves a --with selector to a signer behind the hw adapter:
//
//	key:NAME             a software key in the key store
//	file:DIR             an air-gapped signer reached through PSBT files in DIR
//	coldcard[:FPR], ledger[:FPR], trezor[:FPR], jade[:FPR], path:...   a hardware signer
func (f *Factory) OpenSigner(ctx context.Context, spec string, so SignerOptions) (*hw.Signer, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "key":
		if arg == "" {
			return nil, usagef("--with key:NAME needs the key's name (see `countersign key list`)")
		}
		ks, err := f.KeyStore()
		if err != nil {
			return nil, err
		}
		pass, err := f.passphrase(so.PassphraseFile, "Passphrase for key "+arg+": ", false)
		if err != nil {
			return nil, err
		}
		k, err := ks.Open(arg, pass)
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
// passphrase; without one it is reported locked, with what to do. A locked
// Jade checks its PIN with a PIN server on the network, through the host:
// countersign relays that only when COUNTERSIGN_JADE_PIN_RELAY=1, since
// it means a request to a third party's server.
func (f *Factory) deviceDrivers() []hw.Driver {
	to := trezor.DriverOptions{}
	if f.IO.CanPrompt() {
		to.PIN = trezor.TerminalPIN(f.IO.In, f.IO.ErrOut)
		to.Passphrase = f.trezorPassphrase
	}
	jo := jade.DriverOptions{}
	if f.Getenv(EnvJadePINRelay) == "1" {
		jo.PINRelay = &http.Client{Timeout: jadePINRelayTimeout}
	}
	if f.Global.Network != "" {
		jo.Network, _ = descriptor.NetworkParams(f.Global.Network) // checked when the flag was parsed
	}
	return []hw.Driver{coldcard.Driver(), ledger.Driver(), trezor.NewDriver(to), jade.NewDriver(jo)}
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
	pass, err := f.passphrase("", "Trezor passphrase (empty for none): ", false)
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
