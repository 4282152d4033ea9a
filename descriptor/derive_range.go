package descriptor

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/btcsuite/btcd/chaincfg"
)

// maxRange bounds one DeriveRange call so a typo in --count cannot exhaust
// memory; callers derive larger ranges in batches.
const maxRange = 1 << 20

// minChunk is the smallest share of a range worth a goroutine.
const minChunk = 64

// rangeChunk is how many indexes a worker takes at a time: one batch round.
const rangeChunk = batchRound

// DeriveRange derives count consecutive indexes starting at from on one
// branch, with the same results as calling Derive for each. The parent
// nodes are derived once (and cached on the Descriptor); from minChunk
// addresses on, children are computed in batches (batch.go, each batch
// verified with btcec) by runtime.GOMAXPROCS workers. At most maxRange
// addresses per call. Errors wrap ErrInvalid; on failure the error is the
// one at the lowest index.
func (d *Descriptor) DeriveRange(branch, from, count uint32, net *chaincfg.Params) ([]*Derived, error) {
	nodes, cache, err := d.prepare(branch, net)
	if err != nil {
		return nil, err
	}
	if count > maxRange {
		return nil, invalid(fmt.Errorf("count %d is more than %d addresses in one call: derive in batches", count, maxRange))
	}
	if count == 0 {
		return []*Derived{}, nil
	}
	last := uint64(from) + uint64(count) - 1
	if (d.IsRange() && last >= uint64(HardenedKeyStart)) || last > uint64(^uint32(0)) {
		return nil, invalid(fmt.Errorf("indexes %d to %d are out of range: address indexes go from 0 to 2147483647", from, last))
	}

	out := make([]*Derived, count)
	// Batched derivation pays off from a few dozen addresses on.
	useBatch := count >= minChunk && hasPublicWildcard(nodes)
	state := func() *batchState {
		if !useBatch {
			return nil
		}
		return newBatchState(nodes, cache)
	}
	workers := min(runtime.GOMAXPROCS(0), int(count/minChunk))
	if workers <= 1 {
		if err := d.deriveInto(out, nodes, state(), branch, from, net); err != nil {
			return nil, err
		}
		return out, nil
	}
	// Workers take chunks from a shared counter rather than fixed halves:
	// on a shared machine one core is often slower, and a fixed split
	// would leave the other idle at the end.
	var next atomic.Int64
	var failed atomic.Bool
	type failure struct {
		lo  int
		err error
	}
	fails := make([]failure, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := state()
			for !failed.Load() {
				lo := int(next.Add(rangeChunk) - rangeChunk)
				if lo >= int(count) {
					return
				}
				hi := min(lo+rangeChunk, int(count))
				if err := d.deriveInto(out[lo:hi], nodes, b, branch, from+uint32(lo), net); err != nil {
					fails[w] = failure{lo, err}
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	// Report the failure at the lowest index, as a sequential run would.
	var first *failure
	for i := range fails {
		if f := &fails[i]; f.err != nil && (first == nil || f.lo < first.lo) {
			first = f
		}
	}
	if first != nil {
		return nil, first.err
	}
	return out, nil
}

// deriveInto fills dst with consecutive indexes starting at first, in
// batches when a batch state is given.
func (d *Descriptor) deriveInto(dst []*Derived, nodes []keyNode, b *batchState, branch, first uint32, net *chaincfg.Params) error {
	if b != nil {
		return d.deriveBatch(dst, nodes, b, branch, first, net)
	}
	for i := range dst {
		r, err := d.deriveAt(nodes, branch, first+uint32(i), net)
		if err != nil {
			return err
		}
		dst[i] = r
	}
	return nil
}

func hasPublicWildcard(nodes []keyNode) bool {
	for i := range nodes {
		if nodes[i].parent != nil {
			return true
		}
	}
	return false
}
