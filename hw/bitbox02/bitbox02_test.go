package bitbox02

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	emu "github.com/countersign/countersign/hw/emulator/bitbox02"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/hw/transport"
	"github.com/countersign/countersign/psbt"
)

func TestFingerprintAndXpub(t *testing.T) {
	r := newRig(t, emu.Config{})
	b := r.mustOpen(t)
	ctx := testCtx(t)
	fp, err := b.Fingerprint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := r.emu.Fingerprint(); fp != want {
		t.Fatalf("fingerprint %x, want %x", fp, want)
	}
	// The BIP-39 vector seed "abandon ... about" has master fingerprint
	// 73c5da0a (BIP-84's test vectors use the same seed).
	if hex.EncodeToString(fp[:]) != "73c5da0a" {
		t.Fatalf("fingerprint %x, want 73c5da0a", fp)
	}
	for _, path := range [][]uint32{accountPath(descriptor.ScriptWsh), {48 + h, 0 + h, 0 + h, 2 + h}, {84 + h, 0 + h, 0 + h}} {
		k, err := b.Xpub(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		net := &chaincfg.MainNetParams
		if path[1] == 1+h {
			net = &chaincfg.TestNet3Params
		}
		want := newCosigner(t, mnemonics[0], path, net).account
		if k.String() != want.String() {
			t.Fatalf("xpub at %v: %s, want %s", path, k, want)
		}
	}
	// BIP-84 test vector: the account xpub of m/84'/0'/0'.
	k, err := b.Xpub(ctx, []uint32{84 + h, 0 + h, 0 + h})
	if err != nil {
		t.Fatal(err)
	}
	if k.String() != "xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V" {
		t.Fatalf("BIP-84 account xpub %s", k)
	}
	// An unusual path needs a confirmation on the device.
	before := len(r.emu.Screens())
	if _, err := b.Xpub(ctx, []uint32{1 + h, 2}); err != nil {
		t.Fatal(err)
	}
	if s := r.emu.Screens(); len(s) != before+1 || !strings.Contains(s[len(s)-1].Body, "unusual keypath") {
		t.Fatalf("no warning for an unusual path: %+v", s)
	}
	info := b.Info()
	if info.Type != "bitbox02" || info.Fingerprint != "73c5da0a" || info.Model != "BitBox02 Multi" || info.Transport != "tcp" {
		t.Fatalf("info %+v", info)
	}
}

// TestRegisterShowSign registers each wallet shape the device supports,
// shows an address, signs, and checks the signatures with countersign's
// own verifier (through the adapter).
func TestRegisterShowSign(t *testing.T) {
	cases := []struct {
		st     descriptor.ScriptType
		sorted bool
	}{
		{descriptor.ScriptWsh, true},
		{descriptor.ScriptShWsh, true},
		{descriptor.ScriptWsh, false}, // a wallet policy
	}
	for _, c := range cases {
		t.Run(c.st.String()+map[bool]string{true: "-sorted", false: "-unsorted"}[c.sorted], func(t *testing.T) {
			r := newRig(t, emu.Config{})
			b := r.mustOpen(t)
			ctx := testCtx(t)
			w := newTestWallet(t, c.st, c.sorted, &chaincfg.TestNet3Params)
			s := hw.NewSigner(b)
			if _, err := s.Register(ctx, w.hw()); err != nil {
				t.Fatal(err)
			}
			if got := r.emu.Registrations(); len(got) != 1 || got[0] != w.name {
				t.Fatalf("registrations %v", got)
			}
			// Registering again is a no-op.
			before := len(r.emu.Screens())
			if _, err := s.Register(ctx, w.hw()); err != nil {
				t.Fatal(err)
			}
			if len(r.emu.Screens()) != before {
				t.Fatal("a known wallet was registered again")
			}
			for _, pos := range [][2]uint32{{0, 0}, {0, 7}, {1, 3}} {
				addr, err := s.DisplayAddress(ctx, w.hw(), pos[0], pos[1])
				if err != nil {
					t.Fatal(err)
				}
				der, _ := w.desc.Derive(pos[0], pos[1], w.net)
				if addr != der.Address {
					t.Fatalf("address %s, want %s", addr, der.Address)
				}
			}
			p := w.buildPSBT(t, 2, 4)
			out, err := hwtest.Sign(ctx, b, p, w.desc, w.net, w.name)
			if err != nil {
				t.Fatal(err)
			}
			for i := range out.Inputs {
				if len(out.Inputs[i].PartialSigs) != 1 {
					t.Fatalf("input %d has %d signatures", i, len(out.Inputs[i].PartialSigs))
				}
			}
			// The user saw the payment and the total, not the change.
			var outputs, totals int
			for _, sc := range r.emu.Screens() {
				switch sc.Kind {
				case "output":
					outputs++
				case "total":
					totals++
				}
			}
			if outputs != 1 || totals != 1 {
				t.Fatalf("%d output and %d total screens, want 1 and 1", outputs, totals)
			}
		})
	}
}

func TestUnsupportedWallets(t *testing.T) {
	r := newRig(t, emu.Config{})
	b := r.mustOpen(t)
	ctx := testCtx(t)
	cases := []struct {
		name   string
		st     descriptor.ScriptType
		sorted bool
		net    *chaincfg.Params
		want   string
	}{
		{"legacy sh", descriptor.ScriptSh, true, &chaincfg.TestNet3Params, "legacy P2SH"},
		{"unsorted sh-wsh", descriptor.ScriptShWsh, false, &chaincfg.TestNet3Params, "needs sortedmulti"},
		{"unsorted on regtest", descriptor.ScriptWsh, false, &chaincfg.RegressionNetParams, "needs sortedmulti"},
	}
	for _, c := range cases {
		w := newTestWallet(t, c.st, c.sorted, c.net)
		for op, f := range map[string]func() error{
			"register": func() error { _, err := b.Register(ctx, w.hw()); return err },
			"show":     func() error { _, err := b.DisplayAddress(ctx, w.hw(), 0, 0); return err },
			"sign":     func() error { _, err := b.SignPSBT(ctx, w.buildPSBT(t, 1, 0), w.hw()); return err },
		} {
			err := f()
			if !errors.Is(err, hw.ErrUnsupported) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s %s: %v, want ErrUnsupported saying %q", c.name, op, err, c.want)
			}
		}
	}
}

// TestSign50Inputs signs a 50-input spend: every input's previous
// transaction is streamed and every signature verified.
func TestSign50Inputs(t *testing.T) {
	r := newRig(t, emu.Config{})
	b := r.mustOpen(t)
	ctx := testCtx(t)
	w := newTestWallet(t, descriptor.ScriptWsh, true, &chaincfg.TestNet3Params)
	if _, err := hw.NewSigner(b).Register(ctx, w.hw()); err != nil {
		t.Fatal(err)
	}
	p := w.buildPSBT(t, 50, 0)
	start := time.Now()
	out, err := hwtest.Sign(ctx, b, p, w.desc, w.net, w.name)
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	for i := range out.Inputs {
		if len(out.Inputs[i].PartialSigs) != 1 {
			t.Fatalf("input %d has %d signatures", i, len(out.Inputs[i].PartialSigs))
		}
	}
	st := b.Stats()
	if got := r.emu.Stats().PrevTxStreamed; got != 50 {
		t.Fatalf("%d previous transactions streamed, want 50", got)
	}
	t.Logf("50 inputs: %s, %d API calls, %d reports out, %d in", el, st.APICalls, st.ReportsOut, st.ReportsIn)
}

func TestNotRegistered(t *testing.T) {
	r := newRig(t, emu.Config{})
	b := r.mustOpen(t)
	ctx := testCtx(t)
	w := newTestWallet(t, descriptor.ScriptWsh, true, &chaincfg.TestNet3Params)
	s := hw.NewSigner(b)
	if _, err := s.DisplayAddress(ctx, w.hw(), 0, 0); !errors.Is(err, hw.ErrNotRegistered) {
		t.Fatalf("show: %v, want ErrNotRegistered", err)
	}
	if _, err := s.Sign(ctx, w.buildPSBT(t, 1, 0), w.hw()); !errors.Is(err, hw.ErrNotRegistered) {
		t.Fatalf("sign: %v, want ErrNotRegistered", err)
	}
}

func TestRejectedOnDevice(t *testing.T) {
	approve := true
	r := newRig(t, emu.Config{Approve: func(ctx context.Context, s emu.Screen) bool { return approve || s.Kind == "pairing" }})
	b := r.mustOpen(t)
	ctx := testCtx(t)
	w := newTestWallet(t, descriptor.ScriptWsh, true, &chaincfg.TestNet3Params)
	s := hw.NewSigner(b)
	approve = false
	if _, err := s.Register(ctx, w.hw()); !errors.Is(err, hw.ErrRejected) {
		t.Fatalf("register: %v, want ErrRejected", err)
	}
	approve = true
	if _, err := s.Register(ctx, w.hw()); err != nil {
		t.Fatal(err)
	}
	approve = false
	if _, err := s.DisplayAddress(ctx, w.hw(), 0, 1); !errors.Is(err, hw.ErrRejected) {
		t.Fatalf("show: %v, want ErrRejected", err)
	}
	if _, err := s.Sign(ctx, w.buildPSBT(t, 1, 0), w.hw()); !errors.Is(err, hw.ErrRejected) {
		t.Fatalf("sign: %v, want ErrRejected", err)
	}
	// The channel still works afterwards.
	approve = true
	if _, err := s.Sign(ctx, w.buildPSBT(t, 1, 0), w.hw()); err != nil {
		t.Fatal(err)
	}
}

func TestPairing(t *testing.T) {
	r := newRig(t, emu.Config{})
	store := FileStore{Path: filepath.Join(t.TempDir(), "bitbox02", "pairings.json")}
	// Without permission to pair, a first connection fails and says how
	// to pair.
	_, err := r.open(t, Options{Pairings: store})
	if !errors.Is(err, ErrNeedsPairing) || !strings.Contains(err.Error(), "interactively") {
		t.Fatalf("first open without pairing: %v", err)
	}
	// A first pairing shows the code on the host and the device.
	var pr prompts
	b, err := r.open(t, Options{Pairings: store, AllowPairing: true, Prompt: pr.fn()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Fingerprint(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	code := PairingCode(b.ChannelHash())
	var shown string
	for _, s := range r.emu.Screens() {
		if s.Kind == "pairing" {
			shown = s.Body
		}
	}
	if shown != code || !strings.Contains(pr.all(), strings.ReplaceAll(code, "\n", "\n    ")) {
		t.Fatalf("device shows %q, host %q, code %q", shown, pr.all(), code)
	}
	b.Close()
	// Remembered: the next session needs no confirmation, even without
	// permission to pair, and learns the fingerprint while opening.
	b2, err := r.open(t, Options{Pairings: store})
	if err != nil {
		t.Fatal(err)
	}
	if b2.Info().Fingerprint == "" || r.emu.Stats().Pairings != 1 {
		t.Fatalf("second session: info %+v, %d pairings", b2.Info(), r.emu.Stats().Pairings)
	}
	b2.Close()
	// A device that forgot the host (after a reset) asks again.
	r.emu.ForgetHosts()
	if _, err := r.open(t, Options{Pairings: store}); !errors.Is(err, ErrNeedsPairing) {
		t.Fatalf("device forgot the host: %v", err)
	}
	// So does a host that lost its store, with a new key.
	b3, err := r.open(t, Options{Pairings: &MemoryStore{}, AllowPairing: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b3.Fingerprint(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if r.emu.Stats().Pairings != 2 {
		t.Fatalf("%d pairings, want 2", r.emu.Stats().Pairings)
	}
}

func TestPairingRefused(t *testing.T) {
	r := newRig(t, emu.Config{RefusePairing: true})
	b, err := r.open(t, Options{Pairings: &MemoryStore{}, AllowPairing: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Fingerprint(testCtx(t))
	if !errors.Is(err, hw.ErrRejected) {
		t.Fatalf("refused pairing: %v, want ErrRejected", err)
	}
}

func TestLockedAndUninitialised(t *testing.T) {
	r := newRig(t, emu.Config{Uninitialized: true})
	if _, err := r.open(t, Options{AllowPairing: true}); !errors.Is(err, hw.ErrLocked) || !strings.Contains(err.Error(), "not set up") {
		t.Fatalf("uninitialised: %v", err)
	}
	unlock := false
	r2 := newRig(t, emu.Config{Locked: true, Approve: func(ctx context.Context, s emu.Screen) bool { return s.Kind != "unlock" || unlock }})
	var pr prompts
	b, err := r2.open(t, Options{AllowPairing: true, Pairings: &MemoryStore{}, Prompt: pr.fn()})
	if err != nil {
		t.Fatal(err)
	}
	if b.Info().Fingerprint != "" || b.Status().Unlocked {
		t.Fatalf("locked device described as %+v", b.Info())
	}
	if _, err := b.Fingerprint(testCtx(t)); !errors.Is(err, hw.ErrLocked) {
		t.Fatalf("unlock refused: %v, want ErrLocked", err)
	}
	unlock = true
	fp, err := b.Fingerprint(testCtx(t))
	if err != nil || fp != r2.emu.Fingerprint() {
		t.Fatalf("after unlock: %x, %v", fp, err)
	}
	if !strings.Contains(pr.all(), "Enter your password on the BitBox02") {
		t.Fatalf("no unlock prompt: %q", pr.all())
	}
}

// TestCancelWhileWaiting gives up while the device waits for the user: the
// request is cancelled on the device and the next one works.
func TestCancelWhileWaiting(t *testing.T) {
	release := make(chan struct{})
	r := newRig(t, emu.Config{Approve: func(ctx context.Context, s emu.Screen) bool {
		if s.Kind != "address" {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-release:
			return true
		}
	}})
	b := r.mustOpen(t)
	w := newTestWallet(t, descriptor.ScriptWsh, true, &chaincfg.TestNet3Params)
	s := hw.NewSigner(b)
	if _, err := s.Register(testCtx(t), w.hw()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	_, err := s.DisplayAddress(ctx, w.hw(), 0, 0)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("gave up: %v", err)
	}
	close(release)
	if _, err := s.DisplayAddress(testCtx(t), w.hw(), 0, 1); err != nil {
		t.Fatalf("after a cancelled request: %v", err)
	}
	if b.Stats().Polls == 0 {
		t.Fatal("the driver never polled the device")
	}
	if st := r.emu.Stats(); st.Cancels == 0 || st.Dropped != 1 {
		t.Fatalf("device stats %+v: want the request cancelled and dropped", st)
	}
}

// TestGiveUpDuringPoll gives up while a poll is on its way: the reply
// never comes back, and the request must still be cancelled.
func TestGiveUpDuringPoll(t *testing.T) {
	r := newRig(t, emu.Config{Approve: func(ctx context.Context, s emu.Screen) bool {
		if s.Kind != "address" {
			return true
		}
		<-ctx.Done()
		return false
	}})
	var giveUp func()
	b, err := r.openWrapped(t, Options{AllowPairing: true, Pairings: &MemoryStore{}}, func(tr transport.Transport) transport.Transport {
		return &writeHook{Transport: tr, after: func(report []byte) {
			if giveUp != nil && isHWW(report, reqRetry, 1) {
				giveUp()
			}
		}}
	})
	if err != nil {
		t.Fatal(err)
	}
	w := newTestWallet(t, descriptor.ScriptWsh, true, &chaincfg.TestNet3Params)
	if _, err := hw.NewSigner(b).Register(testCtx(t), w.hw()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	giveUp = cancel
	if _, err := b.DisplayAddress(ctx, w.hw(), 0, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("gave up: %v", err)
	}
	giveUp = nil
	if n := b.Stats().Cancels; n != 1 {
		t.Fatalf("the driver sent %d REQ_CANCEL, want 1", n)
	}
	if n := r.emu.Stats().Cancels; n != 1 {
		t.Fatalf("the device saw %d REQ_CANCEL, want 1", n)
	}
}

// TestPollTooLate: a device that dropped the request before the poll came
// (as the firmware does 500 ms after the last poll) answers NACK, and the
// error says so. The driver's polls are held back past the emulator's
// timeout.
func TestPollTooLate(t *testing.T) {
	r := newRig(t, emu.Config{Approve: func(ctx context.Context, s emu.Screen) bool {
		if s.Kind != "xpub" {
			return true
		}
		<-ctx.Done()
		return false
	}})
	var late atomic.Bool
	b, err := r.openWrapped(t, Options{AllowPairing: true, Pairings: &MemoryStore{}}, func(tr transport.Transport) transport.Transport {
		return &writeHook{Transport: tr, before: func(report []byte) {
			if late.Load() && isHWW(report, reqRetry, 1) {
				time.Sleep(emu.DefaultOutstandingTimeout + 500*time.Millisecond)
			}
		}}
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	if _, err := b.Fingerprint(ctx); err != nil {
		t.Fatal(err)
	}
	late.Store(true)
	// m/0' is not an account path: the device asks the user.
	_, err = b.Xpub(ctx, descriptor.Path{0 + h})
	if err == nil || !strings.Contains(err.Error(), "no longer has the request") {
		t.Fatalf("late poll: %v", err)
	}
	if r.emu.Stats().Dropped != 1 {
		t.Fatalf("device stats %+v: want one request dropped", r.emu.Stats())
	}
}

// TestHostGoneMidRequest: a host program that goes away while the device
// waits for the user sends no REQ_CANCEL, and the device, which cannot
// tell, stays busy until it drops the request (here after 3 s so the next
// host surely meets it busy). The next Open waits for it instead of
// failing on the device's BUSY answer to the status request.
func TestHostGoneMidRequest(t *testing.T) {
	shown := make(chan struct{})
	dismissed := make(chan struct{})
	var once atomic.Bool
	r := newRig(t, emu.Config{OutstandingTimeout: 3 * time.Second, Approve: func(ctx context.Context, s emu.Screen) bool {
		if s.Kind != "address" || once.Swap(true) {
			return true
		}
		close(shown)
		<-ctx.Done()
		close(dismissed)
		return false
	}})
	store := &MemoryStore{}
	b1, err := r.open(t, Options{AllowPairing: true, Pairings: store})
	if err != nil {
		t.Fatal(err)
	}
	w := newTestWallet(t, descriptor.ScriptWsh, true, &chaincfg.TestNet3Params)
	if _, err := hw.NewSigner(b1).Register(testCtx(t), w.hw()); err != nil {
		t.Fatal(err)
	}
	gone := make(chan error, 1)
	ctx := testCtx(t)
	go func() {
		_, err := b1.DisplayAddress(ctx, w.hw(), 0, 0)
		gone <- err
	}()
	<-shown
	b1.Close()
	if err := <-gone; err == nil {
		t.Fatal("the request of the closed connection succeeded")
	}
	b2, err := r.open(t, Options{Pairings: store})
	if err != nil {
		t.Fatalf("open after a host went away mid-request: %v", err)
	}
	select {
	case <-dismissed:
	default:
		t.Fatal("the second host got through while the device still showed the first one's screen")
	}
	if _, err := hw.NewSigner(b2).DisplayAddress(testCtx(t), w.hw(), 0, 1); err != nil {
		t.Fatalf("show an address after a host went away mid-request: %v", err)
	}
	if n := b2.Stats().Busy; n == 0 {
		t.Fatal("the second host never met the device busy: the test did not test anything")
	}
	if st := r.emu.Stats(); st.Cancels != 0 || st.Dropped != 1 {
		t.Fatalf("device stats %+v: want no REQ_CANCEL and one request dropped", st)
	}
}

// TestAdapterChecks: the adapter refuses a PSBT that is not the wallet's
// before the device sees it.
func TestAdapterChecks(t *testing.T) {
	r := newRig(t, emu.Config{})
	b := r.mustOpen(t)
	ctx := testCtx(t)
	w := newTestWallet(t, descriptor.ScriptWsh, true, &chaincfg.TestNet3Params)
	other := newTestWallet(t, descriptor.ScriptShWsh, true, &chaincfg.TestNet3Params)
	p := other.buildPSBT(t, 1, 0)
	if _, err := hw.NewSigner(b).Sign(ctx, p, w.hw()); !errors.Is(err, psbt.ErrRefused) {
		t.Fatalf("foreign PSBT: %v", err)
	}
	if n := r.emu.Stats().SignSessions; n != 0 {
		t.Fatalf("the device saw %d signing sessions", n)
	}
}

// TestAntiKleptoRefusesACompromisedDevice: a device that takes part in
// the anti-klepto exchange but signs with a nonce of its own choosing (the
// emulator's Klepto mode: valid signatures, the channel a leaking device
// would use) is refused, and nothing it signed is kept. The honest
// emulator's signatures pass the same check in every other test here, and
// the vendor's own host library (npm bitbox02-api) accepts them
// (hw/emulator/bitbox02's interop test).
func TestAntiKleptoRefusesACompromisedDevice(t *testing.T) {
	r := newRig(t, emu.Config{Klepto: true})
	b := r.mustOpen(t)
	ctx := testCtx(t)
	w := newTestWallet(t, descriptor.ScriptWsh, true, &chaincfg.TestNet3Params)
	s := hw.NewSigner(b)
	if _, err := s.Register(ctx, w.hw()); err != nil {
		t.Fatal(err)
	}
	p := w.buildPSBT(t, 2, 0)
	out, err := s.Sign(ctx, p, w.hw())
	if err == nil || !strings.Contains(err.Error(), "anti-klepto check failed") {
		t.Fatalf("sign on a device that ignores the host nonce: %v, want the anti-klepto refusal", err)
	}
	if out != nil {
		t.Fatalf("a refused device's signatures came back: %+v", out)
	}
	for i, in := range p.Inputs {
		if len(in.PartialSigs) != 0 {
			t.Fatalf("input %d of the caller's PSBT gained signatures", i)
		}
	}
}

// TestAntiKleptoCheck: the host's check on its own, against signatures
// made here from the protocol's formulas with btcec: the tweaked nonce is
// accepted; the untweaked R0, another host nonce, a missing commitment
// and a malformed one are refused.
func TestAntiKleptoCheck(t *testing.T) {
	priv, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{7}, 32))
	digest := sha256.Sum256([]byte("anti-klepto"))
	ak, err := newAntiKlepto(1)
	if err != nil {
		t.Fatal(err)
	}
	var k0 btcec.ModNScalar
	k0.SetByteSlice(bytes.Repeat([]byte{0x42}, 32))
	var r0 btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&k0, &r0)
	r0.ToAffine()
	r0c := btcec.NewPublicKey(&r0.X, &r0.Y).SerializeCompressed()
	nonce, err := ak.reveal(0, r0c)
	if err != nil || len(nonce) != 32 {
		t.Fatalf("reveal: %x %v", nonce, err)
	}
	if _, err := ak.reveal(0, r0c); err == nil {
		t.Fatal("a second commitment for one input was taken")
	}
	sign := func(k btcec.ModNScalar) []byte {
		var rp btcec.JacobianPoint
		btcec.ScalarBaseMultNonConst(&k, &rp)
		rp.ToAffine()
		var r, z, s btcec.ModNScalar
		r.SetBytes(rp.X.Bytes())
		z.SetByteSlice(digest[:])
		s.Mul2(&r, &priv.Key).Add(&z).Mul(new(btcec.ModNScalar).InverseValNonConst(&k))
		if s.IsOverHalfOrder() {
			s.Negate()
		}
		out := make([]byte, 64)
		r.PutBytesUnchecked(out[:32])
		s.PutBytesUnchecked(out[32:])
		return out
	}
	tweakFor := func(n []byte) btcec.ModNScalar {
		h := s2cTagged("s2c/ecdsa/point", r0c, n)
		var t btcec.ModNScalar
		t.SetBytes(&h)
		return t
	}
	k := k0
	tw := tweakFor(nonce)
	k.Add(&tw)
	if err := ak.verify(0, sign(k)); err != nil {
		t.Fatalf("a signature with the agreed nonce: %v", err)
	}
	if err := ak.verify(0, sign(k0)); !errors.Is(err, errKlepto) {
		t.Fatalf("a signature with the device's nonce alone: %v", err)
	}
	other := k0
	tw = tweakFor(bytes.Repeat([]byte{1}, 32))
	other.Add(&tw)
	if err := ak.verify(0, sign(other)); !errors.Is(err, errKlepto) {
		t.Fatalf("a signature tweaked by another host nonce: %v", err)
	}
	fresh, _ := newAntiKlepto(1)
	if err := fresh.verify(0, sign(k)); err == nil {
		t.Fatal("a signature without the exchange was accepted")
	}
	if _, err := fresh.reveal(0, r0c[:32]); err == nil {
		t.Fatal("a malformed commitment was taken")
	}
	if c := fresh.hostCommitment(0); c == ak.hostCommitment(0) {
		t.Fatal("two sessions drew the same host nonce")
	}
}
