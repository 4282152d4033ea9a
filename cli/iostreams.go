package cli

import (
	"bytes"
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
}

// SystemStreams wires the process's real streams and detects terminals.
func SystemStreams() *Streams {
	return &Streams{
		In:        os.Stdin,
		Out:       os.Stdout,
		ErrOut:    os.Stderr,
		StdinTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		StdoutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		StderrTTY: term.IsTerminal(int(os.Stderr.Fd())),
	}
}

// TestStreams returns streams backed by buffers, none a terminal.
func TestStreams() (*Streams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &Streams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

// CanPrompt reports whether we may ask the user something: only when both
// stdin and stderr (where prompts go) are terminals. Scripts never see a prompt.
func (s *Streams) CanPrompt() bool { return s.StdinTTY && s.StderrTTY }
