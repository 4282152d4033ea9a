package chain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// rpcClient speaks JSON-RPC 1.0 over HTTP POST to bitcoind and btcd. Every
// request is sent as a batch (a JSON array), which both nodes accept, so
// one code path serves single calls and batches and each HTTP request is
// one round trip.
type rpcClient struct {
	kind     kind   // names the node in messages
	url      string // http(s)://host:port[/wallet/NAME]
	host     string // host:port, for messages
	creds    func() (user, pass string, err error)
	http     *http.Client
	timeout  time.Duration
	trips    *atomic.Int64 // shared by the clients of one backend
	nextID   atomic.Uint64
	maxBatch int
}

// rpcCall is one method call in a batch. After batch returns nil, each
// call has either err set (the node answered with an error) or its result
// decoded into result (null leaves result untouched and sets null).
type rpcCall struct {
	method string
	params any // a []any of positional or a map[string]any of named parameters
	result any // pointer to decode into; nil discards
	err    *rpcError
	null   bool
}

func newCall(method string, result any, params ...any) *rpcCall {
	if params == nil {
		params = []any{}
	}
	return &rpcCall{method: method, params: params, result: result}
}

// rpcError is an error answer from the node, with its JSON-RPC code.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("%s (code %d)", e.Message, e.Code) }

// JSON-RPC error codes shared by bitcoind and btcd.
const (
	codeInvalidRequest   = -32600
	codeMethodNotFound   = -32601
	codeInvalidParams    = -32602 // a parameter of the wrong type (btcd)
	codeInvalidParameter = -8     // a parameter out of range (Core)
	codeMisc             = -1
	codeWalletError      = -4
	codeNoInfo           = -5 // invalid address or key / no such tx or block
	codeWalletNotFound   = -18
	codeDeserialization  = -22
	codeVerifyError      = -25
	codeVerifyRejected   = -26
	codeAlreadyInChain   = -27
	codeInWarmup         = -28
	codeWalletLoaded     = -35
)

// defaultMaxBatch caps calls per HTTP request so that one answer stays of
// reasonable size; larger batches take more round trips.
const defaultMaxBatch = 500

// callBudget is the most one call's answer can legitimately hold; a
// request may read the sum of its calls' budgets, up to maxListAnswer.
func callBudget(method string) int64 {
	switch method {
	case "getblock", "getrawtransaction", "gettransaction":
		return maxTxAnswer // one block or transaction as hex
	case "searchrawtransactions", "listtransactions", "listunspent", "scantxoutset",
		"getrawmempool", "listdescriptors", "importdescriptors":
		return maxListAnswer
	}
	return maxSmallAnswer
}

// answerLimit is how much of the answer to a request holding calls is read.
func answerLimit(calls []*rpcCall) int64 {
	var sum int64
	for _, rc := range calls {
		if sum += callBudget(rc.method); sum >= maxListAnswer {
			return maxListAnswer
		}
	}
	return sum
}

// call runs one method; a node error comes back as *rpcError.
func (c *rpcClient) call(ctx context.Context, method string, result any, params ...any) error {
	rc := newCall(method, result, params...)
	if err := c.batch(ctx, []*rpcCall{rc}); err != nil {
		return err
	}
	if rc.err != nil {
		return rc.err
	}
	return nil
}

// callNamed runs one method with named parameters (bitcoind only; btcd
// takes positional ones).
func (c *rpcClient) callNamed(ctx context.Context, method string, result any, named map[string]any) error {
	rc := &rpcCall{method: method, params: named, result: result}
	if err := c.batch(ctx, []*rpcCall{rc}); err != nil {
		return err
	}
	if rc.err != nil {
		return rc.err
	}
	return nil
}

// batch sends calls in as few HTTP requests as maxBatch allows. It returns
// an error only when a request as a whole failed (unreachable, refused
// credentials, not a JSON-RPC answer); per-call errors are in calls[i].err.
func (c *rpcClient) batch(ctx context.Context, calls []*rpcCall) error {
	return c.batchTimeout(ctx, calls, c.timeout)
}

// batchTimeout is batch with another per-request timeout, for the few
// calls that legitimately run long (wallet rescans, UTXO set scans).
func (c *rpcClient) batchTimeout(ctx context.Context, calls []*rpcCall, timeout time.Duration) error {
	limit := c.maxBatch
	if limit <= 0 {
		limit = defaultMaxBatch
	}
	for start := 0; start < len(calls); start += limit {
		end := min(start+limit, len(calls))
		extra := 0
		if err := c.sendSplitting(ctx, calls[start:end], timeout, &extra); err != nil {
			return err
		}
	}
	return nil
}

// sendSplitting sends calls in one request; when the answer is larger
// than a request may read (maxListAnswer: twenty mainnet blocks, a batch
// of big transactions), it sends each half again, down to single calls,
// whose own budget always fits what they can legitimately answer. Every
// batch is of reads, so asking again is harmless, and the halves go in
// order, so a batch bracketed by two tip reads (nodeBase.bracketed) stays
// bracketed. extra counts the additional requests, bounded by
// maxSplitRequests so a server answering everything with endless bodies
// fails the call in bounded time.
func (c *rpcClient) sendSplitting(ctx context.Context, calls []*rpcCall, timeout time.Duration, extra *int) error {
	err := c.send(ctx, calls, timeout)
	var big *tooLargeError
	if !errors.As(err, &big) || len(calls) < 2 || *extra+2 > maxSplitRequests {
		return err
	}
	*extra += 2
	half := len(calls) / 2
	if err := c.sendSplitting(ctx, calls[:half], timeout, extra); err != nil {
		return err
	}
	return c.sendSplitting(ctx, calls[half:], timeout, extra)
}

type rpcRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

type rpcResponse struct {
	ID     *uint64         `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *rpcError       `json:"error"`
}

func (c *rpcClient) send(ctx context.Context, calls []*rpcCall, timeout time.Duration) error {
	reqs := make([]rpcRequest, len(calls))
	byID := make(map[uint64]*rpcCall, len(calls))
	for i, rc := range calls {
		id := c.nextID.Add(1)
		reqs[i] = rpcRequest{JSONRPC: "1.0", ID: id, Method: rc.method, Params: rc.params}
		byID[id] = rc
	}
	body, err := json.Marshal(reqs)
	if err != nil {
		return fmt.Errorf("chain: encode %s request: %w", calls[0].method, err)
	}
	what := calls[0].method
	if len(calls) > 1 {
		what = fmt.Sprintf("a batch of %d calls (%s, ...)", len(calls), calls[0].method)
	}
	raw, err := c.post(ctx, body, timeout, answerLimit(calls), what)
	if err != nil {
		return err
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		// The node refused the batch as a whole (a parse error).
		var single rpcResponse
		if json.Unmarshal(trimmed, &single) == nil && single.Error != nil {
			return fmt.Errorf("chain: %s at %s refused the request: %w", c.kind, c.host, single.Error)
		}
	}
	var resps []rpcResponse
	if err := json.Unmarshal(trimmed, &resps); err != nil {
		return fmt.Errorf("%w: %s at %s did not answer with JSON-RPC (%v); check that the URL points at its RPC port",
			ErrUnavailable, c.kind, c.host, err)
	}
	if len(resps) > len(calls) {
		return fmt.Errorf("%w: %s at %s answered %d replies to %d calls", ErrLying, c.kind, c.host, len(resps), len(calls))
	}
	for _, resp := range resps {
		if resp.ID == nil {
			continue
		}
		rc, ok := byID[*resp.ID]
		if !ok {
			continue
		}
		delete(byID, *resp.ID)
		if resp.Error != nil {
			if resp.Error.Code == codeInWarmup {
				return fmt.Errorf("%w: %s at %s is still starting (%s); retry in a minute",
					ErrUnavailable, c.kind, c.host, resp.Error.Message)
			}
			rc.err = resp.Error
			continue
		}
		if len(resp.Result) == 0 || string(resp.Result) == "null" {
			rc.null = true
			continue
		}
		if rc.result != nil {
			if err := json.Unmarshal(resp.Result, rc.result); err != nil {
				return fmt.Errorf("chain: %s at %s sent an unexpected %s answer: %w", c.kind, c.host, rc.method, err)
			}
		}
	}
	if len(byID) > 0 {
		return fmt.Errorf("%w: %s at %s answered %d of %d calls; retry", ErrUnavailable, c.kind, c.host,
			len(calls)-len(byID), len(calls))
	}
	return nil
}

// post sends one HTTP request and returns the body of an answer that may
// hold JSON-RPC (2xx, or an error status with a JSON body, as bitcoind
// sends for some failures).
//
// At most limit bytes of the answer are read; a longer one is a
// *tooLargeError naming what (the method or batch).
func (c *rpcClient) post(parent context.Context, body []byte, timeout time.Duration, limit int64, what string) ([]byte, error) {
	ctx, cancel := withTimeout(parent, timeout)
	defer cancel()
	user, pass, err := c.creds()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("chain: build request for %s: %w", c.host, err)
	}
	req.SetBasicAuth(user, pass)
	req.Header.Set("Content-Type", "application/json")
	c.trips.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, transportError(parent, c.kind, c.host, timeout, err)
	}
	defer resp.Body.Close()
	raw, err := readBody(resp, limit, c.kind, c.host, what)
	var big *tooLargeError
	if errors.As(err, &big) {
		return nil, err
	}
	if err != nil {
		return nil, transportError(parent, c.kind, c.host, timeout, err)
	}
	if err := statusError(c.kind, c.host, resp.StatusCode, raw); err != nil {
		// bitcoind answers some errors with 404/500 and a JSON body.
		if looksLikeJSON(raw) && resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
			return raw, nil
		}
		return nil, err
	}
	return raw, nil
}

// RoundTrips is the number of HTTP requests sent so far.
func (c *rpcClient) RoundTrips() int64 { return c.trips.Load() }

// withPath returns a client for another path on the same server, sharing
// the HTTP client, the credentials and the round-trip count.
func (c *rpcClient) withPath(path string) *rpcClient {
	base := c.url[:strings.Index(c.url, "://")+3] + c.host
	return &rpcClient{kind: c.kind, url: base + path, host: c.host, creds: c.creds, http: c.http,
		timeout: c.timeout, trips: c.trips, maxBatch: c.maxBatch}
}

func looksLikeJSON(raw []byte) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

// withTimeout applies the backend's per-call timeout unless ctx already
// ends sooner.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
