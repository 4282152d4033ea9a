package chain

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// flakyBackend fails each method with errs in turn, then succeeds.
type flakyBackend struct {
	errs  []error
	calls int
}

func (f *flakyBackend) next() error {
	f.calls++
	if len(f.errs) == 0 {
		return nil
	}
	err := f.errs[0]
	f.errs = f.errs[1:]
	return err
}

func (f *flakyBackend) Network(context.Context) (*chaincfg.Params, error) {
	return &chaincfg.RegressionNetParams, f.next()
}
func (f *flakyBackend) Tip(context.Context) (int32, chainhash.Hash, error) {
	return 7, hashOf("tip"), f.next()
}
func (f *flakyBackend) ListUnspent(context.Context, [][]byte) ([]UTXO, error) {
	return []UTXO{{Value: 1}}, f.next()
}
func (f *flakyBackend) History(context.Context, [][]byte) ([]TxRef, error) { return nil, f.next() }
func (f *flakyBackend) Tx(context.Context, chainhash.Hash) (*wire.MsgTx, error) {
	return wire.NewMsgTx(2), f.next()
}
func (f *flakyBackend) FeeRate(context.Context, int) (float64, error) { return 3, f.next() }
func (f *flakyBackend) Broadcast(context.Context, *wire.MsgTx) (chainhash.Hash, error) {
	return chainhash.Hash{}, f.next()
}
func (f *flakyBackend) RoundTrips() int64 { return 42 }

// quickRetry is WithRetry with a 1 ms first delay.
func quickRetry(b Backend) Backend {
	w := WithRetry(b)
	retryCore(w).delay = time.Millisecond
	return w
}

// retryCore is the *retryBackend inside any of WithRetry's wrapper types.
func retryCore(w Backend) *retryBackend {
	switch w := w.(type) {
	case *retryBackend:
		return w
	case *retryBlocksTxs:
		return w.retryBackend
	case *retryBlocksOnly:
		return w.retryBackend
	case *retryTxsOnly:
		return w.retryBackend
	}
	panic(fmt.Sprintf("%T is not a retry wrapper", w))
}

func TestRetry(t *testing.T) {
	down := fmt.Errorf("%w: connection refused", ErrUnavailable)
	ctx := context.Background()

	f := &flakyBackend{errs: []error{down, down}}
	if h, _, err := quickRetry(f).Tip(ctx); err != nil || h != 7 || f.calls != 3 {
		t.Errorf("Tip after two failures = %d, %v in %d calls; want success on the third", h, err, f.calls)
	}

	f = &flakyBackend{errs: []error{down, down, down, down}}
	if _, err := quickRetry(f).ListUnspent(ctx, nil); !errors.Is(err, ErrUnavailable) || f.calls != 3 {
		t.Errorf("ListUnspent always down = %v in %d calls; want ErrUnavailable after 3", err, f.calls)
	}

	f = &flakyBackend{errs: []error{fmt.Errorf("%w: bad password", ErrAuth)}}
	if _, err := quickRetry(f).History(ctx, nil); !errors.Is(err, ErrAuth) || f.calls != 1 {
		t.Errorf("History refused = %v in %d calls; want ErrAuth at once", err, f.calls)
	}

	f = &flakyBackend{errs: []error{down}}
	if _, err := quickRetry(f).Broadcast(ctx, wire.NewMsgTx(2)); !errors.Is(err, ErrUnavailable) || f.calls != 1 {
		t.Errorf("Broadcast = %v in %d calls; a broadcast must never be repeated by the wrapper", err, f.calls)
	}

	r := quickRetry(&flakyBackend{})
	if n := r.(Counter).RoundTrips(); n != 42 {
		t.Errorf("RoundTrips not passed through: %d", n)
	}
	if est, err := r.(FeeEstimator).EstimateFee(ctx, 6); err != nil || est.SatPerVByte != 3 {
		t.Errorf("EstimateFee over a backend without FeeEstimator = %+v, %v", est, err)
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	down := fmt.Errorf("%w: connection refused", ErrUnavailable)
	f := &flakyBackend{errs: []error{down, down, down}}
	r := WithRetry(f).(*retryBackend)
	r.delay = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	began := time.Now()
	if _, err := r.Network(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Network = %v, want the last ErrUnavailable", err)
	}
	if time.Since(began) > time.Second || f.calls != 1 {
		t.Errorf("retry waited %s over %d calls after the context ended", time.Since(began), f.calls)
	}
}

// flakyBlockMethods and flakyTxMethods are BlockSource and TxBatcher over
// a flakyBackend's failure list; flakyBlocks, flakyTxs and flakyBoth are
// backends with one, the other, or both.
type flakyBlockMethods struct{ f *flakyBackend }

func (m flakyBlockMethods) BlockHash(context.Context, int32) (chainhash.Hash, error) {
	return hashOf("block"), m.f.next()
}
func (m flakyBlockMethods) Blocks(context.Context, []chainhash.Hash) ([]*wire.MsgBlock, error) {
	return []*wire.MsgBlock{{}}, m.f.next()
}
func (m flakyBlockMethods) Mempool(context.Context) ([]chainhash.Hash, error) {
	return []chainhash.Hash{hashOf("tx")}, m.f.next()
}

type flakyTxMethods struct{ f *flakyBackend }

func (m flakyTxMethods) Txs(context.Context, []chainhash.Hash) ([]*wire.MsgTx, error) {
	return []*wire.MsgTx{wire.NewMsgTx(2)}, m.f.next()
}

type (
	flakyBlocks struct {
		*flakyBackend
		flakyBlockMethods
	}
	flakyTxs struct {
		*flakyBackend
		flakyTxMethods
	}
	flakyBoth struct {
		*flakyBackend
		flakyBlockMethods
		flakyTxMethods
	}
)

// TestRetryOptionalInterfaces checks that the wrapper has BlockSource and
// TxBatcher exactly when the wrapped backend does, retries them, and keeps
// Counter and FeeEstimator in every case.
func TestRetryOptionalInterfaces(t *testing.T) {
	down := fmt.Errorf("%w: connection refused", ErrUnavailable)
	ctx := context.Background()
	for _, tc := range []struct {
		name              string
		build             func(f *flakyBackend) Backend
		hasBlocks, hasTxs bool
	}{
		{"neither", func(f *flakyBackend) Backend { return f }, false, false},
		{"blocks", func(f *flakyBackend) Backend { return flakyBlocks{f, flakyBlockMethods{f}} }, true, false},
		{"txs", func(f *flakyBackend) Backend { return flakyTxs{f, flakyTxMethods{f}} }, false, true},
		{"both", func(f *flakyBackend) Backend { return flakyBoth{f, flakyBlockMethods{f}, flakyTxMethods{f}} }, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &flakyBackend{}
			w := quickRetry(tc.build(f))
			src, hasBlocks := w.(BlockSource)
			txb, hasTxs := w.(TxBatcher)
			if hasBlocks != tc.hasBlocks || hasTxs != tc.hasTxs {
				t.Fatalf("wrapper is BlockSource %v, TxBatcher %v; want %v, %v", hasBlocks, hasTxs, tc.hasBlocks, tc.hasTxs)
			}
			if _, ok := w.(FeeEstimator); !ok {
				t.Error("wrapper lost FeeEstimator")
			}
			if c, ok := w.(Counter); !ok || c.RoundTrips() != 42 {
				t.Error("wrapper lost Counter")
			}
			if hasBlocks {
				f.errs, f.calls = []error{down, down}, 0
				if h, err := src.BlockHash(ctx, 1); err != nil || h != hashOf("block") || f.calls != 3 {
					t.Errorf("BlockHash after two failures = %v in %d calls; want success on the third", err, f.calls)
				}
				f.errs, f.calls = []error{down}, 0
				if b, err := src.Blocks(ctx, nil); err != nil || len(b) != 1 || f.calls != 2 {
					t.Errorf("Blocks after a failure = %v in %d calls", err, f.calls)
				}
				f.errs, f.calls = []error{down, down, down}, 0
				if _, err := src.Mempool(ctx); !errors.Is(err, ErrUnavailable) || f.calls != 3 {
					t.Errorf("Mempool always down = %v in %d calls; want ErrUnavailable after 3", err, f.calls)
				}
			}
			if hasTxs {
				f.errs, f.calls = []error{fmt.Errorf("%w: transaction x", ErrNotFound)}, 0
				if _, err := txb.Txs(ctx, nil); !errors.Is(err, ErrNotFound) || f.calls != 1 {
					t.Errorf("Txs not found = %v in %d calls; want ErrNotFound at once", err, f.calls)
				}
				f.errs, f.calls = []error{down}, 0
				if txs, err := txb.Txs(ctx, nil); err != nil || len(txs) != 1 || f.calls != 2 {
					t.Errorf("Txs after a failure = %v in %d calls", err, f.calls)
				}
			}
		})
	}
}
