package jade

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/tyler-smith/go-bip39"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	emu "github.com/countersign/countersign/hw/emulator/jade"
	"github.com/countersign/countersign/hw/transport"
)

var scriptTypes = []descriptor.ScriptType{descriptor.ScriptWsh, descriptor.ScriptShWsh, descriptor.ScriptSh}

func TestOpenInfoAndFingerprint(t *testing.T) {
	want := newCosigner(t, mnemonics[0], nil).fp
	for _, over := range transports {
		r := newRig(t, emu.Config{}, Options{}, over)
		info := r.dev.Info()
		if info.Fingerprint != hex.EncodeToString(want[:]) {
			t.Fatalf("%s: Info().Fingerprint %q, want %x (read at Open, no prompt)", over, info.Fingerprint, want)
		}
		if info.Type != "jade" || info.Model != "Blockstream Jade (QEMU) "+emu.DefaultVersion || info.Transport != over {
			t.Errorf("%s: Info() = %+v", over, info)
		}
		got, err := r.dev.Fingerprint(testCtx(t))
		if err != nil || got != want {
			t.Fatalf("%s: Fingerprint = %x, %v", over, got, err)
		}
		if v := r.dev.VersionInfo(); v.State != "READY" || v.Networks != "ALL" {
			t.Errorf("%s: version info %+v", over, v)
		}
	}
}

func TestXpubMatchesHdkeychain(t *testing.T) {
	master, err := hdkeychain.NewMaster(bip39.NewSeed(mnemonics[0], ""), &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	for _, networks := range []string{emu.NetworksAll, emu.NetworksTest} {
		r := newRig(t, emu.Config{Networks: networks}, Options{}, "pipe")
		for _, path := range [][]uint32{{48 + h, 1 + h, 0 + h, 2 + h}, {48 + h, 0 + h, 0 + h, 2 + h}, {84 + h, 1 + h, 0 + h, 1, 7}, {}} {
			k := master
			for _, s := range path {
				k, _ = k.Derive(s)
			}
			k, _ = k.Neuter()
			net := &chaincfg.MainNetParams
			if networks == emu.NetworksTest || len(path) >= 2 && path[1] == 1+h {
				net = testNet
			}
			k, _ = k.CloneWithVersion(net.HDPublicKeyID[:])
			got, err := hw.NewSigner(r.dev).Xpub(testCtx(t), path)
			if err != nil {
				t.Fatalf("%s %s: %v", networks, descriptor.Path(path), err)
			}
			if got.String() != k.String() {
				t.Errorf("%s %s: %s, want %s", networks, descriptor.Path(path), got, k)
			}
		}
	}
}

// TestRegisterShowSign: for each script type, sorted and not, over both
// transports: register behind the adapter, show addresses (compared by
// the adapter), sign a PSBT of countersign's (signatures verified by the
// adapter); the emulator saw the wallet and recognised the change.
func TestRegisterShowSign(t *testing.T) {
	for _, over := range transports {
		for _, st := range scriptTypes {
			for _, sorted := range []bool{true, false} {
				// One device per wallet: with a sorted and an unsorted
				// registration of the same keys, the firmware (and the
				// emulator) may match an input to the other one first
				// and give up recognising change.
				r := newRig(t, emu.Config{}, Options{}, over)
				s := hw.NewSigner(r.dev)
				d := newDescriptor(t, st, sorted)
				name := map[bool]string{true: "sorted", false: "plain"}[sorted] + "-" + st.String()
				w := wallet(d, name)
				if _, err := s.Register(testCtx(t), w); err != nil {
					t.Fatalf("%s %s: register: %v", over, name, err)
				}
				for _, pos := range [][2]uint32{{0, 0}, {0, 23}, {1, 4}} {
					if _, err := s.DisplayAddress(testCtx(t), w, pos[0], pos[1]); err != nil {
						t.Fatalf("%s %s %v: %v", over, name, pos, err)
					}
				}
				p := buildPSBT(t, d, 2)
				res, err := s.Sign(testCtx(t), p, w)
				if err != nil {
					t.Fatalf("%s %s: sign: %v", over, name, err)
				}
				if res.Added != 2 {
					t.Fatalf("%s %s: %d signatures added", over, name, res.Added)
				}
				sc := r.emu.Screens()
				last := sc[len(sc)-1]
				if last.Kind != "sign" || last.Wallet != RecordName(name) || len(last.Outputs) != 2 {
					t.Fatalf("%s %s: screen %+v", over, name, last)
				}
				changes := 0
				for _, o := range last.Outputs {
					if o.Change {
						changes++
					}
				}
				if changes != 1 {
					t.Fatalf("%s %s: change not recognised: %+v", over, name, last.Outputs)
				}
			}
		}
	}
}

// TestLargePSBTInPieces: 50 inputs; the signed PSBT comes back in
// several pieces fetched with get_extended_data, and all 50 signatures
// verify.
func TestLargePSBTInPieces(t *testing.T) {
	r := newRig(t, emu.Config{}, Options{}, "tcp")
	d := newDescriptor(t, descriptor.ScriptWsh, true)
	w := wallet(d, "big")
	s := hw.NewSigner(r.dev)
	if _, err := s.Register(testCtx(t), w); err != nil {
		t.Fatal(err)
	}
	p := buildPSBT(t, d, 50)
	before := r.emu.Requests()["get_extended_data"]
	res, err := s.Sign(testCtx(t), p, w)
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 50 {
		t.Fatalf("%d signatures", res.Added)
	}
	pieces := r.emu.Requests()["get_extended_data"] - before
	if pieces < 5 {
		t.Fatalf("%d get_extended_data requests for a 50-input PSBT", pieces)
	}
	if st := r.dev.Stats(); st.Stale != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNotRegistered(t *testing.T) {
	r := newRig(t, emu.Config{}, Options{}, "pipe")
	s := hw.NewSigner(r.dev)
	d := newDescriptor(t, descriptor.ScriptWsh, true)
	w := wallet(d, "vault")
	if _, err := s.DisplayAddress(testCtx(t), w, 0, 0); !errors.Is(err, hw.ErrNotRegistered) {
		t.Fatalf("address: %v", err)
	}
	if _, err := s.Sign(testCtx(t), buildPSBT(t, d, 1), w); !errors.Is(err, hw.ErrNotRegistered) || !strings.Contains(err.Error(), `"vault" is not registered`) {
		t.Fatalf("sign: %v", err)
	}
	// Another wallet under the same name is not this one.
	other := wallet(newDescriptor(t, descriptor.ScriptShWsh, false), "vault")
	if _, err := s.Register(testCtx(t), other); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DisplayAddress(testCtx(t), w, 0, 0); !errors.Is(err, hw.ErrNotRegistered) || !strings.Contains(err.Error(), "another wallet") {
		t.Fatalf("other wallet under the name: %v", err)
	}
	if n := r.emu.Requests()["sign_psbt"]; n != 0 {
		t.Fatalf("the device saw %d sign requests for an unregistered wallet", n)
	}
}

func TestRejectedOnDevice(t *testing.T) {
	refuse := false
	r := newRig(t, emu.Config{Approve: func(context.Context, emu.Screen) bool { return !refuse }}, Options{}, "pipe")
	s := hw.NewSigner(r.dev)
	d := newDescriptor(t, descriptor.ScriptShWsh, true)
	w := wallet(d, "family")
	refuse = true
	if _, err := s.Register(testCtx(t), w); !errors.Is(err, hw.ErrRejected) {
		t.Fatalf("register: %v", err)
	}
	refuse = false
	if _, err := s.Register(testCtx(t), w); err != nil {
		t.Fatal(err)
	}
	refuse = true
	if _, err := s.DisplayAddress(testCtx(t), w, 0, 1); !errors.Is(err, hw.ErrRejected) {
		t.Fatalf("address: %v", err)
	}
	if _, err := s.Sign(testCtx(t), buildPSBT(t, d, 1), w); !errors.Is(err, hw.ErrRejected) || !strings.Contains(err.Error(), "cancelled on the Jade") {
		t.Fatalf("sign: %v", err)
	}
}

func TestNetworkMismatch(t *testing.T) {
	r := newRig(t, emu.Config{Networks: emu.NetworksMain}, Options{}, "pipe")
	d := newDescriptor(t, descriptor.ScriptWsh, true)
	_, err := hw.NewSigner(r.dev).Register(testCtx(t), wallet(d, "test"))
	if hw.Kind(err) != hw.ErrDevice || !strings.Contains(err.Error(), "other network type") {
		t.Fatalf("err = %v", err)
	}
}

func TestBadParametersCarryTheMessage(t *testing.T) {
	r := newRig(t, emu.Config{Mnemonic: "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong"}, Options{}, "pipe")
	d := newDescriptor(t, descriptor.ScriptWsh, true)
	// Bypass the adapter's own check (no key of the wallet is this seed's).
	_, err := r.dev.Register(testCtx(t), wallet(d, "foreign"))
	if hw.Kind(err) != hw.ErrDevice || !strings.Contains(err.Error(), `"Failed to validate co-signers"`) {
		t.Fatalf("err = %v", err)
	}
}

// pinRig is a locked emulator with its PIN server.
func pinRig(t *testing.T, typed *string, relay *http.Client, srv *httptest.Server) (*rig, *emu.PINServer) {
	t.Helper()
	secret := []byte("server secret")
	ps := emu.NewPINServer(secret)
	if srv == nil {
		srv = httptest.NewServer(ps)
		t.Cleanup(srv.Close)
	}
	var mu sync.Mutex
	cfg := emu.Config{PINServer: srv.URL, PINSecret: secret, PIN: "246810", PINEntry: func(context.Context) (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		return *typed, *typed != ""
	}}
	return newRig(t, cfg, Options{PINRelay: relay, Network: testNet}, "tcp"), ps
}

func TestLockedWithoutRelay(t *testing.T) {
	secret := []byte("server secret")
	srv := httptest.NewServer(emu.NewPINServer(secret))
	defer srv.Close()
	e := startEmulator(t, emu.Config{PINServer: srv.URL, PINSecret: secret, PIN: "246810"})
	addr := serveTCP(t, e)
	reg := hw.NewRegistry(Driver())
	reg.Getenv = func(k string) string {
		if k == EnvEmulator {
			return addr
		}
		return ""
	}
	reg.Emulators = true
	reg.ListHID = func(uint16, uint16) ([]transport.HIDInfo, error) { return nil, nil }
	infos, err := reg.Enumerate(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	var listed *hw.DeviceInfo
	for i := range infos {
		if infos[i].Path == addr {
			listed = &infos[i]
		}
	}
	if listed == nil || listed.Fingerprint != "" || !strings.Contains(listed.Error, "network-connected host") || !strings.Contains(listed.Error, "COUNTERSIGN_JADE_PIN_RELAY") {
		t.Fatalf("a locked Jade without a relay is listed as %+v", listed)
	}
	_, err = reg.Select(testCtx(t), "jade")
	if !errors.Is(err, hw.ErrNoDevice) || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("select: %v", err)
	}
	if e.Requests()["auth_user"] != 0 {
		t.Fatal("the driver asked for the PIN without a relay")
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(testCtx(t), conn, Options{}); !errors.Is(err, hw.ErrLocked) {
		t.Fatalf("open: %v", err)
	}
}

func TestUnlockThroughRelay(t *testing.T) {
	typed := "111111"
	var prompts []string
	r, ps := pinRig(t, &typed, &http.Client{Timeout: 10 * time.Second}, nil)
	r.dev.opts.Prompt = func(s string) { prompts = append(prompts, s) }
	if info := r.dev.Info(); info.Fingerprint != "" || !strings.HasSuffix(info.Model, "(locked)") {
		t.Fatalf("locked device info %+v", info)
	}
	s := hw.NewSigner(r.dev)
	if _, err := s.Fingerprint(testCtx(t)); !errors.Is(err, hw.ErrLocked) || !strings.Contains(err.Error(), "wrong PIN") {
		t.Fatalf("wrong PIN: %v", err)
	}
	typed = ""
	if _, err := s.Fingerprint(testCtx(t)); !errors.Is(err, hw.ErrRejected) {
		t.Fatalf("PIN entry abandoned: %v", err)
	}
	typed = "246810"
	fp, err := s.Fingerprint(testCtx(t))
	if err != nil {
		t.Fatalf("right PIN: %v", err)
	}
	if want := newCosigner(t, mnemonics[0], nil).fp; fp != want {
		t.Fatalf("fingerprint %x, want %x", fp, want)
	}
	if ps.Calls() != 2 || r.emu.Locked() {
		t.Fatalf("%d PIN server calls, locked %v", ps.Calls(), r.emu.Locked())
	}
	if len(prompts) == 0 || !strings.Contains(prompts[0], "Enter the PIN") {
		t.Fatalf("prompts %q", prompts)
	}
	// The unlock tied the wallet to the test networks, as release firmware
	// does; a testnet wallet registers.
	if r.dev.VersionInfo(); r.emu.Locked() {
		t.Fatal("locked")
	}
	if _, err := s.Register(testCtx(t), wallet(newDescriptor(t, descriptor.ScriptWsh, true), "after unlock")); err != nil {
		t.Fatal(err)
	}
}

// TestUnlockNeedsANetwork: a locked Jade not yet tied to a network type is
// not unlocked blindly (auth_user would tie it to the network named).
func TestUnlockNeedsANetwork(t *testing.T) {
	typed := "246810"
	r, _ := pinRig(t, &typed, &http.Client{Timeout: 10 * time.Second}, nil)
	r.dev.opts.Network = nil
	_, err := hw.NewSigner(r.dev).Fingerprint(testCtx(t))
	if !errors.Is(err, hw.ErrLocked) || !strings.Contains(err.Error(), "--network") || r.emu.Requests()["auth_user"] != 0 {
		t.Fatalf("err = %v", err)
	}
	// A BIP-48 testnet path names the network.
	if _, err := hw.NewSigner(r.dev).Xpub(testCtx(t), []uint32{48 + h, 1 + h, 0 + h, 2 + h}); err != nil {
		t.Fatal(err)
	}
}

func TestPINServerUnreachable(t *testing.T) {
	typed := "246810"
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	r, _ := pinRig(t, &typed, &http.Client{Timeout: 5 * time.Second}, down)
	_, err := hw.NewSigner(r.dev).Fingerprint(testCtx(t))
	if !errors.Is(err, hw.ErrLocked) || !strings.Contains(err.Error(), "PIN server could not be reached") {
		t.Fatalf("err = %v", err)
	}
	// The device was told, and answers the next request.
	if err := r.dev.versionInfo(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if r.emu.Requests()["pin"] != 1 {
		t.Fatalf("requests %v", r.emu.Requests())
	}
}

// TestCancelledCallLeavesTheLinkUsable: the user is slow to confirm, the
// caller gives up; the late reply is dropped and the next call works.
func TestCancelledCallLeavesTheLinkUsable(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	r := newRig(t, emu.Config{Approve: func(ctx context.Context, s emu.Screen) bool {
		if s.Kind == "register" {
			once.Do(func() { <-release })
		}
		return true
	}}, Options{}, "pipe")
	d := newDescriptor(t, descriptor.ScriptWsh, true)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := r.dev.Register(ctx, wallet(d, "slow")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	close(release)
	if _, err := r.dev.Xpub(testCtx(t), []uint32{48 + h}); err != nil {
		t.Fatal(err)
	}
	if st := r.dev.Stats(); st.Stale != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDisconnectedAndSilentDevices(t *testing.T) {
	// A peer that hangs up at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	reg := hw.NewRegistry(Driver())
	reg.Getenv = func(k string) string {
		if k == EnvEmulator {
			return ln.Addr().String()
		}
		return ""
	}
	reg.Emulators = true
	reg.ListHID = func(uint16, uint16) ([]transport.HIDInfo, error) { return nil, nil }
	infos, err := reg.Enumerate(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	var listed *hw.DeviceInfo
	for i := range infos {
		if infos[i].Path == ln.Addr().String() {
			listed = &infos[i]
		}
	}
	if listed == nil || !strings.Contains(listed.Error, "the connection to the Jade") {
		t.Fatalf("a peer that hangs up: %+v", infos)
	}
	// A peer that never answers: Open gives up after the reply timeout.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	conn, err := net.Dial("tcp", silent.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(testCtx(t), conn, Options{ReplyTimeout: 300 * time.Millisecond})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "is this a Jade?") {
		t.Fatalf("silent peer: %v", err)
	}
}

// TestRegistry: two emulators named in the environment are listed with
// their fingerprints and picked by selector.
func TestRegistry(t *testing.T) {
	a := startEmulator(t, emu.Config{})
	b := startEmulator(t, emu.Config{Mnemonic: mnemonics[1]})
	addrs := serveTCP(t, a) + "," + serveTCP(t, b)
	reg := hw.NewRegistry(Driver())
	reg.Getenv = func(k string) string {
		if k == EnvEmulator {
			return addrs
		}
		return ""
	}
	reg.Emulators = true
	reg.ListHID = func(uint16, uint16) ([]transport.HIDInfo, error) { return nil, nil }
	infos, err := reg.Enumerate(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	fps := map[string]bool{}
	for _, i := range infos {
		if i.Type == "jade" && i.Emulator && i.Transport == "tcp" && i.Error == "" {
			fps[i.Fingerprint] = true
		}
	}
	fa, fb := a.Fingerprint(), b.Fingerprint()
	if !fps[hex.EncodeToString(fa[:])] || !fps[hex.EncodeToString(fb[:])] {
		t.Fatalf("device list %+v", infos)
	}
	s, err := reg.Select(testCtx(t), "jade:"+hex.EncodeToString(fb[:]))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Name() != "jade "+hex.EncodeToString(fb[:]) {
		t.Fatalf("selected %s", s.Name())
	}
	if _, err := reg.Select(testCtx(t), "jade"); !errors.Is(err, hw.ErrAmbiguous) {
		t.Fatalf("ambiguous: %v", err)
	}
}

func TestRecordName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"treasury", "treasury"},
		{"a", "a"},
		{"fifteen-chars-x", "fifteen-chars-x"},
		{"sixteen-chars-xx", "sixteen-ch~"},
		{"family wallet", "family_wal~"},
		{"épargne", "_pargne~"},
		{"", "~"},
	} {
		got := RecordName(tc.in)
		if !strings.HasPrefix(got, tc.want) || !validName(got) {
			t.Errorf("RecordName(%q) = %q, want %q... and a valid name", tc.in, got, tc.want)
		}
		if tc.in == tc.want && got != tc.in {
			t.Errorf("RecordName(%q) = %q, want it unchanged", tc.in, got)
		}
	}
	// Names that truncate alike stay apart.
	if RecordName("treasury-2024-ops") == RecordName("treasury-2024-opex") || RecordName("a b") == RecordName("a_b") {
		t.Fatal("distinct names map to one record name")
	}
}

func TestUnsupportedWallets(t *testing.T) {
	r := newRig(t, emu.Config{}, Options{}, "pipe")
	var keys []string
	for i := 0; i < 16; i++ {
		c := newCosigner(t, mnemonics[i%3], []uint32{48 + h, 1 + h, uint32(i) + h, 2 + h})
		keys = append(keys, fmt.Sprintf("[%x/48h/1h/%dh/2h]%s/<0;1>/*", c.fp, i, c.account))
	}
	d, err := descriptor.Parse("wsh(sortedmulti(2," + strings.Join(keys, ",") + "))")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.dev.Register(testCtx(t), wallet(d, "sixteen")); !errors.Is(err, hw.ErrUnsupported) {
		t.Fatalf("16 keys: %v", err)
	}
	big := buildPSBT(t, newDescriptor(t, descriptor.ScriptWsh, true), 1)
	big.Unknowns = append(big.Unknowns, &bpsbt.Unknown{Key: []byte{0xfc, 1}, Value: make([]byte, MaxPSBT)})
	w := wallet(newDescriptor(t, descriptor.ScriptWsh, true), "big")
	if _, err := r.dev.SignPSBT(testCtx(t), big, w); !errors.Is(err, hw.ErrUnsupported) {
		t.Fatalf("oversized PSBT: %v", err)
	}
}

func TestIsJade(t *testing.T) {
	for _, tc := range []struct {
		vid, pid, product string
		want              bool
	}{
		{"10C4", "EA60", "CP2104 USB to UART Bridge Controller", true},
		{"10c4", "ea60", "", true},
		{"1A86", "55D4", "", true},
		{"303A", "4001", "Jade Plus", true},
		{"303A", "4001", "ESP32-S3 dev board", false},
		{"1A86", "7523", "", false},
		{"0403", "6001", "", false},
	} {
		if got := isJade(tc.vid, tc.pid, tc.product); got != tc.want {
			t.Errorf("isJade(%s:%s %q) = %v", tc.vid, tc.pid, tc.product, got)
		}
	}
	if _, err := SerialEndpoints(); err != nil {
		t.Fatalf("listing serial ports: %v", err)
	}
}

// TestTimeoutAndDisconnectKinds: behind the adapter, a device that does
// not answer in time is hw.ErrTimeout, one that went away
// hw.ErrDisconnected.
func TestTimeoutAndDisconnectKinds(t *testing.T) {
	release := make(chan struct{})
	e := startEmulator(t, emu.Config{Approve: func(ctx context.Context, s emu.Screen) bool {
		<-release
		return true
	}})
	addr := serveTCP(t, e)
	dial := func(timeout time.Duration) *Jade {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		j, err := Open(testCtx(t), conn, Options{ReplyTimeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { j.Close() })
		return j
	}
	busy, waiting := dial(0), dial(300*time.Millisecond)
	// One connection holds the device on a screen; the other's request
	// queues behind it, as on the firmware's single main task.
	go busy.Register(context.Background(), wallet(newDescriptor(t, descriptor.ScriptWsh, true), "held"))
	for e.Requests()["register_multisig"] == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	_, err := hw.NewSigner(waiting).Xpub(testCtx(t), []uint32{48 + h})
	close(release)
	if !errors.Is(err, hw.ErrTimeout) {
		t.Fatalf("busy device: %v", err)
	}

	// The device goes away.
	a, b := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.ServeConn(ctx, b) }()
	j, err := Open(testCtx(t), a, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	cancel()
	<-done
	_, err = hw.NewSigner(j).Xpub(testCtx(t), []uint32{48 + h})
	if !errors.Is(err, hw.ErrDisconnected) {
		t.Fatalf("gone: %v (kind %v)", err, hw.Kind(err))
	}
}
