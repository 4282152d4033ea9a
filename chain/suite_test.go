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
			want.add(r.TxID, r.Height)
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
