package secp

import (
	"crypto/sha256"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// The pieces of checking a PSBT's signatures, per operation:
//
//	go test -run '^$' -bench . ./internal/secp/                       (btcec)
//	go test -tags libsecp256k1 -run '^$' -bench . ./internal/secp/    (libsecp256k1)

func benchSig(b *testing.B) (hash, pub, der []byte) {
	k, err := btcec.NewPrivateKey()
	if err != nil {
		b.Fatal(err)
	}
	h := sha256.Sum256([]byte("countersign"))
	return h[:], k.PubKey().SerializeCompressed(), ecdsa.Sign(k, h[:]).Serialize()
}

// BenchmarkVerifyECDSA is one verification with this binary's backend.
func BenchmarkVerifyECDSA(b *testing.B) {
	h, pub, der := benchSig(b)
	b.Run(Backend(), func(b *testing.B) {
		for b.Loop() {
			if !VerifyECDSA(h, pub, der) {
				b.Fatal("does not verify")
			}
		}
	})
}

// BenchmarkValidPubKey is the curve check of a compressed key, against
// btcec's parser doing the same work and more.
func BenchmarkValidPubKey(b *testing.B) {
	_, pub, _ := benchSig(b)
	b.Run("secp", func(b *testing.B) {
		for b.Loop() {
			ValidPubKey(pub)
		}
	})
	b.Run("btcec.ParsePubKey", func(b *testing.B) {
		for b.Loop() {
			_, _ = btcec.ParsePubKey(pub)
		}
	})
}

// BenchmarkNewBaseTable is the table every process derives addresses
// with, built once per wallet descriptor.
func BenchmarkNewBaseTable(b *testing.B) {
	for b.Loop() {
		NewBaseTable()
	}
}

// BenchmarkMulBase is one k·G from the shared table (a single BIP-32
// public derivation's multiplication); BenchmarkMulG the same with
// btcec's variable-base multiplication.
func BenchmarkMulBase(b *testing.B) {
	var k btcec.ModNScalar
	k.SetByteSlice([]byte("countersign MulBase benchmark k."))
	var r btcec.JacobianPoint
	SharedBaseTable()
	for b.Loop() {
		MulBase(&k, &r)
	}
}

func BenchmarkMulG(b *testing.B) {
	var k btcec.ModNScalar
	k.SetByteSlice([]byte("countersign MulBase benchmark k."))
	var r btcec.JacobianPoint
	for b.Loop() {
		MulG(&k, &r)
	}
}
