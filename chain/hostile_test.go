package chain

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// These tests put countersign in front of servers that lie, repeat
// themselves, never stop paging or answer with endless bodies. Each must
// end in bounded time with an error that says what the server did.

// hostileEsplora serves the Esplora paths the tests need from handler
// functions; unset paths answer 404.
type hostileEsplora struct {
	*httptest.Server
	requests atomic.Int64
}

func newHostileEsplora(t *testing.T, routes map[string]http.HandlerFunc) *hostileEsplora {
	h := &hostileEsplora{}
	mux := http.NewServeMux()
	for pattern, fn := range routes {
		mux.HandleFunc(pattern, fn)
	}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hostileEsplora) url(query string) string {
	return "esplora+http://" + h.Listener.Addr().String() + "/api" + query
}

// confirmedPage renders n made-up confirmed transactions, named by tag and
// a running number, as Esplora's /txs lists them.
func confirmedPage(tag string, from, n int) []map[string]any {
	page := make([]map[string]any, n)
	for i := range page {
		txid := hashOf(fmt.Sprintf("%s-%d", tag, from+i))
		page[i] = map[string]any{"txid": txid.String(), "status": map[string]any{"confirmed": true, "block_height": 100}}
	}
	return page
}

// TestEsploraHostileEndlessPaging: a server whose every history page is
// full, with new transactions each time, would be paged forever. History
// stops past max_txs with ErrTooLarge, having sent about max_txs/25
// requests, and says how to raise the limit.
func TestEsploraHostileEndlessPaging(t *testing.T) {
	var served atomic.Int64
	endless := func(w http.ResponseWriter, r *http.Request) {
		n := int(served.Add(1))
		writeJSON(w, http.StatusOK, confirmedPage("endless", n*esploraChainPage, esploraChainPage))
	}
	srv := newHostileEsplora(t, map[string]http.HandlerFunc{
		"GET /api/scripthash/{hash}/txs":              endless,
		"GET /api/scripthash/{hash}/txs/chain/{last}": endless,
	})
	for _, tc := range []struct {
		query  string
		maxTxs int
	}{{"", defaultMaxTxs}, {"?max_txs=100", 100}} {
		b, err := Open(srv.url(tc.query))
		if err != nil {
			t.Fatal(err)
		}
		before := srv.requests.Load()
		start := time.Now()
		_, err = b.History(testCtx(t), [][]byte{p2wshScript(witnessScript(1))})
		took := time.Since(start)
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "max_txs") ||
			!strings.Contains(err.Error(), strconv.Itoa(tc.maxTxs)) {
			t.Fatalf("History from an endless server (max_txs %d) = %v, want ErrTooLarge naming the limit and max_txs", tc.maxTxs, err)
		}
		if errors.Is(err, ErrUnavailable) {
			t.Errorf("the paging error wraps ErrUnavailable, which WithRetry would retry: %v", err)
		}
		pages := srv.requests.Load() - before
		if want := int64(tc.maxTxs/esploraChainPage + 1); pages != want {
			t.Errorf("History sent %d requests before stopping, want %d", pages, want)
		}
		t.Logf("max_txs %d: stopped after %d pages in %s", tc.maxTxs, pages, took)
	}
}

// TestEsploraHostileRepeatedPage: a server that answers /txs/chain/:last
// with a page it sent before is caught at the first repeat, whether it
// repeats the same page or alternates between two.
func TestEsploraHostileRepeatedPage(t *testing.T) {
	first := confirmedPage("first", 0, esploraChainPage)
	second := confirmedPage("second", 0, esploraChainPage)
	for _, tc := range []struct {
		name  string
		chain func(last string) []map[string]any
		pages int64 // requests until the repeat is seen
	}{
		{"same page", func(string) []map[string]any { return first }, 2},
		{"alternating", func(last string) []map[string]any {
			if last == first[len(first)-1]["txid"] {
				return second
			}
			return first
		}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newHostileEsplora(t, map[string]http.HandlerFunc{
				"GET /api/scripthash/{hash}/txs": func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, first) },
				"GET /api/scripthash/{hash}/txs/chain/{last}": func(w http.ResponseWriter, r *http.Request) {
					writeJSON(w, http.StatusOK, tc.chain(r.PathValue("last")))
				},
			})
			b, _ := Open(srv.url(""))
			_, err := b.History(testCtx(t), [][]byte{p2wshScript(witnessScript(1))})
			if !errors.Is(err, ErrLying) || !strings.Contains(err.Error(), "same page") || !strings.Contains(err.Error(), srv.Listener.Addr().String()) {
				t.Fatalf("History from a repeating server = %v, want ErrLying naming the server", err)
			}
			if got := srv.requests.Load(); got != tc.pages {
				t.Errorf("caught after %d requests, want %d", got, tc.pages)
			}
		})
	}
}

// TestEsploraHostileOversized: an answer larger than its request can
// legitimately be is ErrTooLarge, whether the server declares its length,
// sends a finite oversized body, or streams without end; the client reads
// no more than its limit.
func TestEsploraHostileOversized(t *testing.T) {
	var streamed atomic.Int64
	chunk := strings.Repeat("0", 64<<10)
	srv := newHostileEsplora(t, map[string]http.HandlerFunc{
		// A hash answer of 2 MiB, chunked (no length declared).
		"GET /api/blocks/tip/hash": func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i < 32; i++ {
				_, _ = io.WriteString(w, chunk)
				w.(http.Flusher).Flush()
			}
		},
		// A declared length far past any transaction.
		"GET /api/tx/{txid}/hex": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(1<<30))
			_, _ = io.WriteString(w, chunk)
		},
		// A fee table that never ends.
		"GET /api/fee-estimates": func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, `{"1":`)
			for r.Context().Err() == nil {
				n, err := io.WriteString(w, chunk)
				streamed.Add(int64(n))
				if err != nil {
					return
				}
			}
		},
		// A UTXO list over 64 MiB is not read whole either.
		"GET /api/scripthash/{hash}/utxo": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(maxListAnswer+1))
		},
	})
	b, _ := Open(srv.url("?timeout=20s"))
	ctx := testCtx(t)
	checks := []struct {
		name string
		call func() error
	}{
		{"tip hash", func() error { _, _, err := b.Tip(ctx); return err }},
		{"tx hex", func() error { _, err := b.Tx(ctx, hashOf("x")); return err }},
		{"fee estimates", func() error { _, err := b.FeeRate(ctx, 2); return err }},
		{"utxo list", func() error { _, err := b.ListUnspent(ctx, [][]byte{{0x51}}); return err }},
	}
	for _, c := range checks {
		start := time.Now()
		err := c.call()
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "more than") {
			t.Errorf("%s: oversized answer = %v, want ErrTooLarge", c.name, err)
		}
		if time.Since(start) > 10*time.Second {
			t.Errorf("%s: took %s to refuse", c.name, time.Since(start))
		}
	}
	// The endless body was cut off near the limit: the server managed to
	// write little more than what the client read plus socket buffers.
	if n := streamed.Load(); n > 32<<20 {
		t.Errorf("the endless fee table streamed %d bytes before the client hung up", n)
	}
}

// TestEsploraHostileUTXOCount: more unspent outputs for one script than
// max_txs is refused, not stored in memory without end.
func TestEsploraHostileUTXOCount(t *testing.T) {
	srv := newHostileEsplora(t, map[string]http.HandlerFunc{
		"GET /api/scripthash/{hash}/utxo": func(w http.ResponseWriter, r *http.Request) {
			list := []map[string]any{}
			for i := 0; i < 11; i++ {
				list = append(list, map[string]any{"txid": hashOf(strconv.Itoa(i)).String(), "vout": 0, "value": 1000,
					"status": map[string]any{"confirmed": false}})
			}
			writeJSON(w, http.StatusOK, list)
		},
	})
	b, _ := Open(srv.url("?max_txs=10"))
	if _, err := b.ListUnspent(testCtx(t), [][]byte{{0x51}}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("11 outputs with max_txs=10 = %v, want ErrTooLarge", err)
	}
	b, _ = Open(srv.url("?max_txs=11"))
	if got, err := b.ListUnspent(testCtx(t), [][]byte{{0x51}}); err != nil || len(got) != 11 {
		t.Fatalf("11 outputs with max_txs=11 = %d, %v", len(got), err)
	}
}

// TestEsploraHostileSwappedTx: a server answering /tx/:txid/hex with
// another transaction is ErrLying naming both.
func TestEsploraHostileSwappedTx(t *testing.T) {
	other := fundTx("other", wire.NewTxOut(100_000_000, []byte{0x51}))
	srv := newHostileEsplora(t, map[string]http.HandlerFunc{
		"GET /api/tx/{txid}/hex": func(w http.ResponseWriter, r *http.Request) {
			txHex, _ := encodeTxHex(other)
			text(w, http.StatusOK, txHex)
		},
	})
	b, _ := Open(srv.url(""))
	want := hashOf("asked")
	_, err := b.Tx(testCtx(t), want)
	if !errors.Is(err, ErrLying) || !strings.Contains(err.Error(), want.String()) || !strings.Contains(err.Error(), other.TxHash().String()) {
		t.Fatalf("Tx answered with another transaction = %v, want ErrLying naming both", err)
	}
}

// TestRedirectToCleartextRefused: a server may redirect, but not to plain
// HTTP on another computer, where the request path (a script hash) would
// travel in clear; a redirect on loopback is followed.
func TestRedirectToCleartextRefused(t *testing.T) {
	target := newHostileEsplora(t, map[string]http.HandlerFunc{
		"GET /api/blocks/tip/hash": func(w http.ResponseWriter, r *http.Request) {
			text(w, http.StatusOK, hashOf("tip").String())
		},
	})
	srv := newHostileEsplora(t, map[string]http.HandlerFunc{
		"GET /api/scripthash/{hash}/utxo": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://192.0.2.1"+r.URL.Path, http.StatusFound)
		},
		"GET /api/blocks/tip/hash": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+r.URL.Path, http.StatusFound)
		},
		"GET /api/block/{hash}": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"height": 7})
		},
	})
	b, _ := Open(srv.url(""))
	_, err := b.ListUnspent(testCtx(t), [][]byte{{0x51}})
	if !errors.Is(err, ErrInsecure) || !strings.Contains(err.Error(), "192.0.2.1") {
		t.Errorf("redirect to plain HTTP elsewhere = %v, want ErrInsecure naming the host", err)
	}
	if h, _, err := b.Tip(testCtx(t)); err != nil || h != 7 {
		t.Errorf("Tip through a loopback redirect = %d, %v", h, err)
	}
}

// rpcHostile serves JSON-RPC batches from answer(method, params), counting
// requests; answer returns the result, or an *rpcError.
type rpcHostile struct {
	*httptest.Server
	requests atomic.Int64
}

func newRPCHostile(t *testing.T, answer func(method string, params json.RawMessage) any) *rpcHostile {
	h := &rpcHostile{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		var reqs []struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &reqs); err != nil {
			t.Errorf("request is not a batch: %.200s", body)
		}
		out := []map[string]any{}
		for _, req := range reqs {
			res := answer(req.Method, req.Params)
			if rerr, ok := res.(*rpcError); ok {
				out = append(out, map[string]any{"id": req.ID, "result": nil, "error": rerr})
				continue
			}
			out = append(out, map[string]any{"id": req.ID, "result": res, "error": nil})
		}
		writeJSON(w, http.StatusOK, out)
	}))
	t.Cleanup(h.Close)
	return h
}

var regtestInfo = map[string]any{"chain": "regtest", "blocks": 200,
	"bestblockhash": hashOf("tip").String()}

// searchPage is a page of made-up confirmed transactions paying script,
// as btcd's searchrawtransactions verbose answer lists them.
func searchPage(tag string, from, n int, script []byte) []map[string]any {
	page := make([]map[string]any, n)
	for i := range page {
		tx := fundTx(fmt.Sprintf("%s-%d", tag, from+i), wire.NewTxOut(1000, script))
		txHex, _ := encodeTxHex(tx)
		page[i] = map[string]any{"hex": txHex, "txid": tx.TxHash().String(), "confirmations": 10}
	}
	return page
}

// TestBtcdHostilePaging: btcd's searchrawtransactions paging ends past
// max_txs (ErrTooLarge) and at a repeated page (ErrLying).
func TestBtcdHostilePaging(t *testing.T) {
	script := p2wshScript(witnessScript(3))
	for _, tc := range []struct {
		name   string
		repeat bool
		want   error
		says   string
	}{
		{"endless", false, ErrTooLarge, "max_txs"},
		{"repeated", true, ErrLying, "same page"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			served := 0
			srv := newRPCHostile(t, func(method string, params json.RawMessage) any {
				switch method {
				case "getblockchaininfo":
					return regtestInfo
				case "searchrawtransactions":
					var p []any
					_ = json.Unmarshal(params, &p)
					count := int(p[3].(float64))
					mu.Lock()
					defer mu.Unlock()
					if !tc.repeat {
						served++
					}
					return searchPage("btcd", served*count, count, script)
				}
				return &rpcError{Code: codeMethodNotFound, Message: "Method not found"}
			})
			b, err := Open("btcd://u:p@" + srv.Listener.Addr().String() + "?max_txs=2000")
			if err != nil {
				t.Fatal(err)
			}
			b.(*btcdBackend).pageSize = 100
			_, err = b.History(testCtx(t), [][]byte{script})
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("History = %v, want %v saying %q", err, tc.want, tc.says)
			}
			if n := srv.requests.Load(); n > 2000/100+2 {
				t.Errorf("stopped after %d requests", n)
			}
		})
	}
}

// TestCoreHostilePaging: Core's listtransactions paging ends past max_txs
// per script asked about (ErrTooLarge) and at a page identical to the one
// before (ErrLying).
func TestCoreHostilePaging(t *testing.T) {
	script := p2wshScript(witnessScript(4))
	for _, tc := range []struct {
		name   string
		repeat bool
		want   error
		says   string
	}{
		{"endless", false, ErrTooLarge, "max_txs"},
		{"repeated", true, ErrLying, "same page"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			served := 0
			srv := newRPCHostile(t, func(method string, params json.RawMessage) any {
				switch method {
				case "getwalletinfo":
					return map[string]any{"private_keys_enabled": false, "descriptors": true}
				case "listdescriptors":
					return map[string]any{"descriptors": []any{}}
				case "getdescriptorinfo":
					return map[string]any{"checksum": "00000000"}
				case "importdescriptors":
					return []any{map[string]any{"success": true}}
				case "listtransactions":
					mu.Lock()
					defer mu.Unlock()
					if !tc.repeat {
						served++
					}
					page := make([]map[string]any, listPage)
					for i := range page {
						page[i] = map[string]any{"txid": hashOf(fmt.Sprint(served, i)).String(), "vout": 0,
							"category": "receive", "confirmations": 3}
					}
					return page
				}
				return &rpcError{Code: codeMethodNotFound, Message: "Method not found"}
			})
			b, err := Open("core://u:p@" + srv.Listener.Addr().String() + "?max_txs=5000")
			if err != nil {
				t.Fatal(err)
			}
			_, err = b.History(testCtx(t), [][]byte{script})
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("History = %v, want %v saying %q", err, tc.want, tc.says)
			}
			if n := srv.requests.Load(); n > 5000/listPage+5 {
				t.Errorf("stopped after %d requests", n)
			}
		})
	}
}

// TestRPCHostileOversized: a batch whose answer is over its limit is sent
// again in halves (a legitimately large batch still completes); a single
// call over its own limit is ErrTooLarge; a server answering everything
// oversized costs at most maxSplitRequests extra requests.
func TestRPCHostileOversized(t *testing.T) {
	pad := strings.Repeat("x", maxSmallAnswer/2)
	var requests atomic.Int64
	mode := atomic.Int32{} // 0: batches oversized, singles fine; 1: all oversized (declared)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		var reqs []rpcRequest
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &reqs)
		if mode.Load() == 1 {
			w.Header().Set("Content-Length", strconv.Itoa(1<<30))
			return
		}
		var out []map[string]any
		for _, req := range reqs {
			// Each answer is half a small call's budget, but the batch
			// pads it past the batch's limit while it has 2 or more calls.
			result := pad
			if len(reqs) > 1 {
				result = pad + pad + pad
			}
			out = append(out, map[string]any{"id": req.ID, "result": result, "error": nil})
		}
		writeJSON(w, http.StatusOK, out)
	}))
	t.Cleanup(srv.Close)
	c := testRPCClient(srv.URL)
	ctx := testCtx(t)

	results := make([]string, 4)
	calls := make([]*rpcCall, 4)
	for i := range calls {
		calls[i] = newCall("echo", &results[i])
	}
	if err := c.batch(ctx, calls); err != nil {
		t.Fatalf("a batch answerable call by call failed: %v", err)
	}
	for i, r := range results {
		if len(r) != len(pad) {
			t.Errorf("call %d answered %d bytes", i, len(r))
		}
	}
	if n := requests.Load(); n != 1+2+4 {
		t.Errorf("4 calls split down to single ones took %d requests, want 7", n)
	}

	mode.Store(1)
	requests.Store(0)
	var one string
	if err := c.call(ctx, "echo", &one); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "echo") {
		t.Errorf("an oversized single answer = %v, want ErrTooLarge naming the method", err)
	}
	big := make([]*rpcCall, 300)
	for i := range big {
		big[i] = newCall("echo", nil)
	}
	requests.Store(0)
	if err := c.batch(ctx, big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("an always-oversized server = %v, want ErrTooLarge", err)
	}
	if n := requests.Load(); n > 1+maxSplitRequests {
		t.Errorf("an always-oversized server cost %d requests, want at most %d", n, 1+maxSplitRequests)
	}
}

// TestRPCHostileTooManyReplies: more replies than calls is ErrLying.
func TestRPCHostileTooManyReplies(t *testing.T) {
	// Every reply comes twice.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reqs []rpcRequest
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &reqs)
		var out []map[string]any
		for _, req := range append(reqs, reqs...) {
			out = append(out, map[string]any{"id": req.ID, "result": 1, "error": nil})
		}
		writeJSON(w, http.StatusOK, out)
	}))
	t.Cleanup(srv.Close)
	c := testRPCClient(srv.URL)
	var n int
	if err := c.call(testCtx(t), "getblockcount", &n); !errors.Is(err, ErrLying) {
		t.Errorf("2 replies to 1 call = %v, want ErrLying", err)
	}
}

// TestProveUTXO: a listed output is stored only with the value and script
// of the transaction that created it.
func TestProveUTXO(t *testing.T) {
	script := p2wshScript(witnessScript(5))
	tx := fundTx("prove", wire.NewTxOut(100_000_000, script), wire.NewTxOut(5000, []byte{0x51}))
	txid := tx.TxHash()
	b := &esploraBackend{host: "evil.example"}
	honest := UTXO{OutPoint: wire.OutPoint{Hash: txid, Index: 0}, Value: 100_000_000, PkScript: script, Height: 3}
	got, err := ProveUTXO(b, honest, tx)
	if err != nil || got.Value != 100_000_000 || string(got.PkScript) != string(script) || got.Height != 3 {
		t.Fatalf("ProveUTXO(honest) = %+v, %v", got, err)
	}
	noScript := honest
	noScript.PkScript = nil
	if got, err := ProveUTXO(b, noScript, tx); err != nil || string(got.PkScript) != string(script) {
		t.Errorf("ProveUTXO without a claimed script = %x, %v; want the transaction's script", got.PkScript, err)
	}
	for _, tc := range []struct {
		name string
		edit func(u *UTXO)
		tx   *wire.MsgTx
		says string
	}{
		{"value", func(u *UTXO) { u.Value = 10_000_000_000 }, tx, "100 BTC"},
		{"script", func(u *UTXO) { u.PkScript = []byte{0x51} }, tx, "script 51"},
		{"index", func(u *UTXO) { u.OutPoint.Index = 2 }, tx, "only 2 outputs"},
		{"other tx", func(u *UTXO) {}, fundTx("other", wire.NewTxOut(1, script)), "proven with transaction"},
	} {
		u := honest
		tc.edit(&u)
		_, err := ProveUTXO(b, u, tc.tx)
		if !errors.Is(err, ErrLying) || !strings.Contains(err.Error(), "Esplora at evil.example") ||
			!strings.Contains(err.Error(), txid.String()) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: ProveUTXO = %v, want ErrLying naming the server, %s and %q", tc.name, err, txid, tc.says)
		}
	}
	if _, err := ProveUTXO(b, honest, nil); err == nil {
		t.Error("ProveUTXO without a transaction succeeded")
	}
	if Name(WithRetry(b)) != "Esplora at evil.example" {
		t.Errorf("Name through WithRetry = %q", Name(WithRetry(b)))
	}
}

// TestEsploraHostileBlockTimes: block times no block header can carry
// (negative, or past a uint32) are dropped, not passed on to be stored,
// and a time given for an unconfirmed transaction is dropped too; a real
// one is kept.
func TestEsploraHostileBlockTimes(t *testing.T) {
	times := []any{int64(-1), int64(1) << 40, int64(1_700_000_000), int64(1_700_000_600)}
	srv := newHostileEsplora(t, map[string]http.HandlerFunc{
		"GET /api/scripthash/{hash}/txs": func(w http.ResponseWriter, r *http.Request) {
			page := confirmedPage("times", 0, len(times))
			for i, bt := range times {
				page[i]["status"].(map[string]any)["block_time"] = bt
			}
			page[3]["status"] = map[string]any{"confirmed": false, "block_time": times[3]}
			writeJSON(w, http.StatusOK, page)
		},
	})
	b, _ := Open(srv.url(""))
	refs, err := b.History(testCtx(t), [][]byte{p2wshScript(witnessScript(1))})
	if err != nil || len(refs) != len(times) {
		t.Fatalf("History = %v, %v", refs, err)
	}
	got := map[chainhash.Hash]int64{}
	for _, r := range refs {
		got[r.TxID] = r.Time
	}
	for i, want := range []int64{0, 0, 1_700_000_000, 0} {
		if id := hashOf(fmt.Sprintf("times-%d", i)); got[id] != want {
			t.Errorf("transaction %d (block_time %v): time %d, want %d", i, times[i], got[id], want)
		}
	}
}
