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

func quickRetry(b Backend) *retryBackend {
	r := WithRetry(b).(*retryBackend)
	r.delay = time.Millisecond
	return r
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
	if r.RoundTrips() != 42 {
		t.Errorf("RoundTrips not passed through: %d", r.RoundTrips())
	}
	if est, err := r.EstimateFee(ctx, 6); err != nil || est.SatPerVByte != 3 {
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
