package psbt

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestJoinInputs: a 500-input refusal spells out five inputs and counts
// the rest, and an error kind only the uncounted inputs have still
// decides errors.Is (the exit code).
func TestJoinInputs(t *testing.T) {
	errs := make([]error, 500)
	for i := range errs {
		if i%2 == 0 {
			errs[i] = fmt.Errorf("%w: input %d has 1 of the 2 signatures it needs", ErrRefused, i)
		}
	}
	errs[499] = fmt.Errorf("%w: input 499: bad", ErrMalformed)
	err := joinInputs(errs)
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 6 || !strings.Contains(lines[4], "input 8 ") || lines[5] != "... and 246 more inputs" {
		t.Fatalf("%d lines:\n%s", len(lines), err)
	}
	if !errors.Is(err, ErrRefused) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("errors.Is lost a kind: %v", err)
	}
	// Up to six errors are all spelled out; none is nil.
	if err := joinInputs([]error{nil, nil}); err != nil {
		t.Fatalf("no errors joined to %v", err)
	}
	six := []error{nil, errors.New("a"), errors.New("b"), errors.New("c"), errors.New("d"), errors.New("e"), errors.New("f")}
	if got := joinInputs(six).Error(); got != "a\nb\nc\nd\ne\nf" {
		t.Fatalf("six errors: %q", got)
	}
}
