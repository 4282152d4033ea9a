//go:build unix

package transport

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockPath takes an exclusive, non-blocking lock on the file at path and
// returns the function that releases it (and removes the file). Another
// process holding the lock is an error naming the path; a directory where
// lock files cannot be created leaves the device unlocked rather than
// unusable, since the lock only guards against our own concurrent scans.
func lockPath(path string) (func(), error) {
	for range 5 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			if errors.Is(err, os.ErrPermission) {
				return func() {}, nil
			}
			return nil, fmt.Errorf("transport: lock %s: %w", path, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("transport: device is in use by another process (lock %s)", path)
			}
			return nil, fmt.Errorf("transport: lock %s: %w", path, err)
		}
		// The holder removes the file when it unlocks; if that happened
		// between our open and our flock we locked a dead inode. Only a
		// lock on the file the path names now counts.
		held, err1 := f.Stat()
		named, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, named) {
			return func() {
				os.Remove(path)
				f.Close()
			}, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("transport: lock %s: lock file keeps changing", path)
}
