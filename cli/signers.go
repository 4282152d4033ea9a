package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/file"
)

// SignerOptions are the flags shared by commands that use a signer.
type SignerOptions struct {
	PassphraseFile string
	NoWait         bool
}

// openSigner resolves a --with selector:
//
//	key:NAME             a software key in the key store
//	file:DIR             an air-gapped signer reached through PSBT files in DIR
//	coldcard[:FPR], path:...   a hardware signer (see `countersign device list`)
func (f *Factory) openSigner(ctx context.Context, spec string, so SignerOptions) (hw.Signer, string, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "key":
		if arg == "" {
			return nil, "", usagef("--with key:NAME needs the key's name (see `countersign key list`)")
		}
		ks, err := f.KeyStore()
		if err != nil {
			return nil, "", err
		}
		pass, err := f.passphrase(so.PassphraseFile, "Passphrase for key "+arg+": ", false)
		if err != nil {
			return nil, "", err
		}
		s, err := ks.Open(arg, pass)
		if err != nil {
			return nil, "", err
		}
		return s, "software key " + arg, nil
	case "file":
		if arg == "" {
			return nil, "", usagef("--with file:DIR needs the folder of the SD card")
		}
		// The file signer's lines say which file to carry to the device and
		// where the signed one is expected: instructions, not progress, so
		// they are printed with or without a terminal.
		prompt := func(msg string) { fmt.Fprintln(f.IO.ErrOut, msg) }
		return &file.Signer{Dir: arg, Wait: !so.NoWait, Prompt: prompt}, "PSBT files in " + arg, nil
	}
	return f.openDevice(ctx, spec)
}

// prompter prints device instructions ("Confirm on your Coldcard") and
// waiting progress on stderr when it is a terminal; scripts and logs stay
// silent.
func (f *Factory) prompter() func(string) {
	return func(msg string) {
		if f.IO.StderrTTY {
			fmt.Fprintln(f.IO.ErrOut, msg)
		}
	}
}
