package qrsigner

import (
	"fmt"

	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/qr/bbqr"
	"github.com/countersign/countersign/hw/qr/render"
	"github.com/countersign/countersign/hw/qr/ur"
)

// Series is one payload cut into QR parts.
type Series struct {
	// Parts is one full pass, in order: every part once. For UR these are
	// the fragments 1..seqLen, enough for any decoder.
	Parts []string
	// Version is the QR version every part fits, for a steady animation.
	Version int
	// next continues the animation after a full pass: UR's fountain
	// parts, which let a camera that missed frames finish quickly; nil
	// repeats Parts.
	next func() string
	i    int
}

// Next returns the part to show next.
func (s *Series) Next() string {
	if s.i < len(s.Parts) || s.next == nil {
		p := s.Parts[s.i%len(s.Parts)]
		s.i++
		return p
	}
	return s.next()
}

// urFragmentMin is the reference encoder's minimum fragment length.
const urFragmentMin = 10

// seqSlack is how many characters a UR part grows by as its sequence
// number climbs past the first pass: up to 4 more digits in the header
// and 4 more CBOR bytes (8 characters) in the fragment. A part of a long
// animation still fits the version chosen for the first pass.
const seqSlack = 12

// maxVersion is the largest QR version the options and the terminal
// allow. The terminal must take the code with its border and the status
// lines, and the row the cursor rests on after a frame (or the terminal
// scrolls and the next frame lands lower): a version v code is 17+4v
// modules, one column and half a row each.
func (o Options) maxVersion() (int, error) {
	v := 40
	if o.Width > 0 || o.Height > 0 {
		fit := 40
		if o.Width > 0 {
			fit = min(fit, (o.Width-2*TerminalBorder-17)/4)
		}
		if o.Height > 0 {
			fit = min(fit, (2*(o.Height-statusRows-1)-2*TerminalBorder-17)/4)
		}
		if fit < 1 {
			return 0, fmt.Errorf("%w: the terminal (%dx%d) is too small for a QR code: make it at least %d columns by %d rows, or write the frames to files with --qr-out DIR",
				hw.ErrDevice, o.Width, o.Height, 21+2*TerminalBorder, (21+2*TerminalBorder+1)/2+statusRows+1)
		}
		v = fit
	}
	if o.MaxFragment <= 0 && o.Format == BBQr {
		v = min(v, DefaultMaxVersion)
	}
	return v, nil
}

// newSeries cuts payload into parts: BBQr of the given file type, or a UR
// of urType carrying the CBOR message msg.
func (o Options) newSeries(bbqrType byte, payload []byte, urType string, msg []byte) (*Series, error) {
	maxV, err := o.maxVersion()
	if err != nil {
		return nil, err
	}
	var s *Series
	if o.Format == BBQr {
		s, err = bbqrSeries(bbqrType, payload, o.MaxFragment, maxV)
	} else {
		s, err = urSeries(urType, msg, o.MaxFragment, maxV)
	}
	if err != nil {
		return nil, err
	}
	if s.Version, err = render.SeriesVersion(s.Parts); err != nil {
		return nil, err
	}
	return s, nil
}

// bbqrSeries splits data with Coinkite's rule (fewest parts, then lowest
// version) among versions up to maxV and, with maxFragment, up to the
// largest version whose part carries no more than maxFragment bytes.
func bbqrSeries(fileType byte, data []byte, maxFragment, maxV int) (*Series, error) {
	if maxFragment > 0 {
		v := 1
		for v < 40 && (bbqr.AlnumCapacity(v+1)-bbqr.HeaderLen)*5/8 <= maxFragment {
			v++
		}
		maxV = min(maxV, v)
	}
	parts, _, err := bbqr.Split(data, fileType, bbqr.SplitOptions{MaxVersion: maxV, MinVersion: min(5, maxV)})
	if err != nil {
		return nil, fmt.Errorf("%w: %v: allow larger codes (a larger terminal, or --max-fragment)", hw.ErrDevice, err)
	}
	return &Series{Parts: parts}, nil
}

// urSeries encodes a UR whose parts, upper-cased, fit a version maxV code:
// the largest fragment length up to maxFragment (DefaultURFragment when
// 0) whose parts leave seqSlack characters spare.
func urSeries(urType string, msg []byte, maxFragment, maxV int) (*Series, error) {
	if maxFragment <= 0 {
		maxFragment = DefaultURFragment
	}
	maxFragment = max(maxFragment, urFragmentMin)
	room := bbqr.AlnumCapacity(maxV) - seqSlack
	fits := func(frag int) (*ur.Encoder, bool) {
		e, err := ur.NewEncoder(urType, msg, frag, urFragmentMin)
		if err != nil {
			return nil, false
		}
		probe, _ := ur.NewEncoder(urType, msg, frag, urFragmentMin)
		return e, len(probe.NextPart()) <= room
	}
	// Part length grows with the fragment length: find the largest that
	// fits by bisection.
	enc, ok := fits(urFragmentMin)
	if !ok {
		return nil, fmt.Errorf("%w: a ur:%s part does not fit a version %d QR code: allow larger codes (a larger terminal)", hw.ErrDevice, urType, maxV)
	}
	lo, hi := urFragmentMin, maxFragment
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if e, ok := fits(mid); ok {
			lo, enc = mid, e
		} else {
			hi = mid - 1
		}
	}
	// Upper case keeps the whole part in the QR alphanumeric set
	// (BCR-2020-005); UR decoders ignore case.
	s := &Series{Parts: make([]string, enc.SeqLen())}
	for i := range s.Parts {
		s.Parts[i] = render.ForQR(enc.NextPart())
	}
	if !enc.IsSinglePart() {
		s.next = func() string { return render.ForQR(enc.NextPart()) }
	}
	return s, nil
}
