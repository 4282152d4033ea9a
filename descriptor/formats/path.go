package formats

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"

	"github.com/countersign/countersign/descriptor"
)

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
