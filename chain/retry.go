package chain

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// retryBackend retries reads that failed with ErrUnavailable. Reads are
// idempotent, so repeating one is safe; Broadcast is not retried, because
// a send whose answer was lost may have reached the network, and only the
// caller can decide to send again (it is harmless: see Backend.Broadcast).
type retryBackend struct {
	b        Backend
	attempts int
	delay    time.Duration // before the second attempt; doubles after
}

const (
	defaultRetryAttempts = 3
	defaultRetryDelay    = 500 * time.Millisecond
)

// WithRetry wraps b so that Network, Tip, ListUnspent, History, Tx and
// FeeRate are tried up to three times, 0.5 s then 1 s apart, while they
// fail with ErrUnavailable. Other errors (ErrAuth, ErrNotFound, a refused
// call) return at once, as does a cancelled ctx. Counter and FeeEstimator
// pass through.
//
// The optional BlockSource, TxBatcher and Searcher are reads too and are retried
// alike, but the wrapper has them only when b has them: a type assertion
// on the result answers as it would on b. (A wrapper that always had them
// and returned ErrUnsupported would make callers that pick a strategy by
// type assertion choose the block walk and then fail.) Counter and
// FeeEstimator are always there, with the fallbacks their methods
// describe.
func WithRetry(b Backend) Backend {
	r := &retryBackend{b: b, attempts: defaultRetryAttempts, delay: defaultRetryDelay}
	blocks, hasBlocks := b.(BlockSource)
	txs, hasTxs := b.(TxBatcher)
	search, hasSearch := b.(Searcher)
	switch {
	case hasBlocks && hasTxs && hasSearch:
		// btcd: the only Searcher, and it has both others.
		return &retryBlocksTxsSearch{r, retryBlocks{r, blocks}, retryTxs{r, txs}, retrySearch{r, search}}
	case hasBlocks && hasTxs:
		return &retryBlocksTxs{r, retryBlocks{r, blocks}, retryTxs{r, txs}}
	case hasBlocks:
		return &retryBlocksOnly{r, retryBlocks{r, blocks}}
	case hasTxs:
		return &retryTxsOnly{r, retryTxs{r, txs}}
	}
	return r
}

// The wrapper types for each combination of the optional interfaces. The
// method sets come from embedding; no two embedded types share a method.
type (
	retryBlocksTxsSearch struct {
		*retryBackend
		retryBlocks
		retryTxs
		retrySearch
	}
	retryBlocksTxs struct {
		*retryBackend
		retryBlocks
		retryTxs
	}
	retryBlocksOnly struct {
		*retryBackend
		retryBlocks
	}
	retryTxsOnly struct {
		*retryBackend
		retryTxs
	}
)

// retryBlocks retries a BlockSource's reads.
type retryBlocks struct {
	r   *retryBackend
	src BlockSource
}

func (w retryBlocks) BlockHash(ctx context.Context, height int32) (chainhash.Hash, error) {
	return retry(ctx, w.r, func() (chainhash.Hash, error) { return w.src.BlockHash(ctx, height) })
}

func (w retryBlocks) Blocks(ctx context.Context, hashes []chainhash.Hash) ([]*wire.MsgBlock, error) {
	return retry(ctx, w.r, func() ([]*wire.MsgBlock, error) { return w.src.Blocks(ctx, hashes) })
}

func (w retryBlocks) Mempool(ctx context.Context) ([]chainhash.Hash, error) {
	return retry(ctx, w.r, func() ([]chainhash.Hash, error) { return w.src.Mempool(ctx) })
}

// retryTxs retries a TxBatcher's reads.
type retryTxs struct {
	r   *retryBackend
	txb TxBatcher
}

func (w retryTxs) Txs(ctx context.Context, txids []chainhash.Hash) ([]*wire.MsgTx, error) {
	return retry(ctx, w.r, func() ([]*wire.MsgTx, error) { return w.txb.Txs(ctx, txids) })
}

// retrySearch retries a Searcher's reads.
type retrySearch struct {
	r   *retryBackend
	src Searcher
}

func (w retrySearch) Search(ctx context.Context, scripts [][]byte) (*Found, error) {
	return retry(ctx, w.r, func() (*Found, error) { return w.src.Search(ctx, scripts) })
}

func retry[T any](ctx context.Context, r *retryBackend, fn func() (T, error)) (T, error) {
	delay := r.delay
	for attempt := 1; ; attempt++ {
		v, err := fn()
		if err == nil || !errors.Is(err, ErrUnavailable) || attempt >= r.attempts {
			return v, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return v, err
		case <-t.C:
		}
		delay *= 2
	}
}

func (r *retryBackend) Network(ctx context.Context) (*chaincfg.Params, error) {
	return retry(ctx, r, func() (*chaincfg.Params, error) { return r.b.Network(ctx) })
}

func (r *retryBackend) Tip(ctx context.Context) (int32, chainhash.Hash, error) {
	type tipResult struct {
		height int32
		hash   chainhash.Hash
	}
	t, err := retry(ctx, r, func() (tipResult, error) {
		h, hash, err := r.b.Tip(ctx)
		return tipResult{h, hash}, err
	})
	return t.height, t.hash, err
}

func (r *retryBackend) ListUnspent(ctx context.Context, scripts [][]byte) ([]UTXO, error) {
	return retry(ctx, r, func() ([]UTXO, error) { return r.b.ListUnspent(ctx, scripts) })
}

func (r *retryBackend) History(ctx context.Context, scripts [][]byte) ([]TxRef, error) {
	return retry(ctx, r, func() ([]TxRef, error) { return r.b.History(ctx, scripts) })
}

func (r *retryBackend) Tx(ctx context.Context, txid chainhash.Hash) (*wire.MsgTx, error) {
	return retry(ctx, r, func() (*wire.MsgTx, error) { return r.b.Tx(ctx, txid) })
}

func (r *retryBackend) FeeRate(ctx context.Context, targetBlocks int) (float64, error) {
	return retry(ctx, r, func() (float64, error) { return r.b.FeeRate(ctx, targetBlocks) })
}

// EstimateFee passes through to the wrapped backend's FeeEstimator, or
// reports its FeeRate without provenance.
func (r *retryBackend) EstimateFee(ctx context.Context, targetBlocks int) (FeeEstimate, error) {
	if fe, ok := r.b.(FeeEstimator); ok {
		return retry(ctx, r, func() (FeeEstimate, error) { return fe.EstimateFee(ctx, targetBlocks) })
	}
	rate, err := r.FeeRate(ctx, targetBlocks)
	return FeeEstimate{SatPerVByte: rate}, err
}

func (r *retryBackend) Broadcast(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	return r.b.Broadcast(ctx, tx)
}

// RoundTrips passes through to the wrapped backend's Counter; 0 when it
// counts nothing.
func (r *retryBackend) RoundTrips() int64 {
	if c, ok := r.b.(Counter); ok {
		return c.RoundTrips()
	}
	return 0
}

// String names the wrapped backend, as Name does.
func (r *retryBackend) String() string { return Name(r.b) }

// Headers passes through to the wrapped backend's HeaderSource, retried
// like the other reads, and answers ErrUnsupported as MedianTimePast does
// when it has none. (Always present, unlike BlockSource: no caller picks
// a strategy by asserting HeaderSource; MedianTimePast only needs the
// same refusal either way.)
func (r *retryBackend) Headers(ctx context.Context, from, to int32) ([]wire.BlockHeader, error) {
	hs, ok := r.b.(HeaderSource)
	if !ok {
		return nil, fmt.Errorf("%w: %s serves no block headers, so countersign cannot know the median time past that time locks are judged by; use a btcd, Bitcoin Core or Esplora backend",
			ErrUnsupported, Name(r.b))
	}
	return retry(ctx, r, func() ([]wire.BlockHeader, error) { return hs.Headers(ctx, from, to) })
}
