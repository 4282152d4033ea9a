package descriptor

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/countersign/countersign/internal/secp"
)

// pubNode is an extended public key prepared for repeated BIP-32 public
// child derivation (CKDpub). hdkeychain re-parses and decompresses the parent
// public key on every Derive call; keeping the parent as a curve point makes
// a child cost one HMAC-SHA512, one fixed-base multiplication, one point
// addition and one inversion, which is what makes deriving thousands of
// addresses fast.
type pubNode struct {
	chainCode [32]byte
	pubKey    [33]byte            // compressed serialization, hashed into every child
	point     btcec.JacobianPoint // the same key as an affine point (Z = 1)
}

// newPubNode prepares a node from a compressed public key and chain code.
func newPubNode(pubKey, chainCode []byte) (*pubNode, error) {
	pk, err := btcec.ParsePubKey(pubKey)
	if err != nil {
		return nil, fmt.Errorf("extended key holds an invalid public key: %w", err)
	}
	if len(chainCode) != 32 {
		return nil, fmt.Errorf("extended key chain code is %d bytes, not 32", len(chainCode))
	}
	n := &pubNode{}
	copy(n.chainCode[:], chainCode)
	copy(n.pubKey[:], pk.SerializeCompressed())
	pk.AsJacobian(&n.point)
	return n, nil
}

// nodeFromExtendedKey prepares a node from an hdkeychain key, public or
// private.
func nodeFromExtendedKey(k *hdkeychain.ExtendedKey) (*pubNode, error) {
	pk, err := k.ECPubKey()
	if err != nil {
		return nil, fmt.Errorf("extended key holds an invalid key: %w", err)
	}
	return newPubNode(pk.SerializeCompressed(), k.ChainCode())
}

// errInvalidChild is BIP-32's "the resulting key is invalid" case (IL >= n or
// the point at infinity), which happens with probability below 2^-127.
var errInvalidChild = errors.New("BIP-32 child key is invalid at this index (IL >= n or the point at infinity); BIP-32 says to skip to the next index")

// ckd derives the non-hardened child i: I = HMAC-SHA512(c, serP(K) || ser32(i)),
// K_i = point(IL) + K, c_i = IR.
func (n *pubNode) ckd(i uint32) (pubKey [33]byte, chainCode [32]byte, err error) {
	var sum [sha512.Size]byte
	il, err := n.tweak(hmac.New(sha512.New, n.chainCode[:]), i, &sum)
	if err != nil {
		return pubKey, chainCode, err
	}
	var tweak, child btcec.JacobianPoint
	secp.MulBase(&il, &tweak)
	btcec.AddNonConst(&tweak, &n.point, &child)
	if (child.X.IsZero() && child.Y.IsZero()) || child.Z.IsZero() {
		return pubKey, chainCode, errInvalidChild
	}
	child.ToAffine()
	pubKey[0] = 0x02 | byte(child.Y.IsOddBit())
	child.X.PutBytesUnchecked(pubKey[1:])
	copy(chainCode[:], sum[32:])
	return pubKey, chainCode, nil
}

// tweak computes I = HMAC-SHA512(c, serP(K) || ser32(i)) into sum with mac,
// an HMAC keyed with the node's chain code (reset here, so one can be reused
// across calls), and returns IL as a scalar.
func (n *pubNode) tweak(mac hash.Hash, i uint32, sum *[sha512.Size]byte) (btcec.ModNScalar, error) {
	var il btcec.ModNScalar
	if i >= HardenedKeyStart {
		return il, errHardenedFromPublic
	}
	var data [37]byte
	copy(data[:33], n.pubKey[:])
	binary.BigEndian.PutUint32(data[33:], i)
	mac.Reset()
	mac.Write(data[:])
	mac.Sum(sum[:0])
	if overflow := il.SetByteSlice(sum[:32]); overflow {
		return il, errInvalidChild
	}
	return il, nil
}

// affine is the node's key as an secp.Affine for batched derivation.
func (n *pubNode) affine() *secp.Affine {
	a := &secp.Affine{}
	a.X.SetFieldVal(&n.point.X)
	a.Y.SetFieldVal(&n.point.Y)
	return a
}

// child derives the non-hardened child node i.
func (n *pubNode) child(i uint32) (*pubNode, error) {
	pub, cc, err := n.ckd(i)
	if err != nil {
		return nil, err
	}
	return newPubNode(pub[:], cc[:])
}

// errHardenedFromPublic is returned when a path asks an xpub for a hardened
// child: that needs the parent private key (BIP-32 CKDpriv only).
var errHardenedFromPublic = errors.New("hardened derivation after an xpub needs the private key: ask the cosigner for the xpub at the end of the hardened path and put the hardened steps in the key origin instead")
