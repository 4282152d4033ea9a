package file

import (
	"context"
	"fmt"
	"os"

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
