package ledger

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	emu "github.com/countersign/countersign/hw/emulator/ledger"
)

// TestPolicyRefusedByAppVersion: over the wire, an app older than the
// version a wallet's policy needs is refused before anything is shown,
// with the version named.
func TestPolicyRefusedByAppVersion(t *testing.T) {
	u := &user{}
	_, addr := startEmulator(t, emu.Config{Approve: u.approve, AppVersion: "2.3.0"})
	d := mustDial(t, addr)
	keys, _ := policyKeys(t)
	w := mustTaproot(t, keys, descriptor.TaprootOptions{})
	ctx := context.Background()
	_, err := d.Register(ctx, w, testNet, "tap")
	if !errors.Is(err, hw.ErrUnsupported) || !strings.Contains(err.Error(), "version 2.3.0") || !strings.Contains(err.Error(), "musig() key expressions (MuSig2), which the app has since version 2.4.0") {
		t.Fatalf("register on 2.3.0: %v", err)
	}
	d.UseToken(make([]byte, 32))
	if _, err := d.DisplayAddress(ctx, w, testNet, "tap", 0, 0); !errors.Is(err, hw.ErrUnsupported) {
		t.Errorf("address on 2.3.0: %v", err)
	}
	if len(u.kinds()) != 0 {
		t.Errorf("the user was asked: %v", u.kinds())
	}
}
