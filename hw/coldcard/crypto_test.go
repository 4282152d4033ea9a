package coldcard

import (
	"bytes"
	"crypto/aes"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
)

// Golden session vector. Fixed one-time keys (0x11..11 for the host, 0x22..22
// for the device); the expected public keys, session key and ciphertexts were
// computed outside Go with textbook affine secp256k1 arithmetic in Python,
// hashlib.sha256 over x||y, and the `cryptography` package's AES-256-CTR
// with a zero initial counter, as ckcc's client.py and the firmware's usb.py
// document the session.
const (
	vecHostPriv = "1111111111111111111111111111111111111111111111111111111111111111"
	vecDevPriv  = "2222222222222222222222222222222222222222222222222222222222222222"
	vecHostPub  = "4f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa385b6b1b8ead809ca67454d9683fcf2ba03456d6fe2c4abe2b07f0fbdbb2f1c1"
	vecDevPub   = "466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f276728176c3c6431f8eeda4538dc37c865e2784f3a9e77d044f33e407797e1278a"
	vecKey      = "3b2265dac86fe15fdaa31b1273fb3f8cbfc54663a7298f5e36ddac38e22dd993"
	// Two requests in a row on one session: the counter runs on.
	vecMsg1 = "xpubm/48h/1h/0h/2h"
	vecCt1  = "45ae9dcd57675cc20a01122076433e213d34"
	vecCt2  = "e63280f15a8e0414bd3537f41f6d71c01766bde0d90cc5c95a7a1e13a3924f56f803edca04d184157bf56619"
)

var vecMsg2 = append([]byte("sha2"), func() []byte {
	b := make([]byte, 40)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()...)

// affineMul is double-and-add over secp256k1 with math/big, written from the
// curve equation: the test's own first-principles ECDH.
func affineMul(k *big.Int, x, y *big.Int) (*big.Int, *big.Int) {
	p := btcec.S256().Params().P
	add := func(x1, y1, x2, y2 *big.Int) (*big.Int, *big.Int) {
		if x1 == nil {
			return x2, y2
		}
		var l *big.Int
		if x1.Cmp(x2) == 0 && y1.Cmp(y2) == 0 {
			num := new(big.Int).Mul(x1, x1)
			num.Mul(num, big.NewInt(3))
			den := new(big.Int).Lsh(y1, 1)
			l = num.Mul(num, den.ModInverse(den, p))
		} else {
			num := new(big.Int).Sub(y2, y1)
			den := new(big.Int).Sub(x2, x1)
			den.Mod(den, p)
			l = num.Mul(num, den.ModInverse(den, p))
		}
		l.Mod(l, p)
		x3 := new(big.Int).Mul(l, l)
		x3.Sub(x3, x1).Sub(x3, x2).Mod(x3, p)
		y3 := new(big.Int).Sub(x1, x3)
		y3.Mul(y3, l).Sub(y3, y1).Mod(y3, p)
		return x3, y3
	}
	var rx, ry *big.Int
	for i := k.BitLen() - 1; i >= 0; i-- {
		if rx != nil {
			rx, ry = add(rx, ry, rx, ry)
		}
		if k.Bit(i) == 1 {
			rx, ry = add(rx, ry, x, y)
		}
	}
	return rx, ry
}

func TestSessionKeyGoldenVector(t *testing.T) {
	host, _ := btcec.PrivKeyFromBytes(mustHex(vecHostPriv))
	dev, _ := btcec.PrivKeyFromBytes(mustHex(vecDevPriv))
	hostPub, devPub := uncompressedXY(host.PubKey()), uncompressedXY(dev.PubKey())
	if hex.EncodeToString(hostPub[:]) != vecHostPub || hex.EncodeToString(devPub[:]) != vecDevPub {
		t.Fatalf("public keys:\n%x\n%x", hostPub, devPub)
	}

	// First principles: shared point = host_priv * device_pub, key =
	// sha256(x || y) with 32-byte big-endian coordinates.
	x, y := affineMul(new(big.Int).SetBytes(mustHex(vecHostPriv)),
		new(big.Int).SetBytes(devPub[:32]), new(big.Int).SetBytes(devPub[32:]))
	var xy [64]byte
	x.FillBytes(xy[:32])
	y.FillBytes(xy[32:])
	independent := sha256.Sum256(xy[:])
	if hex.EncodeToString(independent[:]) != vecKey {
		t.Fatalf("first-principles key %x, vector %s", independent, vecKey)
	}

	// Both ends of the driver's code agree with it.
	for _, c := range []struct {
		priv *btcec.PrivateKey
		peer [64]byte
	}{{host, devPub}, {dev, hostPub}} {
		k, err := sessionKey(c.priv, c.peer)
		if err != nil {
			t.Fatal(err)
		}
		if k != independent {
			t.Fatalf("sessionKey = %x, want %x", k, independent)
		}
	}

	// Not libsecp256k1's default hash of the compressed point.
	compressed := append([]byte{2 + byte(y.Bit(0))}, xy[:32]...)
	if sha256.Sum256(compressed) == independent {
		t.Fatal("vector cannot tell the two ECDH hashes apart")
	}

	// A peer key off the curve is refused, not multiplied.
	bad := devPub
	bad[63] ^= 1
	if _, err := sessionKey(host, bad); err == nil {
		t.Fatal("off-curve device key accepted")
	}
}

func TestLinkCipherCTR(t *testing.T) {
	var key [32]byte
	copy(key[:], mustHex(vecKey))
	host, err := newLinkCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	c1 := host.seal([]byte(vecMsg1))
	c2 := host.seal(vecMsg2)
	if hex.EncodeToString(c1) != vecCt1 || hex.EncodeToString(c2) != vecCt2 {
		t.Fatalf("ciphertexts\n%x\n%x", c1, c2)
	}

	// The same from crypto/aes by hand: keystream block n is
	// AES_k(n as a 128-bit big-endian counter), starting at 0.
	block, _ := aes.NewCipher(key[:])
	plain := append([]byte(vecMsg1), vecMsg2...)
	var stream []byte
	for n := 0; len(stream) < len(plain); n++ {
		var ctr, ks [16]byte
		ctr[15] = byte(n)
		block.Encrypt(ks[:], ctr[:])
		stream = append(stream, ks[:]...)
	}
	want := make([]byte, len(plain))
	for i := range plain {
		want[i] = plain[i] ^ stream[i]
	}
	if !bytes.Equal(append(c1, c2...), want) {
		t.Fatal("link cipher differs from AES-256-CTR computed with crypto/aes")
	}

	// The device decrypts with its own stream from counter zero; replies
	// use a separate stream.
	dev, _ := newLinkCipher(key)
	if got := dev.open(c1); string(got) != vecMsg1 {
		t.Fatalf("decrypted %q", got)
	}
	if got := dev.open(c2); !bytes.Equal(got, vecMsg2) {
		t.Fatalf("decrypted %x", got)
	}
	if got := host.open(dev.seal([]byte("okay"))); string(got) != "okay" {
		t.Fatalf("reply decrypted to %q", got)
	}
}
