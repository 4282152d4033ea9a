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
	"github.com/countersign/countersign/wallet"
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

// descriptorKey names the descriptor a wallet's script index was derived
// from.
func descriptorKey(w *Wallet) string { return wallet.ScriptIndexKey(w.Descriptor.String()) }

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
	// fill makes every script up to the gap limit findable. A wallet of
	// a few thousand addresses derives them all into scripts; a larger
	// one (a treasury's tens of thousands) keeps them in the store's
	// script index, derived once and extended as the wallet grows, and
	// asks it per script (useIndex).
	useIndex := false
	dkey := descriptorKey(w)
	limits := [2]uint32{max(w.NextReceive, st.ReceiveHighWater) + scan.DefaultGap, max(w.NextChange, st.ChangeHighWater) + scan.DefaultGap}
	fill := func() {
		if uint64(limits[0])+uint64(limits[1]) > wallet.ScriptIndexFrom {
			var have [2]uint32
			useIndex = true
			for branch := range limits {
				n, err := c.Store.ScriptIndexUpTo(ctx, w.Name, uint32(branch), dkey)
				if err != nil {
					useIndex = false
					break
				}
				have[branch] = min(n, limits[branch])
			}
			if useIndex {
				for branch, want := range limits {
					if have[branch] == want {
						continue
					}
					ds, err := w.memo.DeriveRange(w.Descriptor, w.Network, uint32(branch), have[branch], want-have[branch])
					if err != nil {
						continue
					}
					tail := make([][]byte, len(ds))
					for k, d := range ds {
						scripts[string(d.ScriptPubKey)] = pos{uint32(branch), d.Index}
						tail[k] = d.ScriptPubKey
					}
					// Not recorded (a read-only store, or another process
					// extended it meanwhile): this process has the tail.
					_ = c.Store.ExtendScriptIndex(ctx, w.Name, uint32(branch), dkey, have[branch], tail)
				}
				return
			}
		}
		for branch, limit := range limits {
			ds, err := w.memo.DeriveRange(w.Descriptor, w.Network, uint32(branch), 0, limit)
			if err != nil {
				continue
			}
			for _, d := range ds {
				scripts[string(d.ScriptPubKey)] = pos{uint32(branch), d.Index}
			}
		}
	}
	// indexed asks the store's script index, and believes a position only
	// below the gap limit, as derived scripts are, and after deriving its
	// script again.
	indexed := func(pkScript []byte) (pos, bool) {
		b, i, ok, err := c.Store.LocateScript(ctx, w.Name, pkScript)
		if err != nil || !ok || b > 1 || i >= limits[b] {
			return pos{}, false
		}
		ds, err := w.memo.DeriveRange(w.Descriptor, w.Network, b, i, 1)
		if err != nil || len(ds) != 1 || !bytes.Equal(ds[0].ScriptPubKey, pkScript) {
			return pos{}, false
		}
		return pos{b, i}, true
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
			if !ok && useIndex {
				p, ok = indexed(pkScript)
			}
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
