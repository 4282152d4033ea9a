package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/countersign/countersign/internal/atomicfile"
)

// readInput reads a file argument; "-" means stdin.
func readInput(s *Streams, path string) ([]byte, error) {
	if path == "-" {
		b, err := io.ReadAll(s.In)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, usagef("%s: no such file", path)
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
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
