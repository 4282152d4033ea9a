// Package bbqr encodes and decodes BBQr ("Better Bitcoin QR"), Coinkite's
// transport for files (PSBTs, transactions, text) too large for one QR code.
//
// Each part is an alphanumeric-mode QR payload: an 8-character header
//
//	B$ <encoding> <file type> <total: 2 base36 digits> <index: 2 base36 digits>
//
// then a slice of the encoded file. Encodings are H (upper-case hex),
// 2 (RFC 4648 base32, no padding) and Z (raw deflate with a 1 KiB window,
// wbits=10, then base32). All parts but the last have the same length and
// decode to whole bytes, so a receiver can place any part it sees.
//
// Spec: github.com/coinkite/BBQr, BBQr.md (commit d33d755, public domain).
// Split follows the spec's "choose the smallest number of QRs, then the
// lowest version" rule as Coinkite's reference code does (python/bbqr/
// split.py, js/src/split.ts), so for H and 2 our parts are character for
// character those of the reference; for Z our compressor is our own and the
// parts differ but decode the same (see interop_test.go).
package bbqr

import (
	"errors"
	"fmt"
)

// Encodings (the third header character).
const (
	EncodingHex    byte = 'H' // upper-case hex, 2 characters a byte
	EncodingBase32 byte = '2' // RFC 4648 base32 without padding
	EncodingZlib   byte = 'Z' // raw deflate (wbits=10) then base32
)

// File types (the fourth header character) named by the spec. Any other
// upper-case letter is accepted as a type the caller may know.
const (
	FileTypePSBT        byte = 'P'
	FileTypeTransaction byte = 'T'
	FileTypeJSON        byte = 'J'
	FileTypeCBOR        byte = 'C'
	FileTypeUnicode     byte = 'U' // UTF-8 text
	FileTypeBinary      byte = 'B'
	FileTypeExecutable  byte = 'X'
)

// HeaderLen is the fixed header length of every part.
const HeaderLen = 8

// MaxParts is the largest total two base36 digits can hold ("ZZ").
const MaxParts = 36*36 - 1

// Errors. Every error from this package wraps ErrInvalid.
var (
	ErrInvalid    = errors.New("invalid BBQr data")
	ErrMixed      = fmt.Errorf("%w: part belongs to a different BBQr series", ErrInvalid)
	ErrIncomplete = fmt.Errorf("%w: not all parts have been seen", ErrInvalid)
	ErrTooLarge   = fmt.Errorf("%w: decoded file exceeds the size limit", ErrInvalid)
	ErrCannotFit  = fmt.Errorf("%w: the data does not fit the QR version and part limits", ErrInvalid)
)

// Header is the parsed 8-character header of one part.
type Header struct {
	Encoding byte // H, 2 or Z
	FileType byte // an upper-case letter
	Total    int  // number of parts, 1..1295
	Index    int  // this part's position, 0..Total-1
}

// String formats the header as it appears at the start of a part.
func (h Header) String() string {
	return "B$" + string([]byte{h.Encoding, h.FileType}) + base36(h.Total) + base36(h.Index)
}

// FileTypeName names a file type code for people ("PSBT", "Transaction").
func FileTypeName(t byte) string {
	switch t {
	case FileTypePSBT:
		return "PSBT"
	case FileTypeTransaction:
		return "Transaction"
	case FileTypeJSON:
		return "JSON"
	case FileTypeCBOR:
		return "CBOR"
	case FileTypeUnicode:
		return "Unicode text"
	case FileTypeBinary:
		return "Binary"
	case FileTypeExecutable:
		return "Executable"
	}
	return "type " + string(t)
}

// IsPart reports whether s looks like a BBQr part (a cheap check for
// dispatching scanned text; ParseHeader says what is wrong with it).
func IsPart(s string) bool {
	_, err := ParseHeader(s)
	return err == nil
}

// ParseHeader parses and checks the header of one part.
func ParseHeader(part string) (Header, error) {
	if len(part) < HeaderLen {
		return Header{}, fmt.Errorf("%w: part is %d characters, shorter than the %d-character header", ErrInvalid, len(part), HeaderLen)
	}
	if part[0] != 'B' || part[1] != '$' {
		return Header{}, fmt.Errorf("%w: part does not start with B$", ErrInvalid)
	}
	h := Header{Encoding: part[2], FileType: part[3]}
	switch h.Encoding {
	case EncodingHex, EncodingBase32, EncodingZlib:
	default:
		return Header{}, fmt.Errorf("%w: unknown encoding %q (want H, 2 or Z)", ErrInvalid, h.Encoding)
	}
	if h.FileType < 'A' || h.FileType > 'Z' {
		return Header{}, fmt.Errorf("%w: file type %q is not an upper-case letter", ErrInvalid, h.FileType)
	}
	var ok bool
	if h.Total, ok = parseBase36(part[4:6]); !ok {
		return Header{}, fmt.Errorf("%w: part count %q is not two base36 digits", ErrInvalid, part[4:6])
	}
	if h.Index, ok = parseBase36(part[6:8]); !ok {
		return Header{}, fmt.Errorf("%w: part index %q is not two base36 digits", ErrInvalid, part[6:8])
	}
	if h.Total == 0 {
		return Header{}, fmt.Errorf("%w: part count is zero", ErrInvalid)
	}
	if h.Index >= h.Total {
		return Header{}, fmt.Errorf("%w: part index %d is not below the part count %d", ErrInvalid, h.Index, h.Total)
	}
	return h, nil
}

const base36Digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

// base36 formats 0..1295 as two upper-case base36 digits.
func base36(n int) string {
	return string([]byte{base36Digits[n/36], base36Digits[n%36]})
}

// parseBase36 reads two upper-case base36 digits (lower case is refused:
// the spec requires capitals and lower case is not in the QR alphanumeric
// set).
func parseBase36(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var d int
		switch {
		case c >= '0' && c <= '9':
			d = int(c - '0')
		case c >= 'A' && c <= 'Z':
			d = int(c-'A') + 10
		default:
			return 0, false
		}
		n = n*36 + d
	}
	return n, true
}
