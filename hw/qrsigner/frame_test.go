package qrsigner_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/qr/render"
	"github.com/countersign/countersign/hw/qrsigner"
)

// frameImage turns one frame of half-block rows (ANSI mode: a lit glyph
// half is a light module) back into a picture, 4 pixels a module, and
// returns it with the rows it used.
func frameImage(rows []string) image.Image {
	var grid [][]bool // true = light
	for _, r := range rows {
		r = stripANSI(r)
		if !strings.ContainsAny(r, "█▀▄") {
			break // the status lines under the code
		}
		top, bottom := make([]bool, 0, len(r)), make([]bool, 0, len(r))
		for _, c := range r {
			top = append(top, c == '█' || c == '▀')
			bottom = append(bottom, c == '█' || c == '▄')
		}
		grid = append(grid, top, bottom)
	}
	const s = 4
	// The terminal around the code is dark: the picture's margin is.
	img := image.NewGray(image.Rect(0, 0, (len(grid[0])+8)*s, (len(grid)+8)*s))
	for y, row := range grid {
		for x, light := range row {
			if !light {
				continue
			}
			for dy := 0; dy < s; dy++ {
				for dx := 0; dx < s; dx++ {
					img.Set((x+4)*s+dx, (y+4)*s+dy, color.Gray{Y: 0xff})
				}
			}
		}
	}
	return img
}

func stripANSI(s string) string {
	var b strings.Builder
	esc := false
	for _, r := range s {
		switch {
		case esc:
			if r >= '@' && r <= '~' && r != '[' {
				esc = false
			}
		case r == 0x1b:
			esc = true
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestTerminalFramesDecode: what is drawn in the terminal, with its
// two-module quiet zone and the terminal's dark background around it,
// reads back as the parts of the PSBT when a decoder (gozxing) looks at a
// picture of the cells.
func TestTerminalFramesDecode(t *testing.T) {
	tw := newTestWallet(t)
	p := tw.psbt(t)
	var scr lockedBuffer
	pr, pw := io.Pipe()
	go func() {
		for strings.Count(scr.String(), "\x1b[J") < 4 {
			time.Sleep(5 * time.Millisecond)
		}
		pw.Close() // no answer: the signer stops with an error
	}()
	s := qrsigner.New(qrsigner.Options{Screen: &scr, In: pr, Width: 100, Height: 50, FPS: 100, MaxFragment: 60})
	if _, err := hw.NewSigner(s).Sign(context.Background(), p, tw.w); !errors.Is(err, hw.ErrDevice) {
		t.Fatal(err)
	}
	zbar := zbarPath(t)
	frames := strings.Split(scr.String(), "\x1b[J")
	seen := 0
	for _, fr := range frames {
		rows := strings.Split(fr, "\n")
		if len(rows) < 10 || !strings.Contains(fr, "█") {
			continue
		}
		img := frameImage(rows)
		text, err := render.DecodeImage(img)
		if err != nil {
			t.Fatalf("frame %d does not decode: %v", seen+1, err)
		}
		if !strings.HasPrefix(text, "UR:CRYPTO-PSBT/") {
			t.Fatalf("frame %d reads %.30q", seen+1, text)
		}
		if zbar != "" {
			if got := zbarRead(t, zbar, img); got != text {
				t.Fatalf("zbarimg reads frame %d as %.30q, gozxing as %.30q", seen+1, got, text)
			}
		}
		seen++
	}
	if seen < 2 {
		t.Fatalf("%d frames decoded", seen)
	}
}

// zbarPath finds Debian's zbarimg, a QR reader no one here wrote (apt
// package zbar-tools). Missing, it skips that check, or fails the test
// when COUNTERSIGN_REQUIRE_INTEROP=1.
func zbarPath(t *testing.T) string {
	p, err := exec.LookPath("zbarimg")
	if err != nil {
		if os.Getenv("COUNTERSIGN_REQUIRE_INTEROP") == "1" {
			t.Fatal("zbarimg is missing (apt-get install zbar-tools); COUNTERSIGN_REQUIRE_INTEROP=1 requires it")
		}
		t.Log("zbarimg is not installed: the terminal frames are read by gozxing only")
		return ""
	}
	return p
}

func zbarRead(t *testing.T, zbar string, img image.Image) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "frame.png")
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(zbar, "--raw", "-q", "-Sdisable", "-Sqrcode.enable", f).Output()
	if err != nil {
		t.Fatalf("zbarimg: %v", err)
	}
	return strings.TrimRight(string(out), "\n")
}
