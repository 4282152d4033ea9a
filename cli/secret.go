package cli

import (
	"bytes"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/term"

	"github.com/countersign/countersign/hw/soft"
)

// MinPassphraseLen is the shortest passphrase a new key is encrypted
// with. The key file is safe only as long as its passphrase resists a
// guessing attack on a stolen copy: scrypt slows each guess, a short
// passphrase still falls.
const MinPassphraseLen = 10

// passphrase gets a key-store passphrase without ever taking it from a flag
// value (flags end up in shell history and ps): from --passphrase-file, from
// $COUNTERSIGN_PASSPHRASE (for scripts), or typed at a terminal. newKey:
// the passphrase will encrypt a new key, so it is asked twice at a
// terminal and must be at least MinPassphraseLen characters.
func (f *Factory) passphrase(file, prompt string, newKey bool) ([]byte, error) {
	p, err := f.readPassphrase(file, prompt, newKey)
	if err != nil {
		return nil, err
	}
	if newKey && len([]rune(string(p))) < MinPassphraseLen {
		return nil, usagef("the passphrase is %d characters: a new key needs at least %d (a stolen key file is only as safe as its passphrase; a few words are easier to remember than symbols)", len([]rune(string(p))), MinPassphraseLen)
	}
	return p, nil
}

func (f *Factory) readPassphrase(file, prompt string, confirmTwice bool) ([]byte, error) {
	if file != "" {
		b, err := readSecretFile(file, "--passphrase-file")
		if err != nil {
			return nil, err
		}
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
	p, err := f.typedSecret(prompt)
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, usagef("empty passphrase")
	}
	if confirmTwice {
		q, err := f.typedSecret("Repeat the passphrase: ")
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(p, q) {
			return nil, usagef("the passphrases differ")
		}
	}
	return p, nil
}

// typedSecret reads a secret typed at the terminal, without echo.
func (f *Factory) typedSecret(prompt string) ([]byte, error) {
	if !f.IO.CanPrompt() {
		return nil, usagef("a secret is needed and stdin is not a terminal: countersign will not prompt")
	}
	fmt.Fprint(f.IO.ErrOut, prompt)
	p, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(f.IO.ErrOut)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	return p, nil
}

// readSecretFile reads a file holding a secret (a passphrase), refusing
// one that other users of this computer can read: the secret would not be
// one. The trailing newline an editor adds is dropped; nothing else is.
func readSecretFile(path, flag string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, usagef("%s: %v", flag, err)
	}
	if st.IsDir() {
		return nil, usagef("%s %s is a directory", flag, path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, withHint(usagef("%s %s can be read by other users of this computer (mode %04o): a secret in it is not secret", flag, path, perm),
			fmt.Sprintf("chmod 600 %s", path))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("%s: %v", flag, err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r")), nil
}

// bip39Passphrase gets a mnemonic's BIP-39 passphrase ("25th word") the
// same way as the key-store passphrase, never from a flag value: from
// --bip39-passphrase-file, $COUNTERSIGN_BIP39_PASSPHRASE, or typed at the
// terminal with --ask-bip39-passphrase. "" when none is given. Spaces are
// kept: they are part of a BIP-39 passphrase.
func (f *Factory) bip39Passphrase(file string, ask bool) (string, error) {
	switch {
	case file != "" && ask:
		return "", usagef("--bip39-passphrase-file and --ask-bip39-passphrase: give one")
	case file != "":
		b, err := readSecretFile(file, "--bip39-passphrase-file")
		return string(b), err
	case ask:
		if !f.IO.CanPrompt() {
			return "", usagef("--ask-bip39-passphrase needs a terminal; without one use --bip39-passphrase-file FILE or COUNTERSIGN_BIP39_PASSPHRASE")
		}
		p, err := f.typedSecret("BIP-39 passphrase of the mnemonic: ")
		return string(p), err
	}
	return f.Getenv("COUNTERSIGN_BIP39_PASSPHRASE"), nil
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
