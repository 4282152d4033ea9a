// Package scan discovers a wallet's coins on a chain backend: it derives
// the receive and change scripts, asks the backend which of them have
// history, extends each branch until it sees gap-limit unused addresses in
// a row, and stores the result in one transaction (wallet.ApplySync), so a
// scan killed at any point leaves the previous state.
//
// Transactions already stored with their raw bytes are never fetched again:
// a second scan with nothing new costs a handful of round trips.
package scan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/chain"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/wallet"
)

// maxStep caps how many addresses one round of a full scan adds per branch.
const maxStep = 2000

// maxScanIndex bounds how far a full scan derives on each branch. Usage is
// the backend's word (a hostile node that sees the addresses can answer
// each round with a made-up transaction paying the last one), so without a
// bound it could keep a sync deriving forever. No multisig wallet hands
// out a hundred thousand addresses on one branch.
const maxScanIndex = 100_000

// DefaultGap is the number of consecutive unused addresses after which a
// branch is considered exhausted (BIP-44's gap limit).
const DefaultGap = 20

// Options tune a scan.
type Options struct {
	Gap uint32 // consecutive unused addresses that end a branch; 0 means DefaultGap
	// Full asks every address again instead of reading only the blocks
	// since the last sync. A Gap other than DefaultGap implies it, since
	// the last sync may have stopped short of the new window.
	Full bool
	// Progress, when set, is called after each round with the number of
	// addresses checked so far.
	Progress func(addresses int)
	// maxIndex replaces maxScanIndex when non-zero (tests).
	maxIndex uint32
}

// Result summarises a finished scan.
type Result struct {
	Height           int32
	Hash             chainhash.Hash
	Addresses        int // scripts queried
	UTXOs            int
	NewTxs           int // transactions fetched this time
	ReceiveHighWater uint32
	ChangeHighWater  uint32
	// Incremental is true when only the new blocks and the mempool were read.
	Incremental bool
}

type position struct{ branch, index uint32 }

// scanner holds one scan's working state.
type scanner struct {
	d       *descriptor.Descriptor
	net     *chaincfg.Params
	b       chain.Backend
	scripts map[string]position // script bytes -> where it derives
	order   [][]byte            // scripts in query order
	end     [2]uint32           // derived so far per branch: indexes [0, end)
}

func (s *scanner) derive(branch, upTo uint32) ([][]byte, error) {
	if upTo <= s.end[branch] {
		return nil, nil
	}
	ds, err := s.d.DeriveRange(branch, s.end[branch], upTo-s.end[branch], s.net)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, len(ds))
	for _, d := range ds {
		s.scripts[string(d.ScriptPubKey)] = position{branch, d.Index}
		out = append(out, d.ScriptPubKey)
	}
	s.order = append(s.order, out...)
	s.end[branch] = upTo
	return out, nil
}

// indexScripts records the scripts the scan derived in the store's script
// index (wallet.ExtendScriptIndex), which the steps that ask whether an
// output pays the wallet read instead of deriving every address again;
// only for wallets past wallet.ScriptIndexFrom addresses. The scan itself
// never reads the index: what it watches is derived from the descriptor.
// A failure leaves the index to those steps, which extend it themselves.
func indexScripts(ctx context.Context, st *wallet.Store, name string, sc *scanner) {
	if uint64(sc.end[0])+uint64(sc.end[1]) <= wallet.ScriptIndexFrom {
		return
	}
	var byIndex [2][][]byte
	for b := range byIndex {
		byIndex[b] = make([][]byte, sc.end[b])
	}
	for script, p := range sc.scripts {
		if p.index < sc.end[p.branch] {
			byIndex[p.branch][p.index] = []byte(script)
		}
	}
	key := wallet.ScriptIndexKey(sc.d.String())
	for b := range byIndex {
		have, err := st.ScriptIndexUpTo(ctx, name, uint32(b), key)
		if err != nil || have >= sc.end[b] {
			continue
		}
		tail := byIndex[b][have:]
		if slices.ContainsFunc(tail, func(s []byte) bool { return s == nil }) {
			continue
		}
		_ = st.ExtendScriptIndex(ctx, name, uint32(b), key, have, tail)
	}
}

// Sync scans the wallet called name and stores what it finds.
func Sync(ctx context.Context, st *wallet.Store, name string, d *descriptor.Descriptor, net *chaincfg.Params, b chain.Backend, opt Options) (*Result, error) {
	gap := opt.Gap
	if gap == 0 {
		gap = DefaultGap
	}
	if d.Branches() != 2 {
		return nil, fmt.Errorf("%w: wallet %q needs a receive and a change branch to scan", descriptor.ErrInvalid, name)
	}
	w, err := st.Wallet(ctx, name)
	if err != nil {
		return nil, err
	}
	state, err := st.ScanState(ctx, name)
	if err != nil {
		return nil, err
	}
	sc := &scanner{d: d, net: net, b: b, scripts: map[string]position{}}
	if !opt.Full && gap == DefaultGap {
		upd, res, err := incremental(ctx, sc, st, name, state, w, gap)
		switch {
		case err == nil:
			if err := st.ApplySync(ctx, name, *upd); err != nil {
				return nil, err
			}
			indexScripts(ctx, st, name, sc)
			return res, nil
		case !errors.Is(err, errNeedFullScan):
			return nil, err
		}
		sc = &scanner{d: d, net: net, b: b, scripts: map[string]position{}}
	}
	stored, err := st.Transactions(ctx, name)
	if err != nil {
		return nil, err
	}
	height, hash, err := b.Tip(ctx)
	if err != nil {
		return nil, err
	}
	// Start past everything known to be used or handed out, so the first
	// round usually covers the whole wallet.
	high := [2]uint32{state.ReceiveHighWater, state.ChangeHighWater}
	issued := [2]uint32{w.NextReceive, w.NextChange}
	var pending [][]byte
	for br := uint32(0); br < 2; br++ {
		ss, err := sc.derive(br, max(high[br], issued[br])+gap)
		if err != nil {
			return nil, err
		}
		pending = append(pending, ss...)
	}

	known := make(map[chainhash.Hash]*wallet.Tx, len(stored))
	for i := range stored {
		known[stored[i].TxID] = &stored[i]
	}
	txs := map[chainhash.Hash]*wire.MsgTx{} // every wallet transaction, decoded
	heights := map[chainhash.Hash]int32{}
	times := map[chainhash.Hash]time.Time{} // block times, as the backend reported them
	var utxos []chain.UTXO
	newTxs := 0
	used := [2]uint32{} // one past the highest used index seen this scan

	step := [2]uint32{gap, gap}
	maxIndex := uint32(maxScanIndex)
	if opt.maxIndex != 0 {
		maxIndex = opt.maxIndex
	}
	for len(pending) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		refs, listed, given, err := search(ctx, b, pending)
		if err != nil {
			return nil, err
		}

		var fetch []chainhash.Hash
		queued := map[chainhash.Hash]bool{}
		need := func(id chainhash.Hash) {
			if _, ok := txs[id]; ok || queued[id] {
				return
			}
			// A transaction the search returned is taken if it is the one
			// named; else it is fetched, and fetchTxs checks it.
			if tx := given[id]; tx != nil && tx.TxHash() == id {
				txs[id] = tx
				return
			}
			if k := known[id]; k != nil && len(k.Raw) > 0 {
				tx := &wire.MsgTx{}
				if err := tx.Deserialize(bytesReader(k.Raw)); err == nil && tx.TxHash() == id {
					txs[id] = tx
					return
				}
			}
			queued[id] = true
			fetch = append(fetch, id)
		}
		for _, r := range refs {
			heights[r.TxID] = r.Height
			if r.Time > 0 {
				times[r.TxID] = time.Unix(r.Time, 0).UTC()
			}
			need(r.TxID)
		}
		// Each listed output is proven by its funding transaction: a
		// history entry, unless it arrived between the two calls.
		for _, u := range listed {
			if _, ok := heights[u.OutPoint.Hash]; !ok {
				heights[u.OutPoint.Hash] = u.Height
			}
			need(u.OutPoint.Hash)
		}
		got, err := fetchTxs(ctx, b, fetch)
		if err != nil {
			return nil, err
		}
		for i, tx := range got {
			txs[fetch[i]] = tx
		}
		// Values and scripts come from the transactions, never from the
		// backend's listing: a server claiming more than its transaction
		// pays stops the sync before anything is stored.
		for _, u := range listed {
			proven, err := chain.ProveUTXO(b, u, txs[u.OutPoint.Hash])
			if err != nil {
				return nil, fmt.Errorf("sync of wallet %q stopped, nothing stored: %w", name, err)
			}
			utxos = append(utxos, proven)
		}

		// Mark used positions from outputs paying the wallet. Inputs need no
		// look: spending an output means it was paid first.
		for _, tx := range txs {
			for _, out := range tx.TxOut {
				if p, ok := sc.scripts[string(out.PkScript)]; ok && p.index+1 > used[p.branch] {
					used[p.branch] = p.index + 1
				}
			}
		}
		if opt.Progress != nil {
			opt.Progress(len(sc.order))
		}
		pending = pending[:0]
		for br := uint32(0); br < 2; br++ {
			if used[br] > maxIndex {
				return nil, fmt.Errorf("%w: %s reports addresses of wallet %q in use up to index %d on the %s branch; a full scan stops at %d (no real multisig wallet uses so many, and a hostile server could keep a sync deriving forever)",
					chain.ErrTooLarge, chain.Name(b), name, used[br], branchName(br), maxIndex)
			}
			want := max(used[br], high[br], issued[br]) + gap
			if want > sc.end[br] {
				// A busy wallet: look further ahead each round (doubling,
				// capped) so a thousand used addresses take a handful of
				// rounds rather than one per gap.
				want = max(want, sc.end[br]+step[br])
				step[br] = min(step[br]*2, maxStep) // capped before it can overflow
			}
			ss, err := sc.derive(br, want)
			if err != nil {
				return nil, err
			}
			pending = append(pending, ss...)
		}
	}

	for id := range txs {
		if k := known[id]; k == nil || len(k.Raw) == 0 {
			newTxs++ // not stored before, or stored without its bytes
		}
	}
	upd := wallet.SyncUpdate{
		Height:           height,
		Hash:             hash,
		ReceiveHighWater: used[0],
		ChangeHighWater:  used[1],
	}
	seenUTXO := map[wire.OutPoint]bool{}
	for _, u := range utxos {
		if seenUTXO[u.OutPoint] {
			continue
		}
		seenUTXO[u.OutPoint] = true
		p, ok := sc.scripts[string(u.PkScript)]
		if !ok {
			return nil, fmt.Errorf("backend returned an output %s paying a script the wallet did not ask about", u.OutPoint)
		}
		upd.UTXOs = append(upd.UTXOs, wallet.UTXO{OutPoint: u.OutPoint, Value: u.Value, PkScript: u.PkScript, Branch: p.branch, Index: p.index, Height: u.Height})
	}
	sortUTXOs(upd.UTXOs)
	upd.Txs = accountTxs(txs, heights, times, sc.scripts)
	// Unconfirmed transactions stored earlier that the backend no longer
	// reports were replaced or dropped: forget them so their coins free up.
	for id, k := range known {
		if _, ok := txs[id]; !ok && k.Height == 0 {
			upd.Forget = append(upd.Forget, id)
		}
	}
	if err := st.ApplySync(ctx, name, upd); err != nil {
		return nil, err
	}
	indexScripts(ctx, st, name, sc)
	return &Result{Height: height, Hash: hash, Addresses: len(sc.order), UTXOs: len(upd.UTXOs), NewTxs: newTxs, ReceiveHighWater: used[0], ChangeHighWater: used[1]}, nil
}

func sortUTXOs(us []wallet.UTXO) {
	sort.Slice(us, func(i, j int) bool {
		a, b := us[i].OutPoint, us[j].OutPoint
		if c := cmpHash(a.Hash, b.Hash); c != 0 {
			return c < 0
		}
		return a.Index < b.Index
	})
}

// cmpHash orders hashes as their displayed (byte-reversed hex) strings
// order, without formatting 30,000 of them twice per comparison.
func cmpHash(a, b chainhash.Hash) int {
	for i := chainhash.HashSize - 1; i >= 0; i-- {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

// search asks the backend for the history and unspent outputs of
// scripts: in one pass, with the transactions, when it is a
// chain.Searcher; else History, then ListUnspent.
func search(ctx context.Context, b chain.Backend, scripts [][]byte) ([]chain.TxRef, []chain.UTXO, map[chainhash.Hash]*wire.MsgTx, error) {
	if s, ok := b.(chain.Searcher); ok {
		f, err := s.Search(ctx, scripts)
		if err != nil {
			return nil, nil, nil, err
		}
		return f.History, f.UTXOs, f.Txs, nil
	}
	refs, err := b.History(ctx, scripts)
	if err != nil {
		return nil, nil, nil, err
	}
	listed, err := b.ListUnspent(ctx, scripts)
	return refs, listed, nil, err
}

// fetchTxs gets transactions in one batch when the backend can, else one
// by one, and checks that each is the transaction asked for (the chain
// backends check too; this keeps the store safe from any Backend).
func fetchTxs(ctx context.Context, b chain.Backend, ids []chainhash.Hash) ([]*wire.MsgTx, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var out []*wire.MsgTx
	if tb, ok := b.(chain.TxBatcher); ok {
		txs, err := tb.Txs(ctx, ids)
		if err != nil && !errors.Is(err, chain.ErrUnsupported) {
			return nil, err
		}
		if err == nil && len(txs) == len(ids) {
			out = txs
		}
	}
	if out == nil {
		out = make([]*wire.MsgTx, len(ids))
		for i, id := range ids {
			tx, err := b.Tx(ctx, id)
			if err != nil {
				return nil, fmt.Errorf("fetch transaction %s: %w", id, err)
			}
			out[i] = tx
		}
	}
	for i, tx := range out {
		if tx == nil || tx.TxHash() != ids[i] {
			return nil, fmt.Errorf("%w: %s sent another transaction when asked for %s", chain.ErrLying, chain.Name(b), ids[i])
		}
	}
	return out, nil
}

func branchName(br uint32) string {
	if br == 0 {
		return "receive"
	}
	return "change"
}

// accountTxs computes each transaction's effect on the wallet: outputs
// paying it minus its outputs spent, and the fee when every input's value
// is known from the wallet's own transactions. times are the block times
// known (none for an unconfirmed one).
func accountTxs(txs map[chainhash.Hash]*wire.MsgTx, heights map[chainhash.Hash]int32, times map[chainhash.Hash]time.Time, scripts map[string]position) []wallet.Tx {
	out := make([]wallet.Tx, 0, len(txs))
	for id, tx := range txs {
		var net int64
		for _, o := range tx.TxOut {
			if _, ok := scripts[string(o.PkScript)]; ok {
				net += o.Value
			}
		}
		var inSum int64
		allKnown := true
		for _, in := range tx.TxIn {
			prev, ok := txs[in.PreviousOutPoint.Hash]
			if !ok || int(in.PreviousOutPoint.Index) >= len(prev.TxOut) {
				allKnown = false
				continue
			}
			po := prev.TxOut[in.PreviousOutPoint.Index]
			inSum += po.Value
			if _, ours := scripts[string(po.PkScript)]; ours {
				net -= po.Value
			}
		}
		t := wallet.Tx{TxID: id, Height: heights[id], Net: net, Raw: serialize(tx)}
		if t.Height != 0 {
			t.BlockTime = times[id]
		}
		if allKnown {
			var outSum int64
			for _, o := range tx.TxOut {
				outSum += o.Value
			}
			fee := inSum - outSum
			t.Fee = &fee
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		hi, hj := out[i].Height, out[j].Height
		if (hi == 0) != (hj == 0) {
			return hj == 0
		}
		if hi != hj {
			return hi < hj
		}
		return cmpHash(out[i].TxID, out[j].TxID) < 0
	})
	return out
}
