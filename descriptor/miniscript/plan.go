package miniscript

import (
	"encoding/hex"
	"fmt"
	"sort"
)

// Path is one canonical way to satisfy a miniscript: which signatures and
// preimages it needs, which time locks the spending transaction must meet,
// and how big its witness is.
type Path struct {
	// Keys need a signature each; PubKeys are their serialized forms as
	// the script pushes them.
	Keys    []Key
	PubKeys [][]byte
	// Hashes are the digests whose preimages the path reveals, with the
	// fragment (Sha256, Hash256, Ripemd160, Hash160) of each.
	Hashes    [][]byte
	HashKinds []Fragment
	// NeedsSequence says the path has older(): the input's nSequence
	// must be at least Sequence (BIP-68 encoded, same height/time type)
	// and the transaction version at least 2.
	NeedsSequence bool
	Sequence      uint32
	// NeedsLockTime says the path has after(): the transaction's nLockTime
	// must be at least LockTime (same height/time type) and the input's
	// nSequence below 0xffffffff.
	NeedsLockTime bool
	LockTime      uint32
	// WitnessSize is the size in bytes of the path's witness elements
	// with their length prefixes (no element count, script or control
	// block), signatures counted at their largest (73 bytes ECDSA, 66
	// Schnorr, prefix included). WitnessElements is their number.
	WitnessSize     int
	WitnessElements int
	// NonMalleable says the non-malleable satisfier, given exactly this
	// path's signatures, preimages and locks, produces this path: only
	// such paths can be spent safely.
	NonMalleable bool
	// Available is set by Plan: the path's keys can sign, its preimages
	// are known and its locks fit within the plan's lock state.
	Available bool
}

// pathOpt is one canonical (dis)satisfaction option during enumeration.
type pathOpt struct {
	size, elems int
	keys        []Key
	pubs        [][]byte
	hashes      [][]byte
	kinds       []Fragment
	olders      []uint32
	afters      []uint32
}

func joinOpts(ps ...pathOpt) pathOpt {
	var o pathOpt
	for _, p := range ps {
		o.size += p.size
		o.elems += p.elems
		o.keys = append(o.keys, p.keys...)
		o.pubs = append(o.pubs, p.pubs...)
		o.hashes = append(o.hashes, p.hashes...)
		o.kinds = append(o.kinds, p.kinds...)
		o.olders = append(o.olders, p.olders...)
		o.afters = append(o.afters, p.afters...)
	}
	return o
}

type optSets struct{ dsat, sat []pathOpt }

type enumerator struct {
	kb    KeyBytes
	limit int
}

// cross returns every combination of one option from each list.
func (e *enumerator) cross(lists ...[]pathOpt) ([]pathOpt, error) {
	out := []pathOpt{{}}
	for _, l := range lists {
		if len(out)*len(l) > e.limit {
			return nil, fmt.Errorf("%w (more than %d)", ErrTooManyPaths, e.limit)
		}
		var next []pathOpt
		for _, a := range out {
			for _, b := range l {
				next = append(next, joinOpts(a, b))
			}
		}
		out = next
	}
	return out, nil
}

func (e *enumerator) union(lists ...[]pathOpt) ([]pathOpt, error) {
	var out []pathOpt
	for _, l := range lists {
		out = append(out, l...)
	}
	if len(out) > e.limit {
		return nil, fmt.Errorf("%w (more than %d)", ErrTooManyPaths, e.limit)
	}
	return out, nil
}

var (
	optEmpty = pathOpt{}
	optZero  = pathOpt{size: 1, elems: 1}
	optOne   = pathOpt{size: 2, elems: 1}
)

// enumerate lists n's canonical dissatisfactions and satisfactions
// (BIP-379's satisfaction table without the struck-through options).
func (e *enumerator) enumerate(n *Node) (optSets, error) {
	subs := make([]optSets, len(n.Subs))
	for i, s := range n.Subs {
		r, err := e.enumerate(s)
		if err != nil {
			return optSets{}, err
		}
		subs[i] = r
	}
	sigOpt := func(k Key) (pathOpt, []byte, error) {
		pub, err := n.pubKey(k, e.kb)
		if err != nil {
			return pathOpt{}, nil, err
		}
		return pathOpt{size: n.sigSize(), elems: 1, keys: []Key{k}, pubs: [][]byte{pub}}, pub, nil
	}
	one := func(o pathOpt) []pathOpt { return []pathOpt{o} }
	var err error
	var r optSets
	switch n.Frag {
	case Just0:
		r.dsat = one(optEmpty)
	case Just1:
		r.sat = one(optEmpty)
	case PkK:
		s, _, err := sigOpt(n.Keys[0])
		if err != nil {
			return r, err
		}
		r.dsat, r.sat = one(optZero), one(s)
	case PkH:
		s, pub, err := sigOpt(n.Keys[0])
		if err != nil {
			return r, err
		}
		p := pathOpt{size: 1 + len(pub), elems: 1}
		r.dsat, r.sat = one(joinOpts(optZero, p)), one(joinOpts(s, p))
	case Older:
		r.sat = one(pathOpt{olders: []uint32{n.K}})
	case After:
		r.sat = one(pathOpt{afters: []uint32{n.K}})
	case Sha256, Hash256, Ripemd160, Hash160:
		r.sat = one(pathOpt{size: 33, elems: 1, hashes: [][]byte{n.Hash}, kinds: []Fragment{n.Frag}})
		r.dsat = one(pathOpt{size: 33, elems: 1})
	case AndV:
		r.sat, err = e.cross(subs[1].sat, subs[0].sat)
	case AndB:
		if r.dsat, err = e.cross(subs[1].dsat, subs[0].dsat); err == nil {
			r.sat, err = e.cross(subs[1].sat, subs[0].sat)
		}
	case OrB:
		var a, b []pathOpt
		if r.dsat, err = e.cross(subs[1].dsat, subs[0].dsat); err != nil {
			break
		}
		if a, err = e.cross(subs[1].dsat, subs[0].sat); err != nil {
			break
		}
		if b, err = e.cross(subs[1].sat, subs[0].dsat); err != nil {
			break
		}
		r.sat, err = e.union(a, b)
	case OrC, OrD:
		var b []pathOpt
		if b, err = e.cross(subs[1].sat, subs[0].dsat); err != nil {
			break
		}
		if r.sat, err = e.union(subs[0].sat, b); err != nil {
			break
		}
		if n.Frag == OrD {
			r.dsat, err = e.cross(subs[1].dsat, subs[0].dsat)
		}
	case OrI:
		var a, b []pathOpt
		if a, err = e.cross(subs[0].sat, one(optOne)); err != nil {
			break
		}
		if b, err = e.cross(subs[1].sat, one(optZero)); err != nil {
			break
		}
		if r.sat, err = e.union(a, b); err != nil {
			break
		}
		if a, err = e.cross(subs[0].dsat, one(optOne)); err != nil {
			break
		}
		if b, err = e.cross(subs[1].dsat, one(optZero)); err != nil {
			break
		}
		r.dsat, err = e.union(a, b)
	case AndOr:
		var a, b []pathOpt
		if a, err = e.cross(subs[1].sat, subs[0].sat); err != nil {
			break
		}
		if b, err = e.cross(subs[2].sat, subs[0].dsat); err != nil {
			break
		}
		if r.sat, err = e.union(a, b); err != nil {
			break
		}
		r.dsat, err = e.cross(subs[2].dsat, subs[0].dsat)
	case WrapA, WrapS, WrapC, WrapN:
		r = subs[0]
	case WrapD:
		r.dsat = one(optZero)
		r.sat, err = e.cross(subs[0].sat, one(optOne))
	case WrapV:
		r.sat = subs[0].sat
	case WrapJ:
		r.dsat = one(optZero)
		r.sat = subs[0].sat
	case Multi, MultiA:
		// Choose k of the keys, keeping key order.
		sigs := make([]pathOpt, len(n.Keys))
		for i, k := range n.Keys {
			if sigs[i], _, err = sigOpt(k); err != nil {
				return r, err
			}
		}
		var combos [][]int
		var rec func(start int, cur []int) error
		rec = func(start int, cur []int) error {
			if len(cur) == int(n.K) {
				combos = append(combos, append([]int(nil), cur...))
				if len(combos) > e.limit {
					return fmt.Errorf("%w (more than %d)", ErrTooManyPaths, e.limit)
				}
				return nil
			}
			for i := start; i < len(n.Keys); i++ {
				if err := rec(i+1, append(cur, i)); err != nil {
					return err
				}
			}
			return nil
		}
		if err = rec(0, nil); err != nil {
			break
		}
		for _, c := range combos {
			var o pathOpt
			if n.Frag == Multi {
				o = optZero // the CHECKMULTISIG dummy
				for _, i := range c {
					o = joinOpts(o, sigs[i])
				}
			} else {
				chosen := map[int]bool{}
				for _, i := range c {
					chosen[i] = true
				}
				for i := len(n.Keys) - 1; i >= 0; i-- {
					if chosen[i] {
						o = joinOpts(o, sigs[i])
					} else {
						o = joinOpts(o, optZero)
					}
				}
			}
			r.sat = append(r.sat, o)
		}
		count := int(n.K) + 1
		if n.Frag == MultiA {
			count = len(n.Keys)
		}
		r.dsat = one(pathOpt{size: count, elems: count})
	case Thresh:
		// sats[j]: options satisfying exactly j of the subexpressions
		// seen so far (from the last).
		sats := [][]pathOpt{one(optEmpty)}
		for i := len(subs) - 1; i >= 0; i-- {
			next := make([][]pathOpt, len(sats)+1)
			for j := 0; j <= len(sats); j++ {
				var l []pathOpt
				if j < len(sats) {
					a, err := e.cross(sats[j], subs[i].dsat)
					if err != nil {
						return r, err
					}
					l = a
				}
				if j > 0 && j-1 < len(sats) {
					b, err := e.cross(sats[j-1], subs[i].sat)
					if err != nil {
						return r, err
					}
					if l, err = e.union(l, b); err != nil {
						return r, err
					}
				}
				next[j] = l
			}
			sats = next
		}
		r.dsat, r.sat = sats[0], sats[n.K]
	default:
		return r, fmt.Errorf("miniscript: cannot enumerate fragment %s", n.Frag)
	}
	return r, err
}

// pathFromOpt turns a satisfaction option into a Path; false if its locks
// cannot be met by one transaction (height and time locks of one kind).
func pathFromOpt(o pathOpt) (Path, bool) {
	p := Path{Keys: o.keys, PubKeys: o.pubs, Hashes: o.hashes, HashKinds: o.kinds,
		WitnessSize: o.size, WitnessElements: o.elems}
	for i, v := range o.olders {
		if i > 0 && (v&seqTypeFlag) != (p.Sequence&seqTypeFlag) {
			return p, false
		}
		if !p.NeedsSequence || v&seqMask > p.Sequence&seqMask {
			p.Sequence = v
		}
		p.NeedsSequence = true
	}
	for i, v := range o.afters {
		if i > 0 && (v < lockTimeThreshold) != (p.LockTime < lockTimeThreshold) {
			return p, false
		}
		if v > p.LockTime {
			p.LockTime = v
		}
		p.NeedsLockTime = true
	}
	return p, true
}

// Paths lists every canonical satisfaction of the miniscript (BIP-379's
// satisfaction table, non-canonical options left out), cheapest witness
// first, with what each needs and whether the non-malleable satisfier
// would produce it. kb resolves keys as for Script. Paths whose time locks
// cannot all hold in one transaction are left out. limit bounds the number
// of options built on the way (ErrTooManyPaths beyond it); 0 means 10000.
func (n *Node) Paths(kb KeyBytes, limit int) ([]Path, error) {
	if limit <= 0 {
		limit = 10000
	}
	e := &enumerator{kb: kb, limit: limit}
	r, err := e.enumerate(n)
	if err != nil {
		return nil, err
	}
	var out []Path
	for _, o := range r.sat {
		p, ok := pathFromOpt(o)
		if !ok {
			continue
		}
		p.NonMalleable = n.pathNonMalleable(p, kb)
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].WitnessSize < out[j].WitnessSize })
	return out, nil
}

// planAssets grants signatures (as maximal-size placeholders) for a set of
// keys, preimages for a set of digests, and a lock state.
type planAssets struct {
	canSign   func(k Key, pub []byte) bool
	preimages func(digest []byte) bool
	locks     LockState
	sigSize   int
}

func (a planAssets) sig(k Key, pub []byte) ([]byte, bool) {
	if !a.canSign(k, pub) {
		return nil, false
	}
	return make([]byte, a.sigSize-1), true
}

func (a planAssets) preimage(_ Fragment, digest []byte) ([]byte, bool) {
	if !a.preimages(digest) {
		return nil, false
	}
	return make([]byte, 32), true
}

func (a planAssets) older(n uint32) bool { return a.locks.OlderOK(n) }
func (a planAssets) after(n uint32) bool { return a.locks.AfterOK(n) }

// pathLocks is the lock state that meets exactly p's locks.
func pathLocks(p Path) LockState {
	l := LockState{Sequence: 0xfffffffe}
	if p.NeedsSequence {
		l.Sequence = p.Sequence
	}
	if p.NeedsLockTime {
		l.LockTime = p.LockTime
	} else {
		l.LockTime = 0
	}
	return l
}

// pathNonMalleable runs the satisfier with exactly p's assets and checks it
// produces a non-malleable, signed witness of p's shape and keys.
func (n *Node) pathNonMalleable(p Path, kb KeyBytes) bool {
	keys := map[string]bool{}
	for _, pub := range p.PubKeys {
		keys[string(pub)] = true
	}
	hashes := map[string]bool{}
	for _, h := range p.Hashes {
		hashes[string(h)] = true
	}
	a := planAssets{
		canSign:   func(_ Key, pub []byte) bool { return keys[string(pub)] },
		preimages: func(d []byte) bool { return hashes[string(d)] },
		locks:     pathLocks(p),
		sigSize:   n.sigSize(),
	}
	r, err := n.produce(a, kb)
	if err != nil || !r.sat.avail || r.sat.mall || !r.sat.hasSig {
		return false
	}
	return r.sat.size == p.WitnessSize && len(r.sat.stack) == p.WitnessElements &&
		len(r.sat.keys) == len(p.Keys) && len(r.sat.hashes) == len(p.Hashes)
}

// PlanAssets says what a coordinator can obtain before asking for
// signatures: which keys can sign, which preimages it knows, and the most
// its transaction can commit to in nSequence and nLockTime (for example
// the UTXO's age for older() and the chain tip for after()).
type PlanAssets struct {
	// CanSign reports whether a signature from key k (serialized as pub)
	// can be had. Nil means every key.
	CanSign func(k Key, pub []byte) bool
	// Preimages holds the hex digests whose preimages are known.
	Preimages map[string]bool
	// Locks is the largest lock state the transaction can have.
	Locks LockState
}

// Plan is the result of planning a spend.
type Plan struct {
	// Paths are all canonical spending paths, cheapest first, with
	// Available set for those the assets allow.
	Paths []Path
	// Best is the path the non-malleable satisfier picks with these
	// assets (nil if none): build the PSBT with its Sequence/LockTime
	// and ask its Keys to sign.
	Best *Path
}

// Plan works out which spending paths the assets allow and which one the
// satisfier would choose, without any signature yet. kb resolves keys as
// for Script.
func (n *Node) Plan(kb KeyBytes, a PlanAssets) (*Plan, error) {
	paths, err := n.Paths(kb, 0)
	if err != nil {
		return nil, err
	}
	canSign := a.CanSign
	if canSign == nil {
		canSign = func(Key, []byte) bool { return true }
	}
	hasPre := func(d []byte) bool { return a.Preimages[hex.EncodeToString(d)] }
	for i := range paths {
		p := &paths[i]
		ok := true
		for j, k := range p.Keys {
			ok = ok && canSign(k, p.PubKeys[j])
		}
		for _, h := range p.Hashes {
			ok = ok && hasPre(h)
		}
		if p.NeedsSequence {
			ok = ok && a.Locks.OlderOK(p.Sequence)
		}
		if p.NeedsLockTime {
			ok = ok && a.Locks.AfterOK(p.LockTime)
		}
		p.Available = ok
	}
	plan := &Plan{Paths: paths}
	r, err := n.produce(planAssets{canSign: canSign, preimages: hasPre, locks: a.Locks, sigSize: n.sigSize()}, kb)
	if err != nil {
		return nil, err
	}
	if !r.sat.avail {
		return plan, fmt.Errorf("%w: no spending path is available with these keys, preimages and locks", ErrCannotSatisfy)
	}
	if r.sat.mall || !r.sat.hasSig {
		return plan, ErrMalleableOnly
	}
	best, ok := pathFromOpt(pathOpt{size: r.sat.size, elems: len(r.sat.stack), keys: r.sat.keys,
		hashes: r.sat.hashes, olders: r.sat.olders, afters: r.sat.afters})
	if !ok {
		return plan, fmt.Errorf("%w: the chosen path mixes lock kinds", ErrCannotSatisfy)
	}
	for _, k := range best.Keys {
		pub, err := n.pubKey(k, kb)
		if err != nil {
			return nil, err
		}
		best.PubKeys = append(best.PubKeys, pub)
	}
	best.HashKinds = n.hashKinds(best.Hashes)
	best.NonMalleable, best.Available = true, true
	plan.Best = &best
	return plan, nil
}

// hashKinds looks up the fragment of each digest.
func (n *Node) hashKinds(hs [][]byte) []Fragment {
	kinds := map[string]Fragment{}
	n.walk(func(m *Node) {
		if m.Hash != nil {
			kinds[string(m.Hash)] = m.Frag
		}
	})
	out := make([]Fragment, len(hs))
	for i, h := range hs {
		out[i] = kinds[string(h)]
	}
	return out
}
