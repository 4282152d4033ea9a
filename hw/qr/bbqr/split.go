package bbqr

import (
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
)

// alnumCapacityL is the number of alphanumeric-mode characters a QR code of
// each version (index 1..40) holds at error correction level L (ISO/IEC
// 18004 table 7; the "Chars" column of BBQr.md's size table). BBQr assumes
// level L: parts are shown on screens, not printed.
var alnumCapacityL = [41]int{0,
	25, 47, 77, 114, 154, 195, 224, 279, 335, 395,
	468, 535, 619, 667, 758, 854, 938, 1046, 1153, 1249,
	1352, 1460, 1588, 1704, 1853, 1990, 2132, 2223, 2369, 2520,
	2677, 2840, 3009, 3183, 3351, 3537, 3729, 3927, 4087, 4296,
}

// AlnumCapacity returns how many alphanumeric characters a QR code of the
// given version (1..40) holds at error correction level L, or 0 for a
// version out of range.
func AlnumCapacity(version int) int {
	if version < 1 || version > 40 {
		return 0
	}
	return alnumCapacityL[version]
}

// base32NoPad is RFC 4648 base32 without '=' padding, which the spec forbids
// ('=' is not in the QR alphanumeric set).
var base32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)

// SplitOptions tune Split. The zero value gives the reference defaults:
// Z (falling back to 2), versions 5..40, 1..1295 parts.
type SplitOptions struct {
	// Encoding is H, 2 or Z; 0 means Z. Z falls back to 2 when deflate
	// does not make the data smaller, as the spec asks.
	Encoding byte
	// MinVersion and MaxVersion bound the QR version (1..40); 0 means 5 and
	// 40. A MinVersion above MaxVersion is lowered to MaxVersion, as the
	// reference does, so a small MaxVersion alone is enough.
	MinVersion, MaxVersion int
	// MinSplit and MaxSplit bound the number of parts (1..1295); 0 means 1
	// and 1295.
	MinSplit, MaxSplit int
}

func (o SplitOptions) withDefaults() (SplitOptions, error) {
	if o.Encoding == 0 {
		o.Encoding = EncodingZlib
	}
	switch o.Encoding {
	case EncodingHex, EncodingBase32, EncodingZlib:
	default:
		return o, fmt.Errorf("%w: unknown encoding %q (want H, 2 or Z)", ErrInvalid, o.Encoding)
	}
	if o.MaxVersion == 0 {
		o.MaxVersion = 40
	}
	if o.MinVersion == 0 {
		o.MinVersion = 5
	}
	o.MinVersion = min(o.MinVersion, o.MaxVersion)
	if o.MinVersion < 1 || o.MaxVersion > 40 {
		return o, fmt.Errorf("%w: QR versions %d..%d out of range 1..40", ErrInvalid, o.MinVersion, o.MaxVersion)
	}
	if o.MinSplit == 0 {
		o.MinSplit = 1
	}
	if o.MaxSplit == 0 {
		o.MaxSplit = MaxParts
	}
	if o.MinSplit < 1 || o.MaxSplit > MaxParts || o.MinSplit > o.MaxSplit {
		return o, fmt.Errorf("%w: part limits %d..%d out of range 1..%d", ErrInvalid, o.MinSplit, o.MaxSplit, MaxParts)
	}
	return o, nil
}

// Split encodes data as BBQr parts of the given file type (an upper-case
// letter, usually FileTypePSBT). It returns the parts in order and the QR
// version that holds every one of them at level L in alphanumeric mode;
// render all parts at that version so the animation does not jump.
func Split(data []byte, fileType byte, opts SplitOptions) (parts []string, version int, err error) {
	if fileType < 'A' || fileType > 'Z' {
		return nil, 0, fmt.Errorf("%w: file type %q is not an upper-case letter", ErrInvalid, fileType)
	}
	if len(data) == 0 {
		return nil, 0, fmt.Errorf("%w: nothing to split", ErrInvalid)
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, 0, err
	}
	encoding, encoded := encode(data, o.Encoding)
	splitMod := 8 // base32: 8 characters are 5 whole bytes
	if encoding == EncodingHex {
		splitMod = 2
	}
	version, count, perPart, err := bestVersion(len(encoded), splitMod, o)
	if err != nil {
		return nil, 0, err
	}
	parts = make([]string, 0, count)
	for off, n := 0, 0; off < len(encoded); off, n = off+perPart, n+1 {
		end := min(off+perPart, len(encoded))
		h := Header{Encoding: encoding, FileType: fileType, Total: count, Index: n}
		parts = append(parts, h.String()+encoded[off:end])
	}
	return parts, version, nil
}

// encode applies the encoding, and for Z falls back to base32 when
// compression does not shrink the data (BBQr.md, "Advanced Encodings").
func encode(data []byte, encoding byte) (byte, string) {
	switch encoding {
	case EncodingHex:
		return EncodingHex, strings.ToUpper(hex.EncodeToString(data))
	case EncodingZlib:
		if z := deflate(data); len(z) < len(data) {
			return EncodingZlib, base32NoPad.EncodeToString(z)
		}
	}
	return EncodingBase32, base32NoPad.EncodeToString(data)
}

// partsNeeded is how many parts of a version-v QR carry n encoded
// characters, and how many characters go in each part but the last. With
// two or more parts the split point must fall on a whole number of bytes, so
// the per-part size is rounded down to splitMod; the last part may use the
// full capacity.
func partsNeeded(v, n, splitMod int) (count, perPart int) {
	capacity := alnumCapacityL[v] - HeaderLen
	aligned := capacity - capacity%splitMod
	count = (n + aligned - 1) / aligned
	if count <= 1 {
		return 1, n
	}
	if (count-1)*aligned+capacity < n {
		count++
	}
	return count, aligned
}

// bestVersion picks the version with the fewest parts, then the lowest
// version, within the limits (BBQr reference find_best_version).
func bestVersion(n, splitMod int, o SplitOptions) (version, count, perPart int, err error) {
	for v := o.MinVersion; v <= o.MaxVersion; v++ {
		c, p := partsNeeded(v, n, splitMod)
		if c < o.MinSplit || c > o.MaxSplit {
			continue
		}
		if version == 0 || c < count {
			version, count, perPart = v, c, p
		}
	}
	if version == 0 {
		return 0, 0, 0, fmt.Errorf("%w: %d encoded characters in %d..%d parts of QR versions %d..%d", ErrCannotFit, n, o.MinSplit, o.MaxSplit, o.MinVersion, o.MaxVersion)
	}
	return version, count, perPart, nil
}
