package formats

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
)

// ErrUnknownFormat is wrapped when imported content matches none of the
// formats, or an export names a format that does not exist. The CLI maps it
// to exit code 2 (bad input).
var ErrUnknownFormat = errors.New("unknown wallet file format")

// Wallet is a multisig wallet as the file formats describe it.
type Wallet struct {
	Name        string
	Descriptor  *descriptor.Descriptor // multipath wallet form
	Network     *chaincfg.Params
	Labels      []string // per key, descriptor order; "" when unknown
	BirthHeight int32    // 0 when unknown
}

// Format names a wallet file format.
type Format string

// The formats, in the order Formats lists them.
const (
	FormatDescriptor Format = "descriptor"
	FormatCore       Format = "core"
	FormatColdcard   Format = "coldcard"
	FormatCaravan    Format = "caravan"
	FormatSpecter    Format = "specter"
	FormatBSMS       Format = "bsms"
)

// maxImportSize bounds what Import reads: real wallet files are a few
// kilobytes, and Core's listdescriptors for a large wallet stays far below.
const maxImportSize = 1 << 20

// codec is one format's writer and reader.
type codec struct {
	export func(w *Wallet, d *descriptor.Descriptor) ([]byte, error)
	imp    func(text string, defaultNet *chaincfg.Params) (*Wallet, error)
	// carries says which optional wallet fields survive a round trip, so
	// Export's self-check compares exactly those.
	carriesName, carriesLabels, carriesBirth bool
}

func codecFor(f Format) (codec, bool) {
	switch f {
	case FormatDescriptor:
		return codec{export: exportDescriptor, imp: importDescriptor}, true
	case FormatCore:
		return codec{export: exportCore, imp: importCore}, true
	case FormatColdcard:
		return codec{export: exportColdcard, imp: importColdcard, carriesName: true}, true
	case FormatCaravan:
		return codec{export: exportCaravan, imp: importCaravan, carriesName: true, carriesLabels: true}, true
	case FormatSpecter:
		return codec{export: exportSpecter, imp: importSpecter, carriesName: true, carriesLabels: true, carriesBirth: true}, true
	case FormatBSMS:
		return codec{export: exportBSMS, imp: importBSMS}, true
	}
	return codec{}, false
}

// Formats lists every format Export writes and Import reads.
func Formats() []Format {
	return []Format{FormatDescriptor, FormatCore, FormatColdcard, FormatCaravan, FormatSpecter, FormatBSMS}
}

func formatList() string {
	names := make([]string, 0, 6)
	for _, f := range Formats() {
		names = append(names, string(f))
	}
	return strings.Join(names, ", ")
}

// Export writes w in format f. It refuses (wrapping descriptor.ErrInvalid)
// a wallet the format cannot express, and checks that importing the output
// gives back the same wallet before returning it.
func Export(w *Wallet, f Format) ([]byte, error) {
	f = Format(strings.ToLower(strings.TrimSpace(string(f))))
	c, ok := codecFor(f)
	if !ok {
		return nil, fmt.Errorf("%w: %q: choose one of %s", ErrUnknownFormat, f, formatList())
	}
	d, err := checkWallet(w)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", f, err)
	}
	out, err := c.export(w, d)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", f, err)
	}
	if err := selfCheck(c, f, w, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ImportOptions are Import's settings beyond the file itself.
type ImportOptions struct {
	// DefaultNet is the network to assume where the file does not say
	// (see Import).
	DefaultNet *chaincfg.Params
	// BSMSToken decrypts an encrypted BIP-129 descriptor record (.dat): the
	// hex token, its decimal form or its six words (BSMSTokenCandidates).
	// Plain files ignore it.
	BSMSToken string
}

// Import reads a wallet file, detecting its format from the content.
// defaultNet is the network to assume where the file does not say: tpub keys
// fit testnet, signet and regtest alike, so it picks among those (testnet
// when it is nil or mainnet). Files that state their network (Caravan's
// network field, a BSMS first address, xpub keys) override it. An encrypted
// BSMS record is recognised and refused with an error wrapping ErrBSMSToken;
// ImportWithOptions takes its token.
func Import(data []byte, defaultNet *chaincfg.Params) (*Wallet, Format, error) {
	return ImportWithOptions(data, ImportOptions{DefaultNet: defaultNet})
}

// ImportWithOptions is Import with a token for encrypted BSMS records.
func ImportWithOptions(data []byte, o ImportOptions) (*Wallet, Format, error) {
	if len(data) > maxImportSize {
		return nil, "", fmt.Errorf("%w: the file is %d bytes; wallet files are a few kilobytes, so this is not one (limit %d bytes)",
			ErrUnknownFormat, len(data), maxImportSize)
	}
	if !utf8.Valid(data) {
		return nil, "", fmt.Errorf("%w: the content is not UTF-8 text; %s files are all text (an encrypted BSMS record is hex text)",
			ErrUnknownFormat, formatList())
	}
	text := strings.TrimPrefix(string(data), "\ufeff") // some editors add a byte-order mark
	f, why := detect(text)
	if f == "" {
		return nil, "", fmt.Errorf("%w: %s; tried %s", ErrUnknownFormat, why, formatList())
	}
	switch f {
	case FormatUR:
		w, err := importUR(text, o)
		if err != nil {
			return nil, f, fmt.Errorf("import ur: %w", err)
		}
		return w, f, nil
	case FormatBBQr:
		w, _, err := importBBQr(text, o)
		if err != nil {
			return nil, f, fmt.Errorf("import bbqr: %w", err)
		}
		return w, f, nil
	}
	if f == FormatBSMS && looksLikeEncryptedBSMS(strings.TrimSpace(text)) {
		plain, err := bsmsDecryptRecord(text, o.BSMSToken)
		if err != nil {
			return nil, f, fmt.Errorf("import %s file: %w", f, err)
		}
		text = plain
	}
	c, _ := codecFor(f)
	w, err := c.imp(text, o.DefaultNet)
	if err != nil {
		return nil, f, fmt.Errorf("import %s file: %w", f, err)
	}
	return w, f, nil
}

// invalidf formats an error that wraps descriptor.ErrInvalid, for content
// that was recognised but is wrong.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{descriptor.ErrInvalid}, args...)...)
}

// wrapInvalid prefixes err with where it happened and makes sure it wraps
// descriptor.ErrInvalid exactly once, so messages do not repeat the
// sentinel's text.
func wrapInvalid(where string, err error) error {
	if errors.Is(err, descriptor.ErrInvalid) {
		return fmt.Errorf("%s: %w", where, err)
	}
	return fmt.Errorf("%w: %s: %w", descriptor.ErrInvalid, where, err)
}

// refuseTaproot refuses a taproot wallet for a format (or the wallets that
// read it) that has no taproot multisig: the file would be rejected, or
// read as another wallet. The descriptor, Core and BSMS formats carry tr().
func refuseTaproot(what string, d *descriptor.Descriptor) error {
	if d.Script != descriptor.ScriptTr {
		return nil
	}
	return invalidf("%s cannot describe a taproot (tr) wallet: it has no taproot multisig, no multi_a leaves and no musig() keys; export it as \"descriptor\", \"core\" or \"bsms\" instead", what)
}
