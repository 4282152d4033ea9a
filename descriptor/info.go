package descriptor

import "fmt"

// N is the number of keys.
// For taproot it is the number of cosigners (Signers), not counting BIP-341's
// unspendable internal key.
func (d *Descriptor) N() int {
	if d.Tap == nil {
		return len(d.Keys)
	}
	n := len(d.Signers())
	if d.Unspendable() {
		n--
	}
	return n
}

// Policy describes the spending rule, e.g. "2 of 3"; for a miniscript,
// "miniscript" (Explain describes its paths).
func (d *Descriptor) Policy() string {
	if d.Miniscript != nil {
		return "miniscript"
	}
	if d.Tap != nil {
		return d.tapPolicy()
	}
	return fmt.Sprintf("%d of %d", d.Threshold, len(d.Keys))
}

// IsRange reports whether some key ends in a wildcard, so the descriptor
// stands for one address per index.
func (d *Descriptor) IsRange() bool {
	if d.Tap != nil {
		ranged := false
		d.Tap.tapKeys(func(t *TapKey) { ranged = ranged || t.Wildcard })
		if ranged {
			return true
		}
	}
	for i := range d.Keys {
		if d.Keys[i].Wildcard {
			return true
		}
	}
	return false
}

// HasPrivate reports whether any key was given as private key material. The
// CLI refuses to store such descriptors.
func (d *Descriptor) HasPrivate() bool {
	for i := range d.Keys {
		if d.Keys[i].Private {
			return true
		}
	}
	return false
}

// Branches is the number of BIP-389 multipath alternatives (2 for /<0;1>/*),
// or 1 without multipath.
func (d *Descriptor) Branches() int {
	if d.Tap != nil {
		n := 0
		d.Tap.tapKeys(func(t *TapKey) {
			if m := (&Key{Path: t.Path}).multipathLen(); m > 0 && n == 0 {
				n = m
			}
		})
		if n > 0 {
			return n
		}
	}
	for i := range d.Keys {
		if n := d.Keys[i].multipathLen(); n > 0 {
			return n
		}
	}
	return 1
}

// Equal reports whether a and b describe the same wallet: their Multipath
// forms print the same canonical string, so a receive descriptor (/0/*), its
// change twin (/1/*) and the /<0;1>/* form are equal.
func Equal(a, b *Descriptor) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Multipath().StringNoChecksum() == b.Multipath().StringNoChecksum()
}
