package coordinator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// Policy is a wallet's spending policy: rules countersign itself keeps
// when it builds, signs or finalizes a spend of the wallet. A zero field
// is no rule.
//
// What it does not bind: a cosigner who signs with another tool (a
// hardware wallet's own app, Sparrow, Electrum, Core) never asks
// countersign, and m such cosigners can spend whatever this policy says.
// It is a guard rail for the people who run countersign, and a record
// (every change and every override is journaled), not a lock on the coins.
type Policy struct {
	// PerTxLimit is the most one spend may send out of the wallet, sat.
	PerTxLimit int64 `json:"per_tx_limit_sat,omitempty"`
	// DailyLimit is the most the wallet may send in any 24 hours, sat:
	// what this spend sends plus what the wallet sent in the 24 hours
	// before (its spends broadcast then, and outgoing transactions a sync
	// first saw then) plus its spends drafted then and still in flight
	// (not sent, not abandoned): several operators drafting at once must
	// not each fit under a limit they exceed together.
	DailyLimit int64 `json:"daily_limit_sat,omitempty"`
	// AllowList are the only addresses a spend may pay (change and the
	// wallet's own addresses aside); empty allows any.
	AllowList []string `json:"allow_list,omitempty"`
	// MinSignatures is how many signatures countersign must have collected
	// on every input before it finalizes a spend that sends more than
	// MinSignaturesAbove sat; 0 is the wallet's threshold.
	MinSignatures      int   `json:"min_signatures,omitempty"`
	MinSignaturesAbove int64 `json:"min_signatures_above_sat,omitempty"`
}

// Empty reports whether the policy has no rule.
func (p *Policy) Empty() bool {
	return p.PerTxLimit == 0 && p.DailyLimit == 0 && len(p.AllowList) == 0 && p.MinSignatures == 0
}

// The policy's rules, as a refusal names them.
const (
	RulePerTxLimit    = "policy.per_tx_limit"
	RuleDailyLimit    = "policy.daily_limit"
	RuleAllowList     = "policy.allow_list"
	RuleMinSignatures = "policy.min_signatures"
)

// The steps the policy is checked at.
const (
	StepSpend    = "spend"
	StepBump     = "bump"
	StepCancel   = "cancel"
	StepCPFP     = "cpfp"
	StepSign     = "sign"
	StepFinalize = "finalize"
)

// PolicyError is a refusal by the spending policy. It wraps
// psbt.ErrRefused (exit 4).
type PolicyError struct {
	Rule string
	Err  error
}

func (e *PolicyError) Error() string {
	return "refused by the spending policy (" + e.Rule + "): " + e.Err.Error()
}
func (e *PolicyError) Unwrap() []error { return []error{psbt.ErrRefused, e.Err} }

// ErrPolicy is wrapped by policies that cannot be stored.
var ErrPolicy = errors.New("invalid spending policy")

// Policy returns the wallet's spending policy (the zero Policy when it has
// none) and when it was set.
func (c *Coordinator) Policy(ctx context.Context, name string) (*Policy, time.Time, error) {
	if _, err := c.Store.Wallet(ctx, name); err != nil {
		return nil, time.Time{}, err
	}
	raw, at, err := c.Store.Policy(ctx, name)
	if errors.Is(err, wallet.ErrNotFound) {
		return &Policy{}, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	var p Policy
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, time.Time{}, fmt.Errorf("the stored policy of wallet %q does not read (%v); set it again", name, err)
	}
	return &p, at, nil
}

// SetPolicy checks and stores the wallet's policy (journaled); an empty
// policy removes it.
func (c *Coordinator) SetPolicy(ctx context.Context, name string, p Policy) error {
	w, err := c.Wallet(ctx, name)
	if err != nil {
		return err
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %w", ErrPolicy, fmt.Sprintf(format, a...), wallet.ErrInvalid)
	}
	switch {
	case p.PerTxLimit < 0 || p.DailyLimit < 0 || p.MinSignaturesAbove < 0:
		return bad("limits cannot be negative")
	case p.PerTxLimit > btcutil.MaxSatoshi || p.DailyLimit > btcutil.MaxSatoshi || p.MinSignaturesAbove > btcutil.MaxSatoshi:
		return bad("limits above 21 million BTC")
	case p.MinSignatures < 0 || p.MinSignatures > w.N:
		return bad("minimum signatures %d for a wallet of %d cosigners", p.MinSignatures, w.N)
	case p.MinSignatures > 0 && p.MinSignatures < w.Threshold:
		return bad("minimum signatures %d is below the wallet's threshold %d, which every spend needs anyway", p.MinSignatures, w.Threshold)
	}
	seen := map[string]bool{}
	var allow []string
	for _, a := range p.AllowList {
		a = strings.TrimSpace(a)
		addr, err := btcutil.DecodeAddress(a, w.Network)
		if err != nil || !addr.IsForNet(w.Network) {
			return bad("allow-list entry %q is not an address of the wallet's network", a)
		}
		if e := addr.EncodeAddress(); !seen[e] {
			seen[e] = true
			allow = append(allow, e)
		}
	}
	p.AllowList = allow
	var raw []byte
	if !p.Empty() {
		if raw, err = json.Marshal(p); err != nil {
			return err
		}
	}
	return c.Store.SetPolicy(ctx, name, raw)
}

// policyCheck is a wallet's policy loaded with what its rules need, before
// a step runs; its check reads nothing more, so a spend can run it inside
// the store transaction that saves the draft.
type policyCheck struct {
	w        *Wallet
	policy   Policy
	sent24h  int64
	override string // --override-policy: the reason
}

// enforcePolicy is the spending policy's verdict on p at step: the one
// place every step (spend, bump, cancel, cpfp, sign, finalize) asks,
// next to the gate. It returns the journal entries of the rules the user
// overrode, to be written with the step's own change.
func (c *Coordinator) enforcePolicy(ctx context.Context, w *Wallet, p *bpsbt.Packet, rep *psbt.Report, step string, opts GateOptions) ([]wallet.JournalNote, error) {
	pc, err := c.loadPolicy(ctx, w, p.UnsignedTx.TxHash(), opts)
	if err != nil {
		return nil, err
	}
	return pc.check(step, p, rep)
}

// loadPolicy reads the wallet's policy and, when it has a daily limit,
// what the wallet sent in the last 24 hours, leaving out the spend txid
// and the spend it replaces (a bump sends the same payment again).
func (c *Coordinator) loadPolicy(ctx context.Context, w *Wallet, txid chainhash.Hash, opts GateOptions) (*policyCheck, error) {
	pol, _, err := c.Policy(ctx, w.Name)
	if err != nil {
		return nil, err
	}
	pc := &policyCheck{w: w, policy: *pol, override: strings.TrimSpace(opts.OverridePolicy)}
	if pol.DailyLimit > 0 {
		sent, inFlight, err := c.sentSince(ctx, w, c.now().Add(-24*time.Hour), txid)
		if err != nil {
			return nil, err
		}
		pc.sent24h = sent + inFlight
	}
	return pc, nil
}

// now is the coordinator's clock.
func (c *Coordinator) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// sentSince sums what the wallet sent out since t: its spends broadcast
// since (what each pays to others) and outgoing transactions a sync first
// saw since that no spend of it accounts for (their net loss less the
// fee); and, apart (inFlight), its spends drafted since and not yet sent
// nor abandoned. The spend txid, and spends it replaces, are left out.
func (c *Coordinator) sentSince(ctx context.Context, w *Wallet, t time.Time, txid chainhash.Hash) (sent, inFlight int64, err error) {
	ps, err := c.pendingOf(ctx, w)
	if err != nil {
		return 0, 0, err
	}
	skip := map[chainhash.Hash]bool{txid: true}
	for _, p := range ps {
		if p.TxID == txid && p.Related != nil && p.Kind != wallet.KindCPFP {
			skip[*p.Related] = true
		}
	}
	counted := map[chainhash.Hash]bool{}
	for _, p := range ps {
		if p.FinalTxID != nil {
			counted[p.TxID], counted[*p.FinalTxID] = true, true
		}
		if skip[p.TxID] {
			continue
		}
		switch {
		case (p.State == PendingDraft || p.State == PendingReady) && (p.Kind == wallet.KindSpend || p.Kind == wallet.KindCPFP || p.Kind == ""):
			// In flight: drafted, not yet sent, not abandoned. It counts
			// from when it was drafted, so that spends drafted at once
			// (on a shared store, by several operators) cannot each fit
			// under a limit they exceed together; abandon a draft to free
			// its amount. A bump or cancel in flight replaces a spend
			// counted already.
			if !p.Created.Before(t) {
				inFlight += p.Report.Sent
			}
		case (p.State == PendingBroadcast || p.State == PendingConfirmed) && !p.BroadcastAt.Before(t):
			sent += p.Report.Sent
		}
	}
	txs, err := c.Store.History(ctx, w.Name) // amounts and times only, not the bytes
	if err != nil {
		return 0, 0, err
	}
	for _, tx := range txs {
		if counted[tx.TxID] || skip[tx.TxID] || tx.Net >= 0 || tx.SeenAt.Before(t) {
			continue
		}
		out := -tx.Net
		if tx.Fee != nil {
			out -= *tx.Fee
		}
		sent += max(out, 0)
	}
	return sent, inFlight, nil
}

// check applies the rules to p at step. A breach is a *PolicyError, unless
// the user gave a reason to override it: then it becomes a
// policy.override journal entry.
func (pc *policyCheck) check(step string, p *bpsbt.Packet, rep *psbt.Report) ([]wallet.JournalNote, error) {
	pol := pc.policy
	if pol.Empty() {
		return nil, nil
	}
	type breach struct{ rule, why string }
	var bs []breach
	sent := rep.Sent
	if pol.PerTxLimit > 0 && sent > pol.PerTxLimit {
		bs = append(bs, breach{RulePerTxLimit, fmt.Sprintf("this spend sends %s, above the per-transaction limit of %s", btc(sent), btc(pol.PerTxLimit))})
	}
	if pol.DailyLimit > 0 && pc.sent24h+sent > pol.DailyLimit {
		bs = append(bs, breach{RuleDailyLimit, fmt.Sprintf("this spend sends %s and the wallet sent or has in flight %s from the last 24 hours, above the daily limit of %s",
			btc(sent), btc(pc.sent24h), btc(pol.DailyLimit))})
	}
	if len(pol.AllowList) > 0 {
		for i, o := range rep.Outputs {
			if o.Kind != psbt.KindExternal || slices.Contains(pol.AllowList, o.Address) {
				continue
			}
			dest := o.Address
			if dest == "" {
				dest = "script " + o.Script
			}
			bs = append(bs, breach{RuleAllowList, fmt.Sprintf("output %d pays %s to %s, which is not on the allow-list", i, btc(o.Amount), dest)})
		}
	}
	if step == StepFinalize && pol.MinSignatures > 0 && sent > pol.MinSignaturesAbove {
		least := -1
		for _, in := range rep.Inputs {
			n := len(in.Signatures)
			if least < 0 || n < least {
				least = n
			}
		}
		if least < pol.MinSignatures {
			bs = append(bs, breach{RuleMinSignatures, fmt.Sprintf("a spend sending more than %s needs %d signatures collected here before it is finalized; the fewest on an input is %d",
				btc(pol.MinSignaturesAbove), pol.MinSignatures, max(least, 0))})
		}
	}
	if len(bs) == 0 {
		return nil, nil
	}
	if pc.override == "" {
		hints := " (pass --override-policy \"REASON\" to go ahead; the override is journaled)"
		return nil, &PolicyError{Rule: bs[0].rule, Err: errors.New(bs[0].why + hints)}
	}
	raw, err := psbt.Serialize(p)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	notes := make([]wallet.JournalNote, len(bs))
	for i, b := range bs {
		notes[i] = wallet.JournalNote{Action: wallet.ActionPolicyOverride, Detail: map[string]any{
			"rule": b.rule, "breach": b.why, "reason": pc.override, "step": step,
			"txid": p.UnsignedTx.TxHash().String(), "psbt_sha256": hex.EncodeToString(sum[:]),
		}}
	}
	return notes, nil
}

// btc prints satoshis as BTC for messages.
func btc(sat int64) string { return fmt.Sprintf("%.8f BTC", btcutil.Amount(sat).ToBTC()) }

// SentLast24h is what the wallet sent in the last 24 hours, and what its
// spends drafted in those hours and not yet sent or abandoned would send
// (inFlight): the daily limit counts both.
func (c *Coordinator) SentLast24h(ctx context.Context, name string) (sent, inFlight int64, err error) {
	w, err := c.Wallet(ctx, name)
	if err != nil {
		return 0, 0, err
	}
	return c.sentSince(ctx, w, c.now().Add(-24*time.Hour), chainhash.Hash{})
}
