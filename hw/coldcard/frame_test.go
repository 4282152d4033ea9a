package coldcard

import (
	"bytes"
	"strings"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, n := range []int{4, 62, 63, 64, 126, 127, 1000, maxMsgLen} {
		for _, enc := range []bool{false, true} {
			msg := make([]byte, n)
			for i := range msg {
				msg[i] = byte(i * 7)
			}
			reports := frameMessage(msg, enc)
			if want := (n + 62) / 63; len(reports) != want {
				t.Fatalf("%d bytes: %d reports, want %d", n, len(reports), want)
			}
			a := assembler{max: maxMsgLen}
			for i, r := range reports {
				if len(r) != reportSize {
					t.Fatalf("report %d is %d bytes", i, len(r))
				}
				last := i == len(reports)-1
				if got := r[0]&flagLast != 0; got != last {
					t.Fatalf("report %d: last flag %v", i, got)
				}
				if got := r[0]&flagEncrypted != 0; got != (enc && last) {
					t.Fatalf("report %d: encrypted flag %v", i, got)
				}
				out, e, done, err := a.add(r)
				if err != nil {
					t.Fatal(err)
				}
				if done != last {
					t.Fatalf("report %d: done=%v", i, done)
				}
				if done && (!bytes.Equal(out, msg) || e != enc) {
					t.Fatalf("%d bytes: reassembled %d bytes, encrypted=%v", n, len(out), e)
				}
			}
		}
	}
}

func TestFrameErrors(t *testing.T) {
	full := func(hdr byte) []byte { r := make([]byte, reportSize); r[0] = hdr; return r }
	cases := []struct {
		name    string
		reports [][]byte
		want    string
	}{
		{"zero header", [][]byte{full(0)}, "zero frame header"},
		{"length beyond the report", [][]byte{full(0x80 | 40)[:20]}, "claims 40 bytes in a 20-byte report"},
		{"short report before the last", [][]byte{full(10)}, "must carry 63 bytes"},
		{"empty report", [][]byte{{}}, "empty report"},
		{"too long", func() [][]byte {
			var rs [][]byte
			for range maxMsgLen/63 + 1 {
				rs = append(rs, full(63))
			}
			return rs
		}(), "longer than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := assembler{max: maxMsgLen}
			var err error
			for _, r := range c.reports {
				if _, _, _, err = a.add(r); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

func TestResetReport(t *testing.T) {
	r := resetReport()
	if len(r) != reportSize || r[0] != flagLast {
		t.Fatalf("reset report %x", r)
	}
}

// FuzzAssembler feeds a stream of reports (the input cut into 64-byte
// pieces, the last possibly short) to the assembler: no panic, no message
// above the limit, and each completed message frames back into reports
// that reassemble to it. Seeds: testdata/fuzz/FuzzAssembler (every reply
// shape framed, plus the reports of a recorded emulator session).
func FuzzAssembler(f *testing.F) {
	f.Add(bytes.Join(frameMessage([]byte("okay-and-some-more-bytes-to-span-two-reports-of-the-hid-framing!!"), true), nil))
	f.Add([]byte{0})
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, stream []byte) {
		a := assembler{max: maxMsgLen}
		for off := 0; off < len(stream); off += reportSize {
			msg, enc, done, err := a.add(stream[off:min(off+reportSize, len(stream))])
			if err != nil {
				return
			}
			if !done {
				continue
			}
			if len(msg) > maxMsgLen {
				t.Fatalf("assembled a message of %d bytes", len(msg))
			}
			if len(msg) == 0 {
				continue // the reset report
			}
			b := assembler{max: maxMsgLen}
			for _, r := range frameMessage(msg, enc) {
				again, enc2, done, err := b.add(r)
				if err != nil {
					t.Fatalf("own framing of %x refused: %v", msg, err)
				}
				if done && (!bytes.Equal(again, msg) || enc2 != enc) {
					t.Fatalf("reframed %x came back as %x", msg, again)
				}
			}
		}
	})
}
