package hw_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/hw/soft"
	"github.com/countersign/countersign/psbt"
)

var regtest = &chaincfg.RegressionNetParams

// tamperingDevice is a real software signer whose answer is altered before
// the adapter sees it: a device that lies.
type tamperingDevice struct {
	hw.Device
	tamper func(*bpsbt.Packet)
}

func (d *tamperingDevice) SignPSBT(ctx context.Context, p *bpsbt.Packet, w *hw.Wallet) (*bpsbt.Packet, error) {
	out, err := d.Device.SignPSBT(ctx, p, w)
	if err == nil && d.tamper != nil {
		d.tamper(out)
	}
	return out, err
}

// failingDevice fails every call with err.
type failingDevice struct {
	hw.Device
	err error
}

func (d *failingDevice) SignPSBT(context.Context, *bpsbt.Packet, *hw.Wallet) (*bpsbt.Packet, error) {
	return nil, d.err
}

type fixture struct {
	alice, bob *soft.Signer
	d          *descriptor.Descriptor
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ks := soft.NewStore(t.TempDir())
	if err := ks.SetWorkFactor(10); err != nil {
		t.Fatal(err)
	}
	pass := []byte("correct horse battery staple")
	f := &fixture{}
	var keys []descriptor.Key
	for _, name := range []string{"alice", "bob", "carol"} {
		if _, _, err := ks.Generate(name, 12, regtest, pass); err != nil {
			t.Fatal(err)
		}
		k, err := ks.Open(name, pass)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { k.Close() })
		path := descriptor.Path{hdkeychain.HardenedKeyStart + 48, hdkeychain.HardenedKeyStart + 1, hdkeychain.HardenedKeyStart, hdkeychain.HardenedKeyStart + 2}
		key, err := hw.NewSigner(k).KeyExpression(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		key.Path = []descriptor.PathElem{{Multi: []uint32{0, 1}}}
		key.Wildcard = true
		keys = append(keys, key)
		switch name {
		case "alice":
			f.alice = k
		case "bob":
			f.bob = k
		}
	}
	d, err := descriptor.New(descriptor.ScriptWsh, 2, true, keys)
	if err != nil {
		t.Fatal(err)
	}
	f.d = d
	return f
}

func (f *fixture) wallet() *hw.Wallet { return hwtest.Wallet(f.d, regtest, "family") }

// TestSignTakesOnlyVerifiedSignatures: whatever a device returns, the
// adapter keeps only new signatures for the device's own keys that verify
// against the caller's input; anything else is refused and named.
func TestSignTakesOnlyVerifiedSignatures(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p, _ := hwtest.BuildPSBT(t, f.d, regtest)
	bobSigned, err := hwtest.Sign(ctx, f.bob, p, f.d, regtest, "family")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		tamper func(*bpsbt.Packet)
		want   string
	}{
		{"signature does not verify", func(q *bpsbt.Packet) {
			s := q.Inputs[0].PartialSigs[0].Signature
			s[10] ^= 1
		}, "does not verify"},
		{"wrong sighash type", func(q *bpsbt.Packet) {
			s := q.Inputs[0].PartialSigs[0].Signature
			s[len(s)-1] = byte(txscript.SigHashNone)
		}, "sighash"},
		{"signature for a cosigner's key", func(q *bpsbt.Packet) {
			q.Inputs[0].PartialSigs = append(q.Inputs[0].PartialSigs, bobSigned.Inputs[0].PartialSigs[0])
		}, "returned a signature for cosigner"},
		{"another transaction", func(q *bpsbt.Packet) { q.UnsignedTx.LockTime++ }, "different transaction"},
		{"a key outside the input", func(q *bpsbt.Packet) {
			q.Inputs[0].PartialSigs[0].PubKey = append([]byte{2}, make([]byte, 32)...)
		}, "not a key of this input"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := hw.NewSigner(&tamperingDevice{Device: f.alice, tamper: c.tamper})
			before, _ := psbt.Serialize(p)
			_, err := s.Sign(ctx, p, f.wallet())
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, hw.ErrDevice) {
				t.Fatalf("error %v, want a device error saying %q", err, c.want)
			}
			if !strings.Contains(err.Error(), "software key alice") {
				t.Errorf("the error does not name the signer: %v", err)
			}
			if after, _ := psbt.Serialize(p); string(after) != string(before) {
				t.Fatal("the caller's PSBT was changed")
			}
		})
	}
	res, err := hw.NewSigner(f.alice).Sign(ctx, p, f.wallet())
	if err != nil || res.Added != 1 || res.AlreadySigned {
		t.Fatalf("honest device: %+v, %v", res, err)
	}
	// Asking again is not an error: there is nothing left to sign, and the
	// device is not bothered.
	again, err := hw.NewSigner(&failingDevice{Device: f.alice, err: errors.New("must not be called")}).Sign(ctx, res.PSBT, f.wallet())
	if err != nil || !again.AlreadySigned || again.Added != 0 {
		t.Fatalf("second signature by the same key: %+v, %v", again, err)
	}
}

// TestSignChecksBeforeTheDevice: a PSBT the wallet cannot explain never
// reaches the device.
func TestSignChecksBeforeTheDevice(t *testing.T) {
	f := newFixture(t)
	p, _ := hwtest.BuildPSBT(t, f.d, regtest)
	for _, d := range p.Outputs[1].Bip32Derivation {
		d.Bip32Path[5] = 7 // the change claims index 7 but pays index 0's script
	}
	called := false
	dev := &tamperingDevice{Device: f.alice, tamper: func(*bpsbt.Packet) { called = true }}
	_, err := hw.NewSigner(dev).Sign(context.Background(), p, f.wallet())
	if !errors.Is(err, psbt.ErrRefused) || called {
		t.Fatalf("Sign of a swapped change: %v (device called: %v), want ErrRefused before the device", err, called)
	}
}

// TestErrorKinds: driver failures come out classified, named, and with
// safety refusals and cancellation left as they are.
func TestErrorKinds(t *testing.T) {
	f := newFixture(t)
	p, _ := hwtest.BuildPSBT(t, f.d, regtest)
	for _, c := range []struct {
		err  error
		kind error
	}{
		{hw.Errorf(hw.ErrRejected, "refused"), hw.ErrRejected},
		{context.DeadlineExceeded, hw.ErrTimeout},
		{errors.New("garbled reply"), hw.ErrDevice},
		{context.Canceled, context.Canceled},
		{psbt.ErrRefused, psbt.ErrRefused},
		{hw.ErrPending, hw.ErrPending},
	} {
		_, err := hw.NewSigner(&failingDevice{Device: f.alice, err: c.err}).Sign(context.Background(), p, f.wallet())
		if !errors.Is(err, c.kind) {
			t.Errorf("%v: got %v, want kind %v", c.err, err, c.kind)
		}
		if k := hw.Kind(err); (k != nil) != errors.Is(c.kind, hw.ErrDevice) {
			t.Errorf("%v: Kind = %v", c.err, k)
		}
	}
}
