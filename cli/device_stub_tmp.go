package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/countersign/countersign/hw"
)

// verifyAddressOnDevice is replaced when the device layer lands; until then
// the flag says plainly that it cannot check anything.
func (f *Factory) verifyAddressOnDevice(ctx context.Context, l *loaded, spec string, branch, index uint32, want string) error {
	return errors.New("--verify-on is not available in this build: the hardware signer layer has not landed yet (see docs/status.md)")
}

func (f *Factory) openDevice(ctx context.Context, spec string) (hw.Signer, string, error) {
	return nil, "", fmt.Errorf("%w: %q: this build signs with key:NAME and file:DIR only; hardware signers have not landed yet", hw.ErrNoDevice, spec)
}

// checkRegistration is a no-op until device registration records land.
func (f *Factory) checkRegistration(ctx context.Context, l *loaded, spec string) error { return nil }
