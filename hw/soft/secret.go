package soft

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/internal/bip39"
)

// payload is the plaintext inside NAME.age. It carries its own network so
// that Open does not trust the plaintext sidecar for anything that matters.
type payload struct {
	Version         int    `json:"version"`
	Kind            string `json:"kind"`
	Network         string `json:"network"`
	Mnemonic        string `json:"mnemonic,omitempty"`
	BIP39Passphrase string `json:"bip39_passphrase,omitempty"`
	Xprv            string `json:"xprv,omitempty"`
}

// master derives the BIP-32 master key the payload describes.
func (p *payload) master(net *chaincfg.Params) (*hdkeychain.ExtendedKey, error) {
	switch p.Kind {
	case KindMnemonic:
		return masterFromMnemonic(p.Mnemonic, p.BIP39Passphrase, net)
	case KindXprv:
		return parseMasterXprv(p.Xprv, net)
	}
	return nil, fmt.Errorf("unknown key kind %q", p.Kind)
}

// normalizeMnemonic lower-cases the words and joins them with single
// spaces: the seed is computed over the exact sentence, so stray spaces or
// capitals would otherwise give a different wallet. It checks the word
// count, the words and the checksum. Errors give word positions, never the
// words, so a secret does not end up in a terminal log.
func normalizeMnemonic(s string) (string, error) {
	words := strings.Fields(strings.ToLower(s))
	switch len(words) {
	case 12, 15, 18, 21, 24:
	default:
		return "", fmt.Errorf("%w: a BIP-39 mnemonic has 12, 15, 18, 21 or 24 words, this one has %d", ErrInvalid, len(words))
	}
	for i, w := range words {
		if _, ok := bip39.Index(w); !ok {
			return "", fmt.Errorf("%w: word %d of the mnemonic is not in the BIP-39 English word list; check its spelling", ErrInvalid, i+1)
		}
	}
	m := strings.Join(words, " ")
	entropy, err := bip39.EntropyFromMnemonic(m)
	wipe(entropy)
	if errors.Is(err, bip39.ErrChecksum) {
		return "", fmt.Errorf("%w: the mnemonic's checksum does not match: a word is wrong or out of order", ErrInvalid)
	}
	if err != nil {
		return "", fmt.Errorf("%w: the mnemonic is not valid BIP-39", ErrInvalid)
	}
	return m, nil
}

// checkBIP39Passphrase accepts any text: UTF-8 without control characters.
// The seed hashes its NFKD form (bip39.Seed), as BIP-39 says and as
// Trezor, Coldcard, Electrum and Sparrow do, so "café" typed with a
// composed or a decomposed é is one passphrase. A control character (a
// carriage return left by a Windows editor, a tab) is refused: it would
// be part of the passphrase, and no wallet's passphrase screen types it.
func checkBIP39Passphrase(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: the BIP-39 passphrase is not UTF-8 text", ErrInvalid)
	}
	for i, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: the BIP-39 passphrase contains a control character (%U at byte %d): a line break or tab left in the file? A passphrase is one line of text", ErrInvalid, r, i+1)
		}
	}
	return nil
}

// masterFromMnemonic computes the BIP-39 seed and the BIP-32 master key.
func masterFromMnemonic(mnemonic, passphrase string, net *chaincfg.Params) (*hdkeychain.ExtendedKey, error) {
	entropy, err := bip39.EntropyFromMnemonic(mnemonic)
	wipe(entropy)
	if err != nil {
		return nil, fmt.Errorf("%w: the mnemonic is not valid BIP-39", ErrInvalid)
	}
	seed, err := bip39.Seed(mnemonic, passphrase)
	defer wipe(seed)
	if err != nil {
		return nil, fmt.Errorf("BIP-39 seed: %w", err)
	}
	m, err := hdkeychain.NewMaster(seed, net)
	if err != nil {
		// ErrUnusableSeed: about 1 in 2^127; BIP-32 says to pick another seed.
		return nil, fmt.Errorf("%w: this seed gives an unusable BIP-32 master key: %v", ErrInvalid, err)
	}
	return m, nil
}

// parseMasterXprv parses a master private key and checks everything BIP-32
// test vector 5 lists as invalid that hdkeychain itself lets through.
func parseMasterXprv(s string, net *chaincfg.Params) (*hdkeychain.ExtendedKey, error) {
	k, err := hdkeychain.NewKeyFromString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not a valid extended key (%v)", ErrInvalid, err)
	}
	// The version bytes and the key data each say private or public; when
	// they disagree the key is corrupt (BIP-32 test vector 5).
	if v := k.Version(); bytes.Equal(v, net.HDPrivateKeyID[:]) != k.IsPrivate() && (bytes.Equal(v, net.HDPrivateKeyID[:]) || bytes.Equal(v, net.HDPublicKeyID[:])) {
		return nil, fmt.Errorf("%w: the extended key's version and key data disagree about whether it is private: it is corrupt", ErrInvalid)
	}
	if !k.IsPrivate() {
		return nil, fmt.Errorf("%w: this is an extended public key; a software signer needs the private key (xprv or tprv)", ErrInvalid)
	}
	if v := k.Version(); !bytes.Equal(v, net.HDPrivateKeyID[:]) {
		want := "xprv"
		if !bytes.Equal(net.HDPrivateKeyID[:], chaincfg.MainNetParams.HDPrivateKeyID[:]) {
			want = "tprv"
		}
		return nil, fmt.Errorf("%w: the extended key has version %x, but a %s master key (%s) is needed; SLIP-132 keys (yprv, zprv, ...) must be converted first", ErrInvalid, v, net.Name, want)
	}
	if k.Depth() != 0 {
		return nil, fmt.Errorf("%w: the extended key is at depth %d, not a master key; import the master xprv (depth 0) or the mnemonic, since PSBTs name keys by their path from the master", ErrInvalid, k.Depth())
	}
	if k.ParentFingerprint() != 0 || k.ChildIndex() != 0 {
		return nil, fmt.Errorf("%w: the extended key has depth 0 but a parent fingerprint or child index: it is corrupt", ErrInvalid)
	}
	if _, err := k.ECPrivKey(); err != nil {
		return nil, fmt.Errorf("%w: the extended key's private key is invalid (%v)", ErrInvalid, err)
	}
	return k, nil
}

// fingerprint is the BIP-32 fingerprint of k: the first four bytes of
// HASH160 of its compressed public key.
func fingerprint(k *hdkeychain.ExtendedKey) ([4]byte, error) {
	var fp [4]byte
	pub, err := k.ECPubKey()
	if err != nil {
		return fp, fmt.Errorf("compute the key fingerprint: %w", err)
	}
	copy(fp[:], btcutil.Hash160(pub.SerializeCompressed()))
	return fp, nil
}

// withChild derives the key at path from k and hands it to fn, then wipes
// every private key it derived on the way (never k itself), so no child key
// material outlives the call.
func withChild(k *hdkeychain.ExtendedKey, path []uint32, fn func(*hdkeychain.ExtendedKey) error) error {
	cur := k
	defer func() {
		if cur != k {
			cur.Zero()
		}
	}()
	for i, step := range path {
		next, err := cur.Derive(step)
		if err != nil {
			return fmt.Errorf("derive step %d of %s: %w", i+1, descriptor.Path(path), err)
		}
		if cur != k {
			cur.Zero()
		}
		cur = next
	}
	return fn(cur)
}

// publicCopy returns the extended public key of k. Unlike Neuter it shares
// no memory with k (Neuter reuses the chain code slice), so wiping k later
// leaves the result intact.
func publicCopy(k *hdkeychain.ExtendedKey) (*hdkeychain.ExtendedKey, error) {
	n, err := k.Neuter()
	if err != nil {
		return nil, err
	}
	pub, err := k.ECPubKey()
	if err != nil {
		return nil, err
	}
	var parent [4]byte
	binary.BigEndian.PutUint32(parent[:], k.ParentFingerprint())
	return hdkeychain.NewExtendedKey(bytes.Clone(n.Version()), pub.SerializeCompressed(),
		bytes.Clone(k.ChainCode()), parent[:], k.Depth(), k.ChildIndex(), false), nil
}

// derivePub returns the public key and chain code at path from k.
func derivePub(k *hdkeychain.ExtendedKey, path []uint32) (pub *btcec.PublicKey, chainCode []byte, err error) {
	err = withChild(k, path, func(c *hdkeychain.ExtendedKey) error {
		pub, err = c.ECPubKey()
		chainCode = bytes.Clone(c.ChainCode())
		return err
	})
	return pub, chainCode, err
}

// wipe overwrites b with zeros.
func wipe(b []byte) {
	clear(b)
}
