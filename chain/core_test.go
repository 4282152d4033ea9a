package chain

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

func TestDescriptorChecksumVector(t *testing.T) {
	// The BIP-380 test vector.
	if got, err := descriptorChecksum("raw(deadbeef)"); err != nil || got != "89f8spxm" {
		t.Fatalf("checksum(raw(deadbeef)) = %q, %v; want 89f8spxm", got, err)
	}
}

// TestCoreReplay runs the conformance suite against Bitcoin Core's
// documented answers and checks how the backend drives Core's wallet.
func TestCoreReplay(t *testing.T) {
	chain, env := replayScenario(&chaincfg.RegressionNetParams)
	srv := newReplayCoreServer(t, chain)
	rate := 0.00012 // BTC/kvB = 12 sat/vB
	srv.feeRate = &rate
	env.fallbackFee = ptr(false)

	b, err := Open(srv.url(""))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	got, err := b.FeeRate(ctx, 6)
	if err != nil || got != 12 {
		t.Errorf("FeeRate = %v, %v; want 12 sat/vB from 0.00012 BTC/kvB", got, err)
	}
	if _, err := b.ListUnspent(ctx, env.scripts); err != nil {
		t.Fatal(err)
	}
	if n := countCalls(srv.seen(), "importdescriptors"); n != 1 {
		t.Errorf("importdescriptors called %d times, want once for both scripts", n)
	}
	testBackend(t, b, env)

	w := srv.loaded[defaultCoreWallet]
	if w == nil || w.privateKeys {
		t.Fatalf("the backend did not create a watch-only wallet %q: %+v", defaultCoreWallet, w)
	}
	if n := countCalls(srv.seen(), "createwallet"); n != 1 {
		t.Errorf("createwallet called %d times, want 1", n)
	}

	// Once the scripts are watched, a sync is one round trip.
	counter := b.(Counter)
	before := counter.RoundTrips()
	if _, err := b.ListUnspent(ctx, env.scripts); err != nil {
		t.Fatal(err)
	}
	if trips := counter.RoundTrips() - before; trips != 1 {
		t.Errorf("ListUnspent of watched scripts took %d round trips, want 1", trips)
	}

	// A new process (new backend) finds the wallet and its descriptors.
	callsBefore := len(srv.seen())
	b2, err := Open(srv.url(""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b2.ListUnspent(ctx, env.scripts); err != nil {
		t.Fatal(err)
	}
	for _, c := range srv.seen()[callsBefore:] {
		if strings.HasSuffix(c, " createwallet") || strings.HasSuffix(c, " importdescriptors") {
			t.Errorf("a second backend called %q; the wallet already watches the scripts", c)
		}
	}
}

func TestCoreReplayLoadsWalletFromDisk(t *testing.T) {
	chain, env := replayScenario(&chaincfg.RegressionNetParams)
	srv := newReplayCoreServer(t, chain)
	srv.onDisk["watch"] = &replayWallet{descriptors: map[string]string{}}
	b, err := Open(srv.url("watch"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ListUnspent(testCtx(t), env.scripts); err != nil {
		t.Fatal(err)
	}
	if srv.loaded["watch"] == nil || countCalls(srv.seen(), "createwallet") != 0 {
		t.Errorf("wallet on disk was not loaded, or was created again: %v", srv.seen())
	}
	for _, c := range srv.seen() {
		if strings.HasSuffix(c, " listunspent") && !strings.HasPrefix(c, "/wallet/watch ") {
			t.Errorf("listunspent went to %q, not the named wallet", c)
		}
	}
}

func TestCoreReplayRefusesWalletWithKeys(t *testing.T) {
	chain, env := replayScenario(&chaincfg.RegressionNetParams)
	srv := newReplayCoreServer(t, chain)
	hot := &replayWallet{privateKeys: true, descriptors: map[string]string{}}
	srv.onDisk["hot"], srv.loaded["hot"] = hot, hot
	b, err := Open(srv.url("hot"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.ListUnspent(testCtx(t), env.scripts)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "watch-only") {
		t.Fatalf("ListUnspent into a wallet with keys = %v, want ErrUnsupported naming watch-only", err)
	}
	if countCalls(srv.seen(), "importdescriptors") != 0 {
		t.Error("the backend imported into a wallet with private keys")
	}
}

func TestCoreReplayFallbackFee(t *testing.T) {
	chain, _ := replayScenario(&chaincfg.RegressionNetParams)
	srv := newReplayCoreServer(t, chain)
	b, err := Open(srv.url(""))
	if err != nil {
		t.Fatal(err)
	}
	est, err := b.(FeeEstimator).EstimateFee(testCtx(t), 6)
	if err != nil {
		t.Fatal(err)
	}
	if !est.Fallback || est.SatPerVByte != 1 || !strings.Contains(est.Note, "Insufficient data") {
		t.Errorf("EstimateFee without an estimate = %+v, want the 1 sat/vB mempool minimum with Core's reason", est)
	}
}

// TestCoreReplayWithoutWallet covers bitcoind -disablewallet: UTXOs come
// from scantxoutset, which sees the confirmed UTXO set only.
func TestCoreReplayWithoutWallet(t *testing.T) {
	chain, env := replayScenario(&chaincfg.RegressionNetParams)
	srv := newReplayCoreServer(t, chain)
	srv.walletSupport = false
	b, err := Open(srv.url(""))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	got, err := b.ListUnspent(ctx, env.scripts)
	if err != nil {
		t.Fatal(err)
	}
	// F2's output to A, and F1's output to B whose spend is still in the
	// mempool; F3 is unconfirmed and not in the UTXO set yet.
	f1, _, _ := chain.find(env.history[0].TxID)
	want := []UTXO{
		{OutPoint: wire.OutPoint{Hash: f1.TxHash(), Index: 1}, Value: 2_000_000, PkScript: env.scripts[1], Height: 1},
		env.unspent[0],
	}
	if diff := diffUTXOs(got, want); diff != "" {
		t.Errorf("ListUnspent via scantxoutset:\n%s", diff)
	}
	if _, err := b.History(ctx, env.scripts); !errors.Is(err, ErrUnsupported) {
		t.Errorf("History without wallet = %v, want ErrUnsupported", err)
	}
	if _, err := b.Tx(ctx, env.knownTx); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "-txindex") {
		t.Errorf("Tx of a confirmed tx without txindex or wallet = %v, want ErrNotFound with a -txindex hint", err)
	}
	if h, _, err := b.Tip(ctx); err != nil || h != env.tipHeight {
		t.Errorf("Tip = %d, %v", h, err)
	}
}

func TestCoreReplayCookie(t *testing.T) {
	chain, env := replayScenario(&chaincfg.RegressionNetParams)
	srv := newReplayCoreServer(t, chain)
	cookie := filepath.Join(t.TempDir(), ".cookie")
	writeCookie := func(pass string) {
		t.Helper()
		if err := os.WriteFile(cookie, []byte("__cookie__:"+pass), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeCookie("first")
	srv.cookieFile = cookie
	ctx := testCtx(t)
	for _, u := range []string{
		"core+cookie://" + srv.Listener.Addr().String() + "?cookie=" + cookie,
		"core+cookie://" + cookie + "@" + srv.Listener.Addr().String(),
	} {
		b, err := Open(u)
		if err != nil {
			t.Fatalf("Open(%s): %v", u, err)
		}
		if h, _, err := b.Tip(ctx); err != nil || h != env.tipHeight {
			t.Fatalf("Tip with cookie auth = %d, %v", h, err)
		}
		// bitcoind restarted: a new cookie is picked up without reopening.
		writeCookie("second")
		if _, _, err := b.Tip(ctx); err != nil {
			t.Errorf("Tip after the cookie changed: %v", err)
		}
		writeCookie("first")
	}
	b, _ := Open("core+cookie://" + srv.Listener.Addr().String() + "?cookie=" + cookie + ".missing")
	if _, _, err := b.Tip(ctx); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Tip with a missing cookie file = %v, want ErrUnavailable saying it does not exist", err)
	}
}

func TestCoreReplayWrongPassword(t *testing.T) {
	chain, _ := replayScenario(&chaincfg.RegressionNetParams)
	srv := newReplayCoreServer(t, chain)
	srv.pass = "changed"
	b, err := Open(strings.Replace(srv.url(""), "changed", "wrong", 1))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = b.Tip(testCtx(t))
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("Tip with a wrong password = %v, want ErrAuth", err)
	}
}

func countCalls(calls []string, method string) int {
	n := 0
	for _, c := range calls {
		if strings.HasSuffix(c, " "+method) {
			n++
		}
	}
	return n
}

// TestCoreReplayBlocksAndTxs counts the round trips of the block and batch
// reads against Core's documented answers, and checks the cases only Core
// has: confirmed transactions through the wallet, pruned blocks.
func TestCoreReplayBlocksAndTxs(t *testing.T) {
	chain, env := replayScenario(&chaincfg.RegressionNetParams)
	srv := newReplayCoreServer(t, chain)
	bk, err := Open(srv.url(""))
	if err != nil {
		t.Fatal(err)
	}
	b := bk.(*coreBackend)
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
		hash, err := b.BlockHash(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, hash)
	}
	var blocks []*wire.MsgBlock
	if n := trips(func() (err error) { blocks, err = b.Blocks(ctx, hashes); return err }); n != 1 {
		t.Errorf("Blocks of %d took %d round trips, want 1", len(hashes), n)
	}
	if blocks[0].BlockHash() != *chaincfg.RegressionNetParams.GenesisHash {
		t.Errorf("block 0 is %s, not the regtest genesis block", blocks[0].BlockHash())
	}
	b.blocksPerRequest = 1
	if n := trips(func() error { _, err := b.Blocks(ctx, hashes); return err }); n != int64(len(hashes)) {
		t.Errorf("Blocks of %d, 1 per request, took %d round trips", len(hashes), n)
	}
	b.blocksPerRequest = 0

	var pool []chainhash.Hash
	if n := trips(func() (err error) { pool, err = b.Mempool(ctx); return err }); n != 1 {
		t.Errorf("Mempool took %d round trips, want 1", n)
	}
	if fmt.Sprint(pool) != fmt.Sprint(chain.mempoolTxids()) {
		t.Errorf("Mempool = %v, want %v", pool, chain.mempoolTxids())
	}
	// Mempool transactions come from getrawtransaction alone.
	if n := trips(func() error { _, err := b.Txs(ctx, pool); return err }); n != 1 {
		t.Errorf("Txs of the mempool took %d round trips, want 1", n)
	}
	if calls := srv.seen(); countCalls(calls, "gettransaction") != 0 || countCalls(calls, "getwalletinfo") != 0 {
		t.Errorf("Txs of mempool transactions touched the wallet: %v", calls)
	}
	// Confirmed ones (no -txindex here) come from the wallet in a second
	// batch, once it is open and watches the scripts.
	if _, err := b.ListUnspent(ctx, env.scripts); err != nil {
		t.Fatal(err)
	}
	mixed := append([]chainhash.Hash{env.history[0].TxID, env.history[2].TxID}, pool...)
	var txs []*wire.MsgTx
	if n := trips(func() (err error) { txs, err = b.Txs(ctx, mixed); return err }); n != 2 {
		t.Errorf("Txs of 2 confirmed and %d mempool transactions took %d round trips, want 2", len(pool), n)
	}
	for i, tx := range txs {
		if tx.TxHash() != mixed[i] {
			t.Errorf("Txs[%d] = %s, want %s", i, tx.TxHash(), mixed[i])
		}
	}
	_, err = b.Txs(ctx, []chainhash.Hash{pool[0], hashOf("nowhere")})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), hashOf("nowhere").String()) ||
		!strings.Contains(err.Error(), "-txindex") {
		t.Errorf("Txs with an unknown txid = %v, want ErrNotFound naming it with a -txindex hint", err)
	}

	srv.mu.Lock()
	srv.prunedBelow = 2
	srv.mu.Unlock()
	_, err = b.Blocks(ctx, hashes[1:])
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "pruned block "+hashes[1].String()) {
		t.Errorf("Blocks of a pruned block = %v, want ErrUnsupported naming it", err)
	}
}

// TestCoreReplayTxsWithoutWallet: with neither -txindex nor a wallet, Core
// serves mempool transactions only.
func TestCoreReplayTxsWithoutWallet(t *testing.T) {
	chain, env := replayScenario(&chaincfg.RegressionNetParams)
	srv := newReplayCoreServer(t, chain)
	srv.walletSupport = false
	b, err := Open(srv.url(""))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	pool := chain.mempoolTxids()
	if txs, err := b.(TxBatcher).Txs(ctx, pool); err != nil || len(txs) != len(pool) {
		t.Errorf("Txs of the mempool without a wallet = %d transactions, %v", len(txs), err)
	}
	_, err = b.(TxBatcher).Txs(ctx, append(pool, env.knownTx))
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), env.knownTx.String()) || !strings.Contains(err.Error(), "-txindex") {
		t.Errorf("Txs of a confirmed transaction without txindex or wallet = %v, want ErrNotFound naming it with a -txindex hint", err)
	}
}
