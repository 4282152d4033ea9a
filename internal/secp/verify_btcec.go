//go:build !libsecp256k1 || !cgo

package secp

import "github.com/btcsuite/btcd/btcec/v2/ecdsa"

const backend = "btcec"

func verify(hash, pub []byte, sig *ecdsa.Signature) bool { return verifyBtcec(hash, pub, sig) }

// verifyLibsecp is not built in: ok is false.
func verifyLibsecp(hash, pub []byte, sig *ecdsa.Signature) (valid, ok bool) { return false, false }
