package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

func TestWriteReplacesAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "wallet.txt")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("new contents"), 0o640); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "new contents" {
		t.Fatalf("got %q, %v", b, err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want 0640", st.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temp file left behind: %v", ents)
	}
}

func TestWriteMissingDirFailsCleanly(t *testing.T) {
	if err := Write(filepath.Join(t.TempDir(), "no", "such", "f"), []byte("x"), 0o600); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

func TestExclusiveCreatesOnce(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "key.age")
	if err := WriteWith(p, []byte("first"), Options{Exclusive: true}); err != nil {
		t.Fatal(err)
	}
	err := WriteWith(p, []byte("second"), Options{Exclusive: true})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second exclusive write: %v, want ErrExists", err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "first" {
		t.Fatalf("exclusive write replaced the file: %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temp file left behind: %v", ents)
	}
}

func TestExclusiveRace(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "race")
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if WriteWith(p, []byte{byte(i)}, Options{Exclusive: true}) == nil {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d writers created the file, want exactly 1", wins.Load())
	}
}

func TestNoChmodKeepsCreateMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pay.psbt")
	if err := WriteWith(p, []byte("psbt"), Options{NoChmod: true, Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v: NoChmod must not apply Perm", st.Mode().Perm())
	}
}
