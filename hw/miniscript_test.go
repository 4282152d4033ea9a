package hw_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/hwtest"
)

// typedDevice is a software key that reports another driver type and
// records whether anything reached it.
type typedDevice struct {
	hw.Device
	typ     string
	reached bool
}

func (d *typedDevice) Info() hw.DeviceInfo {
	i := d.Device.Info()
	i.Type, i.Name = d.typ, d.typ+" test device"
	return i
}
func (d *typedDevice) Register(ctx context.Context, w *hw.Wallet) ([]byte, error) {
	d.reached = true
	return d.Device.Register(ctx, w)
}
func (d *typedDevice) DisplayAddress(ctx context.Context, w *hw.Wallet, b, i uint32) (string, error) {
	d.reached = true
	return d.Device.DisplayAddress(ctx, w, b, i)
}
func (d *typedDevice) SignPSBT(ctx context.Context, p *bpsbt.Packet, w *hw.Wallet) (*bpsbt.Packet, error) {
	d.reached = true
	return d.Device.SignPSBT(ctx, p, w)
}

// TestMiniscriptWalletOnDevices: hardware drivers other than the Ledger
// and the Coldcard are refused a miniscript wallet (ErrUnsupported, naming
// the limit) before the device sees it, for registering, showing an
// address and signing; a software key signs. The Ledger and the Coldcard
// drivers decide themselves, by app and firmware version (hw/ledger and
// hw/coldcard test them against their emulators).
func TestMiniscriptWalletOnDevices(t *testing.T) {
	f := newFixture(t)
	k := f.d.Keys
	d, err := descriptor.Parse("wsh(or_d(multi(2," + k[0].String() + "," + k[1].String() + "),and_v(v:pkh(" + k[2].String() + "),older(144))))")
	if err != nil {
		t.Fatal(err)
	}
	w := hwtest.Wallet(d, regtest, "heirs")
	p, _ := hwtest.BuildPSBT(t, d, regtest)
	ctx := context.Background()
	for _, c := range []struct{ typ, limit string }{
		{"trezor", "Trezor firmware signs m-of-n multisig scripts only"},
		{"jade", "Jade"},
		{"future", "does not know"},
	} {
		dev := &typedDevice{Device: f.alice, typ: c.typ}
		s := hw.NewSigner(dev)
		_, err1 := s.Register(ctx, w)
		_, err2 := s.DisplayAddress(ctx, w, 0, 0)
		_, err3 := s.Sign(ctx, p, w)
		for _, err := range []error{err1, err2, err3} {
			if !errors.Is(err, hw.ErrUnsupported) || !strings.Contains(err.Error(), c.limit) || !strings.Contains(err.Error(), "miniscript wallet") {
				t.Errorf("%s: %v", c.typ, err)
			}
		}
		if dev.reached {
			t.Errorf("%s: the device was asked", c.typ)
		}
	}
	ledger := &typedDevice{Device: f.alice, typ: "ledger"}
	if _, err := hw.NewSigner(ledger).Sign(ctx, p, w); err != nil || !ledger.reached {
		t.Errorf("ledger: %v, reached %v", err, ledger.reached)
	}
	res, err := hw.NewSigner(f.alice).Sign(ctx, p, w)
	if err != nil || res.Added == 0 {
		t.Fatalf("software key on a miniscript wallet: %+v, %v", res, err)
	}
}
