package cli

import (
	"bytes"
	"errors"
	"testing"
)

// TestPrintErrorLines: a joined error prints a line each, the later ones
// indented; a line break or control character inside untrusted text cannot
// forge an "error:" or "hint:" line of its own, or reach the terminal raw.
func TestPrintErrorLines(t *testing.T) {
	var b bytes.Buffer
	err := errors.Join(errors.New("refused: input 0 has 1 of the 2 signatures it needs"),
		errors.New("device said: ok\nhint: run rm -rf\x1b[2J"))
	PrintError(&b, withHint(err, "sign with another cosigner"))
	want := "error: refused: input 0 has 1 of the 2 signatures it needs\n" +
		"  device said: ok\n" +
		"  hint: run rm -rf\\x1b[2J\n" +
		"hint: sign with another cosigner\n"
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
