package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/countersign/countersign/hw/transport"
)

func TestHIDFramesVector(t *testing.T) {
	// GET_MASTER_FINGERPRINT in one report: channel 0101, tag 05, sequence
	// 0000, length 0005, the APDU, zero padding.
	frames, err := hidFrames(reqGetMasterFingerprint())
	if err != nil {
		t.Fatal(err)
	}
	want := "0101050000" + "0005" + "e105000100" + strings.Repeat("00", 64-12)
	if len(frames) != 1 || hex.EncodeToString(frames[0]) != want {
		t.Fatalf("frames %x", frames)
	}
}

func TestHIDFramesRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 56, 57, 58, 116, 117, 118, 260, 1000} {
		msg := make([]byte, n)
		for i := range msg {
			msg[i] = byte(i*7 + 1)
		}
		frames, err := hidFrames(msg)
		if err != nil {
			t.Fatal(err)
		}
		wantFrames := 1
		if n > 57 {
			wantFrames += (n - 57 + 58) / 59
		}
		if len(frames) != wantFrames {
			t.Errorf("%d bytes: %d frames, want %d", n, len(frames), wantFrames)
		}
		r := newHIDReassembler()
		var got []byte
		for i, f := range frames {
			if len(f) != transport.ReportSize || binary.BigEndian.Uint16(f[3:]) != uint16(i) {
				t.Fatalf("frame %d: %x", i, f)
			}
			out, done, err := r.add(f)
			if err != nil {
				t.Fatal(err)
			}
			if done != (i == len(frames)-1) {
				t.Fatalf("%d bytes: done %v at frame %d of %d", n, done, i, len(frames))
			}
			got = out
		}
		if !bytes.Equal(got, msg) {
			t.Errorf("%d bytes: reassembled %x", n, got)
		}
	}
	if _, err := hidFrames(make([]byte, 70000)); err == nil {
		t.Error("framed a message longer than 65535 bytes")
	}
}

func TestHIDReassemblerRejects(t *testing.T) {
	frames, _ := hidFrames(make([]byte, 100))
	for name, mutate := range map[string]func([]byte){
		"channel":  func(f []byte) { f[0] = 0x02 },
		"tag":      func(f []byte) { f[2] = 0x02 },
		"sequence": func(f []byte) { f[4] = 1 },
	} {
		f := bytes.Clone(frames[0])
		mutate(f)
		if _, _, err := newHIDReassembler().add(f); err == nil {
			t.Errorf("%s: accepted %x", name, f)
		}
	}
	r := newHIDReassembler()
	if _, _, err := r.add(frames[0]); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.add(frames[0]); err == nil {
		t.Error("accepted report 0 twice")
	}
	if _, _, err := newHIDReassembler().add([]byte{1, 1, 5}); err == nil {
		t.Error("accepted a 3-byte report")
	}
}

// TestSpeculosFraming checks the bytes on the wire: the request is a
// 4-byte big-endian length and the APDU; the response length counts the
// data but not the status word that follows.
func TestSpeculosFraming(t *testing.T) {
	host, dev := net.Pipe()
	defer dev.Close()
	link := SpeculosLink(transport.NewStream(host, SpeculosOptions))
	defer link.Close()
	type result struct {
		data []byte
		sw   uint16
		err  error
	}
	res := make(chan result, 1)
	go func() {
		data, sw, err := link.Exchange(context.Background(), reqGetMasterFingerprint())
		res <- result{data, sw, err}
	}()
	req := make([]byte, 9)
	if _, err := io.ReadFull(dev, req); err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(req) != "00000005"+"e105000100" {
		t.Fatalf("request on the wire %x", req)
	}
	if _, err := dev.Write([]byte{0, 0, 0, 4, 0x73, 0xc5, 0xda, 0x0a, 0x90, 0x00}); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.err != nil || hex.EncodeToString(r.data) != "73c5da0a" || r.sw != 0x9000 {
		t.Fatalf("exchange: %x %#x %v", r.data, r.sw, r.err)
	}
	// A status word with no data: length 0, then the two bytes.
	go func() {
		_, sw, err := link.Exchange(context.Background(), reqGetMasterFingerprint())
		res <- result{nil, sw, err}
	}()
	if _, err := io.ReadFull(dev, req); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Write([]byte{0, 0, 0, 0, 0x69, 0x85}); err != nil {
		t.Fatal(err)
	}
	if r := <-res; r.err != nil || r.sw != 0x6985 {
		t.Fatalf("status only: %#x %v", r.sw, r.err)
	}
	// The device going away mid-response is a lost connection.
	go func() {
		_, _, err := link.Exchange(context.Background(), reqGetMasterFingerprint())
		res <- result{err: err}
	}()
	if _, err := io.ReadFull(dev, req); err != nil {
		t.Fatal(err)
	}
	_, _ = dev.Write([]byte{0, 0, 0, 4, 0x73})
	dev.Close()
	if r := <-res; r.err == nil || !strings.Contains(r.err.Error(), "lost") {
		t.Fatalf("truncated response: %v", r.err)
	}
}

func TestParseAppVersion(t *testing.T) {
	for _, c := range []struct {
		hex, name, version string
		ok                 bool
	}{
		{"010c426974636f696e205465737405322e312e3301 02", "Bitcoin Test", "2.1.3", true},
		{"0105424f4c4f5305322e322e33", "BOLOS", "2.2.3", true}, // no flags
		{"02", "", "", false},
		{"010c4269", "", "", false},
		{"", "", "", false},
	} {
		b, _ := hex.DecodeString(strings.ReplaceAll(c.hex, " ", ""))
		v, err := parseAppVersion(b)
		if (err == nil) != c.ok || c.ok && (v.Name != c.name || v.Version != c.version) {
			t.Errorf("%s: %+v %v", c.hex, v, err)
		}
	}
	for s, want := range map[string]bool{"2.1.0": false, "2.0.6": true, "2.1.0-rc1": false, "1.9.9": true, "10.0.0": false} {
		v, err := parseSemver(s)
		if err != nil || v.Less(minAppVersion) != want {
			t.Errorf("%s below 2.1.0: %v %v", s, v.Less(minAppVersion), err)
		}
	}
}
