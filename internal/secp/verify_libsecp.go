//go:build libsecp256k1 && cgo

package secp

// Verification with libsecp256k1 (Bitcoin Core's library; Debian package
// libsecp256k1-dev, version 0.2.0 or later for secp256k1_context_static).
// Build with -tags libsecp256k1 where it is installed; the Makefile does
// when a C compiler finds it.

/*
#cgo LDFLAGS: -lsecp256k1
#include <secp256k1.h>

// cs_verify verifies a DER signature against a SEC1 public key. It returns
// 1 for a valid signature, 0 otherwise. A high S is normalized first:
// libsecp256k1 only verifies low-S signatures, btcec both.
static int cs_verify(const unsigned char *hash32, const unsigned char *pub, size_t publen, const unsigned char *der, size_t derlen) {
	const secp256k1_context *ctx = secp256k1_context_static;
	secp256k1_pubkey pk;
	secp256k1_ecdsa_signature sig;
	if (!secp256k1_ec_pubkey_parse(ctx, &pk, pub, publen)) {
		return 0;
	}
	if (!secp256k1_ecdsa_signature_parse_der(ctx, &sig, der, derlen)) {
		return 0;
	}
	secp256k1_ecdsa_signature_normalize(ctx, &sig, &sig);
	return secp256k1_ecdsa_verify(ctx, &sig, hash32, &pk);
}
*/
import "C"

import (
	"unsafe"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

const backend = "libsecp256k1"

func verify(hash, pub []byte, sig *ecdsa.Signature) bool {
	valid, _ := verifyLibsecp(hash, pub, sig)
	return valid
}

// verifyLibsecp is libsecp256k1's ECDSA verification (ok: it is built
// in). The signature was parsed by btcec (R and S in 1..n-1);
// libsecp256k1 gets btcec's canonical DER serialization of it, so both see
// the same R and S.
func verifyLibsecp(hash, pub []byte, sig *ecdsa.Signature) (valid, ok bool) {
	der := sig.Serialize()
	r := C.cs_verify((*C.uchar)(unsafe.Pointer(&hash[0])), (*C.uchar)(unsafe.Pointer(&pub[0])), C.size_t(len(pub)),
		(*C.uchar)(unsafe.Pointer(&der[0])), C.size_t(len(der)))
	return r == 1, true
}
