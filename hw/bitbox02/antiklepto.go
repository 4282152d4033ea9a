package bitbox02

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// Anti-klepto (anti-exfil) for the BitBox02's ECDSA signatures, written
// from secp256k1-zkp's src/modules/ecdsa_s2c (main_impl.h:
// secp256k1_ecdsa_anti_exfil_host_commit and
// secp256k1_ecdsa_anti_exfil_host_verify) as bitbox02-firmware uses it at
// commit a3467ad11daee7081cc041ba9217c81e471022e6 (signtx.rs,
// antiklepto.proto). A device that picks its signing nonces alone can leak
// its key through them, a few bits per signature, unseen. With
// anti-klepto the host commits to a secret nonce first, the device then
// commits to its own nonce point R0, the host reveals its nonce, and the
// signature must use R0 tweaked by the host's nonce:
//
//	host commitment = SHA256_tagged("s2c/ecdsa/data", host nonce)
//	R               = R0 + SHA256_tagged("s2c/ecdsa/point", R0 || host nonce)·G
//	accepted when     signature r = x(R) mod n
//
// Neither side alone chooses R, so the nonce cannot carry a hidden channel.

// antiKlepto holds one signing session's host nonces and the device's
// commitments, per input.
type antiKlepto struct {
	nonces  [][32]byte
	signers [][]byte // the device's R0 per input, compressed; nil until sent
}

func newAntiKlepto(n int) (*antiKlepto, error) {
	a := &antiKlepto{nonces: make([][32]byte, n), signers: make([][]byte, n)}
	for i := range a.nonces {
		if _, err := rand.Read(a.nonces[i][:]); err != nil {
			return nil, fmt.Errorf("anti-klepto: draw a host nonce: %w", err)
		}
	}
	return a, nil
}

// s2cTagged is the BIP-340-style tagged hash secp256k1-zkp's s2c module
// uses (btcd's chainhash.TaggedHash).
func s2cTagged(tag string, parts ...[]byte) [32]byte {
	return *chainhash.TaggedHash([]byte(tag), parts...)
}

// hostCommitment is what input i's request carries.
func (a *antiKlepto) hostCommitment(i int) [32]byte {
	return s2cTagged("s2c/ecdsa/data", a.nonces[i][:])
}

// reveal records the device's commitment for input i and returns the host
// nonce to send. A commitment that is not a point, or a second one for
// the same input, is refused.
func (a *antiKlepto) reveal(i int, signer []byte) ([]byte, error) {
	if a.signers[i] != nil {
		return nil, errors.New("the device asked twice for the anti-klepto nonce")
	}
	if _, err := btcec.ParsePubKey(signer); err != nil || len(signer) != 33 {
		return nil, fmt.Errorf("the device's anti-klepto commitment is not a compressed point (%d bytes)", len(signer))
	}
	a.signers[i] = append([]byte(nil), signer...)
	return append([]byte(nil), a.nonces[i][:]...), nil
}

// errKlepto names what a signature that fails the check means.
var errKlepto = errors.New("the BitBox02's signature does not use the nonce both sides committed to (anti-klepto check failed): it is refused, and the device should not be trusted with keys until this is explained")

// verify checks input i's 64-byte R||S signature against the exchange.
func (a *antiKlepto) verify(i int, sig []byte) error {
	if len(sig) != 64 {
		return fmt.Errorf("the device sent a signature of %d bytes, want 64", len(sig))
	}
	if a.signers[i] == nil {
		return errors.New("the device signed without the anti-klepto exchange (firmware too old, or it skipped the host nonce): refused")
	}
	r0, err := btcec.ParsePubKey(a.signers[i])
	if err != nil {
		return err
	}
	tweak := s2cTagged("s2c/ecdsa/point", a.signers[i], a.nonces[i][:])
	var t btcec.ModNScalar
	if t.SetBytes(&tweak) != 0 {
		return errKlepto // an overflowing tweak: cryptographically unreachable
	}
	var tg, r0j, sum btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&t, &tg)
	r0.AsJacobian(&r0j)
	btcec.AddNonConst(&r0j, &tg, &sum)
	if (sum.X.IsZero() && sum.Y.IsZero()) || sum.Z.IsZero() {
		return errKlepto
	}
	sum.ToAffine()
	var want, got btcec.ModNScalar
	x := sum.X.Bytes()
	want.SetBytes(x)
	if got.SetByteSlice(sig[:32]) || !got.Equals(&want) {
		return errKlepto
	}
	return nil
}
