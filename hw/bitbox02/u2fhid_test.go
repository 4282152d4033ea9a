package bitbox02

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"testing"

	emu "github.com/countersign/countersign/hw/emulator/bitbox02"
	"github.com/countersign/countersign/hw/transport"
)

func TestFramesSplitAndReassemble(t *testing.T) {
	for _, n := range []int{0, 1, initData, initData + 1, initData + contData, initData + contData + 1, 1000, maxMessage} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i * 7)
		}
		frames, err := encodeFrames(0xdeadbeef, cmdHWW, data)
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if n > initData {
			want += (n - initData + contData - 1) / contData
		}
		if len(frames) != want {
			t.Fatalf("%d bytes: %d frames, want %d", n, len(frames), want)
		}
		a := assembler{cid: 0xdeadbeef}
		for i, f := range frames {
			if len(f) != reportSize {
				t.Fatalf("frame of %d bytes", len(f))
			}
			done, err := a.add(f)
			if err != nil {
				t.Fatal(err)
			}
			if done != (i == len(frames)-1) {
				t.Fatalf("%d bytes: done=%v at frame %d of %d", n, done, i, len(frames))
			}
		}
		if !bytes.Equal(a.message(), data) || a.cmd != cmdHWW {
			t.Fatalf("%d bytes: reassembled %d bytes, cmd %x", n, len(a.message()), a.cmd)
		}
	}
	if _, err := encodeFrames(1, cmdHWW, make([]byte, maxMessage+1)); !errors.Is(err, ErrFrame) {
		t.Fatalf("oversized message: %v", err)
	}
}

// TestFrameLayout checks the bytes of an info request against the layout
// of usb_frame.h and u2fhid.py: CID, CMD 0xc1, length, data, padding.
func TestFrameLayout(t *testing.T) {
	frames, err := encodeFrames(0x01020304, cmdHWW, []byte{'i'})
	if err != nil {
		t.Fatal(err)
	}
	want := "01020304c1000169" + hex.EncodeToString(make([]byte, 64-8))
	if got := hex.EncodeToString(frames[0]); len(frames) != 1 || got != want {
		t.Fatalf("frame %s, want %s", got, want)
	}
	frames, _ = encodeFrames(7, cmdHWW, bytes.Repeat([]byte{0xaa}, 60))
	if len(frames) != 2 || frames[1][4] != 0 || !bytes.Equal(frames[1][5:8], []byte{0xaa, 0xaa, 0xaa}) || frames[1][8] != 0 {
		t.Fatalf("continuation frame %x", frames[1])
	}
}

func TestAssemblerRejects(t *testing.T) {
	frames, _ := encodeFrames(5, cmdHWW, make([]byte, 200))
	cases := []struct {
		name    string
		reports [][]byte
		want    string
	}{
		{"continuation first", [][]byte{frames[1]}, "without an init"},
		{"out of order", [][]byte{frames[0], frames[2]}, "seq 1, expected 0"},
		{"repeated", [][]byte{frames[0], frames[1], frames[1]}, "seq 0, expected 1"},
		{"new message mid-way", [][]byte{frames[0], frames[0]}, "began before"},
		{"short", [][]byte{{0, 0, 0, 5}}, "report of 4 bytes"},
		{"too long", [][]byte{append([]byte{0, 0, 0, 5, cmdHWW, 0xff, 0xff}, make([]byte, 57)...)}, "limit"},
	}
	for _, c := range cases {
		a := assembler{cid: 5}
		var err error
		for _, r := range c.reports {
			if _, err = a.add(r); err != nil {
				break
			}
		}
		if !errors.Is(err, ErrFrame) || !bytes.Contains([]byte(err.Error()), []byte(c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	// Reports of another channel are skipped; an error frame is the
	// device's error.
	a := assembler{cid: 5}
	other, _ := encodeFrames(6, cmdHWW, []byte{1})
	if done, err := a.add(other[0]); done || err != nil {
		t.Fatalf("other channel: %v %v", done, err)
	}
	errFrame := append([]byte{0, 0, 0, 5, cmdError, 0, 1, 0x06}, make([]byte, 56)...)
	var fe *FrameError
	if _, err := a.add(errFrame); !errors.As(err, &fe) || fe.Code != 6 || fe.Error() != "the device reported a framing error: channel busy" {
		t.Fatalf("error frame: %v", err)
	}
}

// TestCorruptedFramesAgainstEmulator sends broken framing to the emulator
// and checks its answers, then that a good exchange still works.
func TestCorruptedFramesAgainstEmulator(t *testing.T) {
	e, err := emu.New(emu.Config{Mnemonic: mnemonics[0]})
	if err != nil {
		t.Fatal(err)
	}
	host, dev := transport.Pipe()
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	go e.ServeConn(ctx, dev)
	frames, _ := encodeFrames(9, cmdHWW, append([]byte{reqNew, 'h'}, make([]byte, 200)...))
	// A continuation without its init frame is dropped silently; one out of
	// order is an invalid-sequence error.
	if err := host.Write(ctx, frames[1]); err != nil {
		t.Fatal(err)
	}
	host.Write(ctx, frames[0])
	host.Write(ctx, frames[2])
	r, err := host.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := assembler{cid: 9}
	var fe *FrameError
	if _, err := a.add(r); !errors.As(err, &fe) || fe.Code != 0x04 {
		t.Fatalf("out-of-order frames: %x %v", r, err)
	}
	// An unknown command is refused.
	bad, _ := encodeFrames(10, 0x80|0x11, []byte{1})
	host.Write(ctx, bad[0])
	r, _ = host.Read(ctx)
	a = assembler{cid: 10}
	if _, err := a.add(r); !errors.As(err, &fe) || fe.Code != 0x01 {
		t.Fatalf("unknown command: %x %v", r, err)
	}
	l := &link{t: host, replyTimeout: DefaultReplyTimeout}
	st, err := l.info(ctx)
	if err != nil || st.Version != "v9.21.0" || !st.Initialized || !st.Unlocked {
		t.Fatalf("info after errors: %+v %v", st, err)
	}
}

func TestParseStatus(t *testing.T) {
	st, err := parseStatus(append([]byte{7}, append([]byte("v9.21.0"), 2, 1, 0, 1)...))
	if err != nil || st.Version != "v9.21.0" || st.Model() != "BitBox02 Nova Bitcoin-only" || st.Unlocked || !st.Initialized {
		t.Fatalf("%+v %v", st, err)
	}
	// Firmware before 9.20.0 does not send the initialised flag.
	st, err = parseStatus(append([]byte{6}, append([]byte("v9.1.0"), 0, 0, 1)...))
	if err != nil || !st.Initialized || !st.Unlocked || st.Model() != "BitBox02 Multi" {
		t.Fatalf("%+v %v", st, err)
	}
	for _, b := range [][]byte{nil, {9, 'v'}, append([]byte{1}, 'v', 0, 0, 7), append([]byte{1}, 'v', 0, 0, 1, 9), {1, 0x07, 0, 0, 1}} {
		if _, err := parseStatus(b); err == nil {
			t.Errorf("%x: no error", b)
		}
	}
}
