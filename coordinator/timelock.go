package coordinator

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// Wallets with a time-locked path (issue 18): the primary m-of-n, OR after
// a time lock either k of some named cosigners (--recovery, an
// inheritance plan) or a lower threshold of the same cosigners (--decay).
// Both are built as wsh(MINISCRIPT) descriptors:
//
//	recovery: or_d(multi(m,P1,...,Pn),and_v(v:R,LOCK))
//	          R = pkh(K) for one key, multi(k,K1,...) for several
//	decay to m-1:  thresh(m,pk(P1),s:pk(P2),...,s:pk(Pn),sln:LOCK)
//	decay lower:   or_d(multi(m,P1,...,Pn),and_v(v:multi(t,P1',...,Pn'),LOCK))
//
// LOCK is older(N) for "after N blocks" (BIP-68 relative, counted from
// each coin's confirmation), older(4194304 + U) for "after N days" (BIP-68
// relative counted in time: the type flag 1<<22 and U = ceil(N days / 512
// s) units, at most 65535, about 388 days) or after(H) for "at block H"
// (BIP-65 absolute). A primary cosigner who also signs on the locked path does so
// with another key of the same account, /<2;3>/* instead of /<0;1>/*, as
// Liana does: a miniscript may use each key once, and one account keeps
// one device and one backup per person.

// TimeLock is the lock of a template: Blocks after each coin confirms
// (relative), TimeUnits of 512 seconds after each coin confirms (relative,
// counted in time), or from block Height on (absolute).
type TimeLock struct {
	Blocks    uint32 // older(Blocks), 1..65535
	TimeUnits uint32 // older(1<<22 | TimeUnits), 1..65535 (BIP-68 time)
	Height    uint32 // after(Height), 1..499999999
}

// miniscript is the lock fragment.
func (l TimeLock) miniscript() string {
	switch {
	case l.Blocks != 0:
		return fmt.Sprintf("older(%d)", l.Blocks)
	case l.TimeUnits != 0:
		return fmt.Sprintf("older(%d)", seqTypeFlag|l.TimeUnits)
	}
	return fmt.Sprintf("after(%d)", l.Height)
}

// Template is a parsed --recovery or --decay clause.
type Template struct {
	Lock TimeLock
	// Threshold is k of Names for --recovery, the lowered threshold for
	// --decay.
	Threshold int
	// Names are the cosigners' labels that sign on the recovery path
	// (--recovery only).
	Names []string
}

// ParseRecovery reads "after N blocks: K of NAME,NAME,..." (or "after N
// days: ..." or "at block H: ..."): after the lock, K of the named
// cosigners can spend.
func ParseRecovery(s string) (Template, error) {
	t, rest, err := parseLockClause(s, "--recovery", `"after 52560 blocks: 1 of lawyer,alice"`)
	if err != nil {
		return Template{}, err
	}
	k, names, ok := strings.Cut(rest, " of ")
	if !ok {
		return Template{}, badTemplate("--recovery", "after the colon write K of NAME,NAME (e.g. 1 of lawyer,alice), not %q", clip(rest))
	}
	if t.Threshold, err = templateNumber(strings.TrimSpace(k), "--recovery", "signatures"); err != nil {
		return Template{}, err
	}
	seen := map[string]bool{}
	for _, n := range strings.Split(names, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			return Template{}, badTemplate("--recovery", "an empty cosigner name in %q", clip(names))
		}
		if seen[n] {
			return Template{}, badTemplate("--recovery", "cosigner %q is named twice", clip(n))
		}
		seen[n] = true
		t.Names = append(t.Names, n)
	}
	if t.Threshold > len(t.Names) {
		return Template{}, badTemplate("--recovery", "%d of %d names could never sign", t.Threshold, len(t.Names))
	}
	if len(t.Names) > 20 {
		return Template{}, badTemplate("--recovery", "%d names: at most 20 cosigners can sign on one path", len(t.Names))
	}
	return t, nil
}

// ParseDecay reads "after N blocks: threshold T" (or "after N days: ..."
// or "at block H: ..."): after the lock, T of the wallet's cosigners can
// spend.
func ParseDecay(s string) (Template, error) {
	t, rest, err := parseLockClause(s, "--decay", `"after 52560 blocks: threshold 2"`)
	if err != nil {
		return Template{}, err
	}
	num, ok := strings.CutPrefix(rest, "threshold ")
	if !ok {
		return Template{}, badTemplate("--decay", "after the colon write threshold T (e.g. threshold 2), not %q", clip(rest))
	}
	if t.Threshold, err = templateNumber(strings.TrimSpace(num), "--decay", "threshold"); err != nil {
		return Template{}, err
	}
	return t, nil
}

// parseLockClause reads the "after N blocks:", "after N days:" or "at
// block H:" head.
func parseLockClause(s, flag, example string) (Template, string, error) {
	head, rest, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return Template{}, "", badTemplate(flag, "write the lock, a colon, then who signs, e.g. %s", example)
	}
	fields := strings.Fields(strings.ToLower(head))
	var t Template
	switch {
	case len(fields) == 3 && fields[0] == "after" && (fields[2] == "blocks" || fields[2] == "block"):
		v, err := strconv.ParseUint(fields[1], 10, 32)
		if err != nil || v < 1 || v > 65535 {
			return Template{}, "", badTemplate(flag, "%q blocks: a relative lock is 1 to 65535 blocks (about 15 months at most)", clip(fields[1]))
		}
		t.Lock.Blocks = uint32(v)
	case len(fields) == 3 && fields[0] == "at" && fields[1] == "block":
		v, err := strconv.ParseUint(fields[2], 10, 32)
		if err != nil || v < 1 || v >= 500000000 {
			return Template{}, "", badTemplate(flag, "block %q: an absolute lock is a block height from 1 to 499999999", clip(fields[2]))
		}
		t.Lock.Height = uint32(v)
	case len(fields) == 3 && fields[0] == "after" && (fields[2] == "days" || fields[2] == "day"):
		// BIP-68 counts time in 512-second units; the lock is rounded up
		// so that it never opens before the days said.
		v, err := strconv.ParseUint(fields[1], 10, 32)
		if err != nil || v < 1 || (v*86400+511)/512 > maxTimeUnits {
			return Template{}, "", badTemplate(flag, "%q days: a relative lock counted in time is 1 to 388 days (65535 units of 512 seconds); for longer, write \"after N blocks\" (up to 65535, about 15 months) or \"at block H\"", clip(fields[1]))
		}
		t.Lock.TimeUnits = uint32((v*86400 + 511) / 512)
	default:
		return Template{}, "", badTemplate(flag, "the lock %q is not \"after N blocks\", \"after N days\" or \"at block H\"", clip(head))
	}
	return t, strings.Join(strings.Fields(rest), " "), nil
}

func templateNumber(s, flag, what string) (int, error) {
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || v > 20 {
		return 0, badTemplate(flag, "%s %q is not a number from 1 to 20", what, clip(s))
	}
	return v, nil
}

func badTemplate(flag, format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", descriptor.ErrInvalid, flag, fmt.Sprintf(format, a...))
}

// clip keeps user text in errors brief.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// timelockedDescriptor builds the miniscript wallet of a CreateRequest with
// Recovery or Decay, returning it and one label per descriptor key.
func timelockedDescriptor(req CreateRequest) (*descriptor.Descriptor, []string, error) {
	if req.Recovery != nil && req.Decay != nil {
		return nil, nil, badTemplate("--recovery", "give --recovery or --decay, not both")
	}
	if req.Script != descriptor.ScriptWsh {
		return nil, nil, badTemplate("--script", "time-locked paths need native segwit (wsh); %s cannot hold a miniscript", req.Script)
	}
	m, n := req.Threshold, len(req.Cosigners)
	if n == 0 {
		return nil, nil, badTemplate("--cosigner", "the primary path needs cosigners")
	}
	if m < 1 || m > n {
		return nil, nil, badTemplate("--threshold", "%d of %d cosigners", m, n)
	}
	var labels []string
	primary := make([]string, n)
	for i, c := range req.Cosigners {
		primary[i] = c.Key.String()
		labels = append(labels, c.Label)
	}
	multi := fmt.Sprintf("multi(%d,%s)", m, strings.Join(primary, ","))
	lock := ""
	var ms string
	switch {
	case req.Recovery != nil:
		t := req.Recovery
		lock = t.Lock.miniscript()
		var rkeys []string
		for _, name := range t.Names {
			expr, label, err := recoveryKey(name, req)
			if err != nil {
				return nil, nil, err
			}
			rkeys = append(rkeys, expr)
			labels = append(labels, label)
		}
		r := fmt.Sprintf("multi(%d,%s)", t.Threshold, strings.Join(rkeys, ","))
		if len(rkeys) == 1 {
			r = "pkh(" + rkeys[0] + ")"
		}
		ms = fmt.Sprintf("or_d(%s,and_v(v:%s,%s))", multi, r, lock)
	case req.Decay != nil:
		t := req.Decay
		if len(req.RecoveryCosigners) > 0 {
			return nil, nil, badTemplate("--recovery-cosigner", "--decay lowers the threshold of the wallet's own cosigners; recovery cosigners need --recovery")
		}
		if t.Threshold >= m {
			return nil, nil, badTemplate("--decay", "threshold %d is not below the wallet's %d: a decaying multisig needs fewer signatures after the lock", t.Threshold, m)
		}
		lock = t.Lock.miniscript()
		if t.Threshold == m-1 {
			parts := []string{"pk(" + primary[0] + ")"}
			for _, p := range primary[1:] {
				parts = append(parts, "s:pk("+p+")")
			}
			ms = fmt.Sprintf("thresh(%d,%s,sln:%s)", m, strings.Join(parts, ","), lock)
		} else {
			alt := make([]string, n)
			for i, c := range req.Cosigners {
				k, err := recoveryAlias(c)
				if err != nil {
					return nil, nil, err
				}
				alt[i] = k
				labels = append(labels, c.Label)
			}
			ms = fmt.Sprintf("or_d(%s,and_v(v:multi(%d,%s),%s))", multi, t.Threshold, strings.Join(alt, ","), lock)
		}
	default:
		return nil, nil, badTemplate("--recovery", "no time-locked path given")
	}
	d, err := descriptor.Parse("wsh(" + ms + ")")
	if err != nil {
		return nil, nil, err
	}
	if len(d.Keys) != len(labels) {
		return nil, nil, fmt.Errorf("%w: built %d keys for %d labels", descriptor.ErrInvalid, len(d.Keys), len(labels))
	}
	return d, labels, nil
}

// recoveryKey resolves a --recovery name: a recovery cosigner's key as
// given, or a primary cosigner's recovery alias (/<2;3>/*).
func recoveryKey(name string, req CreateRequest) (expr, label string, err error) {
	for _, c := range req.RecoveryCosigners {
		if c.Label == name {
			return c.Key.String(), c.Label, nil
		}
	}
	for _, c := range req.Cosigners {
		if c.Label == name {
			k, err := recoveryAlias(c)
			return k, c.Label, err
		}
	}
	var known []string
	for _, c := range slices.Concat(req.Cosigners, req.RecoveryCosigners) {
		if c.Label != "" {
			known = append(known, c.Label)
		}
	}
	return "", "", badTemplate("--recovery", "no cosigner is labelled %q (labelled: %s); label keys as NAME=KEY in --cosigner or --recovery-cosigner", clip(name), strings.Join(known, ", "))
}

// recoveryAlias is a primary cosigner's key for a locked path: the same
// account with /<2;3>/* in place of /<0;1>/*.
func recoveryAlias(c Cosigner) (string, error) {
	k := c.Key
	n := len(k.Path)
	if k.XPub == nil || !k.Wildcard || k.HardenedWildcard || n != 1 || k.Path[0].Multi == nil || !slices.Equal(k.Path[0].Multi, []uint32{0, 1}) {
		return "", badTemplate("--recovery", "cosigner %q signs on both paths, so its key must end in /<0;1>/* to get a second key at /<2;3>/*", clip(c.Label))
	}
	k.Path = []descriptor.PathElem{{Multi: []uint32{2, 3}}}
	return k.String(), nil
}

// PathSummary is one spending path of a wallet, in words, with when its
// time lock opens for each of the wallet's coins.
type PathSummary struct {
	descriptor.SpendPath
	Description string
	// Coins lists, for a locked path, each unspent coin as of the last
	// sync with the first block that can include a spend of it on this
	// path. Empty for the primary path.
	Coins []CoinLock
}

// CoinLock is one coin's opening on a locked path.
type CoinLock struct {
	OutPoint wire.OutPoint
	Value    int64
	Height   int32 // confirmation height; 0 while unconfirmed
	// OpensAt is the first block that can include a spend of the coin on
	// the path; 0 when it cannot be known yet (unconfirmed coin) or the
	// lock counts time, not blocks.
	OpensAt int32
	// Open says the next block (the last synced height + 1) can include
	// the spend.
	Open bool
	// Around estimates when a lock not yet open opens: the last sync's
	// time plus ten minutes a block. Zero when open or unknown, and for
	// a lock counted in time (see OpensTime).
	Around time.Time
	// OpensTime, for a lock counted in time, is the median time past
	// (BIP-113) the tip must reach for the next block to include the
	// spend: T+1 for after(T), the median time past of the block before
	// the coin's plus the lock for older(). Zero for block locks, and
	// while unknown (unconfirmed coin, or no backend to read the
	// chain's median times from: TimeUnknown says why).
	OpensTime time.Time
	// TimeUnknown says why a time lock's opening or state is unknown.
	TimeUnknown string
}

// timeLocked reports whether p has a lock counted in time.
func timeLocked(p descriptor.SpendPath) bool {
	return p.After >= lockTimeThreshold || (p.Older != 0 && p.Older&seqTypeFlag != 0)
}

// opensTime is when a coin confirmed at height (0: unconfirmed) opens on
// p's time lock, as the median time past (Unix seconds) the tip must
// reach; ok false when it cannot be known yet (unconfirmed coin).
func opensTime(ctx context.Context, clock *chainClock, p descriptor.SpendPath, height int32) (int64, bool, error) {
	var opens int64
	if p.After >= lockTimeThreshold {
		opens = int64(p.After) + 1
	}
	if p.Older != 0 && p.Older&seqTypeFlag != 0 {
		if height <= 0 {
			return 0, false, nil
		}
		o, err := clock.olderOpens(ctx, height, p.Older)
		if err != nil {
			return 0, false, err
		}
		opens = max(opens, o)
	}
	return opens, true, nil
}

// keyNames names each descriptor key for descriptions: its label, else its
// master fingerprint, else "key N".
func keyNames(w *Wallet) []string {
	names := make([]string, len(w.Descriptor.Keys))
	for i, k := range w.Descriptor.Keys {
		switch {
		case i < len(w.Labels) && w.Labels[i] != "":
			names[i] = w.Labels[i]
		case k.Origin != nil:
			names[i] = hex.EncodeToString(k.Origin.Fingerprint[:])
		}
	}
	return names
}

// pathSummaries explains w's spending paths with the coins' opening heights
// (and, for locks counted in time, dates read through clock) on the
// locked ones, as of the last sync at tip.
func pathSummaries(ctx context.Context, clock *chainClock, w *Wallet, coins []wallet.UTXO, tip int32, syncedAt time.Time) ([]PathSummary, error) {
	paths, err := w.Descriptor.SpendPaths()
	if err != nil {
		return nil, err
	}
	names := keyNames(w)
	out := make([]PathSummary, len(paths))
	for i, p := range paths {
		out[i] = PathSummary{SpendPath: p, Description: p.Describe(names)}
		if !p.Locked() {
			continue
		}
		for _, u := range coins {
			cl := CoinLock{OutPoint: u.OutPoint, Value: u.Value, Height: u.Height}
			if timeLocked(p) {
				switch err := coinTimeLock(ctx, clock, p, &cl, tip); {
				case err != nil:
					cl.TimeUnknown = err.Error()
				case cl.OpensTime.IsZero():
					cl.TimeUnknown = "the coin is unconfirmed"
				}
				out[i].Coins = append(out[i].Coins, cl)
				continue
			}
			if u.Height > 0 || p.Older == 0 {
				if h, ok := p.OpensAt(u.Height); ok {
					cl.OpensAt = h
					cl.Open = tip > 0 && tip+1 >= h
					if !cl.Open && tip > 0 && !syncedAt.IsZero() {
						cl.Around = syncedAt.Add(time.Duration(h-tip-1) * 10 * time.Minute)
					}
				}
			}
			out[i].Coins = append(out[i].Coins, cl)
		}
	}
	return out, nil
}

// coinTimeLock fills cl's opening on p's time lock and whether it is
// open at tip (a path that also has a block lock is open when both are).
// An unconfirmed coin leaves OpensTime zero; an error says why the date
// or state cannot be known.
func coinTimeLock(ctx context.Context, clock *chainClock, p descriptor.SpendPath, cl *CoinLock, tip int32) error {
	opens, ok, err := opensTime(ctx, clock, p, cl.Height)
	if err != nil || !ok {
		return err
	}
	cl.OpensTime = time.Unix(opens, 0).UTC()
	blocksOpen := true
	if p.After != 0 && p.After < lockTimeThreshold {
		cl.OpensAt = int32(p.After) + 1
		blocksOpen = tip+1 >= cl.OpensAt
	}
	if b, ok := p.OlderBlocks(); ok && cl.Height > 0 {
		cl.OpensAt = max(cl.OpensAt, cl.Height+int32(b))
		blocksOpen = tip+1 >= cl.OpensAt
	}
	if tip <= 0 {
		return errors.New("the wallet was never synced")
	}
	now, err := clock.at(ctx, tip)
	if err != nil {
		return err
	}
	cl.Open = blocksOpen && now.Unix() >= opens
	return nil
}

// ListPolicy is the policy column of a stored wallet without parsing its
// descriptor: "M of N", or "miniscript" for a wallet with time-locked
// paths (whose N counts each recovery key).
func ListPolicy(w *wallet.Wallet) string {
	if strings.HasPrefix(w.Descriptor, "wsh(") && !strings.HasPrefix(w.Descriptor, "wsh(multi(") && !strings.HasPrefix(w.Descriptor, "wsh(sortedmulti(") {
		return "miniscript"
	}
	return fmt.Sprintf("%d of %d", w.Threshold, w.N)
}

// RuleTimelock names the refusal of a spend on a time-locked path whose
// lock has not opened yet (exit 4, with the opening height).
const RuleTimelock = "timelock"

func timelockRefusal(format string, a ...any) error {
	return &psbt.GateError{Rule: RuleTimelock, Err: fmt.Errorf(format, a...)}
}

// pathSpend is what a spending path asks of a new transaction.
type pathSpend struct {
	coins    []psbt.UTXO
	sequence uint32 // 0: the default (RBF) sequence
	lockTime uint32
}

// applyPath restricts a spend to the path called name ("" or "primary":
// the unlocked path, no restriction): for a relative lock, only coins whose
// lock has opened by the next block (tip+1), with nSequence set to the
// lock; for an absolute lock, nLockTime at least the lock, which the next
// block must allow. A path still locked is refused (*psbt.GateError, exit
// 4) with the height, or for a lock counted in time the date, at which it
// opens. preselected coins (coin control) must all be open.
//
// Locks counted in time are judged as consensus judges them, by the median
// time past of the chain (BIP-113), read from the wallet's backend: none
// configured, or one that serves no headers, refuses the path. A refusal
// says how long from now: the opening minus the tip's median time past,
// which follows the clock (about an hour behind it), so the two waits are
// about the same.
func (c *Coordinator) applyPath(ctx context.Context, w *Wallet, name string, coins []psbt.UTXO, preselected []wire.OutPoint, tip int32) (*pathSpend, error) {
	out := &pathSpend{coins: coins, lockTime: uint32(max(tip, 0))}
	if name == "" || name == "primary" {
		return out, nil
	}
	if !w.Descriptor.IsMiniscript() {
		return nil, fmt.Errorf("%w: wallet %q is a plain multisig: its only spending path is primary", descriptor.ErrInvalid, w.Name)
	}
	p, err := w.Descriptor.FindPath(name)
	if err != nil {
		return nil, err
	}
	if !p.Locked() {
		return out, nil
	}
	clock := c.clock(w)
	next := tip + 1
	if p.After != 0 {
		if p.After >= lockTimeThreshold {
			now, err := clock.at(ctx, tip)
			if err != nil {
				return nil, fmt.Errorf("the %s path of wallet %q opens at a time: %w", name, w.Name, err)
			}
			if !afterTimeOpen(p.After, now) {
				return nil, timelockRefusal("the %s path of wallet %q is still locked: it opens at %s, about %s from now (the chain's median time past, by which time locks are judged, is %s at tip %d); a block can include the spend once the median time past is later than that",
					name, w.Name, utc(int64(p.After)), untilText(int64(p.After)+1-now.Unix()), utc(now.Unix()), tip)
			}
			// nLockTime T itself: final once the median time past is
			// above T (BIP-113), and what CHECKLOCKTIMEVERIFY asks for.
			out.lockTime = p.After
		} else {
			opens, _ := p.OpensAt(0)
			if next < opens {
				return nil, timelockRefusal("the %s path of wallet %q is still locked: it opens at block %d, %d blocks after the tip at %d", name, w.Name, opens, opens-next, tip)
			}
			out.lockTime = uint32(max(tip, int32(p.After)))
		}
	}
	if p.Older == 0 {
		return out, nil
	}
	out.sequence = p.Older
	heights, err := c.coinHeights(ctx, w.Name)
	if err != nil {
		return nil, err
	}
	blocks, inBlocks := p.OlderBlocks()
	var now time.Time
	if !inBlocks {
		if now, err = clock.at(ctx, tip); err != nil {
			return nil, fmt.Errorf("the %s path of wallet %q counts time: %w", name, w.Name, err)
		}
	}
	var open []psbt.UTXO
	earliest := int32(0)
	var earliestTime int64
	for _, u := range coins {
		h := heights[u.OutPoint]
		if !inBlocks {
			var opens int64
			if h > 0 {
				if opens, err = clock.olderOpens(ctx, h, p.Older); err != nil {
					return nil, err
				}
				if now.Unix() >= opens {
					open = append(open, u)
					continue
				}
			}
			if slices.Contains(preselected, u.OutPoint) {
				if h == 0 {
					return nil, timelockRefusal("coin %s is unconfirmed: the %s path opens %s after the median time past of the block before the one that confirms it", u.OutPoint, name, untilText(olderSeconds(p.Older)))
				}
				return nil, timelockRefusal("coin %s is still locked on the %s path: it opens at %s, about %s from now (the chain's median time past, by which time locks are judged, is %s at tip %d)", u.OutPoint, name, utc(opens), untilText(opens-now.Unix()), utc(now.Unix()), tip)
			}
			if h > 0 && (earliestTime == 0 || opens < earliestTime) {
				earliestTime = opens
			}
			continue
		}
		opens := int32(0)
		if h > 0 {
			opens = h + int32(blocks)
		}
		if h > 0 && next >= opens {
			open = append(open, u)
			continue
		}
		if slices.Contains(preselected, u.OutPoint) {
			if h == 0 {
				return nil, timelockRefusal("coin %s is unconfirmed: the %s path opens %d blocks after it confirms", u.OutPoint, name, blocks)
			}
			return nil, timelockRefusal("coin %s is still locked on the %s path: it opens at block %d, %d blocks after the tip at %d", u.OutPoint, name, opens, opens-next, tip)
		}
		if h > 0 && (earliest == 0 || opens < earliest) {
			earliest = opens
		}
	}
	if len(open) == 0 {
		switch {
		case !inBlocks && earliestTime == 0:
			return nil, timelockRefusal("the %s path of wallet %q is still locked: no coin is confirmed, and each opens %s after it confirms", name, w.Name, untilText(olderSeconds(p.Older)))
		case !inBlocks:
			return nil, timelockRefusal("the %s path of wallet %q is still locked for every coin: the first opens at %s, about %s from now (the chain's median time past, by which time locks are judged, is %s at tip %d)", name, w.Name, utc(earliestTime), untilText(earliestTime-now.Unix()), utc(now.Unix()), tip)
		case earliest == 0:
			return nil, timelockRefusal("the %s path of wallet %q is still locked: no coin is confirmed, and each opens %d blocks after it confirms", name, w.Name, blocks)
		}
		return nil, timelockRefusal("the %s path of wallet %q is still locked for every coin: the first opens at block %d, %d blocks after the tip at %d", name, w.Name, earliest, earliest-next, tip)
	}
	out.coins = open
	return out, nil
}

// coinHeights maps each stored coin to its confirmation height (0 while
// unconfirmed).
func (c *Coordinator) coinHeights(ctx context.Context, name string) (map[wire.OutPoint]int32, error) {
	us, err := c.Store.UTXOs(ctx, name)
	if err != nil {
		return nil, err
	}
	m := make(map[wire.OutPoint]int32, len(us))
	for _, u := range us {
		m[u.OutPoint] = u.Height
	}
	return m, nil
}

// DefaultWarnBlocks is how close to a recovery path's opening a coin must
// come for wallet status to warn: about 30 days of blocks.
const DefaultWarnBlocks = 4320

// LockStatus is one coin of a miniscript wallet with the first locked path
// that opens for it.
type LockStatus struct {
	OutPoint wire.OutPoint
	Value    int64
	Height   int32  // confirmation height
	Path     string // the locked path that opens first
	OpensAt  int32  // first block that can include a spend on Path; 0 for a lock counted in time only
	// BlocksLeft is OpensAt minus the next block (synced height + 1): 0
	// or less means the path is open. 0 for a lock counted in time only.
	BlocksLeft int32
	// OpensTime, for a lock counted in time, is the median time past the
	// tip must reach for the next block to include the spend (see
	// CoinLock.OpensTime); SecondsLeft is it minus the median time past
	// of the synced block: 0 or less means open.
	OpensTime   time.Time
	SecondsLeft int64
	// Warn says the coin is within the warning distance (or open).
	Warn bool
	// Refreshable says spending the coin resets the lock (a relative
	// lock); an absolute lock opens at its height whatever is done.
	Refreshable bool
}

// TimelockStatus is wallet status for a miniscript wallet.
type TimelockStatus struct {
	Wallet       string
	SyncedHeight int32
	WarnBlocks   int32
	// WarnTime is the warning distance for locks counted in time.
	WarnTime time.Duration
	Coins    []LockStatus // confirmed coins, earliest opening first
}

// secondsLeft estimates how long until s opens, to order coins and paths:
// its seconds left for a time lock, ten minutes a block for a block lock.
func (s LockStatus) secondsLeft() int64 {
	if !s.OpensTime.IsZero() {
		if s.OpensAt != 0 {
			return max(s.SecondsLeft, int64(s.BlocksLeft)*600)
		}
		return s.SecondsLeft
	}
	return int64(s.BlocksLeft) * 600
}

// TimelockStatus reports, as of the last sync, when each confirmed coin's
// first locked spending path opens, and warns for those within warnBlocks
// of it (a lock counted in time: within warnTime, or warnBlocks ten-minute
// blocks when warnTime is 0): the primary signers should move them
// (Refresh) before the recovery keys can. Locks counted in time are judged
// by the median time past of the synced block, read from the backend.
func (c *Coordinator) TimelockStatus(ctx context.Context, name string, warnBlocks int32, warnTime time.Duration) (*TimelockStatus, error) {
	w, err := c.Wallet(ctx, name)
	if err != nil {
		return nil, err
	}
	if !w.Descriptor.IsMiniscript() {
		return nil, fmt.Errorf("%w: wallet %q is a plain multisig: it has no time-locked paths to watch", descriptor.ErrInvalid, name)
	}
	if warnBlocks < 0 || warnTime < 0 {
		return nil, fmt.Errorf("%w: a negative warning distance", descriptor.ErrInvalid)
	}
	if warnTime == 0 {
		warnTime = time.Duration(warnBlocks) * 10 * time.Minute
	}
	paths, err := w.Descriptor.SpendPaths()
	if err != nil {
		return nil, err
	}
	st, err := c.Store.ScanState(ctx, name)
	if err != nil {
		return nil, err
	}
	us, err := c.Store.UTXOs(ctx, name)
	if err != nil {
		return nil, err
	}
	out := &TimelockStatus{Wallet: name, SyncedHeight: st.Height, WarnBlocks: warnBlocks, WarnTime: warnTime}
	next := st.Height + 1
	clock := c.clock(w)
	for _, u := range us {
		if u.Height <= 0 || u.SpentBy != nil {
			continue
		}
		var best *LockStatus
		for _, p := range paths {
			if !p.Locked() {
				continue
			}
			ls := LockStatus{OutPoint: u.OutPoint, Value: u.Value, Height: u.Height, Path: p.Name, Refreshable: p.Older != 0 && p.After == 0}
			if timeLocked(p) {
				cl := CoinLock{Height: u.Height}
				if err := coinTimeLock(ctx, clock, p, &cl, st.Height); err != nil {
					return nil, fmt.Errorf("the %s path of wallet %q counts time: %w", p.Name, name, err)
				}
				now, err := clock.at(ctx, st.Height)
				if err != nil {
					return nil, err
				}
				ls.OpensAt, ls.OpensTime, ls.SecondsLeft = cl.OpensAt, cl.OpensTime, cl.OpensTime.Unix()-now.Unix()
				if cl.OpensAt != 0 {
					ls.BlocksLeft = cl.OpensAt - next
				}
				ls.Warn = ls.SecondsLeft <= int64(warnTime/time.Second) && (cl.OpensAt == 0 || ls.BlocksLeft <= warnBlocks)
			} else {
				opens, ok := p.OpensAt(u.Height)
				if !ok {
					continue
				}
				ls.OpensAt, ls.BlocksLeft = opens, opens-next
				ls.Warn = ls.BlocksLeft <= warnBlocks
			}
			if best == nil || ls.secondsLeft() < best.secondsLeft() {
				best = &ls
			}
		}
		if best == nil {
			continue
		}
		out.Coins = append(out.Coins, *best)
	}
	slices.SortStableFunc(out.Coins, func(a, b LockStatus) int { return cmp.Compare(a.secondsLeft(), b.secondsLeft()) })
	return out, nil
}

// RefreshRequest asks for a self-send of the coins near a recovery opening.
type RefreshRequest struct {
	Wallet        string
	WarnBlocks    int32
	WarnTime      time.Duration // for locks counted in time; 0: WarnBlocks ten-minute blocks
	FeeRate       float64
	TargetBlocks  int
	Note          string
	AllowConflict bool
	AllowHighFee  bool
}

// Refresh builds a draft spending, by the primary path, every coin that
// TimelockStatus warns about and whose lock a spend resets (relative
// locks) to the wallet's next change address: once confirmed, the new coin's
// recovery path opens a full lock later. The primary signers sign it as
// any spend.
func (c *Coordinator) Refresh(ctx context.Context, req RefreshRequest) (*SpendResult, error) {
	st, err := c.TimelockStatus(ctx, req.Wallet, req.WarnBlocks, req.WarnTime)
	if err != nil {
		return nil, err
	}
	var ops []wire.OutPoint
	for _, co := range st.Coins {
		if co.Warn && co.Refreshable {
			ops = append(ops, co.OutPoint)
		}
	}
	if len(ops) == 0 {
		return nil, fmt.Errorf("%w: no coin of wallet %q comes within %d blocks (%s for a lock counted in time) of a relative recovery lock opening (as of the last sync at %d): nothing to refresh",
			descriptor.ErrInvalid, req.Wallet, req.WarnBlocks, untilText(int64(st.WarnTime/time.Second)), st.SyncedHeight)
	}
	note := req.Note
	if note == "" {
		note = "refresh of time-locked recovery paths"
	}
	return c.Spend(ctx, SpendRequest{Wallet: req.Wallet, UTXOs: ops, SendAll: true, SelfSend: true, FeeRate: req.FeeRate,
		TargetBlocks: req.TargetBlocks, Note: note, AllowConflict: req.AllowConflict, AllowHighFee: req.AllowHighFee})
}

// checkLocksOpen refuses to broadcast a miniscript wallet's transaction
// whose time locks the next block cannot meet yet (RuleTimelock, exit 4,
// with the opening height or date), rather than pass on the node's
// "sequence locks not met" or "non-final": a spend by a recovery path
// built elsewhere, or kept until now, gets the same answer as spend
// --path. Locks counted in time are judged by the median time past of
// the tip (see locktime.go), read only when the transaction has one.
func (c *Coordinator) checkLocksOpen(ctx context.Context, w *Wallet, tx *wire.MsgTx, tip int32) error {
	if !w.Descriptor.IsMiniscript() {
		return nil
	}
	clock := c.clock(w)
	next := tip + 1
	// IsFinalTx: every input's nSequence at 0xffffffff makes nLockTime
	// void.
	final := true
	for _, in := range tx.TxIn {
		final = final && in.Sequence == wire.MaxTxInSequenceNum
	}
	switch lt := tx.LockTime; {
	case final || lt == 0:
	case lt < lockTimeThreshold && int64(lt) >= int64(next):
		return timelockRefusal("the transaction's nLockTime is %d, so it is valid from block %d on, %d blocks after the tip at %d", lt, lt+1, int64(lt)+1-int64(next), tip)
	case lt >= lockTimeThreshold:
		now, err := clock.at(ctx, tip)
		if err != nil {
			return fmt.Errorf("the transaction's nLockTime is a time (%s): %w", utc(int64(lt)), err)
		}
		if !afterTimeOpen(lt, now) {
			return timelockRefusal("the transaction's nLockTime is %s, so a block can include it once the chain's median time past is later: about %s from now (the median time past is %s at tip %d)",
				utc(int64(lt)), untilText(int64(lt)+1-now.Unix()), utc(now.Unix()), tip)
		}
	}
	if tx.Version < 2 {
		return nil
	}
	heights, err := c.coinHeights(ctx, w.Name)
	if err != nil {
		return err
	}
	for i, in := range tx.TxIn {
		seq := in.Sequence
		if seq&seqDisable != 0 {
			continue // no relative lock
		}
		h, ok := heights[in.PreviousOutPoint]
		if !ok {
			continue // not a coin the wallet knows: the node decides
		}
		if seq&seqTypeFlag != 0 {
			if h <= 0 {
				return timelockRefusal("input %d spends coin %s, which is unconfirmed, with a relative lock of %s: it opens that long after the median time past of the block before the one that confirms it", i, in.PreviousOutPoint, untilText(olderSeconds(seq)))
			}
			now, err := clock.at(ctx, tip)
			if err != nil {
				return fmt.Errorf("input %d has a relative lock counted in time: %w", i, err)
			}
			opens, err := clock.olderOpens(ctx, h, seq)
			if err != nil {
				return err
			}
			if now.Unix() < opens {
				return timelockRefusal("input %d spends coin %s (confirmed at %d) with a relative lock of %s: it opens at %s, about %s from now (the chain's median time past, by which time locks are judged, is %s at tip %d)",
					i, in.PreviousOutPoint, h, untilText(olderSeconds(seq)), utc(opens), untilText(opens-now.Unix()), utc(now.Unix()), tip)
			}
			continue
		}
		if h <= 0 {
			return timelockRefusal("input %d spends coin %s, which is unconfirmed, with a relative lock of %d blocks: it opens %d blocks after the coin confirms", i, in.PreviousOutPoint, seq&seqMask, seq&seqMask)
		}
		if opens := h + int32(seq&seqMask); next < opens {
			return timelockRefusal("input %d spends coin %s (confirmed at %d) with a relative lock of %d blocks: it opens at block %d, %d blocks after the tip at %d", i, in.PreviousOutPoint, h, seq&seqMask, opens, opens-next, tip)
		}
	}
	return nil
}
