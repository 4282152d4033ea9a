package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/countersign/countersign/internal/atomicfile"
)

// readInput reads a file argument; "-" means stdin.
func readInput(s *Streams, path string) ([]byte, error) {
	limit := s.maxInput()
	tooLarge := func(name string) error {
		return usagef("%s is larger than %s, the most countersign reads from one input (no real PSBT or wallet file comes near it); raise it with COUNTERSIGN_MAX_INPUT_BYTES if you must", name, byteSize(limit))
	}
	if path == "-" {
		b, err := io.ReadAll(io.LimitReader(s.In, limit+1))
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		if int64(len(b)) > limit {
			return nil, tooLarge("stdin")
		}
		return b, nil
	}
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, usagef("%s: no such file", path)
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	switch {
	case st.IsDir():
		return nil, usagef("%s is a directory, not a file", path)
	case st.Mode().IsRegular() && st.Size() > limit:
		return nil, tooLarge(path)
	}
	// A regular file is read into a buffer of its size (a sweep's PSBT is
	// megabytes: growing one by doubling copies it twice over); anything
	// else, such as a pipe the user named (<(...)), up to the limit.
	var buf bytes.Buffer
	if st.Mode().IsRegular() {
		buf.Grow(int(st.Size()) + bytes.MinRead)
	}
	_, err = buf.ReadFrom(io.LimitReader(f, limit+1))
	b := buf.Bytes()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, tooLarge(path)
	}
	return b, nil
}

// DefaultMaxInput is the most bytes read from one input file or stdin: far
// above any real multisig PSBT (a 2,400-input one is about 3 MB with every
// previous transaction) or wallet file, and small enough that a hostile
// file cannot make a command take gigabytes of memory.
const DefaultMaxInput = 50 << 20

func (s *Streams) maxInput() int64 {
	if s.MaxInput > 0 {
		return s.MaxInput
	}
	return DefaultMaxInput
}

// parseMaxInput reads COUNTERSIGN_MAX_INPUT_BYTES: a number of bytes, or
// with a K, M or G suffix (powers of 1024).
func parseMaxInput(v string) (int64, error) {
	v = strings.TrimSpace(v)
	mult := int64(1)
	if n := len(v); n > 0 {
		switch strings.ToUpper(v[n-1:]) {
		case "K":
			mult, v = 1<<10, v[:n-1]
		case "M":
			mult, v = 1<<20, v[:n-1]
		case "G":
			mult, v = 1<<30, v[:n-1]
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("COUNTERSIGN_MAX_INPUT_BYTES=%q: give a positive number of bytes, e.g. 50M", v)
	}
	return n * mult, nil
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// writeOutput writes data to path atomically; "" or "-" means stdout.
func writeOutput(s *Streams, path string, data []byte) error {
	if path == "" || path == "-" {
		_, err := s.Out.Write(data)
		return err
	}
	return atomicfile.Write(path, data, 0o600)
}

// confirm asks a yes/no question on the terminal. Without a terminal it
// refuses, telling the user to pass --yes: scripts never see a prompt.
func confirm(s *Streams, yes bool, question string) error {
	if yes {
		return nil
	}
	if !s.CanPrompt() {
		return usagef("%s: refusing without confirmation; pass --yes to proceed non-interactively", strings.TrimSuffix(question, "?"))
	}
	fmt.Fprintf(s.ErrOut, "%s [y/N] ", question)
	var answer string
	fmt.Fscanln(s.In, &answer)
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return errCancelled
}
