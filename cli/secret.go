package cli

import (
	"bytes"
	"fmt"
	"os"

	"golang.org/x/term"

	"github.com/countersign/countersign/hw/soft"
)

// passphrase gets a key-store passphrase without ever taking it from a flag
// value (flags end up in shell history and ps): from --passphrase-file, from
// $COUNTERSIGN_PASSPHRASE (for scripts), or typed at a terminal.
func (f *Factory) passphrase(file, prompt string, confirmTwice bool) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, usagef("--passphrase-file: %v", err)
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(b) == 0 {
			return nil, usagef("--passphrase-file %s is empty", file)
		}
		return b, nil
	}
	if v := f.Getenv("COUNTERSIGN_PASSPHRASE"); v != "" {
		return []byte(v), nil
	}
	if !f.IO.CanPrompt() {
		return nil, usagef("a key passphrase is needed: pass --passphrase-file FILE or set COUNTERSIGN_PASSPHRASE (stdin is not a terminal, so countersign will not prompt)")
	}
	fmt.Fprint(f.IO.ErrOut, prompt)
	p, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(f.IO.ErrOut)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if len(p) == 0 {
		return nil, usagef("empty passphrase")
	}
	if confirmTwice {
		fmt.Fprint(f.IO.ErrOut, "Repeat the passphrase: ")
		q, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(f.IO.ErrOut)
		if err != nil {
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		if !bytes.Equal(p, q) {
			return nil, usagef("the passphrases differ")
		}
	}
	return p, nil
}

// KeyStore opens the software key store in <data-dir>/keys.
func (f *Factory) KeyStore() (*soft.Store, error) {
	dir, err := f.DataDir()
	if err != nil {
		return nil, err
	}
	ks := soft.NewStore(dir + string(os.PathSeparator) + "keys")
	if f.keyWorkFactor != 0 {
		if err := ks.SetWorkFactor(f.keyWorkFactor); err != nil {
			return nil, err
		}
	}
	return ks, nil
}
