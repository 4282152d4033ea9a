package chain

import (
	"fmt"
	"io"
	"net/http"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// A backend is someone else's server. Every answer is read up to a limit
// sized to what its request can legitimately produce, every list is
// bounded, and every paging loop ends, so a broken or hostile server costs
// a clear error, never the machine's memory or an endless sync.
const (
	// maxSmallAnswer bounds answers that are a few fields: a hash, a
	// height, the tip's block header as JSON, fee estimates, a broadcast
	// reply, getblockchaininfo, gettxout. They are under 10 KB in
	// practice.
	maxSmallAnswer = 1 << 20
	// maxTxAnswer bounds one transaction as hex, alone (Esplora's
	// /tx/:txid/hex) or in a JSON-RPC reply: a transaction can fill a
	// block (MaxBlockPayload, 4,000,000 bytes with witnesses), twice that
	// as hex, plus room for the JSON around it (gettransaction's details).
	// The same budget serves getblock, whose block is at most as large.
	maxTxAnswer = 2*wire.MaxBlockPayload + 64<<10
	// maxRawBlockAnswer bounds Esplora's binary /block/:hash/raw.
	maxRawBlockAnswer = wire.MaxBlockPayload + 64<<10
	// maxListAnswer bounds an answer that is a list: a page of Esplora
	// history (up to 75 transactions in full JSON), a UTXO list, the
	// mempool's txids (a full mainnet mempool is a few hundred thousand,
	// about 70 bytes each as JSON), and any JSON-RPC request as a whole.
	// It caps the memory one answer takes to a few times 64 MiB while it
	// is decoded.
	maxListAnswer = 64 << 20
	// maxSplitRequests bounds the extra requests a JSON-RPC batch may cost
	// when its answer is too large and it is sent again in halves (see
	// rpcClient.batchTimeout): enough for a legitimate batch of a
	// gigabyte, few enough that a server answering everything with
	// oversized bodies fails the call in bounded time.
	maxSplitRequests = 64
)

// Transactions per script: a default generous for any wallet (a reused
// donation address gets thousands), a cap for the URL's max_txs.
const (
	defaultMaxTxs = 10_000
	maxMaxTxs     = 10_000_000
)

// tooLargeError is an answer body longer than its limit. It wraps
// ErrTooLarge; the JSON-RPC client recognises it to split a batch.
type tooLargeError struct {
	k     kind
	host  string
	what  string
	limit int64
}

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("%v: %s at %s answered %s with more than %s, the most such an answer can legitimately hold; refusing it (the server is broken or hostile)",
		ErrTooLarge, e.k, e.host, e.what, byteSize(e.limit))
}

func (e *tooLargeError) Unwrap() error { return ErrTooLarge }

// readBody reads an HTTP answer of at most limit bytes. A longer one is a
// *tooLargeError, found without reading more than limit+1 bytes (at once
// when the server declares its length).
func readBody(resp *http.Response, limit int64, k kind, host, what string) ([]byte, error) {
	if resp.ContentLength > limit {
		return nil, &tooLargeError{k: k, host: host, what: what, limit: limit}
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > limit {
		return nil, &tooLargeError{k: k, host: host, what: what, limit: limit}
	}
	return raw, nil
}

// byteSize renders a limit for messages: "64 MiB", "8001536 bytes".
func byteSize(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// tooManyTxs is the error for a script with more transactions than the
// backend's max_txs.
func tooManyTxs(k kind, host, whose string, limit int) error {
	return fmt.Errorf("%w: %s at %s listed more than %d transactions for %s; refusing to page further. If the address really has that many (a reused or spammed address), raise the limit with ?max_txs=N in the backend URL (up to %d)",
		ErrTooLarge, k, host, limit, whose, maxMaxTxs)
}

// repeatedPage is the error for a server that sends a page it sent
// before, which would make paging loop forever.
func repeatedPage(k kind, host, whose, last string) error {
	return fmt.Errorf("%w: %s at %s sent the same page of history twice for %s (ending at transaction %s); paging would never end. Use another backend",
		ErrLying, k, host, whose, last)
}

// describeScript names a script in messages: "address ADDR" when net is
// known and the script has one address, else "script HEX".
func describeScript(script []byte, net *chaincfg.Params) string {
	if net != nil {
		if _, addrs, _, err := txscript.ExtractPkScriptAddrs(script, net); err == nil && len(addrs) == 1 {
			return "address " + addrs[0].EncodeAddress()
		}
	}
	return fmt.Sprintf("script %x", script)
}
