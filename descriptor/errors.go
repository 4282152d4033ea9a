package descriptor

import "fmt"

// The parsing and derivation helpers return plain errors that say what is
// wrong; the exported entry points add ErrInvalid (and the key position) once,
// so messages read "invalid descriptor: key 3: ..." without repetition.

// invalid wraps err with ErrInvalid.
func invalid(err error) error {
	return fmt.Errorf("%w: %w", ErrInvalid, err)
}

// invalidKey wraps err with ErrInvalid and names the key by its 1-based
// position in the descriptor, the way a user counts them.
func invalidKey(i int, err error) error {
	return fmt.Errorf("%w: key %d: %w", ErrInvalid, i+1, err)
}
