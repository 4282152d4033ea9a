package qrsigner

import (
	"bufio"
	"fmt"
	"io"

	"github.com/countersign/countersign/hw/qr/render"
)

// screen draws a QR code with status lines under it, each frame over the
// last (ANSI cursor movement), on a terminal.
type screen struct {
	w      io.Writer
	width  int // columns; 0 means no limit
	height int // rows drawn by the last frame; 0 before the first
	hidden bool
}

// draw replaces what was drawn last with the code, a status (wrapped to
// two rows) and a hint (one row). Status text is the signer's own, with
// untrusted parts already quoted.
func (s *screen) draw(c *render.Code, status, hint string) error {
	bw := bufio.NewWriter(s.w)
	if !s.hidden {
		bw.WriteString("\x1b[?25l") // hide the cursor while animating
		s.hidden = true
	}
	s.up(bw)
	lines := c.Lines(render.TermOptions{ANSI: true, Border: TerminalBorder})
	for _, l := range lines {
		bw.WriteString(l)
		bw.WriteByte('\n')
	}
	rows := append(wrap(status, s.width, statusRows-1), wrap(hint, s.width, 1)...)
	for _, r := range rows {
		bw.WriteString(r)
		bw.WriteString("\x1b[K\n")
	}
	s.height = len(lines) + len(rows)
	return bw.Flush()
}

// up moves to the top of the last frame and clears everything below.
func (s *screen) up(bw *bufio.Writer) {
	if s.height > 0 {
		fmt.Fprintf(bw, "\x1b[%dA\r\x1b[J", s.height)
	}
}

// clear erases the last frame and shows the cursor again, leaving the
// terminal as it was before the first frame.
func (s *screen) clear() {
	if s.height == 0 && !s.hidden {
		return
	}
	bw := bufio.NewWriter(s.w)
	s.up(bw)
	bw.WriteString("\x1b[?25h")
	bw.Flush()
	s.height, s.hidden = 0, false
}

// wrap cuts text into at most n rows of width runes, breaking at spaces
// where it can and ending a cut-short last row with "…". width 0 keeps
// the text on one row.
func wrap(text string, width, n int) []string {
	r := []rune(text)
	if width <= 0 || len(r) <= width {
		return []string{text}
	}
	var rows []string
	for len(r) > 0 && len(rows) < n {
		if len(r) <= width {
			rows = append(rows, string(r))
			r = nil
			break
		}
		if len(rows) == n-1 {
			rows = append(rows, string(r[:width-1])+"…")
			r = nil
			break
		}
		cut := width
		for i := width; i > width/2; i-- {
			if r[i] == ' ' {
				cut = i
				break
			}
		}
		rows = append(rows, string(r[:cut]))
		r = r[cut:]
		for len(r) > 0 && r[0] == ' ' {
			r = r[1:]
		}
	}
	return rows
}
