package qrsigner

import (
	"errors"
	"fmt"
	"strings"

	"github.com/countersign/countersign/hw/qr/bbqr"
	"github.com/countersign/countersign/hw/qr/ur"
)

// scanError is scanned text that is no use: not a part, another series,
// countersign's own code, an answer that is not this PSBT signed. None is
// fatal while scanning at a terminal: the scan is ignored with a note and
// scanning goes on.
type scanError struct{ msg string }

func (e *scanError) Error() string { return e.msg }

func scanErrorf(format string, args ...any) error {
	return &scanError{msg: fmt.Sprintf(format, args...)}
}

func isScanError(err error) bool {
	var se *scanError
	return errors.As(err, &se)
}

var errOwnPart = scanErrorf("that is countersign's own QR code, not the signer's answer")

// collector gathers the parts of one answer, BBQr or UR, recognised by
// the first part it accepts. Parts come in any order; repeats are
// ignored. The zero value is ready; it is not safe for concurrent use.
type collector struct {
	// Own lists parts countersign itself shows (upper-cased), so a
	// scanner pointed at the wrong screen is told so instead of silently
	// collecting the unsigned PSBT.
	Own map[string]bool

	format Format
	seen   bool
	bb     bbqr.Joiner
	ud     ur.Decoder
}

// Reset forgets every part collected.
func (c *collector) Reset() {
	*c = collector{Own: c.Own}
}

// Add feeds one scanned line. fresh is true when it brought something new;
// a repeat returns false and no error. A line that is no part, belongs to
// another series or is countersign's own returns a scanError
// and leaves the collector as it was.
func (c *collector) Add(line string) (fresh bool, err error) {
	line = strings.TrimSpace(line)
	if c.Own[strings.ToUpper(line)] {
		return false, errOwnPart
	}
	f, ok := partFormat(line)
	switch {
	case !ok:
		return false, scanErrorf("not a BBQr or UR part: %s", snippet(line))
	case c.seen && f != c.format:
		return false, scanErrorf("a %s part in the middle of a %s answer: %s", f, c.format, snippet(line))
	}
	if f == BBQr {
		fresh, err = c.bb.Add(line)
	} else {
		fresh, err = c.ud.Receive(line)
	}
	if errors.Is(err, ur.ErrChecksum) {
		// The reassembled message does not match its checksum: a part
		// was misread. The decoder cannot recover; start over.
		c.Reset()
		return false, scanErrorf("the answer did not check out (a part was misread); scanning starts over: %v", err)
	}
	if err != nil {
		return false, scanErrorf("%v", err)
	}
	c.format, c.seen = f, true
	return fresh, nil
}

// partFormat recognises a part by its start: "ur:" (any case) or "B$".
func partFormat(line string) (Format, bool) {
	switch {
	case len(line) >= 3 && strings.EqualFold(line[:3], "ur:"):
		return UR, true
	case strings.HasPrefix(line, "B$"):
		return BBQr, true
	}
	return UR, false
}

// Progress is how many parts are in and how many the answer has (for a
// UR, fragments recovered of seqLen); 0, 0 before the first.
func (c *collector) Progress() (have, total int) {
	switch {
	case !c.seen:
		return 0, 0
	case c.format == BBQr:
		return c.bb.Progress()
	}
	return c.ud.Progress()
}

// Complete reports whether the answer is whole.
func (c *collector) Complete() bool {
	if !c.seen {
		return false
	}
	if c.format == BBQr {
		return c.bb.Complete()
	}
	return c.ud.IsComplete()
}

// Format is the transport of the parts collected (UR before any).
func (c *collector) Format() Format { return c.format }

// PSBT returns the raw PSBT the complete answer carries: a BBQr of file
// type P, or a crypto-psbt or psbt UR. Anything else is an error that says
// what the signer showed instead.
func (c *collector) PSBT() ([]byte, error) {
	if !c.Complete() {
		have, total := c.Progress()
		return nil, scanErrorf("%d of %d parts", have, total)
	}
	if c.format == BBQr {
		ft, data, err := c.bb.Result()
		switch {
		case err != nil:
			return nil, scanErrorf("%v", err)
		case ft == bbqr.FileTypeTransaction:
			return nil, errFinalized
		case ft != bbqr.FileTypePSBT:
			return nil, scanErrorf("the signer showed a BBQr of type %s, not a PSBT", bbqr.FileTypeName(ft))
		}
		return data, nil
	}
	u, err := c.ud.Result()
	if err != nil {
		return nil, scanErrorf("%v", err)
	}
	raw, err := ur.PSBTFromUR(u)
	if err != nil {
		return nil, scanErrorf("%v", err)
	}
	return raw, nil
}

// errFinalized is a Coldcard Q that finalized the transaction itself.
var errFinalized = scanErrorf("the signer showed the finished, fully signed transaction (BBQr type T) instead of a signed PSBT; broadcast it from the device's QR with any wallet, or have the device export the signed PSBT and scan that")

// snippet quotes the start of untrusted scanned text for a message.
func snippet(s string) string {
	const n = 40
	if len(s) > n {
		return fmt.Sprintf("%q…", s[:n])
	}
	return fmt.Sprintf("%q", s)
}
