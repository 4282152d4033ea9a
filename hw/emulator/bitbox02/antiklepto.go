package bitbox02

import (
	"crypto/sha256"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// The firmware signs every ECDSA input with secp256k1-zkp's sign-to-contract
// signature (bitbox02-firmware commit
// a3467ad11daee7081cc041ba9217c81e471022e6,
// src/rust/bitbox02-rust/src/hww/api/bitcoin/signtx.rs and
// src/rust/bitbox-secp256k1/src/lib.rs secp256k1_sign /
// secp256k1_nonce_commit, which call secp256k1-zkp's
// src/modules/ecdsa_s2c/main_impl.h). When the host takes part in the
// anti-klepto protocol it supplies the contract data (its host nonce);
// otherwise the firmware contracts to 32 zero bytes, which is why its
// signatures differ from plain RFC 6979 ones.
//
//	ndata = SHA256_tagged("s2c/ecdsa/data", data)        the host's commitment
//	k0    = RFC 6979(seckey, msg mod n, extra = ndata)   the original nonce
//	R0    = k0·G                                          the signer's commitment
//	k     = k0 + SHA256_tagged("s2c/ecdsa/point", R0 compressed || data)
//	sig   = ECDSA with nonce k, low S
//
// The host checks that the signature's R is R0 + tweak·G, so the device
// cannot choose its nonce alone (and leak key bits through it).

// taggedHash is BIP-340 style SHA256(SHA256(tag) || SHA256(tag) || msg...).
func taggedHash(tag string, msg ...[]byte) [32]byte {
	t := sha256.Sum256([]byte(tag))
	h := sha256.New()
	h.Write(t[:])
	h.Write(t[:])
	for _, m := range msg {
		h.Write(m)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// hostNonceCommitment is secp256k1_ecdsa_anti_exfil_host_commit: what the
// host sends before it reveals its nonce.
func hostNonceCommitment(hostNonce []byte) [32]byte {
	return taggedHash("s2c/ecdsa/data", hostNonce)
}

// s2cOriginalNonce is the nonce before the contract tweak, derived as
// secp256k1_nonce_function_default does with the commitment as extra data.
// libsecp256k1 reduces the message modulo n before hashing it; the
// RFC 6979 helper does not, so it is reduced here.
func s2cOriginalNonce(priv *btcec.PrivateKey, digest []byte, commitment [32]byte, iteration uint32) *btcec.ModNScalar {
	var m btcec.ModNScalar
	m.SetByteSlice(digest)
	msg := m.Bytes()
	key := priv.Key.Bytes()
	return btcec.NonceRFC6979(key[:], msg[:], commitment[:], nil, iteration)
}

// signerCommitment is secp256k1_ecdsa_anti_exfil_signer_commit: R0,
// compressed, for a host that committed to its nonce with commitment.
func signerCommitment(priv *btcec.PrivateKey, digest []byte, commitment [32]byte) []byte {
	k0 := s2cOriginalNonce(priv, digest, commitment, 0)
	var r0 btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(k0, &r0)
	r0.ToAffine()
	return btcec.NewPublicKey(&r0.X, &r0.Y).SerializeCompressed()
}

// s2cSign is secp256k1_anti_exfil_sign: the 64-byte compact (R || S)
// signature of digest whose nonce commits to data (the host nonce, or 32
// zero bytes when the host did not take part).
func s2cSign(priv *btcec.PrivateKey, digest []byte, data []byte) [64]byte {
	commitment := hostNonceCommitment(data)
	var z btcec.ModNScalar
	z.SetByteSlice(digest)
	for iteration := uint32(0); ; iteration++ {
		k := s2cOriginalNonce(priv, digest, commitment, iteration)
		var r0 btcec.JacobianPoint
		btcec.ScalarBaseMultNonConst(k, &r0)
		r0.ToAffine()
		tweak := taggedHash("s2c/ecdsa/point", btcec.NewPublicKey(&r0.X, &r0.Y).SerializeCompressed(), data)
		var t btcec.ModNScalar
		if t.SetBytes(&tweak) != 0 {
			continue // the tweak overflowed n: cryptographically unreachable
		}
		k.Add(&t)
		if k.IsZero() {
			continue
		}
		var rp btcec.JacobianPoint
		btcec.ScalarBaseMultNonConst(k, &rp)
		rp.ToAffine()
		var r btcec.ModNScalar
		rx := rp.X.Bytes()
		r.SetBytes(rx)
		if r.IsZero() {
			continue
		}
		// s = k⁻¹ (z + r·d), then low S.
		var s btcec.ModNScalar
		s.Mul2(&r, &priv.Key).Add(&z)
		kinv := new(btcec.ModNScalar).InverseValNonConst(k)
		s.Mul(kinv)
		if s.IsZero() {
			continue
		}
		if s.IsOverHalfOrder() {
			s.Negate()
		}
		var out [64]byte
		r.PutBytesUnchecked(out[:32])
		s.PutBytesUnchecked(out[32:])
		return out
	}
}

// kleptoSign is what a compromised device sends (Config.Klepto): a valid
// signature whose nonce ignores the host's contribution.
func kleptoSign(priv *btcec.PrivateKey, digest []byte) [64]byte {
	compact := ecdsa.SignCompact(priv, digest, true) // recovery byte || R || S
	var out [64]byte
	copy(out[:], compact[1:])
	return out
}
