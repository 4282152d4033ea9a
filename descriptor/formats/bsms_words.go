package formats

import (
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"strings"

	"github.com/countersign/countersign/internal/bip39"
)

// BIP-129 "The Token": a STANDARD token may be shown as "a mnemonic phrase
// using BIP-0039 word list. This would be 6 words". That is BIP-39's
// entropy-to-words rule applied to 64 bits: the entropy, then the first
// 64/32 = 2 bits of its SHA-256 as checksum, cut into six 11-bit word
// indexes. (BIP-39 itself starts at 128 bits, so bip39.NewMnemonic
// refuses 64; only its English word list is used here.) The BIP's STANDARD
// vector gives a54044308ceac9b7 as "pipe acquire around border prosper
// swift".
const bsmsWords = 6

// BSMSTokenWords writes a 64-bit hex token as its six BIP-39 words.
// EXTENDED tokens have no word form: the BIP advises against one, since 12
// words would look like a seed.
func BSMSTokenWords(token string) (string, error) {
	b, err := hex.DecodeString(token)
	if err != nil || len(b) != 8 {
		return "", tokenErrorf("only a 64-bit (16 hex digit) token has a six-word form")
	}
	sum := sha256.Sum256(b)
	v := new(big.Int).SetBytes(b)
	v.Lsh(v, 2).Or(v, big.NewInt(int64(sum[0]>>6)))
	list := bip39.Words()
	words := make([]string, bsmsWords)
	mask := big.NewInt(2047)
	for i := bsmsWords - 1; i >= 0; i-- {
		words[i] = list[new(big.Int).And(v, mask).Int64()]
		v.Rsh(v, 11)
	}
	return strings.Join(words, " "), nil
}

// bsmsTokenFromWords reads six BIP-39 words back to a hex token, checking
// the two checksum bits so one wrong word is caught.
func bsmsTokenFromWords(words []string) (string, error) {
	if len(words) != bsmsWords {
		return "", tokenErrorf("a token in words has %d BIP-39 words, not %d", bsmsWords, len(words))
	}
	v := new(big.Int)
	for _, w := range words {
		i, ok := bip39.Index(strings.ToLower(w))
		if !ok {
			return "", tokenErrorf("%q is not a BIP-39 English word", shortText(w))
		}
		v.Lsh(v, 11).Or(v, big.NewInt(int64(i)))
	}
	check := byte(new(big.Int).And(v, big.NewInt(3)).Int64())
	v.Rsh(v, 2)
	b := v.FillBytes(make([]byte, 8))
	sum := sha256.Sum256(b)
	if sum[0]>>6 != check {
		return "", tokenErrorf("the six words fail their BIP-39 checksum: a word is wrong or out of order")
	}
	return hex.EncodeToString(b), nil
}
