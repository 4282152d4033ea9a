// Package vectors locates the published BIP test vectors kept in the
// repository's testdata/vectors folder (copied from the specifications,
// with their sources), so tests in any package can read them. A plain clone
// has them: a missing vector file fails its test instead of skipping it.
package vectors

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the vectors folder: $COUNTERSIGN_VECTORS when set, else
// testdata/vectors at the module root (found by walking up to go.mod).
func Dir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("COUNTERSIGN_VECTORS"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			cand := filepath.Join(dir, "testdata", "vectors")
			if st, err := os.Stat(cand); err != nil || !st.IsDir() {
				t.Fatalf("published vectors not found: %s is missing (it is part of the repository)", cand)
			}
			return cand
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	t.Fatalf("published vectors not found: no go.mod above %s", wd)
	return ""
}

// Load decodes the JSON vector file name (e.g. "bip32.json") into v.
func Load(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(t), name))
	if err != nil {
		t.Fatalf("read vectors %s: %v", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode vectors %s: %v", name, err)
	}
}

// Path returns the full path of a vector file.
func Path(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(Dir(t), name)
}
