package wallet

import (
	"fmt"
	"slices"
)

// Check is the outcome of one integrity check of a data directory, as
// `countersign doctor` reports it. Build one with NewCheck, record what is
// wrong with Problem, and finish it with Done.
type Check struct {
	// Name says what was checked. Names are stable ("sqlite.integrity",
	// "journal.sequence", "wallet.counters", ...) so scripts can match on
	// them; docs/json.md lists them.
	Name string
	// Wallet is the wallet the check is about; "" for the whole store.
	Wallet string
	OK     bool
	// Detail says what was looked at ("412 entries, ids 1 to 412"), so a
	// passing check still tells how much it covered.
	Detail string
	// Problems lists what is wrong, at most MaxProblems lines and a last
	// line counting the rest; empty when OK.
	Problems []string

	dropped int // problems past MaxProblems, counted but not kept
}

// MaxProblems bounds the lines one check keeps: a store damaged in one
// place often fails the same way for every row, and the first lines are
// what a person reads.
const MaxProblems = 20

// NewCheck starts a check called name about wallet ("" for the store).
func NewCheck(name, wallet string) *Check { return &Check{Name: name, Wallet: wallet} }

// Problem records one thing the check found wrong.
func (c *Check) Problem(format string, a ...any) {
	if len(c.Problems) >= MaxProblems {
		c.dropped++
		return
	}
	c.Problems = append(c.Problems, fmt.Sprintf(format, a...))
}

// Failed reports whether a problem was recorded so far.
func (c *Check) Failed() bool { return len(c.Problems) > 0 || c.dropped > 0 }

// Done finishes the check with its detail line: OK when no problem was
// recorded.
func (c *Check) Done(detail string) Check {
	out := *c
	out.Detail = detail
	out.Problems = slices.Clone(c.Problems)
	if c.dropped > 0 {
		out.Problems = append(out.Problems, fmt.Sprintf("... and %d more", c.dropped))
	}
	out.OK = len(out.Problems) == 0
	out.dropped = 0
	return out
}
