// Package paper renders a wallet's printable backup: one page (A4 or US
// Letter) that a family can keep in a drawer and restore the watch-only
// wallet from with any descriptor wallet, years later, without countersign.
//
// The page holds the wallet's name, its policy in plain words ("Any 2 of
// these 3 keys can spend"), a table of cosigners (label, fingerprint,
// derivation path, xpub), the descriptor with its BIP-380 checksum as text
// and as QR code(s), the first three receive addresses to check a restore
// against, the birth height when known, the date, and short restore
// instructions naming tools that read the descriptor. It holds no private
// key: it cannot spend, but it reveals every address, which the page says.
//
// All wallet text (names, labels) is untrusted: it is reduced to what the
// PDF core fonts can draw (Windows-1252: ASCII and Latin-1 letters), with
// '?' for anything else, and cut to fit its box. Output is deterministic
// for a fixed Options.Created, so tests can hash it.
//
// Wallets with many keys (a 15-of-15) do not fit one page with the xpub
// table and a scannable QR code; the page then flows onto a second one
// (RenderResult reports the page count), and a descriptor too long for one
// code (more than about 2070 characters, e.g. 20 keys) is split into
// codes labelled "part i of n".
package paper

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
)

// Paper is a page size.
type Paper string

// The page sizes. Both use the same content box (see the layout
// constants), so a page printed on the other size with "actual size" loses
// nothing.
const (
	A4     Paper = "A4"
	Letter Paper = "Letter"
)

// Options are Render's settings.
type Options struct {
	// Created is the date printed on the page and the PDF's creation
	// date. The zero value means now; set it to get byte-identical output.
	Created time.Time
	// Paper is A4 (the default) or Letter.
	Paper Paper
}

// Result describes what Render produced.
type Result struct {
	PDF        []byte
	Pages      int      // 1, or 2 when the restore section did not fit
	QRParts    []string // the text of each QR code, in order; joined they are Descriptor
	Descriptor string   // the descriptor printed and encoded, with checksum
	Addresses  []string // the first receive addresses printed
}

// ErrInvalid is wrapped when the wallet cannot be printed (no descriptor,
// no network, a descriptor that does not derive).
var ErrInvalid = errors.New("cannot print wallet backup")

// receiveAddresses is how many first receive addresses the page lists.
const receiveAddresses = 3

// Render draws w's backup page and returns the PDF.
func Render(w *formats.Wallet, opts Options) ([]byte, error) {
	r, err := RenderResult(w, opts)
	if err != nil {
		return nil, err
	}
	return r.PDF, nil
}

// RenderResult is Render that also returns what the page holds, for
// callers that report it (and tests that check it).
func RenderResult(w *formats.Wallet, opts Options) (*Result, error) {
	if w == nil || w.Descriptor == nil || w.Network == nil {
		return nil, fmt.Errorf("%w: the wallet needs a descriptor and a network", ErrInvalid)
	}
	d := w.Descriptor.Multipath()
	if err := d.CheckNetwork(w.Network); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(w.Labels) != 0 && len(w.Labels) != d.N() {
		return nil, fmt.Errorf("%w: %d labels for %d keys", ErrInvalid, len(w.Labels), d.N())
	}
	addrs := make([]string, 0, receiveAddresses)
	for i := range uint32(receiveAddresses) {
		a, err := d.Derive(0, i, w.Network)
		if err != nil {
			return nil, fmt.Errorf("%w: derive receive address %d: %w", ErrInvalid, i, err)
		}
		addrs = append(addrs, a.Address)
	}
	created := opts.Created
	if created.IsZero() {
		created = time.Now()
	}
	size := opts.Paper
	if size == "" {
		size = A4
	}
	if size != A4 && size != Letter {
		return nil, fmt.Errorf("%w: paper %q: use A4 or Letter", ErrInvalid, opts.Paper)
	}
	desc := d.String()
	parts, err := qrParts(desc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	p := &page{w: w, d: d, desc: desc, addrs: addrs, parts: parts, created: created}
	pdf, pages, err := p.draw(string(size))
	if err != nil {
		return nil, err
	}
	return &Result{PDF: pdf, Pages: pages, QRParts: parts, Descriptor: desc, Addresses: addrs}, nil
}

// Policy says who can spend, in words: "Any 2 of these 3 keys can spend",
// "All 3 of these 3 keys are needed to spend", "This one key can spend".
// A miniscript wallet's page says each spending path, keys named by their
// number on the page.
func Policy(d *descriptor.Descriptor) string {
	if d.IsMiniscript() {
		return miniscriptPolicy(d)
	}
	m, n := d.Threshold, d.N()
	switch {
	case n == 1:
		return "This one key can spend."
	case m == n:
		return fmt.Sprintf("All %d of these %d keys are needed to spend.", m, n)
	case m == 1:
		return fmt.Sprintf("Any 1 of these %d keys can spend.", n)
	}
	return fmt.Sprintf("Any %d of these %d keys can spend.", m, n)
}

// miniscriptPolicy lists the spending paths: "Primary: any 2 of key 1,
// key 2, key 3, at any time. Recovery: key 4, 52560 blocks after ...".
func miniscriptPolicy(d *descriptor.Descriptor) string {
	paths, err := d.SpendPaths()
	if err != nil {
		return "Spending paths: see the descriptor."
	}
	names := make([]string, d.N())
	for i := range names {
		names[i] = fmt.Sprintf("key %d", i+1)
	}
	parts := make([]string, len(paths))
	for i, p := range paths {
		parts[i] = strings.ToUpper(p.Name[:1]) + p.Name[1:] + ": " + p.Describe(names) + "."
	}
	return strings.Join(parts, " ")
}

// scriptWords names the script type for a person.
func scriptWords(d *descriptor.Descriptor) string {
	if d.IsMiniscript() {
		return "native segwit P2WSH, miniscript with time-locked spending paths"
	}
	multi := "multi (keys in the order listed)"
	if d.Sorted {
		multi = "sortedmulti"
	}
	switch d.Script {
	case descriptor.ScriptWsh:
		return "native segwit P2WSH, " + multi
	case descriptor.ScriptShWsh:
		return "nested segwit P2SH-P2WSH, " + multi
	case descriptor.ScriptSh:
		return "legacy P2SH, " + multi
	case descriptor.ScriptTr:
		return "taproot P2TR: " + d.Policy()
	}
	return multi
}

// formatPath writes a BIP-32 path as m/48h/0h/0h/2h.
func formatPath(path []uint32) string {
	var b strings.Builder
	b.WriteString("m")
	for _, s := range path {
		if s >= descriptor.HardenedKeyStart {
			fmt.Fprintf(&b, "/%dh", s-descriptor.HardenedKeyStart)
		} else {
			fmt.Fprintf(&b, "/%d", s)
		}
	}
	return b.String()
}

// pdfText makes untrusted text drawable by the PDF core fonts, whose
// encoding is Windows-1252: printable ASCII and Latin-1 letters (U+00A0 to
// U+00FF, the same bytes in both) are kept, everything else (control
// characters, other scripts, emoji) becomes '?'. The result is in the
// font's single-byte encoding, as fpdf expects.
func pdfText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 0x20 && r < 0x7f:
			b.WriteByte(byte(r))
		case r >= 0xa0 && r <= 0xff:
			b.WriteByte(byte(r))
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// fit cuts s (already pdfText) to width mm in the current font, ending in
// "..." when cut.
func fit(f *fpdf.Fpdf, s string, width float64) string {
	if f.GetStringWidth(s) <= width {
		return s
	}
	for len(s) > 0 && f.GetStringWidth(s+"...") > width {
		s = s[:len(s)-1]
	}
	return s + "..."
}

// wrapFixed cuts s into lines of at most n characters (monospace text such
// as descriptors and xpubs, which have no spaces to break at).
func wrapFixed(s string, n int) []string {
	var lines []string
	for len(s) > n {
		lines = append(lines, s[:n])
		s = s[n:]
	}
	return append(lines, s)
}

// pdfBytes closes the document and returns its bytes.
func pdfBytes(f *fpdf.Fpdf) ([]byte, error) {
	var buf bytes.Buffer
	if err := f.Output(&buf); err != nil {
		return nil, fmt.Errorf("write the backup PDF: %w", err)
	}
	return buf.Bytes(), nil
}
