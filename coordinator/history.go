package coordinator

import (
	"context"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/countersign/countersign/wallet"
)

// HistoryEntry is one wallet transaction with its label and the wallet's
// balance after it.
type HistoryEntry struct {
	// A pointer into the history's one slice of transactions: copying
	// 30,000 of them into entries doubled the memory a listing touches.
	*wallet.Tx
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
	// Labels and notes keyed by hash, parsed once each: formatting every
	// one of 30,000 txids to look them up was a fifth of the listing.
	labels, err := c.Store.Labels(ctx, name)
	if err != nil {
		return nil, err
	}
	byTx := map[chainhash.Hash]string{}
	for _, l := range labels {
		if l.Type != wallet.LabelTx || l.Label == nil || *l.Label == "" {
			continue
		}
		if h, err := chainhash.NewHashFromStr(l.Ref); err == nil && len(l.Ref) == 2*chainhash.HashSize {
			byTx[*h] = *l.Label
		}
	}
	// A spend's label is stored under its unsigned txid; a legacy (sh)
	// spend broadcast by countersign confirms under another txid, which
	// its draft records. Read from the drafts alone: working out every
	// draft's state (pendingOf) decodes each draft and every stored
	// transaction, which made a 30,000-transaction history three times
	// slower as soon as one draft existed.
	sent, err := c.Store.Broadcasts(ctx, name)
	if err != nil {
		return nil, err
	}
	notes := map[chainhash.Hash]string{}
	for unsigned, final := range sent {
		if l, ok := byTx[unsigned]; ok && final != unsigned {
			notes[final] = l
		}
	}
	out := make([]HistoryEntry, len(txs))
	var bal int64
	for i := range txs {
		t := &txs[i]
		bal += t.Net
		l, ok := byTx[t.TxID]
		if !ok {
			l = notes[t.TxID]
		}
		out[i] = HistoryEntry{Tx: t, Label: l, Balance: bal}
	}
	return out, nil
}
