package qrsigner

import (
	"bufio"
	"strings"
)

// maxLine bounds one scanned line. The largest QR code holds 4296
// alphanumeric characters; a line past this is no part of anything.
const maxLine = 64 << 10

// line is one line read from In, or the error that ended reading
// (io.EOF is reported by closing the channel).
type line struct {
	text string
	err  error
}

// input returns the channel of In's lines, started on first use and
// shared by every later call, so no line is lost to a reader left over
// from an earlier operation. It is closed at the end of In. A nil In
// gives a nil channel, which never delivers.
func (s *Signer) input() <-chan line {
	if s.o.In == nil {
		return nil
	}
	s.linesOnce.Do(func() {
		s.lines = make(chan line)
		go func() {
			defer close(s.lines)
			sc := bufio.NewScanner(s.o.In)
			sc.Buffer(make([]byte, 0, 4096), maxLine)
			for sc.Scan() {
				s.lines <- line{text: strings.TrimRight(sc.Text(), "\r")}
			}
			if err := sc.Err(); err != nil {
				s.lines <- line{err: err}
			}
		}()
	})
	return s.lines
}
