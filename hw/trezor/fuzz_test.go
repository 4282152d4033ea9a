package trezor

import (
	"context"
	"testing"
	"time"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/hw/transport"
	tp "github.com/countersign/countersign/hw/trezor/trezorproto"
)

// sessionFixture is what a recorded session and its replays share: the
// 2-of-3 wsh wallet of the test seeds (the emulator's first) and a
// 2-input spend.
type sessionFixture struct {
	w    *testWallet
	p    *bpsbt.Packet
	addr string // the wallet's address at (1, 3)
}

func newSessionFixture(tb testing.TB) *sessionFixture {
	tb.Helper()
	w := newTestWallet(tb, descriptor.ScriptWsh, true)
	der, err := w.desc.Derive(1, 3, testNet)
	if err != nil {
		tb.Fatal(err)
	}
	return &sessionFixture{w: w, p: w.buildPSBT(tb, 2, 4), addr: der.Address}
}

// sessionResult is what runSession observed.
type sessionResult struct {
	errs []error
	addr string
	sign *hw.SignResult
}

// sessionOptions answer PIN and passphrase requests, so replays reach
// those paths too.
func sessionOptions() Options {
	return Options{
		ReplyTimeout: time.Minute,
		PIN:          func(context.Context, PINKind) (string, error) { return "1234", nil },
		Passphrase:   func(context.Context, bool) (string, bool, error) { return "", false, nil },
	}
}

// runSession is one use of a Trezor as the coordinator makes it, through
// the hw.Signer adapter: open, read an xpub, register (a no-op on a
// Trezor), show an address and sign. A recorded session and every fuzzed
// replay run it.
func runSession(ctx context.Context, t transport.Transport, fx *sessionFixture) sessionResult {
	var r sessionResult
	dev, err := Open(ctx, t, sessionOptions())
	if err != nil {
		r.errs = append(r.errs, err)
		return r
	}
	s := hw.NewSigner(dev)
	defer s.Close()
	w := hwtest.Wallet(fx.w.desc, testNet, "family")
	if _, err := s.Xpub(ctx, accountPath(descriptor.ScriptWsh)); err != nil {
		r.errs = append(r.errs, err)
	}
	if _, err := s.Register(ctx, w); err != nil {
		r.errs = append(r.errs, err)
	}
	if a, err := s.DisplayAddress(ctx, w, 1, 3); err != nil {
		r.errs = append(r.errs, err)
	} else {
		r.addr = a
	}
	if res, err := s.Sign(ctx, fx.p, w); err != nil {
		r.errs = append(r.errs, err)
	} else {
		r.sign = res
	}
	return r
}

// streamTransport plays a device that sends the reports of a recorded (or
// fuzzed) stream, 64 bytes each, whatever the host writes. When the
// stream runs out the device is gone.
type streamTransport struct{ rest []byte }

func (s *streamTransport) Write(_ context.Context, r []byte) error {
	if len(r) != tp.ReportSize {
		return transport.ErrClosed
	}
	return nil
}

func (s *streamTransport) Read(context.Context) ([]byte, error) {
	if len(s.rest) == 0 {
		return nil, transport.ErrClosed
	}
	n := min(tp.ReportSize, len(s.rest))
	r := s.rest[:n:n]
	s.rest = s.rest[n:]
	return r, nil
}

func (s *streamTransport) Close() error { return nil }

// FuzzSession replays a stream of device reports into a whole session
// (open, xpub, address, sign through the hw.Signer adapter): a Trezor, or
// something posing as one, must not crash the driver, get an address other
// than the wallet's shown as correct, or change the transaction. Seeds: testdata/fuzz/FuzzSession (a
// recorded emulator session and its first messages).
func FuzzSession(f *testing.F) {
	fx := newSessionFixture(f)
	features, _ := tp.EncodeReports(tp.TypeFeatures, (&tp.Features{Vendor: "trezor.io", Initialized: true}).Marshal())
	var seed []byte
	for _, r := range features {
		seed = append(seed, r...)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := runSession(context.Background(), &streamTransport{rest: stream}, fx)
		for _, err := range r.errs {
			_ = err.Error() // device text in it is escaped where it is printed (cli/exit.go)
		}
		if r.addr != "" && r.addr != fx.addr {
			t.Fatalf("address %q accepted for the wallet's %s", r.addr, fx.addr)
		}
		if r.sign != nil {
			if r.sign.PSBT.UnsignedTx.TxHash() != fx.p.UnsignedTx.TxHash() {
				t.Fatal("signing changed the transaction")
			}
			if r.sign.Added > len(fx.p.Inputs) {
				t.Fatalf("%d signatures added to %d inputs", r.sign.Added, len(fx.p.Inputs))
			}
		}
	})
}
