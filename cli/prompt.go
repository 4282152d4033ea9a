package cli

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Prompter asks a person questions at the terminal. Commands use it only
// when Streams.CanPrompt; tests replace it with a scripted one.
type Prompter interface {
	// Input asks for a line; an empty answer returns def.
	Input(question, def string) (string, error)
	// Select asks to pick one of options and returns its index.
	Select(question string, options []string, def int) (int, error)
	// Confirm asks a yes/no question.
	Confirm(question string, def bool) (bool, error)
}

// linePrompter reads answers line by line: plain, and it works in every
// terminal, over ssh and in tmux.
type linePrompter struct {
	in  *bufio.Reader
	out io.Writer
}

func newLinePrompter(s *Streams) *linePrompter {
	return &linePrompter{in: bufio.NewReader(s.In), out: s.ErrOut}
}

func (p *linePrompter) readLine() (string, error) {
	line, err := p.in.ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		if err == io.EOF {
			return "", errCancelled
		}
		return "", err
	}
	return strings.TrimSpace(line), nil
}

func (p *linePrompter) Input(question, def string) (string, error) {
	if def != "" {
		fmt.Fprintf(p.out, "? %s [%s]: ", question, def)
	} else {
		fmt.Fprintf(p.out, "? %s: ", question)
	}
	a, err := p.readLine()
	if err != nil {
		return "", err
	}
	if a == "" {
		return def, nil
	}
	return a, nil
}

func (p *linePrompter) Select(question string, options []string, def int) (int, error) {
	fmt.Fprintf(p.out, "? %s\n", question)
	for i, o := range options {
		fmt.Fprintf(p.out, "  %d) %s\n", i+1, o)
	}
	for {
		a, err := p.Input("Choose 1-"+strconv.Itoa(len(options)), strconv.Itoa(def+1))
		if err != nil {
			return 0, err
		}
		n, err := strconv.Atoi(a)
		if err == nil && n >= 1 && n <= len(options) {
			return n - 1, nil
		}
		fmt.Fprintf(p.out, "  Please enter a number from 1 to %d.\n", len(options))
	}
}

func (p *linePrompter) Confirm(question string, def bool) (bool, error) {
	d := "y/N"
	if def {
		d = "Y/n"
	}
	for {
		fmt.Fprintf(p.out, "? %s [%s]: ", question, d)
		a, err := p.readLine()
		if err != nil {
			return false, err
		}
		switch strings.ToLower(a) {
		case "":
			return def, nil
		case "y", "yes":
			return true, nil
		case "n", "no":
			return false, nil
		}
	}
}
