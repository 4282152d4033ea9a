// Package nip44 is the encryption PSBTs are to travel under between
// cosigners over Nostr relays: NIP-44 version 2 (github.com/nostr-protocol/
// nips/blob/master/44.md), secp256k1 ECDH between the sender's and the
// recipient's Nostr keys, HKDF-SHA256, ChaCha20 and HMAC-SHA256, with the
// plaintext padded to hide its exact length. The cipher itself is
// go-nostr's nip44 package (named by issue 21); this package fixes the key
// types, checks keys before any arithmetic, and turns every failure into an
// error wrapping ErrInvalid or ErrDecrypt.
//
// What NIP-44 does not hide: who sends to whom and when (the event's
// pubkeys and time are public to the relay), and the plaintext's size to
// within its padding. Only the transport built on it may publish, and it
// never publishes anything unencrypted.
package nip44

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	gonip44 "github.com/nbd-wtf/go-nostr/nip44"
)

// MaxPlaintext is the largest message one payload carries (NIP-44: 65535
// bytes). A PSBT larger than this, base64-encoded, needs several.
const MaxPlaintext = gonip44.MaxPlaintextSize

var (
	// ErrInvalid: a key or a plaintext that NIP-44 cannot use.
	ErrInvalid = errors.New("nip44: invalid input")
	// ErrDecrypt: a payload that is not a NIP-44 v2 message for this
	// conversation (wrong version, bad length or padding, a MAC that does
	// not match: tampered with, or for someone else).
	ErrDecrypt = errors.New("nip44: cannot decrypt")
)

// SecretKey is a Nostr secret key: a secp256k1 scalar, big-endian.
type SecretKey [32]byte

// PublicKey is a Nostr public key: the x coordinate of a secp256k1 point
// (BIP-340's x-only form), as npub and event pubkeys carry it.
type PublicKey [32]byte

// Public returns the public key of sk.
func (sk SecretKey) Public() (PublicKey, error) {
	if err := sk.check(); err != nil {
		return PublicKey{}, err
	}
	priv, _ := btcec.PrivKeyFromBytes(sk[:])
	var pk PublicKey
	copy(pk[:], priv.PubKey().SerializeCompressed()[1:])
	return pk, nil
}

// check refuses 0 and anything at or above the group order.
func (sk SecretKey) check() error {
	var s btcec.ModNScalar
	if overflow := s.SetByteSlice(sk[:]); overflow || s.IsZero() {
		return fmt.Errorf("%w: secret key is zero or not below the secp256k1 group order", ErrInvalid)
	}
	return nil
}

// check refuses an x coordinate with no point on the curve.
func (pk PublicKey) check() error {
	if _, err := btcec.ParsePubKey(append([]byte{2}, pk[:]...)); err != nil {
		return fmt.Errorf("%w: public key %x is not on secp256k1", ErrInvalid, pk[:])
	}
	return nil
}

// ConversationKey is the key two parties share: the same for (a, B) and
// (b, A).
func ConversationKey(sk SecretKey, peer PublicKey) ([32]byte, error) {
	if err := sk.check(); err != nil {
		return [32]byte{}, err
	}
	if err := peer.check(); err != nil {
		return [32]byte{}, err
	}
	ck, err := gonip44.GenerateConversationKey(hex.EncodeToString(peer[:]), hex.EncodeToString(sk[:]))
	if err != nil {
		return [32]byte{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return ck, nil
}

// Encrypt seals plaintext (1 to MaxPlaintext bytes) from sk to peer and
// returns the base64 payload, with a fresh random nonce.
func Encrypt(sk SecretKey, peer PublicKey, plaintext []byte) (string, error) {
	ck, err := ConversationKey(sk, peer)
	if err != nil {
		return "", err
	}
	return EncryptWith(ck, plaintext, nil)
}

// EncryptWith seals plaintext under a conversation key; nonce nil draws a
// random one (a fixed nonce is for test vectors only: reusing one with the
// same key reveals the messages).
func EncryptWith(ck [32]byte, plaintext []byte, nonce []byte) (string, error) {
	if len(plaintext) < 1 || len(plaintext) > MaxPlaintext {
		return "", fmt.Errorf("%w: plaintext of %d bytes; NIP-44 carries 1 to %d", ErrInvalid, len(plaintext), MaxPlaintext)
	}
	if nonce != nil {
		return gonip44.Encrypt(string(plaintext), ck, gonip44.WithCustomNonce(nonce))
	}
	return gonip44.Encrypt(string(plaintext), ck)
}

// Decrypt opens a payload peer sent to sk.
func Decrypt(sk SecretKey, peer PublicKey, payload string) ([]byte, error) {
	ck, err := ConversationKey(sk, peer)
	if err != nil {
		return nil, err
	}
	return DecryptWith(ck, payload)
}

// DecryptWith opens a payload under a conversation key. Any payload, even
// hostile, gets an error wrapping ErrDecrypt, never a panic.
func DecryptWith(ck [32]byte, payload string) ([]byte, error) {
	pt, err := gonip44.Decrypt(payload, ck)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	return []byte(pt), nil
}
