package psbt

import (
	"errors"
	"fmt"
)

// shownInputErrors is how many of a step's per-input errors are spelled
// out; the rest are counted. A 500-input sweep that one cosigner has not
// signed would otherwise be refused with 500 near-identical lines.
const shownInputErrors = 5

// joinInputs joins per-input errors (nil for inputs that passed) like
// errors.Join, but spells out only the first shownInputErrors of them and
// counts the others. Every error stays reachable through errors.Is and
// errors.As, so the exit code is the same as with errors.Join.
func joinInputs(errs []error) error {
	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) <= shownInputErrors+1 {
		return errors.Join(failed...)
	}
	shown := append(failed[:shownInputErrors:shownInputErrors], &moreErrors{rest: failed[shownInputErrors:]})
	return errors.Join(shown...)
}

// moreErrors stands for the per-input errors joinInputs does not spell out.
type moreErrors struct{ rest []error }

func (m *moreErrors) Error() string {
	return fmt.Sprintf("... and %d more inputs", len(m.rest))
}

func (m *moreErrors) Unwrap() []error { return m.rest }
