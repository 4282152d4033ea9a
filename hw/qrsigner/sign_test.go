package qrsigner_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/fxamacker/cbor/v2"

	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/qr/bbqr"
	"github.com/countersign/countersign/hw/qr/render"
	"github.com/countersign/countersign/hw/qr/ur"
	"github.com/countersign/countersign/hw/qrsigner"
	"github.com/countersign/countersign/psbt"
)

// TestSignFromScannerLines: the signed PSBT comes back as lines of parts in
// any order, each twice, with junk and a part of another series between
// them; both transports are recognised by content and progress is
// reported once per new part.
func TestSignFromScannerLines(t *testing.T) {
	tw := newTestWallet(t)
	for _, tc := range []struct {
		name  string
		parts func(raw []byte) []string
		total int
	}{
		{"ur", func(raw []byte) []string { return urParts(t, raw, 60, 0) }, 0},
		{"ur-fountain-only", func(raw []byte) []string { return urParts(t, raw, 60, 30)[9:] }, 0},
		{"bbqr", func(raw []byte) []string { return bbqrParts(t, raw, bbqr.FileTypePSBT) }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tw.psbt(t)
			parts := tc.parts(tw.signed(t, p, 0))
			if len(parts) < 3 {
				t.Fatalf("only %d parts: the test wants a multi-part answer", len(parts))
			}
			in := []string{"", "hello scanner", "B$ZZ"}
			in = append(in, shuffled(parts)...)
			var status lines
			s := qrsigner.New(qrsigner.Options{In: strings.NewReader(strings.Join(in, "\r\n") + "\n"), Status: status.add})
			res, err := hw.NewSigner(s).Sign(context.Background(), p, tw.w)
			if err != nil {
				t.Fatal(err)
			}
			if res.Added != 1 || countSigs(res.PSBT) != 1 {
				t.Fatalf("added %d", res.Added)
			}
			got := status.all()
			if !strings.Contains(got, "Ignored a scan: not a BBQr or UR part: \"hello scanner\"") {
				t.Errorf("junk line not reported:\n%s", got)
			}
			if tc.name == "bbqr" {
				if want := "Answer: " + itoa(len(parts)) + "/" + itoa(len(parts)) + " parts"; !strings.Contains(got, want) {
					t.Errorf("no %q in:\n%s", want, got)
				}
				if n := strings.Count(got, "Answer: "); n != len(parts) {
					t.Errorf("%d progress lines for %d parts (repeats must not count):\n%s", n, len(parts), got)
				}
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestSignIgnoresWrongAnswers: a complete answer for another transaction,
// the unsigned PSBT itself and a mix of transports are each ignored with a
// note, and scanning goes on to the right answer.
func TestSignIgnoresWrongAnswers(t *testing.T) {
	tw := newTestWallet(t)
	p := tw.psbt(t)
	other := tw.psbt(t)
	other.UnsignedTx.TxOut[0].Value--
	otherRaw := tw.signed(t, other, 1)
	unsigned, _ := psbt.Serialize(p)
	good := urParts(t, tw.signed(t, p, 0), 80, 0)
	var in []string
	in = append(in, urParts(t, otherRaw, 80, 0)...)
	in = append(in, urParts(t, unsigned, 80, 0)...)
	in = append(in, good[0], bbqrParts(t, otherRaw, bbqr.FileTypePSBT)[0])
	in = append(in, good[1:]...)
	var status lines
	s := qrsigner.New(qrsigner.Options{In: strings.NewReader(strings.Join(in, "\n")), Status: status.add})
	res, err := hw.NewSigner(s).Sign(context.Background(), p, tw.w)
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 1 {
		t.Fatalf("added %d", res.Added)
	}
	got := status.all()
	for _, want := range []string{"a PSBT for another transaction", "the unsigned PSBT countersign showed", "a bbqr part in the middle of a ur answer"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in:\n%s", want, got)
		}
	}
}

// TestSignInputEnds: stdin ending early is a device error that says how
// far it got; an empty stdin says no answer came.
func TestSignInputEnds(t *testing.T) {
	tw := newTestWallet(t)
	p := tw.psbt(t)
	parts := bbqrParts(t, tw.signed(t, p, 0), bbqr.FileTypePSBT)
	for _, tc := range []struct {
		in, want string
	}{
		{parts[0] + "\n" + parts[1] + "\n", "the input ended with 2 of " + itoa(len(parts)) + " parts"},
		{"", "no answer came"},
	} {
		_, err := hw.NewSigner(qrsigner.New(qrsigner.Options{In: strings.NewReader(tc.in)})).Sign(context.Background(), p, tw.w)
		if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err %v, want %q", err, tc.want)
		}
	}
	// A BBQr of a finished transaction (Coldcard Q's "T") is not taken.
	tx := bbqrParts(t, bytes.Repeat([]byte{1}, 300), bbqr.FileTypeTransaction)
	var status lines
	_, err := hw.NewSigner(qrsigner.New(qrsigner.Options{In: strings.NewReader(strings.Join(tx, "\n")), Status: status.add})).Sign(context.Background(), p, tw.w)
	if err == nil || !strings.Contains(status.all(), "finished, fully signed transaction") {
		t.Errorf("finalized answer: %v\n%s", err, status.all())
	}
}

// TestSignCancel: Ctrl-C while waiting is not a pending success (nothing
// was signed: exit 130) and
// says how to go on.
func TestSignCancel(t *testing.T) {
	tw := newTestWallet(t)
	p := tw.psbt(t)
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := hw.NewSigner(qrsigner.New(qrsigner.Options{In: pr})).Sign(ctx, p, tw.w)
	if errors.Is(err, hw.ErrPending) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if !strings.Contains(err.Error(), "--from-image") || !strings.Contains(err.Error(), "--with qr:ur") {
		t.Errorf("no way forward in %q", err)
	}
}

// TestSignOnScreen animates the PSBT in a terminal of a given size and
// reads the answer typed by a scanner: each frame fits the terminal, a
// scan of countersign's own code is refused with a note, progress is drawn
// under the code, and the screen is cleared at the end.
func TestSignOnScreen(t *testing.T) {
	tw := newTestWallet(t)
	for _, f := range []qrsigner.Format{qrsigner.UR, qrsigner.BBQr} {
		t.Run(f.String(), func(t *testing.T) {
			p := tw.psbt(t)
			var answer []string
			raw := tw.signed(t, p, 0)
			if f == qrsigner.BBQr {
				answer = bbqrParts(t, raw, bbqr.FileTypePSBT)
			} else {
				answer = urParts(t, raw, 100, 0)
			}
			var scr lockedBuffer
			pr, pw := io.Pipe()
			s := qrsigner.New(qrsigner.Options{Format: f, Screen: &scr, In: pr, Width: 80, Height: 40, FPS: 50})
			go func() {
				// Wait for a frame, scan it back (the wrong screen), then
				// the device's answer.
				for !strings.Contains(scr.String(), "▀") {
					time.Sleep(5 * time.Millisecond)
				}
				own := ownPart(t, tw, p, f)
				io.WriteString(pw, own+"\n")
				for _, a := range answer {
					time.Sleep(20 * time.Millisecond)
					io.WriteString(pw, a+"\n")
				}
			}()
			res, err := hw.NewSigner(s).Sign(context.Background(), p, tw.w)
			if err != nil {
				t.Fatal(err)
			}
			if res.Added != 1 {
				t.Fatalf("added %d", res.Added)
			}
			out := scr.String()
			for _, want := range []string{"countersign's own QR code", "Answer: ", "\x1b[?25h"} {
				if !strings.Contains(out, want) {
					t.Errorf("screen lacks %q", want)
				}
			}
			checkFrames(t, out, 80, 40)
		})
	}
}

// ownPart is the first part countersign shows for p in format f, as the
// scanner would type it.
func ownPart(t *testing.T, tw *testWallet, p *bpsbt.Packet, f qrsigner.Format) string {
	t.Helper()
	dir := t.TempDir()
	_, err := hw.NewSigner(qrsigner.New(qrsigner.Options{Format: f, OutDir: dir, Width: 80, Height: 40})).Sign(context.Background(), p, tw.w)
	if !errors.Is(err, hw.ErrPending) {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "parts.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitN(string(b), "\n", 2)[0]
}

// checkFrames checks that every drawn line fits width columns and every
// frame height rows.
func checkFrames(t *testing.T, out string, width, height int) {
	t.Helper()
	frames := strings.Split(out, "\x1b[J")
	for _, fr := range frames {
		rows := strings.Split(strings.TrimRight(fr, "\n"), "\n")
		if len(rows) > height-1 { // the cursor rests on the row below
			t.Fatalf("a frame of %d rows in a %d-row terminal", len(rows), height)
		}
		for _, r := range rows {
			if n := visible(r); n > width {
				t.Fatalf("a row of %d columns in an %d-column terminal: %q", n, width, r)
			}
		}
	}
}

// visible counts the runes of a line outside ANSI escape sequences.
func visible(s string) int {
	n, esc := 0, false
	for _, r := range s {
		switch {
		case esc:
			if r >= '@' && r <= '~' && r != '[' {
				esc = false
			}
		case r == 0x1b:
			esc = true
		default:
			n++
		}
	}
	return n
}

// TestQROutPending: --qr-out writes the frames, a GIF and parts.txt that
// decode back to the PSBT, then returns pending with the way forward.
func TestQROutPending(t *testing.T) {
	tw := newTestWallet(t)
	for _, f := range []qrsigner.Format{qrsigner.UR, qrsigner.BBQr} {
		t.Run(f.String(), func(t *testing.T) {
			p := tw.psbt(t)
			dir := filepath.Join(t.TempDir(), "qr")
			var pr lines
			_, err := hw.NewSigner(qrsigner.New(qrsigner.Options{Format: f, OutDir: dir, MaxFragment: 120, Prompt: pr.add})).Sign(context.Background(), p, tw.w)
			if !errors.Is(err, hw.ErrPending) || errors.Is(err, hw.ErrDevice) {
				t.Fatalf("err %v", err)
			}
			if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "--with qr:"+f.String()) {
				t.Errorf("pending message %q", err)
			}
			b, err := os.ReadFile(filepath.Join(dir, "parts.txt"))
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.Fields(string(b))
			if len(parts) < 2 {
				t.Fatalf("%d parts for %d bytes at --max-fragment 120", len(parts), 0)
			}
			raw, _ := psbt.Serialize(p)
			if got := joinParts(t, parts); !bytes.Equal(got, raw) {
				t.Fatal("parts.txt does not decode to the PSBT")
			}
			// Every frame and the GIF read back (through gozxing) to the
			// same parts.
			for i, part := range parts {
				fr, err := os.Open(filepath.Join(dir, "psbt-"+pad3(i+1)+".png"))
				if err != nil {
					t.Fatal(err)
				}
				txt, err := render.Decode(fr)
				fr.Close()
				if err != nil || txt != part {
					t.Fatalf("frame %d: %q, %v", i+1, txt, err)
				}
			}
			g, err := os.Open(filepath.Join(dir, "psbt.gif"))
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			texts, err := render.DecodeGIF(g)
			if err != nil || strings.Join(texts, "\n") != strings.Join(parts, "\n") {
				t.Fatalf("GIF: %v", err)
			}
			if !strings.Contains(pr.all(), "parts.txt") {
				t.Errorf("prompt %q", pr.all())
			}
		})
	}
}

func pad3(n int) string {
	s := itoa(n)
	for len(s) < 3 {
		s = "0" + s
	}
	return s
}

// joinParts decodes a full set of parts of either transport.
func joinParts(t *testing.T, parts []string) []byte {
	t.Helper()
	if strings.HasPrefix(parts[0], "B$") {
		_, data, err := bbqr.Join(parts)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	var d ur.Decoder
	for _, p := range parts {
		if _, err := d.Receive(p); err != nil {
			t.Fatal(err)
		}
	}
	u, err := d.Result()
	if err != nil {
		t.Fatal(err)
	}
	if u.Type == ur.TypeCryptoPSBT || u.Type == ur.TypePSBT {
		raw, err := ur.PSBTFromUR(u)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	return u.CBOR
}

// TestSignFromImages reads the answer from PNG files and from an animated
// GIF, decoded in Go; a missing frame says how many are there.
func TestSignFromImages(t *testing.T) {
	tw := newTestWallet(t)
	p := tw.psbt(t)
	parts := urParts(t, tw.signed(t, p, 0), 120, 0)
	dir := t.TempDir()
	pngs := writePNGs(t, dir, parts)
	// Reversed order and a repeat.
	files := []string{pngs[len(pngs)-1]}
	for i := len(pngs) - 1; i >= 0; i-- {
		files = append(files, pngs[i])
	}
	res, err := hw.NewSigner(qrsigner.New(qrsigner.Options{Images: files})).Sign(context.Background(), p, tw.w)
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 1 {
		t.Fatalf("added %d", res.Added)
	}

	gif := filepath.Join(dir, "answer.gif")
	bp := bbqrParts(t, tw.signed(t, p, 0), bbqr.FileTypePSBT)
	var b bytes.Buffer
	if err := render.GIF(&b, bp, 3, 100); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(gif, b.Bytes(), 0o644)
	if res, err := hw.NewSigner(qrsigner.New(qrsigner.Options{Format: qrsigner.BBQr, Images: []string{gif}})).Sign(context.Background(), p, tw.w); err != nil || res.Added != 1 {
		t.Fatalf("GIF: %v", err)
	}

	_, err = hw.NewSigner(qrsigner.New(qrsigner.Options{Images: pngs[1:]})).Sign(context.Background(), p, tw.w)
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "hold "+itoa(len(pngs)-1)+" of "+itoa(len(pngs))+" parts") {
		t.Fatalf("missing frame: %v", err)
	}
	notQR := filepath.Join(dir, "blank.png")
	blank, _ := render.New("X", 1)
	img, _ := blank.PNG(2, 0)
	os.WriteFile(notQR, img, 0o644)
	_, err = hw.NewSigner(qrsigner.New(qrsigner.Options{Images: []string{notQR}})).Sign(context.Background(), p, tw.w)
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "not a BBQr or UR part") {
		t.Fatalf("foreign QR: %v", err)
	}
	_, err = hw.NewSigner(qrsigner.New(qrsigner.Options{Images: []string{filepath.Join(dir, "missing.png")}})).Sign(context.Background(), p, tw.w)
	if !errors.Is(err, hw.ErrDevice) || errors.Is(err, hw.ErrDisconnected) {
		t.Fatalf("missing file: %v", err)
	}
}

// TestTerminalSize: the code is chosen to fit the terminal; one too small
// for any code says so.
func TestTerminalSize(t *testing.T) {
	tw := newTestWallet(t)
	p := tw.psbt(t)
	_, err := hw.NewSigner(qrsigner.New(qrsigner.Options{Screen: io.Discard, In: strings.NewReader(""), Width: 20, Height: 10})).Sign(context.Background(), p, tw.w)
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "too small") {
		t.Fatalf("tiny terminal: %v", err)
	}
	for _, size := range [][2]int{{80, 24}, {120, 40}, {200, 60}} {
		var scr lockedBuffer
		_, err := hw.NewSigner(qrsigner.New(qrsigner.Options{Screen: &scr, In: strings.NewReader(""), Width: size[0], Height: size[1]})).Sign(context.Background(), p, tw.w)
		if !errors.Is(err, hw.ErrDevice) { // no answer on the empty input
			t.Fatal(err)
		}
		checkFrames(t, scr.String(), size[0], size[1])
	}
}

// TestUnsupported: what a camera signer cannot do is ErrUnsupported with
// the way to do it on the device.
func TestUnsupported(t *testing.T) {
	tw := newTestWallet(t)
	s := hw.NewSigner(qrsigner.New(qrsigner.Options{}))
	ctx := context.Background()
	if _, err := s.Fingerprint(ctx); !errors.Is(err, hw.ErrUnsupported) || !strings.Contains(err.Error(), "crypto-account") {
		t.Errorf("fingerprint: %v", err)
	}
	if _, err := s.Xpub(ctx, nil); !errors.Is(err, hw.ErrUnsupported) || !strings.Contains(err.Error(), "--cosigner") {
		t.Errorf("xpub: %v", err)
	}
	if _, err := s.DisplayAddress(ctx, tw.w, 0, 0); !errors.Is(err, hw.ErrUnsupported) {
		t.Errorf("address: %v", err)
	}
	// With nowhere to show the PSBT, signing says so.
	if _, err := s.Sign(ctx, tw.psbt(t), tw.w); !errors.Is(err, hw.ErrUnsupported) || !strings.Contains(err.Error(), "--qr-out") {
		t.Errorf("sign without a terminal: %v", err)
	}
	if _, err := qrsigner.ParseFormat("qrz"); !errors.Is(err, hw.ErrBadSelector) {
		t.Errorf("format: %v", err)
	}
}

// misread corrupts one byte of a multi-part UR's fragment and re-encodes
// the part with a valid part checksum, as a camera misreading a code
// whose own error correction failed silently would.
func misread(t *testing.T, part string) string {
	t.Helper()
	i := strings.LastIndexByte(part, '/')
	payload, err := ur.DecodeBytewords(ur.Minimal, strings.ToLower(part[i+1:]))
	if err != nil {
		t.Fatal(err)
	}
	var fields []any
	if err := cbor.Unmarshal(payload, &fields); err != nil || len(fields) != 5 {
		t.Fatalf("fragment CBOR: %v", err)
	}
	data := fields[4].([]byte)
	data[0] ^= 0xff
	b, err := cbor.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return part[:i+1] + ur.EncodeBytewords(ur.Minimal, b)
}

// TestSignRecoversFromMisread: an answer that reassembles to the wrong
// checksum restarts the collection with a note, and a clean pass then
// signs.
func TestSignRecoversFromMisread(t *testing.T) {
	tw := newTestWallet(t)
	p := tw.psbt(t)
	parts := urParts(t, tw.signed(t, p, 0), 80, 0)
	in := append([]string{misread(t, parts[0])}, parts[1:]...)
	in = append(in, parts...)
	var status lines
	res, err := hw.NewSigner(qrsigner.New(qrsigner.Options{In: strings.NewReader(strings.Join(in, "\n")), Status: status.add})).Sign(context.Background(), p, tw.w)
	if err != nil || res.Added != 1 {
		t.Fatalf("%v\n%s", err, status.all())
	}
	if !strings.Contains(status.all(), "scanning starts over") {
		t.Fatalf("no note of the misread:\n%s", status.all())
	}
}
