package secp

import (
	"flag"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
)

func scalar(v uint32) btcec.ModNScalar {
	var k btcec.ModNScalar
	k.SetInt(v)
	return k
}

// refPoint computes k·G + base with btcec, as the reference.
func refPoint(t *testing.T, k btcec.ModNScalar, base *Affine) Affine {
	t.Helper()
	var kg, sum btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&k, &kg)
	b := base.Jacobian()
	btcec.AddNonConst(&kg, &b, &sum)
	if (sum.X.IsZero() && sum.Y.IsZero()) || sum.Z.IsZero() {
		return Affine{Inf: true}
	}
	sum.ToAffine()
	var out Affine
	out.X.SetFieldVal(&sum.X)
	out.Y.SetFieldVal(&sum.Y)
	return out
}

func affineOf(t *testing.T, k btcec.ModNScalar) *Affine {
	t.Helper()
	p := refPoint(t, k, &Affine{Inf: true})
	return &p
}

func negate(p *Affine) *Affine {
	n := *p
	var zero Field
	n.Y.Sub(&zero, &p.Y)
	return &n
}

// TestBaseTable checks table entries against btcec's fixed-base
// multiplication.
func TestBaseTable(t *testing.T) {
	table := NewBaseTable()
	for _, w := range []int{0, 1, 15, 31} {
		for _, b := range []int{1, 2, 3, 128, 255} {
			var k btcec.ModNScalar
			var buf [32]byte
			buf[31-w] = byte(b)
			k.SetBytes(&buf)
			want := refPoint(t, k, &Affine{Inf: true})
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
	table := NewBaseTable()
	seven := scalar(7)
	sparse := scalar(0)
	sparse.SetByteSlice([]byte{0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5})
	g := affineOf(t, scalar(1))
	cases := []struct {
		name string
		k    btcec.ModNScalar
		base *Affine
	}{
		{"zero tweak gives the parent", scalar(0), g},
		{"doubling", seven, affineOf(t, seven)},
		{"cancels to infinity", seven, negate(affineOf(t, seven))},
		{"infinity base", seven, &Affine{Inf: true}},
		{"sparse bytes", sparse, g},
		{"ordinary", scalar(123456789), affineOf(t, scalar(99))},
		{"doubling across windows", sparse, affineOf(t, sparse)},
	}
	ks := make([]btcec.ModNScalar, len(cases))
	bases := make([]*Affine, len(cases))
	for i, c := range cases {
		ks[i], bases[i] = c.k, c.base
	}
	out := make([]Affine, len(cases))
	table.MulBaseAdd(ks, bases, out, &BatchAdder{})
	for i, c := range cases {
		if want := refPoint(t, c.k, c.base); out[i] != want {
			t.Errorf("%s: batch result differs from btcec", c.name)
		}
	}
	if !out[2].Inf {
		t.Error("k·G - k·G is not the point at infinity")
	}
}

// TestBaseTableAgainstBtcec checks every entry of the table, b·2^(8w)·G,
// against btcec's fixed-base multiplication.
func TestBaseTableAgainstBtcec(t *testing.T) {
	table := NewBaseTable()
	for w := range windows {
		for b := 1; b <= 255; b++ {
			var k btcec.ModNScalar
			var buf [32]byte
			buf[31-w] = byte(b)
			k.SetBytes(&buf)
			if want := refPoint(t, k, &Affine{Inf: true}); table[w][b-1] != want {
				t.Fatalf("table[%d][%d] differs from %d·2^%d·G", w, b-1, b, 8*w)
			}
		}
	}
}

var writeBaseTable = flag.Bool("write-base-table", false, "rewrite basetable.bin from NewBaseTable")

// TestEmbeddedBaseTable holds the table the binary carries equal to the
// one NewBaseTable computes (itself checked against btcec by
// TestBaseTableAgainstBtcec).
func TestEmbeddedBaseTable(t *testing.T) {
	want := NewBaseTable()
	if *writeBaseTable {
		var b []byte
		var buf [32]byte
		for w := range windows {
			for i := range 255 {
				want[w][i].X.PutBytes(buf[:])
				b = append(b, buf[:]...)
				want[w][i].Y.PutBytes(buf[:])
				b = append(b, buf[:]...)
			}
		}
		if err := os.WriteFile("basetable.bin", b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got := loadBaseTable(baseTableData)
	if got == nil {
		t.Fatalf("basetable.bin is %d bytes, want %d", len(baseTableData), baseTableBytes)
	}
	if *got != *want {
		t.Fatal("basetable.bin differs from NewBaseTable(); rewrite it with -write-base-table")
	}
	if SharedBaseTable() == nil || *SharedBaseTable() != *want {
		t.Fatal("SharedBaseTable differs from NewBaseTable()")
	}
	if loadBaseTable(baseTableData[1:]) != nil {
		t.Fatal("a short table was loaded")
	}
}

// TestMulBase holds MulBase (and MulG) equal to btcec's fixed-base
// multiplication on edge scalars and random ones.
func TestMulBase(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var scalars []btcec.ModNScalar
	for _, v := range []uint32{0, 1, 2, 255, 256, 257, 65535} {
		var k btcec.ModNScalar
		k.SetInt(v)
		scalars = append(scalars, k)
	}
	var nMinus1 btcec.ModNScalar
	nMinus1.SetInt(1)
	nMinus1.Negate()
	scalars = append(scalars, nMinus1)
	for range 300 {
		var b [32]byte
		for i := range b {
			if rng.IntN(4) != 0 { // leave some bytes zero: windows skipped
				b[i] = byte(rng.UintN(256))
			}
		}
		var k btcec.ModNScalar
		k.SetBytes(&b)
		scalars = append(scalars, k)
	}
	for _, k := range scalars {
		var want, got, gotG btcec.JacobianPoint
		btcec.ScalarBaseMultNonConst(&k, &want)
		MulBase(&k, &got)
		MulG(&k, &gotG)
		for name, p := range map[string]*btcec.JacobianPoint{"MulBase": &got, "MulG": &gotG} {
			if k.IsZero() {
				if !p.Z.IsZero() && !(p.X.IsZero() && p.Y.IsZero()) {
					t.Fatalf("%s(0) is not the point at infinity", name)
				}
				continue
			}
			w, g := want, *p
			w.ToAffine()
			g.ToAffine()
			if !w.X.Equals(&g.X) || !w.Y.Equals(&g.Y) {
				t.Fatalf("%s(%x) differs from btcec", name, k.Bytes())
			}
		}
	}
}
