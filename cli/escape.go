package cli

import (
	"strconv"
	"strings"
	"unicode"
)

// safe makes untrusted text (labels from imported files, wallet names,
// device and backend strings, error messages that quote them) harmless on
// a terminal: control characters, escape sequences and line breaks are
// written as Go escapes (\x1b, \r, \n), so nothing printed can move the
// cursor, recolour the screen or forge a line of countersign's own output.
// Printable text, including non-ASCII letters, is kept as it is.
func safe(s string) string {
	clean := true
	for _, r := range s {
		if !printable(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if printable(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r) // 'x' with Go escapes
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

// printable is true for runes a terminal shows as text: no control
// characters (C0, DEL, C1), no bidirectional overrides that reorder what is
// shown, no invalid UTF-8.
func printable(r rune) bool {
	switch {
	case r == unicode.ReplacementChar:
		return false
	case r == ' ':
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f:
		return false
	}
	return unicode.IsPrint(r) || unicode.IsGraphic(r) && !unicode.IsControl(r) && !unicode.Is(unicode.Zl, r) && !unicode.Is(unicode.Zp, r)
}
