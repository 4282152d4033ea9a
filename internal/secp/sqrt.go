package secp

// Square roots and public key validity.
//
// A compressed public key 02/03 || x is a point only when x < p and
// x³ + 7 is a square mod p; checking that costs one square root. btcec's
// ParsePubKey does it with its 26-bit-limb field and also builds the point;
// ValidPubKey only answers yes or no, with the 64-bit Field, which is what
// decoding a PSBT needs for the thousands of keys a large one carries.

// sqrN sets z = a^(2^n).
func (z *Field) sqrN(a *Field, n int) {
	*z = *a
	for range n {
		z.Sqr(z)
	}
}

// Sqrt sets z to a square root of a and reports whether a is a square. When
// it is not, z holds a^((p+1)/4), which is not a root.
//
// p ≡ 3 (mod 4), so a root is a^((p+1)/4). The exponent's binary form is
// 223 ones, a zero, 22 ones, four zeros, two ones and two zeros; each run
// of ones is a value a^(2^k - 1) built by an addition chain through the
// run lengths 1, 2, 3, 6, 9, 11, 22, 44, 88, 176, 220, 223 (253 squarings
// and 13 multiplications in all), the chain libsecp256k1 uses
// (src/field_impl.h, secp256k1_fe_sqrt, v0.2.0).
func (z *Field) Sqrt(a *Field) bool {
	var x2, x3, x6, x9, x11, x22, x44, x88, x176, x220, x223, t Field
	x2.Sqr(a)
	x2.Mul(&x2, a) // a^(2^2-1)
	x3.Sqr(&x2)
	x3.Mul(&x3, a)
	x6.sqrN(&x3, 3)
	x6.Mul(&x6, &x3)
	x9.sqrN(&x6, 3)
	x9.Mul(&x9, &x3)
	x11.sqrN(&x9, 2)
	x11.Mul(&x11, &x2)
	x22.sqrN(&x11, 11)
	x22.Mul(&x22, &x11)
	x44.sqrN(&x22, 22)
	x44.Mul(&x44, &x22)
	x88.sqrN(&x44, 44)
	x88.Mul(&x88, &x44)
	x176.sqrN(&x88, 88)
	x176.Mul(&x176, &x88)
	x220.sqrN(&x176, 44)
	x220.Mul(&x220, &x44)
	x223.sqrN(&x220, 3)
	x223.Mul(&x223, &x3)
	// 223 ones, then a zero and 22 ones, then 0000 11, then 00.
	t.sqrN(&x223, 23)
	t.Mul(&t, &x22)
	t.sqrN(&t, 6)
	t.Mul(&t, &x2)
	t.sqrN(&t, 2)
	var check Field
	check.Sqr(&t)
	*z = t
	return check == *a
}

// setCanonical reads a 32-byte big-endian value and reports whether it is
// below p (a field element in its one canonical encoding).
func (z *Field) setCanonical(b []byte) bool {
	var a [32]byte
	copy(a[:], b)
	z.SetBytes(&a)
	_, ge := subP(z)
	return !ge
}

// ValidPubKey reports whether b is a public key in one of the two SEC1
// encodings Bitcoin script accepts, naming a point on secp256k1: 33 bytes
// 02/03 || x with x³ + 7 a square, or 65 bytes 04 || x || y with
// y² = x³ + 7; coordinates below p. It accepts exactly the keys btcec's
// ParsePubKey accepts in those encodings (the hybrid 06/07 form it also
// takes is refused here, as script refuses it), which
// TestValidPubKeyAgainstBtcec checks.
func ValidPubKey(b []byte) bool {
	curveB := Field{7, 0, 0, 0} // the 7 of y² = x³ + 7
	var x, y, rhs Field
	switch {
	case len(b) == 33 && (b[0] == 0x02 || b[0] == 0x03):
		if !x.setCanonical(b[1:33]) {
			return false
		}
		rhs.Sqr(&x)
		rhs.Mul(&rhs, &x)
		rhs.Add(&rhs, &curveB)
		return y.Sqrt(&rhs)
	case len(b) == 65 && b[0] == 0x04:
		if !x.setCanonical(b[1:33]) || !y.setCanonical(b[33:65]) {
			return false
		}
		rhs.Sqr(&x)
		rhs.Mul(&rhs, &x)
		rhs.Add(&rhs, &curveB)
		var lhs Field
		lhs.Sqr(&y)
		return lhs == rhs
	}
	return false
}
