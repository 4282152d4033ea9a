package scan

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/chain"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/wallet"
)

// hostileEsplora is an Esplora server (the documented REST API) for one
// wallet: a single confirmed transaction pays 1 BTC to the wallet's first
// receive address. What /utxo claims about that output is up to the test,
// which is what a hostile server controls.
type hostileEsplora struct {
	*httptest.Server
	funding *wire.MsgTx
	script  []byte

	mu sync.Mutex
	// claim is what /scripthash/:hash/utxo says about the output.
	claimValue int64
	claimVout  uint32
	// inHistory lists the funding transaction in /txs (a server may
	// list an output whose transaction arrived after the history call).
	inHistory bool
}

const (
	fundedValue = 100_000_000 // what the transaction really pays: 1 BTC
	tipHeight   = 10
	fundHeight  = 5
)

func newHostileEsplora(t *testing.T, d *descriptor.Descriptor) *hostileEsplora {
	t.Helper()
	der, err := d.Derive(0, 0, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	funding := wire.NewMsgTx(2)
	funding.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{7}}, nil, nil))
	funding.AddTxOut(wire.NewTxOut(fundedValue, der.ScriptPubKey))
	h := &hostileEsplora{funding: funding, script: der.ScriptPubKey, claimValue: fundedValue, inHistory: true}
	tip := chainhash.Hash{0x71}
	ours := func(r *http.Request) bool {
		sum := sha256.Sum256(h.script)
		return r.PathValue("hash") == hex.EncodeToString(sum[:])
	}
	status := map[string]any{"confirmed": true, "block_height": fundHeight, "block_hash": chainhash.Hash{5}.String()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/blocks/tip/hash", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, tip.String())
	})
	mux.HandleFunc("GET /api/block/{hash}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"id": tip.String(), "height": tipHeight})
	})
	mux.HandleFunc("GET /api/scripthash/{hash}/txs", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		list := []any{}
		if ours(r) && h.inHistory {
			list = append(list, map[string]any{"txid": funding.TxHash().String(), "status": status})
		}
		writeJSON(w, list)
	})
	mux.HandleFunc("GET /api/scripthash/{hash}/utxo", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		list := []any{}
		if ours(r) {
			list = append(list, map[string]any{"txid": funding.TxHash().String(), "vout": h.claimVout,
				"value": h.claimValue, "status": status})
		}
		writeJSON(w, list)
	})
	mux.HandleFunc("GET /api/tx/{txid}/hex", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("txid") != funding.TxHash().String() {
			http.Error(w, "Transaction not found", http.StatusNotFound)
			return
		}
		var buf bytes.Buffer
		_ = funding.Serialize(&buf)
		fmt.Fprint(w, hex.EncodeToString(buf.Bytes()))
	})
	h.Server = httptest.NewServer(mux)
	t.Cleanup(h.Close)
	return h
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (h *hostileEsplora) claim(value int64, vout uint32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.claimValue, h.claimVout = value, vout
}

func (h *hostileEsplora) backend(t *testing.T) chain.Backend {
	t.Helper()
	b, err := chain.Open("esplora+http://" + h.Listener.Addr().String() + "/api")
	if err != nil {
		t.Fatal(err)
	}
	return chain.WithRetry(b)
}

// storeState is everything a sync writes, for comparing before and after.
func storeState(t *testing.T, st *wallet.Store) string {
	t.Helper()
	ctx := context.Background()
	us, err := st.UTXOs(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	txs, err := st.Transactions(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	state, err := st.ScanState(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	conf, unconf, err := st.Balance(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "balance %d+%d; state %+v;", conf, unconf, state)
	for _, u := range us {
		fmt.Fprintf(&b, " utxo %s=%d;", u.OutPoint, u.Value)
	}
	for _, tx := range txs {
		fmt.Fprintf(&b, " tx %s net %d;", tx.TxID, tx.Net)
	}
	return b.String()
}

// TestSyncRefusesLyingEsplora: a server whose /utxo claims 100 BTC on an
// output its own transaction pays 1 BTC on fails the sync with
// chain.ErrLying naming the server and the transaction, and nothing is
// stored, on a first sync and after an honest one. The honest server's
// sync stores the real 1 BTC, so the test can tell the two apart.
func TestSyncRefusesLyingEsplora(t *testing.T) {
	ctx := context.Background()
	d := testDescriptor(t)
	net := &chaincfg.RegressionNetParams

	t.Run("first sync", func(t *testing.T) {
		srv := newHostileEsplora(t, d)
		srv.claim(100*fundedValue, 0)
		st := newWallet(t, d)
		empty := storeState(t, st)
		_, err := Sync(ctx, st, "w", d, net, srv.backend(t), Options{})
		if !errors.Is(err, chain.ErrLying) {
			t.Fatalf("sync against a lying server = %v, want chain.ErrLying", err)
		}
		for _, want := range []string{"Esplora at " + srv.Listener.Addr().String(), srv.funding.TxHash().String(), "100 BTC", "pays 1 BTC", "nothing stored"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if got := storeState(t, st); got != empty {
			t.Errorf("a refused sync changed the store:\n  before %s\n  after  %s", empty, got)
		}
	})

	t.Run("after an honest sync", func(t *testing.T) {
		srv := newHostileEsplora(t, d)
		st := newWallet(t, d)
		res, err := Sync(ctx, st, "w", d, net, srv.backend(t), Options{})
		if err != nil {
			t.Fatal(err)
		}
		conf, _, _ := st.Balance(ctx, "w")
		if res.UTXOs != 1 || conf != fundedValue {
			t.Fatalf("honest sync: %d coins, balance %d; want 1 coin of %d", res.UTXOs, conf, fundedValue)
		}
		honest := storeState(t, st)
		for _, tc := range []struct {
			name  string
			value int64
			vout  uint32
			says  string
		}{
			{"inflated value", 100 * fundedValue, 0, "100 BTC"},
			{"shrunk value", 1, 0, "0.00000001 BTC"},
			{"missing output", fundedValue, 3, "only 1 outputs"},
		} {
			srv.claim(tc.value, tc.vout)
			_, err := Sync(ctx, st, "w", d, net, srv.backend(t), Options{Full: true})
			if !errors.Is(err, chain.ErrLying) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("%s: sync = %v, want chain.ErrLying saying %q", tc.name, err, tc.says)
			}
			if got := storeState(t, st); got != honest {
				t.Errorf("%s: a refused sync changed the store:\n  before %s\n  after  %s", tc.name, honest, got)
			}
		}
	})

	// An output listed before its transaction shows in the history (it
	// arrived between the two calls) is proven by fetching the
	// transaction, which is then stored with it.
	t.Run("output outside the history", func(t *testing.T) {
		srv := newHostileEsplora(t, d)
		srv.mu.Lock()
		srv.inHistory = false
		srv.mu.Unlock()
		st := newWallet(t, d)
		if _, err := Sync(ctx, st, "w", d, net, srv.backend(t), Options{}); err != nil {
			t.Fatal(err)
		}
		txs, _ := st.Transactions(ctx, "w")
		us, _ := st.UTXOs(ctx, "w")
		if len(us) != 1 || us[0].Value != fundedValue || len(txs) != 1 || txs[0].TxID != srv.funding.TxHash() {
			t.Errorf("stored %d coins and %d transactions, want the proven coin and its transaction", len(us), len(txs))
		}
		srv.claim(2*fundedValue, 0)
		if _, err := Sync(ctx, st, "w", d, net, srv.backend(t), Options{Full: true}); !errors.Is(err, chain.ErrLying) {
			t.Errorf("a lie about an output outside the history = %v, want chain.ErrLying", err)
		}
	})
}

// fabricatingBackend is a hostile node that sees the scripts it is asked
// about and answers every round with a made-up transaction paying the last
// one, so the wallet looks used up to the end of every window.
type fabricatingBackend struct {
	mu  sync.Mutex
	txs map[chainhash.Hash]*wire.MsgTx
}

func (f *fabricatingBackend) Network(context.Context) (*chaincfg.Params, error) {
	return &chaincfg.RegressionNetParams, nil
}
func (f *fabricatingBackend) Tip(context.Context) (int32, chainhash.Hash, error) {
	return 10, chainhash.Hash{1}, nil
}
func (f *fabricatingBackend) ListUnspent(context.Context, [][]byte) ([]chain.UTXO, error) {
	return nil, nil
}
func (f *fabricatingBackend) History(_ context.Context, scripts [][]byte) ([]chain.TxRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Index: uint32(len(f.txs))}, nil, nil))
	tx.AddTxOut(wire.NewTxOut(1000, scripts[len(scripts)-1]))
	f.txs[tx.TxHash()] = tx
	return []chain.TxRef{{TxID: tx.TxHash()}}, nil
}
func (f *fabricatingBackend) Tx(_ context.Context, id chainhash.Hash) (*wire.MsgTx, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if tx, ok := f.txs[id]; ok {
		return tx, nil
	}
	return nil, chain.ErrNotFound
}
func (f *fabricatingBackend) FeeRate(context.Context, int) (float64, error) { return 1, nil }
func (f *fabricatingBackend) Broadcast(context.Context, *wire.MsgTx) (chainhash.Hash, error) {
	return chainhash.Hash{}, chain.ErrUnsupported
}

// TestSyncStopsAtFabricatedUsage: a node that makes every window look used
// would keep a full scan deriving forever; it stops at the index limit
// with chain.ErrTooLarge, storing nothing. (The test lowers the limit
// from maxScanIndex to 5,000 to keep the derivations short; at 100,000 it
// takes 57 rounds and about 15 s here.)
func TestSyncStopsAtFabricatedUsage(t *testing.T) {
	d := testDescriptor(t)
	st := newWallet(t, d)
	before := storeState(t, st)
	b := &fabricatingBackend{txs: map[chainhash.Hash]*wire.MsgTx{}}
	_, err := Sync(context.Background(), st, "w", d, &chaincfg.RegressionNetParams, b, Options{maxIndex: 5000})
	if !errors.Is(err, chain.ErrTooLarge) || !strings.Contains(err.Error(), "a full scan stops at 5000") ||
		!strings.Contains(err.Error(), "change branch") {
		t.Fatalf("sync against a fabricating node = %v, want chain.ErrTooLarge at index 5000 on the change branch", err)
	}
	if got := storeState(t, st); got != before {
		t.Errorf("the stopped sync changed the store")
	}
	t.Logf("stopped after %d fabricated rounds", len(b.txs))
}

// TestSyncFillsScriptIndex: a sync of a wallet past
// wallet.ScriptIndexFrom addresses leaves every script it derived in the
// store's script index, so the next PSBT step derives none of them.
func TestSyncFillsScriptIndex(t *testing.T) {
	ctx := context.Background()
	d := testDescriptor(t)
	net := &chaincfg.RegressionNetParams
	srv := newHostileEsplora(t, d)
	st := newWallet(t, d)
	if err := st.AdvanceIndex(ctx, "w", 0, 2100); err != nil {
		t.Fatal(err)
	}
	if _, err := Sync(ctx, st, "w", d, net, srv.backend(t), Options{}); err != nil {
		t.Fatal(err)
	}
	key := wallet.ScriptIndexKey(d.String())
	for branch, want := range []uint32{2100 + DefaultGap, DefaultGap} {
		if n, err := st.ScriptIndexUpTo(ctx, "w", uint32(branch), key); err != nil || n != want {
			t.Fatalf("branch %d indexed up to %d (%v), want %d", branch, n, err, want)
		}
	}
	for _, p := range [][2]uint32{{0, 0}, {0, 2050}, {0, 2119}, {1, 5}} {
		dv, err := d.Derive(p[0], p[1], net)
		if err != nil {
			t.Fatal(err)
		}
		if b, i, ok, err := st.LocateScript(ctx, "w", dv.ScriptPubKey); err != nil || !ok || b != p[0] || i != p[1] {
			t.Fatalf("%d/%d indexed at %d/%d (%v, %v)", p[0], p[1], b, i, ok, err)
		}
	}
	// A small wallet's scripts are not indexed.
	small := newWallet(t, d)
	if _, err := Sync(ctx, small, "w", d, net, srv.backend(t), Options{}); err != nil {
		t.Fatal(err)
	}
	if n, err := small.ScriptIndexUpTo(ctx, "w", 0, key); err != nil || n != 0 {
		t.Fatalf("a 20-address wallet was indexed up to %d (%v)", n, err)
	}
}
