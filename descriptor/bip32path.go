package descriptor

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/chaincfg"
)

// Path is a BIP-32 derivation path from a master key, as wallets write it
// outside descriptors: each element an index, hardened ones at or above
// HardenedKeyStart. It is the one path type of the project: parse it with
// ParsePath, print it with String (h for hardened, as descriptors do) or
// Apostrophe (as Coldcard and Caravan files do).
type Path []uint32

// ErrInvalidPath is wrapped by ParsePath's errors. It matches ErrInvalid
// (bad input, exit code 2) but says "path" rather than "descriptor".
var ErrInvalidPath = fmt.Errorf("invalid BIP-32 path: %w", ErrInvalid)

func invalidPath(err error) error { return fmt.Errorf("%w: %w", ErrInvalidPath, err) }

// maxPathDepth is the deepest BIP-32 path: the serialized depth is a byte.
const maxPathDepth = 255

// ParsePath reads "m/48h/0h/0h/2h", "m/48'/0'/0'/2'" or "48h/0h" (the
// leading "m/" is optional; ', h and H mark hardened steps). "m" alone is
// the master key: an empty, non-nil Path. Errors wrap ErrInvalid.
func ParsePath(s string) (Path, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return nil, invalidPath(errors.New("empty derivation path: write it like m/48h/0h/0h/2h"))
	case "m", "M":
		return Path{}, nil
	}
	if rest, ok := strings.CutPrefix(s, "m/"); ok {
		s = rest
	} else if rest, ok := strings.CutPrefix(s, "M/"); ok {
		s = rest
	}
	parts := strings.Split(s, "/")
	if len(parts) > maxPathDepth {
		return nil, invalidPath(fmt.Errorf("derivation path has %d steps; BIP-32 paths have at most %d", len(parts), maxPathDepth))
	}
	p := make(Path, 0, len(parts))
	for _, part := range parts {
		num, hardened := part, false
		if n := len(part); n > 0 && strings.ContainsRune("'hH", rune(part[n-1])) {
			num, hardened = part[:n-1], true
		}
		if num == "" || strings.Trim(num, "0123456789") != "" {
			return nil, invalidPath(fmt.Errorf("derivation step %q is not a number: write the path like m/48h/0h/0h/2h", part))
		}
		v, err := strconv.ParseUint(num, 10, 32)
		if err != nil || v >= uint64(HardenedKeyStart) {
			return nil, invalidPath(fmt.Errorf("derivation step %q is out of range: indexes go up to 2147483647, with h for hardened", part))
		}
		if hardened {
			v += uint64(HardenedKeyStart)
		}
		p = append(p, uint32(v))
	}
	return p, nil
}

// String prints the path the way descriptors do: m/48h/0h/0h/2h.
func (p Path) String() string { return p.format('h') }

// Apostrophe prints the path the way Coldcard, Caravan and ckcc write it:
// m/48'/0'/0'/2'.
func (p Path) Apostrophe() string { return p.format('\'') }

// Steps prints the path without the leading "m": /48h/0h/0h/2h, as it
// follows the fingerprint in a key origin. The master path prints as "".
func (p Path) Steps() string { return strings.TrimPrefix(p.String(), "m") }

func (p Path) format(marker byte) string {
	b := make([]byte, 0, 1+len(p)*5)
	b = append(b, 'm')
	for _, v := range p {
		b = append(b, '/')
		if v >= HardenedKeyStart {
			b = strconv.AppendUint(b, uint64(v-HardenedKeyStart), 10)
			b = append(b, marker)
			continue
		}
		b = strconv.AppendUint(b, uint64(v), 10)
	}
	return string(b)
}

// Equal reports whether p and q name the same path.
func (p Path) Equal(q Path) bool { return slices.Equal(p, q) }

// HasPrefix reports whether p starts with the steps of q.
func (p Path) HasPrefix(q Path) bool { return len(p) >= len(q) && slices.Equal(p[:len(q)], q) }

// Child returns a new path: p followed by i.
func (p Path) Child(i uint32) Path { return append(slices.Clip(p), i) }

// MultisigPath is the standard path of a cosigner's multisig key for the
// script type: BIP-48 m/48h/coin h/account h/script h (2h for wsh, 1h for
// sh-wsh) for segwit, and BIP-45's m/45h for legacy sh, which Coldcard and
// other signers use there. The coin is 0h on mainnet and 1h on every test
// network (SLIP-44).
func MultisigPath(net *chaincfg.Params, script ScriptType, account uint32) (Path, error) {
	const h = HardenedKeyStart
	if account >= h {
		return nil, invalid(fmt.Errorf("account %d is out of range: accounts go up to 2147483647", account))
	}
	coin := uint32(1)
	if net == nil || net.Name == chaincfg.MainNetParams.Name {
		coin = 0
	}
	switch script {
	case ScriptWsh:
		return Path{h + 48, h + coin, h + account, h + 2}, nil
	case ScriptShWsh:
		return Path{h + 48, h + coin, h + account, h + 1}, nil
	case ScriptSh:
		return Path{h + 45}, nil
	case ScriptTr:
		// BIP-48 defines script types 1h and 2h only; 3h for taproot is
		// the extension Sparrow, Nunchuk and Liana-style coordinators use.
		return Path{h + 48, h + coin, h + account, h + 3}, nil
	}
	return nil, invalid(fmt.Errorf("no standard multisig path for script type %s", script))
}

// New builds a multisig descriptor from its parts and holds it to every rule
// Parse checks (key counts, threshold, duplicate keys, networks, script
// sizes), so code that assembles a wallet from cosigner keys never writes
// descriptor text by hand. Private key material is not carried over.
//
// For ScriptTr, New builds countersign's default taproot wallet (see
// NewTaproot with the zero TaprootOptions).
func New(script ScriptType, threshold int, sorted bool, keys []Key) (*Descriptor, error) {
	if script == ScriptTr {
		return NewTaproot(threshold, keys, TaprootOptions{Unsorted: !sorted})
	}
	d := &Descriptor{Script: script, Threshold: threshold, Sorted: sorted, Keys: keys}
	if err := validate(d, nil); err != nil {
		return nil, err
	}
	return Parse(d.StringNoChecksum())
}
