//go:build unix

package regularfile

import (
	"os"
	"syscall"
)

// openNoBlock opens with O_NONBLOCK (a FIFO opens at once instead of
// waiting for a writer; no effect on a regular file) and O_NOFOLLOW.
func openNoBlock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
}
