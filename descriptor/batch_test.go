package descriptor

import (
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/countersign/countersign/internal/secp"
)

func scalar(v uint32) btcec.ModNScalar {
	var k btcec.ModNScalar
	k.SetInt(v)
	return k
}

// refPoint computes k·G + base with btcec, as the reference.
func refPoint(t *testing.T, k btcec.ModNScalar, base *secp.Affine) secp.Affine {
	t.Helper()
	var kg, sum btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&k, &kg)
	b := base.Jacobian()
	btcec.AddNonConst(&kg, &b, &sum)
	if (sum.X.IsZero() && sum.Y.IsZero()) || sum.Z.IsZero() {
		return secp.Affine{Inf: true}
	}
	sum.ToAffine()
	var out secp.Affine
	out.X.SetFieldVal(&sum.X)
	out.Y.SetFieldVal(&sum.Y)
	return out
}

func affineOf(t *testing.T, k btcec.ModNScalar) *secp.Affine {
	t.Helper()
	p := refPoint(t, k, &secp.Affine{Inf: true})
	return &p
}

func negate(p *secp.Affine) *secp.Affine {
	n := *p
	var zero secp.Field
	n.Y.Sub(&zero, &p.Y)
	return &n
}

// TestVerifyRoundCatchesErrors: one wrong child makes the round fail.
func TestVerifyRoundCatchesErrors(t *testing.T) {
	table := secp.NewBaseTable()
	base := affineOf(t, scalar(42))
	ks := []btcec.ModNScalar{scalar(1), scalar(2), scalar(3)}
	bases := []*secp.Affine{base, base, base}
	out := make([]secp.Affine, 3)
	table.MulBaseAdd(ks, bases, out, &secp.BatchAdder{})
	if !verifyRound(ks, bases, out) {
		t.Fatal("correct round rejected")
	}
	bad := append([]secp.Affine(nil), out...)
	bad[1] = *negate(&bad[1])
	if verifyRound(ks, bases, bad) {
		t.Fatal("a negated child passed verification")
	}
	bad = append([]secp.Affine(nil), out...)
	bad[2] = *affineOf(t, scalar(5))
	if verifyRound(ks, bases, bad) {
		t.Fatal("a wrong child passed verification")
	}
}

// TestMulSmall compares the double-and-add used by verifyRound with
// btcec's scalar multiplication.
func TestMulSmall(t *testing.T) {
	p := affineOf(t, scalar(1234567)).Jacobian()
	for k := 1; k <= 300; k++ {
		got := mulSmall(k, &p)
		var want btcec.JacobianPoint
		ks := scalar(uint32(k))
		btcec.ScalarMultNonConst(&ks, &p, &want)
		if !sameJacobian(&got, &want) {
			t.Fatalf("mulSmall(%d) differs", k)
		}
	}
}
