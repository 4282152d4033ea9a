package chain

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// The fuzz targets below put arbitrary answers behind every backend call,
// with no network: a RoundTripper hands the fuzzer's bytes back as the
// server's answer. Whatever the bytes, a call must end without a panic,
// and whatever it returns must hold what the Backend contract promises
// (the transaction or block asked for, bounded lists). Named *Hostile* to
// keep clear of the decoder fuzz targets of other packages.

// cannedTransport answers every request with the same body, or for
// JSON-RPC with that body as the result of every call in the batch.
type cannedTransport struct {
	status  int
	body    []byte
	asRPC   bool // wrap body as each call's result
	answers atomic.Int64
}

func (c *cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.answers.Add(1)
	body := c.body
	if r.Body != nil {
		req, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if c.asRPC {
			var calls []struct {
				ID json.RawMessage `json:"id"`
			}
			if json.Unmarshal(req, &calls) == nil && json.Valid(c.body) {
				var out bytes.Buffer
				out.WriteByte('[')
				for i, call := range calls {
					if i > 0 {
						out.WriteByte(',')
					}
					out.WriteString(`{"id":` + string(call.ID) + `,"error":null,"result":`)
					out.Write(c.body)
					out.WriteByte('}')
				}
				out.WriteByte(']')
				body = out.Bytes()
			}
		}
	}
	return &http.Response{StatusCode: c.status, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)),
		ContentLength: -1, Request: r}, nil
}

func fuzzStatus(b byte) int {
	return []int{200, 200, 200, 404, 400, 500, 401, 429}[b%8]
}

// FuzzEsploraHostileAnswer sends every Esplora call one arbitrary answer.
func FuzzEsploraHostileAnswer(f *testing.F) {
	tx := fundTx("fuzz", wire.NewTxOut(1000, []byte{0x51}))
	txHex, _ := encodeTxHex(tx)
	for op := byte(0); op < 10; op++ {
		f.Add(op, byte(0), []byte(`[{"txid":"`+tx.TxHash().String()+`","vout":0,"value":1000,"status":{"confirmed":true,"block_height":5}}]`))
	}
	f.Add(byte(4), byte(0), []byte(txHex))
	f.Add(byte(1), byte(0), []byte(chaincfg.RegressionNetParams.GenesisHash.String()))
	f.Add(byte(7), byte(0), []byte(`{"1":20.5,"6":10,"x":3,"144":-1}`))
	f.Add(byte(9), byte(4), []byte(`sendrawtransaction RPC error: {"code":-26,"message":"min relay fee not met"}`))
	f.Fuzz(func(t *testing.T, op, status byte, body []byte) {
		canned := &cannedTransport{status: fuzzStatus(status), body: body}
		b := &esploraBackend{base: "http://fuzz.invalid/api", host: "fuzz.invalid", http: &http.Client{Transport: canned},
			timeout: 5 * time.Second, parallel: 2, maxTxs: 60, net: &chaincfg.RegressionNetParams}
		runHostileOp(t, b, op, tx)
		// Paging stops: at most max_txs/25 pages per script, two scripts.
		if n := canned.answers.Load(); n > 2*(60/esploraChainPage+2) {
			t.Fatalf("op %d took %d answers", op, n)
		}
	})
}

// FuzzRPCHostileAnswer sends every btcd and Bitcoin Core JSON-RPC call one
// arbitrary answer: as the result of each call (asRPC 1) or as the whole
// HTTP body (0).
func FuzzRPCHostileAnswer(f *testing.F) {
	tx := fundTx("fuzz", wire.NewTxOut(1000, []byte{0x51}))
	txHex, _ := encodeTxHex(tx)
	seeds := []string{
		`{"chain":"regtest","blocks":5,"bestblockhash":"` + hashOf("tip").String() + `"}`,
		`[{"hex":"` + txHex + `","txid":"` + tx.TxHash().String() + `","confirmations":2}]`,
		`"` + txHex + `"`,
		`[{"txid":"` + tx.TxHash().String() + `","vout":0,"scriptPubKey":"51","amount":0.00001,"confirmations":1}]`,
		`{"confirmations":1,"scriptPubKey":{"hex":"51"}}`,
		`null`,
	}
	for op := byte(0); op < 14; op++ {
		for _, s := range seeds {
			f.Add(op, byte(1), []byte(s))
		}
	}
	f.Add(byte(0), byte(0), []byte(`{"id":null,"error":{"code":-32700,"message":"Parse error"}}`))
	f.Add(byte(0), byte(0), []byte(`[{"id":1,"result":1},{"id":1,"result":2}]`))
	f.Fuzz(func(t *testing.T, op, asRPC byte, body []byte) {
		canned := &cannedTransport{status: 200, body: body, asRPC: asRPC&1 == 1}
		rpc := &rpcClient{kind: kindBtcd, url: "http://fuzz.invalid/", host: "fuzz.invalid",
			creds: func() (string, string, error) { return "u", "p", nil },
			http:  &http.Client{Transport: canned}, timeout: 5 * time.Second, trips: new(atomic.Int64)}
		var b Backend
		if op < 9 {
			btcd := &btcdBackend{nodeBase: nodeBase{rpc: rpc, maxTxs: 60}, pageSize: 20}
			btcd.net = &chaincfg.RegressionNetParams
			b = btcd
		} else {
			rpc.kind = kindCore
			b = &coreBackend{nodeBase: nodeBase{rpc: rpc, maxTxs: 60}, wrpc: rpc.withPath("/wallet/w"), wallet: "w"}
			op -= 9
		}
		runHostileOp(t, b, op, tx)
		if n := canned.answers.Load(); n > 200 {
			t.Fatalf("op %d took %d answers", op, n)
		}
	})
}

// runHostileOp runs one Backend call chosen by op and checks what it
// returned against the contract.
func runHostileOp(t *testing.T, b Backend, op byte, tx *wire.MsgTx) {
	ctx := testCtx(t)
	scripts := [][]byte{{0x51}, p2wshScript(witnessScript(1))}
	want := tx.TxHash()
	switch op % 10 {
	case 0:
		_, _ = b.Network(ctx)
	case 1:
		_, _, _ = b.Tip(ctx)
	case 2:
		utxos, err := b.ListUnspent(ctx, scripts)
		if err == nil {
			for _, u := range utxos {
				if u.Value < 0 || u.Value > maxSats {
					t.Fatalf("ListUnspent returned value %d", u.Value)
				}
			}
		}
	case 3:
		refs, err := b.History(ctx, scripts)
		if err == nil && len(refs) > 2*60 {
			t.Fatalf("History returned %d transactions past max_txs", len(refs))
		}
	case 4:
		got, err := b.Tx(ctx, want)
		if err == nil && got.TxHash() != want {
			t.Fatalf("Tx returned %s for %s", got.TxHash(), want)
		}
	case 5:
		hash := chainhash.Hash(*chaincfg.RegressionNetParams.GenesisHash)
		blocks, err := b.(BlockSource).Blocks(ctx, []chainhash.Hash{hash})
		if err == nil && (len(blocks) != 1 || blocks[0].BlockHash() != hash) {
			t.Fatalf("Blocks returned another block")
		}
	case 6:
		_, _ = b.(BlockSource).Mempool(ctx)
	case 7:
		est, err := b.(FeeEstimator).EstimateFee(ctx, 6)
		if err == nil && !(est.SatPerVByte > 0) {
			t.Fatalf("EstimateFee returned %v", est.SatPerVByte)
		}
	case 8:
		_, _ = b.(BlockSource).BlockHash(ctx, 3)
	case 9:
		got, err := b.Broadcast(ctx, tx)
		if err == nil && got != want {
			t.Fatalf("Broadcast returned txid %s for %s", got, want)
		}
		if err != nil && errors.Is(err, ErrLying) {
			return
		}
	}
}
