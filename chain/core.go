package chain

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// coreBackend reads the chain from Bitcoin Core's JSON-RPC.
//
// Core keeps no address index, so scripts are watched by a watch-only
// descriptor wallet (private keys disabled, blank): each script is imported
// once as a raw(HEX) descriptor, which matches exactly that output script
// whatever its type, and listunspent / listtransactions then answer from
// the wallet, mempool included. When Core runs without wallet support,
// ListUnspent falls back to scantxoutset with the same raw() descriptors
// (confirmed outputs only) and History is unsupported.
type coreBackend struct {
	nodeBase               // node-level calls go to "/", which works without a wallet
	wrpc        *rpcClient // calls to /wallet/NAME
	wallet      string
	rescanSince int64 // UNIX time for imports; -1 = now

	setup    sync.Mutex // held while the wallet is checked, created or imported into
	mode     coreMode
	imported map[string]bool // descriptors (without checksum) the wallet has
}

type coreMode int

const (
	modeUnknown coreMode = iota
	modeWallet           // a watch-only descriptor wallet is loaded
	modeScan             // no wallet support: scantxoutset
)

const (
	// importTimeout bounds importdescriptors, which rescans the chain from
	// rescan_since: up to an hour or more on mainnet.
	importTimeout = 2 * time.Hour
	// scanTimeout bounds scantxoutset, which reads the whole UTXO set.
	scanTimeout = 15 * time.Minute
	// listPage is how many wallet transactions one listtransactions call
	// returns.
	listPage = 1000
)

func newCore(e *endpoint) (*coreBackend, error) {
	hc, err := newHTTPClient(e)
	if err != nil {
		return nil, err
	}
	creds := func() (string, string, error) { return e.user, e.pass, nil }
	if e.cookie != "" {
		cookie := e.cookie
		creds = func() (string, string, error) { return readCookie(kindCore, cookie) }
	}
	node := &rpcClient{
		kind:    kindCore,
		url:     "http://" + e.host + "/",
		host:    e.host,
		creds:   creds,
		http:    hc,
		timeout: e.timeout,
		trips:   new(atomic.Int64),
	}
	return &coreBackend{
		nodeBase:    nodeBase{rpc: node, maxTxs: e.maxTxs},
		wrpc:        node.withPath("/wallet/" + url.PathEscape(e.wallet)),
		wallet:      e.wallet,
		rescanSince: e.rescanSince,
	}, nil
}

type coreUnspent struct {
	Txid          string      `json:"txid"`
	Vout          uint32      `json:"vout"`
	ScriptPubKey  string      `json:"scriptPubKey"`
	Amount        json.Number `json:"amount"`
	Confirmations int64       `json:"confirmations"`
	Height        int32       `json:"height"` // scantxoutset only
}

// ListUnspent answers from the watch-only wallet (after importing any new
// scripts), or from scantxoutset without wallet support.
func (b *coreBackend) ListUnspent(ctx context.Context, scripts [][]byte) ([]UTXO, error) {
	set := newScriptSet(scripts)
	if len(set) == 0 {
		return []UTXO{}, nil
	}
	mode, err := b.prepare(ctx, set)
	if err != nil {
		return nil, err
	}
	if mode == modeScan {
		return b.scanUnspent(ctx, set)
	}
	var list []coreUnspent
	t, calls, err := b.bracketed(ctx, b.wrpc, func() []*rpcCall {
		list = nil
		// minconf 0 includes the mempool; include_unsafe keeps
		// unconfirmed outputs from other people's transactions.
		return []*rpcCall{newCall("listunspent", &list, 0, 9999999, []string{}, true)}
	})
	if err != nil {
		return nil, err
	}
	if calls[0].err != nil {
		return nil, b.fail("listunspent", calls[0].err)
	}
	utxos := []UTXO{}
	for _, u := range list {
		utxo, ok, err := u.toUTXO(set)
		if err != nil {
			return nil, err
		}
		if ok {
			utxo.Height = heightFromConfirmations(t, u.Confirmations)
			utxos = append(utxos, utxo)
		}
	}
	sortUTXOs(utxos)
	return utxos, nil
}

// toUTXO converts a listunspent or scantxoutset entry; ok is false when it
// pays a script outside set (the wallet may watch other wallets' scripts).
func (u coreUnspent) toUTXO(set scriptSet) (UTXO, bool, error) {
	script, err := decodeHexField("scriptPubKey", u.ScriptPubKey)
	if err != nil {
		return UTXO{}, false, err
	}
	if !set.has(script) {
		return UTXO{}, false, nil
	}
	txid, err := chainhash.NewHashFromStr(u.Txid)
	if err != nil {
		return UTXO{}, false, fmt.Errorf("chain: Bitcoin Core sent a bad txid %q: %w", u.Txid, err)
	}
	value, err := parseBTC(u.Amount.String())
	if err != nil {
		return UTXO{}, false, err
	}
	return UTXO{OutPoint: wire.OutPoint{Hash: *txid, Index: u.Vout}, Value: value, PkScript: script}, true, nil
}

// scanUnspent searches the UTXO set for the scripts. It sees confirmed
// outputs only.
func (b *coreBackend) scanUnspent(ctx context.Context, set scriptSet) ([]UTXO, error) {
	objects := make([]map[string]string, 0, len(set))
	for _, s := range set.sorted() {
		objects = append(objects, map[string]string{"desc": rawDescriptor(s)})
	}
	var result struct {
		Success  bool          `json:"success"`
		Unspents []coreUnspent `json:"unspents"`
	}
	call := newCall("scantxoutset", &result, "start", objects)
	if err := b.rpc.batchTimeout(ctx, []*rpcCall{call}, max(b.rpc.timeout, scanTimeout)); err != nil {
		return nil, err
	}
	if call.err != nil {
		return nil, b.fail("scantxoutset", call.err)
	}
	if !result.Success {
		return nil, fmt.Errorf("%w: Bitcoin Core at %s did not finish scantxoutset (aborted or another scan running); retry",
			ErrUnavailable, b.rpc.host)
	}
	utxos := []UTXO{}
	for _, u := range result.Unspents {
		utxo, ok, err := u.toUTXO(set)
		if err != nil {
			return nil, err
		}
		if ok {
			utxo.Height = u.Height
			utxos = append(utxos, utxo)
		}
	}
	sortUTXOs(utxos)
	return utxos, nil
}

// Tx is Txs for one transaction.
func (b *coreBackend) Tx(ctx context.Context, txid chainhash.Hash) (*wire.MsgTx, error) {
	txs, err := b.Txs(ctx, []chainhash.Hash{txid})
	if err != nil {
		return nil, err
	}
	return txs[0], nil
}

// coreTxindexHint is what to do when Core does not know a transaction.
const coreTxindexHint = "start bitcoind with -txindex to look up any confirmed transaction"

// Txs asks getrawtransaction for all txids in one batch. Without -txindex
// that finds mempool transactions only, so the ones Core does not know go
// to the watch-only wallet's gettransaction in a second batch: one round
// trip when the node knows them all, two otherwise (plus the calls that
// open the wallet, on its first use).
func (b *coreBackend) Txs(ctx context.Context, txids []chainhash.Hash) ([]*wire.MsgTx, error) {
	txs, missing, err := b.rawTxs(ctx, txids)
	if err != nil || len(missing) == 0 {
		return txs, err
	}
	mode, err := b.prepare(ctx, nil)
	if err != nil {
		return nil, err
	}
	if mode != modeWallet {
		return nil, notFoundTxs("Bitcoin Core at "+b.rpc.host, txids, missing, coreTxindexHint)
	}
	wtxs := make([]struct {
		Hex string `json:"hex"`
	}, len(missing))
	calls := make([]*rpcCall, len(missing))
	for i, at := range missing {
		calls[i] = newCall("gettransaction", &wtxs[i], txids[at].String(), true)
	}
	if err := b.wrpc.batch(ctx, calls); err != nil {
		return nil, err
	}
	var still []int
	for i, c := range calls {
		at := missing[i]
		switch {
		case c.err != nil && c.err.Code == codeNoInfo:
			still = append(still, at)
		case c.err != nil:
			return nil, fmt.Errorf("chain: Bitcoin Core at %s failed gettransaction for %s: %w", b.rpc.host, txids[at], c.err)
		default:
			if txs[at], err = decodeTxHex(kindCore, txids[at], wtxs[i].Hex); err != nil {
				return nil, err
			}
		}
	}
	if len(still) > 0 {
		who := fmt.Sprintf("Bitcoin Core at %s (node and wallet %q)", b.rpc.host, b.wallet)
		return nil, notFoundTxs(who, txids, still, coreTxindexHint)
	}
	return txs, nil
}

// FeeRate is EstimateFee's rate.
func (b *coreBackend) FeeRate(ctx context.Context, targetBlocks int) (float64, error) {
	est, err := b.EstimateFee(ctx, targetBlocks)
	return est.SatPerVByte, err
}

// EstimateFee asks estimatesmartfee (BTC/kvB) and the mempool's minimum
// fee in one batch; the minimum is the floor and the fallback when Core
// has no estimate (regtest, a node that just started).
func (b *coreBackend) EstimateFee(ctx context.Context, targetBlocks int) (FeeEstimate, error) {
	if err := checkTarget(targetBlocks); err != nil {
		return FeeEstimate{}, err
	}
	var smart struct {
		FeeRate *float64 `json:"feerate"`
		Errors  []string `json:"errors"`
		Blocks  int      `json:"blocks"`
	}
	var pool struct {
		MempoolMinFee float64 `json:"mempoolminfee"`
		MinRelayTxFee float64 `json:"minrelaytxfee"`
	}
	calls := []*rpcCall{newCall("estimatesmartfee", &smart, targetBlocks), newCall("getmempoolinfo", &pool)}
	if err := b.rpc.batch(ctx, calls); err != nil {
		return FeeEstimate{}, err
	}
	floor := 1.0
	if calls[1].err == nil {
		if f := btcPerKBToSatPerVB(max(pool.MempoolMinFee, pool.MinRelayTxFee)); f > 0 {
			floor = f
		}
	}
	if calls[0].err == nil && smart.FeeRate != nil && *smart.FeeRate > 0 {
		return FeeEstimate{
			SatPerVByte: max(btcPerKBToSatPerVB(*smart.FeeRate), floor),
			Note:        fmt.Sprintf("Bitcoin Core estimatesmartfee for %d blocks", smart.Blocks),
		}, nil
	}
	reason := "Bitcoin Core has no fee estimate yet"
	switch {
	case calls[0].err != nil:
		reason = "Bitcoin Core could not estimate a fee (" + calls[0].err.Message + ")"
	case len(smart.Errors) > 0:
		reason = "Bitcoin Core has no fee estimate (" + smart.Errors[0] + ")"
	}
	return FeeEstimate{SatPerVByte: floor, Fallback: true, Note: reason + "; using the mempool's minimum fee"}, nil
}

// Broadcast sends tx with sendrawtransaction, whose default maxfeerate
// refuses absurd fees.
func (b *coreBackend) Broadcast(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	return b.broadcast(ctx, tx)
}
