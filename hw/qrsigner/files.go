package qrsigner

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/qr/render"
	"github.com/countersign/countersign/internal/atomicfile"
)

// imageScale is the pixels a module in PNG and GIF files: a version 20
// code with its quiet zone is 420 pixels wide, comfortable on a phone or
// laptop screen and for the signer's camera.
const imageScale = 4

// Written names the files WriteDir wrote.
type Written struct {
	Dir    string
	Frames []string // frame-001.png, ... in order
	GIF    string
	Parts  string // parts.txt: one part a line, in order
}

// WriteDir writes the series into dir (created if missing): one PNG a
// frame, an animated GIF at fps, and parts.txt. prefix names the files
// ("psbt" gives psbt-001.png and psbt.gif). Each file is written
// atomically; an existing file of the same name is replaced.
func (s *Series) WriteDir(dir, prefix string, fps float64) (*Written, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, hw.Errorf(hw.ErrDevice, "create the QR output folder: %v", err)
	}
	w := &Written{Dir: dir, GIF: filepath.Join(dir, prefix+".gif"), Parts: filepath.Join(dir, "parts.txt")}
	codes, err := render.Series(s.Parts)
	if err != nil {
		return nil, err
	}
	for i, c := range codes {
		png, err := c.PNG(imageScale, 0)
		if err != nil {
			return nil, err
		}
		fn := filepath.Join(dir, fmt.Sprintf("%s-%03d.png", prefix, i+1))
		if err := write(fn, png); err != nil {
			return nil, err
		}
		w.Frames = append(w.Frames, fn)
	}
	var gif bytes.Buffer
	if fps <= 0 {
		fps = DefaultFPS
	}
	if err := render.GIF(&gif, s.Parts, imageScale, int(1000/fps)); err != nil {
		return nil, err
	}
	if err := write(w.GIF, gif.Bytes()); err != nil {
		return nil, err
	}
	if err := write(w.Parts, []byte(strings.Join(s.Parts, "\n")+"\n")); err != nil {
		return nil, err
	}
	return w, nil
}

func write(path string, data []byte) error {
	if err := atomicfile.WriteWith(path, data, atomicfile.Options{Perm: 0o644}); err != nil {
		return hw.Errorf(hw.ErrDevice, "%v", err)
	}
	return nil
}

// describe says what was written, for the prompt.
func (w *Written) describe() string {
	frames := fmt.Sprintf("%d QR frame", len(w.Frames))
	if len(w.Frames) != 1 {
		frames += "s"
	}
	return fmt.Sprintf("%s (%s … as PNG, animated in %s) and the parts as text in %s",
		frames, filepath.Base(w.Frames[0]), filepath.Base(w.GIF), w.Parts)
}
