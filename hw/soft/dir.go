package soft

import (
	"fmt"
	"os"
)

// ensureDir creates the key directory 0700, and tightens it to 0700 if it
// already exists, because the file names alone tell who holds which key.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create the key store directory %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("restrict the key store directory %s to its owner: %w", dir, err)
	}
	return nil
}
