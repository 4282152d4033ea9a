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

// MulG sets r to k·G with btcec's variable-base multiplication.
//
// btcec's fixed-base multiplication (ScalarBaseMultNonConst) is several
// times faster per call, but its first call in a process decompresses a
// 1.3 MB precomputed table: 12–16 ms on the project's machine, more than
// a whole `psbt finalize` spends on its other key arithmetic. The public
// arithmetic a coordinator does outside the batched paths is a handful
// of multiplications (a wallet's unranged BIP-32 steps, one check per
// round of batched derivation, a MuSig2 aggregate), so it uses this one
// (~0.1 ms each). Signing keeps btcec's own (constant-time) code.
func MulG(k *btcec.ModNScalar, r *btcec.JacobianPoint) {
	g := generator
	btcec.ScalarMultNonConst(k, &g, r)
}
