package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/countersign/countersign/psbt"
)

// TestReadPSBTsErrorOrder: the copies are decoded at once, but the error
// is the one reading them in order gives first.
func TestReadPSBTsErrorOrder(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.psbt")
	if err := os.WriteFile(bad, []byte("not a psbt"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.psbt")
	s := &Streams{In: bytes.NewReader(nil), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}

	// A file that cannot be decoded, then one that cannot be read: the
	// first is reported.
	_, _, err := readPSBTs(s, []string{bad, missing})
	if !errors.Is(err, psbt.ErrMalformed) || !strings.Contains(err.Error(), "bad.psbt") {
		t.Fatalf("got %v, want the malformed bad.psbt", err)
	}
	// The other way round: the missing file.
	_, _, err = readPSBTs(s, []string{missing, bad})
	if err == nil || !strings.Contains(err.Error(), "missing.psbt") || errors.Is(err, psbt.ErrMalformed) {
		t.Fatalf("got %v, want missing.psbt reported", err)
	}
}
