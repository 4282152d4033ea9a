package chain

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// replayEsploraServer answers the Esplora REST API, as documented in
// Blockstream/esplora's API.md, from a fakeChain, under /api. Lists follow
// the documented limits: /scripthash/:hash/txs gives up to 50 mempool
// transactions then 25 confirmed ones, newest first; /txs/chain/:last_seen
// gives the next 25 confirmed. /block/:hash/raw is the binary block,
// /block-height/:height a hash in plain text (404 above the tip), and
// /mempool/txids a JSON array of every mempool txid.
type replayEsploraServer struct {
	*httptest.Server
	chain *fakeChain

	mu       sync.Mutex
	fees     map[string]float64
	failWith int // when non-zero, every request answers this status
	requests []string
	// tamper, when set, rewrites each raw block before it is sent.
	tamper func([]byte) []byte
}

func newReplayEsploraServer(t *testing.T, chain *fakeChain) *replayEsploraServer {
	s := &replayEsploraServer{chain: chain, fees: map[string]float64{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/blocks/tip/hash", func(w http.ResponseWriter, r *http.Request) {
		_, hash := chain.tip()
		text(w, http.StatusOK, hash.String())
	})
	mux.HandleFunc("GET /api/blocks/tip/height", func(w http.ResponseWriter, r *http.Request) {
		h, _ := chain.tip()
		text(w, http.StatusOK, strconv.Itoa(int(h)))
	})
	mux.HandleFunc("GET /api/block-height/{height}", func(w http.ResponseWriter, r *http.Request) {
		h, err := strconv.Atoi(r.PathValue("height"))
		b, ok := chain.blockAt(int32(h))
		if err != nil || !ok {
			text(w, http.StatusNotFound, "Block not found")
			return
		}
		text(w, http.StatusOK, b.hash.String())
	})
	mux.HandleFunc("GET /api/block/{hash}", s.block)
	mux.HandleFunc("GET /api/block/{hash}/header", func(w http.ResponseWriter, r *http.Request) {
		hash, err := chainhash.NewHashFromStr(r.PathValue("hash"))
		if err != nil {
			text(w, http.StatusBadRequest, "Invalid hex string")
			return
		}
		b, _, ok := chain.blockByHash(*hash)
		if !ok {
			text(w, http.StatusNotFound, "Block not found")
			return
		}
		var buf bytes.Buffer
		_ = b.header.Serialize(&buf)
		text(w, http.StatusOK, hex.EncodeToString(buf.Bytes()))
	})
	mux.HandleFunc("GET /api/block/{hash}/raw", func(w http.ResponseWriter, r *http.Request) {
		hash, err := chainhash.NewHashFromStr(r.PathValue("hash"))
		if err != nil {
			text(w, http.StatusBadRequest, "Invalid hex string")
			return
		}
		b, _, ok := chain.blockByHash(*hash)
		if !ok {
			text(w, http.StatusNotFound, "Block not found")
			return
		}
		raw := b.raw()
		s.mu.Lock()
		if s.tamper != nil {
			raw = s.tamper(raw)
		}
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(raw)
	})
	mux.HandleFunc("GET /api/mempool/txids", func(w http.ResponseWriter, r *http.Request) {
		list := []string{}
		for _, txid := range chain.mempoolTxids() {
			list = append(list, txid.String())
		}
		writeJSON(w, http.StatusOK, list)
	})
	mux.HandleFunc("GET /api/scripthash/{hash}/utxo", s.utxo)
	mux.HandleFunc("GET /api/scripthash/{hash}/txs", s.txs)
	mux.HandleFunc("GET /api/scripthash/{hash}/txs/chain/{last}", s.txs)
	mux.HandleFunc("GET /api/tx/{txid}/hex", func(w http.ResponseWriter, r *http.Request) {
		id, err := chainhash.NewHashFromStr(r.PathValue("txid"))
		if err != nil {
			text(w, http.StatusBadRequest, "Invalid hex string")
			return
		}
		tx, _, ok := chain.find(*id)
		if !ok {
			text(w, http.StatusNotFound, "Transaction not found")
			return
		}
		txHex, _ := encodeTxHex(tx)
		text(w, http.StatusOK, txHex)
	})
	mux.HandleFunc("GET /api/fee-estimates", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		writeJSON(w, http.StatusOK, s.fees)
	})
	mux.HandleFunc("POST /api/tx", s.postTx)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+r.URL.Path)
		fail := s.failWith
		s.mu.Unlock()
		if fail != 0 {
			text(w, fail, http.StatusText(fail))
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *replayEsploraServer) url() string {
	return "esplora+http://" + s.Listener.Addr().String() + "/api"
}

func text(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (s *replayEsploraServer) block(w http.ResponseWriter, r *http.Request) {
	hash, err := chainhash.NewHashFromStr(r.PathValue("hash"))
	if err != nil {
		text(w, http.StatusBadRequest, "Invalid hex string")
		return
	}
	b, h, ok := s.chain.blockByHash(*hash)
	if !ok {
		text(w, http.StatusNotFound, "Block not found")
		return
	}
	prev := ""
	if h > 0 {
		p, _ := s.chain.blockAt(h - 1)
		prev = p.hash.String()
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": b.hash.String(), "height": h, "version": 0x20000000, "timestamp": b.time, "tx_count": len(b.txs),
		"size": 285, "weight": 1140, "merkle_root": hashOf(b.hash.String()).String(), "previousblockhash": prev,
		"mediantime": b.time, "nonce": 0, "bits": 0x207fffff, "difficulty": 4.656542373906925e-10,
	})
}

// scriptFor finds the script whose hash the request names.
func (s *replayEsploraServer) scriptFor(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	want := r.PathValue("hash")
	if b, err := hex.DecodeString(want); err != nil || len(b) != 32 {
		text(w, http.StatusBadRequest, "Invalid scripthash")
		return nil, false
	}
	for _, o := range s.chain.allOutputs() {
		sum := sha256.Sum256(o.PkScript)
		if hex.EncodeToString(sum[:]) == want {
			return o.PkScript, true
		}
	}
	return nil, true // a script nobody paid: empty answers
}

func (s *replayEsploraServer) status(height int32) map[string]any {
	if height == 0 {
		return map[string]any{"confirmed": false}
	}
	b, _ := s.chain.blockAt(height)
	return map[string]any{"confirmed": true, "block_height": height, "block_hash": b.hash.String(), "block_time": b.time}
}

func (s *replayEsploraServer) utxo(w http.ResponseWriter, r *http.Request) {
	script, ok := s.scriptFor(w, r)
	if !ok {
		return
	}
	list := []map[string]any{}
	if script != nil {
		for _, o := range s.chain.outputs(script, true) {
			list = append(list, map[string]any{
				"txid": o.op.Hash.String(), "vout": o.op.Index, "status": s.status(o.height), "value": o.out.Value,
			})
		}
	}
	writeJSON(w, http.StatusOK, list)
}

// txs serves /txs (mempool then confirmed, newest first) and
// /txs/chain/:last (confirmed after last).
func (s *replayEsploraServer) txs(w http.ResponseWriter, r *http.Request) {
	script, ok := s.scriptFor(w, r)
	if !ok {
		return
	}
	var all []fakeTx
	if script != nil {
		all = s.chain.touching(script)
	}
	var mempool, confirmed []fakeTx
	for i := len(all) - 1; i >= 0; i-- { // newest first
		if all[i].height == 0 {
			mempool = append(mempool, all[i])
		} else {
			confirmed = append(confirmed, all[i])
		}
	}
	var out []fakeTx
	if last := r.PathValue("last"); last == "" {
		out = append(out, mempool[:min(len(mempool), 50)]...)
		out = append(out, confirmed[:min(len(confirmed), esploraChainPage)]...)
	} else {
		for i, ft := range confirmed {
			if ft.tx.TxHash().String() == last {
				rest := confirmed[i+1:]
				out = rest[:min(len(rest), esploraChainPage)]
				break
			}
		}
	}
	list := []map[string]any{}
	for _, ft := range out {
		list = append(list, s.txJSON(ft))
	}
	writeJSON(w, http.StatusOK, list)
}

// txJSON renders the documented transaction format.
func (s *replayEsploraServer) txJSON(ft fakeTx) map[string]any {
	vin := []map[string]any{}
	for _, in := range ft.tx.TxIn {
		witness := []string{}
		for _, item := range in.Witness {
			witness = append(witness, hex.EncodeToString(item))
		}
		var prevout any
		if prev, _, ok := s.chain.find(in.PreviousOutPoint.Hash); ok && int(in.PreviousOutPoint.Index) < len(prev.TxOut) {
			prevout = voutJSON(prev.TxOut[in.PreviousOutPoint.Index])
		}
		vin = append(vin, map[string]any{
			"txid": in.PreviousOutPoint.Hash.String(), "vout": in.PreviousOutPoint.Index, "prevout": prevout,
			"scriptsig": hex.EncodeToString(in.SignatureScript), "scriptsig_asm": "", "witness": witness,
			"is_coinbase": false, "sequence": in.Sequence,
		})
	}
	vout := []map[string]any{}
	for _, out := range ft.tx.TxOut {
		vout = append(vout, voutJSON(out))
	}
	weight := ft.tx.SerializeSizeStripped()*3 + ft.tx.SerializeSize()
	return map[string]any{
		"txid": ft.tx.TxHash().String(), "version": ft.tx.Version, "locktime": ft.tx.LockTime,
		"vin": vin, "vout": vout, "size": ft.tx.SerializeSize(), "weight": weight, "fee": 1000,
		"status": s.status(ft.height),
	}
}

func voutJSON(out *wire.TxOut) map[string]any {
	asm, _ := txscript.DisasmString(out.PkScript)
	class := txscript.GetScriptClass(out.PkScript)
	kinds := map[txscript.ScriptClass]string{
		txscript.WitnessV0ScriptHashTy: "v0_p2wsh", txscript.ScriptHashTy: "p2sh",
		txscript.WitnessV0PubKeyHashTy: "v0_p2wpkh", txscript.PubKeyHashTy: "p2pkh",
	}
	kind, ok := kinds[class]
	if !ok {
		kind = "unknown"
	}
	return map[string]any{"scriptpubkey": hex.EncodeToString(out.PkScript), "scriptpubkey_asm": asm,
		"scriptpubkey_type": kind, "value": out.Value}
}

func (s *replayEsploraServer) postTx(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	raw, err := hex.DecodeString(strings.TrimSpace(string(body)))
	var tx *wire.MsgTx
	if err == nil {
		tx, err = decodeTx(raw)
	}
	if err != nil {
		text(w, http.StatusBadRequest, `sendrawtransaction RPC error: {"code":-22,"message":"TX decode failed"}`)
		return
	}
	switch err := s.chain.addMempool(tx); {
	case errors.Is(err, errMissingInputs):
		text(w, http.StatusBadRequest, `sendrawtransaction RPC error: {"code":-25,"message":"bad-txns-inputs-missingorspent"}`)
	case errors.Is(err, errInChain):
		text(w, http.StatusBadRequest, `sendrawtransaction RPC error: {"code":-27,"message":"Transaction outputs already in utxo set"}`)
	case err == nil, errors.Is(err, errInMempool):
		text(w, http.StatusOK, tx.TxHash().String())
	default:
		text(w, http.StatusBadRequest, fmt.Sprintf(`sendrawtransaction RPC error: {"code":-1,"message":%q}`, err.Error()))
	}
}

// allOutputs lists every output ever created, for the script-hash index.
func (c *fakeChain) allOutputs() []*wire.TxOut {
	c.mu.Lock()
	defer c.mu.Unlock()
	var outs []*wire.TxOut
	c.eachLocked(func(tx *wire.MsgTx, _ int32) { outs = append(outs, tx.TxOut...) })
	return outs
}
