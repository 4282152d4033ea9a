package soft

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// ageHeader starts every binary age file: the version line of the age
// format (C2SP age specification, "Header", https://c2sp.org/age). A key
// file that does not start with it was torn or replaced.
const ageHeader = "age-encryption.org/v1\n"

// Audit is what (*Store).Audit found.
type Audit struct {
	Keys int // key files (NAME.age) found
	// Leftovers are temporary files an interrupted write left behind
	// (".NAME.age.tmp-..."). They hold nothing readable as a key and are
	// safe to delete; they are not problems.
	Leftovers []string
	// Problems has one line per thing that is wrong, with what to do.
	Problems []string
}

// Audit checks the key store's files without opening any key (that needs
// its passphrase): the directory is the owner's alone (0700), every key
// file is a complete age file of mode 0600 with a readable public file
// (NAME.json, 0600) that names it, and no public file has lost its key. A
// missing directory is an empty store. The error is for a directory that
// cannot be read at all.
func (s *Store) Audit() (*Audit, error) {
	a := &Audit{}
	info, err := os.Stat(s.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return a, nil
	case err != nil:
		return nil, fmt.Errorf("look at the key store %s: %w", s.dir, err)
	case !info.IsDir():
		a.Problems = append(a.Problems, fmt.Sprintf("%s is not a directory; move it away (keys live there)", s.dir))
		return a, nil
	case info.Mode().Perm() != 0o700:
		a.Problems = append(a.Problems, fmt.Sprintf("key directory %s has mode %04o, want 0700: chmod 700 it", s.dir, info.Mode().Perm()))
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("read the key store %s: %w", s.dir, err)
	}
	present := map[string]bool{}
	for _, e := range entries {
		present[e.Name()] = true
	}
	for _, e := range entries {
		file := e.Name()
		switch {
		case strings.HasPrefix(file, ".") && strings.Contains(file, ".tmp-"):
			a.Leftovers = append(a.Leftovers, file)
		case strings.HasSuffix(file, secretExt) && checkName(strings.TrimSuffix(file, secretExt)) == nil:
			a.Keys++
			a.Problems = append(a.Problems, s.auditKey(strings.TrimSuffix(file, secretExt))...)
		case strings.HasSuffix(file, sidecarExt) && checkName(strings.TrimSuffix(file, sidecarExt)) == nil:
			if name := strings.TrimSuffix(file, sidecarExt); !present[name+secretExt] {
				a.Problems = append(a.Problems, fmt.Sprintf("key %q: its public file %s is there but the key file %s is not; restore the key file from a backup, or delete the public file", name, file, name+secretExt))
			}
		}
	}
	return a, nil
}

// auditKey checks one key's two files.
func (s *Store) auditKey(name string) []string {
	var out []string
	for _, ext := range []string{secretExt, sidecarExt} {
		p := s.path(name, ext)
		info, err := os.Lstat(p)
		switch {
		case err != nil && ext == sidecarExt && errors.Is(err, fs.ErrNotExist):
			// readSidecar below says what to do.
		case err != nil:
			out = append(out, fmt.Sprintf("key %q: %v", name, err))
		case !info.Mode().IsRegular():
			out = append(out, fmt.Sprintf("key %q: %s is not a regular file", name, p))
		case info.Mode().Perm() != 0o600:
			out = append(out, fmt.Sprintf("key %q: %s has mode %04o, want 0600: chmod 600 it", name, p, info.Mode().Perm()))
		}
	}
	if err := checkAgeHeader(s.path(name, secretExt)); err != nil {
		out = append(out, fmt.Sprintf("key %q: %v; restore it from a backup or import the key again under a new name", name, err))
	}
	if _, err := s.readSidecar(name); err != nil {
		out = append(out, err.Error())
	}
	return out
}

// checkAgeHeader reads the start of a key file.
func checkAgeHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, len(ageHeader))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, []byte(ageHeader)) {
		return fmt.Errorf("%s is not an age file (torn or replaced)", path)
	}
	return nil
}
