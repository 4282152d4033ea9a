package coordinator

import (
	"context"
	"fmt"
	"slices"
	"strings"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// tooLargeError is a spend whose PSBT is over the signers' limit.
type tooLargeError struct {
	size, inputs int
	limit        PSBTLimit
}

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("the PSBT spends %d coins and reaches %d bytes with its signatures, over the %d-byte limit of %s; a sweep (--send-all) is split into several transactions, a payment is not: pay from fewer coins (--utxo), or consolidate first with `spend --send-all` to the wallet's own address",
		e.inputs, e.size, e.limit.Bytes, e.limit.Source)
}

func (e *tooLargeError) Unwrap() error { return ErrPSBTTooLarge }

// splitParams are what Spend resolved before it found the sweep too large.
type splitParams struct {
	tip       int32
	feeRate   float64
	feeSource string
	rules     psbt.GateRules
	// lockTime and sequence are what the spending path needs (see
	// applyPath): every part takes them.
	lockTime, sequence uint32
	// seen is the newest draft the spend saw (wallet.Draft.SeenUpTo);
	// each part saved moves it on.
	seen int64
}

// spendSplit builds a sweep too large for one PSBT (or one standard
// transaction) as several, each under res.Limit (when there is one) with
// every signature it needs and within the standard transaction size, each sending everything it spends (less its fee) to
// the sweep's address. Every part goes through the gate and the spending
// policy before any is saved; then each is saved as its own draft. Coins
// worth no more than the fee to spend them are left out and listed; the
// coins go oldest first, so a sweep the user sends only in part leaves
// the newest.
func (c *Coordinator) spendSplit(ctx context.Context, w *Wallet, req SpendRequest, res *SpendResult, coins []psbt.UTXO, sp splitParams) (*SpendResult, error) {
	if req.SelfSend {
		return nil, fmt.Errorf("%w: the refresh is larger than one PSBT the signers take (%d bytes, %s); refresh fewer coins at a time with --utxo", ErrPSBTTooLarge, res.Limit.Bytes, res.Limit.Source)
	}
	outs := [][]byte{}
	prevTxs := c.prevTxs(ctx, w.Name)
	probe, _, err := psbt.Build(psbt.BuildRequest{Wallet: w.Info(), UTXOs: coins[:1], PrevTxs: prevTxs, Outputs: req.Outputs, SendAll: true,
		Preselected: []wire.OutPoint{coins[0].OutPoint}, FeeRate: sp.feeRate, AllowHighFee: true})
	if err == nil {
		for _, o := range probe.UnsignedTx.TxOut {
			outs = append(outs, o.PkScript)
		}
	} else {
		outs = nil // the per-input fee below does not depend on the outputs
	}
	one, err := psbt.EstimateVSize(w.Descriptor, 1, outs)
	if err != nil {
		return nil, err
	}
	none, err := psbt.EstimateVSize(w.Descriptor, 0, outs)
	if err != nil {
		return nil, err
	}
	perInput := feeFor(sp.feeRate, one-none)

	var take []psbt.UTXO
	for _, u := range coins {
		switch {
		case len(req.UTXOs) > 0 && !slices.Contains(req.UTXOs, u.OutPoint):
		case len(req.UTXOs) == 0 && u.Confirmations < req.MinConf:
		case u.Value <= perInput:
			res.TooSmall = append(res.TooSmall, u)
		default:
			take = append(take, u)
		}
	}
	if len(take) == 0 {
		return nil, fmt.Errorf("%w: no coin is worth more than the %d sat fee to spend it", psbt.ErrInsufficientFunds, perInput)
	}
	slices.SortStableFunc(take, func(a, b psbt.UTXO) int {
		if a.Confirmations != b.Confirmations {
			return int(b.Confirmations - a.Confirmations)
		}
		if c := strings.Compare(a.OutPoint.Hash.String(), b.OutPoint.Hash.String()); c != 0 {
			return c
		}
		return int(a.OutPoint.Index) - int(b.OutPoint.Index)
	})

	build := func(chunk []psbt.UTXO) (*bpsbt.Packet, *psbt.BuildSummary, error) {
		pre := make([]wire.OutPoint, len(chunk))
		for i, u := range chunk {
			pre[i] = u.OutPoint
		}
		return psbt.Build(psbt.BuildRequest{
			Wallet:       w.Info(),
			UTXOs:        chunk,
			PrevTxs:      prevTxs,
			Outputs:      req.Outputs,
			SendAll:      true,
			Preselected:  pre,
			FeeRate:      sp.feeRate,
			LockTime:     sp.lockTime,
			Sequence:     sp.sequence,
			DisableRBF:   req.NoRBF,
			AllowHighFee: req.AllowHighFee,
		})
	}
	m := w.Descriptor.Threshold
	chunks, err := planSweep(take, len(take), "--max-psbt-size", func(chunk []psbt.UTXO) (bool, error) {
		vs, err := psbt.EstimateVSize(w.Descriptor, len(chunk), outs)
		if err != nil {
			return false, err
		}
		if vs > maxStandardVSize || res.Limit.Bytes == 0 {
			return vs <= maxStandardVSize, nil // no device limit: only the standard size
		}
		p, _, err := build(chunk)
		if err != nil {
			return false, err
		}
		n, err := SignedSize(p, m)
		return n <= res.Limit.Bytes, err
	})
	if err != nil {
		return nil, err
	}

	// Every part passes the gate and the policy before any is saved: a
	// refused part leaves no half-made sweep behind.
	type part struct {
		p    *bpsbt.Packet
		sum  *psbt.BuildSummary
		rep  *psbt.Report
		raw  []byte
		size int
	}
	parts := make([]part, len(chunks))
	// The parts are one sweep to the policy: each counts the parts before
	// it (the daily limit), so that a split cannot pass a limit the whole
	// sweep breaks. Each is checked again when saved, under the store's
	// write lock, against what is stored by then.
	pc, err := c.loadPolicy(ctx, w, chainhash.Hash{}, GateOptions{OverridePolicy: req.OverridePolicy})
	if err != nil {
		return nil, err
	}
	for i, chunk := range chunks {
		p, sum, err := build(chunk)
		if err != nil {
			return nil, err
		}
		rep, err := psbt.Gate(p, w.Info(), sp.rules)
		if err != nil {
			return nil, err
		}
		if _, err := pc.check(StepSpend, p, rep); err != nil {
			return nil, err
		}
		pc.sent24h += rep.Sent
		raw, err := psbt.Serialize(p)
		if err != nil {
			return nil, err
		}
		size, err := SignedSize(p, m)
		if err != nil {
			return nil, err
		}
		parts[i] = part{p, sum, rep, raw, size}
	}
	for i, pt := range parts {
		note := req.Note
		if note != "" {
			note = fmt.Sprintf("%s (%d of %d)", note, i+1, len(parts))
		}
		seen := sp.seen
		d, err := c.Store.CreateDraft(ctx, req.Wallet, func(uint32) (*wallet.Draft, bool, error) {
			pol, err := c.loadPolicy(ctx, w, chainhash.Hash{}, GateOptions{OverridePolicy: req.OverridePolicy})
			if err != nil {
				return nil, false, err
			}
			notes, err := pol.check(StepSpend, pt.p, pt.rep)
			if err != nil {
				return nil, false, err
			}
			return &wallet.Draft{TxID: pt.p.UnsignedTx.TxHash(), PSBT: pt.raw, Note: note, SeenUpTo: &seen,
				Event: &wallet.DraftEvent{Step: StepSpend, Notes: notes}}, false, nil
		})
		if err == nil {
			sp.seen = d.Seq
		}
		if err != nil {
			return nil, fmt.Errorf("sweep part %d of %d: %w (parts before it are saved as drafts; abandon them with `countersign psbt abandon`)", i+1, len(parts), err)
		}
		if err := c.noteLabel(ctx, w, d.TxID, note); err != nil {
			return nil, fmt.Errorf("draft %s saved, but its note did not become a label: %w", d.ID[:12], err)
		}
		res.Parts = append(res.Parts, SpendPart{Draft: d, PSBT: pt.p, Summary: pt.sum, Report: pt.rep, Size: len(pt.raw), SignedSize: pt.size})
	}
	first := res.Parts[0]
	res.Draft, res.PSBT, res.Summary, res.Report, res.SignedSize, res.FeeSource = first.Draft, first.PSBT, first.Summary, first.Report, first.SignedSize, sp.feeSource
	return res, nil
}
