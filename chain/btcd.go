package chain

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// btcdBackend reads the chain from btcd's JSON-RPC. btcd has no wallet to
// watch scripts with; it keeps an address index instead (--addrindex, which
// needs --txindex), so scripts are turned into addresses and looked up with
// searchrawtransactions, all addresses of a sync in one batch.
type btcdBackend struct {
	nodeBase
	pageSize int // transactions per address per searchrawtransactions call
}

// btcdPageSize keeps one page of an address's history to a few megabytes.
const btcdPageSize = 500

// btcdMempoolPage is the request size that fetches an address's mempool
// transactions in one answer (btcd allocates room for the count given).
const btcdMempoolPage = 10_000

// btcdMaxFeeTarget is the furthest target btcd's estimatefee knows.
const btcdMaxFeeTarget = 25

func newBtcd(e *endpoint) (*btcdBackend, error) {
	hc, err := newHTTPClient(e)
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if e.tls {
		scheme = "https"
	}
	user, pass := e.user, e.pass
	return &btcdBackend{
		nodeBase: nodeBase{rpc: &rpcClient{
			kind:    kindBtcd,
			url:     scheme + "://" + e.host + "/",
			host:    e.host,
			creds:   func() (string, string, error) { return user, pass, nil },
			http:    hc,
			timeout: e.timeout,
			trips:   new(atomic.Int64),
		}, maxTxs: e.maxTxs},
		pageSize: btcdPageSize,
	}, nil
}

// foundTx is a transaction from the address index with its block height.
type foundTx struct {
	tx     *wire.MsgTx
	height int32
	time   int64 // the block's timestamp, Unix seconds; 0 unconfirmed
}

// ListUnspent finds the outputs paying scripts in the address index,
// drops those that a transaction in the same index (mempool included)
// spends, and confirms the rest with gettxout. Two round trips for any
// number of scripts (plus one per extra page of a busy address).
func (b *btcdBackend) ListUnspent(ctx context.Context, scripts [][]byte) ([]UTXO, error) {
	set := newScriptSet(scripts)
	found, err := b.searchScripts(ctx, set)
	if err != nil {
		return []UTXO{}, err
	}
	return b.unspent(ctx, set, found)
}

// Search answers History and ListUnspent from one searchrawtransactions
// pass, with the transactions it returned (see Searcher).
func (b *btcdBackend) Search(ctx context.Context, scripts [][]byte) (*Found, error) {
	set := newScriptSet(scripts)
	found, err := b.searchScripts(ctx, set)
	if err != nil {
		return nil, err
	}
	utxos, err := b.unspent(ctx, set, found)
	if err != nil {
		return nil, err
	}
	h := historySet{}
	txs := make(map[chainhash.Hash]*wire.MsgTx, len(found))
	for txid, f := range found {
		h.add(TxRef{TxID: txid, Height: f.height, Time: f.time})
		txs[txid] = f.tx
	}
	return &Found{History: h.sorted(), UTXOs: utxos, Txs: txs}, nil
}

// unspent is ListUnspent from a search's transactions: outputs paying set
// that none of them spends, each confirmed unspent by gettxout.
func (b *btcdBackend) unspent(ctx context.Context, set scriptSet, found map[chainhash.Hash]*foundTx) ([]UTXO, error) {
	if len(found) == 0 {
		return []UTXO{}, nil
	}
	// gettxout does not see mempool spends of confirmed outputs, so spends
	// are taken from the index, which holds every transaction spending
	// from the addresses, unconfirmed ones included.
	spent := map[wire.OutPoint]bool{}
	for _, f := range found {
		for _, in := range f.tx.TxIn {
			spent[in.PreviousOutPoint] = true
		}
	}
	var candidates []UTXO
	for txid, f := range found {
		for i, out := range f.tx.TxOut {
			op := wire.OutPoint{Hash: txid, Index: uint32(i)}
			if set.has(out.PkScript) && !spent[op] {
				candidates = append(candidates, UTXO{OutPoint: op, Value: out.Value, PkScript: out.PkScript})
			}
		}
	}
	if len(candidates) == 0 {
		return []UTXO{}, nil
	}
	return b.confirmUnspent(ctx, candidates)
}

type txOutResult struct {
	Confirmations int64 `json:"confirmations"`
	ScriptPubKey  struct {
		Hex string `json:"hex"`
	} `json:"scriptPubKey"`
}

// confirmUnspent keeps the candidates gettxout still reports (null means
// spent in a block or gone from the mempool) and sets their heights.
func (b *btcdBackend) confirmUnspent(ctx context.Context, candidates []UTXO) ([]UTXO, error) {
	results := make([]txOutResult, len(candidates))
	t, calls, err := b.bracketed(ctx, b.rpc, func() []*rpcCall {
		calls := make([]*rpcCall, len(candidates))
		for i, c := range candidates {
			results[i] = txOutResult{}
			calls[i] = newCall("gettxout", &results[i], c.OutPoint.Hash.String(), c.OutPoint.Index, true)
		}
		return calls
	})
	if err != nil {
		return nil, err
	}
	utxos := make([]UTXO, 0, len(candidates))
	for i, call := range calls {
		if call.err != nil {
			return nil, b.fail("gettxout", call.err)
		}
		if call.null {
			continue
		}
		u := candidates[i]
		if results[i].ScriptPubKey.Hex != fmt.Sprintf("%x", u.PkScript) {
			return nil, fmt.Errorf("chain: btcd reports output %s with script %s, but the transaction says %x",
				u.OutPoint, results[i].ScriptPubKey.Hex, u.PkScript)
		}
		u.Height = heightFromConfirmations(t, results[i].Confirmations)
		utxos = append(utxos, u)
	}
	sortUTXOs(utxos)
	return utxos, nil
}

// History lists the transactions the address index holds for scripts.
func (b *btcdBackend) History(ctx context.Context, scripts [][]byte) ([]TxRef, error) {
	found, err := b.searchScripts(ctx, newScriptSet(scripts))
	if err != nil {
		return nil, err
	}
	h := historySet{}
	for txid, f := range found {
		h.add(TxRef{TxID: txid, Height: f.height, Time: f.time})
	}
	return h.sorted(), nil
}

// searchScripts returns every transaction paying or spending scripts.
func (b *btcdBackend) searchScripts(ctx context.Context, set scriptSet) (map[chainhash.Hash]*foundTx, error) {
	if len(set) == 0 {
		return nil, nil
	}
	net, err := b.Network(ctx)
	if err != nil {
		return nil, err
	}
	addrs := make([]string, 0, len(set))
	for _, script := range set.sorted() {
		_, list, _, err := txscript.ExtractPkScriptAddrs(script, net)
		if err != nil || len(list) != 1 {
			return nil, fmt.Errorf("%w: btcd finds transactions by address and script %x has no single address; use a Core or Esplora backend for it",
				ErrUnsupported, script)
		}
		addrs = append(addrs, list[0].EncodeAddress())
	}
	return b.search(ctx, addrs)
}

type searchResult struct {
	Hex           string `json:"hex"`
	Txid          string `json:"txid"`
	Confirmations int64  `json:"confirmations"`
	BlockTime     int64  `json:"blocktime"`
}

// search pages through searchrawtransactions for all addresses at once:
// each round is one batch holding the next page of every address whose
// previous page was full.
//
// btcd answers an address's confirmed transactions first, in chain order,
// then its mempool transactions in no stable order (they come from a map).
// Paging with skip is therefore only sound over the confirmed part: when a
// full page reaches into the mempool part, that part is fetched again from
// its start in one request large enough to hold it whole.
//
// Paging ends: past max_txs transactions for one address it stops with
// ErrTooLarge, and a page that ends at the transaction an earlier page of
// the same address ended at (a server repeating itself) is ErrLying.
func (b *btcdBackend) search(ctx context.Context, addrs []string) (map[chainhash.Hash]*foundTx, error) {
	type pageReq struct {
		addr        string
		skip, count int
	}
	found := map[chainhash.Hash]*foundTx{}
	pending := make([]pageReq, len(addrs))
	for i, a := range addrs {
		pending[i] = pageReq{addr: a, count: b.pageSize}
	}
	lasts := map[string]map[string]bool{} // per address, the txid each page ended at
	for len(pending) > 0 {
		pages := make([][]searchResult, len(pending))
		t, calls, err := b.bracketed(ctx, b.rpc, func() []*rpcCall {
			calls := make([]*rpcCall, len(pending))
			for i, p := range pending {
				pages[i] = nil
				// verbose=1 for confirmations; vinextra=0: inputs are
				// matched by outpoint, no previous-output details needed.
				calls[i] = newCall("searchrawtransactions", &pages[i], p.addr, 1, p.skip, p.count, 0, false)
			}
			return calls
		})
		if err != nil {
			return nil, err
		}
		var next []pageReq
		for i, call := range calls {
			if call.err != nil {
				if isNoHistory(call.err) {
					continue
				}
				if strings.Contains(call.err.Message, "--addrindex") {
					return nil, fmt.Errorf("%w: btcd at %s has no address index; restart it with --txindex --addrindex",
						ErrUnsupported, b.rpc.host)
				}
				return nil, b.fail("searchrawtransactions", call.err)
			}
			page, req := pages[i], pending[i]
			if req.skip+len(page) > b.maxTxs {
				return nil, tooManyTxs(kindBtcd, b.rpc.host, "address "+req.addr, b.maxTxs)
			}
			keep := len(page)
			if len(page) >= req.count {
				firstUnconfirmed := -1
				for j, r := range page {
					if r.Confirmations <= 0 {
						firstUnconfirmed = j
						break
					}
				}
				switch {
				case firstUnconfirmed < 0:
					last := page[len(page)-1].Txid
					if lasts[req.addr] == nil {
						lasts[req.addr] = map[string]bool{}
					}
					if lasts[req.addr][last] {
						return nil, repeatedPage(kindBtcd, b.rpc.host, "address "+req.addr, last)
					}
					lasts[req.addr][last] = true
					next = append(next, pageReq{addr: req.addr, skip: req.skip + len(page), count: b.pageSize})
				case req.count >= btcdMempoolPage:
					return nil, fmt.Errorf("%w: address %s has more than %d unconfirmed transactions in btcd's mempool",
						ErrUnsupported, req.addr, btcdMempoolPage)
				default:
					keep = firstUnconfirmed
					next = append(next, pageReq{addr: req.addr, skip: req.skip + firstUnconfirmed, count: btcdMempoolPage})
				}
			}
			for _, r := range page[:keep] {
				if err := addFound(found, t, r); err != nil {
					return nil, err
				}
			}
		}
		pending = next
	}
	return found, nil
}

// isNoHistory recognises btcd's answer for an address that was never used:
// code -5 "No information available about address". The same code also
// means an invalid address, which is a real error.
func isNoHistory(err *rpcError) bool {
	return err.Code == codeNoInfo && strings.HasPrefix(err.Message, "No information")
}

func addFound(found map[chainhash.Hash]*foundTx, t tip, r searchResult) error {
	txid, err := chainhash.NewHashFromStr(r.Txid)
	if err != nil {
		return fmt.Errorf("chain: btcd sent a bad txid %q: %w", r.Txid, err)
	}
	tx, err := decodeTxHex(kindBtcd, *txid, r.Hex)
	if err != nil {
		return err
	}
	found[*txid] = &foundTx{tx: tx, height: heightFromConfirmations(t, r.Confirmations), time: r.BlockTime}
	return nil
}

// Tx fetches a transaction with getrawtransaction; confirmed ones need
// btcd's --txindex.
func (b *btcdBackend) Tx(ctx context.Context, txid chainhash.Hash) (*wire.MsgTx, error) {
	txs, err := b.Txs(ctx, []chainhash.Hash{txid})
	if err != nil {
		return nil, err
	}
	return txs[0], nil
}

// Txs fetches transactions with getrawtransaction, all in one JSON-RPC
// batch (one round trip up to defaultMaxBatch of them). Without --txindex
// btcd finds mempool transactions only.
func (b *btcdBackend) Txs(ctx context.Context, txids []chainhash.Hash) ([]*wire.MsgTx, error) {
	txs, missing, err := b.rawTxs(ctx, txids)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, notFoundTxs("btcd at "+b.rpc.host, txids, missing, "confirmed transactions need btcd's --txindex")
	}
	return txs, nil
}

// FeeRate is EstimateFee's rate.
func (b *btcdBackend) FeeRate(ctx context.Context, targetBlocks int) (float64, error) {
	est, err := b.EstimateFee(ctx, targetBlocks)
	return est.SatPerVByte, err
}

// EstimateFee asks estimatefee (BTC/kB, targets up to 25 blocks) and
// getinfo's relay fee in one batch. btcd has no estimate until it has seen
// transactions confirm (always the case on a fresh regtest node); then the
// relay fee is the answer, marked as a fallback.
func (b *btcdBackend) EstimateFee(ctx context.Context, targetBlocks int) (FeeEstimate, error) {
	if err := checkTarget(targetBlocks); err != nil {
		return FeeEstimate{}, err
	}
	var estimate float64
	var info struct {
		RelayFee float64 `json:"relayfee"`
	}
	calls := []*rpcCall{
		newCall("estimatefee", &estimate, min(targetBlocks, btcdMaxFeeTarget)),
		newCall("getinfo", &info),
	}
	if err := b.rpc.batch(ctx, calls); err != nil {
		return FeeEstimate{}, err
	}
	floor := 1.0
	if calls[1].err == nil && info.RelayFee > 0 {
		floor = btcPerKBToSatPerVB(info.RelayFee)
	}
	if calls[0].err == nil && estimate > 0 {
		rate := max(btcPerKBToSatPerVB(estimate), floor)
		return FeeEstimate{SatPerVByte: rate, Note: fmt.Sprintf("btcd estimatefee for %d blocks", min(targetBlocks, btcdMaxFeeTarget))}, nil
	}
	// btcd reports "not enough blocks observed" as a generic invalid
	// request (code -32600), so that code means "no estimate yet" too.
	reason := "btcd has no fee estimate yet (it has not seen enough transactions confirm)"
	if calls[0].err != nil && calls[0].err.Code != codeInvalidRequest {
		reason = "btcd could not estimate a fee (" + calls[0].err.Message + ")"
	}
	return FeeEstimate{SatPerVByte: floor, Fallback: true, Note: reason + "; using the minimum relay fee"}, nil
}

// Broadcast sends tx with sendrawtransaction.
func (b *btcdBackend) Broadcast(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	return b.broadcast(ctx, tx)
}
