package descriptor

import (
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
)

func scalar(v uint32) btcec.ModNScalar {
	var k btcec.ModNScalar
	k.SetInt(v)
	return k
}

// refPoint computes k·G + base with btcec, as the reference.
func refPoint(t *testing.T, k btcec.ModNScalar, base *affinePoint) affinePoint {
	t.Helper()
	var kg, sum btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&k, &kg)
	b := base.jacobian()
	btcec.AddNonConst(&kg, &b, &sum)
	if (sum.X.IsZero() && sum.Y.IsZero()) || sum.Z.IsZero() {
		return affinePoint{inf: true}
	}
	sum.ToAffine()
	var out affinePoint
	out.x.setFieldVal(&sum.X)
	out.y.setFieldVal(&sum.Y)
	return out
}

func affineOf(t *testing.T, k btcec.ModNScalar) *affinePoint {
	t.Helper()
	p := refPoint(t, k, &affinePoint{inf: true})
	return &p
}

func negate(p *affinePoint) *affinePoint {
	n := *p
	var zero fe
	n.y.sub(&zero, &p.y)
	return &n
}

// TestBaseTable checks table entries against btcec's fixed-base
// multiplication.
func TestBaseTable(t *testing.T) {
	table := newBaseTable()
	for _, w := range []int{0, 1, 15, 31} {
		for _, b := range []int{1, 2, 3, 128, 255} {
			var k btcec.ModNScalar
			var buf [32]byte
			buf[31-w] = byte(b)
			k.SetBytes(&buf)
			want := refPoint(t, k, &affinePoint{inf: true})
			if table[w][b-1] != want {
				t.Fatalf("table[%d][%d] differs from %d·2^%d·G", w, b-1, b, 8*w)
			}
		}
	}
}

// TestBatchEdgeCases drives mulBaseAdd through the cases the affine formula
// cannot handle: a zero tweak, a sum that doubles (k·G + k·G), a sum that
// cancels (k·G - k·G), and tweaks with zero bytes, mixed with ordinary ones
// in the same round.
func TestBatchEdgeCases(t *testing.T) {
	table := newBaseTable()
	seven := scalar(7)
	sparse := scalar(0)
	sparse.SetByteSlice([]byte{0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5})
	g := affineOf(t, scalar(1))
	cases := []struct {
		name string
		k    btcec.ModNScalar
		base *affinePoint
	}{
		{"zero tweak gives the parent", scalar(0), g},
		{"doubling", seven, affineOf(t, seven)},
		{"cancels to infinity", seven, negate(affineOf(t, seven))},
		{"infinity base", seven, &affinePoint{inf: true}},
		{"sparse bytes", sparse, g},
		{"ordinary", scalar(123456789), affineOf(t, scalar(99))},
		{"doubling across windows", sparse, affineOf(t, sparse)},
	}
	ks := make([]btcec.ModNScalar, len(cases))
	bases := make([]*affinePoint, len(cases))
	for i, c := range cases {
		ks[i], bases[i] = c.k, c.base
	}
	out := make([]affinePoint, len(cases))
	table.mulBaseAdd(ks, bases, out, &batchAdder{})
	for i, c := range cases {
		if want := refPoint(t, c.k, c.base); out[i] != want {
			t.Errorf("%s: batch result differs from btcec", c.name)
		}
	}
	if !out[2].inf {
		t.Error("k·G - k·G is not the point at infinity")
	}
	if !verifyRound(ks, bases, out) {
		t.Error("verifyRound rejected a correct round")
	}
}

// TestVerifyRoundCatchesErrors: one wrong child makes the round fail.
func TestVerifyRoundCatchesErrors(t *testing.T) {
	table := newBaseTable()
	base := affineOf(t, scalar(42))
	ks := []btcec.ModNScalar{scalar(1), scalar(2), scalar(3)}
	bases := []*affinePoint{base, base, base}
	out := make([]affinePoint, 3)
	table.mulBaseAdd(ks, bases, out, &batchAdder{})
	if !verifyRound(ks, bases, out) {
		t.Fatal("correct round rejected")
	}
	bad := append([]affinePoint(nil), out...)
	bad[1] = *negate(&bad[1])
	if verifyRound(ks, bases, bad) {
		t.Fatal("a negated child passed verification")
	}
	bad = append([]affinePoint(nil), out...)
	bad[2] = *affineOf(t, scalar(5))
	if verifyRound(ks, bases, bad) {
		t.Fatal("a wrong child passed verification")
	}
}

// TestMulSmall compares the double-and-add used by verifyRound with
// btcec's scalar multiplication.
func TestMulSmall(t *testing.T) {
	p := affineOf(t, scalar(1234567)).jacobian()
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
