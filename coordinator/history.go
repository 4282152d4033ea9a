package coordinator

import (
	"context"

	"github.com/countersign/countersign/wallet"
)

// HistoryEntry is one wallet transaction with its label and the wallet's
// balance after it.
type HistoryEntry struct {
	wallet.Tx
	Label string
	// Balance is the sum of the net amounts up to and including this
	// transaction, in history order (confirmed by height, then
	// unconfirmed by when they were first seen).
	Balance int64
}

// LabelledHistory lists the wallet's transactions as of the last sync,
// with labels (the transaction's, else the note of the spend that sent it)
// and a running balance: what an accountant's export needs.
func (c *Coordinator) LabelledHistory(ctx context.Context, name string) ([]HistoryEntry, error) {
	txs, err := c.History(ctx, name)
	if err != nil {
		return nil, err
	}
	idx, err := c.labelIndex(ctx, name)
	if err != nil {
		return nil, err
	}
	w, err := c.Wallet(ctx, name)
	if err != nil {
		return nil, err
	}
	notes := map[string]string{}
	if ps, err := c.pendingOf(ctx, w); err == nil {
		for _, p := range ps {
			if p.FinalTxID != nil && p.Label != "" {
				notes[p.FinalTxID.String()] = p.Label
			}
		}
	}
	out := make([]HistoryEntry, len(txs))
	var bal int64
	for i, t := range txs {
		bal += t.Net
		l := idx.tx(t.TxID)
		if l == "" {
			l = notes[t.TxID.String()]
		}
		out[i] = HistoryEntry{Tx: t, Label: l, Balance: bal}
	}
	return out, nil
}
