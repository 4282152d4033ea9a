package coordinator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// The states of a pending spend, as `psbt list` shows them. Only draft,
// signed, finalized and broadcast are stored (wallet.DraftState); the
// others follow from the wallet's history and the other spends.
const (
	PendingDraft     = "draft"     // needs more signatures
	PendingReady     = "ready"     // enough signatures: finalize and broadcast
	PendingBroadcast = "broadcast" // sent, not yet in a block
	PendingConfirmed = "confirmed" // its transaction is in a block
	PendingReplaced  = "replaced"  // another transaction spends its coins
	PendingAbandoned = "abandoned" // psbt abandon
)

// Pending is one spend: every stored version of one unsigned transaction
// (unsigned, signed by some, finalized), as one entry.
type Pending struct {
	// ID is the draft id of the first version (what spend printed);
	// Versions are all of them, oldest first, Current the newest (which
	// holds every signature collected: see saveDraft).
	ID       string
	Wallet   *Wallet
	Versions []*wallet.Draft
	Current  *wallet.Draft
	PSBT     *bpsbt.Packet
	Report   *psbt.Report

	TxID      chainhash.Hash  // the unsigned transaction's
	FinalTxID *chainhash.Hash // once broadcast (or seen in the wallet's history)
	Kind      wallet.DraftKind
	// Related is the spend a bump or cancel replaces, or the parent a
	// CPFP child pays for.
	Related *chainhash.Hash
	// ReplacedBy is the transaction that spends this spend's coins
	// instead, when known.
	ReplacedBy *chainhash.Hash

	State       string
	Created     time.Time
	BroadcastAt time.Time
	Height      int32 // block height once confirmed

	// Signatures is the fewest valid signatures on any input (a finalized
	// input counts as complete), Required the wallet's threshold, N its
	// number of cosigners. Signed are the cosigners who signed every
	// input; Missing those still missing from some input.
	Signatures, Required, N int
	Signed, Missing         []psbt.Cosigner

	Label string // the transaction's label, else the draft's note
	Note  string

	// rawFinal is the signed transaction of a spend taken from the
	// wallet's history (no draft made it).
	rawFinal *wire.MsgTx
}

// live reports whether the spend may still be signed and sent: not yet
// broadcast, confirmed, replaced or abandoned.
func (p *Pending) live() bool { return p.State == PendingDraft || p.State == PendingReady }

// Inputs are the coins the spend spends.
func (p *Pending) Inputs() []wire.OutPoint {
	out := make([]wire.OutPoint, len(p.PSBT.UnsignedTx.TxIn))
	for i, in := range p.PSBT.UnsignedTx.TxIn {
		out[i] = in.PreviousOutPoint
	}
	return out
}

// PendingSpends lists the spends of the wallet called walletName (every
// wallet when ""), oldest first, with their state.
func (c *Coordinator) PendingSpends(ctx context.Context, walletName string) ([]*Pending, error) {
	var names []string
	if walletName != "" {
		names = []string{walletName}
	} else {
		ws, err := c.Store.Wallets(ctx)
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			names = append(names, w.Name)
		}
	}
	var out []*Pending
	for _, n := range names {
		w, err := c.Wallet(ctx, n)
		if err != nil {
			return nil, err
		}
		ps, err := c.pendingOf(ctx, w)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// PendingSpend finds one spend by the id of any of its versions (at least
// 8 hex digits), its unsigned txid or the txid it was broadcast as, in the
// wallet called walletName or, when "", in any wallet.
func (c *Coordinator) PendingSpend(ctx context.Context, walletName, ref string) (*Pending, error) {
	ref = strings.ToLower(strings.TrimSpace(ref))
	if len(ref) < 8 || len(ref) > 64 || !isHex(ref) {
		return nil, fmt.Errorf("%q: %w: give a draft id (at least 8 hex digits) or a txid", ref, wallet.ErrInvalid)
	}
	ps, err := c.PendingSpends(ctx, walletName)
	if err != nil {
		return nil, err
	}
	var found []*Pending
	for _, p := range ps {
		if p.matches(ref) {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no draft or spend %s: %w (see `countersign psbt list`)", ref, wallet.ErrNotFound)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("%s matches %d spends: %w; give more digits", ref, len(found), wallet.ErrInvalid)
}

func (p *Pending) matches(ref string) bool {
	if len(ref) == 64 {
		return p.TxID.String() == ref || (p.FinalTxID != nil && p.FinalTxID.String() == ref) || p.hasVersion(ref)
	}
	return p.hasVersion(ref)
}

func (p *Pending) hasVersion(prefix string) bool {
	for _, v := range p.Versions {
		if strings.HasPrefix(v.ID, prefix) {
			return true
		}
	}
	return false
}

func isHex(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

// historyView is the wallet's stored transactions as pendingOf reads them.
type historyView struct {
	txs     map[chainhash.Hash]wallet.Tx
	spentBy map[wire.OutPoint]chainhash.Hash
}

func (c *Coordinator) history(ctx context.Context, name string) (*historyView, error) {
	txs, err := c.Store.Transactions(ctx, name)
	if err != nil {
		return nil, err
	}
	h := &historyView{txs: make(map[chainhash.Hash]wallet.Tx, len(txs)), spentBy: map[wire.OutPoint]chainhash.Hash{}}
	for _, t := range txs {
		h.txs[t.TxID] = t
		if len(t.Raw) == 0 {
			continue
		}
		tx := &wire.MsgTx{}
		if tx.Deserialize(bytes.NewReader(t.Raw)) != nil {
			continue // doctor reports it
		}
		for _, in := range tx.TxIn {
			h.spentBy[in.PreviousOutPoint] = t.TxID
		}
	}
	return h, nil
}

// pendingOf groups the wallet's drafts by unsigned txid and works out each
// spend's state from its versions, the wallet's history and the other
// spends.
func (c *Coordinator) pendingOf(ctx context.Context, w *Wallet) ([]*Pending, error) {
	return c.pendingStates(ctx, w, true)
}

// pendingStates is pendingOf; without inspect it leaves out each spend's
// Report and signature counts (it then tells a draft from one ready to
// finalize only by a finalized version): what a step that only needs to
// know which spends are still live wants, without inspecting (and
// verifying the signatures of) every draft the wallet ever had.
func (c *Coordinator) pendingStates(ctx context.Context, w *Wallet, inspect bool) ([]*Pending, error) {
	drafts, err := c.Store.Drafts(ctx, w.Name)
	if err != nil {
		return nil, err
	}
	if len(drafts) == 0 {
		return nil, nil
	}
	hist, err := c.history(ctx, w.Name)
	if err != nil {
		return nil, err
	}
	labels, err := c.labelIndex(ctx, w.Name)
	if err != nil {
		return nil, err
	}
	byTx := map[chainhash.Hash]*Pending{}
	var out []*Pending
	for _, d := range drafts {
		p := byTx[d.TxID]
		if p == nil {
			p = &Pending{ID: d.ID, Wallet: w, TxID: d.TxID, Kind: wallet.KindSpend, Created: d.CreatedAt, N: w.N}
			byTx[d.TxID] = p
			out = append(out, p)
		}
		p.Versions = append(p.Versions, d)
		if p.Current == nil || d.Seq > p.Current.Seq {
			p.Current = d
		}
		if d.BroadcastTxID != nil {
			p.FinalTxID, p.BroadcastAt = d.BroadcastTxID, d.BroadcastAt
		}
		if d.Kind != "" && d.Kind != wallet.KindSpend {
			p.Kind = d.Kind
		}
		if d.Related != nil {
			p.Related = d.Related
		}
		if d.Note != "" && p.Note == "" {
			p.Note = d.Note
		}
	}
	for _, p := range out {
		if p.PSBT, err = psbt.Decode(p.Current.PSBT); err != nil {
			return nil, fmt.Errorf("draft %s: %w", p.Current.ID, err)
		}
		if inspect {
			if p.Report, err = psbt.Inspect(p.PSBT, w.Info()); err != nil {
				return nil, fmt.Errorf("draft %s: %w", p.Current.ID, err)
			}
			if err := p.countSignatures(w); err != nil {
				return nil, err
			}
		}
		// A segwit spend's txid does not change when it is signed: a sync
		// may have seen it sent by another tool.
		if _, ok := hist.txs[p.TxID]; ok && p.FinalTxID == nil {
			id := p.TxID
			p.FinalTxID = &id
		}
		p.Label = labels.tx(p.TxID)
		if p.FinalTxID != nil && p.Label == "" {
			p.Label = labels.tx(*p.FinalTxID)
		}
		if p.Label == "" {
			p.Label = p.Note
		}
	}
	for _, p := range out {
		p.State = p.state(out, hist)
	}
	return out, nil
}

// countSignatures fills Signatures, Required, Signed and Missing from the
// newest version whose inputs are not finalized (finalizing drops the
// partial signatures, and with them who signed).
func (p *Pending) countSignatures(w *Wallet) error {
	r := p.Report
	if finalizedAny(p.PSBT) {
		var signed *wallet.Draft
		for _, v := range p.Versions {
			if v.State == wallet.StateSigned && (signed == nil || v.Seq > signed.Seq) {
				signed = v
			}
		}
		if signed != nil {
			q, err := psbt.Decode(signed.PSBT)
			if err != nil {
				return fmt.Errorf("draft %s: %w", signed.ID, err)
			}
			if r, err = psbt.Inspect(q, w.Info()); err != nil {
				return fmt.Errorf("draft %s: %w", signed.ID, err)
			}
		}
	}
	defer func() {
		if p.Required == 0 {
			p.Required = w.Threshold
		}
	}()
	p.Signatures = -1
	signedAll := map[string]psbt.Cosigner{}
	missing := map[string]psbt.Cosigner{}
	for i, in := range r.Inputs {
		p.Required = max(p.Required, in.Required)
		n := len(in.Signatures)
		if in.Finalized {
			n = max(in.Required, n, w.Threshold) // a final script holds the threshold
		}
		if p.Signatures < 0 || n < p.Signatures {
			p.Signatures = n
		}
		here := map[string]psbt.Cosigner{}
		for _, s := range in.Signatures {
			here[cosignerKey(s)] = s
		}
		if i == 0 {
			signedAll = here
		} else {
			for k := range signedAll {
				if _, ok := here[k]; !ok {
					delete(signedAll, k)
				}
			}
		}
		if !in.Finalized && in.Missing > 0 {
			for _, s := range in.NotSigned {
				missing[cosignerKey(s)] = s
			}
		}
	}
	if p.Signatures < 0 {
		p.Signatures = 0
	}
	p.Signed = sortedCosigners(signedAll)
	p.Missing = sortedCosigners(missing)
	return nil
}

func cosignerKey(s psbt.Cosigner) string {
	if s.Fingerprint != "" {
		return s.Fingerprint
	}
	return s.PubKey
}

func sortedCosigners(m map[string]psbt.Cosigner) []psbt.Cosigner {
	out := make([]psbt.Cosigner, 0, len(m))
	for _, s := range m {
		s.Sighash = ""
		s.PubKey = "" // per input; the fingerprint and label name the cosigner
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Fingerprint < out[j].Fingerprint })
	return out
}

// state decides p's state: confirmed, replaced (a confirmed or newer
// transaction spends one of its coins), broadcast, abandoned, ready or
// draft, in that order.
func (p *Pending) state(all []*Pending, hist *historyView) string {
	own := map[chainhash.Hash]bool{p.TxID: true}
	if p.FinalTxID != nil {
		own[*p.FinalTxID] = true
	}
	inHistory := false
	for id := range own {
		if t, ok := hist.txs[id]; ok {
			inHistory = true
			if t.Height > 0 {
				p.Height = t.Height
				return PendingConfirmed
			}
		}
	}
	// A bump or cancel shares its coins with the spends it replaces: while
	// they are unconfirmed, they do not replace it.
	replaces := p.replaces(all)
	for _, op := range p.Inputs() {
		spender, ok := hist.spentBy[op]
		if !ok || own[spender] {
			continue
		}
		t := hist.txs[spender]
		if replaces[spender] && t.Height == 0 {
			continue
		}
		if t.Height > 0 || !inHistory {
			p.ReplacedBy = &spender
			return PendingReplaced
		}
	}
	// Another spend of ours, sent after this one (or this one never
	// was), spends one of its coins.
	mine := map[wire.OutPoint]bool{}
	for _, op := range p.Inputs() {
		mine[op] = true
	}
	for _, q := range all {
		if q == p || q.FinalTxID == nil || !q.Current.AbandonedAt.IsZero() || replaces[q.TxID] {
			continue
		}
		if p.FinalTxID != nil && !q.BroadcastAt.After(p.BroadcastAt) {
			continue
		}
		for _, op := range q.Inputs() {
			if mine[op] {
				p.ReplacedBy = q.FinalTxID
				return PendingReplaced
			}
		}
	}
	switch {
	case inHistory:
		return PendingBroadcast
	case !p.Current.AbandonedAt.IsZero():
		return PendingAbandoned
	case p.FinalTxID != nil:
		return PendingBroadcast
	case p.Current.State == wallet.StateFinalized || p.Report != nil && p.Report.ReadyToFinalize:
		return PendingReady
	}
	return PendingDraft
}

// replaces is the set of txids (unsigned and final) of the spends p
// replaces, directly or through earlier replacements: a bump of a bump
// replaces the first spend too.
func (p *Pending) replaces(all []*Pending) map[chainhash.Hash]bool {
	out := map[chainhash.Hash]bool{}
	cur := p
	for i := 0; i < len(all) && cur.Related != nil && (cur.Kind == wallet.KindBump || cur.Kind == wallet.KindCancel); i++ {
		out[*cur.Related] = true
		var next *Pending
		for _, q := range all {
			if q.TxID == *cur.Related {
				next = q
			}
		}
		if next == nil {
			break
		}
		if next.FinalTxID != nil {
			out[*next.FinalTxID] = true
		}
		cur = next
	}
	return out
}

// Abandon marks a spend that was never sent (or that the network dropped:
// not in the wallet's history after a sync later than its broadcast) as
// abandoned; its coins are then free for new spends.
func (c *Coordinator) Abandon(ctx context.Context, walletName, ref string) (*Pending, error) {
	p, err := c.PendingSpend(ctx, walletName, ref)
	if err != nil {
		return nil, err
	}
	switch p.State {
	case PendingConfirmed:
		return nil, fmt.Errorf("spend %s is confirmed (height %d): %w; nothing to abandon", p.ID[:12], p.Height, wallet.ErrInvalid)
	case PendingAbandoned:
		return nil, fmt.Errorf("spend %s is abandoned already: %w", p.ID[:12], wallet.ErrInvalid)
	case PendingBroadcast:
		st, err := c.Store.ScanState(ctx, p.Wallet.Name)
		if err != nil {
			return nil, err
		}
		if _, seen := c.inHistory(ctx, p); seen || !st.SyncedAt.After(p.BroadcastAt) {
			return nil, fmt.Errorf("spend %s was broadcast and may still confirm: %w; replace it with `countersign psbt cancel %s`, or, if the network dropped it, run `countersign wallet sync %s` and abandon it then",
				p.ID[:12], wallet.ErrInvalid, p.FinalTxID, p.Wallet.Name)
		}
	}
	if err := c.Store.AbandonDraft(ctx, p.Wallet.Name, p.TxID); err != nil {
		return nil, err
	}
	return c.PendingSpend(ctx, p.Wallet.Name, p.TxID.String())
}

// inHistory reports whether the wallet's history holds p's transaction.
func (c *Coordinator) inHistory(ctx context.Context, p *Pending) (wallet.Tx, bool) {
	txs, err := c.Store.Transactions(ctx, p.Wallet.Name)
	if err != nil {
		return wallet.Tx{}, false
	}
	for _, t := range txs {
		if t.TxID == p.TxID || (p.FinalTxID != nil && t.TxID == *p.FinalTxID) {
			return t, true
		}
	}
	return wallet.Tx{}, false
}

// liveSpends maps each coin a live spend (draft or ready) of the wallet
// spends to that spend, leaving out the spends in skip.
func (c *Coordinator) liveSpends(ctx context.Context, w *Wallet, skip ...chainhash.Hash) (map[wire.OutPoint]*Pending, error) {
	ps, err := c.pendingStates(ctx, w, false)
	if err != nil {
		return nil, err
	}
	out := map[wire.OutPoint]*Pending{}
	for _, p := range ps {
		if !p.live() || containsHash(skip, p.TxID) {
			continue
		}
		for _, op := range p.Inputs() {
			if _, dup := out[op]; !dup {
				out[op] = p
			}
		}
	}
	return out, nil
}

// retryStale runs one attempt of a workflow that saves a draft again while
// the store answers wallet.ErrStale: another process saved a draft while
// this one was built, so the coins that draft spends were not known. Each
// attempt reads the store afresh. Every retry means another draft was
// saved meanwhile, so attempts only repeat while others make progress;
// the bound is for a store that answers ErrStale wrongly.
func retryStale[T any](ctx context.Context, attempt func() (T, error)) (T, error) {
	for i := 0; ; i++ {
		out, err := attempt()
		if !errors.Is(err, wallet.ErrStale) || i == 49 || ctx.Err() != nil {
			return out, err
		}
	}
}

func containsHash(hs []chainhash.Hash, h chainhash.Hash) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}

// saveDraft records a PSBT version in the store; saving the same bytes
// twice is harmless. A version of a spend the store already holds is
// merged with the newest stored version first (every signature verified),
// so that the newest version always holds every signature collected, in
// whatever files they came: `psbt show` gives it. It keeps the spend's
// kind and what it replaces.
func (c *Coordinator) saveDraft(ctx context.Context, w *Wallet, p *bpsbt.Packet, state wallet.DraftState, ev *wallet.DraftEvent) (*wallet.Draft, error) {
	return c.saveDraftSigned(ctx, w, p, state, ev, nil)
}

// saveDraftSigned is saveDraft that also names, in ev.Signers, the
// cosigners whose signatures after (p's report) has and the newest stored
// version did not: that version is read and decoded for the merge anyway.
// A nil after leaves ev.Signers as it is.
func (c *Coordinator) saveDraftSigned(ctx context.Context, w *Wallet, p *bpsbt.Packet, state wallet.DraftState, ev *wallet.DraftEvent, after *psbt.Report) (*wallet.Draft, error) {
	txid := p.UnsignedTx.TxHash()
	// Kind and Related come from the spend's first versions.
	drafts, err := c.Store.SpendDraftRecords(ctx, w.Name, txid)
	if err != nil {
		return nil, err
	}
	d := &wallet.Draft{TxID: txid, State: state, Event: ev}
	for _, v := range drafts {
		if v.TxID != txid {
			continue
		}
		if v.Kind != "" && v.Kind != wallet.KindSpend {
			d.Kind = v.Kind
		}
		if v.Related != nil {
			d.Related = v.Related
		}
	}
	// The merge with the newest stored version runs inside the store's
	// write transaction (MergeDraft): operators signing the same spend at
	// once on a shared store each merge into what the other saved, so no
	// signature drops out of the newest version.
	return c.Store.MergeDraft(ctx, w.Name, txid, func(newest *wallet.Draft) (*wallet.Draft, error) {
		out := p
		var prev *bpsbt.Packet
		if newest != nil && (after != nil || state != wallet.StateFinalized) {
			if q, err := psbt.Decode(newest.PSBT); err == nil {
				prev = q
			}
		}
		if prev != nil && state != wallet.StateFinalized && finalizedAll(prev) {
			// The spend is finalized already: that version holds every
			// signature a later, partial step could bring (a combine of
			// older copies), and it stays the newest. Its own bytes are a
			// save of the same version: no new version, no journal entry.
			save := *d
			save.PSBT, save.State = newest.PSBT, newest.State
			return &save, nil
		}
		if after != nil && d.Event != nil {
			var before *psbt.Report
			if prev != nil {
				if r, err := psbt.Inspect(prev, w.Info()); err == nil {
					before = r
				}
			}
			d.Event.Signers = newSigners(before, after)
		}
		if prev != nil && state != wallet.StateFinalized && !finalizedAny(prev) {
			// A copy that cannot be merged (another tool's records the
			// wallet cannot decide on) is saved as it came.
			if merged, _, err := psbt.CombineReport([]*bpsbt.Packet{p, prev}, w.Info()); err == nil {
				out = merged
			}
		}
		save := *d
		var err error
		if save.PSBT, err = psbt.Serialize(out); err != nil {
			return nil, err
		}
		return &save, nil
	})
}

// finalizedAll is true when every input of p is finalized.
func finalizedAll(p *bpsbt.Packet) bool {
	for _, in := range p.Inputs {
		if len(in.FinalScriptSig) == 0 && len(in.FinalScriptWitness) == 0 {
			return false
		}
	}
	return len(p.Inputs) > 0
}

func finalizedAny(p *bpsbt.Packet) bool {
	for _, in := range p.Inputs {
		if len(in.FinalScriptSig) > 0 || len(in.FinalScriptWitness) > 0 {
			return true
		}
	}
	return false
}

// newSigners lists the fingerprints that sign in after but not in before.
func newSigners(before, after *psbt.Report) []string {
	had := map[string]bool{}
	if before != nil {
		for _, in := range before.Inputs {
			for _, s := range in.Signatures {
				had[cosignerKey(s)] = true
			}
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, in := range after.Inputs {
		for _, s := range in.Signatures {
			k := cosignerKey(s)
			if !had[k] && !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// latestVersion is the report of the newest stored version of the spend
// txid, nil when none is stored.
func (c *Coordinator) latestVersion(ctx context.Context, w *Wallet, txid chainhash.Hash) (*psbt.Report, error) {
	drafts, err := c.Store.SpendDrafts(ctx, w.Name, txid)
	if err != nil {
		return nil, err
	}
	var newest *wallet.Draft
	for _, d := range drafts {
		if d.TxID == txid && (newest == nil || d.Seq > newest.Seq) {
			newest = d
		}
	}
	if newest == nil {
		return nil, nil
	}
	p, err := psbt.Decode(newest.PSBT)
	if err != nil {
		return nil, err
	}
	return psbt.Inspect(p, w.Info())
}
