package descriptor

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/countersign/countersign/internal/secp"
)

// fingerprintOf is BIP-32's key fingerprint: hash160 of the public key.
func fingerprintOf(k *hdkeychain.ExtendedKey) ([4]byte, error) {
	var fp [4]byte
	pk, err := k.ECPubKey()
	if err != nil {
		return fp, err
	}
	copy(fp[:], btcutil.Hash160(pk.SerializeCompressed()))
	return fp, nil
}

// newMAC is the HMAC-SHA512 keyed with a node's chain code, as deriveBatch
// keeps one per key.
func newMAC(n *pubNode) hash.Hash {
	return hmac.New(sha512.New, n.chainCode[:])
}

// benchXprv is a fixed test master private key.
func benchXprv(tb testing.TB, i int) string {
	tb.Helper()
	seed := sha256.Sum256([]byte(fmt.Sprintf("countersign test private key %d", i)))
	k, err := hdkeychain.NewMaster(seed[:], &chaincfg.MainNetParams)
	if err != nil {
		tb.Fatal(err)
	}
	return k.String()
}

// testPubKey is the public key of the scalar i+1, as hex.
func testPubKey(i int, uncompressed bool) string {
	var k btcec.ModNScalar
	k.SetInt(uint32(i + 1))
	pub := btcec.PrivKeyFromScalar(&k).PubKey()
	if uncompressed {
		return hex.EncodeToString(pub.SerializeUncompressed())
	}
	return hex.EncodeToString(pub.SerializeCompressed())
}

// testPubKeys lists n distinct keys joined by commas.
func testPubKeys(n int, uncompressed bool) string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = testPubKey(i, uncompressed)
	}
	return strings.Join(keys, ",")
}

// compressed returns the 33-byte compressed form of a non-infinite point.
func compressed(p *secp.Affine) []byte {
	out := make([]byte, 33)
	p.PutCompressed(out)
	return out
}
