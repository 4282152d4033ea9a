package ledger

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/hw/transport"
)

// sessionFixture is what a recorded session and its replays share: a
// 2-of-3 wsh wallet with the emulator's key first, its registration token
// under testHMACKey, and a 2-input spend.
type sessionFixture struct {
	w     *testWallet
	p     *bpsbt.Packet
	token []byte
	addr  string // the wallet's address at (1, 3)
}

func newSessionFixture(tb testing.TB) *sessionFixture {
	tb.Helper()
	w := newTestWallet(tb, descriptor.ScriptWsh, 2, true)
	pol, err := PolicyFromDescriptor(w.desc, "treasury")
	if err != nil {
		tb.Fatal(err)
	}
	id := pol.ID()
	mac := hmac.New(sha256.New, testHMACKey)
	mac.Write(id[:])
	der, err := w.desc.Derive(1, 3, testNet)
	if err != nil {
		tb.Fatal(err)
	}
	return &sessionFixture{w: w, p: w.spend(tb, 2), token: mac.Sum(nil), addr: der.Address}
}

func (fx *sessionFixture) wallet(token []byte) *hw.Wallet {
	w := hwtest.Wallet(fx.w.desc, testNet, "treasury")
	w.Token = token
	return w
}

// sessionPath is the xpub a session reads: BIP-48 testnet P2WSH account 0.
var sessionPath = descriptor.Path{48 + hardened, 1 + hardened, hardened, 2 + hardened}

// sessionResult is what runSession observed.
type sessionResult struct {
	errs  []error
	xpub  string
	addr  string
	sign  *hw.SignResult
	token []byte
}

// runSession is one use of a Ledger as the coordinator makes it, through
// the hw.Signer adapter: open, read an xpub, register the wallet, show an
// address and sign. A recorded session and every fuzzed replay run it.
func runSession(ctx context.Context, l Link, fx *sessionFixture) sessionResult {
	var r sessionResult
	dev, err := Open(ctx, l, Options{ReplyTimeout: time.Minute})
	if err != nil {
		r.errs = append(r.errs, err)
		return r
	}
	s := hw.NewSigner(dev)
	defer s.Close()
	if x, err := s.Xpub(ctx, sessionPath); err != nil {
		r.errs = append(r.errs, err)
	} else {
		r.xpub = x.String()
	}
	if tok, err := s.Register(ctx, fx.wallet(nil)); err != nil {
		r.errs = append(r.errs, err)
	} else {
		r.token = tok
	}
	if a, err := s.DisplayAddress(ctx, fx.wallet(fx.token), 1, 3); err != nil {
		r.errs = append(r.errs, err)
	} else {
		r.addr = a
	}
	if res, err := s.Sign(ctx, fx.p, fx.wallet(fx.token)); err != nil {
		r.errs = append(r.errs, err)
	} else {
		r.sign = res
	}
	return r
}

// streamLink answers each APDU with the next response of a recorded (or
// fuzzed) stream: a 2-byte big-endian length, then that many bytes of
// response data and status word. When the stream runs out the connection
// is lost.
type streamLink struct{ rest []byte }

func (l *streamLink) Exchange(_ context.Context, _ []byte) ([]byte, uint16, error) {
	if len(l.rest) < 2 {
		return nil, 0, linkError(transport.ErrClosed)
	}
	n := min(int(binary.BigEndian.Uint16(l.rest)), len(l.rest)-2)
	msg := l.rest[2 : 2+n]
	l.rest = l.rest[2+n:]
	return splitStatus(msg)
}

func (l *streamLink) Close() error { return nil }

// appendResponse adds one response to a replay stream.
func appendResponse(stream, data []byte, sw uint16) []byte {
	stream = binary.BigEndian.AppendUint16(stream, uint16(len(data)+2))
	stream = append(stream, data...)
	return binary.BigEndian.AppendUint16(stream, sw)
}

// FuzzSession replays a stream of device responses into a whole session
// (open, xpub, register, address, sign through the hw.Signer adapter): a
// Ledger, or something posing as one, must not crash the driver, get an
// address other than the wallet's shown as correct, or change the
// transaction. Seeds:
// testdata/fuzz/FuzzSession (a recorded emulator session and its
// prefixes).
func FuzzSession(f *testing.F) {
	fx := newSessionFixture(f)
	var version []byte
	version = append(version, 1, byte(len(appBitcoinTest)))
	version = append(append(version, appBitcoinTest...), 5)
	version = append(append(version, "2.1.3"...), 1, 2)
	f.Add(appendResponse(appendResponse(nil, version, swOK), []byte{0x73, 0xc5, 0xda, 0x0a}, swOK))
	f.Fuzz(func(t *testing.T, stream []byte) {
		ctx := context.Background()
		r := runSession(ctx, &streamLink{rest: stream}, fx)
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

// FuzzAppVersion decodes GET_VERSION replies: no panic, and an accepted
// reply encodes back to the bytes it was read from (trailing bytes aside).
// Seeds: testdata/fuzz/FuzzAppVersion (the replies of the Bitcoin apps,
// the dashboard and other apps).
func FuzzAppVersion(f *testing.F) {
	f.Add([]byte("\x01\x0cBitcoin Test\x052.1.3\x01\x02"))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parseAppVersion(data)
		if err != nil {
			return
		}
		if len(v.Name) > 255 || len(v.Version) > 255 || len(v.Flags) > 255 {
			t.Fatalf("field longer than its length byte allows: %+v", v)
		}
		enc := append([]byte{1, byte(len(v.Name))}, v.Name...)
		enc = append(append(enc, byte(len(v.Version))), v.Version...)
		if !bytes.HasPrefix(data, enc) {
			t.Fatalf("%x decoded as %+v", data, v)
		}
		if s, err := parseSemver(v.Version); err == nil {
			for _, n := range s {
				if n < 0 {
					t.Fatalf("version %q read as %v", v.Version, s)
				}
			}
		}
	})
}
