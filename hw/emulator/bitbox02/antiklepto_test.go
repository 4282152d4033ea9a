package bitbox02

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// The firmware's own vectors for its secp256k1 wrapper, from
// bitbox02-firmware commit a3467ad11daee7081cc041ba9217c81e471022e6,
// src/rust/bitbox-secp256k1/src/lib.rs (Apache-2.0): test_secp256k1_nonce_commit,
// test_secp256k1_sign_no_host_nonce_deterministic and
// test_secp256k1_sign_zero_host_nonce_differs_from_no_host_nonce_sign.
const (
	fwVectorKey = "a2d8cf543c60d65162b5a06f0cef9760c883f8aa09f31236859faa85d0b74c7c"
	// fwVectorPlainSig is plain RFC 6979 (no contract) of msg 0x88…88.
	fwVectorPlainSig = "a58eaaad54d6af33e3844b1c59b70aa9a0ad5bb9e072e5d006a4cd3b27694fc12d38d8488c07586207bf0ade93af18fc7d28e0242df938ff1f495d489111192a"
	// fwVectorCommit is the signer commitment for msg 0x88…88 and host
	// commitment 0xab…ab.
	fwVectorCommit = "0381e4136251c87f2947b735159c6dd644a7b58d35b437e20c878e5129f1320e5e"
)

func fwVectorPriv(t *testing.T) *btcec.PrivateKey {
	t.Helper()
	b, err := hex.DecodeString(fwVectorKey)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := btcec.PrivKeyFromBytes(b)
	return priv
}

func TestSignerCommitmentFirmwareVector(t *testing.T) {
	priv := fwVectorPriv(t)
	msg := bytes.Repeat([]byte{0x88}, 32)
	var hc [32]byte
	copy(hc[:], bytes.Repeat([]byte{0xab}, 32))
	if got := hex.EncodeToString(signerCommitment(priv, msg, hc)); got != fwVectorCommit {
		t.Fatalf("signer commitment %s, want %s", got, fwVectorCommit)
	}
	// The RFC 6979 underneath is libsecp256k1's: without extra data it
	// gives the firmware's plain signature.
	plain := ecdsa.SignCompact(priv, msg, true)[1:]
	if got := hex.EncodeToString(plain); got != fwVectorPlainSig {
		t.Fatalf("plain signature %s, want %s", got, fwVectorPlainSig)
	}
}

// hostVerify is the host's anti-klepto check, written from the protocol
// description in secp256k1-zkp include/secp256k1_ecdsa_s2c.h ("ECDSA
// Anti-Klepto Protocol", step 5) with big-integer curve arithmetic, apart
// from the emulator's ModNScalar code: the signature's R must be
// R0 + SHA256_tagged("s2c/ecdsa/point", R0 || host nonce)·G.
func hostVerify(t *testing.T, pub *btcec.PublicKey, msg, hostNonce, commitment []byte, sig [64]byte) {
	t.Helper()
	r0, err := btcec.ParsePubKey(commitment)
	if err != nil {
		t.Fatalf("signer commitment: %v", err)
	}
	tag := sha256.Sum256([]byte("s2c/ecdsa/point"))
	h := sha256.New()
	h.Write(tag[:])
	h.Write(tag[:])
	h.Write(r0.SerializeCompressed())
	h.Write(hostNonce)
	curve := btcec.S256()
	tx, ty := curve.ScalarBaseMult(h.Sum(nil))
	x, _ := curve.Add(r0.X(), r0.Y(), tx, ty)
	x.Mod(x, curve.Params().N)
	if x.Cmp(new(big.Int).SetBytes(sig[:32])) != 0 {
		t.Fatal("the signature's R does not commit to the host nonce")
	}
	var r, s btcec.ModNScalar
	r.SetByteSlice(sig[:32])
	s.SetByteSlice(sig[32:])
	if !ecdsa.NewSignature(&r, &s).Verify(msg, pub) {
		t.Fatal("the signature does not verify")
	}
	if s.IsOverHalfOrder() {
		t.Fatal("high S")
	}
}

// TestAntiKleptoProtocol runs the host's and the signer's steps, as
// keystore.rs test_secp256k1_antiklepto_protocol does: the host commits,
// the signer commits to its nonce, the host reveals, the signature
// contains the host's contribution.
func TestAntiKleptoProtocol(t *testing.T) {
	priv := fwVectorPriv(t)
	msg := bytes.Repeat([]byte{0x23}, 32)
	hostNonce := bytes.Repeat([]byte{0x55}, 32)
	seen := map[[64]byte]bool{}
	for i := range 3 {
		msg[0], hostNonce[0] = byte(i), byte(i)
		hc := hostNonceCommitment(hostNonce)
		commitment := signerCommitment(priv, msg, hc)
		sig := s2cSign(priv, msg, hostNonce)
		hostVerify(t, priv.PubKey(), msg, hostNonce, commitment, sig)
		seen[sig] = true
		// Another host nonce gives another signature, which fails the
		// check against the first commitment.
		other := bytes.Clone(hostNonce)
		other[31] ^= 1
		if s2 := s2cSign(priv, msg, other); s2 == sig {
			t.Fatal("the host nonce does not change the signature")
		}
	}
	if len(seen) != 3 {
		t.Fatal("signatures repeat")
	}
}

// TestZeroContractSignature: without a host nonce the firmware still signs
// with a contract to 32 zero bytes, which is not the plain RFC 6979
// signature (lib.rs test_secp256k1_sign_zero_host_nonce_differs_…).
func TestZeroContractSignature(t *testing.T) {
	priv := fwVectorPriv(t)
	msg := bytes.Repeat([]byte{0x88}, 32)
	zero := make([]byte, 32)
	sig := s2cSign(priv, msg, zero)
	if hex.EncodeToString(sig[:]) == fwVectorPlainSig {
		t.Fatal("the zero-contract signature equals the plain one")
	}
	hc := hostNonceCommitment(zero)
	hostVerify(t, priv.PubKey(), msg, zero, signerCommitment(priv, msg, hc), sig)
	if s2cSign(priv, msg, zero) != sig {
		t.Fatal("not deterministic")
	}
}
