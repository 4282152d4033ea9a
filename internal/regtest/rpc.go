package regtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
)

// rpcConn is the harness's own JSON-RPC caller. The harness does not use
// the chain package's client because that client is what the harness
// exists to test; and btcd's rpcclient takes no context.
type rpcConn struct {
	url, user, pass string
	http            *http.Client
	id              atomic.Uint64
}

// rpcError is an error answer from the node.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("%s (code %d)", e.Message, e.Code) }

// call runs one method and decodes its result into result (which may be
// nil to discard it).
func (c *rpcConn) call(ctx context.Context, method string, result any, params ...any) error {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(map[string]any{
		"jsonrpc": "1.0", "id": c.id.Add(1), "method": method, "params": params,
	})
	if err != nil {
		return fmt.Errorf("regtest: encode %s: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("regtest: %s: %w", method, err)
	}
	req.SetBasicAuth(c.user, c.pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("regtest: %s: %w", method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("regtest: %s: read answer: %w", method, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("regtest: %s: HTTP %d: %s", method, resp.StatusCode, bytes.TrimSpace(raw))
	}
	var reply struct {
		Result json.RawMessage `json:"result"`
		Error  *rpcError       `json:"error"`
	}
	if err := json.Unmarshal(raw, &reply); err != nil {
		return fmt.Errorf("regtest: %s: decode answer: %w", method, err)
	}
	if reply.Error != nil {
		return fmt.Errorf("regtest: %s: %w", method, reply.Error)
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(reply.Result, result); err != nil {
		return fmt.Errorf("regtest: %s: decode result: %w", method, err)
	}
	return nil
}
