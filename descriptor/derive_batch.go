package descriptor

import (
	"crypto/hmac"
	"crypto/sha512"
	"fmt"
	"hash"
	"math/bits"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/countersign/countersign/internal/secp"
)

// batchRound is how many consecutive indexes are derived together: enough
// to make the shared inversion negligible, small enough to stay in cache.
const batchRound = 256

// batchState is one worker's reusable state for deriveBatch.
type batchState struct {
	cache  *nodeCache
	table  *secp.BaseTable
	ranged []int       // keys derived in the batch (unhardened wildcard)
	macs   []hash.Hash // per key: HMAC-SHA512 keyed with its chain code
	adder  secp.BatchAdder
	tweaks []btcec.ModNScalar
	bases  []*secp.Affine
	points []secp.Affine
}

func newBatchState(nodes []keyNode, cache *nodeCache) *batchState {
	b := &batchState{cache: cache, table: cache.baseTable(), macs: make([]hash.Hash, len(nodes))}
	for i := range nodes {
		if p := nodes[i].parent; p != nil {
			b.ranged = append(b.ranged, i)
			b.macs[i] = hmac.New(sha512.New, p.chainCode[:])
		}
	}
	size := batchRound * len(b.ranged)
	b.tweaks = make([]btcec.ModNScalar, 0, size)
	b.bases = make([]*secp.Affine, 0, size)
	b.points = make([]secp.Affine, size)
	return b
}

// deriveBatch fills dst with consecutive indexes starting at first. The
// children of every key with an unhardened wildcard are computed together
// with the base table; other keys (fixed, or private with a hardened
// wildcard) take the one-at-a-time path.
func (d *Descriptor) deriveBatch(dst []*Derived, nodes []keyNode, b *batchState, branch, first uint32, net *chaincfg.Params) error {
	ranged, macs := b.ranged, b.macs
	var sum [sha512.Size]byte
	for start := 0; start < len(dst); start += batchRound {
		cnt := min(batchRound, len(dst)-start)
		tweaks, bases := b.tweaks[:0], b.bases[:0]
		for _, key := range ranged {
			p := nodes[key].parent
			base := p.affine()
			for j := range cnt {
				index := first + uint32(start+j)
				il, err := p.tweak(macs[key], index, &sum)
				if err != nil {
					return childError(key, branch, index, err)
				}
				tweaks = append(tweaks, il)
				bases = append(bases, base)
			}
		}
		points := b.points[:len(tweaks)]
		b.table.MulBaseAdd(tweaks, bases, points, &b.adder)
		if !verifyRound(tweaks, bases, points) {
			// The fast path disagrees with btcec's reference arithmetic:
			// never hand out such an address; redo the round one child at
			// a time (and count it so tests notice).
			b.cache.fallbacks.Add(1)
			if err := recomputeRound(points, nodes, ranged, first+uint32(start), cnt); err != nil {
				return invalid(fmt.Errorf("deriving indexes from %d: %w", first+uint32(start), err))
			}
		}

		for j := range cnt {
			index := first + uint32(start+j)
			pubs := make([][]byte, len(nodes))
			// The batched keys of one address share one allocation, each
			// slice capped so appending to one cannot overwrite the next.
			buf := make([]byte, 33*len(ranged))
			r := 0
			for key := range nodes {
				if nodes[key].parent == nil {
					pub, err := nodes[key].pubKeyAt(index)
					if err != nil {
						return childError(key, branch, index, err)
					}
					pubs[key] = pub
					continue
				}
				pt := &points[r*cnt+j]
				if pt.Inf {
					return childError(key, branch, index, errInvalidChild)
				}
				pub := buf[33*r : 33*r+33 : 33*r+33]
				pt.PutCompressed(pub)
				pubs[key] = pub
				r++
			}
			out, err := d.assemble(nodes, pubs, branch, index, net)
			if err != nil {
				return err
			}
			dst[start+j] = out
		}
	}
	return nil
}

// verifyRound checks a round of batched children with btcec's own
// arithmetic, independently of secp.Field: the children must sum to
// (Σ IL)·G + Σ parents. One wrong child breaks the equation, and the check
// costs about one point addition per child.
func verifyRound(tweaks []btcec.ModNScalar, bases []*secp.Affine, points []secp.Affine) bool {
	var sumIL btcec.ModNScalar
	var want, sum btcec.JacobianPoint // start at infinity (Z = 0)
	for i := range points {
		sumIL.Add(&tweaks[i])
		if i == 0 || bases[i] != bases[i-1] {
			// Bases come in runs of one parent: add parent·runLength.
			run := 1
			for i+run < len(bases) && bases[i+run] == bases[i] {
				run++
			}
			b := bases[i].Jacobian()
			kb := mulSmall(run, &b)
			var next btcec.JacobianPoint
			btcec.AddNonConst(&want, &kb, &next)
			want = next
		}
		p := points[i].Jacobian()
		var next btcec.JacobianPoint
		btcec.AddNonConst(&sum, &p, &next)
		sum = next
	}
	var ilG, next btcec.JacobianPoint
	secp.MulG(&sumIL, &ilG)
	btcec.AddNonConst(&want, &ilG, &next)
	want = next
	return sameJacobian(&want, &sum)
}

// mulSmall returns k·p for a small k (a round length) by double-and-add,
// far cheaper than a full scalar multiplication.
func mulSmall(k int, p *btcec.JacobianPoint) btcec.JacobianPoint {
	var acc btcec.JacobianPoint // infinity
	for bit := bits.Len(uint(k)) - 1; bit >= 0; bit-- {
		var next btcec.JacobianPoint
		btcec.DoubleNonConst(&acc, &next)
		acc = next
		if k>>bit&1 == 1 {
			btcec.AddNonConst(&acc, p, &next)
			acc = next
		}
	}
	return acc
}

// sameJacobian compares two points given in Jacobian coordinates.
func sameJacobian(a, b *btcec.JacobianPoint) bool {
	aInf := (a.X.IsZero() && a.Y.IsZero()) || a.Z.IsZero()
	bInf := (b.X.IsZero() && b.Y.IsZero()) || b.Z.IsZero()
	if aInf || bInf {
		return aInf == bInf
	}
	a.ToAffine()
	b.ToAffine()
	return a.X.Equals(&b.X) && a.Y.Equals(&b.Y)
}

// recomputeRound redoes a round with pubNode.ckd, one child at a time.
func recomputeRound(points []secp.Affine, nodes []keyNode, ranged []int, first uint32, cnt int) error {
	for r, key := range ranged {
		for j := range cnt {
			pub, _, err := nodes[key].parent.ckd(first + uint32(j))
			pt := &points[r*cnt+j]
			if err != nil {
				*pt = secp.Affine{Inf: true}
				continue
			}
			pk, err := btcec.ParsePubKey(pub[:])
			if err != nil {
				return err
			}
			var jp btcec.JacobianPoint
			pk.AsJacobian(&jp)
			pt.X.SetFieldVal(&jp.X)
			pt.Y.SetFieldVal(&jp.Y)
			pt.Inf = false
		}
	}
	return nil
}
