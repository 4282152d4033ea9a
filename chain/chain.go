package chain

import (
	"context"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

var (
	// ErrUnavailable means the backend could not be reached or did not
	// answer in time: down, wrong host or port, busy, still starting.
	// Retrying later may help; WithRetry does so for reads.
	ErrUnavailable = errors.New("chain backend unavailable")
	// ErrWrongNetwork means the backend serves another network than the
	// wallet's (CheckNetwork).
	ErrWrongNetwork = errors.New("chain backend is on the wrong network")
	// ErrAuth means the backend refused the credentials or the client.
	ErrAuth = errors.New("chain backend refused the credentials")
	// ErrBadURL means a backend URL could not be parsed (bad input).
	ErrBadURL = errors.New("invalid chain backend URL")
	// ErrNotFound means the backend does not know the transaction asked for.
	ErrNotFound = errors.New("not found on the chain backend")
	// ErrRejected means the node refused to accept a transaction: invalid,
	// conflicting with the chain or mempool, or against its policy.
	ErrRejected = errors.New("transaction rejected by the chain backend")
	// ErrUnsupported means the backend cannot answer this kind of query
	// (a script without an address on btcd, history without Core's wallet,
	// a network countersign does not know).
	ErrUnsupported = errors.New("not supported by this chain backend")
	// ErrLying means the backend's answer contradicts what it proved: it
	// claims an output holds another value or script than the
	// transaction it sent (whose txid was checked) says, or it sends the
	// same page of a list again. The server is broken or hostile; asking
	// it again does not help, so WithRetry does not retry it, and nothing
	// from the answer is stored. A sentinel of its own rather than
	// ErrUnavailable, whose advice (retry later) would be wrong here.
	ErrLying = errors.New("chain backend contradicted itself")
	// ErrTooLarge means an answer went past a limit that bounds the memory
	// and time a sync may take: a body larger than the most its request
	// can legitimately produce, or more transactions for one script than
	// the URL's max_txs (default 10,000). The message says which.
	ErrTooLarge = errors.New("chain backend answer exceeds countersign's limits")
	// ErrInsecure means a backend URL would send RPC credentials or the
	// wallet's addresses unencrypted to a host that is not this computer
	// (see OpenWith); the message says how to encrypt it or opt in.
	ErrInsecure = errors.New("chain backend URL is not encrypted")
)

// UTXO is an unspent output paying one of the queried scripts.
//
// From ListUnspent, Value and PkScript are the backend's word: Esplora and
// Bitcoin Core take them from summary fields of their answers, not from a
// transaction. A caller that keeps them checks them against the funding
// transaction first (ProveUTXO); Height is the backend's word too, which
// no answer can prove without block headers.
type UTXO struct {
	OutPoint wire.OutPoint
	Value    int64 // satoshis
	PkScript []byte
	Height   int32 // block height of the funding transaction; 0 = unconfirmed
}

// TxRef is a transaction that pays or spends one of the queried scripts.
type TxRef struct {
	TxID   chainhash.Hash
	Height int32 // 0 = unconfirmed
	// Time is the timestamp (Unix seconds) of the block that confirmed
	// the transaction, as the backend reports it (btcd's and Core's
	// blocktime, Esplora's status.block_time); 0 while unconfirmed or
	// when the backend said none. It dates a history (an accountant's
	// export), nothing that moves money.
	Time int64
}

// Backend is a source of chain data for a set of output scripts. All methods
// are safe for concurrent use and end when ctx ends or the backend's own
// timeout passes.
type Backend interface {
	// Network reports which network the backend serves.
	Network(ctx context.Context) (*chaincfg.Params, error)
	// Tip returns the best block's height and hash.
	Tip(ctx context.Context) (height int32, hash chainhash.Hash, err error)
	// ListUnspent returns the unspent outputs paying any of scripts,
	// unconfirmed ones included (Height 0), minus those already spent by
	// a mempool transaction. Order: confirmed by height, then unconfirmed;
	// ties by txid and index.
	ListUnspent(ctx context.Context, scripts [][]byte) ([]UTXO, error)
	// History returns every transaction paying or spending any of
	// scripts, once each, confirmed by height then unconfirmed.
	History(ctx context.Context, scripts [][]byte) ([]TxRef, error)
	// Tx returns a transaction by id; ErrNotFound if the backend does not
	// know it.
	Tx(ctx context.Context, txid chainhash.Hash) (*wire.MsgTx, error)
	// FeeRate estimates the fee rate in sat/vB for confirmation within
	// targetBlocks. Backends without an estimate fall back to the
	// minimum relay fee (see FeeEstimator for the reason).
	FeeRate(ctx context.Context, targetBlocks int) (satPerVByte float64, err error)
	// Broadcast sends a signed transaction and returns its txid. A
	// transaction the node already has counts as sent. Refusals wrap
	// ErrRejected. Never retried by WithRetry: the caller decides.
	Broadcast(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error)
}

// Counter is implemented by backends that count their round trips (HTTP
// requests); sync tests and benchmarks read it.
type Counter interface {
	RoundTrips() int64
}

// FeeEstimate is a fee rate with its provenance.
type FeeEstimate struct {
	SatPerVByte float64
	// Fallback is true when the backend had no estimate and SatPerVByte is
	// the minimum relay fee (typical on regtest and fresh nodes).
	Fallback bool
	// Note says where the rate came from, for display.
	Note string
}

// FeeEstimator is implemented by backends that can say whether a fee rate
// is a real estimate or a fallback.
type FeeEstimator interface {
	EstimateFee(ctx context.Context, targetBlocks int) (FeeEstimate, error)
}

// CheckNetwork returns an error wrapping ErrWrongNetwork unless b serves
// want. Compare by genesis hash: the *chaincfg.Params values may differ.
func CheckNetwork(ctx context.Context, b Backend, want *chaincfg.Params) error {
	got, err := b.Network(ctx)
	if err != nil {
		return err
	}
	if got.GenesisHash == nil || want.GenesisHash == nil || !got.GenesisHash.IsEqual(want.GenesisHash) {
		return fmt.Errorf("%w: the wallet is on %s but the backend serves %s; point the wallet at a %s node",
			ErrWrongNetwork, want.Name, got.Name, want.Name)
	}
	return nil
}

// minTarget and maxTarget bound confirmation targets; Core's estimator
// stops at 1008 blocks (one week).
const (
	minTarget = 1
	maxTarget = 1008
)

func checkTarget(targetBlocks int) error {
	if targetBlocks < minTarget || targetBlocks > maxTarget {
		return fmt.Errorf("chain: fee target of %d blocks is out of range; use 1 to %d", targetBlocks, maxTarget)
	}
	return nil
}

// BlockSource is implemented by backends that serve whole blocks and the
// mempool. Sync uses it to do only the new work after a previous sync: it
// walks the blocks since the last synced tip and the mempool instead of
// asking about every address again.
type BlockSource interface {
	// BlockHash returns the hash of the main-chain block at height;
	// ErrNotFound above the tip.
	BlockHash(ctx context.Context, height int32) (chainhash.Hash, error)
	// Blocks returns the blocks with the given hashes, in order, in as few
	// round trips as the protocol allows.
	Blocks(ctx context.Context, hashes []chainhash.Hash) ([]*wire.MsgBlock, error)
	// Mempool returns the txids of every transaction in the mempool.
	Mempool(ctx context.Context) ([]chainhash.Hash, error)
}

// Searcher is implemented by backends whose address search returns the
// transactions themselves (btcd's searchrawtransactions): one pass then
// answers History and ListUnspent together, with the transactions, where
// calling both would search twice and fetch every transaction a third
// time. A wallet's first sync of 30,000 transactions is mostly that.
type Searcher interface {
	// Search returns what History and ListUnspent would for scripts, from
	// one search, with every history transaction (Txs, by txid).
	Search(ctx context.Context, scripts [][]byte) (*Found, error)
}

// Found is a Search's answer.
type Found struct {
	History []TxRef // as History returns it
	UTXOs   []UTXO  // as ListUnspent returns it
	Txs     map[chainhash.Hash]*wire.MsgTx
}

// TxBatcher is implemented by backends that fetch many transactions in one
// round trip.
type TxBatcher interface {
	// Txs returns the transactions in order; ErrNotFound (wrapped, naming
	// the txid) when one is unknown.
	Txs(ctx context.Context, txids []chainhash.Hash) ([]*wire.MsgTx, error)
}
