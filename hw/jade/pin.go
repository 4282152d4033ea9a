package jade

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/fxamacker/cbor/v2"

	"github.com/countersign/countersign/hw"
)

// PIN unlock (Blockstream/Jade@cfce08ce: docs/index.rst "auth_user
// request/reply" and "pin request"; main/process/auth_user.c,
// main/process/pinclient.c; the relay loop of jadepy/jade.py _jadeRpc
// and _http_request, read for the host's side).
//
// auth_user names the network the wallet is used on. An unlocked device
// answers true at once. A locked one asks its user for the PIN, then
// answers with an http_request: URLs of the PIN server (the first plain
// one is used; .onion addresses need Tor), a method (POST), an accept
// type (json) and a JSON payload, and the method to pass the server's
// answer to ("on-reply": "pin"). The host makes the request and calls that
// method with the answer's body as params; the device may answer with a
// further http_request (a PIN change), or true (unlocked) or false (wrong
// PIN). A failed HTTP request is reported to the device as a call with no
// params, as jadepy does, so the device stops waiting.

// maxPINServerReply bounds the PIN server's answer.
const maxPINServerReply = 64 << 10

// httpRequest is the device's request for the host to relay.
type httpRequest struct {
	Params struct {
		URLs             []string `cbor:"urls"`
		RootCertificates []string `cbor:"root_certificates"`
		Method           string   `cbor:"method"`
		Accept           string   `cbor:"accept"`
		Data             any      `cbor:"data"`
	} `cbor:"params"`
	OnReply string `cbor:"on-reply"`
}

// unlock makes the device ready for network's wallet: auth_user, relaying
// the PIN server exchange when the device is locked.
func (j *Jade) unlock(ctx context.Context, network string) error {
	const op = "unlock"
	if j.ready {
		return nil
	}
	if err := j.versionInfo(ctx); err != nil {
		return err
	}
	switch j.info.State {
	case "READY":
		return nil
	case "TEMP":
		// A temporary (emergency restore) wallet: auth_user ties it to this
		// connection without a PIN.
	case "LOCKED", "UNSAVED":
		if j.opts.PINRelay == nil {
			return j.fail(op, j.stateError())
		}
		j.prompt(fmt.Sprintf("Enter the PIN on your %s (countersign relays its check to the PIN server).", j.name()))
	default:
		if err := j.stateError(); err != nil {
			return j.fail(op, err)
		}
		return j.fail(op, fmt.Errorf("the Jade reports the state %q", j.info.State))
	}
	if network == "" {
		return j.fail(op, hw.Errorf(hw.ErrLocked, "this Jade's wallet is not tied to mainnet or to the test networks yet, and unlocking it ties it to the network named: say which with --network"))
	}
	method := "auth_user"
	var params any = map[string]any{"network": network, "epoch": j.opts.Now().Unix()}
	for round := 0; ; round++ {
		if round > 4 {
			return j.fail(op, errors.New("the Jade keeps asking for PIN server requests"))
		}
		r, err := j.link.call(ctx, method, params)
		if err != nil {
			return j.fail(op, err)
		}
		var ok bool
		if decMode.Unmarshal(r.Result, &ok) == nil {
			if !ok {
				return j.fail(op, hw.Errorf(hw.ErrLocked, "wrong PIN: the Jade stays locked (after 3 wrong PINs in a row it erases its wallet)"))
			}
			j.ready = true
			j.info.State = "READY"
			return nil
		}
		var res struct {
			HTTPRequest *httpRequest `cbor:"http_request"`
		}
		if err := decMode.Unmarshal(r.Result, &res); err != nil || res.HTTPRequest == nil {
			return j.fail(op, fmt.Errorf("unexpected answer to %s", method))
		}
		hr := res.HTTPRequest
		if hr.OnReply == "" || len(hr.OnReply) > 32 {
			return j.fail(op, errors.New("the Jade's http_request names no method for the answer"))
		}
		if j.opts.PINRelay == nil {
			// A TEMP wallet asking for the server: not expected, same answer.
			return j.fail(op, j.stateError())
		}
		body, relayErr := relay(ctx, j.opts.PINRelay, hr)
		method = hr.OnReply
		if relayErr != nil {
			// Tell the device the server gave nothing, so it stops waiting,
			// and report the network failure, not its answer to that.
			tctx, cancel := j.withReply(ctx)
			_, _ = j.link.call(tctx, method, nil)
			cancel()
			return j.fail(op, hw.Errorf(hw.ErrLocked, "the PIN server could not be reached, so the Jade stays locked: %v", relayErr))
		}
		params = body
	}
}

// relay makes the device's HTTP request and returns the answer's body
// (decoded JSON when the device accepts JSON). It honours the request's
// root certificates (a self-hosted PIN server) on top of the system's.
func relay(ctx context.Context, client *http.Client, hr *httpRequest) (any, error) {
	p := hr.Params
	var target string
	for _, u := range p.URLs {
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme != "http" && pu.Scheme != "https" || strings.HasSuffix(pu.Hostname(), ".onion") {
			continue
		}
		target = u
		break
	}
	if target == "" {
		return nil, fmt.Errorf("no usable PIN server URL among %q (Tor addresses are not relayed)", p.URLs)
	}
	useJSON := p.Accept == "json" || p.Accept == "application/json"
	var body io.Reader
	switch p.Method {
	case "POST":
		var b []byte
		if useJSON {
			var err error
			if b, err = json.Marshal(jsonValue(p.Data)); err != nil {
				return nil, err
			}
		} else if s, ok := p.Data.(string); ok {
			b = []byte(s)
		}
		body = bytes.NewReader(b)
	case "GET":
		if p.Data != nil {
			return nil, errors.New("the Jade asks for a GET with a body")
		}
	default:
		return nil, fmt.Errorf("the Jade asks for an HTTP %q request; only GET and POST are relayed", p.Method)
	}
	req, err := http.NewRequestWithContext(ctx, p.Method, target, body)
	if err != nil {
		return nil, err
	}
	if useJSON {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
	}
	c, err := withRoots(client, p.RootCertificates)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxPINServerReply+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", target, resp.Status)
	}
	if len(raw) > maxPINServerReply {
		return nil, fmt.Errorf("%s answered more than %d bytes", target, maxPINServerReply)
	}
	if !useJSON {
		return string(raw), nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("%s answered something other than JSON: %w", target, err)
	}
	return v, nil
}

// jsonValue converts what CBOR decoded (maps with any keys) to what JSON
// encodes.
func jsonValue(v any) any {
	switch t := v.(type) {
	case map[any]any:
		m := map[string]any{}
		for k, x := range t {
			m[fmt.Sprint(k)] = jsonValue(x)
		}
		return m
	case map[string]any:
		m := map[string]any{}
		for k, x := range t {
			m[k] = jsonValue(x)
		}
		return m
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = jsonValue(x)
		}
		return out
	case cbor.Tag:
		return jsonValue(t.Content)
	}
	return v
}

// withRoots returns client, or a copy of it that also trusts the PEM
// certificates given.
func withRoots(client *http.Client, pems []string) (*http.Client, error) {
	if len(pems) == 0 {
		return client, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, p := range pems {
		if !pool.AppendCertsFromPEM([]byte(p)) {
			return nil, errors.New("the Jade's PIN server certificate does not parse")
		}
	}
	base, ok := client.Transport.(*http.Transport)
	if client.Transport == nil {
		base, ok = http.DefaultTransport.(*http.Transport)
	}
	if !ok {
		return nil, errors.New("the PIN server needs its own root certificate, which this HTTP client cannot take")
	}
	t := base.Clone()
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{}
	}
	t.TLSClientConfig.RootCAs = pool
	c := *client
	c.Transport = t
	return &c, nil
}
