package secp

import "github.com/btcsuite/btcd/btcec/v2"

// generator is G in Jacobian coordinates.
var generator = func() btcec.JacobianPoint {
	var g btcec.JacobianPoint
	g.X.SetByteSlice(btcec.S256().Gx.Bytes())
	g.Y.SetByteSlice(btcec.S256().Gy.Bytes())
	g.Z.SetInt(1)
	return g
}()

// MulG sets r to k·G with btcec's variable-base multiplication (~90 µs),
// independently of this package's table: for the checks that must not
// share the table with what they check (descriptor's verifyRound), and
// the rare multiplications of MuSig2.
//
// btcec's fixed-base multiplication (ScalarBaseMultNonConst) is faster
// per call, but its first call in a process decompresses a 1.3 MB
// precomputed table: 12–16 ms on the project's machine, more than a whole
// `psbt finalize` spends on its other key arithmetic. Signing keeps
// btcec's own (constant-time) code.
func MulG(k *btcec.ModNScalar, r *btcec.JacobianPoint) {
	g := generator
	btcec.ScalarMultNonConst(k, &g, r)
}

// MulBase sets r to k·G from the shared fixed-base table: one table entry
// per non-zero byte of k, added with btcec's mixed Jacobian addition (~15
// µs, against ~90 for MulG). It is what a single BIP-32 public derivation
// uses; the table is held equal to btcec's multiples of G by
// TestEmbeddedBaseTable and TestBaseTableAgainstBtcec, and MulBase to
// btcec's fixed-base multiplication by TestMulBase.
func MulBase(k *btcec.ModNScalar, r *btcec.JacobianPoint) {
	t := SharedBaseTable()
	digits := k.Bytes()
	var acc btcec.JacobianPoint // the point at infinity (Z = 0)
	for w := range windows {
		d := digits[31-w]
		if d == 0 {
			continue
		}
		e := &t[w][d-1]
		var p, sum btcec.JacobianPoint
		p.X, p.Y = e.X.FieldVal(), e.Y.FieldVal()
		p.Z.SetInt(1)
		btcec.AddNonConst(&acc, &p, &sum)
		acc = sum
	}
	*r = acc
}
