package wallet

import (
	"os"
	"path/filepath"
)

// DefaultDir is the data directory used when the CLI's --data-dir is not
// given: $COUNTERSIGN_DATA_DIR, else $XDG_DATA_HOME/countersign, else
// ~/.local/share/countersign. It returns "" when none can be determined (no
// variable set and no home directory); Open("") then fails with a message
// saying to set one.
func DefaultDir() string {
	if d := os.Getenv("COUNTERSIGN_DATA_DIR"); d != "" {
		return d
	}
	// The XDG spec says a relative XDG_DATA_HOME is invalid and must be
	// ignored; honouring it would put wallets wherever the shell happens to be.
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "countersign")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".local", "share", "countersign")
}
