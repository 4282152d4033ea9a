// Package ur encodes and decodes Blockchain Commons Uniform Resources
// (URs), the QR transport of Keystone, Passport, SeedSigner, Jade, Sparrow
// and other air-gapped Bitcoin signers.
//
// A single-part UR is "ur:<type>/<bytewords>"; a message too large for one
// QR code becomes a multi-part UR "ur:<type>/<seqNum>-<seqLen>/<bytewords>"
// whose first seqLen parts carry one fragment each and whose later parts
// are fountain-coded XOR mixes, so a receiver that missed frames still
// finishes quickly. Encoder and Decoder implement that transport; the
// registry files (psbt.go, output.go, account.go) convert PSBTs, multisig
// descriptors and cosigner exports to and from the CBOR the URs carry.
//
// Specs (github.com/BlockchainCommons/Research at commit e4a4fbb):
// BCR-2020-005 (UR), BCR-2020-012 (bytewords), BCR-2024-001 (multi-part
// and fountain codes), BCR-2020-006/007/010/015 and BCR-2023-010/019
// (registry types). The fountain consensus follows the C++ reference
// github.com/BlockchainCommons/bc-ur at commit 4479fb8 so that parts past
// the first sequence interoperate (see interop_test.go).
//
// URs are written in lower case; for a QR code use upper case
// (strings.ToUpper), which keeps the whole text in the QR alphanumeric set.
package ur

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// Errors. Every error from this package wraps ErrInvalid.
var (
	ErrInvalid    = errors.New("invalid UR")
	ErrMixed      = fmt.Errorf("%w: part belongs to another UR", ErrInvalid)
	ErrChecksum   = fmt.Errorf("%w: checksum mismatch", ErrInvalid)
	ErrIncomplete = fmt.Errorf("%w: not all fragments have been received", ErrInvalid)
	ErrTooLarge   = fmt.Errorf("%w: message exceeds the size limit", ErrInvalid)
	ErrType       = fmt.Errorf("%w: unexpected UR type", ErrInvalid)
)

// DefaultMaxMessageLen caps the message a Decoder reassembles (16 MiB).
const DefaultMaxMessageLen = 16 << 20

// encMode writes deterministic CBOR (sorted map keys, shortest forms), as
// BCR-2020-005 requires of UR messages.
var encMode = func() cbor.EncMode {
	m, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	return m
}()

// decMode reads CBOR from untrusted scans: duplicate map keys are refused
// and nesting, array and map sizes are bounded.
var decMode = func() cbor.DecMode {
	m, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  16,
		MaxArrayElements: 4096,
		MaxMapPairs:      256,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsAllowed,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}()

// UR is a decoded Uniform Resource: its type and its CBOR message.
type UR struct {
	Type string
	CBOR []byte
}

// checkType enforces BCR-2020-005: letters, digits and hyphens.
func checkType(t string) error {
	if t == "" {
		return fmt.Errorf("%w: empty type", ErrInvalid)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%w: type %q has a character other than a-z, 0-9 and -", ErrInvalid, t)
		}
	}
	return nil
}

// Encode writes a single-part UR ("ur:type/bytewords").
func Encode(u UR) (string, error) {
	if err := checkType(u.Type); err != nil {
		return "", err
	}
	return "ur:" + u.Type + "/" + EncodeBytewords(Minimal, u.CBOR), nil
}

// Decode reads a single-part UR. Multi-part URs need a Decoder.
func Decode(s string) (UR, error) {
	p, err := parsePart(s)
	if err != nil {
		return UR{}, err
	}
	if p.multi {
		return UR{}, fmt.Errorf("%w: %q is one part of a multi-part UR; use a Decoder", ErrInvalid, p.seq)
	}
	return UR{Type: p.urType, CBOR: p.payload}, nil
}

// part is one parsed UR string.
type part struct {
	urType  string
	multi   bool
	seq     string
	seqNum  uint32
	seqLen  uint64
	payload []byte // message (single part) or fountain part CBOR
}

// parsePart reads "ur:type/bytewords" or "ur:type/n-m/bytewords",
// case-insensitively (QR codes carry URs in upper case).
func parsePart(s string) (*part, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	rest, ok := strings.CutPrefix(s, "ur:")
	if !ok {
		return nil, fmt.Errorf("%w: does not start with \"ur:\"", ErrInvalid)
	}
	comps := strings.Split(rest, "/")
	if len(comps) < 2 || len(comps) > 3 {
		return nil, fmt.Errorf("%w: want ur:type/message or ur:type/seq/fragment", ErrInvalid)
	}
	p := &part{urType: comps[0]}
	if err := checkType(p.urType); err != nil {
		return nil, err
	}
	body := comps[len(comps)-1]
	if len(comps) == 3 {
		p.multi, p.seq = true, comps[1]
		a, b, ok := strings.Cut(p.seq, "-")
		n, err1 := strconv.ParseUint(a, 10, 32)
		m, err2 := strconv.ParseUint(b, 10, 32)
		if !ok || err1 != nil || err2 != nil || n == 0 || m == 0 {
			return nil, fmt.Errorf("%w: sequence %q is not <seqNum>-<seqLen>", ErrInvalid, p.seq)
		}
		p.seqNum, p.seqLen = uint32(n), m
	}
	var err error
	if p.payload, err = DecodeBytewords(Minimal, body); err != nil {
		return nil, err
	}
	return p, nil
}

// Encoder produces the parts of one UR: a single part when the message
// fits one fragment, otherwise parts 1..SeqLen (each one fragment) and then
// fountain parts past SeqLen, forever.
type Encoder struct {
	urType string
	single string
	f      *fountainEncoder
}

// NewEncoder prepares the parts of a UR of the given type carrying the
// CBOR message. Fragments are at most maxFragmentLen bytes (about a third
// of the characters in the QR, as bytewords double and the part header
// adds ~20 bytes); minFragmentLen bounds how far a short message is split
// (the reference default is 10).
func NewEncoder(urType string, cborMsg []byte, maxFragmentLen, minFragmentLen int) (*Encoder, error) {
	if err := checkType(urType); err != nil {
		return nil, err
	}
	f, err := newFountainEncoder(cborMsg, maxFragmentLen, minFragmentLen, 0)
	if err != nil {
		return nil, err
	}
	e := &Encoder{urType: urType, f: f}
	if f.seqLen() == 1 {
		e.single, _ = Encode(UR{Type: urType, CBOR: cborMsg})
	}
	return e, nil
}

// SeqLen is the number of fragments: the parts needed when none is lost.
func (e *Encoder) SeqLen() int { return e.f.seqLen() }

// IsSinglePart reports whether the UR fits one part ("ur:type/...").
func (e *Encoder) IsSinglePart() bool { return e.single != "" }

// NextPart returns the next part. A single-part UR returns the same text
// every time.
func (e *Encoder) NextPart() string {
	if e.single != "" {
		return e.single
	}
	p := e.f.nextPart()
	return "ur:" + e.urType + "/" + strconv.FormatUint(uint64(p.SeqNum), 10) + "-" +
		strconv.Itoa(e.f.seqLen()) + "/" + EncodeBytewords(Minimal, p.cbor())
}

// Parts returns the first n parts from the encoder's current position
// (n = SeqLen gives the fixed-rate sequence on a fresh encoder).
func (e *Encoder) Parts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = e.NextPart()
	}
	return out
}

// Decoder reassembles a UR from parts received in any order, with
// duplicates and fountain parts mixed in. The zero value is ready to use.
type Decoder struct {
	// MaxMessageLen caps the message size; 0 means DefaultMaxMessageLen.
	MaxMessageLen int

	urType string
	single *UR
	f      *fountainDecoder
}

// Receive feeds one scanned part. It reports whether the part brought
// anything new. A malformed part or one of another UR returns an error and
// leaves the decoder as it was (except after a checksum failure, which is
// final: the series is corrupt).
func (d *Decoder) Receive(s string) (bool, error) {
	if d.IsComplete() {
		return false, nil
	}
	p, err := parsePart(s)
	if err != nil {
		return false, err
	}
	if d.urType != "" && p.urType != d.urType {
		return false, fmt.Errorf("%w: type %q, expected %q", ErrMixed, p.urType, d.urType)
	}
	if !p.multi {
		if d.f != nil && d.f.started {
			return false, fmt.Errorf("%w: single-part UR in a multi-part series", ErrMixed)
		}
		d.urType = p.urType
		d.single = &UR{Type: p.urType, CBOR: p.payload}
		return true, nil
	}
	fp, err := decodeFountainPart(p.payload)
	if err != nil {
		return false, err
	}
	if fp.SeqNum != p.seqNum || fp.SeqLen != p.seqLen {
		return false, fmt.Errorf("%w: sequence %s does not match the fragment's %d-%d", ErrInvalid, p.seq, fp.SeqNum, fp.SeqLen)
	}
	if d.f == nil {
		maxLen := d.MaxMessageLen
		if maxLen <= 0 {
			maxLen = DefaultMaxMessageLen
		}
		d.f = &fountainDecoder{maxMessageLen: maxLen}
	}
	fresh, err := d.f.receive(fp)
	if err != nil {
		return false, err
	}
	d.urType = p.urType
	return fresh, nil
}

// Type returns the UR type of the parts received so far ("" before any).
func (d *Decoder) Type() string { return d.urType }

// IsComplete reports whether the message has been reassembled.
func (d *Decoder) IsComplete() bool {
	return d.single != nil || (d.f != nil && d.f.message != nil)
}

// Progress reports how many distinct fragments have been recovered and
// how many the message has (1, 1 for a single-part UR; 0, 0 before any
// part). Mixed parts still waiting for a reduction are not counted.
func (d *Decoder) Progress() (have, total int) {
	switch {
	case d.single != nil:
		return 1, 1
	case d.f == nil || !d.f.started:
		return 0, 0
	case d.f.message != nil:
		return d.f.seqLen, d.f.seqLen
	}
	return len(d.f.simple), d.f.seqLen
}

// ProcessedParts is the number of valid parts received.
func (d *Decoder) ProcessedParts() int {
	if d.f == nil {
		return 0
	}
	return d.f.processed
}

// Result returns the reassembled UR, or ErrIncomplete (ErrChecksum after a
// corrupt series).
func (d *Decoder) Result() (UR, error) {
	switch {
	case d.single != nil:
		return *d.single, nil
	case d.f != nil && d.f.failed != nil:
		return UR{}, d.f.failed
	case d.f != nil && d.f.message != nil:
		return UR{Type: d.urType, CBOR: d.f.message}, nil
	}
	have, total := d.Progress()
	return UR{}, fmt.Errorf("%w: have %d of %d fragments", ErrIncomplete, have, total)
}

// MaxFragmentLen returns the largest fragment length whose parts, upper
// cased, stay within qrChars alphanumeric characters (for a QR version at
// level L: bbqr.AlnumCapacity). It budgets for the worst-case part header:
// "ur:<type>/" plus a sequence of up to 10 digits each side, a
// fragment CBOR header of at most 24 bytes and the 4-byte checksum, at two
// characters a byte. It returns 0 when not even one byte fits.
func MaxFragmentLen(urType string, qrChars int) int {
	const seqChars = 10 + 1 + 10 + 1               // "<seqNum>-<seqLen>/"
	const cborOverhead = 1 + 5 + 9 + 9 + 5 + 5 + 4 // array, 4 ints, byte-string header, CRC
	n := (qrChars-len("ur:")-len(urType)-1-seqChars)/2 - cborOverhead
	return max(n, 0)
}
