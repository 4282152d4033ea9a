package cli

import (
	"context"
	"errors"
)

// verifyAddressOnDevice is replaced when the device layer lands; until then
// the flag says plainly that it cannot check anything.
func (f *Factory) verifyAddressOnDevice(ctx context.Context, l *loaded, spec string, branch, index uint32, want string) error {
	return errors.New("--verify-on is not available in this build: the hardware signer layer has not landed yet (see docs/status.md)")
}
