// Package vectors locates the published BIP test vectors that live beside the
// repository in ../shared/vectors, so tests in any package can read them.
package vectors

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the vectors folder, walking up from the working directory. It
// skips the test with a clear message when the folder is absent (a checkout
// without the shared/ folder beside it).
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
		cand := filepath.Join(dir, "shared", "vectors")
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return cand
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	t.Skip("published vectors not found: expected a shared/vectors folder beside the repository (or set COUNTERSIGN_VECTORS)")
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
