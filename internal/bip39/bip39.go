// Package bip39 turns entropy into BIP-39 English mnemonics and back, and
// mnemonics into seeds.
//
// countersign used github.com/tyler-smith/go-bip39, whose package
// initialisation splits and indexes the word lists of ten languages in
// every process, 3–4 ms of each command's start on the project's machine,
// for the few commands that read or write a mnemonic. This package holds
// only the English list (english.txt, byte for byte BIP-39's, checked by
// its SHA-256 in the tests), split on first use and searched by bisection
// (the list is sorted). The emulators keep go-bip39: a second
// implementation to test against (TestAgainstGoBIP39).
package bip39

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	_ "embed"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"golang.org/x/text/unicode/norm"
)

//go:embed english.txt
var english string

// Words is the English word list, in order: word i encodes the 11 bits i.
// The slice is shared; callers must not change it.
var Words = sync.OnceValue(func() []string {
	w := strings.Split(strings.TrimSuffix(english, "\n"), "\n")
	if len(w) != 2048 {
		panic(fmt.Sprintf("bip39: the embedded word list has %d words", len(w)))
	}
	return w
})

// Index is the position of word in the list, if it is one of its words
// (lower case, exactly).
func Index(word string) (int, bool) {
	w := Words()
	i := sort.SearchStrings(w, word)
	return i, i < len(w) && w[i] == word
}

var (
	// ErrEntropy: BIP-39 entropy is 128 to 256 bits, a multiple of 32.
	ErrEntropy = errors.New("bip39: entropy must be 16, 20, 24, 28 or 32 bytes")
	// ErrLength: a mnemonic has 12, 15, 18, 21 or 24 words.
	ErrLength = errors.New("bip39: a mnemonic has 12, 15, 18, 21 or 24 words")
	// ErrWord: a word is not in the English list.
	ErrWord = errors.New("bip39: a word is not in the English word list")
	// ErrChecksum: the words are in the list but their checksum bits do
	// not match the entropy (a word wrong or out of order).
	ErrChecksum = errors.New("bip39: checksum does not match")
)

// NewMnemonic writes entropy as words: the entropy, then the first
// len(entropy)*8/32 bits of its SHA-256, cut into 11-bit word indexes.
func NewMnemonic(entropy []byte) (string, error) {
	n := len(entropy)
	if n < 16 || n > 32 || n%4 != 0 {
		return "", ErrEntropy
	}
	sum := sha256.Sum256(entropy)
	bits := append(append(make([]byte, 0, n+1), entropy...), sum[0])
	list := Words()
	words := make([]string, (n*8+n/4)/11)
	for i := range words {
		words[i] = list[bits11(bits, i*11)]
	}
	return strings.Join(words, " "), nil
}

// EntropyFromMnemonic reads words (single spaces, lower case) back into
// their entropy and checks the checksum.
func EntropyFromMnemonic(mnemonic string) ([]byte, error) {
	words := strings.Split(mnemonic, " ")
	switch len(words) {
	case 12, 15, 18, 21, 24:
	default:
		return nil, ErrLength
	}
	total := len(words) * 11 // entropy bits + checksum bits, checksum = total/33
	buf := make([]byte, (total+7)/8)
	for i, w := range words {
		idx, ok := Index(w)
		if !ok {
			return nil, ErrWord
		}
		put11(buf, i*11, idx)
	}
	cs := total / 33
	entropy := buf[:(total-cs)/8]
	sum := sha256.Sum256(entropy)
	got := buf[len(entropy)] >> (8 - cs)
	if got != sum[0]>>(8-cs) {
		return nil, ErrChecksum
	}
	return append([]byte(nil), entropy...), nil
}

// Seed is BIP-39's seed: PBKDF2-HMAC-SHA512 of the mnemonic, salted with
// "mnemonic" and the passphrase, 2,048 rounds, 64 bytes, both in their
// Unicode NFKD form as BIP-39 says: a passphrase typed with composed
// accents ("é") on one machine and decomposed ones on another, or in
// full-width letters, is the same passphrase to every wallet that follows
// the BIP (the bip32JP vectors, which BIP-39 links, test exactly this).
func Seed(mnemonic, passphrase string) ([]byte, error) {
	return pbkdf2.Key(sha512.New, norm.NFKD.String(mnemonic), []byte("mnemonic"+norm.NFKD.String(passphrase)), 2048, 64)
}

// bits11 reads the 11 bits of b starting at bit off (big-endian).
func bits11(b []byte, off int) int {
	v := 0
	for k := 0; k < 11; k++ {
		bit := off + k
		v = v<<1 | int(b[bit/8]>>(7-bit%8)&1)
	}
	return v
}

// put11 writes v's low 11 bits into b starting at bit off (big-endian).
func put11(b []byte, off, v int) {
	for k := 0; k < 11; k++ {
		if v>>(10-k)&1 == 1 {
			bit := off + k
			b[bit/8] |= 1 << (7 - bit%8)
		}
	}
}
