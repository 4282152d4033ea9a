package bitbox02

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"sync"
	"testing"

	emu "github.com/countersign/countersign/hw/emulator/bitbox02"
	"github.com/countersign/countersign/hw/transport"
)

// golden is testdata/noise_golden.json, computed by noise_golden.py from
// the Noise specification with python3-cryptography, not with the library
// the driver and emulator use.
type golden struct {
	HostS              string `json:"host_static_private"`
	HostE              string `json:"host_ephemeral_private"`
	DevS               string `json:"device_static_private"`
	DevE               string `json:"device_ephemeral_private"`
	HostStaticPublic   string `json:"host_static_public"`
	DeviceStaticPublic string `json:"device_static_public"`
	Msg1, Msg2, Msg3   string
	HandshakeHash      string `json:"handshake_hash"`
	FirstRequestCipher string `json:"first_request_ciphertext"`
}

func loadGolden(t *testing.T) golden {
	t.Helper()
	data, err := os.ReadFile("testdata/noise_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recorder keeps every report that crosses a transport.
type recorder struct {
	transport.Transport
	mu      sync.Mutex
	out, in [][]byte
}

func (r *recorder) Write(ctx context.Context, b []byte) error {
	r.mu.Lock()
	r.out = append(r.out, bytes.Clone(b))
	r.mu.Unlock()
	return r.Transport.Write(ctx, b)
}

func (r *recorder) Read(ctx context.Context) ([]byte, error) {
	b, err := r.Transport.Read(ctx)
	if err == nil {
		r.mu.Lock()
		r.in = append(r.in, bytes.Clone(b))
		r.mu.Unlock()
	}
	return b, err
}

// messages reassembles recorded reports into HWW messages.
func messages(t *testing.T, reports [][]byte) [][]byte {
	t.Helper()
	var out [][]byte
	var a *assembler
	for _, r := range reports {
		if r[4]&0x80 != 0 {
			a = &assembler{cid: uint32(r[0])<<24 | uint32(r[1])<<16 | uint32(r[2])<<8 | uint32(r[3])}
		}
		done, err := a.add(r)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			out = append(out, a.message())
		}
	}
	return out
}

// TestNoiseGolden runs the driver's handshake against the emulator with the
// golden keys and checks every handshake message, the handshake hash (the
// pairing code's source) and the first encrypted request against the
// independently computed values.
func TestNoiseGolden(t *testing.T) {
	g := loadGolden(t)
	hostS, hostE := unhex(t, g.HostS), unhex(t, g.HostE)
	e, err := emu.New(emu.Config{Mnemonic: mnemonics[0], NoiseKey: unhex(t, g.DevS), Random: bytes.NewReader(unhex(t, g.DevE))})
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(e.NoisePublicKey()) != g.DeviceStaticPublic {
		t.Fatalf("device static key %x, golden %s", e.NoisePublicKey(), g.DeviceStaticPublic)
	}
	host, dev := transport.Pipe()
	ctx := testCtx(t)
	go e.ServeConn(ctx, dev)
	rec := &recorder{Transport: host}
	store := &MemoryStore{}
	store.Save(&Pairings{AppStaticKey: &StaticKey{Private: hostS, Public: unhex(t, g.HostStaticPublic)}})
	b, err := Open(ctx, rec, Options{Pairings: store, AllowPairing: true, Random: bytes.NewReader(hostE)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Fingerprint(ctx); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b.ChannelHash()); got != g.HandshakeHash {
		t.Fatalf("handshake hash %s, golden %s", got, g.HandshakeHash)
	}
	out := messages(t, rec.out)
	in := messages(t, rec.in)
	// out: 'i', 'h', 'H'+msg1, 'H'+msg3, 'v', 'n'+request; each but 'i'
	// behind REQ_NEW.
	want := [][]byte{{'i'}, {0, 'h'}, append([]byte{0, 'H'}, unhex(t, g.Msg1)...), append([]byte{0, 'H'}, unhex(t, g.Msg3)...), {0, 'v'}}
	for i, w := range want {
		if i >= len(out) || !bytes.Equal(out[i], w) {
			t.Fatalf("host message %d: %x, golden %x", i, out[min(i, len(out)-1)], w)
		}
	}
	var api []byte
	for _, m := range out[len(want):] {
		if len(m) > 2 && m[0] == 0 && m[1] == 'n' {
			api = m[2:]
			break
		}
	}
	if hex.EncodeToString(api) != g.FirstRequestCipher {
		t.Fatalf("first request %x, golden %s", api, g.FirstRequestCipher)
	}
	// in: status, [ack 0], [ack 0 msg2], [ack 0 verification-required], ...
	if len(in) < 3 || !bytes.Equal(in[2], append([]byte{0, 0}, unhex(t, g.Msg2)...)) {
		t.Fatalf("device message 2: %x, golden %s", in[2], g.Msg2)
	}
	if in[3][2] != 1 {
		t.Fatal("the device did not ask for the pairing code of an unknown host")
	}
	// The device showed the code the host computed.
	code := PairingCode(b.ChannelHash())
	var shown string
	for _, s := range e.Screens() {
		if s.Kind == "pairing" {
			shown = s.Body
		}
	}
	if shown != code {
		t.Fatalf("device shows %q, host computes %q", shown, code)
	}
}

// TestPairingCodeFirmwareVector is workflow/pairing.rs test_confirm of
// bitbox02-firmware (commit a3467ad11daee7081cc041ba9217c81e471022e6).
func TestPairingCodeFirmwareVector(t *testing.T) {
	hash := unhex(t, "59289bdbbbb6b68e8f127f49a525b03013500b3c1af2626f4007ebe44f09c86b")
	if got := PairingCode(hash); got != "LEUJX W53W2\n3I5DY SP5E2" {
		t.Fatalf("pairing code %q", got)
	}
	if got := emu.PairingCode(hash); got != "LEUJX W53W2\n3I5DY SP5E2" {
		t.Fatalf("emulator's pairing code %q", got)
	}
}
