package coordinator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// BumpRequest asks to replace a stuck spend (BIP-125): a bump pays the
// same payments at a higher fee rate, a cancel pays everything back to the
// wallet.
type BumpRequest struct {
	Wallet string // "" finds it
	// Ref names the spend: a draft id, its unsigned txid, or the txid it
	// was broadcast as (also a wallet transaction no draft made).
	Ref string
	// FeeRate is the replacement's rate, sat/vB. A bump needs one; for a
	// cancel 0 means the least the replacement rules allow.
	FeeRate float64
	// Reduce, when >= 0, is the output of the original that pays the fee
	// increase: only for a spend without change (a send-all). Otherwise
	// payments are never lowered: the fee comes from change, and a
	// confirmed coin is added when the change is too small.
	Reduce         int
	Cancel         bool
	Note           string
	AllowHighFee   bool
	OverridePolicy string
}

// BumpResult is the replacement, a new draft that needs every signature
// again.
type BumpResult struct {
	Original *Pending
	Draft    *wallet.Draft
	PSBT     *bpsbt.Packet
	Report   *psbt.Report
	Summary  *psbt.BuildSummary
	// OldFee and OldVSize are what the replacement must beat (the
	// original's fee and size, plus the fees of its unconfirmed
	// descendants the wallet knows of); OldSizeEstimated when the
	// original's signed size was not at hand.
	OldFee, OldVSize int64
	OldFeeRate       float64
	OldSizeEstimated bool
	Descendants      int
	// MinFee is the least fee the replacement rules allow at its size.
	MinFee int64
	// Added are the coins added to pay the higher fee.
	Added []wire.OutPoint
}

// Bump builds a replacement for a spend the wallet broadcast: same
// payments, higher fee rate (or, with Cancel, everything back to the
// wallet), meeting the replacement rules (psbt.MinReplacementFee). It
// goes through the gate and the spending policy and is saved as a new
// draft that replaces the original; every cosigner must sign it again.
func (c *Coordinator) Bump(ctx context.Context, req BumpRequest) (*BumpResult, error) {
	return retryStale(ctx, func() (*BumpResult, error) { return c.bumpOnce(ctx, req) })
}

// bumpOnce is one attempt of Bump.
func (c *Coordinator) bumpOnce(ctx context.Context, req BumpRequest) (*BumpResult, error) {
	orig, err := c.originalSpend(ctx, req.Wallet, req.Ref)
	if err != nil {
		return nil, err
	}
	w := orig.Wallet
	switch orig.State {
	case PendingConfirmed:
		return nil, fmt.Errorf("spend %s is confirmed (height %d): %w; there is nothing to replace", short(orig), orig.Height, wallet.ErrInvalid)
	case PendingReplaced:
		return nil, fmt.Errorf("spend %s was replaced by %s: %w; bump that one instead", short(orig), orig.ReplacedBy, wallet.ErrInvalid)
	case PendingAbandoned:
		return nil, fmt.Errorf("spend %s is abandoned: %w", short(orig), wallet.ErrInvalid)
	case PendingDraft, PendingReady:
		return nil, fmt.Errorf("spend %s was never broadcast: %w; nothing is stuck — change it by building a new spend (and abandon this one)", short(orig), wallet.ErrInvalid)
	}
	// The original as the wallet sees it unsigned: a finalized version has
	// lost the derivations that say whose its inputs are.
	p, err := bpsbt.NewFromUnsignedTx(orig.PSBT.UnsignedTx.Copy())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", psbt.ErrMalformed, err)
	}
	src, err := c.updateSource(ctx, w)
	if err != nil {
		return nil, err
	}
	if _, err := psbt.Update(p, w.Info(), src); err != nil {
		return nil, err
	}
	rep, err := psbt.Inspect(p, w.Info())
	if err != nil {
		return nil, err
	}
	if !rep.RBF {
		return nil, fmt.Errorf("spend %s does not signal replaceability (BIP-125: an input sequence below 0xfffffffe): %w; nodes that keep to opt-in RBF, btcd among them, refuse a replacement — pay for it with a child instead: countersign spend %s --cpfp %s",
			short(orig), wallet.ErrInvalid, w.Name, orig.FinalTxID)
	}
	if !rep.FeeKnown {
		return nil, fmt.Errorf("spend %s: the amounts of its inputs are not known, so neither is its fee: %w; run `countersign wallet sync %s`", short(orig), wallet.ErrInvalid, w.Name)
	}
	for i, in := range rep.Inputs {
		if !in.Ours || in.Branch == nil || in.Index == nil {
			return nil, fmt.Errorf("input %d of spend %s (%s) is not the wallet's: %w; countersign replaces only spends of its wallets' own coins", i, short(orig), in.OutPoint, wallet.ErrInvalid)
		}
	}
	res := &BumpResult{Original: orig, OldFee: rep.Fee, OldVSize: rep.VSize, OldSizeEstimated: true}
	if final := c.finalTx(ctx, orig); final != nil {
		res.OldVSize, res.OldSizeEstimated = VSize(final), false
	}
	res.OldFeeRate = float64(res.OldFee) / float64(res.OldVSize)
	hist, err := c.history(ctx, w.Name)
	if err != nil {
		return nil, err
	}
	// Unconfirmed children of the original (a CPFP, a payee spending its
	// output) go with it: their fees are part of what must be beaten.
	if orig.FinalTxID != nil {
		for id, t := range hist.txs {
			if t.Height != 0 || len(t.Raw) == 0 || id == *orig.FinalTxID {
				continue
			}
			tx := &wire.MsgTx{}
			if tx.Deserialize(bytes.NewReader(t.Raw)) != nil {
				continue
			}
			for _, in := range tx.TxIn {
				if in.PreviousOutPoint.Hash == *orig.FinalTxID {
					res.Descendants++
					if t.Fee != nil {
						res.OldFee += *t.Fee
					}
					break
				}
			}
		}
	}

	// The original's coins, with their previous transactions.
	var origCoins []psbt.UTXO
	var origOps []wire.OutPoint
	for i, in := range p.UnsignedTx.TxIn {
		prev := p.Inputs[i].NonWitnessUtxo
		op := in.PreviousOutPoint
		if prev == nil || int(op.Index) >= len(prev.TxOut) {
			return nil, fmt.Errorf("input %d of spend %s: the transaction it spends is not at hand: %w; run `countersign wallet sync %s`", i, short(orig), wallet.ErrInvalid, w.Name)
		}
		origCoins = append(origCoins, psbt.UTXO{OutPoint: op, Value: prev.TxOut[op.Index].Value,
			Branch: *rep.Inputs[i].Branch, Index: *rep.Inputs[i].Index, PrevTx: prev})
		origOps = append(origOps, op)
	}
	// Payments stay as they are; the first change output is where the fee
	// comes from.
	changeOut := -1
	var payments []psbt.Output
	for j, o := range p.UnsignedTx.TxOut {
		if changeOut < 0 && rep.Outputs[j].Kind == psbt.KindChange {
			changeOut = j
			continue
		}
		payments = append(payments, psbt.Output{Script: o.PkScript, Value: o.Value})
	}
	reduce := -1
	if req.Reduce >= 0 {
		switch {
		case req.Cancel:
			return nil, fmt.Errorf("%w: --reduce is for a bump; a cancel pays everything back", wallet.ErrInvalid)
		case req.Reduce >= len(p.UnsignedTx.TxOut):
			return nil, fmt.Errorf("%w: the original has outputs 0 to %d, no output %d", wallet.ErrInvalid, len(p.UnsignedTx.TxOut)-1, req.Reduce)
		case changeOut >= 0:
			return nil, fmt.Errorf("%w: spend %s has change (output %d): the fee comes from there; --reduce is for a spend without change (send-all)", wallet.ErrInvalid, short(orig), changeOut)
		}
		reduce = req.Reduce
		payments[reduce].Value = 0
	}

	// More coins, when the change cannot pay: only confirmed ones (BIP-125
	// rule 2), not the original's own outputs, not a live draft's.
	// The newest draft before reading which coins drafts spend: a draft
	// saved after it makes the store refuse this one (wallet.ErrStale),
	// and the spend is built again with that draft's coins known.
	seen, err := c.Store.NewestDraftSeq(ctx, w.Name)
	if err != nil {
		return nil, err
	}
	live, err := c.liveSpends(ctx, w, orig.TxID)
	if err != nil {
		return nil, err
	}
	spendable, err := c.spendableCoins(ctx, w.Name)
	if err != nil {
		return nil, err
	}
	// A coin added to a spend by a miniscript wallet's relative-locked
	// path carries the same nSequence, so its lock must have opened too:
	// as old as the lock in blocks (BIP-68), or, for a lock counted in
	// time, opened by the tip's median time past (see locktime.go).
	minConf := 1
	opened := func(psbt.UTXO) (bool, error) { return true, nil }
	if seq := p.UnsignedTx.TxIn[0].Sequence; w.Descriptor.IsMiniscript() && seq < psbt.SequenceRBF && seq&seqDisable == 0 {
		if seq&seqTypeFlag != 0 {
			if opened, err = c.timeLockOpened(ctx, w, seq); err != nil {
				return nil, err
			}
		} else {
			minConf = max(minConf, int(seq&seqMask))
		}
	}
	coins := append([]psbt.UTXO(nil), origCoins...)
	for _, u := range spendable {
		_, busy := live[u.OutPoint]
		mine := u.OutPoint.Hash == orig.TxID || (orig.FinalTxID != nil && u.OutPoint.Hash == *orig.FinalTxID)
		if int(u.Confirmations) < minConf || busy || mine || containsOutPoint(origOps, u.OutPoint) {
			continue
		}
		ok, err := opened(u)
		if err != nil {
			return nil, err
		}
		if ok {
			coins = append(coins, u)
		}
	}

	tip, _, _, err := c.tipAndFeeRate(ctx, w, 1, 1)
	if err != nil {
		return nil, err
	}
	rules, err := c.rules(ctx, w)
	if err != nil {
		return nil, err
	}
	rules.AllowHighFee = req.AllowHighFee
	pol, err := c.loadPolicy(ctx, w, orig.TxID, GateOptions{OverridePolicy: req.OverridePolicy})
	if err != nil {
		return nil, err
	}
	step, kind := StepBump, wallet.KindBump
	if req.Cancel {
		step, kind = StepCancel, wallet.KindCancel
	}
	auto := req.FeeRate == 0
	if auto && !req.Cancel {
		return nil, fmt.Errorf("%w: a bump needs --fee-rate", wallet.ErrInvalid)
	}
	var origChange *psbt.OutputReport
	if changeOut >= 0 {
		origChange = &rep.Outputs[changeOut]
	}

	draft, err := c.Store.CreateDraft(ctx, w.Name, func(next uint32) (*wallet.Draft, bool, error) {
		// The policy is read again here, under the store's write lock:
		// what the wallet sent or has in flight cannot change until this
		// draft is saved, so two operators drafting at once on a shared
		// store cannot both fit under the daily limit the pair exceeds.
		var err error
		if pol, err = c.loadPolicy(ctx, w, orig.TxID, GateOptions{OverridePolicy: req.OverridePolicy}); err != nil {
			return nil, false, err
		}
		changeIndex, reuse := next, origChange != nil
		if reuse {
			changeIndex = *origChange.Index
		}
		breq := psbt.BuildRequest{
			Wallet: w.Info(), UTXOs: coins, PrevTxs: c.prevTxs(ctx, w.Name), Preselected: origOps, LockTime: uint32(max(tip, 0)),
			ChangeBranch: 1, ChangeIndex: changeIndex, AllowHighFee: req.AllowHighFee, MinConfirmations: 1,
		}
		// A spend by a miniscript wallet's locked path keeps the lock
		// values it was built with, or the replacement could only be
		// spent by the primary path.
		if w.Descriptor.IsMiniscript() {
			if seq := p.UnsignedTx.TxIn[0].Sequence; seq < psbt.SequenceRBF {
				breq.Sequence = seq
			}
			breq.LockTime = max(breq.LockTime, p.UnsignedTx.LockTime)
		}
		switch {
		case req.Cancel:
			d, err := w.Descriptor.Derive(1, changeIndex, w.Network)
			if err != nil {
				return nil, false, err
			}
			breq.UTXOs, breq.SendAll, breq.Outputs = origCoins, true, []psbt.Output{{Address: d.Address}}
		case reduce >= 0:
			breq.UTXOs, breq.SendAll, breq.Outputs = origCoins, true, payments
		default:
			breq.Outputs, breq.AddInputs = payments, true
		}
		rate := req.FeeRate
		if auto {
			rate = res.OldFeeRate + psbt.IncrementalRelayFee
		}
		var built *bpsbt.Packet
		var sum *psbt.BuildSummary
		for attempt := 0; ; attempt++ {
			breq.FeeRate = rateFor(rate)
			var err error
			if built, sum, err = psbt.Build(breq); err != nil {
				return nil, false, err
			}
			res.MinFee = psbt.MinReplacementFee(res.OldFee, res.OldVSize, sum.VSize)
			if sum.Fee >= res.MinFee {
				break
			}
			need := float64(res.MinFee) / float64(sum.VSize)
			if !auto || attempt == 4 {
				return nil, false, fmt.Errorf("%w: the replacement must pay at least %d sat (%.3f sat/vB at %d vB): the original pays %d sat at %.2f sat/vB%s, and a replacement adds %d sat/vB of its own size (BIP-125 rules 3 and 4); ask for --fee-rate %.2f or more",
					wallet.ErrInvalid, res.MinFee, need, sum.VSize, res.OldFee, res.OldFeeRate, descendantsNote(res.Descendants), psbt.IncrementalRelayFee, ceil2(need))
			}
			rate = need
		}
		// The replacement's own outputs to the wallet (a cancel's, a
		// payment to itself) get their derivations, so every step sees
		// them as the wallet's.
		if _, err := psbt.Update(built, w.Info(), src); err != nil {
			return nil, false, err
		}
		r, err := psbt.Gate(built, w.Info(), rules)
		if err != nil {
			return nil, false, err
		}
		notes, err := pol.check(step, built, r)
		if err != nil {
			return nil, false, err
		}
		raw, err := psbt.Serialize(built)
		if err != nil {
			return nil, false, err
		}
		res.PSBT, res.Summary, res.Report = built, sum, r
		related := orig.TxID
		used := !reuse && (req.Cancel || sum.ChangeUsed)
		return &wallet.Draft{TxID: built.UnsignedTx.TxHash(), PSBT: raw, Note: req.Note, Kind: kind, Related: &related, SeenUpTo: &seen,
			Event: &wallet.DraftEvent{Step: step, Notes: notes}}, used, nil
	})
	if err != nil {
		return nil, err
	}
	res.Draft = draft
	for _, op := range res.Summary.Inputs {
		if !containsOutPoint(origOps, op) {
			res.Added = append(res.Added, op)
		}
	}
	label := req.Note
	if label == "" && orig.Label != "" {
		label = orig.Label
		if req.Cancel {
			label = "cancelled: " + orig.Label
		}
	}
	if err := c.noteLabel(ctx, w, draft.TxID, label); err != nil {
		return nil, fmt.Errorf("draft %s saved, but its label was not: %w", draft.ID[:12], err)
	}
	return res, nil
}

func descendantsNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" with its %d unconfirmed descendant(s)", n)
}

// rateFor rounds a fee rate up to the 0.001 sat/vB the builder works in.
func rateFor(r float64) float64 {
	k := int64(r * 1000)
	if float64(k) < r*1000 {
		k++
	}
	return float64(max(k, 1000)) / 1000
}

func ceil2(r float64) float64 {
	k := int64(r * 100)
	if float64(k) < r*100 {
		k++
	}
	return float64(k) / 100
}

func containsOutPoint(ops []wire.OutPoint, op wire.OutPoint) bool {
	for _, o := range ops {
		if o == op {
			return true
		}
	}
	return false
}

func short(p *Pending) string {
	if p.ID != "" {
		return p.ID[:12]
	}
	if p.FinalTxID != nil {
		return p.FinalTxID.String()
	}
	return p.TxID.String()
}

// originalSpend finds the spend ref names: a stored spend, else a
// transaction in a wallet's history that spends its coins (sent by another
// tool), taken as a broadcast spend.
func (c *Coordinator) originalSpend(ctx context.Context, walletName, ref string) (*Pending, error) {
	p, err := c.PendingSpend(ctx, walletName, ref)
	if err == nil || !errors.Is(err, wallet.ErrNotFound) {
		return p, err
	}
	id, perr := chainhash.NewHashFromStr(strings.TrimSpace(ref))
	if perr != nil || len(strings.TrimSpace(ref)) != 64 {
		return nil, err
	}
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
	for _, n := range names {
		txs, err := c.Store.Transactions(ctx, n)
		if err != nil {
			return nil, err
		}
		for _, t := range txs {
			if t.TxID != *id || len(t.Raw) == 0 {
				continue
			}
			w, err := c.Wallet(ctx, n)
			if err != nil {
				return nil, err
			}
			return c.spendFromTx(ctx, w, t)
		}
	}
	return nil, err
}

// spendFromTx takes a wallet transaction no draft made as a spend: its
// unsigned form completed from the wallet.
func (c *Coordinator) spendFromTx(ctx context.Context, w *Wallet, t wallet.Tx) (*Pending, error) {
	tx := &wire.MsgTx{}
	if err := tx.Deserialize(bytes.NewReader(t.Raw)); err != nil {
		return nil, fmt.Errorf("stored transaction %s does not decode: %w", t.TxID, err)
	}
	bare := tx.Copy()
	for _, in := range bare.TxIn {
		in.SignatureScript, in.Witness = nil, nil
	}
	p, err := bpsbt.NewFromUnsignedTx(bare)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", psbt.ErrMalformed, err)
	}
	if _, err := c.update(ctx, w, p); err != nil {
		return nil, err
	}
	rep, err := psbt.Inspect(p, w.Info())
	if err != nil {
		return nil, err
	}
	final := t.TxID
	st := &Pending{Wallet: w, PSBT: p, Report: rep, TxID: bare.TxHash(), FinalTxID: &final, Kind: wallet.KindSpend,
		State: PendingBroadcast, Height: t.Height, Created: t.SeenAt, N: w.N}
	if t.Height > 0 {
		st.State = PendingConfirmed
	}
	st.rawFinal = tx
	return st, nil
}

// finalTx is the signed transaction of a broadcast spend, when the store
// has it: in the wallet's history, in a finalized version, or (for a spend
// taken from the history) as read.
func (c *Coordinator) finalTx(ctx context.Context, p *Pending) *wire.MsgTx {
	if p.rawFinal != nil {
		return p.rawFinal
	}
	if p.FinalTxID != nil {
		if t, ok := c.inHistory(ctx, p); ok && len(t.Raw) > 0 && t.TxID == *p.FinalTxID {
			tx := &wire.MsgTx{}
			if tx.Deserialize(bytes.NewReader(t.Raw)) == nil {
				return tx
			}
		}
	}
	// Newest finalized version first.
	vs := append([]*wallet.Draft(nil), p.Versions...)
	sort.Slice(vs, func(i, j int) bool { return vs[i].Seq > vs[j].Seq })
	for _, v := range vs {
		if v.State != wallet.StateFinalized && v.State != wallet.StateBroadcast {
			continue
		}
		q, err := psbt.Decode(v.PSBT)
		if err != nil || !finalizedAny(q) {
			continue
		}
		if tx, err := bpsbt.Extract(q); err == nil {
			return tx
		}
	}
	return nil
}
