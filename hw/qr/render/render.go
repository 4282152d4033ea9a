// Package render turns BBQr and UR parts into QR codes: half-block text for
// a terminal (still or animated in place), PNG files, an animated GIF of a
// whole series, and decodes QR images back to text (for --from-image).
//
// QR codes use error correction level L, as BBQr.md recommends for codes
// shown on screens, and whatever encoding go-qrcode finds shortest; text in
// the QR alphanumeric set (upper-case BBQr parts, URs passed through
// ForQR) is then coded at 5.5 bits a character instead of 8.
package render

import (
	"errors"
	"fmt"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// ErrInvalid is wrapped by every error of this package.
var ErrInvalid = errors.New("cannot render QR code")

// DefaultBorder is the quiet zone in modules that ISO/IEC 18004 asks for.
const DefaultBorder = 4

// Code is one QR symbol: Modules[y][x] is true for a dark module. It holds
// no quiet zone; renderers add it.
type Code struct {
	Version int
	Modules [][]bool
}

// Size is the symbol width in modules, without the quiet zone.
func (c *Code) Size() int { return len(c.Modules) }

// ForQR prepares a part for a QR code: URs are upper-cased (BCR-2020-005:
// the alphanumeric mode needs capitals, and UR decoders are
// case-insensitive); everything else, BBQr parts included, is kept as is.
func ForQR(part string) string {
	if len(part) >= 3 && strings.EqualFold(part[:3], "ur:") {
		return strings.ToUpper(part)
	}
	return part
}

// New encodes text as the smallest QR code that holds it at level L, or at
// exactly the given version (1..40) when version > 0.
func New(text string, version int) (*Code, error) {
	var q *qrcode.QRCode
	var err error
	if version > 0 {
		q, err = qrcode.NewWithForcedVersion(text, version, qrcode.Low)
	} else {
		q, err = qrcode.New(text, qrcode.Low)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	q.DisableBorder = true
	return &Code{Version: q.VersionNumber, Modules: q.Bitmap()}, nil
}

// SeriesVersion returns the smallest version that holds every part, so a
// series can be shown without the code changing size between frames.
func SeriesVersion(parts []string) (int, error) {
	v := 0
	for i, p := range parts {
		c, err := New(p, 0)
		if err != nil {
			return 0, fmt.Errorf("part %d: %w", i+1, err)
		}
		v = max(v, c.Version)
	}
	if v == 0 {
		return 0, fmt.Errorf("%w: no parts", ErrInvalid)
	}
	return v, nil
}

// Series encodes every part at one common version (SeriesVersion).
func Series(parts []string) ([]*Code, error) {
	v, err := SeriesVersion(parts)
	if err != nil {
		return nil, err
	}
	codes := make([]*Code, len(parts))
	for i, p := range parts {
		if codes[i], err = New(p, v); err != nil {
			return nil, fmt.Errorf("part %d: %w", i+1, err)
		}
	}
	return codes, nil
}

// dark reports whether the module at (x, y) of the symbol with a border of
// b light modules around it is dark.
func (c *Code) dark(x, y, b int) bool {
	x, y = x-b, y-b
	if y < 0 || y >= len(c.Modules) || x < 0 || x >= len(c.Modules) {
		return false
	}
	return c.Modules[y][x]
}
