package secp

import (
	"bytes"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
)

// TestSqrtAgainstBig checks Sqrt against math/big's ModSqrt: the same
// answer to "is it a square", and a root whose square is the input.
func TestSqrtAgainstBig(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	squares := 0
	for _, x := range fieldSamples(rng, 2000) {
		a := feFromBig(x)
		var z Field
		ok := z.Sqrt(&a)
		want := new(big.Int).ModSqrt(x, fieldP)
		if ok != (want != nil) {
			t.Fatalf("Sqrt(%x) says square = %v, math/big says %v", x, ok, want != nil)
		}
		if !ok {
			continue
		}
		squares++
		var back Field
		back.Sqr(&z)
		if back != a {
			t.Fatalf("Sqrt(%x)² = %x", x, back.big())
		}
	}
	if squares < 500 {
		t.Fatalf("only %d of the samples were squares: the test is not exercising roots", squares)
	}
}

// btcecValid is the reference: btcec's parser, on the encodings script
// accepts (it also takes hybrid 06/07 keys, which ValidPubKey refuses).
func btcecValid(b []byte) bool {
	if len(b) == 0 || !(b[0] == 0x02 || b[0] == 0x03 || b[0] == 0x04) {
		return false
	}
	_, err := btcec.ParsePubKey(b)
	return err == nil
}

// TestValidPubKeyAgainstBtcec compares ValidPubKey with btcec's parser on
// real keys in both encodings, random x coordinates (about half are on the
// curve), coordinates at and above p, off-curve uncompressed points,
// wrong prefixes and lengths.
func TestValidPubKeyAgainstBtcec(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var cases [][]byte
	for range 300 {
		k, err := btcec.NewPrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		c, u := k.PubKey().SerializeCompressed(), k.PubKey().SerializeUncompressed()
		cases = append(cases, c, u)
		bad := bytes.Clone(u)
		bad[64] ^= 1 // y off by one: off the curve
		cases = append(cases, bad)
		flipped := bytes.Clone(c)
		flipped[0] ^= 1 // the other y: still a point
		cases = append(cases, flipped)
	}
	for range 2000 {
		b := make([]byte, 33)
		b[0] = 0x02 + byte(rng.IntN(2))
		for i := 1; i < 33; i++ {
			b[i] = byte(rng.Uint32())
		}
		cases = append(cases, b)
	}
	pBytes := fieldP.FillBytes(make([]byte, 32))
	for _, x := range []*big.Int{big.NewInt(0), big.NewInt(1), new(big.Int).Sub(fieldP, big.NewInt(1)), fieldP, new(big.Int).Add(fieldP, big.NewInt(1)), new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))} {
		xb := x.FillBytes(make([]byte, 32))
		cases = append(cases, append([]byte{0x02}, xb...), append([]byte{0x03}, xb...), append(append([]byte{0x04}, xb...), pBytes...))
	}
	// A valid point with x + p or y + p is the same point in a
	// non-canonical encoding: refused.
	k, _ := btcec.NewPrivateKey()
	u := k.PubKey().SerializeUncompressed()
	yPlusP := new(big.Int).Add(new(big.Int).SetBytes(u[33:]), fieldP)
	if yPlusP.BitLen() <= 256 {
		cases = append(cases, append(bytes.Clone(u[:33]), yPlusP.FillBytes(make([]byte, 32))...))
	}
	cases = append(cases, nil, []byte{}, []byte{0x02}, make([]byte, 33), make([]byte, 65), append([]byte{0x06}, u[1:]...), append([]byte{0x05}, u[1:33]...))
	valid := 0
	for _, b := range cases {
		got, want := ValidPubKey(b), btcecValid(b)
		if got != want {
			t.Fatalf("ValidPubKey(%x) = %v, btcec says %v", b, got, want)
		}
		if got {
			valid++
		}
	}
	t.Logf("%d keys, %d valid", len(cases), valid)
}

// FuzzValidPubKey compares ValidPubKey with btcec's parser on any bytes.
func FuzzValidPubKey(f *testing.F) {
	k, _ := btcec.NewPrivateKey()
	f.Add(k.PubKey().SerializeCompressed())
	f.Add(k.PubKey().SerializeUncompressed())
	f.Add(append([]byte{0x02}, fieldP.Bytes()...))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := ValidPubKey(b), btcecValid(b); got != want {
			t.Fatalf("ValidPubKey(%x) = %v, btcec says %v", b, got, want)
		}
	})
}
