package psbt

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// Coin selection follows Bitcoin Core's wallet: candidates are compared by
// their "waste", the extra fee the choice costs now against spending the
// same inputs later at the long-term fee rate, plus either the cost of the
// change output or, without change, the excess that goes to the fee.
// Branch-and-bound looks for a changeless selection; single random draw and
// largest-first produce selections with change; the least waste wins.

const (
	// bnbMaxTries bounds branch-and-bound's depth-first search, as Core's
	// TOTAL_TRIES does, so that a large wallet cannot stall a spend.
	bnbMaxTries = 100000
	// srdChangeTarget is the minimum change single random draw aims for
	// (Core's CHANGE_LOWER), so that its change is worth spending later.
	srdChangeTarget = 50000
	// defaultLongTermFeeRate is Core's -consolidatefeerate (10 sat/vB) in
	// sat/kvB: the rate the wallet expects to pay in the long run.
	defaultLongTermFeeRate = 10000
)

// coin is a UTXO as coin selection sees it.
type coin struct {
	utxo        int   // index into the request's UTXOs
	value       int64 // amount
	fee         int64 // fee to spend it at the requested rate
	longTermFee int64 // fee to spend it at the long-term rate
	effective   int64 // value - fee: what it adds towards the target
}

// selection is one candidate answer.
type selection struct {
	coins     []coin
	algorithm string
	effective int64 // sum of effective values
	waste     int64
	change    bool
}

// selectionParams are the amounts every algorithm works with, as Core's
// CoinSelectionParams holds them.
type selectionParams struct {
	target          int64 // outputs plus the fee of everything but the inputs
	changeFee       int64 // fee of adding the change output at the requested rate
	costOfChange    int64 // changeFee plus the fee to spend the change later
	minViableChange int64 // change below this is dropped to the fee
}

// inputWaste is the part of the waste that comes from the inputs.
func inputWaste(cs []coin) int64 {
	var w int64
	for _, c := range cs {
		w += c.fee - c.longTermFee
	}
	return w
}

// finish computes a candidate's totals, whether it gets change, and its
// waste.
func (sp selectionParams) finish(cs []coin, algorithm string) *selection {
	s := &selection{coins: cs, algorithm: algorithm}
	for _, c := range cs {
		s.effective += c.effective
	}
	excess := s.effective - sp.target
	s.change = excess-sp.changeFee >= sp.minViableChange
	if s.change {
		s.waste = inputWaste(cs) + sp.costOfChange
	} else {
		s.waste = inputWaste(cs) + excess
	}
	return s
}

// selectBnB is branch-and-bound over the coins with positive effective
// value: a depth-first search, largest coins first, for a set whose
// effective value lands in [target, target+costOfChange], so that no change
// output is needed; among those found within the try budget it keeps the
// one with the least waste. It returns nil when none is found.
func selectBnB(pool []coin, target, costOfChange int64) []coin {
	coins := make([]coin, 0, len(pool))
	var available int64
	for _, c := range pool {
		if c.effective > 0 {
			coins = append(coins, c)
			available += c.effective
		}
	}
	if available < target || len(coins) == 0 {
		return nil
	}
	slices.SortStableFunc(coins, func(a, b coin) int { return cmp.Compare(b.effective, a.effective) })

	// When the fee rate is above the long-term rate every extra input adds
	// waste, so a branch already more wasteful than the best can be cut.
	wasteRises := coins[0].fee > coins[0].longTermFee

	// decided[k] says whether coins[k] is in the current branch; coins past
	// len(decided) are undecided and counted in available.
	decided := make([]bool, 0, len(coins))
	var value, waste int64
	var best []bool
	bestWaste := int64(math.MaxInt64)

	for try := 0; try < bnbMaxTries; try++ {
		backtrack := false
		switch {
		case value+available < target, // cannot reach the target any more
			value > target+costOfChange, // overshoots: change would be cheaper
			wasteRises && waste > bestWaste:
			backtrack = true
		case value >= target:
			// A changeless solution: its waste counts the excess, which
			// goes to the fee.
			if w := waste + value - target; w <= bestWaste {
				best = slices.Clone(decided)
				bestWaste = w
			}
			backtrack = true
		case len(decided) == len(coins):
			// Unreachable with exact sums (nothing left means the first
			// case held), kept so that no arithmetic slip can index past
			// the end.
			backtrack = true
		}
		if backtrack {
			// Undo trailing exclusions, which makes those coins undecided
			// again, then turn the last inclusion into an exclusion.
			for len(decided) > 0 && !decided[len(decided)-1] {
				available += coins[len(decided)-1].effective
				decided = decided[:len(decided)-1]
			}
			if len(decided) == 0 {
				break // the whole tree has been searched
			}
			k := len(decided) - 1
			decided[k] = false
			value -= coins[k].effective
			waste -= coins[k].fee - coins[k].longTermFee
			continue
		}
		// Go deeper: include the next coin, unless the previous coin was
		// just excluded and this one is identical (the same branch again).
		k := len(decided)
		available -= coins[k].effective
		if k > 0 && !decided[k-1] && coins[k].effective == coins[k-1].effective && coins[k].fee == coins[k-1].fee {
			decided = append(decided, false)
			continue
		}
		decided = append(decided, true)
		value += coins[k].effective
		waste += coins[k].fee - coins[k].longTermFee
	}
	if best == nil {
		return nil
	}
	var out []coin
	for k, in := range best {
		if in {
			out = append(out, coins[k])
		}
	}
	return out
}

// selectSRD is single random draw: coins in random order until the target
// plus the change output's fee plus a comfortable change is reached.
func selectSRD(pool []coin, sp selectionParams, rng *rand.Rand) []coin {
	order := rng.Perm(len(pool))
	need := sp.target + sp.changeFee + srdChangeTarget
	var out []coin
	var sum int64
	for _, i := range order {
		if pool[i].effective <= 0 {
			continue
		}
		out = append(out, pool[i])
		sum += pool[i].effective
		if sum >= need {
			return out
		}
	}
	return nil
}

// selectLargestFirst takes the largest coins until the target is met; what
// is left over becomes change, or goes to the fee when it is too small.
func selectLargestFirst(pool []coin, sp selectionParams) []coin {
	coins := slices.Clone(pool)
	slices.SortStableFunc(coins, func(a, b coin) int { return cmp.Compare(b.effective, a.effective) })
	var sum int64
	for k, c := range coins {
		if c.effective <= 0 {
			break
		}
		sum += c.effective
		if sum >= sp.target {
			return coins[:k+1]
		}
	}
	return nil
}

// chooseSelection runs the algorithms over pool and returns the candidate
// with the least waste (on a tie, the one with more inputs, as Core does:
// it consolidates while fees are equal). It returns nil when the pool's
// coins cannot reach the target.
func chooseSelection(pool []coin, sp selectionParams, rng *rand.Rand) *selection {
	var cands []*selection
	if cs := selectBnB(pool, sp.target, sp.costOfChange); cs != nil {
		cands = append(cands, sp.finish(cs, "bnb"))
	}
	if cs := selectSRD(pool, sp, rng); cs != nil {
		cands = append(cands, sp.finish(cs, "srd"))
	}
	if cs := selectLargestFirst(pool, sp); cs != nil {
		cands = append(cands, sp.finish(cs, "largest-first"))
	}
	var best *selection
	for _, c := range cands {
		if best == nil || c.waste < best.waste || (c.waste == best.waste && len(c.coins) > len(best.coins)) {
			best = c
		}
	}
	return best
}
