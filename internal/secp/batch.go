package secp

import (
	"github.com/btcsuite/btcd/btcec/v2"
)

// Batched public child derivation.
//
// A BIP-32 public child is K_i = IL·G + K. Done one at a time (hdkeychain,
// or pubNode.ckd) each child pays a Jacobian fixed-base multiplication and a
// field inversion to get back to affine coordinates for serialization. When
// thousands of children are wanted at once, the same sums are built in
// affine coordinates: every affine addition needs an inversion, but
// Montgomery's trick shares one inversion among all the additions of a round
// (three multiplications each instead), so an addition costs six field
// multiplications and the result is already affine. The field arithmetic is
// the 64-bit Field (field.go), and each round is checked against btcec
// (verifyRound).

// Affine is a point in affine coordinates, or the point at infinity.
type Affine struct {
	X, Y Field
	Inf  bool
}

// windows is the number of 8-bit windows of a 256-bit scalar.
const windows = 32

// BaseTable holds b·2^(8w)·G for every window w and byte value b >= 1, so
// that k·G is the sum of one table entry per non-zero byte of k.
type BaseTable [windows][255]Affine

// NewBaseTable computes the table. The first column, 2^(8w)·G for each
// window, is G doubled 8w times with btcec's arithmetic; then every row
// grows by its first entry at once, in affine coordinates with one shared
// inversion per step (BatchAdder), 254 steps in all: a few times cheaper
// than 8,160 Jacobian additions one after another, which a command pays
// once per wallet it derives addresses of. TestBaseTableAgainstBtcec
// checks every entry against btcec.
func NewBaseTable() *BaseTable {
	t := new(BaseTable)
	var first [windows]Affine
	var j btcec.JacobianPoint
	MulG(new(btcec.ModNScalar).SetInt(1), &j)
	for w := range windows {
		a := j
		a.ToAffine()
		first[w].X.SetFieldVal(&a.X)
		first[w].Y.SetFieldVal(&a.Y)
		t[w][0] = first[w]
		for range 8 {
			var d btcec.JacobianPoint
			btcec.DoubleNonConst(&j, &d)
			j = d
		}
	}
	var acc [windows]Affine
	q := make([]*Affine, windows)
	pending := make([]int, windows)
	for w := range windows {
		acc[w] = first[w]
		q[w] = &first[w]
		pending[w] = w
	}
	var b BatchAdder
	for step := 1; step < 255; step++ {
		b.addRound(acc[:], q, pending) // acc[w] = (step+1)·2^(8w)·G
		for w := range windows {
			t[w][step] = acc[w]
		}
	}
	return t
}

// invertBatch replaces every value by its inverse with a single field
// inversion (Montgomery's trick). Values must be non-zero; prefix is scratch
// space of the same length.
func invertBatch(vals, prefix []Field) {
	n := len(vals)
	if n == 0 {
		return
	}
	prefix[0] = vals[0]
	for i := 1; i < n; i++ {
		prefix[i].Mul(&prefix[i-1], &vals[i])
	}
	var inv Field
	inv.Inv(&prefix[n-1]) // 1/(v0·v1·…·v(n-1))
	for i := n - 1; i > 0; i-- {
		var vi Field
		vi.Mul(&inv, &prefix[i-1]) // 1/vi
		inv.Mul(&inv, &vals[i])    // 1/(v0·…·v(i-1))
		vals[i] = vi
	}
	vals[0] = inv
}

// BatchAdder adds points pairwise in rounds, reusing its scratch space.
type BatchAdder struct {
	ready       []int
	den, prefix []Field

	// mulBaseAdd's scratch space.
	digits  [][32]byte
	pending []int
	q       []*Affine
}

// addRound sets acc[i] += q[i] for every i in pending.
func (b *BatchAdder) addRound(acc []Affine, q []*Affine, pending []int) {
	b.ready = b.ready[:0]
	b.den = b.den[:0]
	for _, i := range pending {
		a, p := &acc[i], q[i]
		switch {
		case p.Inf:
		case a.Inf:
			*a = *p
		case a.X == p.X:
			// Same x: the points are equal (double) or opposite (sum is
			// infinity). The affine formula would divide by zero, and this
			// is too rare to be worth batching.
			addSameX(a, p)
		default:
			var d Field
			d.Sub(&p.X, &a.X)
			b.den = append(b.den, d)
			b.ready = append(b.ready, i)
		}
	}
	if cap(b.prefix) < len(b.den) {
		b.prefix = make([]Field, len(b.den))
	}
	invertBatch(b.den, b.prefix[:len(b.den)])
	for k, i := range b.ready {
		a, p := &acc[i], q[i]
		var lambda, x3, y3, t Field
		lambda.Sub(&p.Y, &a.Y)
		lambda.Mul(&lambda, &b.den[k]) // λ = (y2-y1)/(x2-x1)
		x3.Sqr(&lambda)
		x3.Sub(&x3, &a.X)
		x3.Sub(&x3, &p.X) // x3 = λ² - x1 - x2
		t.Sub(&a.X, &x3)
		y3.Mul(&lambda, &t)
		y3.Sub(&y3, &a.Y) // y3 = λ(x1-x3) - y1
		a.X, a.Y = x3, y3
	}
}

// addSameX sets a += p for points with equal x coordinates, using btcec.
func addSameX(a, p *Affine) {
	if a.Y != p.Y {
		*a = Affine{Inf: true}
		return
	}
	var j, r btcec.JacobianPoint
	j.X, j.Y = a.X.FieldVal(), a.Y.FieldVal()
	j.Z.SetInt(1)
	btcec.DoubleNonConst(&j, &r)
	if (r.X.IsZero() && r.Y.IsZero()) || r.Z.IsZero() {
		*a = Affine{Inf: true}
		return
	}
	r.ToAffine()
	a.X.SetFieldVal(&r.X)
	a.Y.SetFieldVal(&r.Y)
	a.Inf = false
}

// mulBaseAdd sets out[i] = k[i]·G + base[i] for every i: the public child
// points for tweaks k[i] = IL of parents base[i].
func (t *BaseTable) MulBaseAdd(k []btcec.ModNScalar, base []*Affine, out []Affine, b *BatchAdder) {
	n := len(out)
	if cap(b.digits) < n {
		b.digits = make([][32]byte, n)
		b.pending = make([]int, 0, n)
		b.q = make([]*Affine, n)
	}
	digits, pending, q := b.digits[:n], b.pending[:0], b.q[:n]
	for i := range n {
		digits[i] = k[i].Bytes()
		out[i] = Affine{Inf: true}
	}
	for w := range windows {
		pending = pending[:0]
		for i := range n {
			// Window w covers bits 8w..8w+7: byte 31-w of the big-endian
			// scalar.
			if d := digits[i][31-w]; d != 0 {
				q[i] = &t[w][d-1]
				pending = append(pending, i)
			}
		}
		b.addRound(out, q, pending)
	}
	pending = pending[:0]
	for i := range n {
		q[i] = base[i]
		pending = append(pending, i)
	}
	b.addRound(out, q, pending)
}

// putCompressed writes the 33-byte compressed form of a non-infinite point.
func (p *Affine) PutCompressed(out []byte) {
	out[0] = 0x02
	if p.Y.IsOdd() {
		out[0] = 0x03
	}
	p.X.PutBytes(out[1:33])
}

// jacobian converts to btcec for the checks done with its arithmetic.
func (p *Affine) Jacobian() btcec.JacobianPoint {
	var j btcec.JacobianPoint
	if p.Inf {
		return j // Z = 0: infinity
	}
	j.X, j.Y = p.X.FieldVal(), p.Y.FieldVal()
	j.Z.SetInt(1)
	return j
}
