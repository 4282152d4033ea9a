package hw

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw/transport"
)

// fakeDevice is a Device that only describes itself.
type fakeDevice struct {
	info   DeviceInfo
	fp     [4]byte
	closed *[]string
}

var errFake = errors.New("fake device does not sign")

func (f *fakeDevice) Info() DeviceInfo { return f.info }
func (f *fakeDevice) Fingerprint(context.Context) ([4]byte, error) {
	return f.fp, nil
}
func (f *fakeDevice) Xpub(context.Context, descriptor.Path) (*hdkeychain.ExtendedKey, error) {
	return nil, errFake
}
func (f *fakeDevice) Register(context.Context, *Wallet) ([]byte, error) {
	return nil, errFake
}
func (f *fakeDevice) DisplayAddress(context.Context, *Wallet, uint32, uint32) (string, error) {
	return "", errFake
}
func (f *fakeDevice) SignPSBT(context.Context, *bpsbt.Packet, *Wallet) (*bpsbt.Packet, error) {
	return nil, errFake
}
func (f *fakeDevice) Close() error {
	*f.closed = append(*f.closed, f.info.Path)
	return nil
}

// fakeWorld is a set of attached devices keyed by path: fingerprint hex
// ("" = unknown without a prompt), or "!" for a device that fails to open.
type fakeWorld struct {
	usb    map[uint16][]string // product ID -> paths
	fps    map[string]string
	closed []string
	opened []string
}

func (w *fakeWorld) driver(typ string, pid uint16) Driver {
	return Driver{
		Type:     typ,
		USB:      []USBID{{VendorID: 1, ProductID: pid}},
		Emulator: &EmulatorEndpoint{Transport: "unixgram", Env: "TEST_" + strings.ToUpper(typ) + "_SOCKET", Default: "/nonexistent/" + typ + ".sock"},
		Open: func(ctx context.Context, ep Endpoint, _ Prompter) (Device, error) {
			w.opened = append(w.opened, ep.Path)
			fp := w.fps[ep.Path]
			if fp == "!" {
				return nil, errors.New("device is locked")
			}
			d := &fakeDevice{info: DeviceInfo{Model: typ + " model", Fingerprint: strings.ToUpper(fp)}, closed: &w.closed}
			if fp == "" {
				d.fp = [4]byte{0xaa, 0xbb, 0xcc, 0xdd}
			} else {
				hex.Decode(d.fp[:], []byte(fp))
			}
			return d, nil
		},
	}
}

func (w *fakeWorld) registry(env map[string]string) *Registry {
	r := NewRegistry(w.driver("coldcard", 10), w.driver("trezor", 20))
	r.Getenv = func(k string) string { return env[k] }
	r.ListHID = func(vid, pid uint16) ([]transport.HIDInfo, error) {
		if pid == 99 {
			return nil, transport.ErrNoUSB
		}
		var out []transport.HIDInfo
		for _, p := range w.usb[pid] {
			out = append(out, transport.HIDInfo{Path: p, VendorID: vid, ProductID: pid})
		}
		return out, nil
	}
	return r
}

func twoColdcards() *fakeWorld {
	return &fakeWorld{
		usb: map[uint16][]string{10: {"usb:2", "usb:1"}, 20: {"usb:3"}},
		fps: map[string]string{"usb:1": "0f056943", "usb:2": "6ba6cfd0", "usb:3": "!"},
	}
}

func TestEnumerate(t *testing.T) {
	w := twoColdcards()
	infos, err := w.registry(nil).Enumerate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range infos {
		got = append(got, i.Type+" "+i.Path+" "+i.Fingerprint+" "+i.Error)
	}
	want := []string{"coldcard usb:1 0f056943 ", "coldcard usb:2 6ba6cfd0 ", "trezor usb:3  device is locked"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("Enumerate:\n%q\nwant\n%q", got, want)
	}
	if infos[0].Transport != "hid" || infos[0].Model != "coldcard model" || infos[0].Emulator {
		t.Fatalf("info %+v", infos[0])
	}
	if len(w.closed) != 2 {
		t.Fatalf("closed %q: every opened device must be closed", w.closed)
	}
}

func TestEnumerateReportsUSBFailure(t *testing.T) {
	w := &fakeWorld{}
	r := w.registry(nil)
	r.Drivers[0].USB = []USBID{{VendorID: 1, ProductID: 99}}
	infos, err := r.Enumerate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || !strings.Contains(infos[0].Error, "without cgo") || infos[0].Type != "coldcard" {
		t.Fatalf("USB failure entry: %+v", infos)
	}
}

func TestEmulatorEndpoints(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "cc.sock")
	os.WriteFile(sock, nil, 0o600) // only its existence matters to the scan
	w := &fakeWorld{fps: map[string]string{sock: "73c5da0a"}}

	// Off by default, even when the socket exists.
	env := map[string]string{"TEST_COLDCARD_SOCKET": sock}
	if infos, _ := w.registry(env).Enumerate(context.Background()); len(infos) != 0 {
		t.Fatalf("emulators listed while disabled: %+v", infos)
	}
	env[EnvEmulators] = "1"
	infos, _ := w.registry(env).Enumerate(context.Background())
	if len(infos) != 1 || infos[0].Path != sock || !infos[0].Emulator || infos[0].Transport != "unixgram" {
		t.Fatalf("emulator entry: %+v", infos)
	}
	// The flag does what the variable does; a socket that does not
	// exist is an emulator that is not running, not an error.
	r := w.registry(map[string]string{})
	r.Emulators = true
	if infos, _ := r.Enumerate(context.Background()); len(infos) != 0 {
		t.Fatalf("default socket paths do not exist, yet: %+v", infos)
	}
}

func TestSelect(t *testing.T) {
	cases := []struct {
		spec    string
		path    string // selected device; "" for an error
		errIs   error
		errText string
	}{
		{spec: "coldcard:0F056943", path: "usb:1"},
		{spec: "COLDCARD:6ba6cfd0", path: "usb:2"},
		{spec: "path:usb:2", path: "usb:2"},
		{spec: "coldcard", errIs: ErrAmbiguous, errText: "coldcard:0f056943 (usb:1), coldcard:6ba6cfd0 (usb:2)"},
		{spec: "coldcard:deadbeef", errIs: ErrNoDevice, errText: "attached: coldcard:0f056943 (usb:1), coldcard:6ba6cfd0 (usb:2)"},
		{spec: "trezor", errIs: ErrNoDevice, errText: "found but unusable: path:usb:3: device is locked"},
		{spec: "path:/dev/none", errIs: ErrNoDevice},
		{spec: "coldcard:0f05694", errIs: ErrBadSelector, errText: "8 hex digits"},
		{spec: "key:alice", errIs: ErrBadSelector, errText: `unknown signer kind "key" in "key:alice" (accepted here: coldcard, coldcard:FINGERPRINT, trezor, trezor:FINGERPRINT, path:PATH)`},
		{spec: "path:", errIs: ErrBadSelector},
	}
	for _, c := range cases {
		t.Run(c.spec, func(t *testing.T) {
			w := twoColdcards()
			s, err := w.registry(nil).Select(context.Background(), c.spec)
			if c.path != "" {
				if err != nil {
					t.Fatal(err)
				}
				info := s.Info()
				if info.Path != c.path {
					t.Fatalf("selected %s, want %s", info.Path, c.path)
				}
				s.Close()
			} else {
				if !errors.Is(err, c.errIs) || !strings.Contains(err.Error(), c.errText) {
					t.Fatalf("error %v, want %v containing %q", err, c.errIs, c.errText)
				}
			}
			// Every device opened by the scan is closed, the selected one
			// by the caller.
			opened := 0
			for _, p := range w.opened {
				if w.fps[p] != "!" {
					opened++
				}
			}
			if len(w.closed) != opened {
				t.Fatalf("opened %q, closed %q", w.opened, w.closed)
			}
		})
	}
}

// A device that cannot tell its fingerprint without a prompt is asked when
// the selector needs it.
func TestSelectAsksFingerprint(t *testing.T) {
	w := &fakeWorld{usb: map[uint16][]string{10: {"usb:9"}}, fps: map[string]string{"usb:9": ""}}
	s, err := w.registry(nil).Select(context.Background(), "coldcard:AABBCCDD")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info := s.Info()
	if info.Fingerprint != "aabbccdd" {
		t.Fatalf("fingerprint %q", info.Fingerprint)
	}
}

func TestPrompterNilIsSilent(t *testing.T) {
	var p Prompter
	p.Prompt("press OK") // must not panic
	var got string
	Prompter(func(m string) { got = m }).Prompt("press OK")
	if got != "press OK" {
		t.Fatal(got)
	}
}
