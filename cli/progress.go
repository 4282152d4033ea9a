package cli

import (
	"fmt"
	"sync"
	"time"
)

// progress writes a single self-overwriting status line to stderr when it
// is a terminal, and nothing otherwise: scripts and logs stay clean.
type progress struct {
	s     *Streams
	mu    sync.Mutex
	last  time.Time
	shown bool
}

func newProgress(s *Streams) *progress { return &progress{s: s} }

// Update replaces the status line, at most ten times a second.
func (p *progress) Update(msg string) {
	if !p.s.StderrTTY {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.s.ErrOut, "\r\033[K%s", msg)
	p.shown = true
}

// Done clears the status line.
func (p *progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.s.ErrOut, "\r\033[K")
		p.shown = false
	}
}
