package ledger

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	emu "github.com/countersign/countersign/hw/emulator/ledger"
	"github.com/countersign/countersign/hw/transport"
	"github.com/countersign/countersign/psbt"
)

func endpointFor(addr string) hw.Endpoint {
	return hw.Endpoint{Transport: "tcp", Path: addr, Emulator: true}
}

var testHMACKey = bytes.Repeat([]byte{0x42}, 32)

func TestOpenIdentifiesDevice(t *testing.T) {
	_, addr := startEmulator(t, emu.Config{})
	d := mustDial(t, addr)
	fp, err := d.Fingerprint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := fingerprintOf(t, deviceMaster(t)); fp != want {
		t.Fatalf("fingerprint %x, want %x", fp, want)
	}
	info := d.Info()
	if info.Type != "ledger" || info.Fingerprint != hex.EncodeToString(fp[:]) || !info.Emulator ||
		info.Model != "Ledger emulator (Bitcoin Test 2.1.3)" || info.Path != addr || info.Transport != "tcp" {
		t.Errorf("info %+v", info)
	}
}

func TestOpenRefusesOtherApps(t *testing.T) {
	cases := []struct {
		name string
		cfg  emu.Config
		want string
	}{
		{"dashboard", emu.Config{AppName: "BOLOS", AppVersion: "2.2.3"}, "open the Bitcoin app on the Ledger"},
		{"other app", emu.Config{AppName: "Ethereum", AppVersion: "1.10.0"}, `runs the "Ethereum" app: open the Bitcoin app on the Ledger`},
		{"legacy app", emu.Config{AppName: "Bitcoin Test Legacy", AppVersion: "2.1.0"}, "has no wallet policies"},
		{"old app", emu.Config{AppVersion: "2.0.6"}, "version 2.0.6: countersign needs 2.1.0 or later"},
		{"locked", emu.Config{Locked: true}, "the Ledger is locked"},
		// A version that is not MAJOR.MINOR.PATCH: the emulator refuses to
		// report one; parseSemver's table and FuzzAppVersion cover it.
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, addr := startEmulator(t, c.cfg)
			_, err := dial(t, addr, Options{})
			if err == nil {
				t.Fatal("opened")
			}
			if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "ledger at "+addr+": ") {
				t.Fatalf("error %q, want hw.ErrDevice containing %q", err, c.want)
			}
		})
	}
}

func TestXpub(t *testing.T) {
	u := &user{}
	_, addr := startEmulator(t, emu.Config{Approve: u.approve})
	d := mustDial(t, addr)
	master := deviceMaster(t)
	for _, c := range []struct {
		path    []uint32
		display bool
	}{
		{[]uint32{48 + hardened, 1 + hardened, hardened, 2 + hardened}, false},
		{[]uint32{84 + hardened, 1 + hardened, hardened}, false},
		{[]uint32{}, true},                // the master key: shown
		{[]uint32{1 + hardened, 7}, true}, // not standard: shown
		{[]uint32{48 + hardened, hardened, hardened, 2 + hardened}, true}, // mainnet coin type on Bitcoin Test
	} {
		before := len(u.kinds())
		k, err := d.Xpub(context.Background(), c.path)
		if err != nil {
			t.Fatalf("%s: %v", descriptor.Path(c.path), err)
		}
		want, err := derivePath(t, master, c.path).Neuter()
		if err != nil {
			t.Fatal(err)
		}
		if k.String() != want.String() {
			t.Errorf("%s: %s, want %s", descriptor.Path(c.path), k, want)
		}
		if shown := len(u.kinds()) > before; shown != c.display {
			t.Errorf("%s: shown on the device %v, want %v", descriptor.Path(c.path), shown, c.display)
		}
	}
	u.setRefuse(true)
	_, err := d.Xpub(context.Background(), []uint32{1 + hardened})
	if !errors.Is(err, hw.ErrRejected) {
		t.Fatalf("refused xpub: %v, want hw.ErrRejected", err)
	}
	if _, err := d.Xpub(context.Background(), make([]uint32, 9)); err == nil || !strings.Contains(err.Error(), "at most 8") {
		t.Fatalf("9-step path: %v", err)
	}
}

func TestRegisterShowSign(t *testing.T) {
	for _, c := range []struct {
		script descriptor.ScriptType
		sorted bool
		tmpl   string
	}{
		{descriptor.ScriptWsh, true, "wsh(sortedmulti(2,@0/**,@1/**,@2/**))"},
		{descriptor.ScriptShWsh, true, "sh(wsh(sortedmulti(2,@0/**,@1/**,@2/**)))"},
		{descriptor.ScriptSh, true, "sh(sortedmulti(2,@0/**,@1/**,@2/**))"},
		{descriptor.ScriptWsh, false, "wsh(multi(2,@0/**,@1/**,@2/**))"},
	} {
		t.Run(c.tmpl, func(t *testing.T) {
			u := &user{}
			_, addr := startEmulator(t, emu.Config{Approve: u.approve, HMACKey: testHMACKey})
			d := mustDial(t, addr)
			w := newTestWallet(t, c.script, 2, c.sorted)
			ctx := context.Background()
			pol, err := PolicyFromDescriptor(w.desc, "treasury")
			if err != nil {
				t.Fatal(err)
			}
			if pol.Template != c.tmpl {
				t.Fatalf("template %s, want %s", pol.Template, c.tmpl)
			}
			token, err := d.Register(ctx, w.desc, testNet, "treasury")
			if err != nil {
				t.Fatal(err)
			}
			id := pol.ID()
			mac := hmac.New(sha256.New, testHMACKey)
			mac.Write(id[:])
			if !bytes.Equal(token, mac.Sum(nil)) {
				t.Fatalf("token %x, want HMAC-SHA256(device key, wallet id) %x", token, mac.Sum(nil))
			}
			for _, pos := range [][2]uint32{{0, 0}, {0, 17}, {1, 3}} {
				got, err := d.DisplayAddress(ctx, w.desc, testNet, "treasury", pos[0], pos[1])
				if err != nil {
					t.Fatal(err)
				}
				der, err := w.desc.Derive(pos[0], pos[1], testNet)
				if err != nil {
					t.Fatal(err)
				}
				if got != der.Address {
					t.Errorf("%v: %s, want %s", pos, got, der.Address)
				}
			}
			p := w.spend(t, 3)
			signed, err := d.Sign(ctx, p, w.desc, testNet, "treasury")
			if err != nil {
				t.Fatal(err)
			}
			checkSigned(t, w, p, signed)
			if got := strings.Join(u.kinds(), ","); got != "register,address,address,address,sign" {
				t.Errorf("the user was asked: %s", got)
			}
		})
	}
}

// checkSigned checks that signed is p plus exactly the device's partial
// signatures, equal to what countersign's own signer makes with the same
// key (RFC 6979), and that one more cosigner completes a transaction that
// passes btcd's script engine.
func checkSigned(t *testing.T, w *testWallet, p, signed *bpsbt.Packet) {
	t.Helper()
	ref, err := psbt.Clone(p)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := psbt.Sign(ref, w.masters[0]); err != nil || n != len(p.Inputs) {
		t.Fatalf("reference signer: %d, %v", n, err)
	}
	for i := range signed.Inputs {
		got, want := signed.Inputs[i].PartialSigs, ref.Inputs[i].PartialSigs
		if len(got) != 1 || len(want) != 1 || !bytes.Equal(got[0].PubKey, want[0].PubKey) || !bytes.Equal(got[0].Signature, want[0].Signature) {
			t.Fatalf("input %d: device signatures %v, countersign's signer %v", i, got, want)
		}
	}
	if len(p.Inputs[0].PartialSigs) != 0 {
		t.Fatal("Sign modified its argument")
	}
	if _, err := psbt.Sign(signed, w.masters[1]); err != nil {
		t.Fatal(err)
	}
	info := psbt.WalletInfo{Descriptor: w.desc, Network: testNet}
	if _, err := psbt.Finalize(signed, info); err != nil {
		t.Fatalf("finalize with the device's signatures: %v", err)
	}
}

func TestNotRegistered(t *testing.T) {
	_, addr := startEmulator(t, emu.Config{HMACKey: testHMACKey})
	w := newTestWallet(t, descriptor.ScriptWsh, 2, true)
	ctx := context.Background()
	first := mustDial(t, addr)
	token, err := first.Register(ctx, w.desc, testNet, "treasury")
	if err != nil {
		t.Fatal(err)
	}
	first.Close()

	// A new session knows no registration until it is given the token.
	d := mustDial(t, addr)
	fp, _ := d.Fingerprint(ctx)
	hint := "register this wallet on the Ledger first: countersign device register treasury --with ledger:" + hex.EncodeToString(fp[:])
	_, err = d.DisplayAddress(ctx, w.desc, testNet, "treasury", 0, 0)
	if !errors.Is(err, hw.ErrNotRegistered) || !strings.Contains(err.Error(), hint) {
		t.Fatalf("without token: %v", err)
	}
	if _, err := d.Sign(ctx, w.spend(t, 1), w.desc, testNet, "treasury"); !errors.Is(err, hw.ErrNotRegistered) {
		t.Fatalf("sign without token: %v", err)
	}
	d.UseToken(token[:31])
	if _, err := d.DisplayAddress(ctx, w.desc, testNet, "treasury", 0, 1); !errors.Is(err, hw.ErrNotRegistered) || !strings.Contains(err.Error(), "not a 32-byte HMAC") {
		t.Fatalf("a 31-byte token: %v", err)
	}
	d.UseToken(token)
	if _, err := d.DisplayAddress(ctx, w.desc, testNet, "treasury", 0, 1); err != nil {
		t.Fatalf("with token: %v", err)
	}

	// A tampered or stale HMAC is refused by the device (0xB008).
	bad := bytes.Clone(token)
	bad[0] ^= 1
	d.UseToken(bad)
	for name, op := range map[string]func() error{
		"address": func() error { _, err := d.DisplayAddress(ctx, w.desc, testNet, "treasury", 0, 0); return err },
		"sign":    func() error { _, err := d.Sign(ctx, w.spend(t, 1), w.desc, testNet, "treasury"); return err },
	} {
		err := op()
		var se *StatusError
		if !errors.Is(err, hw.ErrNotRegistered) || !errors.As(err, &se) || se.SW != swSignatureFail || !strings.Contains(err.Error(), hint) {
			t.Errorf("%s with a wrong HMAC: %v", name, err)
		}
	}
	// The same token names another wallet (another name): refused too.
	d.UseToken(token)
	if _, err := d.DisplayAddress(ctx, w.desc, testNet, "other name", 0, 0); !errors.Is(err, hw.ErrNotRegistered) {
		t.Errorf("token of another wallet: %v", err)
	}
}

func TestRejected(t *testing.T) {
	u := &user{}
	_, addr := startEmulator(t, emu.Config{Approve: u.approve})
	d := mustDial(t, addr)
	w := newTestWallet(t, descriptor.ScriptWsh, 2, true)
	ctx := context.Background()
	u.setRefuse(true)
	if _, err := d.Register(ctx, w.desc, testNet, "treasury"); !errors.Is(err, hw.ErrRejected) || !strings.Contains(err.Error(), "0x6985") {
		t.Fatalf("refused registration: %v", err)
	}
	u.setRefuse(false)
	if _, err := d.Register(ctx, w.desc, testNet, "treasury"); err != nil {
		t.Fatal(err)
	}
	u.setRefuse(true)
	if _, err := d.DisplayAddress(ctx, w.desc, testNet, "treasury", 0, 0); !errors.Is(err, hw.ErrRejected) {
		t.Fatalf("refused address: %v", err)
	}
	_, err := d.Sign(ctx, w.spend(t, 2), w.desc, testNet, "treasury")
	if !errors.Is(err, hw.ErrRejected) || errors.Is(err, hw.ErrNotRegistered) {
		t.Fatalf("refused signature: %v", err)
	}
	// The device is still usable after refusals.
	u.setRefuse(false)
	if _, err := d.Sign(ctx, w.spend(t, 2), w.desc, testNet, "treasury"); err != nil {
		t.Fatal(err)
	}
}

func TestDeviceRefusesBadPSBTs(t *testing.T) {
	u := &user{}
	_, addr := startEmulator(t, emu.Config{Approve: u.approve})
	d := mustDial(t, addr)
	w := newTestWallet(t, descriptor.ScriptWsh, 2, true)
	ctx := context.Background()
	if _, err := d.Register(ctx, w.desc, testNet, "treasury"); err != nil {
		t.Fatal(err)
	}
	swapped := w.spend(t, 2)
	for j := range swapped.Outputs {
		if len(swapped.Outputs[j].Bip32Derivation) > 0 {
			// An attacker redirects the change but keeps its derivations.
			swapped.UnsignedTx.TxOut[j].PkScript = externalScript(0xee)
		}
	}
	wrongScript := w.spend(t, 2)
	other := newTestWallet(t, descriptor.ScriptWsh, 1, true)
	der, _ := other.desc.Derive(0, 0, testNet)
	wrongScript.Inputs[1].WitnessScript = der.WitnessScript
	noDevice := w.spend(t, 1)
	for i := range noDevice.Inputs {
		noDevice.Inputs[i].Bip32Derivation = noDevice.Inputs[i].Bip32Derivation[1:2]
	}
	for name, c := range map[string]struct {
		p    *bpsbt.Packet
		want string
	}{
		"swapped change":       {swapped, "0x6a80"},
		"wrong witness script": {wrongScript, "witness script does not match"},
		"not the device's":     {noDevice, "nothing for this Ledger to sign"},
	} {
		before := len(u.kinds())
		// The adapter refuses every one of them before the device sees it ...
		if _, err := d.Sign(ctx, c.p, w.desc, testNet, "treasury"); !errors.Is(err, psbt.ErrRefused) {
			t.Errorf("%s: the adapter let it through: %v", name, err)
		}
		// ... and the driver and the device refuse them on their own too.
		q, _ := psbt.Clone(c.p)
		_, err := d.Ledger.SignPSBT(ctx, q, d.wallet(w.desc, testNet, "treasury"))
		if !errors.Is(err, hw.ErrDevice) || errors.Is(err, hw.ErrRejected) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want hw.ErrDevice with %q", name, err, c.want)
		}
		if len(u.kinds()) != before {
			t.Errorf("%s: the user was asked to sign", name)
		}
	}
}

func TestNetworkChecks(t *testing.T) {
	_, addr := startEmulator(t, emu.Config{})
	d := mustDial(t, addr)
	w := newTestWallet(t, descriptor.ScriptWsh, 2, true)
	_, err := d.Register(context.Background(), w.desc, &chaincfg.MainNetParams, "treasury")
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "open the Bitcoin app") {
		t.Fatalf("mainnet wallet on Bitcoin Test: %v", err)
	}
	// Regtest wallets use the Bitcoin Test app; the device writes testnet
	// addresses, the driver returns the wallet's spelling.
	if _, err := d.Register(context.Background(), w.desc, &chaincfg.RegressionNetParams, "regtest"); err != nil {
		t.Fatal(err)
	}
	got, err := d.DisplayAddress(context.Background(), w.desc, &chaincfg.RegressionNetParams, "regtest", 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "bcrt1") {
		t.Fatalf("regtest address %s", got)
	}
}

func TestPolicyErrors(t *testing.T) {
	_, addr := startEmulator(t, emu.Config{})
	d := mustDial(t, addr)
	w := newTestWallet(t, descriptor.ScriptWsh, 2, true)
	for _, name := range []string{"", " lead", "trail ", strings.Repeat("x", 65), "tab\there"} {
		if _, err := d.Register(context.Background(), w.desc, testNet, name); err == nil || !strings.Contains(err.Error(), "wallet name") {
			t.Errorf("name %q: %v", name, err)
		}
	}
	// A wallet without the device's key: the device refuses it.
	seed := sha256.Sum256([]byte("someone else"))
	m, err := hdkeychain.NewMaster(seed[:], testNet)
	if err != nil {
		t.Fatal(err)
	}
	xpub, err := derivePath(t, m, []uint32{48 + hardened, 1 + hardened, hardened, 2 + hardened}).Neuter()
	if err != nil {
		t.Fatal(err)
	}
	fp := fingerprintOf(t, m)
	foreignKey := "[" + hex.EncodeToString(fp[:]) + "/48h/1h/0h/2h]" + xpub.String() + "/<0;1>/*"
	foreign, err := descriptor.Parse(strings.Replace(w.desc.StringNoChecksum(), w.desc.Keys[0].String(), foreignKey, 1))
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Register(context.Background(), foreign, testNet, "foreign")
	var se *StatusError
	if !errors.As(err, &se) || se.SW != swIncorrectData || !se.HasCode || se.Code != ecRegisterNoInternalKey ||
		!strings.Contains(err.Error(), "none of the wallet's keys belongs to this device") {
		t.Fatalf("foreign wallet: %v", err)
	}
}

// cutProxy forwards Speculos traffic and drops both connections once the
// device has sent limit messages.
func cutProxy(t *testing.T, target string, limit int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				return
			}
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() {
				defer c.Close()
				defer s.Close()
				var hdr [4]byte
				for n := 0; n < limit; n++ {
					if _, err := io.ReadFull(s, hdr[:]); err != nil {
						return
					}
					body := make([]byte, binary.BigEndian.Uint32(hdr[:])+2)
					if _, err := io.ReadFull(s, body); err != nil {
						return
					}
					if _, err := c.Write(append(hdr[:], body...)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestDroppedConnectionMidSign(t *testing.T) {
	_, addr := startEmulator(t, emu.Config{})
	w := newTestWallet(t, descriptor.ScriptWsh, 2, true)
	ctx := context.Background()
	reg := mustDial(t, addr)
	token, err := reg.Register(ctx, w.desc, testNet, "treasury")
	if err != nil {
		t.Fatal(err)
	}
	reg.Close()
	// GET_VERSION, GET_MASTER_FINGERPRINT, then 40 messages into SIGN_PSBT.
	d := mustDial(t, cutProxy(t, addr, 42))
	d.UseToken(token)
	_, err = d.Sign(ctx, w.spend(t, 3), w.desc, testNet, "treasury")
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "ledger ") || !strings.Contains(err.Error(), "sign transaction") {
		t.Fatalf("dropped connection: %v", err)
	}
	t.Logf("dropped mid-command: %v", err)
	// The link is known broken: later calls say so without touching it.
	_, err = d.DisplayAddress(ctx, w.desc, testNet, "treasury", 0, 0)
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "broke off during SIGN_PSBT") {
		t.Fatalf("after the drop: %v", err)
	}
}

func TestCancelledSign(t *testing.T) {
	block := make(chan struct{})
	_, addr := startEmulator(t, emu.Config{Approve: func(ctx context.Context, r emu.Request) bool {
		if r.Kind == "sign" {
			select {
			case <-block:
			case <-ctx.Done():
			}
		}
		return true
	}})
	defer close(block)
	d := mustDial(t, addr)
	w := newTestWallet(t, descriptor.ScriptWsh, 2, true)
	if _, err := d.Register(context.Background(), w.desc, testNet, "treasury"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := d.Sign(ctx, w.spend(t, 1), w.desc, testNet, "treasury")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled sign: %v", err)
	}
}

func TestOverHIDFraming(t *testing.T) {
	e, err := emu.New(emu.Config{Mnemonic: testMnemonic})
	if err != nil {
		t.Fatal(err)
	}
	host, dev := transport.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = e.ServeHID(ctx, dev) }()
	defer func() { cancel(); dev.Close(); wg.Wait() }()
	l, err := Open(ctx, HIDLink(host), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	d := &session{Ledger: l}
	w := newTestWallet(t, descriptor.ScriptShWsh, 2, true)
	if _, err := d.Register(ctx, w.desc, testNet, "over hid"); err != nil {
		t.Fatal(err)
	}
	p := w.spend(t, 2)
	signed, err := d.Sign(ctx, p, w.desc, testNet, "over hid")
	if err != nil {
		t.Fatal(err)
	}
	checkSigned(t, w, p, signed)
}

func TestRegistryFindsEmulator(t *testing.T) {
	e, addr := startEmulator(t, emu.Config{})
	r := hw.NewRegistry(Driver())
	r.Emulators = true
	r.ListHID = func(uint16, uint16) ([]transport.HIDInfo, error) { return nil, nil }
	r.Getenv = func(k string) string {
		if k == EnvSpeculos {
			return addr
		}
		return ""
	}
	ctx := context.Background()
	infos, err := r.Enumerate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fp := e.Fingerprint()
	if len(infos) != 1 || infos[0].Fingerprint != hex.EncodeToString(fp[:]) || infos[0].Error != "" || infos[0].Transport != "tcp" {
		t.Fatalf("enumerate: %+v", infos)
	}
	s, err := r.Select(ctx, "ledger:"+strings.ToUpper(hex.EncodeToString(fp[:])))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info := s.Info()
	if info.Selector() != "ledger:"+hex.EncodeToString(fp[:]) {
		t.Errorf("selector %s", info.Selector())
	}
	if _, ok := s.Device().(*Ledger); !ok {
		t.Errorf("the selected signer drives %T, not a Ledger", s.Device())
	}
}
