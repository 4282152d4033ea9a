package secp

import (
	"math/bits"

	"github.com/btcsuite/btcd/btcec/v2"
)

// Field is an element of secp256k1's base field GF(p), p = 2^256 - 2^32 - 977,
// held as four little-endian 64-bit limbs and always fully reduced (< p).
//
// btcec's FieldVal uses ten 26-bit limbs so that it stays constant time and
// portable; one multiplication costs about a hundred 32-bit products. Public
// key derivation handles no secrets, so batched derivation (batch.go) uses
// this 64-bit form, where math/bits compiles to single wide multiplications.
// Every batch is checked against btcec's arithmetic by the caller, and
// field_test.go checks each operation against math/big.
type Field [4]uint64

const (
	// feC is 2^256 mod p: the high half of a product folds back as H·feC.
	feC = 0x1000003d1
	p0  = 0xfffffffefffffc2f // lowest limb of p; the other three are all ones
)

// subP returns s - p and whether that did not borrow (so s >= p).
func subP(s *Field) (Field, bool) {
	var t Field
	var b uint64
	t[0], b = bits.Sub64(s[0], p0, 0)
	t[1], b = bits.Sub64(s[1], ^uint64(0), b)
	t[2], b = bits.Sub64(s[2], ^uint64(0), b)
	t[3], b = bits.Sub64(s[3], ^uint64(0), b)
	return t, b == 0
}

// add sets z = a + b mod p.
func (z *Field) Add(a, b *Field) {
	var s Field
	var c uint64
	s[0], c = bits.Add64(a[0], b[0], 0)
	s[1], c = bits.Add64(a[1], b[1], c)
	s[2], c = bits.Add64(a[2], b[2], c)
	s[3], c = bits.Add64(a[3], b[3], c)
	// a + b < 2p: subtract p once if the sum reached 2^256 or p. With a
	// carry, s - p mod 2^256 is exactly a + b - p. The choice is made with
	// a mask, not a branch: it is a coin flip the CPU cannot predict.
	t, ge := subP(&s)
	var geBit uint64
	if ge {
		geBit = 1
	}
	m := -(c | geBit)
	for i := range s {
		s[i] = t[i]&m | s[i]&^m
	}
	*z = s
}

// sub sets z = a - b mod p.
func (z *Field) Sub(a, b *Field) {
	var d Field
	var borrow, c uint64
	d[0], borrow = bits.Sub64(a[0], b[0], 0)
	d[1], borrow = bits.Sub64(a[1], b[1], borrow)
	d[2], borrow = bits.Sub64(a[2], b[2], borrow)
	d[3], borrow = bits.Sub64(a[3], b[3], borrow)
	// On borrow, a - b + 2^256 went negative; adding p (= 2^256 - feC)
	// means subtracting feC mod 2^256, which lands in (0, p). Masked, not
	// branched, for the same reason as in add.
	m := -borrow
	d[0], c = bits.Sub64(d[0], feC&m, 0)
	d[1], c = bits.Sub64(d[1], 0, c)
	d[2], c = bits.Sub64(d[2], 0, c)
	d[3], _ = bits.Sub64(d[3], 0, c)
	*z = d
}

// mac returns a·b + c + d as hi, lo. It cannot overflow:
// (2^64-1)^2 + 2(2^64-1) = 2^128 - 1.
func mac(a, b, c, d uint64) (hi, lo uint64) {
	hi, lo = bits.Mul64(a, b)
	var cc uint64
	lo, cc = bits.Add64(lo, c, 0)
	hi += cc
	lo, cc = bits.Add64(lo, d, 0)
	hi += cc
	return hi, lo
}

// mul sets z = a·b mod p.
func (z *Field) Mul(a, b *Field) {
	a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
	b0, b1, b2, b3 := b[0], b[1], b[2], b[3]

	// Schoolbook 256x256 -> 512-bit product r0..r7, one row per limb of a.
	var r0, r1, r2, r3, r4, r5, r6, r7, c uint64
	c, r0 = mac(a0, b0, 0, 0)
	c, r1 = mac(a0, b1, 0, c)
	c, r2 = mac(a0, b2, 0, c)
	r4, r3 = mac(a0, b3, 0, c)

	c, r1 = mac(a1, b0, r1, 0)
	c, r2 = mac(a1, b1, r2, c)
	c, r3 = mac(a1, b2, r3, c)
	r5, r4 = mac(a1, b3, r4, c)

	c, r2 = mac(a2, b0, r2, 0)
	c, r3 = mac(a2, b1, r3, c)
	c, r4 = mac(a2, b2, r4, c)
	r6, r5 = mac(a2, b3, r5, c)

	c, r3 = mac(a3, b0, r3, 0)
	c, r4 = mac(a3, b1, r4, c)
	c, r5 = mac(a3, b2, r5, c)
	r7, r6 = mac(a3, b3, r6, c)

	// Fold: r = L + H·2^256 ≡ L + H·feC (mod p). feC < 2^33, so the
	// result is s + top·2^256 with top < 2^34.
	var s0, s1, s2, s3, top uint64
	top, s0 = mac(r4, feC, r0, 0)
	top, s1 = mac(r5, feC, r1, top)
	top, s2 = mac(r6, feC, r2, top)
	top, s3 = mac(r7, feC, r3, top)

	// Fold top·feC (< 2^67) in. The sum is below 2^256 + 2^67; if it
	// wraps, what is left is below 2^67 and adding feC once more cannot
	// wrap again.
	hi, lo := bits.Mul64(top, feC)
	s0, c = bits.Add64(s0, lo, 0)
	s1, c = bits.Add64(s1, hi, c)
	s2, c = bits.Add64(s2, 0, c)
	s3, c = bits.Add64(s3, 0, c)
	if c != 0 {
		s0, c = bits.Add64(s0, feC, 0)
		s1, c = bits.Add64(s1, 0, c)
		s2, c = bits.Add64(s2, 0, c)
		s3, _ = bits.Add64(s3, 0, c)
	}
	s := Field{s0, s1, s2, s3}
	if t, ge := subP(&s); ge {
		s = t
	}
	*z = s
}

// sqr sets z = a² mod p.
func (z *Field) Sqr(a *Field) { z.Mul(a, a) }

// inv sets z = 1/a mod p (a != 0) with btcec's inversion; it runs once per
// batch round, so its speed does not matter.
func (z *Field) Inv(a *Field) {
	f := a.FieldVal()
	f.Inverse().Normalize()
	z.SetFieldVal(&f)
}

func (z *Field) IsZero() bool { return z[0]|z[1]|z[2]|z[3] == 0 }

func (z *Field) IsOdd() bool { return z[0]&1 == 1 }

// putBytes writes the 32-byte big-endian encoding.
func (z *Field) PutBytes(b []byte) {
	for i := range 4 {
		v := z[3-i]
		for j := range 8 {
			b[8*i+j] = byte(v >> (56 - 8*j))
		}
	}
}

// setBytes reads a 32-byte big-endian value already below p.
func (z *Field) SetBytes(b *[32]byte) {
	for i := range 4 {
		var v uint64
		for j := range 8 {
			v = v<<8 | uint64(b[8*i+j])
		}
		z[3-i] = v
	}
}

// setFieldVal converts from btcec; f must be normalized.
func (z *Field) SetFieldVal(f *btcec.FieldVal) {
	z.SetBytes(f.Bytes())
}

// fieldVal converts to btcec (normalized).
func (z *Field) FieldVal() btcec.FieldVal {
	var b [32]byte
	z.PutBytes(b[:])
	var f btcec.FieldVal
	f.SetBytes(&b)
	return f
}
