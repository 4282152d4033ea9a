package descriptor

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/base58"
)

// maxKeyLen bounds a Base58 key body: xpubs are 111 characters.
const maxKeyLen = 120

// WIF network bytes (Base58Check version of a private key).
const (
	wifMainnet = 0x80
	wifTestnet = 0xef
)

// ParseKey parses one BIP-380 key expression, e.g.
// [d34db33f/48h/0h/0h/2h]xpub.../<0;1>/*. SLIP-132 keys (Ypub, Zpub, Upub,
// Vpub, ypub, zpub, upub, vpub) are converted to xpub/tpub. Private keys
// (WIF, xprv, tprv) are accepted so that BIP vectors can be checked: the key
// is neutered, Private is set, and String never prints the private part.
// Rules that depend on the script (compressed keys under segwit) are checked
// by Parse. Errors wrap ErrInvalid.
func ParseKey(s string) (Key, error) {
	k, _, err := parseKey(s)
	if err != nil {
		return Key{}, invalid(err)
	}
	return k, nil
}

// parseKey parses a key expression and also reports its network family,
// which a WIF carries but the neutered Key no longer shows.
func parseKey(s string) (Key, family, error) {
	var k Key
	rest := s
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return Key{}, familyAny, errors.New("key origin is missing its closing ']'")
		}
		o, err := parseOrigin(rest[1:end])
		if err != nil {
			return Key{}, familyAny, err
		}
		k.Origin = o
		rest = rest[end+1:]
		if strings.HasPrefix(rest, "[") {
			return Key{}, familyAny, errors.New("more than one key origin: a key has at most one [fingerprint/path] prefix")
		}
	}
	if strings.ContainsAny(rest, "[]") {
		return Key{}, familyAny, errors.New("unexpected '[' or ']': a key origin is written once, before the key, as [fingerprint/path]")
	}
	if rest == "" {
		return Key{}, familyAny, errors.New("no key: a key origin must be followed by a public key or an xpub")
	}
	parts := strings.Split(rest, "/")
	body, steps := parts[0], parts[1:]
	if body == "" {
		return Key{}, familyAny, errors.New("no key before the first '/'")
	}

	fam, err := parseKeyBody(&k, body)
	if err != nil {
		return Key{}, familyAny, err
	}
	if k.XPub == nil {
		if len(steps) > 0 {
			return Key{}, familyAny, errors.New("derivation steps after a plain public key or WIF: only extended keys (xpub) can be derived")
		}
		return k, fam, nil
	}
	if err := parsePath(&k, steps); err != nil {
		return Key{}, familyAny, err
	}
	depth := int(k.XPub.Depth()) + len(k.Path)
	if k.Wildcard {
		depth++
	}
	if depth > maxDepth {
		return Key{}, familyAny, fmt.Errorf("derivation goes %d levels deep; BIP-32 paths have at most %d", depth, maxDepth)
	}
	return k, fam, nil
}

// parseKeyBody recognises the key itself: hex public key, extended key or
// WIF private key.
func parseKeyBody(k *Key, body string) (family, error) {
	if isHex(body) {
		return familyAny, parseHexPubKey(k, body)
	}
	// Base58 decoding is quadratic; no key is longer than an xpub (111
	// characters), so refuse long input before decoding it.
	if len(body) > maxKeyLen {
		return familyAny, fmt.Errorf("key of %d characters is too long: an xpub has 111, a WIF key 51 or 52", len(body))
	}
	switch n := len(base58.Decode(body)); n {
	case extendedKeyLen + 4:
		x, err := decodeExtendedKey(body)
		if err != nil {
			return familyAny, err
		}
		k.XPub, k.xprv, k.Private = x.pub, x.priv, x.priv != nil
		return x.family, nil
	case 37, 38:
		return parseWIF(k, body)
	}
	return familyAny, fmt.Errorf("unrecognised key starting %q: expected a hex public key, an xpub or tpub (SLIP-132 Ypub/Zpub/Upub/Vpub also accepted), an xprv/tprv or a WIF private key",
		shorten(body))
}

// parseHexPubKey accepts 33-byte compressed (02/03) and 65-byte uncompressed
// (04) keys that are valid secp256k1 points. Hybrid (06/07) encodings are
// rejected: BIP-380 allows only these two forms.
func parseHexPubKey(k *Key, body string) error {
	switch len(body) {
	case 64:
		return errors.New("64-character x-only public key: that form is for tr(); multisig needs a 66-character compressed key (02/03 prefix)")
	case 66, 130:
	default:
		return fmt.Errorf("hex public key has %d characters: a compressed key has 66 (02/03 prefix) and an uncompressed key 130 (04 prefix)", len(body))
	}
	raw, err := hex.DecodeString(body)
	if err != nil {
		return fmt.Errorf("hex public key: %w", err)
	}
	switch {
	case len(raw) == 33 && (raw[0] == 0x02 || raw[0] == 0x03):
	case len(raw) == 65 && raw[0] == 0x04:
		k.Uncompressed = true
	default:
		return fmt.Errorf("hex public key of %d bytes starts with %02x: a compressed key starts with 02 or 03, an uncompressed one with 04", len(raw), raw[0])
	}
	pk, err := btcec.ParsePubKey(raw)
	if err != nil {
		return errors.New("hex public key is not a point on secp256k1: check that it was copied correctly")
	}
	k.PubKey = pk
	return nil
}

// parseWIF decodes a Wallet Import Format private key and keeps only its
// public key, in the compression the WIF asks for.
func parseWIF(k *Key, body string) (family, error) {
	raw := base58.Decode(body)
	payload, check := raw[:len(raw)-4], raw[len(raw)-4:]
	first := sha256.Sum256(payload)
	second := sha256.Sum256(first[:])
	if !bytes.Equal(check, second[:4]) {
		return familyAny, errors.New("WIF private key checksum does not match: a character is wrong; copy the key again")
	}
	compressed := len(payload) == 34
	if compressed && payload[33] != 0x01 {
		return familyAny, errors.New("WIF private key has a 33rd byte that is not the compression flag 01: the key is malformed")
	}
	var fam family
	switch payload[0] {
	case wifMainnet:
		fam = familyMain
	case wifTestnet:
		fam = familyTest
	default:
		return familyAny, fmt.Errorf("WIF private key has network byte %02x: only Bitcoin mainnet (80) and testnet (ef) keys are accepted", payload[0])
	}
	var scalar btcec.ModNScalar
	if overflow := scalar.SetByteSlice(payload[1:33]); overflow || scalar.IsZero() {
		return familyAny, errors.New("WIF private key is not in the range 1..n-1 of secp256k1: the key is malformed")
	}
	k.PubKey = btcec.PrivKeyFromScalar(&scalar).PubKey()
	k.Uncompressed = !compressed
	k.Private = true
	return fam, nil
}

// shorten keeps error messages short and never echoes a whole key, which
// may be private.
func shorten(s string) string {
	if len(s) > 8 {
		return s[:8] + "..."
	}
	return s
}

// String returns the canonical key expression: origin with lower-case
// fingerprint and h for hardened steps, the key as hex or xpub/tpub (never
// private material), then the derivation steps.
func (k Key) String() string {
	var b strings.Builder
	k.write(&b)
	return b.String()
}

func (k *Key) write(b *strings.Builder) {
	if k.Origin != nil {
		b.WriteByte('[')
		b.WriteString(hex.EncodeToString(k.Origin.Fingerprint[:]))
		for _, v := range k.Origin.Path {
			b.WriteByte('/')
			formatIndex(b, v)
		}
		b.WriteByte(']')
	}
	switch {
	case k.XPub != nil:
		b.WriteString(k.XPub.String())
		formatPath(b, k)
	case k.PubKey != nil && k.XOnly:
		b.WriteString(hex.EncodeToString(k.PubKey.SerializeCompressed()[1:]))
	case k.PubKey != nil:
		b.WriteString(hex.EncodeToString(k.serializedPubKey()))
	}
}

// serializedPubKey is the plain key as it appears in scripts: compressed
// unless it was given uncompressed.
func (k *Key) serializedPubKey() []byte {
	if k.Uncompressed {
		return k.PubKey.SerializeUncompressed()
	}
	return k.PubKey.SerializeCompressed()
}

// multipathLen is the number of alternatives of the key's multipath step,
// or 0 when it has none.
func (k *Key) multipathLen() int {
	for _, e := range k.Path {
		if e.Multi != nil {
			return len(e.Multi)
		}
	}
	return 0
}

// clone copies the key so a derived Descriptor shares no slices with d.
func (k Key) clone() Key {
	if k.Origin != nil {
		o := Origin{Fingerprint: k.Origin.Fingerprint, Path: slices.Clone(k.Origin.Path)}
		k.Origin = &o
	}
	if k.Path != nil {
		path := make([]PathElem, len(k.Path))
		for i, e := range k.Path {
			path[i] = PathElem{Index: e.Index, Multi: slices.Clone(e.Multi)}
		}
		k.Path = path
	}
	return k
}
