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
}

func (b *nodeBase) RoundTrips() int64 { return b.rpc.RoundTrips() }

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

// rawTx fetches a transaction's hex with getrawtransaction. The error is
// the node's *rpcError when it answered with one.
func (b *nodeBase) rawTx(ctx context.Context, txid chainhash.Hash) (*wire.MsgTx, error) {
	var txHex string
	if err := b.rpc.call(ctx, "getrawtransaction", &txHex, txid.String()); err != nil {
		return nil, err
	}
	return decodeTxHex(b.rpc.kind, txid, txHex)
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
		return nil, fmt.Errorf("chain: %s sent transaction %s when asked for %s", k, got, want)
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
