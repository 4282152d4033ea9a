package chain

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// The reply targets run a backend against a server that answers each HTTP
// request with the next record of the fuzzed stream, so everything the
// backends decode from a node or an Esplora server (JSON-RPC envelopes and
// results, REST JSON, hex and binary transactions and blocks, status
// pages) meets arbitrary bytes, through the same code paths as a real
// session. Each record is a 2-byte big-endian HTTP status, a 4-byte
// big-endian body length and the body. Seeds: testdata/fuzz/<target>, the
// replies of a session with the replay servers of core_replay_test.go and
// esplora_replay_test.go (for btcd: a real regtest node), recorded by
// TestFuzzCorpus.

// replyScripts are the scripts a session asks about: the two of
// replayScenario (and of the btcd recording).
func replyScripts() [][]byte {
	return [][]byte{p2wshScript(witnessScript(1)), p2shScript(p2wshScript(witnessScript(2)))}
}

// replyBroadcast is the transaction a session broadcasts: it spends an
// output that exists nowhere, so a real backend refuses it.
func replyBroadcast() *wire.MsgTx {
	return spendTx(wire.OutPoint{Hash: hashOf("nowhere")}, 10_000, witnessScript(1), p2wshScript(witnessScript(3)), 1_000)
}

// replayTransport answers requests from a stream of records; when the
// stream runs out the server is gone.
type replayTransport struct {
	mu   sync.Mutex
	rest []byte
}

func (r *replayTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.rest) < 6 {
		return nil, errors.New("connection refused")
	}
	status := int(binary.BigEndian.Uint16(r.rest))
	if status < 100 || status > 999 {
		status = http.StatusOK
	}
	n := min(uint64(binary.BigEndian.Uint32(r.rest[2:])), uint64(len(r.rest)-6))
	body := r.rest[6 : 6+n]
	r.rest = r.rest[6+n:]
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{},
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req,
	}, nil
}

// recordTransport passes requests on and keeps each reply as a record.
type recordTransport struct {
	base    http.RoundTripper
	mu      sync.Mutex
	records []byte
}

func (r *recordTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.records = appendRecord(r.records, resp.StatusCode, body)
	r.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func appendRecord(stream []byte, status int, body []byte) []byte {
	stream = binary.BigEndian.AppendUint16(stream, uint16(status))
	stream = binary.BigEndian.AppendUint32(stream, uint32(len(body)))
	return append(stream, body...)
}

// withTransport opens url and routes the backend's HTTP through rt. Esplora
// sends one request at a time, so a replay meets the requests in the
// recorded order.
func withTransport(tb testing.TB, url string, rt http.RoundTripper) Backend {
	tb.Helper()
	b, err := Open(url)
	if err != nil {
		tb.Fatal(err)
	}
	switch b := b.(type) {
	case *coreBackend:
		b.rpc.http.Transport = rt // shared with the wallet client
	case *btcdBackend:
		b.rpc.http.Transport = rt
	case *esploraBackend:
		b.http.Transport = rt
		b.parallel = 1
	default:
		tb.Fatalf("backend %T", b)
	}
	return b
}

// runReplies is the session every reply target runs: each Backend method
// and the optional interfaces, asking about replyScripts and txid. It
// fails t when a backend passes on something a server must not be able to
// make it report.
func runReplies(t *testing.T, b Backend, txid chainhash.Hash) {
	ctx := context.Background()
	scripts := replyScripts()
	set := newScriptSet(scripts)
	if p, err := b.Network(ctx); err == nil && p == nil {
		t.Fatal("Network: nil params without an error")
	}
	if h, _, err := b.Tip(ctx); err == nil && h < 0 {
		t.Fatalf("Tip: height %d", h)
	}
	if us, err := b.ListUnspent(ctx, scripts); err == nil {
		for _, u := range us {
			if !set.has(u.PkScript) {
				t.Fatalf("ListUnspent: output %v pays %x, a script not asked about", u.OutPoint, u.PkScript)
			}
			if u.Value < 0 || u.Value > maxSats {
				t.Fatalf("ListUnspent: output %v of %d sat", u.OutPoint, u.Value)
			}
			if u.Height < 0 {
				t.Fatalf("ListUnspent: output %v at height %d", u.OutPoint, u.Height)
			}
		}
	}
	if refs, err := b.History(ctx, scripts); err == nil {
		seen := map[chainhash.Hash]bool{}
		for _, r := range refs {
			if seen[r.TxID] || r.Height < 0 {
				t.Fatalf("History: %s at height %d (repeated: %v)", r.TxID, r.Height, seen[r.TxID])
			}
			seen[r.TxID] = true
		}
	}
	if tx, err := b.Tx(ctx, txid); err == nil && tx.TxHash() != txid {
		t.Fatalf("Tx(%s) returned %s", txid, tx.TxHash())
	}
	if tb, ok := b.(TxBatcher); ok {
		want := []chainhash.Hash{txid, hashOf("other")}
		if txs, err := tb.Txs(ctx, want); err == nil {
			if len(txs) != len(want) {
				t.Fatalf("Txs: %d transactions for %d ids", len(txs), len(want))
			}
			for i, tx := range txs {
				if tx.TxHash() != want[i] {
					t.Fatalf("Txs: %s where %s was asked for", tx.TxHash(), want[i])
				}
			}
		}
	}
	if rate, err := b.FeeRate(ctx, 6); err == nil && !(rate > 0 && !math.IsInf(rate, 0)) {
		t.Fatalf("FeeRate: %v sat/vB", rate)
	}
	if fe, ok := b.(FeeEstimator); ok {
		if est, err := fe.EstimateFee(ctx, 1008); err == nil && !(est.SatPerVByte > 0 && !math.IsInf(est.SatPerVByte, 0)) {
			t.Fatalf("EstimateFee: %+v", est)
		}
	}
	if bs, ok := b.(BlockSource); ok {
		if hash, err := bs.BlockHash(ctx, 1); err == nil {
			if blocks, err := bs.Blocks(ctx, []chainhash.Hash{hash}); err == nil {
				if len(blocks) != 1 || blocks[0].BlockHash() != hash {
					t.Fatalf("Blocks(%s): %d blocks, not the one asked for", hash, len(blocks))
				}
			}
		}
		_, _ = bs.Mempool(ctx)
	}
	tx := replyBroadcast()
	if got, err := b.Broadcast(ctx, tx); err == nil && got != tx.TxHash() {
		t.Fatalf("Broadcast: txid %s for %s", got, tx.TxHash())
	}
}

// replyTxid reads the txid a session asks for from the fuzz input.
func replyTxid(b []byte) chainhash.Hash {
	var h chainhash.Hash
	copy(h[:], b)
	return h
}

// fuzzReplies is the body of the reply targets for the backend at url.
func fuzzReplies(f *testing.F, url string) {
	h := hashOf("tx")
	f.Add(h[:], appendRecord(nil, http.StatusOK, []byte(`[{"id":1,"result":null,"error":null}]`)))
	f.Fuzz(func(t *testing.T, txid, stream []byte) {
		b := withTransport(t, url, &replayTransport{rest: stream})
		runReplies(t, b, replyTxid(txid))
	})
}

// Backend URLs of the reply targets; the host is never dialled.
const (
	replyCoreURL    = "core://alice:secret@127.0.0.1:18443"
	replyBtcdURL    = "btcd://alice:secret@127.0.0.1:18334"
	replyEsploraURL = "esplora+http://127.0.0.1:3000/api"
)

// FuzzCoreReplies: Bitcoin Core's JSON-RPC answers (node and wallet calls).
func FuzzCoreReplies(f *testing.F) { fuzzReplies(f, replyCoreURL) }

// FuzzBtcdReplies: btcd's JSON-RPC answers (address index, gettxout).
func FuzzBtcdReplies(f *testing.F) { fuzzReplies(f, replyBtcdURL) }

// FuzzEsploraReplies: Esplora's REST answers.
func FuzzEsploraReplies(f *testing.F) { fuzzReplies(f, replyEsploraURL) }

// FuzzParseBTC reads JSON amounts: no panic, nothing outside 0..21e6 BTC,
// and any amount written with eight decimals reads back exactly.
func FuzzParseBTC(f *testing.F) {
	f.Add("0.00100000")
	f.Fuzz(func(t *testing.T, num string) {
		sats, err := parseBTC(num)
		if err != nil {
			return
		}
		if sats < 0 || sats > maxSats {
			t.Fatalf("parseBTC(%q) = %d", num, sats)
		}
		if back, err := parseBTC(btcAmount(sats)); err != nil || back != sats {
			t.Fatalf("%d sat prints as %s, which reads as %d, %v", sats, btcAmount(sats), back, err)
		}
	})
}
