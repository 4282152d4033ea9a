package descriptor

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/countersign/countersign/descriptor/miniscript"
)

// SpendPath is one way to spend a wallet's coins, as a person reads it:
// which keys may sign (any Threshold of Keys, or one of the listed Sets)
// and which time lock must have passed. A plain multisig has one path,
// "primary"; a miniscript has one per distinct time lock, the unlocked one
// named "primary" and the locked ones "recovery", "recovery-2", ... in the
// order they open.
type SpendPath struct {
	Name string
	// Keys are positions in Descriptor.Keys of every key that can sign on
	// this path.
	Keys []int
	// Threshold is how many of Keys must sign when any Threshold of them
	// will do; 0 when only the particular Sets do.
	Threshold int
	// Sets are the key combinations (positions) that satisfy the path,
	// smallest first.
	Sets [][]int
	// Older is the relative lock (BIP-68 encoded nSequence) the path
	// needs, 0 for none; After is the absolute lock (nLockTime), 0 for
	// none.
	Older, After uint32
	// WitnessSize is the largest witness the path's cheapest key set
	// needs, in bytes (without the script).
	WitnessSize int
	// Partial says the miniscript has too many key combinations to list:
	// Sets holds only the cheapest one the path's locks allow.
	Partial bool
}

// Locked reports whether the path waits for a time lock.
func (p SpendPath) Locked() bool { return p.Older != 0 || p.After != 0 }

// OlderBlocks returns the relative lock in blocks and true, or false when
// the path has no relative lock or it counts time (512-second units).
func (p SpendPath) OlderBlocks() (uint32, bool) {
	if p.Older == 0 || p.Older&(1<<22) != 0 {
		return 0, false
	}
	return p.Older & 0xffff, true
}

// OpensAt is the first block height that can include a spend of a coin
// confirmed at height conf on this path: conf + blocks for a relative
// lock in blocks, after + 1 for an absolute height lock (a transaction
// is final in a block above its nLockTime). It returns 0 for an unlocked
// path and false for a lock counted in time, which has no fixed height.
func (p SpendPath) OpensAt(conf int32) (int32, bool) {
	open := int32(0)
	if p.Older != 0 {
		blocks, ok := p.OlderBlocks()
		if !ok || conf <= 0 {
			return 0, false
		}
		open = conf + int32(blocks)
	}
	if p.After != 0 {
		if p.After >= 500000000 {
			return 0, false
		}
		open = max(open, int32(p.After)+1)
	}
	return open, true
}

// Describe says the path in words with the given names for the keys
// (names[i] for Keys position i; a missing name prints "key N"), e.g.
// "any 2 of alice, bob, carol after 52560 blocks".
func (p SpendPath) Describe(names []string) string {
	name := func(i int) string {
		if i < len(names) && names[i] != "" {
			return names[i]
		}
		return fmt.Sprintf("key %d", i+1)
	}
	var who string
	switch {
	case p.Threshold > 0 && p.Threshold == len(p.Keys) && len(p.Keys) == 1:
		who = name(p.Keys[0])
	case p.Threshold > 0 && p.Threshold == len(p.Keys):
		parts := make([]string, len(p.Keys))
		for i, k := range p.Keys {
			parts[i] = name(k)
		}
		who = "all of " + strings.Join(parts, ", ")
	case p.Threshold > 0:
		parts := make([]string, len(p.Keys))
		for i, k := range p.Keys {
			parts[i] = name(k)
		}
		who = fmt.Sprintf("any %d of %s", p.Threshold, strings.Join(parts, ", "))
	case p.Partial && len(p.Sets) == 1:
		parts := make([]string, len(p.Sets[0]))
		for i, k := range p.Sets[0] {
			parts[i] = name(k)
		}
		noun := "signatures"
		if len(parts) == 1 {
			noun = "signature"
		}
		who = fmt.Sprintf("%d %s, such as %s (too many key combinations to list; see the descriptor)", len(parts), noun, strings.Join(parts, " + "))
	default:
		sets := make([]string, len(p.Sets))
		for i, s := range p.Sets {
			parts := make([]string, len(s))
			for j, k := range s {
				parts[j] = name(k)
			}
			sets[i] = strings.Join(parts, " + ")
		}
		who = strings.Join(sets, ", or ")
	}
	var lock []string
	if p.Older != 0 {
		if b, ok := p.OlderBlocks(); ok {
			lock = append(lock, fmt.Sprintf("%d blocks after the coin confirms (about %s)", b, aboutBlocks(b)))
		} else {
			// BIP-68: counted from the median time past of the block
			// before the coin's, judged by the tip's median time past.
			secs := uint64(p.Older&0xffff) * 512
			lock = append(lock, fmt.Sprintf("%d seconds (about %s) after the coin confirms, by the chain's median time past", secs, aboutSeconds(secs)))
		}
	}
	if p.After != 0 {
		if p.After < 500000000 {
			lock = append(lock, fmt.Sprintf("from block %d on", p.After+1))
		} else {
			// BIP-113: final once the median time past is later than T.
			lock = append(lock, fmt.Sprintf("once the chain's median time past is later than %s (unix time %d)",
				time.Unix(int64(p.After), 0).UTC().Format("2006-01-02 15:04:05 UTC"), p.After))
		}
	}
	if len(lock) == 0 {
		return who + ", at any time"
	}
	return who + ", " + strings.Join(lock, " and ")
}

// aboutBlocks turns a block count into days or years at ten minutes a block.
func aboutBlocks(b uint32) string { return aboutSeconds(uint64(b) * 600) }

func aboutSeconds(s uint64) string {
	days := float64(s) / 86400
	switch {
	case days >= 365:
		return fmt.Sprintf("%.1f years", days/365.25)
	case days >= 1 && days < 1.5:
		return "1 day"
	case days >= 1:
		return fmt.Sprintf("%.0f days", days)
	}
	return fmt.Sprintf("%.0f hours", float64(s)/3600)
}

// SpendPaths lists the ways to spend d's coins (see SpendPath). A plain
// multisig has the single primary path. Errors wrap ErrInvalid.
func (d *Descriptor) SpendPaths() ([]SpendPath, error) {
	if d == nil {
		return nil, invalid(fmt.Errorf("no descriptor"))
	}
	if d.Miniscript == nil {
		keys := make([]int, len(d.Keys))
		for i := range keys {
			keys[i] = i
		}
		return []SpendPath{{Name: "primary", Keys: keys, Threshold: d.Threshold}}, nil
	}
	paths, err := d.Miniscript.Paths(placeholderKeys(d), 0)
	if errors.Is(err, miniscript.ErrTooManyPaths) {
		return d.coarsePaths()
	}
	if err != nil {
		return nil, invalid(fmt.Errorf("listing the miniscript's spending paths: %w", err))
	}
	type lockKey struct{ older, after uint32 }
	groups := map[lockKey]*SpendPath{}
	var order []lockKey
	for _, p := range paths {
		if !p.NonMalleable {
			continue
		}
		var lk lockKey
		if p.NeedsSequence {
			lk.older = p.Sequence
		}
		if p.NeedsLockTime {
			lk.after = p.LockTime
		}
		set := make([]int, 0, len(p.Keys))
		for _, k := range p.Keys {
			set = append(set, d.KeyIndex(k))
		}
		slices.Sort(set)
		g, ok := groups[lk]
		if !ok {
			g = &SpendPath{Older: lk.older, After: lk.after, WitnessSize: p.WitnessSize}
			groups[lk] = g
			order = append(order, lk)
		}
		if !slices.ContainsFunc(g.Sets, func(s []int) bool { return slices.Equal(s, set) }) {
			g.Sets = append(g.Sets, set)
		}
		g.WitnessSize = min(g.WitnessSize, p.WitnessSize)
	}
	// Unlocked first, then by lock: relative before absolute, smaller first.
	sort.SliceStable(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if (a == lockKey{}) != (b == lockKey{}) {
			return a == lockKey{}
		}
		if a.after != b.after {
			return a.after < b.after
		}
		return a.older < b.older
	})
	out := make([]SpendPath, 0, len(order))
	n := 0
	for _, lk := range order {
		g := groups[lk]
		if lk == (lockKey{}) {
			g.Name = "primary"
		} else {
			if n++; n == 1 {
				g.Name = "recovery"
			} else {
				g.Name = fmt.Sprintf("recovery-%d", n)
			}
		}
		summarizeSets(g)
		out = append(out, *g)
	}
	return out, nil
}

// coarsePaths describes a miniscript whose key combinations are too many
// to list (a large multi() inside it): one path per time lock written in
// the script (and the unlocked one), each with the cheapest key set the
// satisfier uses once that lock has passed.
func (d *Descriptor) coarsePaths() ([]SpendPath, error) {
	type lock struct{ older, after uint32 }
	locks := []lock{{}}
	var walk func(n *miniscript.Node)
	walk = func(n *miniscript.Node) {
		switch n.Frag {
		case miniscript.Older:
			if !slices.Contains(locks, lock{older: n.K}) {
				locks = append(locks, lock{older: n.K})
			}
		case miniscript.After:
			if !slices.Contains(locks, lock{after: n.K}) {
				locks = append(locks, lock{after: n.K})
			}
		}
		for _, sub := range n.Subs {
			walk(sub)
		}
	}
	walk(d.Miniscript)
	slices.SortStableFunc(locks[1:], func(a, b lock) int {
		if a.after != b.after {
			return cmpUint32(a.after, b.after)
		}
		return cmpUint32(a.older, b.older)
	})
	var out []SpendPath
	seen := map[string]bool{}
	n := 0
	for _, l := range locks {
		st := miniscript.LockState{Sequence: 0xffffffff}
		if l.older != 0 {
			st.Sequence = l.older
		}
		if l.after != 0 {
			st.LockTime = l.after
			if l.older == 0 {
				st.Sequence = 0xfffffffe
			}
		}
		used, err := cheapestSignatures(d, st)
		if err != nil {
			continue
		}
		key := fmt.Sprint(used)
		if seen[key] {
			// The lock opens nothing cheaper than a path already listed.
			continue
		}
		seen[key] = true
		p := SpendPath{Older: l.older, After: l.after, Keys: used, Sets: [][]int{used}, Partial: true}
		if l == (lock{}) {
			p.Name = "primary"
		} else if n++; n == 1 {
			p.Name = "recovery"
		} else {
			p.Name = fmt.Sprintf("recovery-%d", n)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, invalid(errors.New("the miniscript has no spending path the satisfier can use"))
	}
	return out, nil
}

func cmpUint32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// summarizeSets fills Keys, and Threshold when the sets are exactly every
// k-subset of Keys ("any k of ...").
func summarizeSets(g *SpendPath) {
	sort.SliceStable(g.Sets, func(i, j int) bool {
		if len(g.Sets[i]) != len(g.Sets[j]) {
			return len(g.Sets[i]) < len(g.Sets[j])
		}
		return slices.Compare(g.Sets[i], g.Sets[j]) < 0
	})
	seen := map[int]bool{}
	for _, s := range g.Sets {
		for _, k := range s {
			if !seen[k] {
				seen[k] = true
				g.Keys = append(g.Keys, k)
			}
		}
	}
	slices.Sort(g.Keys)
	if len(g.Sets) == 0 {
		return
	}
	k := len(g.Sets[0])
	for _, s := range g.Sets {
		if len(s) != k {
			return
		}
	}
	if k > 0 && binomial(len(g.Keys), k) == len(g.Sets) {
		g.Threshold = k
	}
}

func binomial(n, k int) int {
	r := 1
	for i := 1; i <= k; i++ {
		r = r * (n - k + i) / i
	}
	return r
}

// FindPath returns the spending path called name ("primary", "recovery", ...).
func (d *Descriptor) FindPath(name string) (SpendPath, error) {
	paths, err := d.SpendPaths()
	if err != nil {
		return SpendPath{}, err
	}
	var names []string
	for _, p := range paths {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	return SpendPath{}, invalid(fmt.Errorf("the wallet has no spending path %q: it has %s", shorten(name), strings.Join(names, ", ")))
}
