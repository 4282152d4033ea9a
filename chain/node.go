package chain

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// This file holds what the btcd and Bitcoin Core backends share: both
// answer getblockchaininfo, getrawtransaction and sendrawtransaction alike.

// chainInfo is the part of getblockchaininfo both nodes fill.
type chainInfo struct {
	Chain         string `json:"chain"`
	Blocks        int32  `json:"blocks"`
	BestBlockHash string `json:"bestblockhash"`
}

type tip struct {
	height int32
	hash   chainhash.Hash
}

func (ci *chainInfo) tip(k kind) (tip, error) {
	h, err := chainhash.NewHashFromStr(ci.BestBlockHash)
	if err != nil {
		return tip{}, fmt.Errorf("chain: %s sent a bad best block hash %q: %w", k, ci.BestBlockHash, err)
	}
	return tip{height: ci.Blocks, hash: *h}, nil
}

// nodeBase is embedded by the JSON-RPC backends.
type nodeBase struct {
	rpc *rpcClient
	mu  sync.Mutex
	net *chaincfg.Params // cached: a node does not change networks
	// blocksPerRequest caps getblock calls per HTTP request; 0 means
	// nodeBlocksPerRequest (tests lower it to see the chunking).
	blocksPerRequest int
	// maxTxs bounds the transactions one script may have (max_txs=).
	maxTxs int
}

func (b *nodeBase) RoundTrips() int64 { return b.rpc.RoundTrips() }

// String names the node in messages: "btcd at HOST", "Bitcoin Core at HOST".
func (b *nodeBase) String() string { return b.rpc.kind.String() + " at " + b.rpc.host }

func (b *nodeBase) Network(ctx context.Context) (*chaincfg.Params, error) {
	b.mu.Lock()
	cached := b.net
	b.mu.Unlock()
	if cached != nil {
		return cached, nil
	}
	var info chainInfo
	if err := b.rpc.call(ctx, "getblockchaininfo", &info); err != nil {
		return nil, b.fail("getblockchaininfo", err)
	}
	p, err := paramsForChain(b.rpc.kind, info.Chain)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.net = p
	b.mu.Unlock()
	return p, nil
}

func (b *nodeBase) Tip(ctx context.Context) (int32, chainhash.Hash, error) {
	var info chainInfo
	if err := b.rpc.call(ctx, "getblockchaininfo", &info); err != nil {
		return 0, chainhash.Hash{}, b.fail("getblockchaininfo", err)
	}
	t, err := info.tip(b.rpc.kind)
	if err != nil {
		return 0, chainhash.Hash{}, err
	}
	return t.height, t.hash, nil
}

// rawTxs fetches transactions with getrawtransaction (non-verbose: the
// hex), all in one batch. A transaction the node does not know (code -5:
// not in its mempool and, without a transaction index, not looked up in
// blocks) leaves nil in txs and its index in missing; the caller says why.
// Any other refusal fails the call.
func (b *nodeBase) rawTxs(ctx context.Context, txids []chainhash.Hash) (txs []*wire.MsgTx, missing []int, err error) {
	hexes := make([]string, len(txids))
	calls := make([]*rpcCall, len(txids))
	for i, txid := range txids {
		calls[i] = newCall("getrawtransaction", &hexes[i], txid.String())
	}
	if err := b.rpc.batch(ctx, calls); err != nil {
		return nil, nil, err
	}
	txs = make([]*wire.MsgTx, len(txids))
	for i, c := range calls {
		switch {
		case c.err != nil && c.err.Code == codeNoInfo:
			missing = append(missing, i)
		case c.err != nil:
			return nil, nil, fmt.Errorf("chain: %s at %s failed getrawtransaction for %s: %w", b.rpc.kind, b.rpc.host, txids[i], c.err)
		case c.null:
			return nil, nil, fmt.Errorf("chain: %s at %s answered getrawtransaction for %s with nothing", b.rpc.kind, b.rpc.host, txids[i])
		default:
			if txs[i], err = decodeTxHex(b.rpc.kind, txids[i], hexes[i]); err != nil {
				return nil, nil, err
			}
		}
	}
	return txs, missing, nil
}

// notFoundTxs is the ErrNotFound for the transactions at missing: it names
// the first and counts the rest, then gives the hint.
func notFoundTxs(who string, txids []chainhash.Hash, missing []int, hint string) error {
	more := ""
	if len(missing) > 1 {
		more = fmt.Sprintf(" (and %d more of the %d asked for)", len(missing)-1, len(txids))
	}
	return fmt.Errorf("%w: %s does not know transaction %s%s; %s", ErrNotFound, who, txids[missing[0]], more, hint)
}

// broadcast sends a transaction with sendrawtransaction (default
// parameters: on bitcoind that keeps its maxfeerate guard).
func (b *nodeBase) broadcast(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	txHex, err := encodeTxHex(tx)
	if err != nil {
		return chainhash.Hash{}, err
	}
	txid := tx.TxHash()
	var got string
	err = b.rpc.call(ctx, "sendrawtransaction", &got, txHex)
	var rerr *rpcError
	if errors.As(err, &rerr) {
		return txid, rejection(b.rpc.kind, txid, rerr.Code, rerr.Message)
	}
	if err != nil {
		return chainhash.Hash{}, err
	}
	if got != txid.String() {
		return chainhash.Hash{}, fmt.Errorf("chain: %s accepted transaction %s but reported txid %q", b.rpc.kind, txid, got)
	}
	return txid, nil
}

// rejection turns a node's refusal of a transaction into an error wrapping
// ErrRejected, or nil when the node already has it (so a repeated
// broadcast is harmless).
func rejection(k kind, txid chainhash.Hash, code int, msg string) error {
	if code == codeAlreadyInChain || alreadyKnown(msg) {
		return nil
	}
	switch code {
	case codeVerifyError:
		return fmt.Errorf("%w: %s could not verify transaction %s: %s; its inputs may be spent or unknown: sync the wallet and rebuild it",
			ErrRejected, k, txid, msg)
	case codeVerifyRejected:
		return fmt.Errorf("%w: %s refused transaction %s: %s; check its fee rate and outputs",
			ErrRejected, k, txid, msg)
	case codeDeserialization:
		return fmt.Errorf("%w: %s could not decode transaction %s: %s", ErrRejected, k, txid, msg)
	}
	return fmt.Errorf("%w: %s refused transaction %s: %s (code %d)", ErrRejected, k, txid, msg, code)
}

// alreadyKnown recognises refusals that only mean the node has the
// transaction already: btcd's "already have transaction" (code -26) and
// Bitcoin Core's txn-already-in-mempool / txn-already-known.
func alreadyKnown(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "already have transaction") ||
		strings.Contains(m, "txn-already-in-mempool") ||
		strings.Contains(m, "txn-already-known")
}

// fail wraps an error from a node call that the backend does not handle
// itself, naming the method.
func (b *nodeBase) fail(method string, err error) error {
	var rerr *rpcError
	if errors.As(err, &rerr) {
		return fmt.Errorf("chain: %s at %s failed %s: %w", b.rpc.kind, b.rpc.host, method, rerr)
	}
	return err
}

func decodeTxHex(k kind, want chainhash.Hash, txHex string) (*wire.MsgTx, error) {
	raw, err := hex.DecodeString(txHex)
	if err != nil {
		return nil, fmt.Errorf("chain: %s sent transaction %s as bad hex: %w", k, want, err)
	}
	tx, err := decodeTx(raw)
	if err != nil {
		return nil, fmt.Errorf("chain: %s sent an undecodable transaction %s: %w", k, want, err)
	}
	if got := tx.TxHash(); got != want {
		return nil, fmt.Errorf("%w: %s sent transaction %s when asked for %s", ErrLying, k, got, want)
	}
	return tx, nil
}

func encodeTxHex(tx *wire.MsgTx) (string, error) {
	raw, err := encodeTx(tx)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(raw), nil
}

// heightFromConfirmations turns a confirmation count into a block height
// against the tip the count was taken at; 0 for unconfirmed.
func heightFromConfirmations(t tip, confirmations int64) int32 {
	if confirmations <= 0 {
		return 0
	}
	return t.height - int32(confirmations) + 1
}

// maxTipMoves is how often a bracketed batch is retried when a block
// arrives while the node answers it.
const maxTipMoves = 3

// bracketed sends the calls build returns between two getblockchaininfo
// calls in one batch and retries while the tip moved in between, so that
// confirmation counts in the answers convert to heights against a known
// tip. build must return fresh calls each time.
func (b *nodeBase) bracketed(ctx context.Context, c *rpcClient, build func() []*rpcCall) (tip, []*rpcCall, error) {
	for attempt := 0; ; attempt++ {
		var before, after chainInfo
		calls := build()
		all := make([]*rpcCall, 0, len(calls)+2)
		all = append(all, newCall("getblockchaininfo", &before))
		all = append(all, calls...)
		all = append(all, newCall("getblockchaininfo", &after))
		if err := c.batch(ctx, all); err != nil {
			return tip{}, nil, err
		}
		for _, edge := range []*rpcCall{all[0], all[len(all)-1]} {
			if edge.err != nil {
				return tip{}, nil, b.fail("getblockchaininfo", edge.err)
			}
		}
		if before.BestBlockHash == after.BestBlockHash {
			t, err := after.tip(b.rpc.kind)
			return t, calls, err
		}
		if attempt == maxTipMoves-1 {
			return tip{}, nil, fmt.Errorf("%w: the chain tip of %s at %s kept moving during %d attempts; retry",
				ErrUnavailable, b.rpc.kind, b.rpc.host, maxTipMoves)
		}
	}
}

// BlockHash asks getblockhash. Above the tip btcd answers code -1 "Block
// number out of range" and Bitcoin Core code -8 "Block height out of
// range"; both become ErrNotFound.
func (b *nodeBase) BlockHash(ctx context.Context, height int32) (chainhash.Hash, error) {
	if height < 0 {
		return chainhash.Hash{}, fmt.Errorf("chain: no block has the negative height %d", height)
	}
	var hashHex string
	err := b.rpc.call(ctx, "getblockhash", &hashHex, height)
	var rerr *rpcError
	if errors.As(err, &rerr) && (rerr.Code == codeMisc || rerr.Code == codeInvalidParameter) &&
		strings.Contains(rerr.Message, "out of range") {
		return chainhash.Hash{}, fmt.Errorf("%w: %s at %s has no block at height %d (it is above the tip)",
			ErrNotFound, b.rpc.kind, b.rpc.host, height)
	}
	if err != nil {
		return chainhash.Hash{}, b.fail("getblockhash", err)
	}
	hash, err := parseHash(hashHex)
	if err != nil {
		return chainhash.Hash{}, fmt.Errorf("chain: %s at %s answered getblockhash %d with %w", b.rpc.kind, b.rpc.host, height, err)
	}
	return hash, nil
}

// Blocks asks getblock with verbosity 0 (the serialized block as hex) for
// every hash, up to nodeBlocksPerRequest of them per JSON-RPC batch, so 20
// blocks take one round trip. Each block is checked against its hash and
// merkle root before it is returned.
func (b *nodeBase) Blocks(ctx context.Context, hashes []chainhash.Hash) ([]*wire.MsgBlock, error) {
	per := b.blocksPerRequest
	if per <= 0 {
		per = nodeBlocksPerRequest
	}
	blocks := make([]*wire.MsgBlock, 0, len(hashes))
	for start := 0; start < len(hashes); start += per {
		chunk := hashes[start:min(start+per, len(hashes))]
		hexes := make([]string, len(chunk))
		calls := make([]*rpcCall, len(chunk))
		for i, hash := range chunk {
			// Positional verbosity as a number: Bitcoin Core and btcd
			// v0.24+ both read it so (Core names it verbosity; btcd
			// refuses a bool there).
			calls[i] = newCall("getblock", &hexes[i], hash.String(), 0)
		}
		if err := b.rpc.batch(ctx, calls); err != nil {
			return nil, err
		}
		for i, c := range calls {
			if c.err != nil {
				return nil, b.blockError(chunk[i], c.err)
			}
			if c.null {
				return nil, fmt.Errorf("chain: %s at %s answered getblock for %s with nothing", b.rpc.kind, b.rpc.host, chunk[i])
			}
			block, err := decodeBlockHex(hexes[i], chunk[i])
			if err != nil {
				return nil, fmt.Errorf("%w: %s at %s sent a bad block %s: %v", ErrLying, b.rpc.kind, b.rpc.host, chunk[i], err)
			}
			blocks = append(blocks, block)
		}
	}
	return blocks, nil
}

// blockError explains a node's refusal to serve a block.
func (b *nodeBase) blockError(hash chainhash.Hash, err *rpcError) error {
	switch {
	case err.Code == codeNoInfo:
		// Both nodes: code -5 "Block not found".
		return fmt.Errorf("%w: %s at %s does not know block %s", ErrNotFound, b.rpc.kind, b.rpc.host, hash)
	case strings.Contains(strings.ToLower(err.Message), "pruned"):
		// Core: "Block not available (pruned data)".
		return fmt.Errorf("%w: %s at %s has pruned block %s (%s); reading blocks needs a node that keeps them (not -prune) or one that still has this range",
			ErrUnsupported, b.rpc.kind, b.rpc.host, hash, err.Message)
	case err.Code == codeInvalidParams:
		// A btcd older than v0.24 takes a bool where verbosity 0 goes.
		return fmt.Errorf("%w: %s at %s does not accept getblock with verbosity 0 (%s); countersign needs btcd v0.24 or newer, or Bitcoin Core",
			ErrUnsupported, b.rpc.kind, b.rpc.host, err.Message)
	}
	return fmt.Errorf("chain: %s at %s failed getblock for %s: %w", b.rpc.kind, b.rpc.host, hash, err)
}

// Mempool asks getrawmempool (non-verbose: txids only).
func (b *nodeBase) Mempool(ctx context.Context) ([]chainhash.Hash, error) {
	var list []string
	if err := b.rpc.call(ctx, "getrawmempool", &list); err != nil {
		return nil, b.fail("getrawmempool", err)
	}
	txids := make([]chainhash.Hash, len(list))
	for i, s := range list {
		h, err := parseHash(s)
		if err != nil {
			return nil, fmt.Errorf("chain: %s at %s listed a bad txid in its mempool: %w", b.rpc.kind, b.rpc.host, err)
		}
		txids[i] = h
	}
	return txids, nil
}

// decodeBlockHex is decodeBlock for a node's hex answer.
func decodeBlockHex(blockHex string, want chainhash.Hash) (*wire.MsgBlock, error) {
	raw, err := hex.DecodeString(blockHex)
	if err != nil {
		return nil, fmt.Errorf("it is not hex: %w", err)
	}
	return decodeBlock(raw, want)
}

// parseHash reads a block hash or txid in its usual byte-reversed hex.
// Unlike chainhash.NewHashFromStr it wants all 64 digits: a short or empty
// answer is an error, not a hash padded with zeros.
func parseHash(s string) (chainhash.Hash, error) {
	if len(s) != 2*chainhash.HashSize {
		return chainhash.Hash{}, fmt.Errorf("%q, not a 64-digit hash", snippet([]byte(s)))
	}
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		return chainhash.Hash{}, fmt.Errorf("%q, not a hash: %w", s, err)
	}
	return *h, nil
}
