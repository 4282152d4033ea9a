package chain

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/internal/regtest"
)

// TestBtcdBackend follows two scripts through funding, confirmation, a
// spend in the mempool and its confirmation on a real btcd node, then runs
// the conformance suite against the settled state.
func TestBtcdBackend(t *testing.T) {
	node := regtest.Start(t)
	ctx := testCtx(t)
	b, err := Open(node.RPCURL())
	if err != nil {
		t.Fatal(err)
	}
	// A fresh node has seen no fees confirm: the relay fee, marked.
	est, err := b.(FeeEstimator).EstimateFee(ctx, 6)
	if err != nil {
		t.Fatal(err)
	}
	if !est.Fallback || est.SatPerVByte != 1 || !strings.Contains(est.Note, "minimum relay fee") {
		t.Errorf("EstimateFee on a fresh node = %+v, want the 1 sat/vB relay-fee fallback with a note", est)
	}

	wsA, wsB := witnessScript(1), witnessScript(2)
	scriptA := p2wshScript(wsA)
	scriptB := p2shScript(p2wshScript(wsB)) // sh-wsh shape
	scripts := [][]byte{scriptA, scriptB}

	fund := func(script []byte, amount int64) *wire.MsgTx {
		t.Helper()
		txid, err := node.FundScript(ctx, script, amount)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := b.Tx(ctx, txid)
		if err != nil {
			t.Fatalf("Tx(%s) of a mempool transaction: %v", txid, err)
		}
		return tx
	}
	txA1 := fund(scriptA, 1_000_000)
	txB1 := fund(scriptB, 2_000_000)
	txA2 := fund(scriptA, 300_000)
	opA1, opB1, opA2 := outputTo(t, txA1, scriptA), outputTo(t, txB1, scriptB), outputTo(t, txA2, scriptA)

	expect := func(stage string, want []UTXO, history []TxRef) {
		t.Helper()
		got, err := b.ListUnspent(ctx, scripts)
		if err != nil {
			t.Fatalf("%s: ListUnspent: %v", stage, err)
		}
		sortUTXOs(want)
		if diff := diffUTXOs(got, want); diff != "" {
			t.Errorf("%s: ListUnspent:\n%s", stage, diff)
		}
		refs, err := b.History(ctx, scripts)
		if err != nil {
			t.Fatalf("%s: History: %v", stage, err)
		}
		hs := historySet{}
		for _, r := range history {
			hs.add(TxRef{TxID: r.TxID, Height: r.Height})
		}
		if got, want := fmtRefs(refs), fmtRefs(hs.sorted()); got != want {
			t.Errorf("%s: History = %s, want %s", stage, got, want)
		}
		// Search (through the retry wrapper Open returns) answers both
		// from one pass, with every history transaction.
		s, ok := b.(Searcher)
		if !ok {
			t.Fatalf("btcd behind %T is not a Searcher", b)
		}
		f, err := s.Search(ctx, scripts)
		if err != nil {
			t.Fatalf("%s: Search: %v", stage, err)
		}
		if diff := diffUTXOs(f.UTXOs, want); diff != "" {
			t.Errorf("%s: Search's UTXOs:\n%s", stage, diff)
		}
		if got, want := fmtRefs(f.History), fmtRefs(hs.sorted()); got != want {
			t.Errorf("%s: Search's history = %s, want %s", stage, got, want)
		}
		if len(f.Txs) != len(f.History) {
			t.Errorf("%s: Search returned %d transactions for %d history entries", stage, len(f.Txs), len(f.History))
		}
		for _, r := range f.History {
			if tx := f.Txs[r.TxID]; tx == nil || tx.TxHash() != r.TxID {
				t.Errorf("%s: Search's transaction %s missing or another", stage, r.TxID)
			}
		}
	}
	utxo := func(op wire.OutPoint, value int64, script []byte, height int32) UTXO {
		return UTXO{OutPoint: op, Value: value, PkScript: script, Height: height}
	}

	expect("unconfirmed",
		[]UTXO{utxo(opA1, 1_000_000, scriptA, 0), utxo(opB1, 2_000_000, scriptB, 0), utxo(opA2, 300_000, scriptA, 0)},
		[]TxRef{{TxID: txA1.TxHash(), Height: 0}, {TxID: txB1.TxHash(), Height: 0}, {TxID: txA2.TxHash(), Height: 0}})

	mine(t, node, 1)
	h1, _, err := b.Tip(ctx)
	if err != nil {
		t.Fatal(err)
	}
	expect("confirmed",
		[]UTXO{utxo(opA1, 1_000_000, scriptA, h1), utxo(opB1, 2_000_000, scriptB, h1), utxo(opA2, 300_000, scriptA, h1)},
		[]TxRef{{TxID: txA1.TxHash(), Height: h1}, {TxID: txB1.TxHash(), Height: h1}, {TxID: txA2.TxHash(), Height: h1}})

	// Spend A1 away. While the spend is in the mempool, gettxout still
	// reports A1; ListUnspent must not.
	away := p2wshScript(witnessScript(3))
	spend := spendTx(opA1, 1_000_000, wsA, away, 1_000)
	if _, err := b.Broadcast(ctx, spend); err != nil {
		t.Fatal(err)
	}
	expect("spent in mempool",
		[]UTXO{utxo(opB1, 2_000_000, scriptB, h1), utxo(opA2, 300_000, scriptA, h1)},
		[]TxRef{{TxID: txA1.TxHash(), Height: h1}, {TxID: txB1.TxHash(), Height: h1}, {TxID: txA2.TxHash(), Height: h1}, {TxID: spend.TxHash(), Height: 0}})

	mine(t, node, 1)
	expect("spend confirmed",
		[]UTXO{utxo(opB1, 2_000_000, scriptB, h1), utxo(opA2, 300_000, scriptA, h1)},
		[]TxRef{{TxID: txA1.TxHash(), Height: h1}, {TxID: txB1.TxHash(), Height: h1}, {TxID: txA2.TxHash(), Height: h1}, {TxID: spend.TxHash(), Height: h1 + 1}})

	// Each confirmed transaction carries its block's timestamp: the one
	// the block's header, read on its own, says (the suite below checks
	// History's times against these).
	hdrs, err := b.(HeaderSource).Headers(ctx, h1, h1+1)
	if err != nil {
		t.Fatal(err)
	}
	t1, t2 := hdrs[0].Timestamp.Unix(), hdrs[1].Timestamp.Unix()

	tipHeight, tipHash, err := node.Tip(ctx)
	if err != nil {
		t.Fatal(err)
	}
	harnessBuilt, err := node.Spend(ctx, []*wire.TxOut{wire.NewTxOut(50_000, p2wshScript(witnessScript(4)))})
	if err != nil {
		t.Fatal(err)
	}
	env := suiteEnv{
		net:         &chaincfg.RegressionNetParams,
		tipHeight:   tipHeight,
		tipHash:     tipHash,
		scripts:     scripts,
		unspent:     []UTXO{utxo(opB1, 2_000_000, scriptB, h1), utxo(opA2, 300_000, scriptA, h1)},
		history:     []TxRef{{TxID: txA1.TxHash(), Height: h1, Time: t1}, {TxID: txB1.TxHash(), Height: h1, Time: t1}, {TxID: txA2.TxHash(), Height: h1, Time: t1}, {TxID: spend.TxHash(), Height: h1 + 1, Time: t2}},
		knownTx:     txB1.TxHash(),
		broadcast:   harnessBuilt,
		invalid:     spendTx(wire.OutPoint{Hash: hashOf("nowhere")}, 10_000, wsA, away, 1_000),
		fallbackFee: nil, // btcd has watched the harness's fees confirm by now
	}
	t.Run("suite", func(t *testing.T) { testBackend(t, b, env) })
	t.Run("suite-with-retry", func(t *testing.T) { testBackend(t, WithRetry(b), env) })

	t.Run("script-without-address", func(t *testing.T) {
		opReturn := []byte{0x6a, 0x01, 0x01}
		if _, err := b.ListUnspent(ctx, [][]byte{opReturn}); !errors.Is(err, ErrUnsupported) {
			t.Errorf("ListUnspent(OP_RETURN) = %v, want ErrUnsupported", err)
		}
	})

	t.Run("wrong-password", func(t *testing.T) {
		user, _ := node.Credentials()
		bad := (&url.URL{Scheme: "btcd", User: url.UserPassword(user, "not-the-password"), Host: node.RPCAddr()}).String()
		wb, err := Open(bad)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = wb.Tip(ctx)
		if !errors.Is(err, ErrAuth) {
			t.Fatalf("Tip with a wrong password = %v, want ErrAuth", err)
		}
		if strings.Contains(err.Error(), "not-the-password") {
			t.Errorf("error shows the password: %v", err)
		}
	})
}

// TestBtcdSyncRoundTrips measures a wallet-sized sync: 40 scripts, 6 of
// them funded, must take 2 HTTP round trips for ListUnspent and 1 for
// History once the network is known.
func TestBtcdSyncRoundTrips(t *testing.T) {
	node := regtest.Start(t)
	ctx := testCtx(t)
	b, err := Open(node.RPCURL())
	if err != nil {
		t.Fatal(err)
	}
	var scripts [][]byte
	for i := uint32(0); i < 40; i++ {
		scripts = append(scripts, p2wshScript(witnessScript(100+i)))
	}
	for i := 0; i < 40; i += 7 {
		if _, err := node.FundScript(ctx, scripts[i], int64(10_000*(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	mine(t, node, 1)
	if _, err := b.Network(ctx); err != nil {
		t.Fatal(err)
	}
	counter := b.(Counter)

	start := counter.RoundTrips()
	began := time.Now()
	utxos, err := b.ListUnspent(ctx, scripts)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(began)
	if len(utxos) != 6 {
		t.Errorf("ListUnspent found %d outputs, want 6", len(utxos))
	}
	if trips := counter.RoundTrips() - start; trips != 2 {
		t.Errorf("ListUnspent of 40 scripts took %d round trips, want 2", trips)
	}
	start = counter.RoundTrips()
	if _, err := b.History(ctx, scripts); err != nil {
		t.Fatal(err)
	}
	if trips := counter.RoundTrips() - start; trips != 1 {
		t.Errorf("History of 40 scripts took %d round trips, want 1", trips)
	}
	t.Logf("ListUnspent of 40 scripts (6 funded): 2 round trips, %s", elapsed)
}

// TestBtcdPaging makes the address index answer in several pages, with
// the confirmed part split across pages and the mempool part at the end.
func TestBtcdPaging(t *testing.T) {
	node := regtest.Start(t)
	ctx := testCtx(t)
	bk, err := Open(node.RPCURL())
	if err != nil {
		t.Fatal(err)
	}
	b := bk.(*btcdBackend)
	b.pageSize = 2
	script := p2wshScript(witnessScript(7))
	var want []UTXO
	var refs []TxRef
	for i := 0; i < 6; i++ {
		if i == 3 {
			mine(t, node, 1)
			for j := range want {
				want[j].Height = 102
				refs[j].Height = 102
			}
		}
		txid, err := node.FundScript(ctx, script, int64(20_000+i))
		if err != nil {
			t.Fatal(err)
		}
		// Fund pays the script as output 0.
		want = append(want, UTXO{OutPoint: wire.OutPoint{Hash: txid}, Value: int64(20_000 + i), PkScript: script})
		refs = append(refs, TxRef{TxID: txid})
	}
	if h, _, err := node.Tip(ctx); err != nil || h != 102 {
		t.Fatalf("tip %d, %v; the test expects its first block at 102", h, err)
	}
	for round := 0; round < 3; round++ { // the mempool order varies between calls
		got, err := b.ListUnspent(ctx, [][]byte{script})
		if err != nil {
			t.Fatal(err)
		}
		sortUTXOs(want)
		if diff := diffUTXOs(got, want); diff != "" {
			t.Fatalf("ListUnspent over pages:\n%s", diff)
		}
		hist, err := b.History(ctx, [][]byte{script})
		if err != nil {
			t.Fatal(err)
		}
		hs := historySet{}
		for _, r := range refs {
			hs.add(TxRef{TxID: r.TxID, Height: r.Height})
		}
		if fmtRefs(hist) != fmtRefs(hs.sorted()) {
			t.Fatalf("History over pages = %s, want %s", fmtRefs(hist), fmtRefs(hs.sorted()))
		}
	}
}

func TestBtcdUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	b, err := Open("btcd://user:pass@127.0.0.1:" + strconv.Itoa(port) + "?timeout=5s")
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, _, err = b.Tip(testCtx(t))
	elapsed := time.Since(began)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Tip on a closed port = %v, want ErrUnavailable", err)
	}
	want := "cannot reach btcd at 127.0.0.1:" + strconv.Itoa(port) + ": connection refused"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if elapsed > 2*time.Second {
		t.Errorf("took %s to report a closed port", elapsed)
	}
}

func mine(t *testing.T, node *regtest.Node, n int) []chainhash.Hash {
	t.Helper()
	hashes, err := node.Mine(testCtx(t), n)
	if err != nil {
		t.Fatal(err)
	}
	return hashes
}

func fmtRefs(refs []TxRef) string {
	parts := make([]string, len(refs))
	for i, r := range refs {
		parts[i] = r.TxID.String()[:8] + "@" + strconv.Itoa(int(r.Height))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// TestBtcdBlocksAndTxs reads blocks, the mempool and batches of
// transactions from a real btcd and counts the round trips: 20 blocks in
// one getblock batch, several transactions in one getrawtransaction batch.
func TestBtcdBlocksAndTxs(t *testing.T) {
	node := regtest.Start(t)
	ctx := testCtx(t)
	bk, err := Open(node.RPCURL())
	if err != nil {
		t.Fatal(err)
	}
	b := bk.(*btcdBackend)
	counter := Counter(b)
	trips := func(fn func()) int64 {
		t.Helper()
		before := counter.RoundTrips()
		fn()
		return counter.RoundTrips() - before
	}
	fund := func(n uint32) chainhash.Hash {
		t.Helper()
		txid, err := node.FundScript(ctx, p2wshScript(witnessScript(500+n)), int64(10_000+n))
		if err != nil {
			t.Fatal(err)
		}
		return txid
	}

	// Block 1 of the 20: coinbase and 3 funding transactions (an even
	// count). Block 2: coinbase and 2 (odd: the last is paired with
	// itself in the merkle tree). Then 18 empty blocks.
	confirmed := []chainhash.Hash{fund(1), fund(2), fund(3)}
	hashes := mine(t, node, 1)
	confirmed = append(confirmed, fund(4), fund(5))
	hashes = append(hashes, mine(t, node, 1)...)
	hashes = append(hashes, mine(t, node, 18)...)
	tipHeight, tipHash, err := node.Tip(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tipHash != hashes[19] {
		t.Fatalf("the node's tip %s is not the last block mined, %s", tipHash, hashes[19])
	}
	first := tipHeight - 19
	for i, want := range hashes {
		got, err := b.BlockHash(ctx, first+int32(i))
		if err != nil || got != want {
			t.Fatalf("BlockHash(%d) = %s, %v; want %s", first+int32(i), got, err, want)
		}
	}
	if _, err := b.BlockHash(ctx, tipHeight+1); !errors.Is(err, ErrNotFound) {
		t.Errorf("BlockHash(tip+1) = %v, want ErrNotFound", err)
	}

	var blocks []*wire.MsgBlock
	if n := trips(func() {
		if blocks, err = b.Blocks(ctx, hashes); err != nil {
			t.Fatal(err)
		}
	}); n != 1 {
		t.Errorf("Blocks of 20 took %d round trips, want 1", n)
	}
	if len(blocks) != 20 {
		t.Fatalf("Blocks returned %d blocks, want 20", len(blocks))
	}
	for i, block := range blocks {
		if block.BlockHash() != hashes[i] {
			t.Errorf("Blocks[%d] = %s, want %s", i, block.BlockHash(), hashes[i])
		}
	}
	if got := paidTxids(blocks[0]); fmt.Sprint(got) != fmt.Sprint(sortedTxids(confirmed[:3])) {
		t.Errorf("block %d holds %v after its coinbase, want %v", first, got, confirmed[:3])
	}
	if got := paidTxids(blocks[1]); fmt.Sprint(got) != fmt.Sprint(sortedTxids(confirmed[3:])) {
		t.Errorf("block %d holds %v after its coinbase, want %v", first+1, got, confirmed[3:])
	}

	// Chunked: 8 blocks per request make 3 requests for 20.
	b.blocksPerRequest = 8
	if n := trips(func() {
		again, err := b.Blocks(ctx, hashes)
		if err != nil || len(again) != 20 || again[19].BlockHash() != hashes[19] {
			t.Fatalf("Blocks in chunks of 8 = %d blocks, %v", len(again), err)
		}
	}); n != 3 {
		t.Errorf("Blocks of 20, 8 per request, took %d round trips, want 3", n)
	}
	b.blocksPerRequest = 0
	unknown := hashOf("no such block")
	if _, err := b.Blocks(ctx, []chainhash.Hash{hashes[0], unknown}); !errors.Is(err, ErrNotFound) ||
		!strings.Contains(err.Error(), unknown.String()) {
		t.Errorf("Blocks(known, unknown) = %v, want ErrNotFound naming %s", err, unknown)
	}

	pending := []chainhash.Hash{fund(6), fund(7), fund(8)}
	pool, err := b.Mempool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sortedTxids(pool)) != fmt.Sprint(sortedTxids(pending)) {
		t.Errorf("Mempool = %v, want the funded unconfirmed %v", pool, pending)
	}

	// Confirmed (through --txindex) and unconfirmed in one batch.
	want := append(append([]chainhash.Hash{}, pending...), confirmed...)
	var txs []*wire.MsgTx
	if n := trips(func() {
		if txs, err = b.Txs(ctx, want); err != nil {
			t.Fatal(err)
		}
	}); n != 1 {
		t.Errorf("Txs of %d took %d round trips, want 1", len(want), n)
	}
	for i, tx := range txs {
		if tx.TxHash() != want[i] {
			t.Errorf("Txs[%d] = %s, want %s", i, tx.TxHash(), want[i])
		}
	}
	missing := hashOf("no such transaction")
	if _, err := b.Txs(ctx, []chainhash.Hash{want[0], missing, hashOf("nor this")}); !errors.Is(err, ErrNotFound) ||
		!strings.Contains(err.Error(), missing.String()) || !strings.Contains(err.Error(), "1 more") {
		t.Errorf("Txs with two unknown = %v, want ErrNotFound naming %s and counting one more", err, missing)
	}

	// The retry wrapper keeps both interfaces and the count.
	r := WithRetry(b)
	src, ok := r.(BlockSource)
	if _, isBatcher := r.(TxBatcher); !ok || !isBatcher {
		t.Fatalf("WithRetry(btcd) is BlockSource %v, TxBatcher %v; want both", ok, isBatcher)
	}
	counter = r.(Counter)
	if n := trips(func() {
		if _, err := src.Blocks(ctx, hashes); err != nil {
			t.Fatal(err)
		}
	}); n != 1 {
		t.Errorf("Blocks of 20 through WithRetry took %d round trips, want 1", n)
	}
	t.Logf("btcd: 20 blocks in 1 round trip (3 at 8 per request), %d transactions in 1", len(want))
}

// paidTxids are the txids of a block's transactions after its coinbase,
// sorted: btcd orders a block's transactions by fee and dependency.
func paidTxids(block *wire.MsgBlock) []chainhash.Hash {
	var txids []chainhash.Hash
	for _, tx := range block.Transactions[1:] {
		txids = append(txids, tx.TxHash())
	}
	return sortedTxids(txids)
}

// sortedTxids is a sorted copy of txids, by hex.
func sortedTxids(txids []chainhash.Hash) []chainhash.Hash {
	out := append([]chainhash.Hash{}, txids...)
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
