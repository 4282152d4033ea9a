package paper

import (
	"fmt"

	"codeberg.org/go-pdf/fpdf"
	"github.com/skip2/go-qrcode"
)

// QR codes. A descriptor has lower-case letters, brackets and commas, so
// it is encoded in byte mode (QR's alphanumeric mode has upper case only).
// One code is easiest to restore from: every wallet that scans descriptors
// reads it in one go. It is kept scannable by a phone from paper by a
// floor on the module size; error correction M (15%) is used when it
// fits, L (7%) otherwise, and only a descriptor too long for a version-
// maxVersion code at L is split into parts, each a plain slice of the
// text, labelled "part i of n", to be joined in order.
const (
	// maxVersion bounds the code's density: version 33 has 149 modules
	// per side (70 mm drawn, 0.45 mm a module with the quiet zone) and
	// holds 2068 bytes at L as go-qrcode encodes them, enough for a
	// 15-key sh or wsh descriptor (about 2040 characters). zbarimg reads
	// it from a 150 dpi render (TestBackupInterop).
	maxVersion = 33
	// minModule sizes small codes: a module of 0.5 mm (3 pixels at 150
	// dpi); codes with more modules than qrMaxSide/minModule are drawn at
	// qrMaxSide, which for version 33 is 0.44 mm a module.
	minModule = 0.5
	// quietModules is the blank margin the QR standard asks for.
	quietModules = 4
)

// qrParts splits text into the fewest QR payloads that each fit
// maxVersion at error correction L, in equal slices.
func qrParts(text string) ([]string, error) {
	for n := 1; n <= 8; n++ {
		size := (len(text) + n - 1) / n
		parts := make([]string, 0, n)
		ok := true
		for i := 0; i < len(text); i += size {
			p := text[i:min(i+size, len(text))]
			if _, err := qrCode(p); err != nil {
				ok = false
				break
			}
			parts = append(parts, p)
		}
		if ok {
			return parts, nil
		}
	}
	return nil, fmt.Errorf("the descriptor (%d characters) is too long for 8 QR codes", len(text))
}

// qrCode encodes one payload at M when that fits maxVersion, else at L.
func qrCode(text string) (*qrcode.QRCode, error) {
	for _, level := range []qrcode.RecoveryLevel{qrcode.Medium, qrcode.Low} {
		q, err := qrcode.New(text, level)
		if err == nil && q.VersionNumber <= maxVersion {
			q.DisableBorder = true // the quiet zone is drawn as page margin
			return q, nil
		}
	}
	return nil, fmt.Errorf("%d bytes do not fit a version-%d QR code", len(text), maxVersion)
}

// qrModules is the side of text's code in modules, quiet zone included.
func qrModules(text string) (int, error) {
	q, err := qrCode(text)
	if err != nil {
		return 0, err
	}
	return len(q.Bitmap()) + 2*quietModules, nil
}

// drawQR draws text's code with its top-left corner (quiet zone included)
// at x, y and the given side in mm, as vector squares: each row's runs of
// dark modules become one rectangle, which keeps the PDF small and sharp
// at any print resolution.
func drawQR(f *fpdf.Fpdf, text string, x, y, side float64) error {
	q, err := qrCode(text)
	if err != nil {
		return err
	}
	bm := q.Bitmap()
	mod := side / float64(len(bm)+2*quietModules)
	x0, y0 := x+quietModules*mod, y+quietModules*mod
	f.SetFillColor(0, 0, 0)
	for r, row := range bm {
		for c := 0; c < len(row); {
			if !row[c] {
				c++
				continue
			}
			start := c
			for c < len(row) && row[c] {
				c++
			}
			// A hair of overlap closes the seams some viewers draw between
			// adjacent rectangles.
			f.Rect(x0+float64(start)*mod, y0+float64(r)*mod, float64(c-start)*mod+0.01, mod+0.01, "F")
		}
	}
	return nil
}
