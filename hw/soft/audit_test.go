package soft_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
)

func TestAudit(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string // "" when the store is sound
	}{
		{"sound", func(*testing.T, string) {}, ""},
		{"sidecar lost", func(t *testing.T, dir string) { mustDo(t, os.Remove(filepath.Join(dir, "a.json"))) }, "public file"},
		{"key lost", func(t *testing.T, dir string) { mustDo(t, os.Remove(filepath.Join(dir, "a.age"))) }, "the key file a.age is not"},
		{"key torn", func(t *testing.T, dir string) { mustDo(t, os.Truncate(filepath.Join(dir, "b.age"), 10)) }, "not an age file"},
		{"sidecar names another key", func(t *testing.T, dir string) {
			b, err := os.ReadFile(filepath.Join(dir, "a.json"))
			mustDo(t, err)
			mustDo(t, os.WriteFile(filepath.Join(dir, "a.json"), []byte(strings.Replace(string(b), `"a"`, `"b"`, 1)), 0o600))
		}, `names key "b"`},
		{"key readable by others", func(t *testing.T, dir string) { mustDo(t, os.Chmod(filepath.Join(dir, "a.age"), 0o644)) }, "mode 0644, want 0600"},
		{"sidecar readable by others", func(t *testing.T, dir string) { mustDo(t, os.Chmod(filepath.Join(dir, "b.json"), 0o640)) }, "mode 0640, want 0600"},
		{"directory open", func(t *testing.T, dir string) { mustDo(t, os.Chmod(dir, 0o755)) }, "mode 0755, want 0700"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			for _, name := range []string{"a", "b"} {
				if _, _, err := s.Generate(name, 12, &chaincfg.RegressionNetParams, testPass); err != nil {
					t.Fatal(err)
				}
			}
			// What an interrupted write leaves: listed, not a problem.
			mustDo(t, os.WriteFile(filepath.Join(s.Dir(), ".c.age.tmp-123"), []byte("age-"), 0o600))
			c.damage(t, s.Dir())
			a, err := s.Audit()
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Leftovers) != 1 || a.Keys < 1 {
				t.Fatalf("audit: %+v", a)
			}
			got := strings.Join(a.Problems, "\n")
			if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
				t.Fatalf("problems %q, want %q", a.Problems, c.want)
			}
		})
	}
}

func TestAuditMissingDirectory(t *testing.T) {
	s := newStore(t)
	a, err := s.Audit()
	if err != nil || a.Keys != 0 || len(a.Problems) != 0 {
		t.Fatalf("%+v %v", a, err)
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
