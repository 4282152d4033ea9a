package chain

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rpcStub serves JSON-RPC batches through answer, which gets each request
// and returns its reply object (or nil to leave it out).
func rpcStub(t *testing.T, answer func(req rpcRequest) map[string]any) (*rpcClient, *httptest.Server) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reqs []rpcRequest
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &reqs); err != nil {
			t.Errorf("request is not a batch: %s", body)
		}
		var out []map[string]any
		for i := len(reqs) - 1; i >= 0; i-- { // answer in reverse order
			if a := answer(reqs[i]); a != nil {
				a["id"] = reqs[i].ID
				out = append(out, a)
			}
		}
		writeJSON(w, http.StatusOK, out)
	}))
	t.Cleanup(srv.Close)
	return testRPCClient(srv.URL), srv
}

func testRPCClient(serverURL string) *rpcClient {
	host := strings.TrimPrefix(serverURL, "http://")
	return &rpcClient{
		kind: kindBtcd, url: serverURL + "/", host: host,
		creds: func() (string, string, error) { return "u", "p", nil },
		http:  &http.Client{}, timeout: 5 * time.Second, trips: new(atomic.Int64),
	}
}

func TestRPCBatchMatchesAnswersByID(t *testing.T) {
	c, _ := rpcStub(t, func(req rpcRequest) map[string]any {
		switch req.Method {
		case "echo":
			return map[string]any{"result": req.Params, "error": nil}
		case "nothing":
			return map[string]any{"result": nil, "error": nil}
		}
		return map[string]any{"result": nil, "error": map[string]any{"code": -32601, "message": "Method not found"}}
	})
	var a, b []int
	calls := []*rpcCall{newCall("echo", &a, 1, 2), newCall("bogus", nil), newCall("echo", &b, 3), newCall("nothing", &a)}
	if err := c.batch(context.Background(), calls); err != nil {
		t.Fatal(err)
	}
	if len(a) != 2 || a[0] != 1 || len(b) != 1 || b[0] != 3 {
		t.Errorf("results mixed up: a=%v b=%v", a, b)
	}
	if calls[1].err == nil || calls[1].err.Code != -32601 {
		t.Errorf("error answer lost: %+v", calls[1].err)
	}
	if !calls[3].null {
		t.Error("null result not marked")
	}
	if c.RoundTrips() != 1 {
		t.Errorf("4 calls took %d round trips, want 1", c.RoundTrips())
	}
}

func TestRPCBatchSplitsLargeBatches(t *testing.T) {
	c, _ := rpcStub(t, func(req rpcRequest) map[string]any { return map[string]any{"result": 1, "error": nil} })
	c.maxBatch = 2
	calls := make([]*rpcCall, 5)
	for i := range calls {
		calls[i] = newCall("x", nil)
	}
	if err := c.batch(context.Background(), calls); err != nil {
		t.Fatal(err)
	}
	if c.RoundTrips() != 3 {
		t.Errorf("5 calls at 2 per request took %d requests, want 3", c.RoundTrips())
	}
}

func TestRPCFailures(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    error
		says    string
	}{
		{"warming up", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, []map[string]any{{"id": 1, "result": nil, "error": map[string]any{"code": -28, "message": "Loading block index…"}}})
		}, ErrUnavailable, "still starting"},
		{"not json-rpc", func(w http.ResponseWriter, r *http.Request) {
			text(w, 200, "<html>hello</html>")
		}, ErrUnavailable, "did not answer with JSON-RPC"},
		{"forbidden", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(403) }, ErrAuth, "rpcallowip"},
		{"unauthorized", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) }, ErrAuth, "HTTP 401"},
		{"busy", func(w http.ResponseWriter, r *http.Request) { text(w, 503, "Work queue depth exceeded") }, ErrUnavailable, "Work queue depth exceeded"},
		{"missing answers", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, []any{}) }, ErrUnavailable, "answered 0 of 1"},
	}
	for _, tt := range tests {
		srv := httptest.NewServer(tt.handler)
		c := testRPCClient(srv.URL)
		c.nextID.Store(0)
		err := c.call(context.Background(), "getblockchaininfo", nil)
		srv.Close()
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%s: error %v, want %v saying %q", tt.name, err, tt.want, tt.says)
		}
	}
}

func TestRPCTimeoutAndCancel(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := testRPCClient(srv.URL)
	c.timeout = 200 * time.Millisecond

	began := time.Now()
	err := c.call(context.Background(), "getblockchaininfo", nil)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no answer within 200ms") {
		t.Errorf("silent server: %v, want ErrUnavailable after the timeout", err)
	}
	if elapsed := time.Since(began); elapsed > 2*time.Second {
		t.Errorf("timeout of 200ms took %s", elapsed)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	err = c.call(ctx, "getblockchaininfo", nil)
	if errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call: %v, want context.Canceled and not ErrUnavailable (the caller chose to stop)", err)
	}
}

// TestBtcdTLSWithCert checks the ?cert= path: btcd's self-signed
// certificate is trusted when given, and refused with a hint otherwise.
func TestBtcdTLSWithCert(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, []map[string]any{{"id": 1, "error": nil, "result": map[string]any{
			"chain": "regtest", "blocks": 5, "bestblockhash": hashOf("b").String()}}})
	}))
	defer srv.Close()
	certFile := filepath.Join(t.TempDir(), "rpc.cert")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(certFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(srv.URL, "https://")
	b, err := Open("btcd://u:p@" + host + "?cert=" + url.QueryEscape(certFile))
	if err != nil {
		t.Fatal(err)
	}
	if h, _, err := b.Tip(context.Background()); err != nil || h != 5 {
		t.Fatalf("Tip over TLS with the cert = %d, %v", h, err)
	}
	plain, _ := Open("btcd://u:p@" + host)
	if _, _, err := plain.Tip(context.Background()); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "?cert=") {
		t.Errorf("Tip over plain HTTP to a TLS server = %v, want ErrUnavailable with a ?cert= hint", err)
	}
	if _, err := Open("btcd://u:p@" + host + "?cert=" + url.QueryEscape(certFile+".missing")); !errors.Is(err, ErrBadURL) {
		t.Errorf("Open with a missing cert file = %v, want ErrBadURL", err)
	}
}
