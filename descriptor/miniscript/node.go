package miniscript

import (
	"encoding/hex"
	"fmt"
)

// Context is the script context a miniscript is written for.
type Context int

const (
	// P2WSH is segwit v0: wsh(<miniscript>) (BIP-382).
	P2WSH Context = iota
	// Tapscript is a BIP-342 leaf script: tr(K,{<miniscript>,...}) (BIP-386).
	Tapscript
)

func (c Context) String() string {
	if c == Tapscript {
		return "tapscript"
	}
	return "p2wsh"
}

// Fragment names a miniscript fragment or wrapper as in the BIP-379
// translation table. The sugar forms (pk, pkh, and_n, t:, l:, u:) are not
// fragments of their own: they parse to the fragments they stand for.
type Fragment int

const (
	Just0     Fragment = iota // 0
	Just1                     // 1
	PkK                       // pk_k(key)
	PkH                       // pk_h(key)
	Older                     // older(n)
	After                     // after(n)
	Sha256                    // sha256(h)
	Hash256                   // hash256(h)
	Ripemd160                 // ripemd160(h)
	Hash160                   // hash160(h)
	AndOr                     // andor(X,Y,Z)
	AndV                      // and_v(X,Y)
	AndB                      // and_b(X,Y)
	OrB                       // or_b(X,Z)
	OrC                       // or_c(X,Z)
	OrD                       // or_d(X,Z)
	OrI                       // or_i(X,Z)
	Thresh                    // thresh(k,X1,...,Xn)
	Multi                     // multi(k,key1,...,keyn), P2WSH only
	MultiA                    // multi_a(k,key1,...,keyn), Tapscript only
	WrapA                     // a:X
	WrapS                     // s:X
	WrapC                     // c:X
	WrapD                     // d:X
	WrapV                     // v:X
	WrapJ                     // j:X
	WrapN                     // n:X
)

var fragmentNames = [...]string{
	Just0: "0", Just1: "1", PkK: "pk_k", PkH: "pk_h", Older: "older", After: "after",
	Sha256: "sha256", Hash256: "hash256", Ripemd160: "ripemd160", Hash160: "hash160",
	AndOr: "andor", AndV: "and_v", AndB: "and_b", OrB: "or_b", OrC: "or_c", OrD: "or_d",
	OrI: "or_i", Thresh: "thresh", Multi: "multi", MultiA: "multi_a",
	WrapA: "a", WrapS: "s", WrapC: "c", WrapD: "d", WrapV: "v", WrapJ: "j", WrapN: "n",
}

func (f Fragment) String() string {
	if f < 0 || int(f) >= len(fragmentNames) {
		return fmt.Sprintf("fragment(%d)", int(f))
	}
	return fragmentNames[f]
}

// IsWrapper reports whether f is one of the single-letter wrappers.
func (f Fragment) IsWrapper() bool { return f >= WrapA && f <= WrapN }

// Key is a key expression inside a miniscript. String returns the
// expression as it is written in the miniscript text; two keys are the same
// key (for the duplicate-key rule) when their strings are equal.
type Key interface {
	String() string
}

// KeyParser turns one key expression of the miniscript text into a Key.
// The descriptor package passes one that understands origins, xpubs and
// derivation paths.
type KeyParser func(expr string) (Key, error)

// KeyBytes returns the serialized public key for k as the script pushes it:
// 33-byte compressed in P2WSH; 32-byte x-only in Tapscript (a 33-byte
// compressed key is accepted there and its x coordinate used). A descriptor
// passes a closure that derives k at the address index being built.
type KeyBytes func(k Key) ([]byte, error)

// Limits from consensus and standardness that BIP-379 "Resource Limits"
// names, with the Bitcoin Core constants they come from.
const (
	// MaxP2WSHScriptSize is MAX_STANDARD_P2WSH_SCRIPT_SIZE.
	MaxP2WSHScriptSize = 3600
	// MaxOpsPerScript is MAX_OPS_PER_SCRIPT (consensus, P2WSH only).
	MaxOpsPerScript = 201
	// MaxP2WSHStackItems is MAX_STANDARD_P2WSH_STACK_ITEMS.
	MaxP2WSHStackItems = 100
	// MaxStackSize is MAX_STACK_SIZE (consensus): stack plus altstack.
	MaxStackSize = 1000
	// MaxTapscriptScriptSize bounds a leaf script so that even a maximal
	// witness fits a standard transaction, as Core's MaxScriptSize does:
	// 400000 (MAX_STANDARD_TX_WEIGHT) - 378 (TX_BODY_LEEWAY_WEIGHT: a
	// one-input, one-output transaction body) - 70135
	// (MAX_TAPSCRIPT_SAT_SIZE: 1000 maximal 65-byte elements and the
	// largest control block), minus the 5-byte compact size of the result.
	MaxTapscriptScriptSize = 400000 - 378 - 70135 - 5
	// MaxMultiKeys is the key limit of CHECKMULTISIG (MAX_PUBKEYS_PER_MULTISIG).
	MaxMultiKeys = 20
	// MaxMultiAKeys is Core's MAX_PUBKEYS_PER_MULTI_A.
	MaxMultiAKeys = 999
	// sigSizeECDSA and sigSizeSchnorr are the largest signatures with
	// their length prefix: 72 bytes DER+sighash, 65 bytes Schnorr+sighash.
	sigSizeECDSA   = 1 + 72
	sigSizeSchnorr = 1 + 65
)

// Node is one parsed (or decoded) miniscript expression. Nodes are
// immutable once built; every property is computed at construction.
type Node struct {
	Frag Fragment
	// K is the threshold of thresh/multi/multi_a and the lock value of
	// older/after.
	K uint32
	// Keys are the keys of pk_k, pk_h, multi and multi_a.
	Keys []Key
	// Hash is the digest of sha256/hash256 (32 bytes) and
	// ripemd160/hash160 (20 bytes).
	Hash []byte
	// Subs are the subexpressions, in the order they are written.
	Subs []*Node

	ctx  Context
	typ  Type
	size int // script size in bytes

	ops opsInfo
	ss  stackInfo
	ws  witnessInfo
}

// Context returns the script context the node was built for.
func (n *Node) Context() Context { return n.ctx }

// Type returns the node's type properties (empty if it is not valid).
func (n *Node) Type() Type { return n.typ }

// ScriptSize returns the size in bytes of the node's script.
func (n *Node) ScriptSize() int { return n.size }

// newNode builds a node and computes its type and static analysis. It does
// not check the fragment's arguments (counts, ranges); the parser and the
// decoder do that before calling it.
func newNode(ctx Context, frag Fragment, k uint32, keys []Key, hash []byte, subs ...*Node) *Node {
	n := &Node{Frag: frag, K: k, Keys: keys, Hash: hash, Subs: subs, ctx: ctx}
	n.typ = sanitize(n.computeType())
	n.size = n.computeScriptSize()
	n.ops = n.computeOps()
	n.ss = n.computeStack()
	n.ws = n.computeWitness()
	return n
}

// computeType applies the BIP-379 correctness and malleability tables and
// the timelock-mixing rule to the node's fragment.
func (n *Node) computeType() Type {
	var x, y, z Type
	if len(n.Subs) > 0 {
		x = n.Subs[0].typ
	}
	if len(n.Subs) > 1 {
		y = n.Subs[1].typ
	}
	if len(n.Subs) > 2 {
		z = n.Subs[2].typ
	}
	const B, V, K, W = TypeB, TypeV, TypeK, TypeW
	const pz, po, pn, pd, pu = PropZ, PropO, PropN, PropD, PropU
	const ps, pf, pe, pm, px, pk = PropS, PropF, PropE, PropM, propX, PropK
	switch n.Frag {
	case Just0:
		return B | pz | pu | pd | ps | pe | pm | px | pk
	case Just1:
		return B | pz | pu | pf | pm | px | pk
	case PkK:
		return K | po | pn | pd | pu | ps | pe | pm | px | pk
	case PkH:
		return K | pn | pd | pu | ps | pe | pm | px | pk
	case Older:
		// BIP-68: bit 22 selects time (512-second units) over height.
		tl := PropH
		if n.K&seqTypeFlag != 0 {
			tl = PropG
		}
		return B | pz | pf | pm | px | pk | tl
	case After:
		tl := PropJ
		if n.K >= lockTimeThreshold {
			tl = PropI
		}
		return B | pz | pf | pm | px | pk | tl
	case Sha256, Hash256, Ripemd160, Hash160:
		return B | po | pn | pd | pu | pm | pk
	case WrapA:
		if !x.Has(B) {
			return 0
		}
		return W | x&(timelockProps|pk) | x&(pu|pd|pf|pe|pm|ps) | px
	case WrapS:
		if !x.Has(B | po) {
			return 0
		}
		return W | x&(timelockProps|pk) | x&(pu|pd|pf|pe|pm|ps|px)
	case WrapC:
		if !x.Has(K) {
			return 0
		}
		return B | x&(timelockProps|pk) | x&(po|pn|pd|pf|pe|pm) | pu | ps
	case WrapD:
		if !x.Has(V | pz) {
			return 0
		}
		t := B | po | pn | pd | px | x&(timelockProps|pk) | x&(pm|ps)
		if x.Has(pf) {
			t |= pe
		}
		// MINIMALIF is consensus in Tapscript only, so d: is u there.
		if n.ctx == Tapscript {
			t |= pu
		}
		return t
	case WrapV:
		if !x.Has(B) {
			return 0
		}
		return V | x&(timelockProps|pk) | x&(pz|po|pn|pm|ps) | pf | px
	case WrapJ:
		if !x.Has(B | pn) {
			return 0
		}
		t := B | pn | pd | px | x&(timelockProps|pk) | x&(po|pu|pm|ps)
		if x.Has(pf) {
			t |= pe
		}
		return t
	case WrapN:
		if !x.Has(B) {
			return 0
		}
		return x&(timelockProps|pk) | x&(B|pz|po|pn|pd|pf|pe|pm|ps) | pu | px
	case AndV:
		if !x.Has(V) {
			return 0
		}
		t := y & (B | K | V)
		if x.Has(pn) || (x.Has(pz) && y.Has(pn)) {
			t |= pn
		}
		if (x.Has(pz) && y.Has(po)) || (x.Has(po) && y.Has(pz)) {
			t |= po
		}
		t |= x & y & (pd | pm | pz)
		t |= (x | y) & ps
		if y.Has(pf) || x.Has(ps) {
			t |= pf
		}
		t |= y & (pu | px)
		t |= (x | y) & timelockProps
		if noMix(x, y) {
			t |= pk
		}
		return t
	case AndB:
		if !x.Has(B) || !y.Has(W) {
			return 0
		}
		t := B | pu | px
		if (x.Has(pz) && y.Has(po)) || (x.Has(po) && y.Has(pz)) {
			t |= po
		}
		if x.Has(pn) || (x.Has(pz) && y.Has(pn)) {
			t |= pn
		}
		if x.Has(pe|ps) && y.Has(pe|ps) {
			t |= pe
		}
		t |= x & y & (pd | pz | pm)
		if (x.Has(pf) && y.Has(pf)) || x.Has(ps|pf) || y.Has(ps|pf) {
			t |= pf
		}
		t |= (x | y) & ps
		t |= (x | y) & timelockProps
		if noMix(x, y) {
			t |= pk
		}
		return t
	case OrB:
		if !x.Has(B|pd) || !y.Has(W|pd) {
			return 0
		}
		t := B | pd | pu | pe | px
		if (x.Has(pz) && y.Has(po)) || (x.Has(po) && y.Has(pz)) {
			t |= po
		}
		if x.Has(pm) && y.Has(pm) && x.Has(pe) && y.Has(pe) && (x.Has(ps) || y.Has(ps)) {
			t |= pm
		}
		t |= x & y & (pz | ps)
		t |= (x | y) & timelockProps
		t |= x & y & pk
		return t
	case OrD:
		if !x.Has(B|pd|pu) || !y.Has(B) {
			return 0
		}
		t := B | px
		if x.Has(po) && y.Has(pz) {
			t |= po
		}
		if x.Has(pm) && y.Has(pm) && x.Has(pe) && (x.Has(ps) || y.Has(ps)) {
			t |= pm
		}
		t |= x & y & (pz | ps)
		t |= y & (pu | pf | pd | pe)
		t |= (x | y) & timelockProps
		t |= x & y & pk
		return t
	case OrC:
		if !x.Has(B|pd|pu) || !y.Has(V) {
			return 0
		}
		t := V | pf | px
		if x.Has(po) && y.Has(pz) {
			t |= po
		}
		if x.Has(pm) && y.Has(pm) && x.Has(pe) && (x.Has(ps) || y.Has(ps)) {
			t |= pm
		}
		t |= x & y & (pz | ps)
		t |= (x | y) & timelockProps
		t |= x & y & pk
		return t
	case OrI:
		t := x & y & (V | B | K | pu | pf | ps)
		if x.Has(pz) && y.Has(pz) {
			t |= po
		}
		if (x.Has(pe) && y.Has(pf)) || (x.Has(pf) && y.Has(pe)) {
			t |= pe
		}
		if x.Has(pm) && y.Has(pm) && (x.Has(ps) || y.Has(ps)) {
			t |= pm
		}
		t |= (x | y) & pd
		t |= px
		t |= (x | y) & timelockProps
		t |= x & y & pk
		return t
	case AndOr:
		if !x.Has(B | pd | pu) {
			return 0
		}
		t := y & z & (B | K | V)
		t |= x & y & z & pz
		if (x.Has(pz) && y.Has(po) && z.Has(po)) || (x.Has(po) && y.Has(pz) && z.Has(pz)) {
			t |= po
		}
		t |= y & z & pu
		sxfy := x.Has(ps) || y.Has(pf)
		if sxfy {
			t |= z & (pf | pe)
		}
		t |= z & pd
		if x.Has(pm) && y.Has(pm) && z.Has(pm) && x.Has(pe) && (x.Has(ps) || y.Has(ps) || z.Has(ps)) {
			t |= pm
		}
		if z.Has(ps) && (x.Has(ps) || y.Has(ps)) {
			t |= ps
		}
		t |= px
		t |= (x | y | z) & timelockProps
		// Only the X-and-Y path combines two subexpressions' locks.
		if x.Has(pk) && y.Has(pk) && z.Has(pk) && noMix(x, y) {
			t |= pk
		}
		return t
	case Thresh:
		return n.threshType()
	case Multi:
		return B | pn | pu | pd | pe | pm | ps | pk
	case MultiA:
		return B | pu | pd | pe | pm | ps | pk
	}
	return 0
}

// threshType is the thresh row of the BIP-379 tables: X1 is Bdu, the rest
// Wdu; z if all are z, o if all are z but one o; e if all are s; m if
// all are e and m and at most k are not s; s if at most k-1 are not s. Two
// subexpressions with incompatible locks break k when k >= 2.
func (n *Node) threshType() Type {
	allE, allM := true, true
	args, numS := 0, 0
	acc := PropK
	for i, sub := range n.Subs {
		t := sub.typ
		if i == 0 && !t.Has(TypeB|PropD|PropU) {
			return 0
		}
		if i != 0 && !t.Has(TypeW|PropD|PropU) {
			return 0
		}
		if !t.Has(PropE) {
			allE = false
		}
		if !t.Has(PropM) {
			allM = false
		}
		if t.Has(PropS) {
			numS++
		}
		switch {
		case t.Has(PropZ):
		case t.Has(PropO):
			args++
		default:
			args += 2
		}
		k := acc.Has(PropK) && t.Has(PropK) && (n.K <= 1 || noMix(acc, t))
		acc = (acc|t)&timelockProps | PropK.If(k)
	}
	cnt := len(n.Subs)
	k := int(n.K)
	t := TypeB | PropD | PropU | acc
	t |= PropZ.If(args == 0) | PropO.If(args == 1)
	t |= PropE.If(numS == cnt)
	t |= PropM.If(allE && allM && numS >= cnt-k)
	t |= PropS.If(numS >= cnt-k+1)
	return t
}

// BIP-68 and BIP-65 constants.
const (
	seqDisableFlag    = 1 << 31
	seqTypeFlag       = 1 << 22
	seqMask           = 0x0000ffff
	lockTimeThreshold = 500000000
)

// String prints the node in BIP-379 text form with the sugar forms
// (pk, pkh, and_n, t:, l:, u:) and merged wrapper prefixes.
func (n *Node) String() string {
	return n.str(false)
}

// str prints n; wrapped says a wrapper prefix has just been printed, so a
// further wrapper needs no separator of its own.
func (n *Node) str(wrapped bool) string {
	switch {
	case n.Frag == WrapC && n.Subs[0].Frag == PkK:
		return sep(wrapped) + "pk(" + n.Subs[0].Keys[0].String() + ")"
	case n.Frag == WrapC && n.Subs[0].Frag == PkH:
		return sep(wrapped) + "pkh(" + n.Subs[0].Keys[0].String() + ")"
	case n.Frag == AndV && n.Subs[1].Frag == Just1:
		return "t" + n.Subs[0].str(true)
	case n.Frag == OrI && n.Subs[0].Frag == Just0:
		return "l" + n.Subs[1].str(true)
	case n.Frag == OrI && n.Subs[1].Frag == Just0:
		return "u" + n.Subs[0].str(true)
	case n.Frag.IsWrapper():
		return n.Frag.String() + n.Subs[0].str(true)
	}
	s := sep(wrapped)
	switch n.Frag {
	case Just0, Just1:
		return s + n.Frag.String()
	case PkK, PkH:
		return s + n.Frag.String() + "(" + n.Keys[0].String() + ")"
	case Older, After:
		return fmt.Sprintf("%s%s(%d)", s, n.Frag, n.K)
	case Sha256, Hash256, Ripemd160, Hash160:
		return s + n.Frag.String() + "(" + hex.EncodeToString(n.Hash) + ")"
	case Multi, MultiA:
		out := fmt.Sprintf("%s%s(%d", s, n.Frag, n.K)
		for _, k := range n.Keys {
			out += "," + k.String()
		}
		return out + ")"
	case Thresh:
		out := fmt.Sprintf("%sthresh(%d", s, n.K)
		for _, sub := range n.Subs {
			out += "," + sub.str(false)
		}
		return out + ")"
	case AndOr:
		if n.Subs[2].Frag == Just0 {
			return s + "and_n(" + n.Subs[0].str(false) + "," + n.Subs[1].str(false) + ")"
		}
	}
	out := s + n.Frag.String() + "("
	for i, sub := range n.Subs {
		if i > 0 {
			out += ","
		}
		out += sub.str(false)
	}
	return out + ")"
}

func sep(wrapped bool) string {
	if wrapped {
		return ":"
	}
	return ""
}
