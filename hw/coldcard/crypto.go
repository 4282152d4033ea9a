package coldcard

// Link encryption, as ckcc's client.py and the firmware's usb.py set it up:
//
//  1. The host makes a one-time secp256k1 key pair and sends its public key,
//     uncompressed without the 0x04 prefix (x||y, 64 bytes), in "ncry".
//  2. The device answers with its own one-time public key in the same form.
//  3. Both multiply their private key by the other's public key. The session
//     key is SHA-256 of the shared point serialised as x||y, each coordinate
//     32 bytes big-endian (ckcc: sha256(x||y); firmware: libngu's ECDH hash
//     callback over x32 and y32). It is not libsecp256k1's default ECDH hash
//     (SHA-256 of the compressed point).
//  4. Each direction runs AES-256-CTR under that key with a 128-bit counter
//     starting at zero and incremented per 16-byte block. The two directions
//     are separate cipher instances; each keeps its position across messages
//     for the life of the session. Both start from the same counter, so
//     requests and replies share a keystream: the protocol's choice, which
//     the optional MiTM check does not change.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
)

// uncompressedXY returns a public key as x||y.
func uncompressedXY(pub *btcec.PublicKey) [64]byte {
	var out [64]byte
	copy(out[:], pub.SerializeUncompressed()[1:])
	return out
}

// sessionKey computes SHA-256(x||y) of priv times the peer's public key.
func sessionKey(priv *btcec.PrivateKey, peer [64]byte) ([32]byte, error) {
	pub, err := btcec.ParsePubKey(append([]byte{0x04}, peer[:]...))
	if err != nil {
		return [32]byte{}, fmt.Errorf("device public key is not on secp256k1: %w", err)
	}
	var p, shared btcec.JacobianPoint
	pub.AsJacobian(&p)
	btcec.ScalarMultNonConst(&priv.Key, &p, &shared)
	if (shared.X.IsZero() && shared.Y.IsZero()) || shared.Z.IsZero() {
		return [32]byte{}, errors.New("shared point is at infinity")
	}
	shared.ToAffine()
	var xy [64]byte
	shared.X.PutBytesUnchecked(xy[:32])
	shared.Y.PutBytesUnchecked(xy[32:])
	return sha256.Sum256(xy[:]), nil
}

// linkCipher holds the two AES-256-CTR streams of a session.
type linkCipher struct {
	key        [32]byte
	send, recv cipher.Stream // send encrypts requests, recv decrypts replies
}

func newLinkCipher(key [32]byte) (*linkCipher, error) {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	var iv [aes.BlockSize]byte // counter starts at zero
	return &linkCipher{
		key:  key,
		send: cipher.NewCTR(block, iv[:]),
		recv: cipher.NewCTR(block, iv[:]),
	}, nil
}

func (c *linkCipher) seal(msg []byte) []byte {
	out := make([]byte, len(msg))
	c.send.XORKeyStream(out, msg)
	return out
}

func (c *linkCipher) open(msg []byte) []byte {
	out := make([]byte, len(msg))
	c.recv.XORKeyStream(out, msg)
	return out
}
