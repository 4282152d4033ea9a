package coldcard

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/hw"
	emu "github.com/countersign/countersign/hw/emulator/coldcard"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/hw/transport"
)

// tap wraps the host's transport: it counts reports and can act on one.
type tap struct {
	transport.Transport
	mu      sync.Mutex
	writes  int
	onWrite func(n int) // called before the n-th write (1-based)
	mangle  func(r []byte) []byte
	waited  time.Duration // time blocked in Read
}

func (t *tap) Write(ctx context.Context, r []byte) error {
	t.mu.Lock()
	t.writes++
	n, f := t.writes, t.onWrite
	t.mu.Unlock()
	if f != nil {
		f(n)
	}
	return t.Transport.Write(ctx, r)
}

func (t *tap) Read(ctx context.Context) ([]byte, error) {
	start := time.Now()
	r, err := t.Transport.Read(ctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.waited += time.Since(start)
	if err == nil && t.mangle != nil {
		r = t.mangle(r)
		t.mangle = nil
	}
	return r, err
}

// socketEmulator runs e on a unix datagram socket at path until stop.
type socketEmulator struct {
	stop func()
	done chan error
}

func serveSocket(t testing.TB, e *emu.Emulator, path string) *socketEmulator {
	t.Helper()
	srv, err := transport.ListenUnixgram(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &socketEmulator{done: make(chan error, 1)}
	// Close the socket before reporting Serve's end: a restart listens on
	// the same path right after stop returns, and must find it free.
	go func() { err := e.Serve(ctx, srv); srv.Close(); s.done <- err }()
	var once sync.Once
	s.stop = func() { once.Do(func() { cancel(); <-s.done }) }
	return s
}

func socketPath(t testing.TB) string {
	// Unix socket paths are limited to about 100 bytes; t.TempDir() can
	// exceed that on some systems, so stay short.
	dir, err := os.MkdirTemp("", "cs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "ckcc.sock")
}

func TestOverUnixSocket(t *testing.T) {
	e, err := emu.New(emu.Config{Mnemonic: mnemonics[0]})
	if err != nil {
		t.Fatal(err)
	}
	path := socketPath(t)
	s := serveSocket(t, e, path)
	defer s.stop()

	// Through the registry, as `countersign sign --with coldcard` would.
	reg := hw.NewRegistry(Driver())
	reg.Getenv = func(k string) string {
		return map[string]string{hw.EnvEmulators: "1", EnvSocket: path}[k]
	}
	reg.ListHID = func(uint16, uint16) ([]transport.HIDInfo, error) { return nil, nil }
	ctx := testCtx(t)
	infos, err := reg.Enumerate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Fingerprint != "73c5da0a" || infos[0].Path != path || !infos[0].Emulator || infos[0].Model != "Coldcard emulator" {
		t.Fatalf("Enumerate = %+v", infos)
	}
	signer, err := reg.Select(ctx, "coldcard:73C5DA0A")
	if err != nil {
		t.Fatal(err)
	}
	defer signer.Close()
	info := signer.Info()
	if info.Selector() != "coldcard:73c5da0a" {
		t.Fatalf("selector %q", info.Selector())
	}
	// A second process (here: a second scan) cannot open the device while
	// this one holds it.
	if infos, _ := reg.Enumerate(ctx); len(infos) != 1 || !strings.Contains(infos[0].Error, "in use") {
		t.Fatalf("scan while in use: %+v", infos)
	}

	w := newTestWallet(t, mnemonics...)
	x, err := signer.Xpub(ctx, accountPath)
	if err != nil || x.String() != w.keys[0].account.String() {
		t.Fatalf("xpub %v %v", x, err)
	}
	if _, err := signer.Register(ctx, hwtest.Wallet(w.desc, testNet, "family")); err != nil {
		t.Fatal(err)
	}
	ws, _ := w.script(t, 0, 9)
	want, _, _ := w.address(t, ws)
	if got, err := signer.DisplayAddress(ctx, hwtest.Wallet(w.desc, testNet, "family"), 0, 9); err != nil || got != want {
		t.Fatalf("address %q %v, want %s", got, err, want)
	}
	p := w.buildPSBT(t, psbtSpec{inputs: 3, changeIndex: 1})
	res, err := signer.Sign(ctx, p, hwtest.Wallet(w.desc, testNet, "family"))
	if err != nil {
		t.Fatal(err)
	}
	signed := res.PSBT
	checkSigned(t, signed, p, w.keys[0].fp)
}

// An emulator restarted in the middle of an upload (the device rebooted):
// the host gets a framing error, then a fresh session works.
func TestEmulatorRestartMidTransfer(t *testing.T) {
	e, err := emu.New(emu.Config{Mnemonic: mnemonics[0]})
	if err != nil {
		t.Fatal(err)
	}
	path := socketPath(t)
	s := serveSocket(t, e, path)
	defer func() { s.stop() }()
	u, err := transport.DialUnixgram(path, "")
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{Transport: u}
	ctx := testCtx(t)
	cc, err := Open(ctx, tp, Options{PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	w := newTestWallet(t, mnemonics...)
	if _, err := cc.Register(ctx, hwtest.Wallet(w.desc, testNet, "treasury")); err != nil {
		t.Fatal(err)
	}
	p := w.buildPSBT(t, psbtSpec{inputs: 12})
	raw, _ := serialize(p)
	if len(raw) < 3*maxBlockLen {
		t.Fatalf("PSBT of %d bytes is too small for a mid-upload restart", len(raw))
	}
	// Restart inside the second upload block: 33 frames per block, plus
	// the msck pre-check.
	restartAt := tp.writes + 1 + 33 + 10
	tp.onWrite = func(n int) {
		if n == restartAt {
			s.stop()
			s = serveSocket(t, e, path)
		}
	}
	_, err = hwtest.Sign(ctx, cc, p, w.desc, testNet, "treasury")
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "no key") {
		t.Fatalf("Sign across a restart: %v, want a framing error (no key)", err)
	}
	tp.onWrite = nil
	// The enrolled wallet survived (device settings); the session did not,
	// and the next call sets up a new one.
	signed, err := hwtest.Sign(ctx, cc, p, w.desc, testNet, "treasury")
	if err != nil {
		t.Fatal(err)
	}
	checkSigned(t, signed, p, w.keys[0].fp)
	if st := cc.Stats(); st.Resyncs != 2 {
		t.Fatalf("resyncs %d, want 2 (open, after the restart)", st.Resyncs)
	}
}

// A reply with a corrupted frame header fails the call; the link then
// resynchronises and the next call works.
func TestCorruptedFrameRecovers(t *testing.T) {
	e, _ := emu.New(emu.Config{Mnemonic: mnemonics[0]})
	host, dev := transport.Pipe()
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, dev) }()
	defer func() { cancel(); <-done }()
	tp := &tap{Transport: host}
	cc, err := Open(ctx, tp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	tp.mu.Lock()
	tp.mangle = func(r []byte) []byte { r[0] = 0x05; return r } // "5 bytes, more to come"
	tp.mu.Unlock()
	_, err = cc.Xpub(ctx, accountPath)
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "bad frame") {
		t.Fatalf("corrupted reply: %v", err)
	}
	x, err := cc.Xpub(ctx, accountPath)
	if err != nil || x.String() != newCosigner(t, mnemonics[0]).account.String() {
		t.Fatalf("after resync: %v %v", x, err)
	}
}

// Tampering with the encrypted link is caught by the MiTM check: flipping
// ciphertext bits flips the signature over the session key.
func TestMiTMCheckCatchesTampering(t *testing.T) {
	e, _ := emu.New(emu.Config{Mnemonic: mnemonics[0]})
	host, dev := transport.Pipe()
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, dev) }()
	defer func() { cancel(); <-done }()
	tp := &tap{Transport: host}
	cc, err := Open(ctx, tp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	tp.mu.Lock()
	tp.mangle = func(r []byte) []byte { r[30] ^= 0x40; return r } // inside r of the "mitm" reply
	tp.mu.Unlock()
	_, err = cc.Xpub(ctx, accountPath)
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "tampering") {
		t.Fatalf("tampered link: %v", err)
	}
}

// Ctrl-C while the device waits for the user ends the call at once; the
// device stays usable.
func TestCancelWhileWaitingForUser(t *testing.T) {
	asked := make(chan struct{}, 1)
	release := make(chan bool)
	r := newRig(t, emu.Config{Approve: func(ctx context.Context, q emu.Request) bool {
		if q.Kind == "enroll" {
			return true
		}
		asked <- struct{}{}
		select {
		case ok := <-release:
			return ok
		case <-ctx.Done():
			return false
		}
	}}, Options{})
	ctx := testCtx(t)
	if _, err := r.cc.Register(ctx, hwtest.Wallet(r.w.desc, testNet, "treasury")); err != nil {
		t.Fatal(err)
	}
	p := r.w.buildPSBT(t, psbtSpec{inputs: 1})
	sctx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { _, err := hwtest.Sign(sctx, r.cc, p, r.w.desc, testNet, "treasury"); errc <- err }()
	<-asked
	stop()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) || errors.Is(err, hw.ErrDevice) {
			t.Fatalf("cancelled Sign: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Sign did not return after cancellation")
	}
	release <- false // the user eventually presses X
	go func() { <-asked; release <- true }()
	signed, err := hwtest.Sign(ctx, r.cc, p, r.w.desc, testNet, "treasury")
	if err != nil {
		t.Fatal(err)
	}
	checkSigned(t, signed, p, r.w.keys[0].fp)
}

func TestDriverOpenFailures(t *testing.T) {
	d := Driver()
	if d.Type != "coldcard" || len(d.USB) != 1 || d.USB[0] != (hw.USBID{VendorID: 0xd13e, ProductID: 0xcc10}) || d.Emulator.Default != "/tmp/ckcc-simulator.sock" {
		t.Fatalf("driver %+v", d)
	}
	ctx := testCtx(t)
	for _, ep := range []hw.Endpoint{
		{Transport: "tcp", Path: "127.0.0.1:1"},
		{Transport: "unixgram", Path: filepath.Join(socketPath(t), "missing.sock")},
	} {
		_, err := d.Open(ctx, ep, nil)
		if !errors.Is(err, hw.ErrDevice) || !strings.HasPrefix(err.Error(), "coldcard at "+ep.Path+": open: ") {
			t.Errorf("%s: %v", ep.Transport, err)
		}
	}
	// A socket nobody serves: no reply to the session setup.
	path := socketPath(t)
	srv, err := transport.ListenUnixgram(path)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	u, _ := transport.DialUnixgram(path, "")
	_, err = Open(ctx, u, Options{ReplyTimeout: 100 * time.Millisecond})
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "no reply from the device") {
		t.Fatalf("silent device: %v", err)
	}
}
