// Package secp is fast, variable-time secp256k1 arithmetic for public data
// only: a 64-bit-limb base field (Field) and batched affine point sums with
// one shared inversion per round (Affine, BaseTable, BatchAdder). The
// descriptor package uses it to derive thousands of public child keys at
// once. Nothing here may touch a secret: it is not constant time. Callers
// check every batch against btcec's own arithmetic (descriptor's
// verifyRound), and field_test.go checks each operation against math/big.
package secp
