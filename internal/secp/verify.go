package secp

import (
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// ECDSA verification.
//
// Verifying partial signatures is most of the work of combining,
// finalizing or inspecting a large PSBT (three per input of a 3-of-5
// wallet). VerifyECDSA has two implementations of the same contract:
// btcec's (pure Go, the default) and libsecp256k1's (through cgo, built
// with the libsecp256k1 build tag; several times faster). Both see the
// signature after the same strict DER check and btcec's parse, so they
// accept the same encodings and differ only in the curve arithmetic, which
// verify_test.go cross-checks on Wycheproof's vectors and random cases.

// VerifyECDSA reports whether der (a strict DER signature, BIP-66, without
// a sighash byte) is pub's valid ECDSA signature of the 32-byte hash. pub
// is a SEC1 key of 33 (02/03) or 65 (04) bytes. A signature with a high S
// value verifies, as in btcec: low S is a relay policy the caller
// enforces.
func VerifyECDSA(hash, pub, der []byte) bool {
	if len(hash) != 32 || !((len(pub) == 33 && (pub[0] == 0x02 || pub[0] == 0x03)) || (len(pub) == 65 && pub[0] == 0x04)) {
		return false
	}
	if !StrictDER(der) {
		return false
	}
	// btcec's parser checks that R and S are in 1..n-1.
	sig, err := ecdsa.ParseDERSignature(der)
	if err != nil {
		return false
	}
	return verify(hash, pub, sig)
}

// Backend names the implementation this binary verifies with:
// "libsecp256k1" or "btcec".
func Backend() string { return backend }

// verifyBtcec is btcec's ECDSA verification: the default, and the
// reference the libsecp256k1 build is cross-checked against.
func verifyBtcec(hash, pub []byte, sig *ecdsa.Signature) bool {
	key, err := btcec.ParsePubKey(pub)
	if err != nil {
		return false
	}
	return sig.Verify(hash, key)
}

// StrictDER reports whether der follows the BIP-66 strict DER rules that
// consensus enforces for signatures (here without the sighash byte): a
// SEQUENCE of two positive, minimally encoded INTEGERs whose lengths add
// up exactly, 8 to 72 bytes.
func StrictDER(der []byte) bool {
	if len(der) < 8 || len(der) > 72 {
		return false
	}
	if der[0] != 0x30 || int(der[1]) != len(der)-2 {
		return false
	}
	lenR := int(der[3])
	if 5+lenR >= len(der) {
		return false
	}
	lenS := int(der[5+lenR])
	if lenR+lenS+6 != len(der) {
		return false
	}
	return derInteger(der[2], der[4:4+lenR]) && derInteger(der[4+lenR], der[6+lenR:])
}

// derInteger checks one INTEGER of a DER signature: its tag, that it is not
// empty or negative, and that it has no superfluous leading zero.
func derInteger(tag byte, n []byte) bool {
	if tag != 0x02 || len(n) == 0 || n[0]&0x80 != 0 {
		return false
	}
	return !(len(n) > 1 && n[0] == 0x00 && n[1]&0x80 == 0)
}
