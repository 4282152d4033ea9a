package render

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"
)

// TermOptions tune terminal output.
type TermOptions struct {
	// Border is the quiet zone in modules; 0 means DefaultBorder, a
	// negative value none.
	Border int
	// ANSI paints the code white on black with escape codes, so it reads
	// the same on light and dark terminal themes. Without it the light
	// modules are drawn as block characters, which suits the usual light
	// text on a dark background; Invert swaps that for dark-on-light
	// terminals.
	ANSI   bool
	Invert bool
}

func (o TermOptions) border() int {
	switch {
	case o.Border < 0:
		return 0
	case o.Border == 0:
		return DefaultBorder
	}
	return o.Border
}

// Lines returns the terminal rows of the code: two module rows per text
// row using the half blocks ▀ ▄ █ and spaces.
func (c *Code) Lines(o TermOptions) []string {
	b := o.border()
	n := c.Size() + 2*b
	var rows []string
	for y := 0; y < n; y += 2 {
		line := make([]rune, 0, n)
		for x := 0; x < n; x++ {
			// "lit" cells are drawn with the glyph (foreground colour).
			top := !c.dark(x, y, b)
			bottom := y+1 < n && !c.dark(x, y+1, b)
			if y+1 >= n {
				// The last row of an odd height: the half below the code
				// is left unlit; with ANSI it shows the black background.
				bottom = false
			}
			if o.Invert && !o.ANSI {
				top, bottom = !top, y+1 < n && !bottom
			}
			switch {
			case top && bottom:
				line = append(line, '█')
			case top:
				line = append(line, '▀')
			case bottom:
				line = append(line, '▄')
			default:
				line = append(line, ' ')
			}
		}
		s := string(line)
		if o.ANSI {
			s = "\x1b[97;40m" + s + "\x1b[0m"
		}
		rows = append(rows, s)
	}
	return rows
}

// Terminal writes the code as text rows.
func (c *Code) Terminal(w io.Writer, o TermOptions) error {
	bw := bufio.NewWriter(w)
	for _, l := range c.Lines(o) {
		bw.WriteString(l)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// AnimateTerminal shows the parts one after another at fps frames a
// second, redrawing in place with ANSI cursor movement, until ctx ends.
// All parts are drawn at one QR version so the code does not jump. It
// returns nil when ctx ends and an error only if writing fails.
func AnimateTerminal(ctx context.Context, w io.Writer, parts []string, fps float64) error {
	codes, err := Series(parts)
	if err != nil {
		return err
	}
	i := 0
	return animate(ctx, w, fps, TermOptions{ANSI: true}, func() (*Code, error) {
		c := codes[i%len(codes)]
		i++
		return c, nil
	})
}

// AnimateTerminalFunc is AnimateTerminal for an endless source of parts,
// such as a UR Encoder's NextPart (fountain parts keep coming after the
// first sequence). version fixes the QR version; 0 picks the smallest that
// holds the first part, growing when a later part needs more.
func AnimateTerminalFunc(ctx context.Context, w io.Writer, next func() string, version int, fps float64) error {
	return animate(ctx, w, fps, TermOptions{ANSI: true}, func() (*Code, error) {
		p := next()
		c, err := New(p, version)
		if err != nil && version > 0 {
			c, err = New(p, 0) // a part longer than the first: grow
		}
		if err != nil {
			return nil, err
		}
		version = max(version, c.Version)
		return c, nil
	})
}

func animate(ctx context.Context, w io.Writer, fps float64, o TermOptions, frame func() (*Code, error)) error {
	if fps <= 0 {
		fps = 4 // BBQr.md: 250 ms a frame suits the Coldcard Q
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / fps))
	defer tick.Stop()
	bw := bufio.NewWriter(w)
	height := 0
	defer func() {
		bw.WriteString("\x1b[?25h") // show the cursor again
		bw.Flush()
	}()
	bw.WriteString("\x1b[?25l")
	for {
		c, err := frame()
		if err != nil {
			return err
		}
		if height > 0 {
			// Back to the top of the previous frame and clear below.
			fmt.Fprintf(bw, "\x1b[%dA\r\x1b[J", height)
		}
		lines := c.Lines(o)
		for _, l := range lines {
			bw.WriteString(l)
			bw.WriteByte('\n')
		}
		height = len(lines)
		if err := bw.Flush(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
