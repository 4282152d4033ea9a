package chain

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

func TestEsploraReplay(t *testing.T) {
	chain, env := replayScenario(&chaincfg.RegressionNetParams)
	srv := newReplayEsploraServer(t, chain)
	srv.fees = map[string]float64{"2": 20.5, "6": 10, "144": 1.5}
	env.fallbackFee = ptr(false)
	b, err := Open(srv.url())
	if err != nil {
		t.Fatal(err)
	}
	testBackend(t, b, env)

	ctx := testCtx(t)
	for target, want := range map[int]float64{1: 20.5, 2: 20.5, 5: 20.5, 6: 10, 143: 10, 144: 1.5, 1008: 1.5} {
		if got, err := b.FeeRate(ctx, target); err != nil || got != want {
			t.Errorf("FeeRate(%d) = %v, %v; want %v", target, got, err, want)
		}
	}

	counter := b.(Counter)
	before := counter.RoundTrips()
	if _, err := b.ListUnspent(ctx, env.scripts); err != nil {
		t.Fatal(err)
	}
	if trips := counter.RoundTrips() - before; trips != int64(len(env.scripts)) {
		t.Errorf("ListUnspent of %d scripts took %d requests, want one per script", len(env.scripts), trips)
	}
}

// TestEsploraReplayPaging gives one script 60 confirmed and 3 unconfirmed
// transactions: the first answer holds the 3 and the newest 25, two
// /txs/chain pages the rest.
func TestEsploraReplayPaging(t *testing.T) {
	chain := newFakeChain(&chaincfg.RegressionNetParams)
	script := p2wshScript(witnessScript(9))
	want := historySet{}
	for i := 0; i < 60; i++ {
		tx := fundTx("paging"+string(rune('A'+i)), wire.NewTxOut(int64(1000+i), script))
		chain.mine(tx)
		want.add(TxRef{TxID: tx.TxHash(), Height: int32(i + 1)})
	}
	for i := 0; i < 3; i++ {
		tx := fundTx("mempool"+string(rune('A'+i)), wire.NewTxOut(int64(5000+i), script))
		chain.mempool = append(chain.mempool, tx)
		want.add(TxRef{TxID: tx.TxHash()})
	}
	srv := newReplayEsploraServer(t, chain)
	b, err := Open(srv.url())
	if err != nil {
		t.Fatal(err)
	}
	before := b.(Counter).RoundTrips()
	got, err := b.History(testCtx(t), [][]byte{script})
	if err != nil {
		t.Fatal(err)
	}
	if fmtRefs(got) != fmtRefs(want.sorted()) {
		t.Errorf("History over pages: got %d transactions, want %d", len(got), len(want))
	}
	if trips := b.(Counter).RoundTrips() - before; trips != 3 {
		t.Errorf("History took %d requests, want 3 (first answer + 2 chain pages)", trips)
	}
	utxos, err := b.ListUnspent(testCtx(t), [][]byte{script})
	if err != nil || len(utxos) != 63 {
		t.Errorf("ListUnspent = %d outputs, %v; want 63", len(utxos), err)
	}
}

func TestEsploraReplayNoFeeEstimates(t *testing.T) {
	chain, _ := replayScenario(&chaincfg.RegressionNetParams)
	srv := newReplayEsploraServer(t, chain) // regtest electrs serves {}
	b, err := Open(srv.url())
	if err != nil {
		t.Fatal(err)
	}
	est, err := b.(FeeEstimator).EstimateFee(testCtx(t), 3)
	if err != nil {
		t.Fatal(err)
	}
	if !est.Fallback || est.SatPerVByte != 1 || est.Note == "" {
		t.Errorf("EstimateFee with no estimates = %+v, want the 1 sat/vB fallback with a note", est)
	}
}

func TestEsploraReplayErrors(t *testing.T) {
	chain, env := replayScenario(&chaincfg.RegressionNetParams)
	srv := newReplayEsploraServer(t, chain)
	ctx := testCtx(t)

	srv.failWith = 429
	b, _ := Open(srv.url())
	if _, _, err := b.Tip(ctx); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "HTTP 429") {
		t.Errorf("Tip when rate limited = %v, want ErrUnavailable with HTTP 429", err)
	}
	srv.failWith = 0

	// A base URL without /api reaches the server but not the API.
	noAPI, _ := Open("esplora+http://" + srv.Listener.Addr().String())
	if _, _, err := noAPI.Tip(ctx); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Tip without the /api base path = %v, want an HTTP 404 error", err)
	}
	if _, err := noAPI.ListUnspent(ctx, env.scripts); err == nil {
		t.Error("ListUnspent without the /api base path succeeded")
	}
}

func TestEsploraNetworkByGenesis(t *testing.T) {
	for _, net := range []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params, &chaincfg.SigNetParams} {
		srv := newReplayEsploraServer(t, newFakeChain(net))
		b, _ := Open(srv.url())
		got, err := b.Network(testCtx(t))
		if err != nil || got != net {
			t.Errorf("Network of a %s server = %v, %v", net.Name, got, err)
		}
	}
	chain := newFakeChain(&chaincfg.TestNet3Params)
	h, _ := chainhash.NewHashFromStr(testnet4Genesis)
	chain.blocks[0].hash = *h
	srv := newReplayEsploraServer(t, chain)
	b, _ := Open(srv.url())
	if _, err := b.Network(testCtx(t)); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "testnet4") {
		t.Errorf("Network of a testnet4 server = %v, want ErrUnsupported naming testnet4", err)
	}
}

func TestScriptHashIsUnreversedSHA256(t *testing.T) {
	// sha256 of the empty script, in digest order as Esplora's REST API
	// wants it (Electrum's protocol would reverse it).
	if got := scriptHash(nil); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("scriptHash(empty) = %s", got)
	}
}

// TestEsploraReplayBlocksAndTxs: Esplora has no batches, so blocks and
// transactions cost one request each; the raw blocks are checked.
func TestEsploraReplayBlocksAndTxs(t *testing.T) {
	chain, env := replayScenario(&chaincfg.RegressionNetParams)
	srv := newReplayEsploraServer(t, chain)
	bk, err := Open(srv.url())
	if err != nil {
		t.Fatal(err)
	}
	b := bk.(*esploraBackend)
	ctx := testCtx(t)
	trips := func(fn func() error) int64 {
		t.Helper()
		before := b.RoundTrips()
		if err := fn(); err != nil {
			t.Fatal(err)
		}
		return b.RoundTrips() - before
	}

	var hashes []chainhash.Hash
	for h := int32(0); h <= env.tipHeight; h++ {
		var hash chainhash.Hash
		if n := trips(func() (err error) { hash, err = b.BlockHash(ctx, h); return err }); n != 1 {
			t.Errorf("BlockHash took %d requests", n)
		}
		hashes = append(hashes, hash)
	}
	var blocks []*wire.MsgBlock
	if n := trips(func() (err error) { blocks, err = b.Blocks(ctx, hashes); return err }); n != int64(len(hashes)) {
		t.Errorf("Blocks of %d took %d requests, want one each", len(hashes), n)
	}
	for i, block := range blocks {
		if block.BlockHash() != hashes[i] {
			t.Errorf("Blocks[%d] = %s, want %s", i, block.BlockHash(), hashes[i])
		}
	}
	if n := countPrefix(srv.seen(), "GET /api/block/"+hashes[1].String()+"/raw"); n != 1 {
		t.Errorf("block 1 was asked for %d times at /block/:hash/raw, want once", n)
	}
	pool := chain.mempoolTxids()
	if n := trips(func() error {
		got, err := b.Mempool(ctx)
		if err == nil && fmt.Sprint(got) != fmt.Sprint(pool) {
			err = fmt.Errorf("Mempool = %v, want %v", got, pool)
		}
		return err
	}); n != 1 {
		t.Errorf("Mempool took %d requests, want 1", n)
	}
	want := append([]chainhash.Hash{env.knownTx}, pool...)
	if n := trips(func() error { _, err := b.Txs(ctx, want); return err }); n != int64(len(want)) {
		t.Errorf("Txs of %d took %d requests, want one each", len(want), n)
	}

	// A server that alters or cuts a block is caught.
	for _, tc := range []struct {
		name   string
		tamper func([]byte) []byte
		want   string
	}{
		{"changed", func(raw []byte) []byte {
			// The last 4 bytes are the last transaction's lock time.
			out := append([]byte{}, raw...)
			out[len(out)-1] ^= 1
			return out
		}, "merkle root"},
		{"cut", func(raw []byte) []byte { return raw[:len(raw)-10] }, "does not decode"},
	} {
		srv.mu.Lock()
		srv.tamper = tc.tamper
		srv.mu.Unlock()
		_, err := b.Blocks(ctx, hashes[2:3])
		if err == nil || !strings.Contains(err.Error(), "bad block "+hashes[2].String()) || !strings.Contains(err.Error(), tc.want) ||
			errors.Is(err, ErrNotFound) || !errors.Is(err, ErrLying) {
			t.Errorf("%s block: %v, want an error naming the block and saying %q", tc.name, err, tc.want)
		}
	}
}

func (s *replayEsploraServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

func countPrefix(list []string, prefix string) int {
	n := 0
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}
