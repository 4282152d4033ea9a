package soft

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// errFileExists is returned by writeFile when replace is false and the
// target already exists.
var errFileExists = errors.New("file exists")

// writeFile stores data as dir/name so that a crash leaves either no file or
// the whole file (STYLE rule 12): a temporary file beside the target, fsync,
// then rename (replace) or hard link (no replace), then fsync the directory.
// The temporary file is created 0600 and never outlives the call.
//
// Without replace, a hard link is the atomic "create if absent": two
// processes racing for the same name cannot both win. On filesystems without
// hard links it falls back to check-then-rename, which is only racy against
// another process creating the same key at the same instant.
func writeFile(dir, name string, data []byte, replace bool) (err error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("create a temporary file in %s: %w", dir, err)
	}
	tmp := f.Name()
	defer func() {
		// After a successful link the temporary name must go too; after a
		// rename it no longer exists and Remove fails harmlessly.
		_ = os.Remove(tmp)
	}()
	n, err := f.Write(data)
	if err == nil && n != len(data) {
		err = fmt.Errorf("short write (%d of %d bytes)", n, len(data))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}

	final := filepath.Join(dir, name)
	if replace {
		if err := os.Rename(tmp, final); err != nil {
			return fmt.Errorf("rename %s to %s: %w", tmp, final, err)
		}
	} else if err := os.Link(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return errFileExists
		}
		if _, serr := os.Lstat(final); serr == nil {
			return errFileExists
		}
		if err := os.Rename(tmp, final); err != nil {
			return fmt.Errorf("rename %s to %s: %w", tmp, final, err)
		}
	}
	return syncDir(dir)
}

// syncDir makes a rename or link in dir durable. Some filesystems cannot
// fsync a directory and say so with EINVAL or ENOTSUP; nothing more can be
// done there, so that is not an error.
func syncDir(dir string) error {
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

// ensureDir creates the key directory 0700, and tightens it to 0700 if it
// already exists, because the file names alone tell who holds which key.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create the key store directory %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("restrict the key store directory %s to its owner: %w", dir, err)
	}
	return nil
}
