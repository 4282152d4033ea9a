// Package atomicfile writes files so that a crash leaves either the old file
// (or none) or the complete new one, never a torn write: a temporary file
// beside the target, fsync, rename (or hard link), fsync the directory (the
// restic recipe, STYLE rule 12). It is the one place the project writes a
// file outside SQLite: exports, PSBTs, software keys, SD cards.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrExists is returned by a Write with Exclusive when the target exists.
var ErrExists = errors.New("file exists")

// Options choose how Write treats the target.
type Options struct {
	// Perm is applied to the new file (0o600 when zero). It is skipped with
	// NoChmod.
	Perm os.FileMode
	// Exclusive creates the file only if it does not exist: two processes
	// racing for one name cannot both win (ErrExists for the loser). A hard
	// link is the atomic "create if absent"; on filesystems without hard
	// links it falls back to check-then-rename, racy only against another
	// process creating the same name at the same instant.
	Exclusive bool
	// NoChmod leaves the temporary file's mode as created (0600 from
	// os.CreateTemp). FAT-formatted SD cards refuse chmod; files meant for
	// an air-gapped device's card are written with it.
	NoChmod bool
}

// Write replaces path with data, created 0600.
func Write(path string, data []byte, perm os.FileMode) error {
	return WriteWith(path, data, Options{Perm: perm})
}

// WriteWith writes data to path as the options say. On any error the
// temporary file is gone and path is as it was.
func WriteWith(path string, data []byte, o Options) (err error) {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// The temporary name starts with a dot and does not end in the target's
	// extension, so a device listing *.psbt never offers a half file.
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer func() {
		// After a rename the temporary name is gone and Remove fails
		// harmlessly; after a link or a failure it must go.
		_ = os.Remove(tmpName)
	}()
	if !o.NoChmod {
		perm := o.Perm
		if perm == 0 {
			perm = 0o600
		}
		if err := tmp.Chmod(perm); err != nil {
			tmp.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	n, err := tmp.Write(data)
	if err == nil && n != len(data) {
		err = fmt.Errorf("short write (%d of %d bytes)", n, len(data))
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if o.Exclusive {
		if err := os.Link(tmpName, path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("write %s: %w", path, ErrExists)
			}
			if _, serr := os.Lstat(path); serr == nil {
				return fmt.Errorf("write %s: %w", path, ErrExists)
			}
			if err := os.Rename(tmpName, path); err != nil {
				return fmt.Errorf("write %s: %w", path, err)
			}
		}
	} else if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// SyncDir makes a rename or link in dir durable. FAT, some FUSE filesystems
// and others cannot fsync a directory and say so with EINVAL or ENOTSUP;
// nothing more can be done there, so that is not an error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s to sync it: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
