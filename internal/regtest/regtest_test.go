package regtest

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/wire"
)

// p2wsh returns a regtest P2WSH address for a witness script.
func p2wsh(t *testing.T, witnessScript []byte) btcutil.Address {
	t.Helper()
	h := sha256.Sum256(witnessScript)
	addr, err := btcutil.NewAddressWitnessScriptHash(h[:], &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestNodeFundMineSearch(t *testing.T) {
	n := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if got := n.RPCURL(); !strings.HasPrefix(got, "btcd://countersign:") || !strings.HasSuffix(got, "@"+n.RPCAddr()) {
		t.Errorf("RPCURL() = %q, want btcd://countersign:PASS@%s", got, n.RPCAddr())
	}
	height, _, err := n.Tip(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if height != 0 {
		t.Fatalf("fresh node at height %d, want 0 (a fresh chain)", height)
	}

	addr := p2wsh(t, []byte{0x51}) // OP_TRUE
	txid, err := n.Fund(ctx, addr, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	// A second and third payment spend the first one's unconfirmed change.
	for i := 0; i < 2; i++ {
		if _, err := n.Fund(ctx, addr, 250_000); err != nil {
			t.Fatalf("fund from change: %v", err)
		}
	}
	if height, _, err = n.Tip(ctx); err != nil {
		t.Fatal(err)
	}
	if height != coinbaseMaturity+1 {
		t.Errorf("after the first Fund the tip is %d, want %d (Fund mines until a coinbase matures)", height, coinbaseMaturity+1)
	}

	// The btcd rpcclient sees the unconfirmed transaction.
	verbose, err := n.Client().GetRawTransactionVerbose(&txid)
	if err != nil {
		t.Fatalf("rpcclient getrawtransaction: %v", err)
	}
	if verbose.Confirmations != 0 {
		t.Errorf("funding tx has %d confirmations before mining, want 0", verbose.Confirmations)
	}

	hashes, err := n.Mine(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	block, err := n.Client().GetBlock(&hashes[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(block.Transactions) != 4 {
		t.Errorf("mined block holds %d transactions, want coinbase + 3 fundings", len(block.Transactions))
	}

	// --addrindex is on: searchrawtransactions finds all three payments.
	var found []struct {
		Txid          string `json:"txid"`
		Confirmations int64  `json:"confirmations"`
	}
	if err := n.rpc.call(ctx, "searchrawtransactions", &found, addr.EncodeAddress(), 1, 0, 100); err != nil {
		t.Fatalf("searchrawtransactions: %v", err)
	}
	if len(found) != 3 {
		t.Fatalf("searchrawtransactions found %d transactions, want 3", len(found))
	}
	for _, f := range found {
		if f.Confirmations != 1 {
			t.Errorf("tx %s has %d confirmations, want 1", f.Txid, f.Confirmations)
		}
	}

	// Spend builds without sending; SendRaw then makes its change usable.
	tx, err := n.Spend(ctx, []*wire.TxOut{wire.NewTxOut(5000, block.Transactions[1].TxOut[0].PkScript)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.SendRaw(ctx, tx); err != nil {
		t.Fatalf("send the built transaction: %v", err)
	}
}

func TestStopEndsProcess(t *testing.T) {
	n := Start(t)
	pid := n.PID()
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.Exited():
	default:
		t.Fatalf("btcd (pid %d) still running after Stop", pid)
	}
	if err := n.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, _, err := n.Tip(ctx); err == nil {
		t.Error("RPC still answers after Stop")
	}
}

func TestStartFailureShowsLog(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "btcd")
	script := "#!/bin/sh\necho 'loadConfig: unknown flag --frobnicate' >&2\nexit 1\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := StartNode(ctx, Options{Binary: fake, DataDir: filepath.Join(dir, "node")})
	if err == nil {
		t.Fatal("StartNode succeeded with a binary that exits at once")
	}
	for _, want := range []string{"exited during startup", "unknown flag --frobnicate", "btcd.log"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestLockFileWaitsAndHonoursContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := lockFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := lockFile(ctx, path); err == nil {
		t.Fatal("second lock succeeded while the first is held")
	}
	unlock()
	again, err := lockFile(context.Background(), path)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	again()
}

// TestEnsureBtcdConcurrent builds into an empty cache from two goroutines:
// both get the same working binary. With a warm Go build cache the build
// takes seconds.
func TestEnsureBtcdConcurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds btcd; skipped in -short mode")
	}
	cache := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	paths := make([]string, 2)
	errs := make([]error, 2)
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths[i], errs[i] = EnsureBtcd(ctx, cache)
		}()
	}
	wg.Wait()
	for i := range paths {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
	}
	want := filepath.Join(cache, "btcd-"+BtcdVersion, "btcd")
	if paths[0] != want || paths[1] != want {
		t.Errorf("EnsureBtcd = %q, %q; want %q twice", paths[0], paths[1], want)
	}
	leftovers, _ := filepath.Glob(filepath.Join(cache, "btcd-build-*"))
	if len(leftovers) != 0 {
		t.Errorf("build directories left behind: %v", leftovers)
	}
}
