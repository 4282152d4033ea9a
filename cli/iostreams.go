package cli

import (
	"bytes"
	"errors"
	"io"
	"os"

	"golang.org/x/term"
)

// Streams are the three standard streams plus what we know about them. Data
// goes to Out, everything else (progress, prompts, warnings) to ErrOut.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	StdinTTY  bool
	StdoutTTY bool
	StderrTTY bool

	// TermSize reports the terminal's columns and rows (for QR codes); nil
	// or an error means unknown.
	TermSize func() (width, height int, err error)
	// ScanIn, when set, replaces In for what a USB QR scanner types at a
	// terminal: lines with echo off, so the scan does not scribble over
	// the animation. restore puts the terminal back.
	ScanIn func() (in io.Reader, restore func())

	// MaxInput is the most bytes read from one input file or stdin; 0:
	// DefaultMaxInput. Set from COUNTERSIGN_MAX_INPUT_BYTES.
	MaxInput int64
}

// SystemStreams wires the process's real streams and detects terminals.
func SystemStreams() *Streams {
	s := &Streams{
		In:        os.Stdin,
		Out:       os.Stdout,
		ErrOut:    os.Stderr,
		StdinTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		StdoutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		StderrTTY: term.IsTerminal(int(os.Stderr.Fd())),
		TermSize: func() (int, int, error) {
			for _, f := range []*os.File{os.Stderr, os.Stdout, os.Stdin} {
				if w, h, err := term.GetSize(int(f.Fd())); err == nil {
					return w, h, nil
				}
			}
			return 0, 0, errors.New("no terminal")
		},
	}
	if s.StdinTTY {
		s.ScanIn = func() (io.Reader, func()) { return noEchoLines(int(os.Stdin.Fd())) }
	}
	return s
}

// scanner returns what a USB QR scanner types: ScanIn at a terminal,
// else In (parts piped in).
func (s *Streams) scanner() (io.Reader, func()) {
	if s.ScanIn != nil {
		return s.ScanIn()
	}
	return s.In, func() {}
}

// noEchoLines reads the terminal line by line with echo off (a scanner
// types a part and Enter), keeping Ctrl-C and Ctrl-D working. restore
// puts the terminal back as it was, also when a read is left blocked by
// Ctrl-C.
func noEchoLines(fd int) (io.Reader, func()) {
	st, err := term.GetState(fd)
	if err != nil {
		return os.Stdin, func() {}
	}
	return &noEchoReader{fd: fd}, func() { _ = term.Restore(fd, st) }
}

type noEchoReader struct {
	fd  int
	buf []byte
}

func (r *noEchoReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		line, err := term.ReadPassword(r.fd)
		if err != nil && len(line) == 0 {
			return 0, err
		}
		r.buf = append(line, '\n')
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// termSize is the terminal's size, 0, 0 when unknown.
func (s *Streams) termSize() (int, int) {
	if s.TermSize == nil {
		return 0, 0
	}
	w, h, err := s.TermSize()
	if err != nil {
		return 0, 0
	}
	return w, h
}

// TestStreams returns streams backed by buffers, none a terminal.
func TestStreams() (*Streams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &Streams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

// CanPrompt reports whether we may ask the user something: only when both
// stdin and stderr (where prompts go) are terminals. Scripts never see a prompt.
func (s *Streams) CanPrompt() bool { return s.StdinTTY && s.StderrTTY }
