// Package regularfile opens files that countersign finds rather than is
// given: answers a device wrote to a card, files in a watched folder. Such
// a name may be a FIFO (open blocks until a writer comes, and a blocked
// open ignores Ctrl-C), a device node or a symbolic link to one; only a
// regular file is a device's answer.
package regularfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrNotRegular is returned for a name that is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// Open opens path for reading only if it is a regular file, without
// following a final symbolic link and without blocking on a FIFO.
func Open(path string) (*os.File, error) {
	if st, err := os.Lstat(path); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, notRegular(path, st.Mode())
	}
	// Between Lstat and open the name may be replaced: open it so that
	// neither a FIFO nor a link can block or redirect, then check again.
	f, err := openNoBlock(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, notRegular(path, st.Mode())
	}
	return f, nil
}

func notRegular(path string, m fs.FileMode) error {
	kind := "special file"
	switch {
	case m&fs.ModeSymlink != 0:
		kind = "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		kind = "FIFO"
	case m.IsDir():
		kind = "directory"
	case m&fs.ModeDevice != 0:
		kind = "device"
	case m&fs.ModeSocket != 0:
		kind = "socket"
	}
	return fmt.Errorf("%s is a %s, %w: not read", path, kind, ErrNotRegular)
}
