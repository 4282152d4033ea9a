package render

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/hw/qr/bbqr"
	"github.com/countersign/countersign/hw/qr/ur"
)

// EnvRequireInterop makes interop tests fail instead of skipping when a
// peer (here zbarimg from Debian's zbar-tools) is missing.
const EnvRequireInterop = "COUNTERSIGN_REQUIRE_INTEROP"

// TestAlnumCapacityTable checks BBQr's capacity table against go-qrcode:
// a string of exactly the listed number of alphanumeric characters fits
// the version at level L, one more does not.
func TestAlnumCapacityTable(t *testing.T) {
	for v := 1; v <= 40; v++ {
		n := bbqr.AlnumCapacity(v)
		if _, err := New(strings.Repeat("B", n), v); err != nil {
			t.Fatalf("version %d: %d characters do not fit: %v", v, n, err)
		}
		if _, err := New(strings.Repeat("B", n+1), v); err == nil {
			t.Fatalf("version %d: %d characters fit, table says %d", v, n+1, n)
		}
	}
}

func testParts(t *testing.T) (bbqrParts, urParts []string) {
	t.Helper()
	data := bytes.Repeat([]byte("countersign PSBT "), 120)
	bbqrParts, _, err := bbqr.Split(data, bbqr.FileTypeUnicode, bbqr.SplitOptions{MaxVersion: 10})
	if err != nil {
		t.Fatal(err)
	}
	e, err := ur.NewEncoder("bytes", append([]byte{0x59, 0x07, 0xf8}, data...), 120, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range e.Parts(e.SeqLen() + 2) {
		urParts = append(urParts, ForQR(p))
	}
	return bbqrParts, urParts
}

// TestSeriesUsesAlphanumeric: a BBQr series split for version 10 renders
// at version 10 or below, which only alphanumeric mode allows.
func TestSeriesUsesAlphanumeric(t *testing.T) {
	bp, up := testParts(t)
	v, err := SeriesVersion(bp)
	if err != nil || v > 10 {
		t.Fatalf("BBQr series at version %d: %v", v, err)
	}
	// Upper-case URs need a smaller code than lower case ones.
	lower, _ := New(strings.ToLower(up[0]), 0)
	upper, _ := New(up[0], 0)
	if upper.Version >= lower.Version {
		t.Fatalf("upper-case UR version %d, lower-case %d", upper.Version, lower.Version)
	}
	if ForQR("B$HP0100AB") != "B$HP0100AB" || ForQR("ur:bytes/aa") != "UR:BYTES/AA" {
		t.Fatal("ForQR")
	}
}

// TestPNGRoundTrip decodes our PNGs with gozxing.
func TestPNGRoundTrip(t *testing.T) {
	bp, up := testParts(t)
	for _, p := range append(bp, up...) {
		c, err := New(p, 0)
		if err != nil {
			t.Fatal(err)
		}
		for scale := 2; scale <= 5; scale++ {
			png, err := c.PNG(scale, 0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(bytes.NewReader(png))
			if err != nil || got != p {
				t.Fatalf("scale %d: decoded %q: %v", scale, got, err)
			}
		}
	}
	if _, err := Decode(strings.NewReader("not an image")); err == nil {
		t.Fatal("garbage decoded")
	}
}

func TestGIFRoundTrip(t *testing.T) {
	bp, _ := testParts(t)
	var b bytes.Buffer
	if err := GIF(&b, bp, 2, 0); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeGIF(bytes.NewReader(b.Bytes()))
	if err != nil || strings.Join(got, "\n") != strings.Join(bp, "\n") {
		t.Fatalf("frames %d: %v", len(got), err)
	}
}

// TestTerminalLines reads the half-block rows back into modules.
func TestTerminalLines(t *testing.T) {
	c, err := New("B$HP0100"+strings.Repeat("AB", 40), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []TermOptions{{}, {Invert: true}, {ANSI: true}, {Border: 2}, {Border: -1}} {
		lines := c.Lines(o)
		b := o.border()
		n := c.Size() + 2*b
		if len(lines) != (n+1)/2 {
			t.Fatalf("%+v: %d rows for %d modules", o, len(lines), n)
		}
		for row, l := range lines {
			if o.ANSI {
				l = strings.TrimSuffix(strings.TrimPrefix(l, "\x1b[97;40m"), "\x1b[0m")
			}
			runes := []rune(l)
			if len(runes) != n {
				t.Fatalf("%+v row %d: %d columns want %d", o, row, len(runes), n)
			}
			for x, r := range runes {
				top := r == '█' || r == '▀'
				bottom := r == '█' || r == '▄'
				if o.Invert {
					top = !top
					bottom = !bottom
				}
				if top == c.dark(x, 2*row, b) {
					t.Fatalf("%+v: module (%d,%d) wrong", o, x, 2*row)
				}
				if 2*row+1 < n && bottom == c.dark(x, 2*row+1, b) {
					t.Fatalf("%+v: module (%d,%d) wrong", o, x, 2*row+1)
				}
			}
		}
	}
}

func TestAnimateTerminal(t *testing.T) {
	bp, up := testParts(t)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := AnimateTerminal(ctx, &out, bp, 20); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.HasPrefix(s, "\x1b[?25l") || !strings.HasSuffix(s, "\x1b[?25h") || strings.Count(s, "A\r\x1b[J") < 2 {
		t.Fatalf("no in-place redraw in %d bytes of output", len(s))
	}
	e, _ := ur.NewEncoder("bytes", []byte{0x58, 0xff}, 30, 10)
	_ = e
	i := 0
	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	out.Reset()
	if err := AnimateTerminalFunc(ctx2, &out, func() string { i++; return up[i%len(up)] }, 0, 30); err != nil || i < 2 {
		t.Fatalf("%d frames: %v", i, err)
	}
}

// TestZbarReadsOurPNGs is the cross-check with a QR reader no one here
// wrote: Debian's zbarimg reads every PNG frame back to the same part.
func TestZbarReadsOurPNGs(t *testing.T) {
	zbar, err := exec.LookPath("zbarimg")
	if err != nil {
		if os.Getenv(EnvRequireInterop) == "1" {
			t.Fatalf("zbarimg is missing (apt-get install zbar-tools); %s=1 requires this test", EnvRequireInterop)
		}
		t.Skip("zbarimg is not installed: apt-get install zbar-tools to run the QR image cross-check")
	}
	bp, up := testParts(t)
	parts := append(bp, up...)
	codes, err := Series(bp)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i, p := range parts {
		c := (*Code)(nil)
		if i < len(codes) {
			c = codes[i]
		} else if c, err = New(p, 0); err != nil {
			t.Fatal(err)
		}
		png, err := c.PNG(4, 0)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, "frame.png")
		if err := os.WriteFile(f, png, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(zbar, "--raw", "-q", "-Sdisable", "-Sqrcode.enable", f).Output()
		if err != nil {
			t.Fatalf("zbarimg on part %d: %v", i+1, err)
		}
		if got := strings.TrimRight(string(out), "\n"); got != p {
			t.Fatalf("zbarimg read part %d as %q, want %q", i+1, got, p)
		}
	}
}

// TestURFitsVersion: parts made with ur.MaxFragmentLen for a version's
// capacity render at that version or below, fountain parts included.
func TestURFitsVersion(t *testing.T) {
	msg := bytes.Repeat([]byte{0x42}, 9000)
	for _, v := range []int{8, 12, 20, 30} {
		frag := ur.MaxFragmentLen(ur.TypeCryptoPSBT, bbqr.AlnumCapacity(v))
		e, err := ur.NewEncoder(ur.TypeCryptoPSBT, append([]byte{0x59, 0x23, 0x28}, msg...), frag, 10)
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, p := range e.Parts(e.SeqLen() + 5) {
			parts = append(parts, ForQR(p))
		}
		got, err := SeriesVersion(parts)
		if err != nil || got > v {
			t.Fatalf("fragments of %d bytes for version %d render at version %d: %v", frag, v, got, err)
		}
		t.Logf("version %d: %d-byte fragments, %d parts, rendered at version %d", v, frag, e.SeqLen(), got)
	}
}
