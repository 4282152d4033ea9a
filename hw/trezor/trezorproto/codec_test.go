package trezorproto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func TestEncodeReportsLayout(t *testing.T) {
	// Initialize with an empty payload: one report, "?##", type 0, length 0.
	rs, err := EncodeReports(TypeInitialize, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 64)
	copy(want, "?##\x00\x00\x00\x00\x00\x00")
	if len(rs) != 1 || !bytes.Equal(rs[0], want) {
		t.Fatalf("reports = %x", rs)
	}
	// GetAddress-sized payload across reports: 55 bytes fit the first
	// report, 63 each continuation.
	for _, n := range []int{0, 1, 55, 56, 118, 119, 1000} {
		payload := bytes.Repeat([]byte{0xab}, n)
		rs, err := EncodeReports(TypeTxAck, payload)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != ReportsFor(n) {
			t.Errorf("%d bytes: %d reports, ReportsFor says %d", n, len(rs), ReportsFor(n))
		}
		wantReports := 1
		if n > 55 {
			wantReports += (n - 55 + 62) / 63
		}
		if len(rs) != wantReports {
			t.Errorf("%d bytes: %d reports, want %d", n, len(rs), wantReports)
		}
		for i, r := range rs {
			if len(r) != ReportSize || r[0] != '?' {
				t.Fatalf("%d bytes: report %d = %x", n, i, r)
			}
		}
		if rs[0][1] != '#' || rs[0][2] != '#' || rs[0][3] != 0 || rs[0][4] != byte(TypeTxAck) {
			t.Fatalf("header %x", rs[0][:9])
		}
	}
}

func TestAssemblerRoundTrip(t *testing.T) {
	for _, n := range []int{0, 3, 55, 56, 200, 5000} {
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		rs, _ := EncodeReports(TypeFeatures, payload)
		var a Assembler
		for i, r := range rs {
			typ, got, done, err := a.Add(r)
			if err != nil {
				t.Fatal(err)
			}
			if done != (i == len(rs)-1) {
				t.Fatalf("%d bytes: done=%v at report %d of %d", n, done, i, len(rs))
			}
			if done && (typ != TypeFeatures || !bytes.Equal(got, payload)) {
				t.Fatalf("%d bytes: got type %v, %d bytes", n, typ, len(got))
			}
		}
		if a.InProgress() {
			t.Fatal("assembler still in progress after a message")
		}
	}
}

// TestAssemblerTrezorlibBytes decodes reports exactly as trezorlib 0.12's
// ProtocolV1.write produces them for PinMatrixAck(pin="1234").
func TestAssemblerTrezorlibBytes(t *testing.T) {
	r, _ := hex.DecodeString("3f23230013000000060a0431323334")
	r = append(r, make([]byte, 64-len(r))...)
	var a Assembler
	typ, payload, done, err := a.Add(r)
	if err != nil || !done || typ != TypePinMatrixAck {
		t.Fatalf("typ %v done %v err %v", typ, done, err)
	}
	var m PinMatrixAck
	if err := m.Unmarshal(payload); err != nil || m.Pin != "1234" {
		t.Fatalf("pin %q err %v", m.Pin, err)
	}
}

func TestAssemblerErrors(t *testing.T) {
	good, _ := EncodeReports(TypeTxAck, bytes.Repeat([]byte{1}, 100))
	for _, tc := range []struct {
		name    string
		reports [][]byte
		want    error
	}{
		{"bad first magic", [][]byte{append([]byte("?#!"), good[0][3:]...)}, ErrBadMagic},
		{"THP packet", [][]byte{append([]byte{0x40, 0xff, 0xff}, make([]byte, 61)...)}, ErrBadMagic},
		{"bad continuation", [][]byte{good[0], append([]byte{'!'}, good[1][1:]...)}, ErrBadMagic},
		{"short first", [][]byte{[]byte("?##\x00")}, ErrShortReport},
		{"empty continuation", [][]byte{good[0], {}}, ErrShortReport},
		{"too large", [][]byte{append([]byte("?##\x00\x16\x7f\xff\xff\xff"), make([]byte, 55)...)}, ErrTooLarge},
	} {
		var a Assembler
		var err error
		for _, r := range tc.reports {
			if _, _, _, err = a.Add(r); err != nil {
				break
			}
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
		if a.InProgress() {
			t.Errorf("%s: assembler not reset after an error", tc.name)
		}
		// The next well-formed message decodes.
		var got []byte
		for _, r := range good {
			_, p, done, err := a.Add(r)
			if err != nil {
				t.Fatalf("%s: after error: %v", tc.name, err)
			}
			if done {
				got = p
			}
		}
		if len(got) != 100 {
			t.Errorf("%s: message after an error: %d bytes", tc.name, len(got))
		}
	}
}

func TestAssemblerLimit(t *testing.T) {
	rs, _ := EncodeReports(TypeTxAck, make([]byte, 200))
	a := Assembler{Max: 100}
	if _, _, _, err := a.Add(rs[0]); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if _, err := EncodeReports(TypeTxAck, make([]byte, MaxMessageSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("encode err = %v", err)
	}
}

func TestInvalidProtocolReply(t *testing.T) {
	// The fixed reply of a THP-only device (interface_context.py).
	r := make([]byte, 64)
	copy(r, "?##\x00\x03\x00\x00\x00\x14\x08\x11")
	var a Assembler
	typ, payload, done, err := a.Add(r)
	if err != nil || !done {
		t.Fatalf("done %v err %v", done, err)
	}
	if !IsInvalidProtocol(typ, payload) {
		t.Fatal("not recognised as Failure_InvalidProtocol")
	}
	var f Failure
	if err := f.Unmarshal(payload); err == nil {
		t.Fatal("the zero-padded payload decoded as a Failure; the special case is not needed?")
	}
	if IsInvalidProtocol(TypeFailure, (&Failure{Code: FailureActionCancelled}).Marshal()) {
		t.Fatal("ActionCancelled taken for InvalidProtocol")
	}
}
