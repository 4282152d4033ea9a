package coordinator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// CPFPRequest asks for a child that pays for a stuck parent: it spends the
// wallet's outputs of the parent back to the wallet, with a fee that lifts
// the pair to FeeRate.
type CPFPRequest struct {
	Wallet string
	// Parent is the stuck transaction's txid (or a draft id of the
	// wallet's spend that sent it).
	Parent         string
	FeeRate        float64 // the package rate wanted, sat/vB
	Note           string
	AllowHighFee   bool
	OverridePolicy string
}

// CPFPResult is the child, a new draft to sign.
type CPFPResult struct {
	Draft   *wallet.Draft
	PSBT    *bpsbt.Packet
	Report  *psbt.Report
	Summary *psbt.BuildSummary
	Parent  chainhash.Hash
	// ParentFee and ParentVSize are the parent's; the package rate is
	// (ParentFee + child fee) / (ParentVSize + child vsize), with the
	// child's size estimated with worst-case signatures (the real one is
	// no larger, so the real rate is no lower).
	ParentFee, ParentVSize int64
	// Ancestors are the parent's own unconfirmed ancestors that the
	// wallet knows (its stored transactions still unconfirmed) and whose
	// own rate is below the target: a miner takes the child only with
	// them, so the child pays for them too. AncestorFee and AncestorVSize
	// are their sums; PackageRate counts them.
	Ancestors                  []chainhash.Hash
	AncestorFee, AncestorVSize int64
	PackageRate                float64
	// Added are confirmed coins added because the parent's outputs alone
	// could not pay the child's fee.
	Added []wire.OutPoint
}

// ChildPaysForParent builds a CPFP child: it spends every output of the
// parent that pays the wallet (and confirmed coins when those are too
// small) to the wallet's next change address, with the fee that makes
// (parent fee + child fee) / (parent vsize + child vsize) at least
// FeeRate, counting the parent's unconfirmed ancestors that the wallet
// knows and that pay less than FeeRate themselves (see unconfirmedAncestors).
// The child goes through the gate and the spending policy and is saved as
// a draft.
func (c *Coordinator) ChildPaysForParent(ctx context.Context, req CPFPRequest) (*CPFPResult, error) {
	return retryStale(ctx, func() (*CPFPResult, error) { return c.cpfpOnce(ctx, req) })
}

// cpfpOnce is one attempt of ChildPaysForParent.
func (c *Coordinator) cpfpOnce(ctx context.Context, req CPFPRequest) (*CPFPResult, error) {
	w, err := c.Wallet(ctx, req.Wallet)
	if err != nil {
		return nil, err
	}
	if req.FeeRate <= 0 {
		return nil, fmt.Errorf("%w: a child needs the package fee rate to reach: --fee-rate", wallet.ErrInvalid)
	}
	// The wallet's transactions, read once: the parent may be one of
	// them, and its unconfirmed ancestors are.
	stored, err := c.Store.Transactions(ctx, w.Name)
	if err != nil {
		return nil, err
	}
	parent, err := c.parentTx(ctx, w, req.Parent, stored)
	if err != nil {
		return nil, err
	}
	pid := parent.TxHash()
	res := &CPFPResult{Parent: pid, ParentVSize: VSize(parent)}
	src, err := c.updateSource(ctx, w)
	if err != nil {
		return nil, err
	}
	// The parent's fee: what its inputs spend less what it pays.
	var in int64
	for _, txin := range parent.TxIn {
		prev := src.PrevTx(txin.PreviousOutPoint.Hash)
		if prev == nil || int(txin.PreviousOutPoint.Index) >= len(prev.TxOut) {
			return nil, fmt.Errorf("the parent's input %s: its previous transaction is not at hand, so the parent's fee is unknown: %w; configure a backend or run `countersign wallet sync %s`",
				txin.PreviousOutPoint, wallet.ErrInvalid, w.Name)
		}
		in += prev.TxOut[txin.PreviousOutPoint.Index].Value
	}
	var outSum int64
	for _, o := range parent.TxOut {
		outSum += o.Value
	}
	res.ParentFee = in - outSum
	if res.ParentFee < 0 {
		return nil, fmt.Errorf("%w: the parent pays out more than it spends", wallet.ErrInvalid)
	}
	unconfirmedAncestors(stored, parent, src, req.FeeRate, res)

	// The newest draft before reading which coins drafts spend: a draft
	// saved after it makes the store refuse this one (wallet.ErrStale),
	// and the spend is built again with that draft's coins known.
	seen, err := c.Store.NewestDraftSeq(ctx, w.Name)
	if err != nil {
		return nil, err
	}
	live, err := c.liveSpends(ctx, w)
	if err != nil {
		return nil, err
	}
	var parentCoins []psbt.UTXO
	for i, o := range parent.TxOut {
		branch, index, ok := src.Locate(o.PkScript)
		if !ok {
			continue
		}
		op := wire.OutPoint{Hash: pid, Index: uint32(i)}
		if d, busy := live[op]; busy {
			return nil, fmt.Errorf("the parent's output %s is spent by draft %s already: %w; abandon that draft first", op, d.ID[:12], wallet.ErrInvalid)
		}
		parentCoins = append(parentCoins, psbt.UTXO{OutPoint: op, Value: o.Value, Branch: branch, Index: index, PrevTx: parent})
	}
	if len(parentCoins) == 0 {
		return nil, fmt.Errorf("transaction %s pays nothing to wallet %q: %w; only a payee can pay for it with a child", pid, w.Name, wallet.ErrInvalid)
	}
	spendable, err := c.spendableCoins(ctx, w.Name)
	if err != nil {
		return nil, err
	}
	var extras []psbt.UTXO
	for _, u := range spendable {
		if _, busy := live[u.OutPoint]; !busy && u.Confirmations >= 1 && u.OutPoint.Hash != pid {
			extras = append(extras, u)
		}
	}
	sort.Slice(extras, func(i, j int) bool { return extras[i].Value > extras[j].Value })

	tip, _, _, err := c.tipAndFeeRate(ctx, w, 1, 1)
	if err != nil {
		return nil, err
	}
	rules, err := c.rules(ctx, w)
	if err != nil {
		return nil, err
	}
	rules.AllowHighFee = req.AllowHighFee
	pol, err := c.loadPolicy(ctx, w, chainhash.Hash{}, GateOptions{OverridePolicy: req.OverridePolicy})
	if err != nil {
		return nil, err
	}
	target := req.FeeRate
	draft, err := c.Store.CreateDraft(ctx, w.Name, func(next uint32) (*wallet.Draft, bool, error) {
		// The policy is read again here, under the store's write lock:
		// what the wallet sent or has in flight cannot change until this
		// draft is saved, so two operators drafting at once on a shared
		// store cannot both fit under the daily limit the pair exceeds.
		var err error
		if pol, err = c.loadPolicy(ctx, w, chainhash.Hash{}, GateOptions{OverridePolicy: req.OverridePolicy}); err != nil {
			return nil, false, err
		}
		d, err := w.Descriptor.Derive(1, next, w.Network)
		if err != nil {
			return nil, false, err
		}
		coins := append([]psbt.UTXO(nil), parentCoins...)
		var built *bpsbt.Packet
		var sum *psbt.BuildSummary
		for added := 0; ; {
			built, sum, err = buildChild(w, coins, c.prevTxs(ctx, w.Name), d.Address, tip, target, res, req.AllowHighFee)
			if err == nil {
				break
			}
			if !errors.Is(err, psbt.ErrInsufficientFunds) || added == len(extras) {
				return nil, false, err
			}
			coins = append(coins, extras[added])
			added++
		}
		if _, err := psbt.Update(built, w.Info(), src); err != nil {
			return nil, false, err
		}
		r, err := psbt.Gate(built, w.Info(), rules)
		if err != nil {
			return nil, false, err
		}
		notes, err := pol.check(StepCPFP, built, r)
		if err != nil {
			return nil, false, err
		}
		raw, err := psbt.Serialize(built)
		if err != nil {
			return nil, false, err
		}
		res.PSBT, res.Summary, res.Report = built, sum, r
		res.PackageRate = float64(res.ParentFee+res.AncestorFee+sum.Fee) / float64(res.ParentVSize+res.AncestorVSize+sum.VSize)
		return &wallet.Draft{TxID: built.UnsignedTx.TxHash(), PSBT: raw, Note: req.Note, Kind: wallet.KindCPFP, Related: &pid, SeenUpTo: &seen,
			Event: &wallet.DraftEvent{Step: StepCPFP, Notes: notes}}, true, nil
	})
	if err != nil {
		return nil, err
	}
	res.Draft = draft
	for _, op := range res.Summary.Inputs {
		if op.Hash != pid {
			res.Added = append(res.Added, op)
		}
	}
	if err := c.noteLabel(ctx, w, draft.TxID, req.Note); err != nil {
		return nil, fmt.Errorf("draft %s saved, but its note did not become a label: %w", draft.ID[:12], err)
	}
	return res, nil
}

// buildChild spends coins to addr with the least fee that lifts the
// package to target: the child's rate is raised until its fee covers
// target × (parent + child size) less the parent's fee (and never below
// target itself).
func buildChild(w *Wallet, coins []psbt.UTXO, prevTxs func([]chainhash.Hash) (map[chainhash.Hash]*wire.MsgTx, error), addr string, tip int32, target float64, res *CPFPResult, allowHigh bool) (*bpsbt.Packet, *psbt.BuildSummary, error) {
	ops := make([]wire.OutPoint, len(coins))
	for i, u := range coins {
		ops[i] = u.OutPoint
	}
	req := psbt.BuildRequest{Wallet: w.Info(), UTXOs: coins, PrevTxs: prevTxs, Preselected: ops, SendAll: true,
		Outputs: []psbt.Output{{Address: addr}}, LockTime: uint32(max(tip, 0)), AllowHighFee: allowHigh}
	rate := target
	for attempt := 0; attempt < 5; attempt++ {
		req.FeeRate = rateFor(rate)
		p, sum, err := psbt.Build(req)
		if err != nil {
			return nil, nil, err
		}
		need := int64(math.Ceil(target*float64(res.ParentVSize+res.AncestorVSize+sum.VSize))) - res.ParentFee - res.AncestorFee
		if sum.Fee >= need {
			return p, sum, nil
		}
		rate = float64(need) / float64(sum.VSize)
	}
	return nil, nil, fmt.Errorf("no child fee found that lifts the package to %v sat/vB", target)
}

// maxAncestors bounds the walk up the parent's unconfirmed ancestors:
// Bitcoin Core's default mempool limit (-limitancestorcount) is 25
// transactions, the parent included.
const maxAncestors = 24

// unconfirmedAncestors finds the parent's unconfirmed ancestors among the
// wallet's stored transactions (a chain of the wallet's own stuck spends,
// the common case) and records in res those whose own fee rate is below
// target: a miner takes the child only together with them (Core's
// block assembly scores a transaction with its unconfirmed ancestors),
// so the child pays for them too.
// Those at or above target are left out, which can only make the child
// pay more than needed, never less: a miner would take them on their own
// or the package's rate only rises with them. An ancestor whose fee
// cannot be worked out (a previous transaction not at hand) counts as
// paying nothing, for the same reason. Ancestors the wallet does not
// know (an unconfirmed payment to it from someone else's unconfirmed
// chain) are not seen; spend --cpfp's help says so. Heights are the last
// sync's: an ancestor confirmed since is counted, and the child pays a
// little more.
func unconfirmedAncestors(txs []wallet.Tx, parent *wire.MsgTx, src psbt.UpdateSource, target float64, res *CPFPResult) {
	// An ancestor is in the history: the parent could only spend its
	// outputs once a sync had listed them as the wallet's coins.
	unconfirmed := map[chainhash.Hash]*wire.MsgTx{}
	for _, t := range txs {
		if t.Height != 0 || len(t.Raw) == 0 {
			continue
		}
		tx := &wire.MsgTx{}
		if err := tx.Deserialize(bytes.NewReader(t.Raw)); err == nil && tx.TxHash() == t.TxID {
			unconfirmed[t.TxID] = tx
		}
	}
	seen := map[chainhash.Hash]bool{parent.TxHash(): true}
	queue := []*wire.MsgTx{parent}
	for len(queue) > 0 && len(seen) <= maxAncestors {
		tx := queue[0]
		queue = queue[1:]
		for _, in := range tx.TxIn {
			id := in.PreviousOutPoint.Hash
			anc, ok := unconfirmed[id]
			if !ok || seen[id] || len(seen) > maxAncestors {
				continue
			}
			seen[id] = true
			queue = append(queue, anc)
			fee := ancestorFee(anc, src)
			vsize := VSize(anc)
			if float64(fee) >= target*float64(vsize) {
				continue
			}
			res.Ancestors = append(res.Ancestors, id)
			res.AncestorFee += fee
			res.AncestorVSize += vsize
		}
	}
}

// ancestorFee is tx's fee, or 0 when a previous transaction is not at
// hand (see unconfirmedAncestors: counting it as paying nothing errs on
// the side of a larger child fee).
func ancestorFee(tx *wire.MsgTx, src psbt.UpdateSource) int64 {
	var in, out int64
	for _, txin := range tx.TxIn {
		prev := src.PrevTx(txin.PreviousOutPoint.Hash)
		if prev == nil || int(txin.PreviousOutPoint.Index) >= len(prev.TxOut) {
			return 0
		}
		in += prev.TxOut[txin.PreviousOutPoint.Index].Value
	}
	for _, o := range tx.TxOut {
		out += o.Value
	}
	return max(in-out, 0)
}

// parentTx finds the stuck transaction: in the wallet's history (txs, its
// stored transactions), as a broadcast spend's finalized version, or from
// the backend. A confirmed one needs no child.
func (c *Coordinator) parentTx(ctx context.Context, w *Wallet, ref string, txs []wallet.Tx) (*wire.MsgTx, error) {
	ref = strings.TrimSpace(ref)
	if p, err := c.PendingSpend(ctx, w.Name, ref); err == nil {
		if p.State == PendingConfirmed {
			return nil, fmt.Errorf("transaction %s is confirmed (height %d): %w; it needs no child", short(p), p.Height, wallet.ErrInvalid)
		}
		if p.FinalTxID == nil {
			return nil, fmt.Errorf("spend %s was never broadcast: %w; nothing is stuck", short(p), wallet.ErrInvalid)
		}
		if tx := c.finalTx(ctx, p); tx != nil {
			return tx, nil
		}
		ref = p.FinalTxID.String()
	}
	id, err := chainhash.NewHashFromStr(ref)
	if err != nil || len(ref) != 64 {
		return nil, fmt.Errorf("--cpfp %q: %w: give the stuck transaction's txid", ref, wallet.ErrInvalid)
	}
	for _, t := range txs {
		if t.TxID != *id {
			continue
		}
		if t.Height > 0 {
			return nil, fmt.Errorf("transaction %s is confirmed (height %d): %w; it needs no child", id, t.Height, wallet.ErrInvalid)
		}
		if len(t.Raw) > 0 {
			tx := &wire.MsgTx{}
			if err := tx.Deserialize(bytes.NewReader(t.Raw)); err == nil {
				return tx, nil
			}
		}
	}
	b, err := c.Backend(ctx, w)
	if err != nil {
		return nil, fmt.Errorf("transaction %s is not in wallet %q's history (run `countersign wallet sync %s`), and no backend to ask: %w", id, w.Name, w.Name, err)
	}
	return b.Tx(ctx, *id)
}
