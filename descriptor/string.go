package descriptor

import (
	"strconv"
	"strings"
)

// String returns the canonical descriptor with its BIP-380 checksum: h for
// hardened steps, lower-case fingerprints, xpub/tpub version bytes, BIP-389
// multipath as /<0;1>/*, and no private key material.
func (d *Descriptor) String() string {
	s := d.StringNoChecksum()
	if s == "" {
		return ""
	}
	sum, err := checksum(s)
	if err != nil {
		// The canonical form only uses the descriptor character set; an
		// error here means a hand-built Descriptor holds garbage.
		return s
	}
	return s + "#" + sum
}

// StringNoChecksum is String without the "#checksum" suffix.
func (d *Descriptor) StringNoChecksum() string {
	if d == nil {
		return ""
	}
	if d.Miniscript != nil {
		return d.Script.wrap(d.Miniscript.String())
	}
	var b strings.Builder
	if d.Tap != nil {
		d.writeTr(&b)
		return b.String()
	}
	if d.Sorted {
		b.WriteString("sortedmulti(")
	} else {
		b.WriteString("multi(")
	}
	b.WriteString(strconv.Itoa(d.Threshold))
	for i := range d.Keys {
		b.WriteByte(',')
		d.Keys[i].write(&b)
	}
	b.WriteByte(')')
	return d.Script.wrap(b.String())
}
