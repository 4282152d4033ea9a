package bitbox02

import (
	"bytes"
	"context"
	"encoding/hex"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
)

const testWords = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

func newTestEmulator(t testing.TB, cfg Config) *Emulator {
	t.Helper()
	if cfg.Mnemonic == "" {
		cfg.Mnemonic = testWords
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Mnemonic: "not a mnemonic"},
		{Mnemonic: testWords, NoiseKey: []byte{1, 2}},
		{Mnemonic: testWords, PairedHosts: [][]byte{{1}}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

func mustXPub(t *testing.T, s string) *xpubParts {
	t.Helper()
	k, err := hdkeychain.NewKeyFromString(s)
	if err != nil {
		t.Fatal(err)
	}
	x, err := partsOf(k)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestMultisigHashFirmwareVectors checks the registration hash against
// test_get_hash of bitbox02-firmware (commit
// a3467ad11daee7081cc041ba9217c81e471022e6,
// src/rust/bitbox02-rust/src/hww/api/bitcoin/multisig.rs, Apache-2.0).
func TestMultisigHashFirmwareVectors(t *testing.T) {
	ms := &multisigConfig{threshold: 1, xpubs: []*xpubParts{
		mustXPub(t, "xpub6FMWuwbCA9KhoRzAMm63ZhLspk5S2DM5sePo8J8mQhcS1xyMbAqnc7Q7UescVEVFCS6qBMQLkEJWQ9Z3aDPgBov5nFUYxsJhwumsxM4npSo"),
		mustXPub(t, "xpub6EMfjyGVUvwhpc3WKN1zXhMFGKJGMaSBPqbja4tbGoYvRBSXeTBCaqrRDjcuGTcaY95JrrAnQvDG3pdQPdtnYUCugjeksHSbyZT7rq38VQF"),
	}}
	keypath := []uint32{48 + hdkeychain.HardenedKeyStart, hdkeychain.HardenedKeyStart, 10 + hdkeychain.HardenedKeyStart, 2 + hdkeychain.HardenedKeyStart}
	for _, c := range []struct {
		coin       uint64
		scriptType uint64
		want       string
	}{
		{coinBTC, 0, "b0267fbb26ba0e74bad825c987949f58ba22aa75f63b539986dd937607bb4dc3"},
		{coinTBTC, 0, "3800cb87a1e346eb4a61e25c4775e663f613090aa2bf3fddb057462d174b56ef"},
		{coinLTC, 0, "6cf181d3e131eafefd4258084e5e48366a32d59be80a0afb13345589294ccf2d"},
		{coinTLTC, 0, "0e5ee1d18a74d22cf7e3255a3529b9a453e9b080005ca0bd886f6decf9e4b845"},
		{coinBTC, 1, "24513114c36f5c1f82d7b30c1431fad248d062dfa133d0f52ca85708b5a3fc2c"},
	} {
		ms.scriptType = c.scriptType
		h := multisigHash(c.coin, ms, false, keypath)
		if got := hex.EncodeToString(h[:]); got != c.want {
			t.Errorf("coin %d script %d: %s, want %s", c.coin, c.scriptType, got, c.want)
		}
	}
	// Sorting the xpubs makes the order irrelevant.
	a := multisigHash(coinBTC, ms, true, keypath)
	ms.xpubs[0], ms.xpubs[1] = ms.xpubs[1], ms.xpubs[0]
	if b := multisigHash(coinBTC, ms, true, keypath); a != b {
		t.Error("sorted hash depends on the order")
	}
}

// errCode extracts the error code of an API response, 0 when none.
func errCode(t *testing.T, rsp []byte) uint64 {
	t.Helper()
	m, err := decodeMsg(rsp)
	if err != nil {
		t.Fatal(err)
	}
	e, ok, err := m.sub(rspError)
	if err != nil || !ok {
		return 0
	}
	c, _ := e.uint(1)
	return c
}

func TestAPIErrors(t *testing.T) {
	e := newTestEmulator(t, Config{})
	ctx := context.Background()
	for _, c := range []struct {
		req  string
		want uint64
	}{
		{"ff", 101},                   // not protobuf
		{"", 101},                     // empty
		{"0a00", 101},                 // unknown member
		{"5200", 105},                 // BTCSignInput outside a session
		{"c20100", 0},                 // fingerprint
		{"420408011001", 101},         // BTCPub without output
		{"4209120580808080081801", 0}, // BTCPub xpub at m/0' (unusual: confirmed)
		{"ca01040a020800", 101},       // BTC is_registered without a config
	} {
		b, _ := hex.DecodeString(c.req)
		if got := errCode(t, e.api(ctx, b)); got != c.want {
			t.Errorf("request %s: error %d, want %d", c.req, got, c.want)
		}
	}
	e.Lock()
	if got := errCode(t, e.api(ctx, []byte{0xc2, 0x01, 0x00})); got != 105 {
		t.Errorf("locked: error %d, want 105", got)
	}
}

// TestHWWLayer: REQ_RETRY without a request, NACK for an empty request,
// NOT_READY while the user decides, BUSY for a second request and for the
// status request (src/hww.c lets only REQ_RETRY and REQ_CANCEL through
// while a request is outstanding).
func TestHWWLayer(t *testing.T) {
	release := make(chan struct{})
	e := newTestEmulator(t, Config{Locked: true, Approve: func(ctx context.Context, s Screen) bool {
		select {
		case <-release:
			return true
		case <-ctx.Done():
			return false
		}
	}})
	ctx := context.Background()
	if got := e.hww(ctx, []byte{reqRetry}); !bytes.Equal(got, []byte{rspNack}) {
		t.Fatalf("retry without request: %x", got)
	}
	if got := e.hww(ctx, nil); !bytes.Equal(got, []byte{rspNack}) {
		t.Fatalf("empty: %x", got)
	}
	if got := e.hww(ctx, []byte{reqNew, 'u'}); !bytes.Equal(got, []byte{rspNotReady}) {
		t.Fatalf("unlock: %x", got)
	}
	if got := e.hww(ctx, []byte{reqNew, 'h'}); !bytes.Equal(got, []byte{rspBusy}) {
		t.Fatalf("second request: %x", got)
	}
	if got := e.hww(ctx, []byte{reqInfo}); !bytes.Equal(got, []byte{rspBusy}) {
		t.Fatalf("info while a request is outstanding: %x", got)
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := e.hww(ctx, []byte{reqRetry})
		if bytes.Equal(got, []byte{rspAck, opSuccess}) {
			break
		}
		if !bytes.Equal(got, []byte{rspNotReady}) || time.Now().After(deadline) {
			t.Fatalf("poll: %x", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := e.hww(ctx, []byte{reqInfo}); len(got) < 2 || got[len(got)-2] != 1 {
		t.Fatalf("info after unlock: %x", got)
	}
	// 'n' before any handshake fails; 'a' (attestation) is not emulated.
	for _, req := range [][]byte{{reqNew, 'n', 1, 2}, {reqNew, 'a'}, {reqNew, 'v'}, {reqNew, 'H', 1}} {
		if got := e.hww(ctx, req); !bytes.Equal(got, []byte{rspAck, opFailure}) {
			t.Errorf("%x: %x", req, got)
		}
	}
}

// TestHWWOutstandingTimeout follows the firmware's answer to a host that
// gives up on a request (src/hww.c, src/usb/usb_processing.c and the
// tests of src/rust/bitbox02-rust/src/hww/transport.rs at commit
// a3467ad11daee7081cc041ba9217c81e471022e6): REQ_CANCEL is answered NACK
// and leaves the request; polls keep it; once nothing reached it for the
// outstanding-request timeout it is dropped, its screen with it, and the
// device takes a new request. The timeout is the emulator's default, long
// enough for a loaded machine to keep up with the polls.
func TestHWWOutstandingTimeout(t *testing.T) {
	const timeout = DefaultOutstandingTimeout
	dismissed := make(chan time.Time, 1)
	e := newTestEmulator(t, Config{Locked: true, Approve: func(ctx context.Context, s Screen) bool {
		<-ctx.Done()
		dismissed <- time.Now()
		return false
	}})
	ctx := context.Background()
	if got := e.hww(ctx, []byte{reqNew, 'u'}); !bytes.Equal(got, []byte{rspNotReady}) {
		t.Fatalf("unlock: %x", got)
	}
	// Polls and cancels that keep coming keep the request, past the
	// timeout.
	last := time.Now()
	for i := 0; i < 8; i++ {
		time.Sleep(timeout / 6)
		req := []byte{reqRetry}
		want := []byte{rspNotReady}
		if i%2 == 1 {
			req, want = []byte{reqCancel}, []byte{rspNack}
		}
		prev := last
		last = time.Now()
		if got := e.hww(ctx, req); !bytes.Equal(got, want) {
			t.Fatalf("message %d (%x), %s after the one before: %x, want %x", i, req, last.Sub(prev), got, want)
		}
	}
	if got := e.hww(ctx, []byte{reqNew, 'h'}); !bytes.Equal(got, []byte{rspBusy}) {
		t.Fatalf("second request: %x", got)
	}
	// Silence: the device drops the request and its screen.
	select {
	case at := <-dismissed:
		if d := at.Sub(last); d < timeout {
			t.Fatalf("the screen was dismissed %s after the last message, before the %s timeout", d, timeout)
		}
	case <-time.After(4 * timeout):
		t.Fatal("the device kept an abandoned request")
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.Stats().Dropped == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the request was never dropped")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := e.hww(ctx, []byte{reqRetry}); !bytes.Equal(got, []byte{rspNack}) {
		t.Fatalf("poll of a dropped request: %x", got)
	}
	if got := e.hww(ctx, []byte{reqInfo}); len(got) < 2 || got[len(got)-2] != 0 {
		t.Fatalf("info after the drop: %x (want: still locked)", got)
	}
	if got := e.hww(ctx, []byte{reqNew, 'h'}); !bytes.Equal(got, []byte{rspAck, opSuccess}) {
		t.Fatalf("new request after the drop: %x", got)
	}
	st := e.Stats()
	if st.Cancels != 4 || st.Dropped != 1 || st.Busy != 1 {
		t.Fatalf("stats %+v: want 4 cancels, 1 dropped, 1 busy", st)
	}
}

// TestHWWUnfetchedResultDropped: a request that finished but whose result
// the host never fetched is dropped too
// (test_completed_outstanding_request_times_out_without_retry).
func TestHWWUnfetchedResultDropped(t *testing.T) {
	shown := make(chan struct{})
	e := newTestEmulator(t, Config{Locked: true, Approve: func(ctx context.Context, s Screen) bool {
		close(shown)
		return true
	}})
	ctx := context.Background()
	if got := e.hww(ctx, []byte{reqNew, 'u'}); !bytes.Equal(got, []byte{rspNotReady}) {
		t.Fatalf("unlock: %x", got)
	}
	<-shown
	if got := e.hww(ctx, []byte{reqInfo}); !bytes.Equal(got, []byte{rspBusy}) {
		t.Fatalf("info before the result was fetched: %x", got)
	}
	deadline := time.Now().Add(4 * DefaultOutstandingTimeout)
	for e.Stats().Dropped == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the unfetched result was never dropped")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := e.hww(ctx, []byte{reqRetry}); !bytes.Equal(got, []byte{rspNack}) {
		t.Fatalf("poll after the drop: %x", got)
	}
	// The unlock itself happened, as on the device.
	if got := e.hww(ctx, []byte{reqInfo}); len(got) < 2 || got[len(got)-2] != 1 {
		t.Fatalf("info after the drop: %x", got)
	}
}

func TestUsualXpubPaths(t *testing.T) {
	const h = hdkeychain.HardenedKeyStart
	for _, c := range []struct {
		p    []uint32
		want bool
	}{
		{[]uint32{48 + h, 1 + h, 0 + h, 2 + h}, true},
		{[]uint32{48 + h, 1 + h, 99 + h, 1 + h}, true},
		{[]uint32{48 + h, 1 + h, 100 + h, 2 + h}, false},
		{[]uint32{48 + h, 0 + h, 0 + h, 2 + h}, false}, // wrong coin for testnet
		{[]uint32{84 + h, 1 + h, 0 + h}, true},
		{[]uint32{45 + h}, true},
		{[]uint32{0}, false},
	} {
		if got := usualXpubPath(c.p, 1+h); got != c.want {
			t.Errorf("%s: %v", fmtKeypath(c.p), got)
		}
	}
}

func TestPolicyParse(t *testing.T) {
	ms, keys, err := parseWshPolicy("wsh(multi(2,@0/**,@1/<2;3>/*,@2/**))")
	if err != nil || ms.frag != "multi" || ms.k != 2 || len(keys) != 3 || keys[1].receive != 2 || keys[1].chng != 3 {
		t.Fatalf("%+v %+v %v", ms, keys, err)
	}
	for _, p := range []string{"wsh(sortedmulti(1,@0/**,@1/**))", "sh(multi(1,@0/**))", "wsh(multi(3,@0/**,@1/**))", "wsh(multi(1,@00/**))", "wsh(multi(1,@0/<1;1>/*))", "wsh(multi(01,@0/**))",
		"wsh(pk_k(@0/**))", "wsh(v:pk(@0/**))", "wsh(and_v(pk(@0/**),pk(@1/**)))", "wsh(or_d(pk(@0/**),sha256(0000000000000000000000000000000000000000000000000000000000000000)))",
		"wsh(older(0))", "wsh(and_v(v:pk(@0/**),older(2147483648)))", "wsh(x:pk(@0/**))", "wsh(pk(@0/**),)", "wsh(thresh(2,pk(@0/**),pk(@1/**)))",
		"wsh(or_i(pk(@0/**),older(10)))", "wsh(thresh(1,pk(@0/**),sln:older(10)))", "wsh(1)", "wsh(or_d(pk(@0/**),older(10)))"} {
		if _, _, err := parseWshPolicy(p); err == nil {
			t.Errorf("%s: no error", p)
		}
	}
}

// FuzzRequest feeds arbitrary API requests to the emulator's decoder and
// to the unlocked emulator itself: an error response, never a panic.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{"c20100", "2200", "4209120580808080081801", "ff", ""} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	e := newTestEmulator(f, Config{Approve: func(context.Context, Screen) bool { return true }})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = ValidateRequest(b)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		rsp := e.api(ctx, b)
		if _, err := decodeMsg(rsp); err != nil {
			t.Fatalf("response does not decode: %v", err)
		}
		e.mu.Lock()
		e.endSessionLocked()
		e.mu.Unlock()
	})
}

// FuzzFrames feeds arbitrary reports to the device's frame reassembly.
func FuzzFrames(f *testing.F) {
	f.Add(append([]byte{1, 2, 3, 4, cmdHWW, 0, 1, 'i'}, make([]byte, 56)...))
	f.Add(append(append([]byte{1, 2, 3, 4, cmdHWW, 0, 70}, make([]byte, 57)...), append([]byte{1, 2, 3, 4, 0}, make([]byte, 59)...)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fs frameState
		for len(b) > 0 {
			n := min(len(b), reportSize)
			done, code, _ := fs.add(b[:n])
			if done && len(fs.data) != fs.want {
				t.Fatalf("message of %d bytes, announced %d", len(fs.data), fs.want)
			}
			if done || code != 0 {
				fs.reset()
			}
			b = b[n:]
		}
	})
}
