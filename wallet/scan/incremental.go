package scan

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/chain"
	"github.com/countersign/countersign/wallet"
)

// maxIncrementalBlocks bounds how far behind the wallet may be for an
// incremental sync; past it a full scan asks per address, which is cheaper
// than downloading every block.
const maxIncrementalBlocks = 50

// errNeedFullScan makes Sync fall back to a full scan: a reorg below the
// last synced tip, too many new blocks, or a backend without blocks.
var errNeedFullScan = errors.New("full scan needed")

// incremental brings a synced wallet up to date from the blocks mined since
// its last sync and the current mempool, without asking about each address.
// The chain state is a function of the tip and the mempool, so if the last
// synced block is still in the main chain, everything new is in the blocks
// after it or in the mempool.
func incremental(ctx context.Context, sc *scanner, st *wallet.Store, name string, state wallet.ScanState, w *wallet.Wallet, gap uint32) (*wallet.SyncUpdate, *Result, error) {
	bs, ok := sc.b.(chain.BlockSource)
	if !ok || state.Hash == (chainhash.Hash{}) {
		return nil, nil, errNeedFullScan
	}
	height, tipHash, err := sc.b.Tip(ctx)
	if err != nil {
		return nil, nil, err
	}
	if height < state.Height || height-state.Height > maxIncrementalBlocks {
		return nil, nil, errNeedFullScan
	}
	h, err := bs.BlockHash(ctx, state.Height)
	if err != nil {
		if errors.Is(err, chain.ErrNotFound) {
			return nil, nil, errNeedFullScan
		}
		return nil, nil, err
	}
	if h != state.Hash {
		return nil, nil, errNeedFullScan // the last synced block was reorganised away
	}
	var hashes []chainhash.Hash
	for ht := state.Height + 1; ht <= height; ht++ {
		bh, err := bs.BlockHash(ctx, ht)
		if err != nil {
			return nil, nil, err
		}
		hashes = append(hashes, bh)
	}
	if len(hashes) > 0 && hashes[len(hashes)-1] != tipHash {
		return nil, nil, errNeedFullScan // the tip moved while we read
	}
	blocks, err := bs.Blocks(ctx, hashes)
	if err != nil {
		return nil, nil, err
	}
	if len(blocks) != len(hashes) {
		return nil, nil, fmt.Errorf("backend returned %d of %d blocks", len(blocks), len(hashes))
	}
	pool, err := bs.Mempool(ctx)
	if err != nil {
		return nil, nil, err
	}

	// The scripts to watch: past everything used or handed out, plus the gap.
	high := [2]uint32{state.ReceiveHighWater, state.ChangeHighWater}
	issued := [2]uint32{w.NextReceive, w.NextChange}
	for br := uint32(0); br < 2; br++ {
		if _, err := sc.derive(br, max(high[br], issued[br])+gap); err != nil {
			return nil, nil, err
		}
	}
	if upd, res, err := nothingNew(ctx, sc, st, name, cands(blocks, state.Height), pool, high, height, tipHash); err != nil || upd != nil {
		return upd, res, err
	}

	stored, err := st.Transactions(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	// Every wallet transaction known so far, decoded, with its height.
	txs := map[chainhash.Hash]*wire.MsgTx{}
	heights := map[chainhash.Hash]int32{}
	times := map[chainhash.Hash]time.Time{}
	for _, t := range stored {
		if len(t.Raw) == 0 {
			return nil, nil, errNeedFullScan
		}
		tx := &wire.MsgTx{}
		if err := tx.Deserialize(bytesReader(t.Raw)); err != nil {
			return nil, nil, errNeedFullScan
		}
		txs[t.TxID] = tx
		heights[t.TxID] = t.Height
		times[t.TxID] = t.BlockTime
	}

	// Candidates: every transaction in the new blocks and the mempool.
	type cand struct {
		tx     *wire.MsgTx
		height int32
		time   time.Time // its block's header's timestamp
	}
	cands := map[chainhash.Hash]cand{}
	for i, blk := range blocks {
		for _, tx := range blk.Transactions {
			cands[tx.TxHash()] = cand{tx, state.Height + 1 + int32(i), blk.Header.Timestamp.UTC()}
		}
	}
	var fetch []chainhash.Hash
	inPool := make(map[chainhash.Hash]bool, len(pool))
	for _, id := range pool {
		inPool[id] = true
		if _, ok := cands[id]; ok {
			continue
		}
		if tx, ok := txs[id]; ok {
			cands[id] = cand{tx: tx}
			continue
		}
		fetch = append(fetch, id)
	}
	got, err := fetchTxs(ctx, sc.b, fetch)
	if err != nil {
		// A mempool transaction can vanish between the two calls; a full
		// scan is the safe answer to a mempool that moved under us.
		if errors.Is(err, chain.ErrNotFound) {
			return nil, nil, errNeedFullScan
		}
		return nil, nil, err
	}
	for i, tx := range got {
		cands[fetch[i]] = cand{tx: tx}
	}

	// Outpoints the wallet owns or owned: any output of a wallet transaction
	// paying one of its scripts. A candidate spending one is relevant.
	owned := func(op wire.OutPoint) bool {
		tx, ok := txs[op.Hash]
		if !ok || int(op.Index) >= len(tx.TxOut) {
			return false
		}
		_, ours := sc.scripts[string(tx.TxOut[op.Index].PkScript)]
		return ours
	}
	used := high
	newCount := 0
	// Repeat until no candidate changes anything: a payment near the end of
	// the window extends it, and a new transaction can make a later one in
	// the same block relevant (a spend of its output).
	for changed := true; changed; {
		changed = false
		for id, c := range cands {
			if _, known := txs[id]; known && heights[id] == c.height {
				continue
			}
			relevant := false
			for _, out := range c.tx.TxOut {
				if p, ok := sc.scripts[string(out.PkScript)]; ok {
					relevant = true
					used[p.branch] = max(used[p.branch], p.index+1)
				}
			}
			for _, in := range c.tx.TxIn {
				if owned(in.PreviousOutPoint) {
					relevant = true
				}
			}
			if !relevant {
				continue
			}
			if _, known := txs[id]; !known {
				newCount++
			}
			txs[id] = c.tx
			heights[id] = c.height
			times[id] = c.time
			changed = true
		}
		for br := uint32(0); br < 2; br++ {
			if _, err := sc.derive(br, max(used[br], issued[br])+gap); err != nil {
				return nil, nil, err
			}
		}
	}

	// Unconfirmed wallet transactions that are neither in a new block nor
	// in the mempool were replaced or dropped.
	var forget []chainhash.Hash
	for id := range txs {
		if heights[id] != 0 {
			continue
		}
		if c, ok := cands[id]; ok && (c.height != 0 || inPool[id]) {
			continue
		}
		forget = append(forget, id)
		delete(txs, id)
		delete(heights, id)
	}

	// The UTXO set: outputs of wallet transactions paying the wallet that no
	// wallet transaction spends (confirmed or in the mempool).
	spent := map[wire.OutPoint]bool{}
	for _, tx := range txs {
		for _, in := range tx.TxIn {
			spent[in.PreviousOutPoint] = true
		}
	}
	upd := &wallet.SyncUpdate{Height: height, Hash: tipHash, Forget: forget, ReceiveHighWater: used[0], ChangeHighWater: used[1]}
	for id, tx := range txs {
		for i, out := range tx.TxOut {
			p, ok := sc.scripts[string(out.PkScript)]
			op := wire.OutPoint{Hash: id, Index: uint32(i)}
			if !ok || spent[op] {
				continue
			}
			upd.UTXOs = append(upd.UTXOs, wallet.UTXO{OutPoint: op, Value: out.Value, PkScript: out.PkScript, Branch: p.branch, Index: p.index, Height: heights[id]})
		}
	}
	sortUTXOs(upd.UTXOs)
	upd.Txs = accountTxs(txs, heights, times, sc.scripts)
	res := &Result{Height: height, Hash: tipHash, Addresses: len(sc.order), UTXOs: len(upd.UTXOs), NewTxs: newCount, ReceiveHighWater: used[0], ChangeHighWater: used[1], Incremental: true}
	return upd, res, nil
}

// cands are the transactions of blocks, the first at height first+1,
// with their heights.
func cands(blocks []*wire.MsgBlock, first int32) map[chainhash.Hash]blockTx {
	out := map[chainhash.Hash]blockTx{}
	for i, blk := range blocks {
		for _, tx := range blk.Transactions {
			out[tx.TxHash()] = blockTx{tx, first + 1 + int32(i)}
		}
	}
	return out
}

type blockTx struct {
	tx     *wire.MsgTx
	height int32
}

// nothingNew returns a tip-only update when the new blocks and the mempool
// hold nothing for the wallet, the usual case, so that such a sync neither
// decodes every stored transaction nor rewrites the store; nil when there
// may be something (the full incremental pass decides). It is so when no
// stored transaction is unconfirmed (none can confirm or be dropped), no
// new transaction pays one of the wallet's scripts (derived past the
// gap), and none spends an output of a stored transaction: every coin
// the wallet has or had is an output of one. pool lists the mempool's
// txids; a mempool transaction not in a block is fetched.
func nothingNew(ctx context.Context, sc *scanner, st *wallet.Store, name string, inBlocks map[chainhash.Hash]blockTx, pool []chainhash.Hash, high [2]uint32, height int32, tip chainhash.Hash) (*wallet.SyncUpdate, *Result, error) {
	var fetch []chainhash.Hash
	for _, id := range pool {
		if _, ok := inBlocks[id]; !ok {
			fetch = append(fetch, id)
		}
	}
	got, err := fetchTxs(ctx, sc.b, fetch)
	if err != nil {
		if errors.Is(err, chain.ErrNotFound) {
			return nil, nil, nil // the mempool moved: let the full pass decide
		}
		return nil, nil, err
	}
	all := make(map[chainhash.Hash]*wire.MsgTx, len(inBlocks)+len(got))
	for id, c := range inBlocks {
		all[id] = c.tx
	}
	for i, tx := range got {
		all[fetch[i]] = tx
	}
	// Any transaction paying the wallet is news; so may be one spending
	// an output of a transaction the wallet stored, or one it stored.
	var ask []chainhash.Hash
	for id, tx := range all {
		for _, out := range tx.TxOut {
			if _, ok := sc.scripts[string(out.PkScript)]; ok {
				return nil, nil, nil
			}
		}
		ask = append(ask, id)
		for _, in := range tx.TxIn {
			if in.PreviousOutPoint.Hash != (chainhash.Hash{}) { // not a coinbase
				ask = append(ask, in.PreviousOutPoint.Hash)
			}
		}
	}
	known, unconfirmed, err := st.KnownTxs(ctx, name, ask)
	if err != nil || unconfirmed > 0 || len(known) > 0 {
		return nil, nil, err
	}
	n, err := st.UTXOCount(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	upd := &wallet.SyncUpdate{Height: height, Hash: tip, ReceiveHighWater: high[0], ChangeHighWater: high[1], TipOnly: true}
	return upd, &Result{Height: height, Hash: tip, Addresses: len(sc.order), UTXOs: n, ReceiveHighWater: high[0], ChangeHighWater: high[1], Incremental: true}, nil
}
