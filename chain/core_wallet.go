package chain

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// rawDescriptor is the descriptor matching exactly one output script.
func rawDescriptor(script []byte) string {
	return "raw(" + hex.EncodeToString(script) + ")"
}

func decodeHexField(field, s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("chain: Bitcoin Core sent a bad %s %q: %w", field, s, err)
	}
	return b, nil
}

// prepare finds out whether Core has wallet support, loads or creates the
// watch-only wallet, and imports the scripts of set it does not watch yet.
// It returns the mode the queries must use.
func (b *coreBackend) prepare(ctx context.Context, set scriptSet) (coreMode, error) {
	b.setup.Lock()
	defer b.setup.Unlock()
	if b.mode == modeUnknown {
		if err := b.openWallet(ctx); err != nil {
			return modeUnknown, err
		}
	}
	if b.mode == modeWallet && len(set) > 0 {
		if err := b.importScripts(ctx, set); err != nil {
			return modeUnknown, err
		}
	}
	return b.mode, nil
}

type walletInfo struct {
	PrivateKeysEnabled bool `json:"private_keys_enabled"`
	Descriptors        bool `json:"descriptors"`
}

type descriptorList struct {
	Descriptors []struct {
		Desc string `json:"desc"`
	} `json:"descriptors"`
}

// openWallet sets b.mode and b.imported. Caller holds b.setup.
func (b *coreBackend) openWallet(ctx context.Context) error {
	for attempt := 0; attempt < 2; attempt++ {
		var info walletInfo
		var list descriptorList
		calls := []*rpcCall{newCall("getwalletinfo", &info), newCall("listdescriptors", &list)}
		err := b.wrpc.batch(ctx, calls)
		var status *httpStatusError
		if errors.As(err, &status) && status.status == 404 {
			// bitcoind without wallet support serves no /wallet/ paths.
			b.mode = modeScan
			return nil
		}
		if err != nil {
			return err
		}
		if werr := calls[0].err; werr != nil {
			switch {
			case werr.Code == codeMethodNotFound:
				b.mode = modeScan
				return nil
			case werr.Code == codeWalletNotFound && attempt == 0:
				if err := b.loadOrCreateWallet(ctx); err != nil {
					return err
				}
				continue
			}
			return b.fail("getwalletinfo", werr)
		}
		if info.PrivateKeysEnabled || !info.Descriptors {
			return fmt.Errorf("%w: Bitcoin Core wallet %q is not a watch-only descriptor wallet; countersign imports scripts only into one it may own: name another wallet in the URL (/wallet/NAME) and countersign creates it",
				ErrUnsupported, b.wallet)
		}
		if lerr := calls[1].err; lerr != nil {
			if lerr.Code == codeMethodNotFound {
				return fmt.Errorf("%w: Bitcoin Core at %s lacks listdescriptors; countersign needs Bitcoin Core 22 or newer", ErrUnsupported, b.rpc.host)
			}
			return b.fail("listdescriptors", lerr)
		}
		b.imported = map[string]bool{}
		for _, d := range list.Descriptors {
			desc, _, _ := strings.Cut(d.Desc, "#")
			b.imported[desc] = true
		}
		b.mode = modeWallet
		return nil
	}
	return fmt.Errorf("%w: Bitcoin Core at %s still reports wallet %q missing after loading it", ErrUnavailable, b.rpc.host, b.wallet)
}

// loadOrCreateWallet loads the wallet, creating it watch-only if it does
// not exist. Named parameters keep the calls right across Core versions
// whose positional lists differ.
func (b *coreBackend) loadOrCreateWallet(ctx context.Context) error {
	err := b.rpc.callNamed(ctx, "loadwallet", nil, map[string]any{"filename": b.wallet, "load_on_startup": true})
	var rerr *rpcError
	if err == nil || (errors.As(err, &rerr) && rerr.Code == codeWalletLoaded) {
		return nil
	}
	if !errors.As(err, &rerr) || rerr.Code != codeWalletNotFound {
		return b.fail("loadwallet", err)
	}
	err = b.rpc.callNamed(ctx, "createwallet", nil, map[string]any{
		"wallet_name":          b.wallet,
		"disable_private_keys": true,
		"blank":                true,
		"descriptors":          true,
		"load_on_startup":      true,
	})
	if err != nil {
		return b.fail("createwallet", err)
	}
	return nil
}

type importResult struct {
	Success bool      `json:"success"`
	Error   *rpcError `json:"error"`
}

// importScripts adds the scripts of set the wallet does not watch yet.
// importdescriptors wants checksums, which getdescriptorinfo computes:
// one batch for all of them. Caller holds b.setup.
func (b *coreBackend) importScripts(ctx context.Context, set scriptSet) error {
	var missing []string
	for _, s := range set.sorted() {
		if d := rawDescriptor(s); !b.imported[d] {
			missing = append(missing, d)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	infos := make([]struct {
		Checksum string `json:"checksum"`
	}, len(missing))
	calls := make([]*rpcCall, len(missing))
	for i, d := range missing {
		calls[i] = newCall("getdescriptorinfo", &infos[i], d)
	}
	if err := b.rpc.batch(ctx, calls); err != nil {
		return err
	}
	var timestamp any = b.rescanSince
	if b.rescanSince < 0 {
		timestamp = "now"
	}
	requests := make([]map[string]any, len(missing))
	for i, d := range missing {
		if calls[i].err != nil {
			return b.fail("getdescriptorinfo", calls[i].err)
		}
		requests[i] = map[string]any{"desc": d + "#" + infos[i].Checksum, "timestamp": timestamp}
	}
	var results []importResult
	call := newCall("importdescriptors", &results, requests)
	if err := b.wrpc.batchTimeout(ctx, []*rpcCall{call}, max(b.wrpc.timeout, importTimeout)); err != nil {
		return err
	}
	if call.err != nil {
		return b.fail("importdescriptors", call.err)
	}
	if len(results) != len(missing) {
		return fmt.Errorf("chain: Bitcoin Core answered %d results to importing %d descriptors", len(results), len(missing))
	}
	for i, r := range results {
		if !r.Success {
			reason := "no reason given"
			if r.Error != nil {
				reason = r.Error.Error()
			}
			return fmt.Errorf("chain: Bitcoin Core wallet %q refused to watch %s: %s", b.wallet, missing[i], reason)
		}
		b.imported[missing[i]] = true
	}
	return nil
}

type walletTx struct {
	Hex           string `json:"hex"`
	Confirmations int64  `json:"confirmations"`
	BlockTime     int64  `json:"blocktime"`
}

// History lists the wallet's transactions (listtransactions, paged), then
// fetches them all in one batch and keeps those paying or spending the
// scripts. Spends are recognised by their inputs: the transaction that
// created a spent output is in the wallet too, since it paid the wallet.
func (b *coreBackend) History(ctx context.Context, scripts [][]byte) ([]TxRef, error) {
	set := newScriptSet(scripts)
	if len(set) == 0 {
		return []TxRef{}, nil
	}
	mode, err := b.prepare(ctx, set)
	if err != nil {
		return nil, err
	}
	if mode == modeScan {
		return nil, fmt.Errorf("%w: Bitcoin Core at %s runs without wallet support, which History needs; restart it without -disablewallet",
			ErrUnsupported, b.rpc.host)
	}
	txids, err := b.walletTxids(ctx, len(set))
	if err != nil || len(txids) == 0 {
		return []TxRef{}, err
	}
	wtxs := make([]walletTx, len(txids))
	t, calls, err := b.bracketed(ctx, b.wrpc, func() []*rpcCall {
		calls := make([]*rpcCall, len(txids))
		for i, id := range txids {
			wtxs[i] = walletTx{}
			calls[i] = newCall("gettransaction", &wtxs[i], id.String(), true)
		}
		return calls
	})
	if err != nil {
		return nil, err
	}
	txs := make(map[chainhash.Hash]*wire.MsgTx, len(txids))
	refs := make(map[chainhash.Hash]TxRef, len(txids))
	for i, call := range calls {
		if call.err != nil {
			return nil, b.fail("gettransaction", call.err)
		}
		if wtxs[i].Confirmations < 0 {
			continue // conflicted: replaced or double-spent
		}
		tx, err := decodeTxHex(kindCore, txids[i], wtxs[i].Hex)
		if err != nil {
			return nil, err
		}
		txs[txids[i]] = tx
		refs[txids[i]] = TxRef{TxID: txids[i], Height: heightFromConfirmations(t, wtxs[i].Confirmations), Time: wtxs[i].BlockTime}
	}
	h := historySet{}
	for txid, tx := range txs {
		if touches(tx, txs, set) {
			h.add(refs[txid])
		}
	}
	return h.sorted(), nil
}

// touches reports whether tx pays one of set or spends an output (of a
// transaction in txs) that pays one.
func touches(tx *wire.MsgTx, txs map[chainhash.Hash]*wire.MsgTx, set scriptSet) bool {
	for _, out := range tx.TxOut {
		if set.has(out.PkScript) {
			return true
		}
	}
	for _, in := range tx.TxIn {
		prev, ok := txs[in.PreviousOutPoint.Hash]
		if ok && int(in.PreviousOutPoint.Index) < len(prev.TxOut) && set.has(prev.TxOut[in.PreviousOutPoint.Index].PkScript) {
			return true
		}
	}
	return false
}

// walletTxids pages through listtransactions and returns each txid once.
//
// Paging ends: the watch-only wallet may watch other wallets' scripts too,
// so the bound is max_txs entries for each of the nscripts asked about
// (ErrTooLarge past it), and a page identical to the one before (same
// entries in the same order: the wallet cannot legitimately answer two
// offsets alike) is ErrLying.
func (b *coreBackend) walletTxids(ctx context.Context, nscripts int) ([]chainhash.Hash, error) {
	type entry struct {
		Txid          string `json:"txid"`
		Vout          uint32 `json:"vout"`
		Category      string `json:"category"`
		Confirmations int64  `json:"confirmations"`
	}
	limit := b.maxTxs * max(nscripts, 1)
	seen := map[chainhash.Hash]bool{}
	var txids []chainhash.Hash
	var prev []entry
	for skip := 0; ; skip += listPage {
		var page []entry
		if err := b.wrpc.call(ctx, "listtransactions", &page, "*", listPage, skip, true); err != nil {
			return nil, b.fail("listtransactions", err)
		}
		if skip+len(page) > limit {
			return nil, tooManyTxs(kindCore, b.rpc.host, fmt.Sprintf("the %d scripts asked about (wallet %q)", nscripts, b.wallet), limit)
		}
		if len(page) > 0 && slices.Equal(page, prev) {
			return nil, repeatedPage(kindCore, b.rpc.host, fmt.Sprintf("wallet %q", b.wallet), page[len(page)-1].Txid)
		}
		for _, e := range page {
			id, err := chainhash.NewHashFromStr(e.Txid)
			if err != nil {
				return nil, fmt.Errorf("chain: Bitcoin Core sent a bad txid %q: %w", e.Txid, err)
			}
			if e.Confirmations >= 0 && !seen[*id] {
				seen[*id] = true
				txids = append(txids, *id)
			}
		}
		if len(page) < listPage {
			return txids, nil
		}
		prev = page
	}
}
