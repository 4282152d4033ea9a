package descriptor

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/btcsuite/btcd/chaincfg"
)

// maxRange bounds one DeriveRange call so a typo in --count cannot exhaust
// memory; callers derive larger ranges in batches.
const maxRange = 1 << 20

// minChunk is the smallest share of a range worth a goroutine.
const minChunk = 64

// DeriveRange derives count consecutive indexes starting at from on one
// branch. The work is split across runtime.GOMAXPROCS workers; the parent
// nodes are derived once (and cached on the Descriptor), so each address
// costs one child derivation per key. Errors wrap ErrInvalid.
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
	batch := cache
	if count < minChunk || !hasPublicWildcard(nodes) {
		batch = nil
	}
	workers := min(runtime.GOMAXPROCS(0), int(count/minChunk))
	if workers <= 1 {
		if err := d.deriveInto(out, nodes, batch, branch, from, net); err != nil {
			return nil, err
		}
		return out, nil
	}
	errs := make([]error, workers)
	chunk := (int(count) + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range workers {
		lo := w * chunk
		hi := min(lo+chunk, int(count))
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = d.deriveInto(out[lo:hi], nodes, batch, branch, from+uint32(lo), net)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// deriveInto fills dst with consecutive indexes starting at first, in
// batches when batch (the cache holding the base table) is given.
func (d *Descriptor) deriveInto(dst []*Derived, nodes []keyNode, batch *nodeCache, branch, first uint32, net *chaincfg.Params) error {
	if batch != nil {
		return d.deriveBatch(dst, nodes, batch, branch, first, net)
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
