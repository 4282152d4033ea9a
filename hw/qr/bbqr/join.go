package bbqr

import (
	"bytes"
	"compress/flate"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// DefaultMaxSize caps the decoded size of a joined file (16 MiB). Z data
// can inflate about a thousandfold, so without a cap a few QR codes could
// exhaust memory; the largest uncompressed series the spec allows is about
// 3.5 MB.
const DefaultMaxSize = 16 << 20

// Joiner collects the parts of one BBQr series in any order. The zero value
// is ready to use. It is not safe for concurrent use.
type Joiner struct {
	// MaxSize caps the decoded file size; 0 means DefaultMaxSize.
	MaxSize int

	header  string // first 6 characters shared by every part of the series
	h       Header
	parts   []string // data after the header, by index
	seen    []bool
	have    int
	partLen int // length of every part but the last, once known
}

// Add feeds one scanned part. It returns added=false with no error for a
// duplicate of a part already held. A malformed part, or one from another
// series (different encoding, file type or count: ErrMixed), returns an
// error and leaves the Joiner unchanged, so a stray scan does not spoil the
// series.
func (j *Joiner) Add(part string) (added bool, err error) {
	part = strings.TrimSpace(part)
	h, err := ParseHeader(part)
	if err != nil {
		return false, err
	}
	data := part[HeaderLen:]
	if j.parts != nil && part[:6] != j.header {
		return false, fmt.Errorf("%w: header %s, the series being joined has %s", ErrMixed, escape(part[:6]), j.header)
	}
	if err := checkChars(h.Encoding, data); err != nil {
		return false, fmt.Errorf("%w (part %d of %d)", err, h.Index+1, h.Total)
	}
	last := h.Index == h.Total-1
	if h.Total > 1 {
		if err := checkAlignment(h.Encoding, data, last); err != nil {
			return false, fmt.Errorf("%w (part %d of %d)", err, h.Index+1, h.Total)
		}
	}
	if j.parts != nil {
		if j.seen[h.Index] {
			if j.parts[h.Index] != data {
				return false, fmt.Errorf("%w: part %d of %d seen twice with different content", ErrInvalid, h.Index+1, h.Total)
			}
			return false, nil
		}
		if err := j.checkLength(data, last); err != nil {
			return false, fmt.Errorf("%w (part %d of %d)", err, h.Index+1, h.Total)
		}
	} else {
		j.header, j.h = part[:6], h
		j.parts = make([]string, h.Total)
		j.seen = make([]bool, h.Total)
	}
	if !last {
		j.partLen = len(data)
	}
	j.parts[h.Index] = data
	j.seen[h.Index] = true
	j.have++
	return true, nil
}

// checkLength enforces "all parts have the same length except the last,
// which is no longer".
func (j *Joiner) checkLength(data string, last bool) error {
	if j.partLen == 0 {
		if !last {
			// The first non-last part seen: the last part, if held, must
			// not be longer.
			if lp := j.parts[len(j.parts)-1]; j.seen[len(j.parts)-1] && len(lp) > len(data) {
				return fmt.Errorf("%w: part is %d characters but the last part is %d", ErrInvalid, len(data), len(lp))
			}
		}
		return nil
	}
	if last {
		if len(data) > j.partLen {
			return fmt.Errorf("%w: last part is %d characters, longer than the others (%d)", ErrInvalid, len(data), j.partLen)
		}
	} else if len(data) != j.partLen {
		return fmt.Errorf("%w: part is %d characters, the others are %d", ErrInvalid, len(data), j.partLen)
	}
	return nil
}

// Header returns the header shared by the series (Index is that of the
// first part seen); ok is false before the first part.
func (j *Joiner) Header() (h Header, ok bool) {
	return j.h, j.parts != nil
}

// Progress reports how many distinct parts are held and how many the
// series has (0, 0 before the first part).
func (j *Joiner) Progress() (have, total int) {
	return j.have, len(j.parts)
}

// Complete reports whether every part has been seen.
func (j *Joiner) Complete() bool {
	return j.parts != nil && j.have == len(j.parts)
}

// Missing lists the 0-based indexes of parts not yet seen.
func (j *Joiner) Missing() []int {
	var m []int
	for i, ok := range j.seen {
		if !ok {
			m = append(m, i)
		}
	}
	return m
}

// Result decodes the joined file. It returns ErrIncomplete until every part
// has been added.
func (j *Joiner) Result() (fileType byte, data []byte, err error) {
	if !j.Complete() {
		have, total := j.Progress()
		return 0, nil, fmt.Errorf("%w: have %d of %d parts", ErrIncomplete, have, total)
	}
	maxSize := j.MaxSize
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	var buf bytes.Buffer
	for i, p := range j.parts {
		var b []byte
		var err error
		if j.h.Encoding == EncodingHex {
			b, err = hex.DecodeString(p)
		} else {
			b, err = base32NoPad.DecodeString(p)
		}
		if err != nil {
			return 0, nil, fmt.Errorf("%w: part %d: %v", ErrInvalid, i+1, err)
		}
		if buf.Len()+len(b) > maxSize {
			return 0, nil, fmt.Errorf("%w (%d bytes)", ErrTooLarge, maxSize)
		}
		buf.Write(b)
	}
	data = buf.Bytes()
	if j.h.Encoding == EncodingZlib {
		if data, err = inflate(data, maxSize); err != nil {
			return 0, nil, err
		}
	}
	return j.h.FileType, data, nil
}

// Join joins a complete set of parts given in any order, duplicates
// allowed.
func Join(parts []string) (fileType byte, data []byte, err error) {
	var j Joiner
	for _, p := range parts {
		if _, err := j.Add(p); err != nil {
			return 0, nil, err
		}
	}
	return j.Result()
}

// inflate decompresses a raw deflate stream, refusing output past maxSize.
// Go's decoder accepts back-references up to 32 KiB, a superset of the
// wbits=10 streams BBQr senders produce.
func inflate(z []byte, maxSize int) ([]byte, error) {
	r := flate.NewReader(bytes.NewReader(z))
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, int64(maxSize)+1))
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: compressed data is truncated", ErrInvalid)
		}
		return nil, fmt.Errorf("%w: compressed data: %v", ErrInvalid, err)
	}
	if len(out) > maxSize {
		return nil, fmt.Errorf("%w (%d bytes)", ErrTooLarge, maxSize)
	}
	return out, nil
}

// checkChars checks that data uses only the encoding's characters and has
// a length that decodes to whole bytes.
func checkChars(enc byte, data string) error {
	for i := 0; i < len(data); i++ {
		c := data[i]
		ok := false
		if enc == EncodingHex {
			ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')
		} else {
			ok = (c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7')
		}
		if !ok {
			return fmt.Errorf("%w: character %q at %d is not valid for encoding %c", ErrInvalid, c, HeaderLen+i, enc)
		}
	}
	if enc == EncodingHex {
		if len(data)%2 != 0 {
			return fmt.Errorf("%w: odd number of hex digits", ErrInvalid)
		}
		return nil
	}
	switch len(data) % 8 {
	case 1, 3, 6:
		return fmt.Errorf("%w: %d base32 characters do not decode to whole bytes", ErrInvalid, len(data))
	}
	return nil
}

// checkAlignment enforces that every part but the last of a multi-part
// series ends on a symbol boundary (8 base32 characters), so each part
// decodes on its own.
func checkAlignment(enc byte, data string, last bool) error {
	if last {
		return nil
	}
	if len(data) == 0 {
		return fmt.Errorf("%w: empty part", ErrInvalid)
	}
	if enc != EncodingHex && len(data)%8 != 0 {
		return fmt.Errorf("%w: part of %d base32 characters is not a multiple of 8", ErrInvalid, len(data))
	}
	return nil
}

// escape renders untrusted scanned text printable.
func escape(s string) string {
	return fmt.Sprintf("%q", s)
}
