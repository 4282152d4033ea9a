package render

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"io"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
)

var bw = color.Palette{color.White, color.Black}

// Image draws the code with scale pixels a module and a quiet zone of
// border modules (0 means DefaultBorder, negative none).
func (c *Code) Image(scale, border int) *image.Paletted {
	if scale < 1 {
		scale = 1
	}
	switch {
	case border < 0:
		border = 0
	case border == 0:
		border = DefaultBorder
	}
	n := c.Size() + 2*border
	img := image.NewPaletted(image.Rect(0, 0, n*scale, n*scale), bw)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if !c.dark(x, y, border) {
				continue
			}
			for dy := 0; dy < scale; dy++ {
				for dx := 0; dx < scale; dx++ {
					img.SetColorIndex(x*scale+dx, y*scale+dy, 1)
				}
			}
		}
	}
	return img
}

// PNG encodes the code as a PNG image.
func (c *Code) PNG(scale, border int) ([]byte, error) {
	var b bytes.Buffer
	if err := png.Encode(&b, c.Image(scale, border)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return b.Bytes(), nil
}

// GIF writes an endlessly looping animated GIF of the parts, all at one QR
// version, delayMS milliseconds a frame (0 means 250, BBQr.md's advice).
func GIF(w io.Writer, parts []string, scale, delayMS int) error {
	codes, err := Series(parts)
	if err != nil {
		return err
	}
	if delayMS <= 0 {
		delayMS = 250
	}
	anim := &gif.GIF{LoopCount: 0}
	for _, c := range codes {
		anim.Image = append(anim.Image, c.Image(scale, 0))
		anim.Delay = append(anim.Delay, max(delayMS/10, 2))
	}
	if err := gif.EncodeAll(w, anim); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// Decode reads one QR code from an image (PNG, GIF's first frame, JPEG
// if the caller registered it) and returns its text.
func Decode(r io.Reader) (string, error) {
	img, _, err := image.Decode(r)
	if err != nil {
		return "", fmt.Errorf("%w: not a readable image: %v", ErrInvalid, err)
	}
	return DecodeImage(img)
}

// DecodeImage reads one QR code from an image.
func DecodeImage(img image.Image) (string, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	// First as a photo or screenshot would need (finder-pattern
	// detection), then, for a clean rendering such as our own PNGs, by
	// reading the module grid directly: gozxing's detector misjudges the
	// module size of some perfectly sharp images at some scales.
	res, err := zxqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]interface{}{
		gozxing.DecodeHintType_TRY_HARDER: true,
	})
	if err != nil {
		var err2 error
		if res, err2 = zxqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]interface{}{
			gozxing.DecodeHintType_PURE_BARCODE: true,
		}); err2 != nil {
			return "", fmt.Errorf("%w: no QR code found in the image: %v", ErrInvalid, err)
		}
	}
	return res.GetText(), nil
}

// DecodeGIF reads every frame of an animated GIF (as GIF writes it) and
// returns the text of each.
func DecodeGIF(r io.Reader) ([]string, error) {
	g, err := gif.DecodeAll(r)
	if err != nil {
		return nil, fmt.Errorf("%w: not a GIF: %v", ErrInvalid, err)
	}
	out := make([]string, 0, len(g.Image))
	for i, f := range g.Image {
		s, err := DecodeImage(f)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", i+1, err)
		}
		out = append(out, s)
	}
	return out, nil
}
