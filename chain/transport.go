package chain

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// dialTimeout bounds connection setup separately from the call timeout so
// that a host that drops packets fails fast.
const dialTimeout = 10 * time.Second

// newHTTPClient returns the HTTP client for one backend. With a btcd
// certificate it trusts exactly that certificate (btcd's is self-signed).
func newHTTPClient(e *endpoint) (*http.Client, error) {
	transport := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: dialTimeout}).DialContext,
		TLSHandshakeTimeout: dialTimeout,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}
	if e.kind != kindEsplora {
		// Node RPC is local or on a private network; an HTTP proxy from
		// the environment would only leak credentials to it.
		transport.Proxy = nil
	}
	if e.cert != "" {
		pem, err := os.ReadFile(e.cert)
		if err != nil {
			return nil, fmt.Errorf("%w: cannot read the btcd certificate: %v", ErrBadURL, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: %s holds no PEM certificate; pass btcd's rpc.cert", ErrBadURL, e.cert)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: transport, CheckRedirect: redirectPolicy(e)}, nil
}

// maxRedirects bounds the redirects one request follows.
const maxRedirects = 5

// redirectPolicy follows a few redirects, but not one that would take an
// encrypted or local connection to plain HTTP on another computer: the
// request path names the wallet's script hashes, so the refusal OpenWith
// applies to the URL applies to where the server sends us as well.
// (Go's client already drops credentials on a redirect to another host.)
func redirectPolicy(e *endpoint) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("%s at %s redirected more than %d times", e.kind, e.host, maxRedirects)
		}
		to := &endpoint{tls: req.URL.Scheme == "https", host: req.URL.Host}
		if to.cleartext() && !e.insecure {
			return fmt.Errorf("%w: %s at %s redirected to plain http://%s, which would carry your addresses unencrypted; not followed",
				ErrInsecure, e.kind, e.host, to.hostname())
		}
		return nil
	}
}

// readCookie returns the user and password from a bitcoind .cookie file
// ("__cookie__:HEX"). It is read on every request because bitcoind writes
// a new one at each start.
func readCookie(k kind, path string) (string, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return "", "", fmt.Errorf("%w: cookie file %s does not exist; is bitcoind running with that data directory?", ErrUnavailable, path)
		}
		return "", "", fmt.Errorf("%w: cannot read cookie file: %v", ErrAuth, err)
	}
	user, pass, ok := strings.Cut(strings.TrimSpace(string(data)), ":")
	if !ok || user == "" {
		return "", "", fmt.Errorf("%w: %s is not a %s cookie file (want USER:PASSWORD)", ErrAuth, path, k)
	}
	return user, pass, nil
}
