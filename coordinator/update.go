package coordinator

import (
	"bytes"
	"context"
	"sync"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/chain"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet/scan"
)

// Updated is a PSBT completed from its wallet.
type Updated struct {
	Wallet  *Wallet
	Changes []string     // what was added or corrected
	Report  *psbt.Report // the result as the wallet sees it, through the gate
}

// UpdatePSBT completes a PSBT another tool made for a stored wallet, as
// Bitcoin Core's descriptorprocesspsbt does without signing: previous
// transactions (from the store, else the backend), witness_utxo, scripts,
// every cosigner's derivation with its full key origin, the global xpubs.
// p is changed in place; the result then runs through the gate, so a
// tampered PSBT is refused here too rather than written back completed.
func (c *Coordinator) UpdatePSBT(ctx context.Context, walletName string, p *bpsbt.Packet, opts GateOptions) (*Updated, error) {
	w, err := c.WalletFor(ctx, walletName, p)
	if err != nil {
		return nil, err
	}
	up, err := c.update(ctx, w, p)
	if err != nil {
		return nil, err
	}
	rep, err := c.gate(ctx, w, p, true, opts)
	if err != nil {
		return nil, err
	}
	return &Updated{Wallet: w, Changes: up.Changes, Report: rep}, nil
}

// update runs psbt.Update with what the store and the backend know.
func (c *Coordinator) update(ctx context.Context, w *Wallet, p *bpsbt.Packet) (*psbt.UpdateReport, error) {
	src, err := c.updateSource(ctx, w)
	if err != nil {
		return nil, err
	}
	return psbt.Update(p, w.Info(), src)
}

// updateSource answers psbt.Update's questions from the store (the
// wallet's coins and transactions, and its scripts up to the gap limit past
// the addresses handed out) and, for previous transactions the store does
// not have, from the backend when one is configured.
func (c *Coordinator) updateSource(ctx context.Context, w *Wallet) (psbt.UpdateSource, error) {
	st, err := c.Store.ScanState(ctx, w.Name)
	if err != nil {
		return psbt.UpdateSource{}, err
	}
	type pos struct{ branch, index uint32 }
	// Everything is read lazily, when asked: most PSBTs carry their
	// derivations and previous transactions and never ask, and the gate
	// runs this at every step (reading and indexing 30,000 stored coins
	// and transactions each time was a fifth of a spend).
	// The gate asks from several goroutines at once (finalized inputs
	// are checked in parallel), and the first miss fills the index while
	// others read it: mu guards it.
	var mu sync.Mutex
	var coinsOnce, once sync.Once
	scripts := map[string]pos{}
	coins := func() {
		us, err := c.Store.UTXOs(ctx, w.Name)
		if err != nil {
			return // then the scripts are derived below
		}
		for _, u := range us {
			scripts[string(u.PkScript)] = pos{u.Branch, u.Index}
		}
	}
	fill := func() {
		for branch, next := range [2]uint32{max(w.NextReceive, st.ReceiveHighWater), max(w.NextChange, st.ChangeHighWater)} {
			ds, err := w.memo.DeriveRange(w.Descriptor, w.Network, uint32(branch), 0, next+scan.DefaultGap)
			if err != nil {
				continue
			}
			for _, d := range ds {
				scripts[string(d.ScriptPubKey)] = pos{uint32(branch), d.Index}
			}
		}
	}
	stored := func(txid chainhash.Hash) []byte {
		raw, err := c.Store.RawTxs(ctx, w.Name, []chainhash.Hash{txid})
		if err != nil {
			return nil
		}
		return raw[txid]
	}
	var backend chain.Backend
	var backendErr error
	var backendOnce sync.Once
	return psbt.UpdateSource{
		Locate: func(pkScript []byte) (uint32, uint32, bool) {
			mu.Lock()
			defer mu.Unlock()
			coinsOnce.Do(coins)
			if p, ok := scripts[string(pkScript)]; ok {
				return p.branch, p.index, true
			}
			once.Do(fill)
			p, ok := scripts[string(pkScript)]
			return p.branch, p.index, ok
		},
		PrevTx: func(txid chainhash.Hash) *wire.MsgTx {
			if b := stored(txid); b != nil {
				tx := &wire.MsgTx{}
				if tx.Deserialize(bytes.NewReader(b)) == nil {
					return tx
				}
			}
			backendOnce.Do(func() { backend, backendErr = c.Backend(ctx, w) })
			if backendErr != nil {
				return nil
			}
			tx, err := backend.Tx(ctx, txid)
			if err != nil {
				return nil
			}
			return tx
		},
	}, nil
}
