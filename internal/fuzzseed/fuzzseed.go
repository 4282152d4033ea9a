// Package fuzzseed keeps the committed seed corpora of the module's fuzz
// targets in step with the real inputs they come from.
//
// Every fuzz target FuzzXxx has a folder testdata/fuzz/FuzzXxx/ next to its
// package, in Go's own corpus format (a "go test fuzz v1" line, then one Go
// literal per fuzz argument). `go test` runs every file there as a seed and
// `go test -fuzz` starts from them, so a plain clone fuzzes real inputs:
// published vectors, fixtures, recorded device frames and backend replies.
//
// Each package derives its corpora in one test (TestFuzzCorpus in
// corpus_test.go). Deterministic seeds are checked: a missing or stale file
// fails that test. Recorded seeds (sessions with an emulator or a node,
// which differ from run to run) are only required to exist. With
// COUNTERSIGN_UPDATE_CORPUS=1 the test writes the files instead:
//
//	COUNTERSIGN_UPDATE_CORPUS=1 go test -run TestFuzzCorpus ./hw/ledger
//
// Files the test does not produce (crashers the fuzzer wrote, kept as
// regression seeds) are left alone.
package fuzzseed

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// EnvUpdate names the variable that makes Check and Record write the
// corpus files instead of checking them.
const EnvUpdate = "COUNTERSIGN_UPDATE_CORPUS"

// Updating reports whether this run writes corpora (EnvUpdate=1).
func Updating() bool { return os.Getenv(EnvUpdate) == "1" }

// Entry encodes one corpus entry: one value per argument of the fuzz
// function, in order. It accepts the argument types the module's fuzz
// targets use.
func Entry(values ...any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, v := range values {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
		case string:
			fmt.Fprintf(&b, "string(%s)\n", strconv.Quote(v))
		case bool, int, int64, uint, uint16, uint32, uint64:
			fmt.Fprintf(&b, "%T(%v)\n", v, v)
		case uint8:
			fmt.Fprintf(&b, "byte(%d)\n", v)
		default:
			panic(fmt.Sprintf("fuzzseed: unsupported corpus value of type %T", v))
		}
	}
	return b.Bytes()
}

// Corpus is the derived seed set of one fuzz target.
type Corpus struct {
	target string
	files  map[string][]byte
	seen   map[string]bool // contents, to drop duplicates
}

// New starts the corpus of target ("FuzzParse").
func New(target string) *Corpus {
	return &Corpus{target: target, files: map[string][]byte{}, seen: map[string]bool{}}
}

// Add adds one entry under a descriptive name (made file-safe). An entry
// equal to one already added is dropped; a name already taken gets a
// numeric suffix.
func (c *Corpus) Add(name string, values ...any) {
	e := Entry(values...)
	if c.seen[string(e)] {
		return
	}
	c.seen[string(e)] = true
	base := fileName(name)
	n := base
	for i := 2; c.files[n] != nil; i++ {
		n = fmt.Sprintf("%s_%d", base, i)
	}
	c.files[n] = e
}

// Len is the number of entries.
func (c *Corpus) Len() int { return len(c.files) }

// fileName keeps letters, digits, '-', '_' and '.', replaces the rest with
// '_', and bounds the length.
func fileName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := strings.Trim(b.String(), "._")
	if len(out) > 80 {
		out = out[:80]
	}
	if out == "" {
		out = "seed"
	}
	return out
}

func dir(target string) string { return filepath.Join("testdata", "fuzz", target) }

// Check compares each corpus with the files committed under
// testdata/fuzz/<target>/ (or writes them when updating). A corpus must
// not be empty.
func Check(t *testing.T, corpora ...*Corpus) {
	t.Helper()
	for _, c := range corpora {
		if len(c.files) == 0 {
			t.Errorf("%s: the derived seed corpus is empty", c.target)
			continue
		}
		d := dir(c.target)
		if Updating() {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		var stale []string
		for _, name := range sortedKeys(c.files) {
			p := filepath.Join(d, name)
			have, err := os.ReadFile(p)
			if err == nil && bytes.Equal(have, c.files[name]) {
				continue
			}
			if Updating() {
				if err := os.WriteFile(p, c.files[name], 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			stale = append(stale, name)
		}
		if len(stale) > 0 {
			t.Errorf("%s: %d of %d seed files missing or stale under %s (first: %s); regenerate with %s=1 go test -run TestFuzzCorpus .",
				c.target, len(stale), len(c.files), d, stale[0], EnvUpdate)
		}
	}
}

// Record keeps recorded seeds: entries whose content differs from run to
// run (a session with an emulator under a fresh key) or needs a live peer
// to produce. When updating it replaces the files named prefix_NNN with
// what record returns (one []any per entry, duplicates dropped); otherwise it only checks that
// some exist, and record is not called. A nil record means another
// package records these seeds (RecordAt): they are only checked.
func Record(t *testing.T, target, prefix string, record func() [][]any) {
	t.Helper()
	RecordAt(t, ".", target, prefix, record)
}

// RecordAt is Record for a target of the package in pkgDir (relative to
// the test's package), for a recording that only another package's tests
// can make: the Trezor driver's session seeds its codec package's targets.
func RecordAt(t *testing.T, pkgDir, target, prefix string, record func() [][]any) {
	t.Helper()
	d := filepath.Join(pkgDir, dir(target))
	old, err := filepath.Glob(filepath.Join(d, prefix+"_*"))
	if err != nil {
		t.Fatal(err)
	}
	if !Updating() || record == nil {
		// A nil record: another package's test records these seeds (see
		// RecordAt); here they are only required to exist.
		if len(old) == 0 && !Updating() {
			t.Errorf("%s: no recorded seeds %s_* under %s; record them with %s=1 go test -run TestFuzzCorpus .", target, prefix, d, EnvUpdate)
		}
		return
	}
	entries := record()
	if len(entries) == 0 {
		t.Fatalf("%s: recording %s produced no seeds", target, prefix)
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, e := range entries {
		b := Entry(e...)
		if seen[string(b)] {
			continue // a repeated reply (polls) adds nothing
		}
		p := filepath.Join(d, fmt.Sprintf("%s_%03d", prefix, len(seen)))
		seen[string(b)] = true
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func sortedKeys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
