package coordinator

import (
	"context"

	"fmt"
	"strings"
	"time"

	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/chain"
	"github.com/countersign/countersign/psbt"
)

// Time locks counted in seconds, judged as Bitcoin Core's consensus code
// judges them (src/consensus/tx_verify.cpp, IsFinalTx,
// CalculateSequenceLocks and EvaluateSequenceLocks; BIP-65, BIP-68,
// BIP-113). The "now" of every rule is the median time past (MTP) of the
// block a spend would follow, the tip, never a clock:
//
//   - after(T), T >= 500000000: the spend's nLockTime is T (CLTV asks for
//     nLockTime >= T of the same kind), and a transaction is final in the
//     next block when nLockTime < MTP(tip). So the path opens when
//     MTP(tip) > T.
//   - older(N) with the type flag (1<<22): N & 0xffff units of 512
//     seconds, counted from the MTP of the block before the one that
//     confirmed the coin (height h-1; BIP-68). Core locks the input until
//     coinTime + units*512 - 1 and lets a block include it when that is
//     below MTP(tip), so the path opens when MTP(tip) >= coinTime +
//     units*512. An unconfirmed coin is locked.

// The BIP-65/68 numbers are btcd's: txscript.LockTimeThreshold (nLockTime
// and after() values from there on are Unix times), wire's
// SequenceLockTimeDisabled, ...IsSeconds, ...Mask and ...Granularity (a
// time-based relative lock counts 2^9 = 512 s units).
const (
	lockTimeThreshold = txscript.LockTimeThreshold
	seqDisable        = wire.SequenceLockTimeDisabled
	seqTypeFlag       = wire.SequenceLockTimeIsSeconds
	seqMask           = wire.SequenceLockTimeMask
	seqGranularity    = wire.SequenceLockTimeGranularity
	// maxTimeUnits is the longest relative time lock: 65535 units of 512
	// seconds, about 388 days.
	maxTimeUnits = seqMask
)

// afterTimeOpen says whether a block after a tip whose median time past is
// now can include a spend with nLockTime t (a time): BIP-113 finality,
// nLockTime < MTP.
func afterTimeOpen(t uint32, now time.Time) bool { return now.Unix() > int64(t) }

// olderSeconds is the length of a time-based relative lock.
func olderSeconds(seq uint32) int64 { return int64(seq&seqMask) << seqGranularity }

// chainClock reads the median times past the time locks are judged by
// from the wallet's backend, opened on first use, each height once.
type chainClock struct {
	open    func(context.Context) (chain.Backend, error)
	b       chain.Backend
	openErr error // the first failure, returned from then on
	mtp     map[int32]time.Time
}

// clock is the chainClock of w's backend.
func (c *Coordinator) clock(w *Wallet) *chainClock {
	return &chainClock{open: func(ctx context.Context) (chain.Backend, error) { return c.Backend(ctx, w) }}
}

// at is the median time past of the main-chain block at height.
func (k *chainClock) at(ctx context.Context, height int32) (time.Time, error) {
	if t, ok := k.mtp[height]; ok {
		return t, nil
	}
	if k.openErr != nil {
		return time.Time{}, k.openErr
	}
	if k.b == nil {
		b, err := k.open(ctx)
		if err != nil {
			// Kept: wallet show asks once per coin.
			k.openErr = fmt.Errorf("a lock counted in time is judged by the chain's median time past, which needs a backend: %w", err)
			return time.Time{}, k.openErr
		}
		k.b = b
	}
	t, err := chain.MedianTimePast(ctx, k.b, height)
	if err != nil {
		// Kept too: a backend that is down (retried already) or serves
		// no headers answers the next height no better.
		k.openErr = err
		return time.Time{}, err
	}
	if k.mtp == nil {
		k.mtp = map[int32]time.Time{}
	}
	k.mtp[height] = t
	return t, nil
}

// olderOpens is the median time past (Unix seconds) the tip must reach for
// the next block to include a spend, with the time-based nSequence seq, of
// a coin confirmed at height h (> 0).
func (k *chainClock) olderOpens(ctx context.Context, h int32, seq uint32) (int64, error) {
	base, err := k.at(ctx, max(h-1, 0))
	if err != nil {
		return 0, err
	}
	return base.Unix() + olderSeconds(seq), nil
}

// utc formats a Unix time for messages.
func utc(unix int64) string { return time.Unix(unix, 0).UTC().Format("2006-01-02 15:04:05 UTC") }

// untilText says a duration in seconds in its largest unit and the next
// one that is not zero, rounded down: "3 days 4 hours", "1 day 2
// minutes", "12 minutes 5 seconds".
func untilText(secs int64) string {
	if secs <= 0 {
		return "0 seconds"
	}
	units := []struct {
		n    int64
		name string
	}{{86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"}}
	var parts []string
	for i, u := range units {
		v := secs / u.n
		if v == 0 {
			continue
		}
		parts = append(parts, plural(v, u.name))
		rest := secs - v*u.n
		for _, next := range units[i+1:] {
			if w := rest / next.n; w > 0 {
				parts = append(parts, plural(w, next.name))
				break
			}
		}
		break
	}
	return strings.Join(parts, " ")
}

func plural(v int64, name string) string {
	if v != 1 {
		name += "s"
	}
	return fmt.Sprintf("%d %s", v, name)
}

// timeLockOpened returns a test of whether a stored coin of w, spent with
// the time-based nSequence seq, opens for the next block: confirmed, and
// the tip's median time past at least the coin's opening.
func (c *Coordinator) timeLockOpened(ctx context.Context, w *Wallet, seq uint32) (func(psbt.UTXO) (bool, error), error) {
	b, err := c.Backend(ctx, w)
	if err != nil {
		return nil, fmt.Errorf("a lock counted in time is judged by the chain's median time past, which needs a backend: %w", err)
	}
	tip, _, err := b.Tip(ctx)
	if err != nil {
		return nil, err
	}
	clock := &chainClock{b: b}
	now, err := clock.at(ctx, tip)
	if err != nil {
		return nil, err
	}
	heights, err := c.coinHeights(ctx, w.Name)
	if err != nil {
		return nil, err
	}
	return func(u psbt.UTXO) (bool, error) {
		h := heights[u.OutPoint]
		if h <= 0 {
			return false, nil
		}
		opens, err := clock.olderOpens(ctx, h, seq)
		return err == nil && now.Unix() >= opens, err
	}, nil
}
