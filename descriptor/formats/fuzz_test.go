package formats

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw/qr/bbqr"
	"github.com/countersign/countersign/hw/qr/ur"
	"github.com/countersign/countersign/internal/vectors"
)

// FuzzImport checks that Import never panics, that every failure is
// classified (unknown format or invalid content), and that whatever it
// accepts exports in the detected format and imports back to the same
// wallet.
func FuzzImport(f *testing.F) {
	for _, name := range []string{"coldcard_multisig_file.txt", "caravan_config.json"} {
		if b, err := os.ReadFile(vectors.Path(f, name)); err == nil {
			f.Add(b)
		}
	}
	var v struct {
		Coldcard []struct {
			Descriptor string `json:"descriptor"`
		} `json:"coldcard_descriptor_export_with_checksum"`
	}
	vectors.Load(f, "descriptor_checksum.json", &v)
	for _, c := range v.Coldcard {
		f.Add([]byte(c.Descriptor))
	}
	for _, rec := range bip129Records(f) {
		f.Add([]byte(rec.content))
	}
	for _, w := range []*Wallet{
		testWallet(f, descriptor.ScriptWsh, 2, 3, &chaincfg.MainNetParams, true),
		testWallet(f, descriptor.ScriptSh, 2, 3, &chaincfg.TestNet3Params, true),
		testWallet(f, descriptor.ScriptShWsh, 3, 5, &chaincfg.TestNet3Params, false),
	} {
		for _, format := range Formats() {
			if out, err := Export(w, format); err == nil {
				f.Add(out)
			}
		}
	}

	// Wallets as QR parts: a Coldcard file in BBQr, a crypto-output UR.
	if b, err := os.ReadFile(vectors.Path(f, "coldcard_multisig_file.txt")); err == nil {
		if parts, _, err := bbqr.Split(b, bbqr.FileTypeUnicode, bbqr.SplitOptions{MaxVersion: 8}); err == nil {
			f.Add([]byte(strings.Join(parts, "\n")))
		}
	}
	w := testWallet(f, descriptor.ScriptWsh, 2, 3, &chaincfg.TestNet3Params, true)
	if msg, err := ur.EncodeCryptoOutputDescriptor(w.Descriptor, ur.OutputOptions{}); err == nil {
		if e, err := ur.NewEncoder(ur.TypeCryptoOutput, msg, 80, 10); err == nil {
			f.Add([]byte(strings.Join(e.Parts(e.SeqLen()+2), "\n")))
		}
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		w, format, err := Import(data, nil)
		if err != nil {
			if !errors.Is(err, ErrUnknownFormat) && !errors.Is(err, descriptor.ErrInvalid) {
				t.Fatalf("unclassified import error: %v", err)
			}
			return
		}
		if format == FormatUR || format == FormatBBQr {
			// Import-only formats: check the wallet through the
			// descriptor format.
			format = FormatDescriptor
		}
		checkImported(t, data, w, format)
	})
}

// checkImported checks a wallet Import (or a format's reader) accepted:
// it exports in that format and imports back, detected as that format, to
// the same wallet with whatever the format carries.
func checkImported(t *testing.T, data []byte, w *Wallet, format Format) {
	t.Helper()
	out, err := Export(w, format)
	if err != nil {
		t.Fatalf("imported as %s but does not export as %s: %v\ninput:\n%s", format, format, err, data)
	}
	back, again, err := Import(out, w.Network)
	if err != nil {
		t.Fatalf("export does not import: %v\n%s", err, out)
	}
	if again != format {
		t.Fatalf("export detected as %s, want %s", again, format)
	}
	if !descriptor.Equal(back.Descriptor, w.Descriptor) {
		t.Fatalf("descriptor changed:\n%s\n%s", w.Descriptor, back.Descriptor)
	}
	if descriptor.NetworkName(back.Network) != descriptor.NetworkName(w.Network) {
		t.Fatalf("network changed: %s to %s", descriptor.NetworkName(w.Network), descriptor.NetworkName(back.Network))
	}
	if namedFormats[format] && back.Name != w.Name {
		t.Fatalf("name changed: %q to %q", w.Name, back.Name)
	}
	if labelledFormats[format] && !slices.Equal(back.Labels, w.Labels) {
		t.Fatalf("labels changed: %q to %q", w.Labels, back.Labels)
	}
}

// fuzzFormat is the body of the per-format targets. The input goes through
// Import, as FuzzImport does, and also straight to the format's reader as
// Import hands text over after detection, so mutations that no longer look
// like the format still reach its reader. Whatever the reader accepts must
// export in that format and import back the same; its failures must be
// classified.
func fuzzFormat(f *testing.F, format Format) {
	c, ok := codecFor(format)
	if !ok {
		f.Fatalf("no codec for %s", format)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if w, got, err := Import(data, nil); err == nil {
			checkImported(t, data, w, got)
		} else if !errors.Is(err, ErrUnknownFormat) && !errors.Is(err, descriptor.ErrInvalid) {
			t.Fatalf("unclassified import error: %v", err)
		}
		if len(data) > maxImportSize || !utf8.Valid(data) {
			return // Import refuses these before any reader
		}
		w, err := c.imp(strings.TrimPrefix(string(data), "\ufeff"), nil)
		if err != nil {
			if !errors.Is(err, descriptor.ErrInvalid) && !errors.Is(err, ErrUnknownFormat) && !errors.Is(err, ErrBSMSToken) {
				t.Fatalf("unclassified %s reader error: %v", format, err)
			}
			return
		}
		checkImported(t, data, w, format)
	})
}

// The per-format targets. Seeds: testdata/fuzz/<target> (the format's
// published vectors and fixtures, the files the detect and bad-input tests
// read, and exports of test wallets of every script type).

func FuzzImportDescriptor(f *testing.F) { fuzzFormat(f, FormatDescriptor) }
func FuzzImportCore(f *testing.F)       { fuzzFormat(f, FormatCore) }
func FuzzImportColdcard(f *testing.F)   { fuzzFormat(f, FormatColdcard) }
func FuzzImportCaravan(f *testing.F)    { fuzzFormat(f, FormatCaravan) }
func FuzzImportSpecter(f *testing.F)    { fuzzFormat(f, FormatSpecter) }
