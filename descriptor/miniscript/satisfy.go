package miniscript

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	//lint:ignore SA1019 RIPEMD-160 is what OP_RIPEMD160 computes: the ripemd160() fragment needs it
	"golang.org/x/crypto/ripemd160"
)

// LockState is the time-lock state of the spending transaction: the
// nSequence of the input and the transaction's nLockTime. The transaction
// is assumed to have version 2 or more, as BIP-68/112 relative locks need.
type LockState struct {
	Sequence uint32
	LockTime uint32
}

// OlderOK reports whether older(n) passes under s: OP_CHECKSEQUENCEVERIFY
// with BIP-68 semantics (disable flag clear, same height/time type, masked
// value at least n).
func (s LockState) OlderOK(n uint32) bool {
	if s.Sequence&seqDisableFlag != 0 {
		return false
	}
	if (n & seqTypeFlag) != (s.Sequence & seqTypeFlag) {
		return false
	}
	return n&seqMask <= s.Sequence&seqMask
}

// AfterOK reports whether after(n) passes under s: OP_CHECKLOCKTIMEVERIFY
// (BIP-65: same height/time type, nLockTime at least n, input not final).
func (s LockState) AfterOK(n uint32) bool {
	if (n < lockTimeThreshold) != (s.LockTime < lockTimeThreshold) {
		return false
	}
	return n <= s.LockTime && s.Sequence != 0xffffffff
}

// Satisfier holds what is available to satisfy a miniscript.
type Satisfier struct {
	// Keys resolves each key to its serialized form, as for Script.
	Keys KeyBytes
	// Signatures maps the hex of a public key as the script pushes it
	// (33-byte compressed in P2WSH, 32-byte x-only in Tapscript) to its
	// signature, sighash byte included.
	Signatures map[string][]byte
	// Preimages maps the hex of a digest to its 32-byte preimage. Only a
	// preimage that hashes to the digest is used.
	Preimages map[string][]byte
	// Locks is the lock state the spending transaction has.
	Locks LockState
}

// Errors of the satisfier and planner.
var (
	// ErrCannotSatisfy: the available signatures, preimages and lock
	// state satisfy no spending path; the error says what each of the
	// cheapest paths still lacks.
	ErrCannotSatisfy = errors.New("miniscript: cannot satisfy")
	// ErrMalleableOnly: every available satisfaction is malleable (or
	// has no signature), so a third party could alter the witness.
	ErrMalleableOnly = errors.New("miniscript: only malleable satisfactions are available")
	// ErrTooManyPaths: the path enumeration would exceed its limit.
	ErrTooManyPaths = errors.New("miniscript: too many spending paths to enumerate")
)

// assets is what one run of the satisfaction algorithm can use.
type assets interface {
	sig(k Key, pub []byte) ([]byte, bool)
	preimage(f Fragment, digest []byte) ([]byte, bool)
	older(n uint32) bool
	after(n uint32) bool
}

// sol is one candidate (dis)satisfaction: Core's InputStack, with the
// path record (keys, hashes, locks) the planner reports.
type sol struct {
	avail    bool
	hasSig   bool
	mall     bool // DONTUSE in BIP-379's words
	nonCanon bool
	size     int
	stack    [][]byte // bottom first
	keys     []Key
	hashes   [][]byte
	olders   []uint32
	afters   []uint32
}

var (
	solInvalid = sol{}
	solEmpty   = sol{avail: true}
	solZero    = sol{avail: true, size: 1, stack: [][]byte{{}}}
	solOne     = sol{avail: true, size: 2, stack: [][]byte{{1}}}
)

func solPush(b []byte) sol {
	return sol{avail: true, size: 1 + len(b), stack: [][]byte{b}}
}

// cat is a followed by b: b's elements end up on top.
func cat(a, b sol) sol {
	if !a.avail || !b.avail {
		return solInvalid
	}
	out := sol{
		avail:    true,
		hasSig:   a.hasSig || b.hasSig,
		mall:     a.mall || b.mall,
		nonCanon: a.nonCanon || b.nonCanon,
		size:     a.size + b.size,
	}
	out.stack = append(append(make([][]byte, 0, len(a.stack)+len(b.stack)), a.stack...), b.stack...)
	out.keys = append(append([]Key(nil), a.keys...), b.keys...)
	out.hashes = append(append([][]byte(nil), a.hashes...), b.hashes...)
	out.olders = append(append([]uint32(nil), a.olders...), b.olders...)
	out.afters = append(append([]uint32(nil), a.afters...), b.afters...)
	return out
}

func (s sol) malleable() sol { s.mall = true; return s }
func (s sol) nonCanonical() sol {
	s.nonCanon = true
	return s
}

// choose is BIP-379's choice between two options: an option without a
// signature must be taken if the other has one; two options without a
// signature are both malleable; among signed options a non-malleable one
// wins; otherwise the smaller.
func choose(a, b sol) sol {
	if !a.avail {
		return b
	}
	if !b.avail {
		return a
	}
	if !a.hasSig && b.hasSig {
		return a
	}
	if !b.hasSig && a.hasSig {
		return b
	}
	if !a.hasSig && !b.hasSig {
		a.mall, b.mall = true, true
	} else {
		if b.mall && !a.mall {
			return a
		}
		if a.mall && !b.mall {
			return b
		}
	}
	if a.size <= b.size {
		return a
	}
	return b
}

func chooseAll(ss ...sol) sol {
	out := solInvalid
	for i, s := range ss {
		if i == 0 {
			out = s
			continue
		}
		out = choose(out, s)
	}
	return out
}

type satPair struct{ dsat, sat sol }

// produce runs the satisfaction algorithm bottom-up over n.
func (n *Node) produce(a assets, kb KeyBytes) (satPair, error) {
	subs := make([]satPair, len(n.Subs))
	for i, s := range n.Subs {
		r, err := s.produce(a, kb)
		if err != nil {
			return satPair{}, err
		}
		subs[i] = r
	}
	sigSol := func(k Key) (sol, []byte, error) {
		pub, err := n.pubKey(k, kb)
		if err != nil {
			return sol{}, nil, err
		}
		sig, ok := a.sig(k, pub)
		if !ok {
			return solInvalid, pub, nil
		}
		s := solPush(sig)
		s.hasSig = true
		s.keys = []Key{k}
		return s, pub, nil
	}
	switch n.Frag {
	case Just0:
		return satPair{solEmpty, solInvalid}, nil
	case Just1:
		return satPair{solInvalid, solEmpty}, nil
	case PkK:
		s, _, err := sigSol(n.Keys[0])
		return satPair{solZero, s}, err
	case PkH:
		s, pub, err := sigSol(n.Keys[0])
		if err != nil {
			return satPair{}, err
		}
		return satPair{cat(solZero, solPush(pub)), cat(s, solPush(pub))}, nil
	case Older:
		s := solInvalid
		if a.older(n.K) {
			s = solEmpty
			s.olders = []uint32{n.K}
		}
		return satPair{solInvalid, s}, nil
	case After:
		s := solInvalid
		if a.after(n.K) {
			s = solEmpty
			s.afters = []uint32{n.K}
		}
		return satPair{solInvalid, s}, nil
	case Sha256, Hash256, Ripemd160, Hash160:
		s := solInvalid
		if pre, ok := a.preimage(n.Frag, n.Hash); ok {
			s = solPush(pre)
			s.hashes = [][]byte{n.Hash}
		}
		// Any other 32-byte value dissatisfies, so the dissatisfaction
		// is always malleable.
		return satPair{solPush(make([]byte, 32)).malleable(), s}, nil
	case AndV:
		x, y := subs[0], subs[1]
		return satPair{cat(y.dsat, x.sat).nonCanonical(), cat(y.sat, x.sat)}, nil
	case AndB:
		x, y := subs[0], subs[1]
		return satPair{
			chooseAll(cat(y.dsat, x.dsat),
				cat(y.sat, x.dsat).malleable().nonCanonical(),
				cat(y.dsat, x.sat).malleable().nonCanonical()),
			cat(y.sat, x.sat),
		}, nil
	case OrB:
		x, z := subs[0], subs[1]
		return satPair{
			cat(z.dsat, x.dsat),
			chooseAll(cat(z.dsat, x.sat), cat(z.sat, x.dsat), cat(z.sat, x.sat).malleable().nonCanonical()),
		}, nil
	case OrC:
		x, z := subs[0], subs[1]
		return satPair{solInvalid, choose(x.sat, cat(z.sat, x.dsat))}, nil
	case OrD:
		x, z := subs[0], subs[1]
		return satPair{cat(z.dsat, x.dsat), choose(x.sat, cat(z.sat, x.dsat))}, nil
	case OrI:
		x, z := subs[0], subs[1]
		return satPair{
			choose(cat(x.dsat, solOne), cat(z.dsat, solZero)),
			choose(cat(x.sat, solOne), cat(z.sat, solZero)),
		}, nil
	case AndOr:
		x, y, z := subs[0], subs[1], subs[2]
		return satPair{
			choose(cat(y.dsat, x.sat).nonCanonical(), cat(z.dsat, x.dsat)),
			choose(cat(y.sat, x.sat), cat(z.sat, x.dsat)),
		}, nil
	case WrapA, WrapS, WrapC, WrapN:
		return subs[0], nil
	case WrapD:
		return satPair{solZero, cat(subs[0].sat, solOne)}, nil
	case WrapV:
		return satPair{solInvalid, subs[0].sat}, nil
	case WrapJ:
		// A dissatisfaction of X with a nonzero top element would be a
		// second dissatisfaction; assume it exists whenever X can be
		// dissatisfied without a signature.
		d := solZero
		if subs[0].dsat.avail && !subs[0].dsat.hasSig {
			d = d.malleable()
		}
		return satPair{d, subs[0].sat}, nil
	case Multi:
		// sats[j]: best stack with j signatures among the keys so far,
		// the dummy element first; signatures in key order.
		sats := []sol{solZero}
		for _, k := range n.Keys {
			s, _, err := sigSol(k)
			if err != nil {
				return satPair{}, err
			}
			next := []sol{sats[0]}
			for j := 1; j < len(sats); j++ {
				next = append(next, choose(sats[j], cat(sats[j-1], s)))
			}
			next = append(next, cat(sats[len(sats)-1], s))
			sats = next
		}
		d := solZero
		for i := uint32(0); i < n.K; i++ {
			d = cat(d, solZero)
		}
		return satPair{d, sats[n.K]}, nil
	case MultiA:
		// The first key's signature is checked first, so it goes on top:
		// build from the last key down.
		sats := []sol{solEmpty}
		for i := len(n.Keys) - 1; i >= 0; i-- {
			s, _, err := sigSol(n.Keys[i])
			if err != nil {
				return satPair{}, err
			}
			next := []sol{cat(sats[0], solZero)}
			for j := 1; j < len(sats); j++ {
				next = append(next, choose(cat(sats[j], solZero), cat(sats[j-1], s)))
			}
			next = append(next, cat(sats[len(sats)-1], s))
			sats = next
		}
		return satPair{sats[0], sats[n.K]}, nil
	case Thresh:
		// sats[j]: best stack satisfying j of the last subexpressions;
		// X1's inputs end up on top.
		sats := []sol{solEmpty}
		for i := len(subs) - 1; i >= 0; i-- {
			r := subs[i]
			next := []sol{cat(sats[0], r.dsat)}
			for j := 1; j < len(sats); j++ {
				next = append(next, choose(cat(sats[j], r.dsat), cat(sats[j-1], r.sat)))
			}
			next = append(next, cat(sats[len(sats)-1], r.sat))
			sats = next
		}
		d := solInvalid
		for i := range sats {
			if i != 0 && i != int(n.K) {
				// Dissatisfactions with some satisfied are overcomplete.
				sats[i] = sats[i].malleable().nonCanonical()
			}
			if i != int(n.K) {
				d = choose(d, sats[i])
			}
		}
		return satPair{d, sats[n.K]}, nil
	}
	return satPair{}, fmt.Errorf("miniscript: cannot satisfy fragment %s", n.Frag)
}

// satisfierAssets are the assets of a Satisfier.
type satisfierAssets struct{ s *Satisfier }

func (a satisfierAssets) sig(_ Key, pub []byte) ([]byte, bool) {
	sig, ok := a.s.Signatures[hex.EncodeToString(pub)]
	return sig, ok && len(sig) > 0
}

func (a satisfierAssets) preimage(f Fragment, digest []byte) ([]byte, bool) {
	pre, ok := a.s.Preimages[hex.EncodeToString(digest)]
	if !ok || len(pre) != 32 || !bytes.Equal(hashFor(f, pre), digest) {
		return nil, false
	}
	return pre, true
}

func (a satisfierAssets) older(n uint32) bool { return a.s.Locks.OlderOK(n) }
func (a satisfierAssets) after(n uint32) bool { return a.s.Locks.AfterOK(n) }

// hashFor computes the digest a hash fragment checks.
func hashFor(f Fragment, pre []byte) []byte {
	switch f {
	case Sha256:
		h := sha256.Sum256(pre)
		return h[:]
	case Hash256:
		return chainhash.DoubleHashB(pre)
	case Ripemd160:
		r := ripemd160.New()
		r.Write(pre)
		return r.Sum(nil)
	case Hash160:
		return btcutil.Hash160(pre)
	}
	return nil
}

// Satisfy returns the cheapest non-malleable witness stack (bottom
// element first, without the witness script or control block) that the
// satisfier's signatures, preimages and lock state allow, following
// BIP-379's non-malleable satisfaction algorithm. Like Bitcoin Core, it
// refuses any satisfaction without a signature. The error wraps
// ErrCannotSatisfy (and says what is missing) or ErrMalleableOnly.
func (n *Node) Satisfy(s *Satisfier) ([][]byte, error) {
	r, err := n.produce(satisfierAssets{s}, s.Keys)
	if err != nil {
		return nil, err
	}
	sat := r.sat
	if !sat.avail {
		return nil, n.explainMissing(s)
	}
	if sat.mall || !sat.hasSig {
		return nil, fmt.Errorf("%w (the cheapest available witness could be altered by a third party)", ErrMalleableOnly)
	}
	return sat.stack, nil
}

// explainMissing builds the error for an unsatisfiable Satisfy call: for
// the cheapest few spending paths, what they still lack.
func (n *Node) explainMissing(s *Satisfier) error {
	paths, err := n.Paths(s.Keys, 1000)
	if err != nil || len(paths) == 0 {
		return fmt.Errorf("%w: no spending path is available", ErrCannotSatisfy)
	}
	a := satisfierAssets{s}
	msg := ""
	for i, p := range paths {
		if i == 3 {
			msg += fmt.Sprintf("; and %d more paths", len(paths)-3)
			break
		}
		var lacks []string
		for j, k := range p.Keys {
			if _, ok := a.sig(k, p.PubKeys[j]); !ok {
				lacks = append(lacks, "signature from "+k.String())
			}
		}
		for j, h := range p.Hashes {
			if _, ok := a.preimage(p.HashKinds[j], h); !ok {
				lacks = append(lacks, fmt.Sprintf("%s preimage of %x", p.HashKinds[j], h))
			}
		}
		if p.NeedsSequence && !s.Locks.OlderOK(p.Sequence) {
			lacks = append(lacks, fmt.Sprintf("nSequence meeting %s (input has 0x%08x)", describeOlder(p.Sequence), s.Locks.Sequence))
		}
		if p.NeedsLockTime && !s.Locks.AfterOK(p.LockTime) {
			lacks = append(lacks, fmt.Sprintf("nLockTime of at least %d (tx has %d)", p.LockTime, s.Locks.LockTime))
		}
		if len(lacks) == 0 {
			lacks = []string{"nothing, but its witness would be malleable"}
		}
		if i > 0 {
			msg += "; "
		}
		msg += fmt.Sprintf("path %d needs %s", i+1, joinAnd(lacks))
	}
	return fmt.Errorf("%w: %s", ErrCannotSatisfy, msg)
}

func describeOlder(n uint32) string {
	if n&seqTypeFlag != 0 {
		return fmt.Sprintf("older(%d) = %d seconds", n, (n&seqMask)*512)
	}
	return fmt.Sprintf("older(%d) = %d blocks", n, n&seqMask)
}

func joinAnd(s []string) string {
	sort.Strings(s)
	out := ""
	for i, x := range s {
		switch {
		case i == 0:
		case i == len(s)-1:
			out += " and "
		default:
			out += ", "
		}
		out += x
	}
	return out
}
