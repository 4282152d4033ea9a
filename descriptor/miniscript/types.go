package miniscript

import "strings"

// Type is the set of type properties of a miniscript expression: one basic
// type (B, V, K or W) plus the BIP-379 correctness properties (z o n d u),
// the malleability properties (s f e), non-malleability (m), and the
// timelock properties (g h i j k). An expression that fails its fragment's
// requirements has the empty Type.
type Type uint32

const (
	TypeB Type = 1 << iota // base: pushes nonzero on satisfaction, exact 0 on dissatisfaction
	TypeV                  // verify: continues or aborts, pushes nothing
	TypeK                  // key: pushes a public key
	TypeW                  // wrapped: works one below the top of the stack

	PropZ // zero-arg: consumes exactly 0 stack elements
	PropO // one-arg: consumes exactly 1 stack element
	PropN // nonzero: satisfaction never needs a zero top input
	PropD // dissatisfiable: a dissatisfaction can always be built
	PropU // unit: satisfaction pushes exactly 1

	PropS // signed: every satisfaction needs a signature
	PropF // forced: every dissatisfaction needs a signature
	PropE // expressive: one unconditional dissatisfaction, others need a signature
	PropM // non-malleable: the BIP's malleability requirements hold throughout

	// propX marks an expression whose last opcode has no VERIFY form, so
	// v: must append OP_VERIFY (Core's "x", expensive verify).
	propX

	PropG // contains a relative time lock (older with the BIP-68 type flag)
	PropH // contains a relative height lock
	PropI // contains an absolute time lock (after(n), n >= 500000000)
	PropJ // contains an absolute height lock
	PropK // no incompatible timelock mix on any one spending path
)

// typeLetters maps each property bit to its conventional letter, in the
// order String prints them.
var typeLetters = []struct {
	t Type
	c byte
}{
	{TypeB, 'B'}, {TypeV, 'V'}, {TypeK, 'K'}, {TypeW, 'W'},
	{PropZ, 'z'}, {PropO, 'o'}, {PropN, 'n'}, {PropD, 'd'}, {PropU, 'u'},
	{PropS, 's'}, {PropF, 'f'}, {PropE, 'e'}, {PropM, 'm'},
	{propX, 'x'}, {PropG, 'g'}, {PropH, 'h'}, {PropI, 'i'}, {PropJ, 'j'}, {PropK, 'k'},
}

// Has reports whether t has every property in p.
func (t Type) Has(p Type) bool { return t&p == p }

// If returns t when cond holds and the empty type otherwise.
func (t Type) If(cond bool) Type {
	if cond {
		return t
	}
	return 0
}

// String prints the basic type followed by the property letters; the
// internal x property is left out.
func (t Type) String() string {
	var b strings.Builder
	for _, l := range typeLetters {
		if l.t != propX && t&l.t != 0 {
			b.WriteByte(l.c)
		}
	}
	return b.String()
}

const timelockProps = PropG | PropH | PropI | PropJ

// sanitize drops a type without exactly one basic type to the empty type.
func sanitize(t Type) Type {
	n := 0
	for _, b := range []Type{TypeB, TypeV, TypeK, TypeW} {
		if t&b != 0 {
			n++
		}
	}
	if n != 1 {
		return 0
	}
	return t
}

// noMix is the k property of a conjunction of x and y: both are k and they
// do not pair a height lock with a time lock of the same kind (BIP-379
// "Timelock Type Mixing").
func noMix(x, y Type) bool {
	if !x.Has(PropK) || !y.Has(PropK) {
		return false
	}
	return !((x.Has(PropG) && y.Has(PropH)) || (x.Has(PropH) && y.Has(PropG)) ||
		(x.Has(PropI) && y.Has(PropJ)) || (x.Has(PropJ) && y.Has(PropI)))
}
