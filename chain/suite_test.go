package chain

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// suiteEnv is what a backend under the conformance suite must report, in a
// settled state (nothing changes while the suite runs, except through its
// own broadcast, which touches none of scripts).
type suiteEnv struct {
	net       *chaincfg.Params
	tipHeight int32
	tipHash   chainhash.Hash
	scripts   [][]byte
	unspent   []UTXO  // exactly the unspent outputs paying scripts
	history   []TxRef // exactly the transactions touching scripts
	knownTx   chainhash.Hash
	// broadcast is a valid transaction the backend has not seen; invalid
	// is one it must refuse (spends an output that does not exist).
	broadcast *wire.MsgTx
	invalid   *wire.MsgTx
	// fallbackFee tells whether the backend must report its fee rate as a
	// fallback (true), as an estimate (false), or may do either (nil).
	fallbackFee *bool
}

// testBackend is the conformance suite every Backend implementation runs.
func testBackend(t *testing.T, b Backend, env suiteEnv) {
	ctx := testCtx(t)

	t.Run("Network", func(t *testing.T) {
		net, err := b.Network(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if net.Name != env.net.Name {
			t.Errorf("Network() = %s, want %s", net.Name, env.net.Name)
		}
		if err := CheckNetwork(ctx, b, env.net); err != nil {
			t.Errorf("CheckNetwork(%s) = %v", env.net.Name, err)
		}
		other := &chaincfg.MainNetParams
		if env.net == other {
			other = &chaincfg.TestNet3Params
		}
		if err := CheckNetwork(ctx, b, other); !errors.Is(err, ErrWrongNetwork) {
			t.Errorf("CheckNetwork(%s) = %v, want ErrWrongNetwork", other.Name, err)
		}
	})

	t.Run("Tip", func(t *testing.T) {
		height, hash, err := b.Tip(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if height != env.tipHeight || hash != env.tipHash {
			t.Errorf("Tip() = %d %s, want %d %s", height, hash, env.tipHeight, env.tipHash)
		}
	})

	t.Run("ListUnspent", func(t *testing.T) {
		// Duplicates and order of the query must not matter.
		query := append(append([][]byte{}, env.scripts...), env.scripts[0])
		got, err := b.ListUnspent(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		want := append([]UTXO{}, env.unspent...)
		sortUTXOs(want)
		if diff := diffUTXOs(got, want); diff != "" {
			t.Errorf("ListUnspent:\n%s", diff)
		}
		if !sort.SliceIsSorted(got, func(i, j int) bool { return utxoLess(got[i], got[j]) }) {
			t.Errorf("ListUnspent result is not in the documented order")
		}
	})

	t.Run("ListUnspentNothing", func(t *testing.T) {
		for name, scripts := range map[string][][]byte{
			"nil":    nil,
			"unused": {p2wshScript(witnessScript(0xdead))},
		} {
			got, err := b.ListUnspent(ctx, scripts)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if got == nil || len(got) != 0 {
				t.Errorf("%s: ListUnspent = %v, want an empty non-nil list", name, got)
			}
		}
	})

	t.Run("History", func(t *testing.T) {
		got, err := b.History(ctx, env.scripts)
		if err != nil {
			t.Fatal(err)
		}
		want := historySet{}
		for _, r := range env.history {
			want.add(r)
		}
		if fmt.Sprint(got) != fmt.Sprint(want.sorted()) {
			t.Errorf("History = %v\nwant %v", got, want.sorted())
		}
		empty, err := b.History(ctx, [][]byte{p2wshScript(witnessScript(0xdead))})
		if err != nil || len(empty) != 0 {
			t.Errorf("History(unused script) = %v, %v; want nothing", empty, err)
		}
	})

	t.Run("Tx", func(t *testing.T) {
		tx, err := b.Tx(ctx, env.knownTx)
		if err != nil {
			t.Fatal(err)
		}
		if tx.TxHash() != env.knownTx {
			t.Errorf("Tx(%s) returned %s", env.knownTx, tx.TxHash())
		}
		unknown := hashOf("no such transaction")
		if _, err := b.Tx(ctx, unknown); !errors.Is(err, ErrNotFound) {
			t.Errorf("Tx(unknown) = %v, want ErrNotFound", err)
		}
	})

	t.Run("FeeRate", func(t *testing.T) {
		for _, target := range []int{1, 6, 144, 1008} {
			rate, err := b.FeeRate(ctx, target)
			if err != nil {
				t.Fatalf("FeeRate(%d): %v", target, err)
			}
			if math.IsNaN(rate) || rate < 1 || rate > 10_000 {
				t.Errorf("FeeRate(%d) = %v sat/vB, not a sane rate", target, rate)
			}
		}
		for _, target := range []int{0, -1, 1009} {
			if _, err := b.FeeRate(ctx, target); err == nil {
				t.Errorf("FeeRate(%d) accepted an impossible target", target)
			}
		}
		fe, ok := b.(FeeEstimator)
		if !ok {
			t.Fatal("backend does not implement FeeEstimator")
		}
		est, err := fe.EstimateFee(ctx, 6)
		if err != nil {
			t.Fatal(err)
		}
		if est.Note == "" || (env.fallbackFee != nil && est.Fallback != *env.fallbackFee) {
			t.Errorf("EstimateFee = %+v, want a note and Fallback=%v", est, fmtFallback(env.fallbackFee))
		}
	})

	t.Run("Broadcast", func(t *testing.T) {
		if env.broadcast == nil {
			t.Skip("no transaction to broadcast")
		}
		txid, err := b.Broadcast(ctx, env.broadcast)
		if err != nil {
			t.Fatal(err)
		}
		if txid != env.broadcast.TxHash() {
			t.Errorf("Broadcast returned %s, want %s", txid, env.broadcast.TxHash())
		}
		// Sending again is harmless: the node has it.
		if again, err := b.Broadcast(ctx, env.broadcast); err != nil || again != txid {
			t.Errorf("second Broadcast = %s, %v; want %s, nil", again, err, txid)
		}
		if _, err := b.Tx(ctx, txid); err != nil {
			t.Errorf("Tx(broadcast tx): %v", err)
		}
		_, err = b.Broadcast(ctx, env.invalid)
		if !errors.Is(err, ErrRejected) {
			t.Errorf("Broadcast(invalid) = %v, want ErrRejected", err)
		}
	})

	t.Run("BlockSource", func(t *testing.T) {
		src, ok := b.(BlockSource)
		if !ok {
			t.Fatal("backend does not implement BlockSource")
		}
		testBlockSource(t, src, env)
	})

	t.Run("MedianTimePast", func(t *testing.T) {
		testMedianTimePast(t, b, env)
	})

	t.Run("TxBatcher", func(t *testing.T) {
		txb, ok := b.(TxBatcher)
		if !ok {
			t.Fatal("backend does not implement TxBatcher")
		}
		testTxBatcher(t, txb, env)
	})

	t.Run("Counter", func(t *testing.T) {
		c, ok := b.(Counter)
		if !ok {
			t.Fatal("backend does not implement Counter")
		}
		before := c.RoundTrips()
		if _, _, err := b.Tip(ctx); err != nil {
			t.Fatal(err)
		}
		if c.RoundTrips() <= before {
			t.Errorf("RoundTrips did not grow after Tip (%d -> %d)", before, c.RoundTrips())
		}
	})
}

// suiteBlocks is how many blocks up to the tip the suite reads back: enough
// to hold the confirmed transactions of every env the suite runs on.
const suiteBlocks = 5

// testBlockSource walks the last blocks of env's chain by height and hash
// and checks that they link up, end at the tip and hold the confirmed
// transactions of env.history at their heights; and that the mempool holds
// the unconfirmed ones.
func testBlockSource(t *testing.T, src BlockSource, env suiteEnv) {
	ctx := testCtx(t)
	first := max(env.tipHeight-suiteBlocks+1, 0)
	var hashes []chainhash.Hash
	for h := first; h <= env.tipHeight; h++ {
		hash, err := src.BlockHash(ctx, h)
		if err != nil {
			t.Fatalf("BlockHash(%d): %v", h, err)
		}
		hashes = append(hashes, hash)
	}
	if hashes[len(hashes)-1] != env.tipHash {
		t.Errorf("BlockHash(tip %d) = %s, want %s", env.tipHeight, hashes[len(hashes)-1], env.tipHash)
	}
	if first == 0 && hashes[0] != *env.net.GenesisHash {
		t.Errorf("BlockHash(0) = %s, want the genesis hash %s", hashes[0], env.net.GenesisHash)
	}
	if _, err := src.BlockHash(ctx, env.tipHeight+1); !errors.Is(err, ErrNotFound) {
		t.Errorf("BlockHash(tip+1) = %v, want ErrNotFound", err)
	}
	if _, err := src.BlockHash(ctx, -1); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("BlockHash(-1) = %v, want an error about the height (not ErrNotFound)", err)
	}

	blocks, err := src.Blocks(ctx, hashes)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != len(hashes) {
		t.Fatalf("Blocks returned %d blocks for %d hashes", len(blocks), len(hashes))
	}
	inBlock := map[chainhash.Hash]int32{}
	for i, block := range blocks {
		if got := block.BlockHash(); got != hashes[i] {
			t.Errorf("Blocks[%d] is %s, want %s", i, got, hashes[i])
		}
		if i > 0 && block.Header.PrevBlock != hashes[i-1] {
			t.Errorf("block %d links to %s, want %s", first+int32(i), block.Header.PrevBlock, hashes[i-1])
		}
		for _, tx := range block.Transactions {
			inBlock[tx.TxHash()] = first + int32(i)
		}
	}
	for _, r := range env.history {
		if r.Height >= first && inBlock[r.TxID] != r.Height {
			t.Errorf("transaction %s should be in block %d; found at %d (0: nowhere)", r.TxID, r.Height, inBlock[r.TxID])
		}
	}
	// Order follows the request, repeats included.
	again, err := src.Blocks(ctx, []chainhash.Hash{hashes[len(hashes)-1], hashes[0], hashes[len(hashes)-1]})
	if err != nil || len(again) != 3 || again[0].BlockHash() != env.tipHash || again[1].BlockHash() != hashes[0] ||
		again[2].BlockHash() != env.tipHash {
		t.Errorf("Blocks(tip, first, tip) out of order or failed: %v", err)
	}
	if none, err := src.Blocks(ctx, nil); err != nil || none == nil || len(none) != 0 {
		t.Errorf("Blocks(nil) = %v, %v; want an empty non-nil list", none, err)
	}
	unknown := hashOf("no such block")
	_, err = src.Blocks(ctx, []chainhash.Hash{hashes[0], unknown})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), unknown.String()) {
		t.Errorf("Blocks(known, unknown) = %v, want ErrNotFound naming %s", err, unknown)
	}

	pool, err := src.Mempool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inPool := map[chainhash.Hash]bool{}
	for _, txid := range pool {
		inPool[txid] = true
	}
	for _, r := range env.history {
		if r.Height == 0 && !inPool[r.TxID] {
			t.Errorf("Mempool lacks unconfirmed transaction %s (got %d txids)", r.TxID, len(pool))
		}
		if r.Height > 0 && inPool[r.TxID] {
			t.Errorf("Mempool lists confirmed transaction %s", r.TxID)
		}
	}
}

// testTxBatcher fetches env's known transactions and the whole mempool in
// batches and checks order, contents and the not-found error.
func testTxBatcher(t *testing.T, txb TxBatcher, env suiteEnv) {
	ctx := testCtx(t)
	want := []chainhash.Hash{env.knownTx}
	for _, r := range env.history {
		if r.Height == 0 {
			want = append(want, r.TxID)
		}
	}
	if src, ok := txb.(BlockSource); ok {
		pool, err := src.Mempool(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, pool...)
	}
	txs, err := txb.Txs(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if len(txs) != len(want) {
		t.Fatalf("Txs returned %d transactions for %d txids", len(txs), len(want))
	}
	for i, tx := range txs {
		if tx == nil || tx.TxHash() != want[i] {
			t.Errorf("Txs[%d] is not %s", i, want[i])
		}
	}
	if none, err := txb.Txs(ctx, nil); err != nil || none == nil || len(none) != 0 {
		t.Errorf("Txs(nil) = %v, %v; want an empty non-nil list", none, err)
	}
	unknown := hashOf("no such transaction")
	_, err = txb.Txs(ctx, []chainhash.Hash{env.knownTx, unknown})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), unknown.String()) {
		t.Errorf("Txs(known, unknown) = %v, want ErrNotFound naming %s", err, unknown)
	}
}

func utxoLess(a, b UTXO) bool {
	if a.Height != b.Height {
		return heightLess(a.Height, b.Height)
	}
	if a.OutPoint.Hash != b.OutPoint.Hash {
		return a.OutPoint.Hash.String() < b.OutPoint.Hash.String()
	}
	return a.OutPoint.Index < b.OutPoint.Index
}

func diffUTXOs(got, want []UTXO) string {
	var sb strings.Builder
	if len(got) != len(want) {
		fmt.Fprintf(&sb, "got %d outputs, want %d\n", len(got), len(want))
	}
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w string
		if i < len(got) {
			g = fmtUTXO(got[i])
		}
		if i < len(want) {
			w = fmtUTXO(want[i])
		}
		if g != w {
			fmt.Fprintf(&sb, "  [%d] got  %s\n      want %s\n", i, g, w)
		}
	}
	return sb.String()
}

func fmtUTXO(u UTXO) string {
	return fmt.Sprintf("%s value=%d height=%d script=%x", u.OutPoint, u.Value, u.Height, u.PkScript)
}

func fmtFallback(b *bool) string {
	if b == nil {
		return "either"
	}
	return fmt.Sprint(*b)
}

func ptr[T any](v T) *T { return &v }

// testMedianTimePast checks MedianTimePast at the tip and at the block
// below it against the median of the timestamps of the whole blocks
// BlockSource serves (merkle-checked, read another way), and that a
// height above the tip is ErrNotFound.
func testMedianTimePast(t *testing.T, b Backend, env suiteEnv) {
	ctx := testCtx(t)
	src, ok := b.(BlockSource)
	if !ok {
		t.Fatal("backend does not implement BlockSource")
	}
	for _, height := range []int32{env.tipHeight, max(env.tipHeight-1, 0)} {
		var times []int64
		for h := max(height-10, 0); h <= height; h++ {
			hash, err := src.BlockHash(ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			blocks, err := src.Blocks(ctx, []chainhash.Hash{hash})
			if err != nil {
				t.Fatal(err)
			}
			times = append(times, blocks[0].Header.Timestamp.Unix())
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		got, err := MedianTimePast(ctx, b, height)
		if err != nil {
			t.Fatalf("MedianTimePast(%d): %v", height, err)
		}
		if want := times[len(times)/2]; got.Unix() != want {
			t.Errorf("MedianTimePast(%d) = %d, want %d (the median of %v)", height, got.Unix(), want, times)
		}
	}
	if _, err := MedianTimePast(ctx, b, env.tipHeight+1); !errors.Is(err, ErrNotFound) {
		t.Errorf("MedianTimePast(tip+1) = %v, want ErrNotFound", err)
	}
}
