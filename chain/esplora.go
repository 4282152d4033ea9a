package chain

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// esploraBackend reads the chain from an Esplora REST API (Blockstream's
// electrs; blockstream.info/api, mempool.space/api). Esplora indexes by
// script hash, so any output script works. REST has no batching: a sync
// costs one request per script, sent a few at a time.
type esploraBackend struct {
	base     string // scheme://host[:port]/path, no trailing slash
	host     string
	http     *http.Client
	timeout  time.Duration
	trips    atomic.Int64
	parallel int // requests in flight per call
	maxTxs   int // transactions per script History and ListUnspent accept

	mu  sync.Mutex
	net *chaincfg.Params
}

const (
	// esploraParallel keeps public servers' rate limits in mind.
	esploraParallel = 4
	// esploraChainPage is the documented page size of /txs/chain.
	esploraChainPage = 25
)

func newEsplora(e *endpoint) (*esploraBackend, error) {
	hc, err := newHTTPClient(e)
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if e.tls {
		scheme = "https"
	}
	return &esploraBackend{
		base:     scheme + "://" + e.host + e.path,
		host:     e.host,
		http:     hc,
		timeout:  e.timeout,
		parallel: esploraParallel,
		maxTxs:   e.maxTxs,
	}, nil
}

// RoundTrips is the number of HTTP requests sent so far.
func (b *esploraBackend) RoundTrips() int64 { return b.trips.Load() }

// String names the server in messages: "Esplora at HOST".
func (b *esploraBackend) String() string { return kindEsplora.String() + " at " + b.host }

// scriptHash is Esplora's key for a script: the hex SHA-256 of the script,
// in digest order. (Electrum's protocol reverses the bytes; Esplora's REST
// API does not.)
func scriptHash(script []byte) string {
	sum := sha256.Sum256(script)
	return hex.EncodeToString(sum[:])
}

// do sends one request and reads at most limit bytes of its answer.
func (b *esploraBackend) do(parent context.Context, method, path string, body string, limit int64) ([]byte, error) {
	ctx, cancel := withTimeout(parent, b.timeout)
	defer cancel()
	var reader io.Reader
	if body != "" {
		reader = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, reader)
	if err != nil {
		return nil, fmt.Errorf("chain: build request for %s: %w", b.host, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "text/plain")
	}
	b.trips.Add(1)
	resp, err := b.http.Do(req)
	if err != nil {
		return nil, transportError(parent, kindEsplora, b.host, b.timeout, err)
	}
	defer resp.Body.Close()
	raw, err := readBody(resp, limit, kindEsplora, b.host, path)
	var big *tooLargeError
	if errors.As(err, &big) {
		return nil, err
	}
	if err != nil {
		return nil, transportError(parent, kindEsplora, b.host, b.timeout, err)
	}
	if err := statusError(kindEsplora, b.host, resp.StatusCode, raw); err != nil {
		return nil, err
	}
	return raw, nil
}

func (b *esploraBackend) get(ctx context.Context, path string, limit int64) ([]byte, error) {
	raw, err := b.do(ctx, http.MethodGet, path, "", limit)
	var status *httpStatusError
	if errors.As(err, &status) && status.status == http.StatusNotFound {
		return nil, fmt.Errorf("%w; if this is unexpected, check that the URL is an Esplora API base such as esplora+https://blockstream.info/api", err)
	}
	return raw, err
}

func (b *esploraBackend) getJSON(ctx context.Context, path string, limit int64, v any) error {
	raw, err := b.get(ctx, path, limit)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: Esplora at %s sent an unexpected answer to %s (%v); check that the URL is an Esplora API base such as https://blockstream.info/api",
			ErrUnavailable, b.host, path, err)
	}
	return nil
}

func (b *esploraBackend) getHash(ctx context.Context, path string) (chainhash.Hash, error) {
	raw, err := b.get(ctx, path, maxSmallAnswer)
	if err != nil {
		return chainhash.Hash{}, err
	}
	h, err := chainhash.NewHashFromStr(strings.TrimSpace(string(raw)))
	if err != nil {
		return chainhash.Hash{}, fmt.Errorf("%w: Esplora at %s answered %s with %q, not a block hash; check the API base path",
			ErrUnavailable, b.host, path, snippet(raw))
	}
	return *h, nil
}

// Network identifies the network by its genesis block.
func (b *esploraBackend) Network(ctx context.Context) (*chaincfg.Params, error) {
	b.mu.Lock()
	cached := b.net
	b.mu.Unlock()
	if cached != nil {
		return cached, nil
	}
	genesis, err := b.getHash(ctx, "/block-height/0")
	if err != nil {
		return nil, err
	}
	p, err := paramsForGenesis(kindEsplora, genesis)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.net = p
	b.mu.Unlock()
	return p, nil
}

// Tip asks for the tip's hash and then that block's height, so the two
// belong together even if a block arrives in between.
func (b *esploraBackend) Tip(ctx context.Context) (int32, chainhash.Hash, error) {
	hash, err := b.getHash(ctx, "/blocks/tip/hash")
	if err != nil {
		return 0, chainhash.Hash{}, err
	}
	var block struct {
		Height *int32 `json:"height"`
	}
	if err := b.getJSON(ctx, "/block/"+hash.String(), maxSmallAnswer, &block); err != nil {
		return 0, chainhash.Hash{}, err
	}
	if block.Height == nil {
		return 0, chainhash.Hash{}, fmt.Errorf("chain: Esplora at %s sent block %s without a height", b.host, hash)
	}
	return *block.Height, hash, nil
}

type esploraStatus struct {
	Confirmed   bool  `json:"confirmed"`
	BlockHeight int32 `json:"block_height"`
	BlockTime   int64 `json:"block_time"`
}

func (s esploraStatus) height() int32 {
	if !s.Confirmed {
		return 0
	}
	return s.BlockHeight
}

// ListUnspent asks /scripthash/:hash/utxo per script. Esplora leaves out
// outputs spent in its mempool. The values are Esplora's word (see UTXO);
// more outputs for one script than max_txs is ErrTooLarge.
func (b *esploraBackend) ListUnspent(ctx context.Context, scripts [][]byte) ([]UTXO, error) {
	set := newScriptSet(scripts)
	perScript, err := forEach(ctx, b.parallel, set.sorted(), func(ctx context.Context, script []byte) ([]UTXO, error) {
		var list []struct {
			Txid   string        `json:"txid"`
			Vout   uint32        `json:"vout"`
			Value  int64         `json:"value"`
			Status esploraStatus `json:"status"`
		}
		if err := b.getJSON(ctx, "/scripthash/"+scriptHash(script)+"/utxo", maxListAnswer, &list); err != nil {
			return nil, err
		}
		if len(list) > b.maxTxs {
			return nil, tooManyTxs(kindEsplora, b.host, b.scriptName(script), b.maxTxs)
		}
		utxos := make([]UTXO, 0, len(list))
		for _, u := range list {
			txid, err := parseHash(u.Txid)
			if err != nil {
				return nil, fmt.Errorf("chain: Esplora at %s sent a bad txid %w", b.host, err)
			}
			if u.Value < 0 || u.Value > maxSats {
				return nil, fmt.Errorf("chain: Esplora sent an impossible value %d for %s:%d", u.Value, u.Txid, u.Vout)
			}
			utxos = append(utxos, UTXO{
				OutPoint: wire.OutPoint{Hash: txid, Index: u.Vout},
				Value:    u.Value,
				PkScript: script,
				Height:   u.Status.height(),
			})
		}
		return utxos, nil
	})
	if err != nil {
		return nil, err
	}
	utxos := []UTXO{}
	for _, list := range perScript {
		utxos = append(utxos, list...)
	}
	sortUTXOs(utxos)
	return utxos, nil
}

// scriptName names a script in messages: its address when the network is
// known (it is after CheckNetwork), else its hex.
func (b *esploraBackend) scriptName(script []byte) string {
	b.mu.Lock()
	net := b.net
	b.mu.Unlock()
	return describeScript(script, net)
}

type esploraTx struct {
	Txid   string        `json:"txid"`
	Status esploraStatus `json:"status"`
}

// History asks /scripthash/:hash/txs per script (the mempool's entries and
// the newest 25 confirmed) and pages further back through
// /txs/chain/:last_seen_txid while pages come back full. Paging stops with
// ErrTooLarge past max_txs transactions for one script, and with ErrLying
// when a page ends at a transaction an earlier page ended at (a server
// that repeats itself would otherwise be paged forever).
func (b *esploraBackend) History(ctx context.Context, scripts [][]byte) ([]TxRef, error) {
	perScript, err := forEach(ctx, b.parallel, newScriptSet(scripts).sorted(), func(ctx context.Context, script []byte) ([]TxRef, error) {
		base := "/scripthash/" + scriptHash(script) + "/txs"
		var page []esploraTx
		if err := b.getJSON(ctx, base, maxListAnswer, &page); err != nil {
			return nil, err
		}
		var refs []TxRef
		lasts := map[string]bool{} // the txid each page ended at
		for {
			var confirmed int
			var last string
			for _, t := range page {
				txid, err := parseHash(t.Txid)
				if err != nil {
					return nil, fmt.Errorf("chain: Esplora at %s sent a bad txid %w", b.host, err)
				}
				refs = append(refs, TxRef{TxID: txid, Height: t.Status.height(), Time: t.Status.BlockTime})
				if t.Status.Confirmed {
					confirmed++
					last = txid.String()
				}
			}
			if len(refs) > b.maxTxs {
				return nil, tooManyTxs(kindEsplora, b.host, b.scriptName(script), b.maxTxs)
			}
			if confirmed < esploraChainPage {
				return refs, nil
			}
			if lasts[last] {
				return nil, repeatedPage(kindEsplora, b.host, b.scriptName(script), last)
			}
			lasts[last] = true
			page = nil
			if err := b.getJSON(ctx, base+"/chain/"+last, maxListAnswer, &page); err != nil {
				return nil, err
			}
		}
	})
	if err != nil {
		return nil, err
	}
	h := historySet{}
	for _, refs := range perScript {
		for _, r := range refs {
			h.add(r)
		}
	}
	return h.sorted(), nil
}

// Tx fetches /tx/:txid/hex.
func (b *esploraBackend) Tx(ctx context.Context, txid chainhash.Hash) (*wire.MsgTx, error) {
	raw, err := b.get(ctx, "/tx/"+txid.String()+"/hex", maxTxAnswer)
	var status *httpStatusError
	if errors.As(err, &status) && status.status == http.StatusNotFound {
		return nil, fmt.Errorf("%w: Esplora at %s does not know transaction %s", ErrNotFound, b.host, txid)
	}
	if err != nil {
		return nil, err
	}
	return decodeTxHex(kindEsplora, txid, strings.TrimSpace(string(raw)))
}

// Txs fetches each transaction as Tx does, parallel at a time: Esplora
// has no batch request, so n transactions cost n round trips.
func (b *esploraBackend) Txs(ctx context.Context, txids []chainhash.Hash) ([]*wire.MsgTx, error) {
	return forEach(ctx, b.parallel, txids, b.Tx)
}

// BlockHash reads /block-height/:height, which answers 404 above the tip.
func (b *esploraBackend) BlockHash(ctx context.Context, height int32) (chainhash.Hash, error) {
	if height < 0 {
		return chainhash.Hash{}, fmt.Errorf("chain: no block has the negative height %d", height)
	}
	path := "/block-height/" + strconv.Itoa(int(height))
	// Not b.get: its 404 hint about the URL is wrong here, where a 404 is
	// the documented answer for a height above the tip.
	raw, err := b.do(ctx, http.MethodGet, path, "", maxSmallAnswer)
	var status *httpStatusError
	if errors.As(err, &status) && status.status == http.StatusNotFound {
		return chainhash.Hash{}, fmt.Errorf("%w: Esplora at %s has no block at height %d (it is above the tip)",
			ErrNotFound, b.host, height)
	}
	if err != nil {
		return chainhash.Hash{}, err
	}
	hash, err := parseHash(strings.TrimSpace(string(raw)))
	if err != nil {
		return chainhash.Hash{}, fmt.Errorf("%w: Esplora at %s answered %s with %w; check the API base path",
			ErrUnavailable, b.host, path, err)
	}
	return hash, nil
}

// Blocks reads /block/:hash/raw (the serialized block, binary) for each
// hash, parallel at a time, and checks each against its hash and merkle
// root: one round trip per block.
func (b *esploraBackend) Blocks(ctx context.Context, hashes []chainhash.Hash) ([]*wire.MsgBlock, error) {
	return forEach(ctx, b.parallel, hashes, func(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, error) {
		raw, err := b.do(ctx, http.MethodGet, "/block/"+hash.String()+"/raw", "", maxRawBlockAnswer)
		var status *httpStatusError
		if errors.As(err, &status) && status.status == http.StatusNotFound {
			return nil, fmt.Errorf("%w: Esplora at %s does not know block %s", ErrNotFound, b.host, hash)
		}
		if err != nil {
			return nil, err
		}
		block, err := decodeBlock(raw, hash)
		if err != nil {
			return nil, fmt.Errorf("%w: Esplora at %s sent a bad block %s: %v", ErrLying, b.host, hash, err)
		}
		return block, nil
	})
}

// Mempool reads /mempool/txids, the txids of the whole mempool in one
// answer.
func (b *esploraBackend) Mempool(ctx context.Context) ([]chainhash.Hash, error) {
	var list []string
	if err := b.getJSON(ctx, "/mempool/txids", maxListAnswer, &list); err != nil {
		return nil, err
	}
	txids := make([]chainhash.Hash, len(list))
	for i, s := range list {
		h, err := parseHash(s)
		if err != nil {
			return nil, fmt.Errorf("chain: Esplora at %s listed a bad txid in its mempool: %w", b.host, err)
		}
		txids[i] = h
	}
	return txids, nil
}

// FeeRate is EstimateFee's rate.
func (b *esploraBackend) FeeRate(ctx context.Context, targetBlocks int) (float64, error) {
	est, err := b.EstimateFee(ctx, targetBlocks)
	return est.SatPerVByte, err
}

// EstimateFee reads /fee-estimates (sat/vB by target) and takes the
// estimate for the largest listed target not above targetBlocks, or the
// smallest listed target when targetBlocks is below all of them. An empty
// table (regtest) falls back to 1 sat/vB.
func (b *esploraBackend) EstimateFee(ctx context.Context, targetBlocks int) (FeeEstimate, error) {
	if err := checkTarget(targetBlocks); err != nil {
		return FeeEstimate{}, err
	}
	var table map[string]float64
	if err := b.getJSON(ctx, "/fee-estimates", maxSmallAnswer, &table); err != nil {
		return FeeEstimate{}, err
	}
	type entry struct {
		target int
		rate   float64
	}
	var entries []entry
	for k, v := range table {
		t, err := strconv.Atoi(k)
		if err != nil || t <= 0 || !(v > 0) || v > 1e7 {
			continue // not a target, or not a usable rate
		}
		entries = append(entries, entry{t, v})
	}
	if len(entries) == 0 {
		return FeeEstimate{SatPerVByte: 1, Fallback: true,
			Note: "Esplora has no fee estimates (as on regtest); using 1 sat/vB, the usual minimum relay fee"}, nil
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].target < entries[j].target })
	pick := entries[0]
	for _, e := range entries {
		if e.target <= targetBlocks {
			pick = e
		}
	}
	return FeeEstimate{SatPerVByte: pick.rate, Note: fmt.Sprintf("Esplora fee estimate for %d blocks", pick.target)}, nil
}

// Broadcast posts the transaction's hex to /tx.
func (b *esploraBackend) Broadcast(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	txHex, err := encodeTxHex(tx)
	if err != nil {
		return chainhash.Hash{}, err
	}
	txid := tx.TxHash()
	raw, err := b.do(ctx, http.MethodPost, "/tx", txHex, maxSmallAnswer)
	var status *httpStatusError
	if errors.As(err, &status) && status.status == http.StatusBadRequest {
		return txid, esploraRejection(txid, status.body)
	}
	if err != nil {
		return chainhash.Hash{}, err
	}
	if got := strings.TrimSpace(string(raw)); got != txid.String() {
		return chainhash.Hash{}, fmt.Errorf("chain: Esplora accepted transaction %s but reported txid %q", txid, snippet(raw))
	}
	return txid, nil
}

// esploraRejection reads the node's error that Esplora passes on, e.g.
// `sendrawtransaction RPC error: {"code":-26,"message":"min relay fee not met"}`.
func esploraRejection(txid chainhash.Hash, body string) error {
	var nodeErr rpcError
	if i := strings.Index(body, "{"); i >= 0 && json.Unmarshal([]byte(body[i:]), &nodeErr) == nil && nodeErr.Code != 0 {
		return rejection(kindEsplora, txid, nodeErr.Code, nodeErr.Message)
	}
	return fmt.Errorf("%w: Esplora refused transaction %s: %s", ErrRejected, txid, snippet([]byte(body)))
}
