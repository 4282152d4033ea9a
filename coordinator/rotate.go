package coordinator

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// Key rotation: a cosigner's key leaves (a device is lost, a person goes),
// so a successor wallet is made with that key replaced (and, if asked,
// more keys and another threshold), every confirmed coin is swept to it
// by PSBTs the old wallet's remaining keys sign, and the old wallet is
// retired once the sweep has confirmed. The old wallet stays in the store
// and is still synced: a coin that reaches it later is reported, and
// swept with SweepToSuccessor.
//
// The steps, each journaled by the store: the successor and the rotation
// record (one transaction, wallet.create + wallet.rotate), one successor
// receive address per sweep PSBT (address.issue), each sweep PSBT as a
// draft of the old wallet (draft.save), then signing, combining and
// broadcasting as for any spend, and the retirement (wallet.retire) when
// a sync finds the old wallet empty.

// RotateRequest describes a rotation.
type RotateRequest struct {
	Wallet string // the old wallet
	// Replace names the cosigner that leaves: its master fingerprint (8
	// hex digits) or its label.
	Replace string
	// Replacement takes the leaving key's place (its position, for
	// unsorted multi()).
	Replacement Cosigner
	// Remove names further cosigners that leave without a replacement
	// (a second lost key), by fingerprint or label.
	Remove []string
	// Add are further cosigners of the successor (a 2-of-3 becoming a
	// 3-of-5 adds two).
	Add []Cosigner
	// Name is the successor's name; "" gives SuccessorName(Wallet).
	Name string
	// Threshold is the successor's; 0 keeps the old wallet's.
	Threshold int
	// Sweep says how to build the sweep PSBTs.
	Sweep SweepOptions
}

// RotateResult is what Rotate did.
type RotateResult struct {
	Old       *Wallet
	Successor *Wallet
	// Replaced is the cosigner that left, as the old wallet knew it.
	Replaced CosignerSummary
	// Sweep is the sweep of the old wallet's confirmed coins (no PSBT when
	// it had none).
	Sweep *SweepResult
	// Retired is true when the old wallet held no coin at all: it was
	// retired at once, with nothing to sweep.
	Retired  bool
	Warnings []string
}

// SweepOptions are the settings of a sweep.
type SweepOptions struct {
	// FeeRate in sat/vB; 0 asks the backend for its estimate for
	// TargetBlocks.
	FeeRate      float64
	TargetBlocks int
	// MaxInputs and MaxBytes split the sweep into several PSBTs: none has
	// more inputs or more serialized bytes. 0 means DefaultSweepMaxInputs
	// and DefaultSweepMaxBytes.
	MaxInputs, MaxBytes int
	AllowHighFee        bool
	NoRBF               bool
}

// Sweep limits. A sweep PSBT must be one every cosigner's device can take:
// Coldcard documents 384k-byte PSBTs for the Mk3 and 250 inputs tested on
// the Mk4 and Q (Coldcard/firmware docs/limitations.md, "Max Transaction
// Size"); a Jade takes about 400 KiB (hw/jade.MaxPSBT). Devices with lower
// limits (a Mk3 signs 20 inputs at a time) need --max-inputs.
const (
	DefaultSweepMaxInputs = 250
	DefaultSweepMaxBytes  = 384_000
	// maxStandardVSize is Bitcoin Core's MAX_STANDARD_TX_WEIGHT (400,000,
	// policy/policy.h) in vbytes: a larger transaction is not relayed.
	maxStandardVSize = 100_000
)

// SweepResult is a sweep of the old wallet's confirmed coins to its
// successor.
type SweepResult struct {
	Wallet, Successor string
	PSBTs             []SweepPSBT
	// Left are the coins not swept, with the reason (unconfirmed, worth
	// less than the fee to spend them, already being spent).
	Left      []LeftCoin
	FeeRate   float64
	FeeSource string
	Amount    int64 // sum of what the PSBTs pay the successor
	Fee       int64 // sum of their fees
}

// SweepPSBT is one sweep transaction, saved as a draft of the old wallet.
type SweepPSBT struct {
	PSBT   *bpsbt.Packet
	Draft  *wallet.Draft
	Report *psbt.Report // the gate's report
	// Address and Index are the successor's receive address it pays.
	Address string
	Index   uint32
	Inputs  int
	Amount  int64 // paid to the successor
	Fee     int64
}

// LeftCoin is a coin a sweep did not take, and why.
type LeftCoin struct {
	Coin
	Reason string
}

// ErrNoSuccessor means a sweep was asked of a wallet that was never
// rotated: --replace is needed to start a rotation.
var ErrNoSuccessor = fmt.Errorf("%w: the wallet has no successor", wallet.ErrNotFound)

// Rotate creates the successor of a wallet with one key replaced (and keys
// added, or another threshold, when asked), records it as the successor in
// the same store transaction, and sweeps every confirmed coin of the old
// wallet to it (SweepToSuccessor). The sweep PSBTs need only the old
// wallet's remaining keys. The caller should sync the old wallet first:
// the sweep takes the coins as of the last sync. When the old wallet holds
// no coin at all, it is retired at once.
func (c *Coordinator) Rotate(ctx context.Context, req RotateRequest) (*RotateResult, error) {
	old, err := c.Wallet(ctx, req.Wallet)
	if err != nil {
		return nil, err
	}
	if r, err := c.Store.Rotation(ctx, old.Name); err == nil {
		return nil, fmt.Errorf("wallet %q was already rotated to %q: %w; sweep what it still holds with `countersign wallet rotate %s -o FILE` (no --replace)",
			old.Name, r.Successor, wallet.ErrExists, old.Name)
	} else if !isNotFound(err) {
		return nil, err
	}
	if old.Descriptor.Tap != nil {
		return nil, fmt.Errorf("%w: rotating a key of a taproot (tr) wallet is not supported yet: create the new wallet with `countersign wallet create --script tr` and spend to it", descriptor.ErrInvalid)
	}
	d, labels, pos, err := successorDescriptor(old, req)
	if err != nil {
		return nil, err
	}
	name := req.Name
	if name == "" {
		name = SuccessorName(old.Name)
	}
	// Nothing paid the successor before the chain's tip now: a restore of
	// it scans from here.
	birth := old.BirthHeight
	if st, err := c.Store.ScanState(ctx, old.Name); err == nil && st.Height > birth {
		birth = st.Height
	}
	rec, err := newRecord(name, d, old.Network, labels, birth)
	if err != nil {
		return nil, err
	}
	sum, err := summarize(old, nil)
	if err != nil {
		return nil, err
	}
	replaced := sum.Cosigners[pos]
	added := make([]string, 0, len(req.Add))
	for _, a := range req.Add {
		added = append(added, keyFingerprint(a.Key))
	}
	removed := []string{}
	for _, r := range req.Remove {
		i, err := findCosigner(old, r)
		if err != nil {
			return nil, err
		}
		removed = append(removed, sum.Cosigners[i].Fingerprint)
	}
	detail := map[string]any{
		"removed":            removed,
		"replaced":           replaced.Fingerprint,
		"replaced_label":     replaced.Label,
		"replacement":        keyFingerprint(req.Replacement.Key),
		"added":              added,
		"threshold":          d.Threshold,
		"n":                  d.N(),
		"previous_threshold": old.Descriptor.Threshold,
		"previous_n":         old.Descriptor.N(),
	}
	if err := c.Store.CreateSuccessor(ctx, old.Name, rec, detail); err != nil {
		return nil, err
	}
	succ, err := c.Wallet(ctx, name)
	if err != nil {
		return nil, err
	}
	res := &RotateResult{Old: old, Successor: succ, Replaced: replaced}
	for i, k := range d.Keys {
		if k.Origin == nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("key %d of the successor has no origin ([fingerprint/path]); hardware signers may not recognise it as theirs", i+1))
		}
	}
	coins, err := c.Store.UTXOs(ctx, old.Name)
	if err != nil {
		return nil, err
	}
	if len(coins) == 0 {
		st, err := c.Store.ScanState(ctx, old.Name)
		if err != nil {
			return nil, err
		}
		if _, err := c.Store.Retire(ctx, old.Name, st.Height, map[string]any{"swept": 0, "reason": "the wallet held no coin when it was rotated"}); err != nil {
			return nil, err
		}
		res.Retired = true
		res.Sweep = &SweepResult{Wallet: old.Name, Successor: name}
		return res, nil
	}
	if res.Sweep, err = c.SweepToSuccessor(ctx, old.Name, req.Sweep); err != nil {
		// The successor exists and is recorded: the rotation goes on with
		// a sweep built later, once the problem is fixed.
		return res, fmt.Errorf("wallet %q was created as the successor of %q, but the sweep could not be built: %w; fix that and run `countersign wallet rotate %s -o FILE` to build it",
			name, old.Name, err, old.Name)
	}
	return res, nil
}

// successorDescriptor is the old wallet's descriptor with the named key
// replaced and keys added, at the threshold asked for (the old one by
// default). It returns the labels in descriptor order and the replaced
// key's position.
func successorDescriptor(old *Wallet, req RotateRequest) (*descriptor.Descriptor, []string, int, error) {
	if old.Descriptor.IsMiniscript() {
		return nil, nil, 0, fmt.Errorf("%w: wallet %q has time-locked spending paths (miniscript) and wallet rotate builds an m-of-n successor, which would drop them: create the successor with wallet create --recovery or --decay, then move the coins with spend --send-all",
			descriptor.ErrInvalid, old.Name)
	}
	pos, err := findCosigner(old, req.Replace)
	if err != nil {
		return nil, nil, 0, err
	}
	gone := old.Descriptor.Keys[pos]
	if gone.Origin != nil && req.Replacement.Key.Origin != nil && gone.Origin.Fingerprint == req.Replacement.Key.Origin.Fingerprint {
		return nil, nil, 0, fmt.Errorf("%w: the replacement key has the same master fingerprint (%x) as the key it replaces: it comes from the same seed, which is the one leaving; use a new seed or device",
			descriptor.ErrInvalid, gone.Origin.Fingerprint)
	}
	drop := map[int]bool{}
	for _, r := range req.Remove {
		i, err := findCosigner(old, r)
		if err != nil {
			return nil, nil, 0, err
		}
		if i == pos || drop[i] {
			return nil, nil, 0, fmt.Errorf("%w: cosigner %q is named twice among --replace and --remove", descriptor.ErrInvalid, r)
		}
		drop[i] = true
	}
	var keys []descriptor.Key
	var labels []string
	for i, k := range old.Descriptor.Keys {
		switch {
		case drop[i]:
			continue
		case i == pos:
			keys, labels = append(keys, req.Replacement.Key), append(labels, req.Replacement.Label)
		default:
			l := ""
			if i < len(old.Labels) {
				l = old.Labels[i]
			}
			keys, labels = append(keys, k), append(labels, l)
		}
	}
	for _, a := range req.Add {
		keys = append(keys, a.Key)
		labels = append(labels, a.Label)
	}
	m := req.Threshold
	if m == 0 {
		m = old.Descriptor.Threshold
	}
	d, err := descriptor.New(old.Descriptor.Script, m, old.Descriptor.Sorted, keys)
	if err != nil {
		return nil, nil, 0, err
	}
	if descriptor.Equal(d, old.Descriptor) {
		return nil, nil, 0, fmt.Errorf("%w: the successor would be the same wallet", descriptor.ErrInvalid)
	}
	return d, labels, pos, nil
}

// findCosigner finds a wallet's cosigner by master fingerprint (8 hex
// digits, any case) or label.
func findCosigner(w *Wallet, sel string) (int, error) {
	sel = strings.TrimSpace(sel)
	if sel == "" {
		return 0, fmt.Errorf("%w: name the cosigner that leaves by its fingerprint or label", descriptor.ErrInvalid)
	}
	var byFP, byLabel []int
	for i, k := range w.Descriptor.Keys {
		if k.Origin != nil && strings.EqualFold(hex.EncodeToString(k.Origin.Fingerprint[:]), sel) {
			byFP = append(byFP, i)
		}
		if i < len(w.Labels) && w.Labels[i] != "" && w.Labels[i] == sel {
			byLabel = append(byLabel, i)
		}
	}
	switch {
	case len(byFP) == 1:
		return byFP[0], nil
	case len(byFP) == 0 && len(byLabel) == 1:
		return byLabel[0], nil
	case len(byLabel) > 1:
		return 0, fmt.Errorf("%w: %d cosigners of wallet %q are labelled %q: name the one that leaves by its fingerprint", descriptor.ErrInvalid, len(byLabel), w.Name, sel)
	}
	var have []string
	for i, k := range w.Descriptor.Keys {
		s := "(no origin)"
		if k.Origin != nil {
			s = hex.EncodeToString(k.Origin.Fingerprint[:])
		}
		if i < len(w.Labels) && w.Labels[i] != "" {
			s += " " + strconv.Quote(w.Labels[i])
		}
		have = append(have, s)
	}
	return 0, fmt.Errorf("wallet %q has no cosigner with fingerprint or label %q (it has %s): %w", w.Name, sel, strings.Join(have, ", "), wallet.ErrNotFound)
}

func keyFingerprint(k descriptor.Key) string {
	if k.Origin == nil {
		return ""
	}
	return hex.EncodeToString(k.Origin.Fingerprint[:])
}

// numbered is compiled on first use, not by every process at start.
var numbered = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(.*)-([0-9]{1,6})$`) })

// SuccessorName is the default name of a wallet's successor: "vault"
// becomes "vault-2", "vault-2" becomes "vault-3".
func SuccessorName(old string) string {
	if m := numbered().FindStringSubmatch(old); m != nil {
		n, _ := strconv.Atoi(m[2])
		return fmt.Sprintf("%s-%d", m[1], n+1)
	}
	return old + "-2"
}

// SweepToSuccessor builds PSBTs that send every confirmed coin of a
// rotated wallet, as of its last sync, to its successor: one receive
// address of the successor per PSBT, no change, each PSBT within
// MaxInputs, MaxBytes and the standard transaction size. Each goes through
// the gate and is saved as a draft of the old wallet. Unconfirmed coins,
// coins already being spent and coins worth less than the fee to spend
// them are left, and listed.
func (c *Coordinator) SweepToSuccessor(ctx context.Context, name string, opt SweepOptions) (*SweepResult, error) {
	old, err := c.Wallet(ctx, name)
	if err != nil {
		return nil, err
	}
	rot, err := c.Store.Rotation(ctx, name)
	if errors.Is(err, wallet.ErrNotFound) {
		if _, werr := c.Store.Wallet(ctx, name); werr != nil {
			return nil, werr
		}
		return nil, fmt.Errorf("wallet %q: %w; start a rotation with --replace", name, ErrNoSuccessor)
	}
	if err != nil {
		return nil, err
	}
	succ, err := c.Wallet(ctx, rot.Successor)
	if err != nil {
		return nil, err
	}
	maxIn, maxBytes := opt.MaxInputs, opt.MaxBytes
	if maxIn <= 0 {
		maxIn = DefaultSweepMaxInputs
	}
	if maxBytes <= 0 {
		maxBytes = DefaultSweepMaxBytes
	}
	res := &SweepResult{Wallet: name, Successor: succ.Name}

	coins, err := c.spendableCoins(ctx, name)
	if err != nil {
		return nil, err
	}
	all, err := c.Coins(ctx, name)
	if err != nil {
		return nil, err
	}
	for _, co := range all {
		if co.SpentBy != nil {
			res.Left = append(res.Left, LeftCoin{co, "already being spent by " + co.SpentBy.String()})
		}
	}
	tip, feeRate, feeSource, err := c.sweepFee(ctx, old, opt)
	if err != nil {
		return nil, err
	}
	res.FeeRate, res.FeeSource = feeRate, feeSource

	// The successor's first receive address stands in for the real ones
	// while the PSBTs are planned: same script type, same size.
	probe, err := succ.Descriptor.Derive(0, 0, succ.Network)
	if err != nil {
		return nil, err
	}
	outs := [][]byte{probe.ScriptPubKey}
	one, err := psbt.EstimateVSize(old.Descriptor, 1, outs)
	if err != nil {
		return nil, err
	}
	none, err := psbt.EstimateVSize(old.Descriptor, 0, outs)
	if err != nil {
		return nil, err
	}
	perInput := feeFor(feeRate, one-none)
	byOutPoint := map[wire.OutPoint]Coin{}
	for _, co := range all {
		byOutPoint[co.OutPoint] = co
	}
	var take []psbt.UTXO
	for _, u := range coins {
		switch {
		case u.Confirmations < 1:
			res.Left = append(res.Left, LeftCoin{byOutPoint[u.OutPoint], "unconfirmed: sweep it once it confirms"})
		case u.Value <= perInput:
			res.Left = append(res.Left, LeftCoin{byOutPoint[u.OutPoint], fmt.Sprintf("worth %d sat, not more than the %d sat fee to spend it", u.Value, perInput)})
		default:
			take = append(take, u)
		}
	}
	if len(take) == 0 {
		return res, nil
	}
	// Oldest coins first, so that a sweep cut short leaves the newest.
	slices.SortStableFunc(take, func(a, b psbt.UTXO) int {
		if a.Confirmations != b.Confirmations {
			return int(b.Confirmations - a.Confirmations)
		}
		if c := strings.Compare(a.OutPoint.Hash.String(), b.OutPoint.Hash.String()); c != 0 {
			return c
		}
		return int(a.OutPoint.Index) - int(b.OutPoint.Index)
	})

	prevTxs := c.prevTxs(ctx, name)
	build := func(chunk []psbt.UTXO, addr string) (*bpsbt.Packet, *psbt.BuildSummary, []byte, error) {
		pre := make([]wire.OutPoint, len(chunk))
		for i, u := range chunk {
			pre[i] = u.OutPoint
		}
		p, sum, err := psbt.Build(psbt.BuildRequest{
			Wallet:       old.Info(),
			UTXOs:        chunk,
			PrevTxs:      prevTxs,
			Outputs:      []psbt.Output{{Address: addr}},
			SendAll:      true,
			Preselected:  pre,
			FeeRate:      feeRate,
			LockTime:     uint32(max(tip, 0)),
			DisableRBF:   opt.NoRBF,
			AllowHighFee: opt.AllowHighFee,
		})
		if err != nil {
			return nil, nil, nil, err
		}
		raw, err := psbt.Serialize(p)
		return p, sum, raw, err
	}
	chunks, err := planSweep(take, maxIn, "--max-bytes", func(chunk []psbt.UTXO) (bool, error) {
		vs, err := psbt.EstimateVSize(old.Descriptor, len(chunk), outs)
		if err != nil {
			return false, err
		}
		if vs > maxStandardVSize {
			return false, nil
		}
		_, _, raw, err := build(chunk, probe.Address)
		if err != nil {
			return false, err
		}
		return len(raw) <= maxBytes, nil
	})
	if err != nil {
		return nil, err
	}
	// Every PSBT goes through the gate before the successor hands out an
	// address for it, so a refused sweep leaves the successor untouched.
	for _, chunk := range chunks {
		p, _, _, err := build(chunk, probe.Address)
		if err != nil {
			return nil, err
		}
		if _, err := c.gate(ctx, old, p, false, GateOptions{AllowHighFee: opt.AllowHighFee}); err != nil {
			return nil, err
		}
	}
	for i, chunk := range chunks {
		label := fmt.Sprintf("sweep from %s", old.Name)
		if len(chunks) > 1 {
			label += fmt.Sprintf(" (%d of %d)", i+1, len(chunks))
		}
		a, err := c.NextAddress(ctx, succ.Name, label)
		if err != nil {
			return nil, err
		}
		p, sum, raw, err := build(chunk, a.Address)
		if err != nil {
			return nil, err
		}
		// The same gate every later step runs, before anything is saved.
		rep, err := c.gate(ctx, old, p, false, GateOptions{AllowHighFee: opt.AllowHighFee})
		if err != nil {
			return nil, err
		}
		d := &wallet.Draft{TxID: p.UnsignedTx.TxHash(), PSBT: raw, Note: label + " to successor wallet " + succ.Name}
		if err := c.Store.SaveDraft(ctx, old.Name, d); err != nil {
			return nil, err
		}
		res.PSBTs = append(res.PSBTs, SweepPSBT{PSBT: p, Draft: d, Report: rep, Address: a.Address, Index: a.Index,
			Inputs: len(chunk), Amount: sum.Sent, Fee: sum.Fee})
		res.Amount += sum.Sent
		res.Fee += sum.Fee
	}
	return res, nil
}

// planSweep cuts coins, in order, into chunks of at most maxIn that fit:
// each chunk is the longest run of the next coins that fits (found by
// bisection, since a PSBT only grows with its inputs); one coin that does
// not fit alone is an error naming flag, the option that sets the limit.
func planSweep(coins []psbt.UTXO, maxIn int, flag string, fits func([]psbt.UTXO) (bool, error)) ([][]psbt.UTXO, error) {
	var out [][]psbt.UTXO
	for len(coins) > 0 {
		n := min(maxIn, len(coins))
		ok, err := fits(coins[:n])
		if err != nil {
			return nil, err
		}
		if !ok {
			lo, hi := 0, n // coins[:lo] fits (or lo is 0), coins[:hi] does not
			for hi-lo > 1 {
				mid := (lo + hi) / 2
				ok, err := fits(coins[:mid])
				if err != nil {
					return nil, err
				}
				if ok {
					lo = mid
				} else {
					hi = mid
				}
			}
			if lo == 0 {
				return nil, fmt.Errorf("%w: coin %s alone makes a sweep PSBT larger than the limit; raise %s", psbt.ErrRefused, coins[0].OutPoint, flag)
			}
			n = lo
		}
		out = append(out, coins[:n:n])
		coins = coins[n:]
	}
	return out, nil
}

// sweepFee finds the tip (for the lock time) and the fee rate, as Spend
// does: the backend's when configured, else the last synced height and
// the rate given.
func (c *Coordinator) sweepFee(ctx context.Context, w *Wallet, opt SweepOptions) (int32, float64, string, error) {
	st, err := c.Store.ScanState(ctx, w.Name)
	if err != nil {
		return 0, 0, "", err
	}
	tip, rate, source := st.Height, opt.FeeRate, "--fee-rate"
	b, berr := c.Backend(ctx, w)
	switch {
	case berr == nil:
		h, _, err := b.Tip(ctx)
		if err != nil {
			return 0, 0, "", err
		}
		tip = h
		if rate == 0 {
			target := opt.TargetBlocks
			if target <= 0 {
				target = 6
			}
			if rate, source, err = estimateFee(ctx, b, target); err != nil {
				return 0, 0, "", err
			}
		}
	case rate == 0:
		return 0, 0, "", fmt.Errorf("no fee rate: pass --fee-rate SAT_VB, or configure a backend for an estimate: %w", berr)
	case !errors.Is(berr, ErrNoBackend):
		return 0, 0, "", berr
	}
	return tip, rate, source, nil
}

// feeFor is the fee in satoshis for vsize vbytes at rate sat/vB, rounded
// up.
func feeFor(rate float64, vsize int64) int64 {
	f := rate * float64(vsize)
	n := int64(f)
	if float64(n) < f {
		n++
	}
	return n
}

// RotationStatus is where a wallet stands in a rotation.
type RotationStatus struct {
	// Successor is the wallet the coins move to; "" when the wallet was
	// never rotated. Predecessor is the wallet this one succeeded, if any.
	Successor, Predecessor string
	Rotation               *wallet.Rotation // nil when never rotated
	// Retired is set once the sweep confirmed; JustRetired when this call
	// retired it.
	Retired, JustRetired bool
	// Coins are what the wallet still holds as of its last sync: before
	// retirement, coins to sweep or whose sweep has not confirmed; after,
	// coins that arrived late.
	Coins []Coin
	Value int64
	// Unconfirmed counts the wallet's transactions still unconfirmed (a
	// sweep in the mempool): the wallet retires only once there are none.
	Unconfirmed int
}

// Rotations lists every rotation in the store.
func (c *Coordinator) Rotations(ctx context.Context) ([]wallet.Rotation, error) {
	return c.Store.Rotations(ctx)
}

// RotationStatus reports a wallet's place in a rotation, as of its last
// sync, and retires a rotated wallet that is found empty with every one of
// its transactions confirmed: every coin it had has left in a confirmed
// transaction, so the sweep has confirmed. (Backends drop a coin from the
// unspent set as soon as a mempool transaction spends it, so an empty set
// alone is not enough.) Sync calls it.
func (c *Coordinator) RotationStatus(ctx context.Context, name string) (*RotationStatus, error) {
	out := &RotationStatus{}
	rs, err := c.Store.Rotations(ctx)
	if err != nil {
		return nil, err
	}
	for i := range rs {
		if rs[i].Successor == name {
			out.Predecessor = rs[i].Wallet
		}
		if rs[i].Wallet == name {
			out.Rotation = &rs[i]
		}
	}
	if _, err := c.Store.Wallet(ctx, name); err != nil {
		return nil, err
	}
	if out.Rotation == nil {
		return out, nil
	}
	out.Successor, out.Retired = out.Rotation.Successor, out.Rotation.Retired
	if out.Coins, err = c.Coins(ctx, name); err != nil {
		return nil, err
	}
	for _, co := range out.Coins {
		out.Value += co.Value
	}
	txs, err := c.Store.Transactions(ctx, name)
	if err != nil {
		return nil, err
	}
	for _, t := range txs {
		if t.Height == 0 {
			out.Unconfirmed++
		}
	}
	if out.Retired || len(out.Coins) > 0 || out.Unconfirmed > 0 {
		return out, nil
	}
	st, err := c.Store.ScanState(ctx, name)
	if err != nil {
		return nil, err
	}
	if st.SyncedAt.IsZero() || !st.SyncedAt.After(out.Rotation.StartedAt) {
		// Not synced since the rotation: an empty cache says nothing.
		return out, nil
	}
	done, err := c.Store.Retire(ctx, name, st.Height, map[string]any{"reason": "every coin has left in a confirmed transaction"})
	if err != nil {
		return nil, err
	}
	if r, err := c.Store.Rotation(ctx, name); err == nil {
		out.Rotation = r
	}
	out.Retired, out.JustRetired = true, done
	return out, nil
}

// SuccessorOutputs are the outputs of a PSBT of a rotated wallet that pay
// its successor: from the old wallet's side they are external payments,
// and the summary should say whose.
type SuccessorOutputs struct {
	Successor string
	Outputs   []int // output indexes, in transaction order
	// RotatedOut are the fingerprints (lowercase hex) of the old wallet's
	// keys the successor does not have: a summary should not send anyone
	// looking for a lost key's signature.
	RotatedOut []string
}

// rotatedOut returns the fingerprints of old's keys that succ lacks.
func rotatedOut(old, succ *Wallet) []string {
	kept := map[string]bool{}
	for _, k := range succ.Descriptor.Keys {
		if k.XPub != nil {
			kept[k.XPub.String()] = true
		}
	}
	var out []string
	for _, k := range old.Descriptor.Keys {
		if k.XPub != nil && k.Origin != nil && !kept[k.XPub.String()] {
			out = append(out, hex.EncodeToString(k.Origin.Fingerprint[:]))
		}
	}
	return out
}

// successorOutputs finds the external outputs of rep that derive from w's
// successor (within its gap past the addresses it handed out); nil when w
// has no successor or none pays it.
func (c *Coordinator) successorOutputs(ctx context.Context, w *Wallet, rep *psbt.Report) (*SuccessorOutputs, error) {
	rot, err := c.Store.Rotation(ctx, w.Name)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	succ, err := c.Wallet(ctx, rot.Successor)
	if err != nil {
		return nil, err
	}
	src, err := c.updateSource(ctx, succ)
	if err != nil {
		return nil, err
	}
	out := &SuccessorOutputs{Successor: succ.Name, RotatedOut: rotatedOut(w, succ)}
	for i, o := range rep.Outputs {
		if o.Kind != psbt.KindExternal {
			continue
		}
		script, err := hex.DecodeString(o.Script)
		if err != nil {
			continue
		}
		if _, _, ok := src.Locate(script); ok {
			out.Outputs = append(out.Outputs, i)
		}
	}
	if len(out.Outputs) == 0 {
		return nil, nil
	}
	return out, nil
}

// Enrolment is what became of one cosigner of a wallet when the wallet
// was offered to the attached signers (RegisterOnAttached).
type Enrolment struct {
	Position    int // 1-based, descriptor order
	Label       string
	Fingerprint string
	// Device is the selector of the attached signer that holds the key;
	// "" when none is attached.
	Device     string
	Registered bool
	// Err is why registering on the attached device failed.
	Err error
	// Software names the local software key that holds it: nothing to
	// register.
	Software string
	// DeviceType is the kind of device the key was registered on for
	// another wallet ("coldcard"), when the store knows it: the hint for
	// `device register` when it is not attached.
	DeviceType string
}

// RegisterOnAttached offers a wallet to the attached signers whose master
// fingerprint is one of its cosigners' and records each registration
// (RegisterOnDevice); each device asks its user to approve. attached is
// the scan of the devices (hw.Registry.Enumerate); open opens one by its
// selector. Cosigners held by a local software key need nothing; the
// others are listed with the device type the store knows for their
// fingerprint, so the caller can say which need `device register`.
// Failures are reported per cosigner, not returned: the wallet exists
// either way.
func (c *Coordinator) RegisterOnAttached(ctx context.Context, name string, attached []hw.DeviceInfo, open func(ctx context.Context, selector string) (*hw.Signer, error)) ([]Enrolment, error) {
	w, err := c.Wallet(ctx, name)
	if err != nil {
		return nil, err
	}
	sum, err := summarize(w, nil)
	if err != nil {
		return nil, err
	}
	local := map[string]string{}
	if c.LocalKeys != nil {
		keys, _ := c.LocalKeys()
		for _, k := range keys {
			local[hex.EncodeToString(k.Fingerprint[:])] = k.Name
		}
	}
	known, err := c.knownDeviceTypes(ctx)
	if err != nil {
		return nil, err
	}
	// A device that did not tell its fingerprint in the scan is asked once,
	// when some cosigner still has no device; one that cannot answer
	// without its user (locked) is left out.
	// Devices are opened by the selector the scan gave them (a path for
	// one that did not tell its fingerprint).
	selectors := make([]string, len(attached))
	for i, d := range attached {
		selectors[i] = d.Selector()
	}
	attached = slices.Clone(attached)
	unmatched := false
	for _, cs := range sum.Cosigners {
		_, soft := local[cs.Fingerprint]
		found := false
		for _, d := range attached {
			found = found || strings.EqualFold(d.Fingerprint, cs.Fingerprint)
		}
		unmatched = unmatched || (cs.Fingerprint != "" && !soft && !found)
	}
	for i, d := range attached {
		if !unmatched || d.Fingerprint != "" || d.Error != "" {
			continue
		}
		s, err := open(ctx, selectors[i])
		if err != nil {
			continue
		}
		if fp, err := s.Fingerprint(ctx); err == nil {
			attached[i].Fingerprint = hex.EncodeToString(fp[:])
		}
		s.Close()
	}
	var out []Enrolment
	for _, cs := range sum.Cosigners {
		e := Enrolment{Position: cs.Position, Label: cs.Label, Fingerprint: cs.Fingerprint, DeviceType: known[cs.Fingerprint]}
		if cs.Fingerprint == "" {
			out = append(out, e)
			continue
		}
		if k, ok := local[cs.Fingerprint]; ok {
			e.Software = k
			out = append(out, e)
			continue
		}
		for i, d := range attached {
			if d.Error != "" || !strings.EqualFold(d.Fingerprint, cs.Fingerprint) {
				continue
			}
			e.Device, e.DeviceType = d.Type+":"+strings.ToLower(d.Fingerprint), d.Type
			s, err := open(ctx, selectors[i])
			if err != nil {
				e.Err = err
				break
			}
			_, e.Err = c.RegisterOnDevice(ctx, name, s)
			s.Close()
			e.Registered = e.Err == nil
			break
		}
		out = append(out, e)
	}
	return out, nil
}

// knownDeviceTypes maps fingerprints to the device type they were
// registered as, for any wallet in the store.
func (c *Coordinator) knownDeviceTypes(ctx context.Context) (map[string]string, error) {
	ws, err := c.Store.Wallets(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, w := range ws {
		regs, err := c.Store.Registrations(ctx, w.Name)
		if err != nil {
			return nil, err
		}
		for _, r := range regs {
			out[strings.ToLower(r.Fingerprint)] = r.DeviceType
		}
	}
	return out, nil
}
