// Package secp is fast, variable-time secp256k1 arithmetic for public data
// only: a 64-bit-limb base field (Field) and batched affine point sums with
// one shared inversion per round (Affine, BaseTable, BatchAdder), which the
// descriptor package uses to derive thousands of public child keys at
// once; public key validity without building the point (ValidPubKey), for
// decoding large PSBTs; and ECDSA verification (VerifyECDSA) with btcec or,
// built with the libsecp256k1 tag, Bitcoin Core's libsecp256k1 through
// cgo. Nothing here may touch a secret: it is not constant time. Callers
// check every batch against btcec's own arithmetic (descriptor's
// verifyRound); field_test.go checks each field operation against
// math/big, sqrt_test.go key validity against btcec, verify_test.go both
// verifiers on Wycheproof's vectors and against each other.
package secp
