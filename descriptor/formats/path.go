package formats

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"

	"github.com/countersign/countersign/descriptor"
)

// maxPathDepth is the deepest BIP-32 path: the serialized depth is a byte.
const maxPathDepth = 255

// parseBIP32Path reads a derivation path as wallets write it outside
// descriptors: "m/48'/0'/0'/2'", with ', h or H marking hardened steps and
// the leading "m/" optional. "m" alone is the master key (an empty path).
func parseBIP32Path(s string) ([]uint32, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return nil, errors.New("empty derivation path: write it like m/48'/0'/0'/2'")
	case s == "m" || s == "M":
		return []uint32{}, nil
	}
	if rest, ok := strings.CutPrefix(s, "m/"); ok {
		s = rest
	} else if rest, ok := strings.CutPrefix(s, "M/"); ok {
		s = rest
	}
	parts := strings.Split(s, "/")
	if len(parts) > maxPathDepth {
		return nil, fmt.Errorf("derivation path has %d steps; BIP-32 paths have at most %d", len(parts), maxPathDepth)
	}
	path := make([]uint32, 0, len(parts))
	for _, p := range parts {
		num, hardened := p, false
		if n := len(p); n > 0 && strings.ContainsRune("'hH", rune(p[n-1])) {
			num, hardened = p[:n-1], true
		}
		if num == "" || strings.Trim(num, "0123456789") != "" {
			return nil, fmt.Errorf("derivation step %q is not a number: write the path like m/48'/0'/0'/2'", p)
		}
		v, err := strconv.ParseUint(num, 10, 32)
		if err != nil || v >= uint64(descriptor.HardenedKeyStart) {
			return nil, fmt.Errorf("derivation step %q is out of range: indexes go up to 2147483647, with ' for hardened", p)
		}
		if hardened {
			v += uint64(descriptor.HardenedKeyStart)
		}
		path = append(path, uint32(v))
	}
	return path, nil
}

// formatBIP32Path writes a path the way Coldcard and Caravan files do:
// "m/48'/0'/0'/2'".
func formatBIP32Path(path []uint32) string {
	var b strings.Builder
	b.WriteString("m")
	for _, v := range path {
		b.WriteByte('/')
		if v >= descriptor.HardenedKeyStart {
			b.WriteString(strconv.FormatUint(uint64(v-descriptor.HardenedKeyStart), 10))
			b.WriteByte('\'')
			continue
		}
		b.WriteString(strconv.FormatUint(uint64(v), 10))
	}
	return b.String()
}

// parseFingerprint reads an 8-hex-digit master key fingerprint (XFP), in
// either letter case.
func parseFingerprint(s string) ([4]byte, error) {
	var fp [4]byte
	if len(s) != 8 {
		return fp, fmt.Errorf("fingerprint %q must be 8 hex digits", s)
	}
	if _, err := hex.Decode(fp[:], []byte(s)); err != nil {
		return fp, fmt.Errorf("fingerprint %q must be 8 hex digits", s)
	}
	return fp, nil
}

// parentFingerprint is the fingerprint an extended key records for its
// parent, as the bytes a descriptor origin would show.
func parentFingerprint(x *hdkeychain.ExtendedKey) [4]byte {
	var fp [4]byte
	binary.BigEndian.PutUint32(fp[:], x.ParentFingerprint())
	return fp
}

// walletKeyExpr builds the key expression of a cosigner in a receive/change
// wallet: [fingerprint/path]xpub/<0;1>/*, without the origin when it is
// unknown (origin nil).
func walletKeyExpr(origin *descriptor.Origin, xpub string) string {
	var b strings.Builder
	if origin != nil {
		b.WriteByte('[')
		b.WriteString(hex.EncodeToString(origin.Fingerprint[:]))
		for _, v := range origin.Path {
			b.WriteByte('/')
			if v >= descriptor.HardenedKeyStart {
				b.WriteString(strconv.FormatUint(uint64(v-descriptor.HardenedKeyStart), 10))
				b.WriteByte('h')
				continue
			}
			b.WriteString(strconv.FormatUint(uint64(v), 10))
		}
		b.WriteByte(']')
	}
	b.WriteString(xpub)
	b.WriteString("/<0;1>/*")
	return b.String()
}

// isReceiveChangeKey reports whether a key is an extended key that derives
// /0/* for receiving and /1/* for change, the only shape Coldcard and
// Caravan know.
func isReceiveChangeKey(k descriptor.Key) bool {
	return k.XPub != nil && k.Wildcard && !k.HardenedWildcard && len(k.Path) == 1 &&
		len(k.Path[0].Multi) == 2 && k.Path[0].Multi[0] == 0 && k.Path[0].Multi[1] == 1
}

// buildSortedMulti assembles a sortedmulti wallet from parts read out of a
// Coldcard or Caravan file, then parses its text so the result passes every
// check descriptor.Parse makes (key counts, thresholds, duplicate keys).
func buildSortedMulti(script descriptor.ScriptType, threshold int, keys []descriptor.Key) (*descriptor.Descriptor, error) {
	d := &descriptor.Descriptor{Script: script, Threshold: threshold, Sorted: true, Keys: keys}
	return descriptor.Parse(d.StringNoChecksum())
}
