package chain

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// replayCoreServer answers Bitcoin Core's JSON-RPC over HTTP with the
// answer shapes documented in Core's RPC help (bitcoin-cli help METHOD,
// Core 22-28), computed from a fakeChain. It serves what the Core backend
// uses: getblockchaininfo, getblockhash, getblock (verbosity 0, the hex
// block), getrawmempool (non-verbose), getrawtransaction (without
// -txindex: mempool only), sendrawtransaction, estimatesmartfee,
// getmempoolinfo, scantxoutset, getdescriptorinfo, and the wallet calls
// getwalletinfo,
// listdescriptors, loadwallet, createwallet, importdescriptors,
// listunspent, listtransactions and gettransaction on /wallet/NAME.
type replayCoreServer struct {
	*httptest.Server
	chain *fakeChain
	user  string
	pass  string // when cookieFile is set, its contents rule instead

	mu            sync.Mutex
	cookieFile    string
	walletSupport bool
	feeRate       *float64 // BTC/kvB; nil: no estimate
	prunedBelow   int32    // getblock refuses blocks below this height, as a pruned node does
	loaded        map[string]*replayWallet
	onDisk        map[string]*replayWallet
	calls         []string // "path method" of every call, in order
}

type replayWallet struct {
	privateKeys bool
	descriptors map[string]string // raw(..) -> with #checksum
}

func newReplayCoreServer(t *testing.T, chain *fakeChain) *replayCoreServer {
	s := &replayCoreServer{
		chain: chain, user: "alice", pass: "s3cret/:@",
		walletSupport: true,
		loaded:        map[string]*replayWallet{},
		onDisk:        map[string]*replayWallet{},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.Close)
	return s
}

// url is the backend URL for the server, with an optional /wallet/NAME.
func (s *replayCoreServer) url(wallet string) string {
	u := url.URL{Scheme: "core", User: url.UserPassword(s.user, s.pass), Host: s.Listener.Addr().String()}
	if wallet != "" {
		u.Path = "/wallet/" + wallet
	}
	return u.String()
}

func (s *replayCoreServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

type coreReq struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

func (s *replayCoreServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		// Core answers 401 with an empty body.
		w.Header().Set("WWW-Authenticate", `Basic realm="jsonrpc"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	wallet := ""
	if name, ok := strings.CutPrefix(r.URL.Path, "/wallet/"); ok {
		if !s.walletSupport {
			w.WriteHeader(http.StatusNotFound) // no /wallet/ handler is registered
			return
		}
		wallet, _ = url.PathUnescape(name)
	} else if r.URL.Path != "/" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(r.Body)
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var reqs []coreReq
		if err := json.Unmarshal(body, &reqs); err != nil {
			writeJSON(w, http.StatusOK, reply(nil, nil, &rpcError{Code: -32700, Message: "Parse error"}))
			return
		}
		replies := make([]any, len(reqs))
		for i, req := range reqs {
			res, rerr := s.dispatch(wallet, req)
			replies[i] = reply(req.ID, res, rerr)
		}
		writeJSON(w, http.StatusOK, replies)
		return
	}
	var req coreReq
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, http.StatusInternalServerError, reply(nil, nil, &rpcError{Code: -32700, Message: "Parse error"}))
		return
	}
	res, rerr := s.dispatch(wallet, req)
	status := http.StatusOK
	if rerr != nil {
		status = http.StatusInternalServerError // Core's legacy JSON-RPC 1.0 behaviour
	}
	writeJSON(w, status, reply(req.ID, res, rerr))
}

func (s *replayCoreServer) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	s.mu.Lock()
	cookieFile := s.cookieFile
	s.mu.Unlock()
	if cookieFile != "" {
		want, err := readCookieForTest(cookieFile)
		return err == nil && user+":"+pass == want
	}
	return user == s.user && pass == s.pass
}

func reply(id json.RawMessage, result any, rerr *rpcError) map[string]any {
	if id == nil {
		id = json.RawMessage("null")
	}
	if rerr != nil {
		return map[string]any{"result": nil, "error": rerr, "id": id}
	}
	return map[string]any{"result": result, "error": nil, "id": id}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// params decodes positional or named parameters into named slots.
func params(raw json.RawMessage, names ...string) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	var positional []json.RawMessage
	if json.Unmarshal(raw, &positional) == nil {
		for i, p := range positional {
			if i < len(names) {
				out[names[i]] = p
			}
		}
		return out
	}
	_ = json.Unmarshal(raw, &out)
	return out
}

func (s *replayCoreServer) dispatch(walletName string, req coreReq) (any, *rpcError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := "/"
	if walletName != "" {
		path = "/wallet/" + walletName
	}
	s.calls = append(s.calls, path+" "+req.Method)

	switch req.Method {
	case "getblockchaininfo":
		h, hash := s.chain.tip()
		return map[string]any{
			"chain": "regtest", "blocks": h, "headers": h, "bestblockhash": hash.String(),
			"difficulty": 4.656542373906925e-10, "time": 1_700_000_000, "mediantime": 1_700_000_000,
			"verificationprogress": 1, "initialblockdownload": false,
			"chainwork":    "0000000000000000000000000000000000000000000000000000000000000008",
			"size_on_disk": 1234, "pruned": false, "warnings": "",
		}, nil
	case "getrawtransaction":
		return s.getRawTransaction(req.Params)
	case "getblockhash":
		var height int32
		_ = json.Unmarshal(params(req.Params, "height")["height"], &height)
		b, ok := s.chain.blockAt(height)
		if !ok {
			return nil, &rpcError{Code: -8, Message: "Block height out of range"}
		}
		return b.hash.String(), nil
	case "getblock":
		return s.getBlock(req.Params)
	case "getblockheader":
		// verbose false: the 80-byte header as hex.
		var hashHex string
		_ = json.Unmarshal(params(req.Params, "blockhash")["blockhash"], &hashHex)
		hash, err := chainhash.NewHashFromStr(hashHex)
		if err != nil {
			return nil, &rpcError{Code: -8, Message: "blockhash must be of length 64"}
		}
		b, _, ok := s.chain.blockByHash(*hash)
		if !ok {
			return nil, &rpcError{Code: -5, Message: "Block not found"}
		}
		var buf bytes.Buffer
		_ = b.header.Serialize(&buf)
		return hex.EncodeToString(buf.Bytes()), nil
	case "getrawmempool":
		// Non-verbose: an array of txids.
		list := []string{}
		for _, txid := range s.chain.mempoolTxids() {
			list = append(list, txid.String())
		}
		return list, nil
	case "sendrawtransaction":
		return s.sendRawTransaction(req.Params)
	case "estimatesmartfee":
		if s.feeRate == nil {
			return map[string]any{"errors": []string{"Insufficient data or no feerate found"}, "blocks": 0}, nil
		}
		var target int
		_ = json.Unmarshal(params(req.Params, "conf_target")["conf_target"], &target)
		return map[string]any{"feerate": *s.feeRate, "blocks": max(target, 2)}, nil
	case "getmempoolinfo":
		return map[string]any{
			"loaded": true, "size": len(s.chain.mempool), "bytes": 400, "usage": 2000, "total_fee": 0.00003,
			"maxmempool": 300000000, "mempoolminfee": json.Number("0.00001000"), "minrelaytxfee": json.Number("0.00001000"),
			"incrementalrelayfee": 0.00001, "unbroadcastcount": 0, "fullrbf": true,
		}, nil
	case "scantxoutset":
		return s.scanTxOutSet(req.Params)
	case "getdescriptorinfo":
		var desc string
		_ = json.Unmarshal(params(req.Params, "descriptor")["descriptor"], &desc)
		sum, err := descriptorChecksum(desc)
		if err != nil {
			return nil, &rpcError{Code: -5, Message: err.Error()}
		}
		return map[string]any{"descriptor": desc + "#" + sum, "checksum": sum, "isrange": false,
			"issolvable": false, "hasprivatekeys": false}, nil
	}
	if !s.walletSupport {
		return nil, &rpcError{Code: codeMethodNotFound, Message: "Method not found"}
	}
	switch req.Method {
	case "loadwallet":
		return s.loadWallet(req.Params)
	case "createwallet":
		return s.createWallet(req.Params)
	}
	w, name, rerr := s.walletFor(walletName)
	if rerr != nil {
		return nil, rerr
	}
	switch req.Method {
	case "getwalletinfo":
		return map[string]any{
			"walletname": name, "walletversion": 169900, "format": "sqlite", "txcount": len(s.walletTxs(w)),
			"keypoolsize": 0, "keypoolsize_hd_internal": 0, "paytxfee": 0.0,
			"private_keys_enabled": w.privateKeys, "avoid_reuse": false, "scanning": false,
			"descriptors": true, "external_signer": false, "blank": true, "lastprocessedblock": map[string]any{},
		}, nil
	case "listdescriptors":
		var list []map[string]any
		for _, d := range sortedKeys(w.descriptors) {
			list = append(list, map[string]any{"desc": w.descriptors[d], "timestamp": 1_700_000_000, "active": false})
		}
		return map[string]any{"wallet_name": name, "descriptors": list}, nil
	case "importdescriptors":
		return s.importDescriptors(w, req.Params)
	case "listunspent":
		return s.listUnspent(w), nil
	case "listtransactions":
		return s.listTransactions(w, req.Params), nil
	case "gettransaction":
		return s.getTransaction(w, req.Params)
	}
	return nil, &rpcError{Code: codeMethodNotFound, Message: "Method not found"}
}

func (s *replayCoreServer) walletFor(name string) (*replayWallet, string, *rpcError) {
	if name == "" {
		if len(s.loaded) != 1 {
			return nil, "", &rpcError{Code: -19, Message: "Wallet file not specified (must request wallet RPC through /wallet/<filename> uri-path)."}
		}
		for n, w := range s.loaded {
			return w, n, nil
		}
	}
	w, ok := s.loaded[name]
	if !ok {
		return nil, "", &rpcError{Code: codeWalletNotFound, Message: "Requested wallet does not exist or is not loaded"}
	}
	return w, name, nil
}

func (s *replayCoreServer) loadWallet(raw json.RawMessage) (any, *rpcError) {
	var name string
	_ = json.Unmarshal(params(raw, "filename", "load_on_startup")["filename"], &name)
	if _, ok := s.loaded[name]; ok {
		return nil, &rpcError{Code: codeWalletLoaded, Message: fmt.Sprintf("Wallet \"%s\" is already loaded.", name)}
	}
	w, ok := s.onDisk[name]
	if !ok {
		return nil, &rpcError{Code: codeWalletNotFound, Message: "Wallet file verification failed. Failed to load database path '/data/regtest/wallets/" + name + "'. Path does not exist."}
	}
	s.loaded[name] = w
	return map[string]any{"name": name, "warnings": []string{}}, nil
}

func (s *replayCoreServer) createWallet(raw json.RawMessage) (any, *rpcError) {
	p := params(raw, "wallet_name", "disable_private_keys", "blank", "passphrase", "avoid_reuse", "descriptors", "load_on_startup")
	var name string
	var noKeys, blank bool
	descriptors := true
	_ = json.Unmarshal(p["wallet_name"], &name)
	_ = json.Unmarshal(p["disable_private_keys"], &noKeys)
	_ = json.Unmarshal(p["blank"], &blank)
	if d, ok := p["descriptors"]; ok {
		_ = json.Unmarshal(d, &descriptors)
	}
	if _, ok := s.onDisk[name]; ok {
		return nil, &rpcError{Code: codeWalletError, Message: "Wallet file verification failed. Failed to create database path '/data/regtest/wallets/" + name + "'. Database already exists."}
	}
	if !descriptors {
		return nil, &rpcError{Code: codeWalletError, Message: "Compiled without bdb support (required for legacy wallets)"}
	}
	w := &replayWallet{privateKeys: !noKeys, descriptors: map[string]string{}}
	s.onDisk[name], s.loaded[name] = w, w
	return map[string]any{"name": name, "warnings": []string{}}, nil
}

func (s *replayCoreServer) importDescriptors(w *replayWallet, raw json.RawMessage) (any, *rpcError) {
	var requests []struct {
		Desc      string          `json:"desc"`
		Timestamp json.RawMessage `json:"timestamp"`
	}
	if err := json.Unmarshal(params(raw, "requests")["requests"], &requests); err != nil {
		return nil, &rpcError{Code: -3, Message: "Expected type array"}
	}
	results := make([]map[string]any, len(requests))
	for i, r := range requests {
		desc, sum, ok := strings.Cut(r.Desc, "#")
		want, err := descriptorChecksum(desc)
		switch {
		case len(r.Timestamp) == 0:
			results[i] = map[string]any{"success": false, "error": map[string]any{"code": -8, "message": "Missing required timestamp field for key"}}
		case !ok:
			results[i] = map[string]any{"success": false, "error": map[string]any{"code": -5, "message": "Missing checksum"}}
		case err != nil || sum != want:
			results[i] = map[string]any{"success": false, "error": map[string]any{"code": -5, "message": "Provided checksum '" + sum + "' does not match computed checksum '" + want + "'"}}
		case w.privateKeys:
			results[i] = map[string]any{"success": false, "error": map[string]any{"code": -4, "message": "Cannot import descriptor without private keys to a wallet with private keys enabled"}}
		default:
			w.descriptors[desc] = r.Desc
			results[i] = map[string]any{"success": true}
		}
	}
	return results, nil
}

// watched reports whether the wallet holds raw(script).
func (w *replayWallet) watched(script []byte) bool {
	_, ok := w.descriptors[rawDescriptor(script)]
	return ok
}

func (w *replayWallet) scripts() [][]byte {
	var out [][]byte
	for _, d := range sortedKeys(w.descriptors) {
		h := strings.TrimSuffix(strings.TrimPrefix(d, "raw("), ")")
		if b, err := hex.DecodeString(h); err == nil {
			out = append(out, b)
		}
	}
	return out
}

func (s *replayCoreServer) confirmations(height int32) int32 {
	if height == 0 {
		return 0
	}
	tip, _ := s.chain.tip()
	return tip - height + 1
}

func (s *replayCoreServer) listUnspent(w *replayWallet) []map[string]any {
	list := []map[string]any{}
	for _, script := range w.scripts() {
		for _, o := range s.chain.outputs(script, true) {
			list = append(list, map[string]any{
				"txid": o.op.Hash.String(), "vout": o.op.Index, "label": "",
				"scriptPubKey": hex.EncodeToString(script), "amount": json.Number(btcAmount(o.out.Value)),
				"confirmations": s.confirmations(o.height), "spendable": false, "solvable": false,
				"desc": w.descriptors[rawDescriptor(script)], "parent_descs": []string{}, "safe": o.height != 0,
			})
		}
	}
	return list
}

// walletTxs are the transactions touching the wallet's scripts, oldest
// first, with heights.
func (s *replayCoreServer) walletTxs(w *replayWallet) []fakeTx {
	seen := map[chainhash.Hash]bool{}
	var all []fakeTx
	for _, script := range w.scripts() {
		for _, ft := range s.chain.touching(script) {
			if !seen[ft.tx.TxHash()] {
				seen[ft.tx.TxHash()] = true
				all = append(all, ft)
			}
		}
	}
	sortFakeTxs(all)
	return all
}

// listTransactions returns receive entries (one per output to the wallet)
// and send entries (one per output elsewhere of a transaction spending
// from the wallet), the most recent count after skipping skip, oldest
// first, as Core does.
func (s *replayCoreServer) listTransactions(w *replayWallet, raw json.RawMessage) []map[string]any {
	p := params(raw, "label", "count", "skip", "include_watchonly")
	count, skip := 10, 0
	_ = json.Unmarshal(p["count"], &count)
	_ = json.Unmarshal(p["skip"], &skip)
	var entries []map[string]any
	for _, ft := range s.walletTxs(w) {
		spends := false
		for _, in := range ft.tx.TxIn {
			if prev, _, ok := s.chain.find(in.PreviousOutPoint.Hash); ok && int(in.PreviousOutPoint.Index) < len(prev.TxOut) &&
				w.watched(prev.TxOut[in.PreviousOutPoint.Index].PkScript) {
				spends = true
			}
		}
		for i, out := range ft.tx.TxOut {
			category, amount := "receive", out.Value
			if !w.watched(out.PkScript) {
				if !spends {
					continue
				}
				category, amount = "send", -out.Value
			}
			e := map[string]any{
				"involvesWatchonly": true, "category": category, "amount": json.Number(btcAmount(amount)),
				"label": "", "vout": i, "confirmations": s.confirmations(ft.height),
				"txid": ft.tx.TxHash().String(), "wtxid": ft.tx.WitnessHash().String(), "walletconflicts": []string{},
				"time": 1_700_000_000, "timereceived": 1_700_000_000, "bip125-replaceable": "no",
			}
			if ft.height > 0 {
				b, _ := s.chain.blockAt(ft.height)
				e["blockhash"], e["blockheight"], e["blockindex"], e["blocktime"] = b.hash.String(), ft.height, 0, b.time
			}
			entries = append(entries, e)
		}
	}
	end := max(len(entries)-skip, 0)
	start := max(end-count, 0)
	return entries[start:end]
}

func (s *replayCoreServer) getTransaction(w *replayWallet, raw json.RawMessage) (any, *rpcError) {
	var id string
	_ = json.Unmarshal(params(raw, "txid")["txid"], &id)
	for _, ft := range s.walletTxs(w) {
		if ft.tx.TxHash().String() != id {
			continue
		}
		txHex, _ := encodeTxHex(ft.tx)
		res := map[string]any{
			"amount": json.Number("0.00000000"), "confirmations": s.confirmations(ft.height),
			"txid": id, "wtxid": ft.tx.WitnessHash().String(), "walletconflicts": []string{},
			"time": 1_700_000_000, "timereceived": 1_700_000_000, "bip125-replaceable": "no",
			"details": []any{}, "hex": txHex,
		}
		if ft.height > 0 {
			b, _ := s.chain.blockAt(ft.height)
			res["blockhash"], res["blockheight"], res["blockindex"], res["blocktime"] = b.hash.String(), ft.height, 0, b.time
		}
		return res, nil
	}
	return nil, &rpcError{Code: codeNoInfo, Message: "Invalid or non-wallet transaction id"}
}

func (s *replayCoreServer) getRawTransaction(raw json.RawMessage) (any, *rpcError) {
	var id string
	_ = json.Unmarshal(params(raw, "txid")["txid"], &id)
	hash, err := chainhash.NewHashFromStr(id)
	if err != nil {
		return nil, &rpcError{Code: -8, Message: "txid must be of length 64"}
	}
	// Without -txindex Core finds mempool transactions only.
	if tx, h, ok := s.chain.find(*hash); ok && h == 0 {
		txHex, _ := encodeTxHex(tx)
		return txHex, nil
	}
	return nil, &rpcError{Code: codeNoInfo, Message: "No such mempool transaction. Use -txindex or provide a block hash to enable blockchain transaction queries. Use gettransaction for wallet transactions."}
}

func (s *replayCoreServer) getBlock(raw json.RawMessage) (any, *rpcError) {
	p := params(raw, "blockhash", "verbosity")
	var id string
	_ = json.Unmarshal(p["blockhash"], &id)
	verbosity := 1 // Core's default
	if v, ok := p["verbosity"]; ok && json.Unmarshal(v, &verbosity) != nil {
		return nil, &rpcError{Code: -3, Message: "Expected type number, got " + string(v)}
	}
	hash, err := chainhash.NewHashFromStr(id)
	if err != nil || len(id) != 64 {
		return nil, &rpcError{Code: -8, Message: "blockhash must be of length 64 (not " + fmt.Sprint(len(id)) + ", for '" + id + "')"}
	}
	b, height, ok := s.chain.blockByHash(*hash)
	if !ok {
		return nil, &rpcError{Code: codeNoInfo, Message: "Block not found"}
	}
	if height > 0 && height < s.prunedBelow {
		return nil, &rpcError{Code: codeMisc, Message: "Block not available (pruned data)"}
	}
	if verbosity != 0 {
		return nil, &rpcError{Code: -8, Message: "this replay serves getblock with verbosity 0 only"}
	}
	return hex.EncodeToString(b.raw()), nil
}

func (s *replayCoreServer) sendRawTransaction(raw json.RawMessage) (any, *rpcError) {
	var txHex string
	_ = json.Unmarshal(params(raw, "hexstring")["hexstring"], &txHex)
	b, err := hex.DecodeString(txHex)
	if err != nil {
		return nil, &rpcError{Code: codeDeserialization, Message: "TX decode failed. Make sure the tx has at least one input."}
	}
	tx, err := decodeTx(b)
	if err != nil {
		return nil, &rpcError{Code: codeDeserialization, Message: "TX decode failed. Make sure the tx has at least one input."}
	}
	switch err := s.chain.addMempool(tx); {
	case errors.Is(err, errMissingInputs):
		return nil, &rpcError{Code: codeVerifyError, Message: "bad-txns-inputs-missingorspent"}
	case errors.Is(err, errInChain):
		return nil, &rpcError{Code: codeAlreadyInChain, Message: "Transaction outputs already in utxo set"}
	case errors.Is(err, errInMempool), err == nil:
		return tx.TxHash().String(), nil // Core returns the txid for a known transaction
	default:
		return nil, &rpcError{Code: codeMisc, Message: err.Error()}
	}
}

func (s *replayCoreServer) scanTxOutSet(raw json.RawMessage) (any, *rpcError) {
	p := params(raw, "action", "scanobjects")
	var action string
	var objects []struct {
		Desc string `json:"desc"`
	}
	_ = json.Unmarshal(p["action"], &action)
	_ = json.Unmarshal(p["scanobjects"], &objects)
	if action != "start" {
		return nil, &rpcError{Code: -8, Message: "Invalid action '" + action + "'"}
	}
	h, hash := s.chain.tip()
	unspents := []map[string]any{}
	var total int64
	for _, o := range objects {
		desc, _, _ := strings.Cut(o.Desc, "#")
		script, err := hex.DecodeString(strings.TrimSuffix(strings.TrimPrefix(desc, "raw("), ")"))
		if err != nil || !strings.HasPrefix(desc, "raw(") {
			return nil, &rpcError{Code: -5, Message: "scantxoutset: this replay understands raw() only"}
		}
		sum, _ := descriptorChecksum(desc)
		for _, u := range s.chain.outputs(script, false) {
			b, _ := s.chain.blockAt(u.height)
			unspents = append(unspents, map[string]any{
				"txid": u.op.Hash.String(), "vout": u.op.Index, "scriptPubKey": hex.EncodeToString(script),
				"desc": desc + "#" + sum, "amount": json.Number(btcAmount(u.out.Value)), "coinbase": false,
				"height": u.height, "blockhash": b.hash.String(), "confirmations": h - u.height + 1,
			})
			total += u.out.Value
		}
	}
	return map[string]any{"success": true, "txouts": 1000, "height": h, "bestblock": hash.String(),
		"unspents": unspents, "total_amount": json.Number(btcAmount(total))}, nil
}

func sortFakeTxs(txs []fakeTx) {
	// Chain order is already height order; keep mempool last.
	for i := 1; i < len(txs); i++ {
		for j := i; j > 0 && heightLess(txs[j].height, txs[j-1].height); j-- {
			txs[j], txs[j-1] = txs[j-1], txs[j]
		}
	}
}

func readCookieForTest(path string) (string, error) {
	user, pass, err := readCookie(kindCore, path)
	if err != nil {
		return "", err
	}
	return user + ":" + pass, nil
}

// descriptorChecksum is the BIP-380 descriptor checksum, written from the
// BIP's reference algorithm so the replay server checks what Core checks.
func descriptorChecksum(desc string) (string, error) {
	const inputCharset = "0123456789()[],'/*abcdefgh@:$%{}" +
		"IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~" +
		"ijklmnopqrstuvwxyzABCDEFGH`#\"\\ "
	const checksumCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	generator := [5]uint64{0xf5dee51989, 0xa9fdca3312, 0x1bab10e32d, 0x3706b1677a, 0x644d626ffd}
	c := uint64(1)
	step := func(v uint64) {
		top := c >> 35
		c = (c&0x7ffffffff)<<5 ^ v
		for i := 0; i < 5; i++ {
			if (top>>i)&1 == 1 {
				c ^= generator[i]
			}
		}
	}
	var groups []uint64
	for _, r := range desc {
		pos := strings.IndexRune(inputCharset, r)
		if pos < 0 {
			return "", fmt.Errorf("Invalid character %q in descriptor", r)
		}
		step(uint64(pos & 31))
		groups = append(groups, uint64(pos>>5))
		if len(groups) == 3 {
			step(groups[0]*9 + groups[1]*3 + groups[2])
			groups = groups[:0]
		}
	}
	switch len(groups) {
	case 1:
		step(groups[0])
	case 2:
		step(groups[0]*3 + groups[1])
	}
	for i := 0; i < 8; i++ {
		step(0)
	}
	c ^= 1
	out := make([]byte, 8)
	for i := range out {
		out[i] = checksumCharset[(c>>(5*(7-i)))&31]
	}
	return string(out), nil
}
