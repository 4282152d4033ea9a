package secp

import (
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
)

var fieldP, _ = new(big.Int).SetString("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f", 16)

func feFromBig(x *big.Int) Field {
	var b [32]byte
	new(big.Int).Mod(x, fieldP).FillBytes(b[:])
	var z Field
	z.SetBytes(&b)
	return z
}

func (z *Field) big() *big.Int {
	var b [32]byte
	z.PutBytes(b[:])
	return new(big.Int).SetBytes(b[:])
}

// fieldSamples mixes random values with the ones carries go wrong on:
// 0, 1, p-1, p-2, values with all-ones or all-zero limbs, powers of two.
func fieldSamples(rng *rand.Rand, n int) []*big.Int {
	pm := func(d int64) *big.Int { return new(big.Int).Sub(fieldP, big.NewInt(d)) }
	out := []*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(2), big.NewInt(feC), pm(1), pm(2), pm(feC)}
	for i := 0; i < 256; i += 31 {
		out = append(out, new(big.Int).Lsh(big.NewInt(1), uint(i)), new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(i)), big.NewInt(1)))
	}
	for range n {
		var b [32]byte
		for i := range b {
			switch rng.IntN(4) {
			case 0:
				b[i] = 0xff
			case 1:
				b[i] = 0
			default:
				b[i] = byte(rng.Uint32())
			}
		}
		out = append(out, new(big.Int).Mod(new(big.Int).SetBytes(b[:]), fieldP))
	}
	return out
}

// TestFieldAgainstBig checks every Field operation against math/big on edge
// values and on random values biased toward all-ones and all-zero bytes.
func TestFieldAgainstBig(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	xs := fieldSamples(rng, 300)
	for _, x := range xs {
		for _, y := range xs {
			a, b := feFromBig(x), feFromBig(y)
			var got Field
			check := func(op string, want *big.Int) {
				t.Helper()
				want.Mod(want, fieldP)
				if got.big().Cmp(want) != 0 {
					t.Fatalf("%s(%x, %x) = %x, want %x", op, x, y, got.big(), want)
				}
			}
			got.Add(&a, &b)
			check("add", new(big.Int).Add(x, y))
			got.Sub(&a, &b)
			check("sub", new(big.Int).Sub(x, y))
			got.Mul(&a, &b)
			check("mul", new(big.Int).Mul(x, y))
		}
		a := feFromBig(x)
		var got Field
		got.Sqr(&a)
		if want := new(big.Int).Mod(new(big.Int).Mul(x, x), fieldP); got.big().Cmp(want) != 0 {
			t.Fatalf("sqr(%x) = %x, want %x", x, got.big(), want)
		}
		if x.Sign() != 0 {
			got.Inv(&a)
			if want := new(big.Int).ModInverse(x, fieldP); got.big().Cmp(want) != 0 {
				t.Fatalf("inv(%x) = %x, want %x", x, got.big(), want)
			}
		}
		if a.IsOdd() != (x.Bit(0) == 1) {
			t.Fatalf("isOdd(%x) wrong", x)
		}
	}
}

// TestFieldRoundTripFieldVal checks the conversion to and from btcec.
func TestFieldRoundTripFieldVal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, x := range fieldSamples(rng, 100) {
		a := feFromBig(x)
		f := a.FieldVal()
		var back Field
		back.SetFieldVal(&f)
		if back != a {
			t.Fatalf("round trip of %x gave %x", x, back.big())
		}
		var bf btcec.FieldVal
		var b [32]byte
		x.FillBytes(b[:])
		bf.SetBytes(&b)
		if !bf.Equals(&f) {
			t.Fatalf("fieldVal(%x) differs from btcec's", x)
		}
	}
}

// FuzzFieldMul compares multiplication with math/big on arbitrary inputs.
func FuzzFieldMul(f *testing.F) {
	f.Add(make([]byte, 32), make([]byte, 32))
	f.Add(fieldP.Bytes(), fieldP.Bytes())
	f.Fuzz(func(t *testing.T, xb, yb []byte) {
		x := new(big.Int).Mod(new(big.Int).SetBytes(xb), fieldP)
		y := new(big.Int).Mod(new(big.Int).SetBytes(yb), fieldP)
		a, b := feFromBig(x), feFromBig(y)
		var got Field
		got.Mul(&a, &b)
		want := new(big.Int).Mod(new(big.Int).Mul(x, y), fieldP)
		if got.big().Cmp(want) != 0 {
			t.Fatalf("mul(%x, %x) = %x, want %x", x, y, got.big(), want)
		}
	})
}
