package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/countersign/countersign/hw"
)

// checkDir makes sure Dir is there before anything is written, so the user
// hears "insert the card" rather than a bare I/O error.
func (s *Signer) checkDir(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.Dir == "" {
		return fmt.Errorf("%w: no folder given for the file signer: name the mounted microSD card, e.g. file:/media/SD", hw.ErrDevice)
	}
	st, err := os.Stat(s.Dir)
	if err != nil {
		return fmt.Errorf("%w: %s is not reachable (%v): insert and mount the microSD card, or name another folder", hw.ErrDevice, s.Dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%w: %s is not a folder: name the folder the device reads (the card's mount point)", hw.ErrDevice, s.Dir)
	}
	return nil
}

// writeFile stores data as dir/name through a temporary file, fsync, rename
// and a directory fsync (STYLE rule 12), so a card pulled out mid-write never
// holds a half file under a name the device would offer to sign. The
// temporary name does not end in .psbt, so the device never lists it.
func writeFile(dir, name string, data []byte) (err error) {
	final := filepath.Join(dir, name)
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", final, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
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
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", final, err)
	}
	return nil
}

// syncDir makes the rename durable. FAT and some FUSE filesystems cannot
// fsync a directory and answer EINVAL or ENOTSUP; there is nothing more to do
// on those, so that is not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}
