package wallet

import (
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxIndex is one past the last non-hardened BIP-32 index. A counter may
// reach it (every address used) but never hand it out.
const maxIndex = 1 << 31

// maxNameLen bounds wallet names; they end up on device screens and in file
// names, where long names are truncated or refused.
const maxNameLen = 64

// checkName refuses names that would be confusing or unsafe to print: empty,
// too long, not UTF-8, with control characters or outer spaces.
func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("wallet name is empty: %w; give the wallet a name", ErrInvalid)
	case len(name) > maxNameLen:
		return fmt.Errorf("wallet name %q is longer than %d bytes: %w; pick a shorter name", name, maxNameLen, ErrInvalid)
	case !utf8.ValidString(name):
		return fmt.Errorf("wallet name %q is not valid UTF-8: %w", name, ErrInvalid)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("wallet name %q starts or ends with a space: %w; remove it", name, ErrInvalid)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("wallet name %q contains a control character: %w", name, ErrInvalid)
		}
	}
	return nil
}

// checkBranch accepts the two BIP-44 style branches.
func checkBranch(branch uint32) error {
	if branch > 1 {
		return fmt.Errorf("branch %d: %w; use 0 (receive) or 1 (change)", branch, ErrInvalid)
	}
	return nil
}

// normFingerprint lower-cases a master key fingerprint and checks that it is
// 8 hex digits (4 bytes). "" (unknown) is accepted only when allowEmpty.
func normFingerprint(fp string, allowEmpty bool) (string, error) {
	if fp == "" && allowEmpty {
		return "", nil
	}
	fp = strings.ToLower(fp)
	if b, err := hex.DecodeString(fp); err != nil || len(b) != 4 {
		return "", fmt.Errorf("fingerprint %q: %w; expected 8 hex digits such as d34db33f", fp, ErrInvalid)
	}
	return fp, nil
}

// checkWallet validates what CreateWallet stores, returning the normalised
// fingerprints (len N) and labels (len N).
func checkWallet(w *Wallet) (fps, labels []string, err error) {
	if err := checkName(w.Name); err != nil {
		return nil, nil, err
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("wallet %q: %s: %w", w.Name, fmt.Sprintf(format, a...), ErrInvalid)
	}
	switch {
	case w.Descriptor == "":
		return nil, nil, bad("no descriptor")
	case w.Network == "":
		return nil, nil, bad("no network")
	case w.Script == "":
		return nil, nil, bad("no script type")
	case w.N < 1:
		return nil, nil, bad("%d cosigners; a wallet needs at least one", w.N)
	case w.Threshold < 1 || w.Threshold > w.N:
		return nil, nil, bad("threshold %d outside 1..%d", w.Threshold, w.N)
	case w.BirthHeight < 0:
		return nil, nil, bad("negative birth height %d", w.BirthHeight)
	case w.NextReceive > maxIndex || w.NextChange > maxIndex:
		return nil, nil, bad("address counters %d/%d beyond the non-hardened range", w.NextReceive, w.NextChange)
	case len(w.Labels) != 0 && len(w.Labels) != w.N:
		return nil, nil, bad("%d labels for %d cosigners", len(w.Labels), w.N)
	case len(w.Fingerprints) != 0 && len(w.Fingerprints) != w.N:
		return nil, nil, bad("%d fingerprints for %d cosigners", len(w.Fingerprints), w.N)
	}
	fps = make([]string, w.N)
	labels = make([]string, w.N)
	copy(labels, w.Labels)
	for i, fp := range w.Fingerprints {
		if fps[i], err = normFingerprint(fp, true); err != nil {
			return nil, nil, fmt.Errorf("wallet %q cosigner %d: %w", w.Name, i, err)
		}
	}
	return fps, labels, nil
}
