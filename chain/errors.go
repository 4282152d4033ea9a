package chain

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// transportError turns a failed HTTP exchange into an error that says what
// happened and what to do. A cancelled parent context is the caller's
// decision and is returned as such; everything else is ErrUnavailable.
func transportError(parent context.Context, k kind, host string, timeout time.Duration, err error) error {
	if perr := parent.Err(); perr != nil {
		return fmt.Errorf("chain: %s request to %s stopped: %w", k, host, perr)
	}
	var ue *url.Error
	if errors.As(err, &ue) && errors.Is(ue.Err, ErrInsecure) {
		return ue.Err // a refused redirect; ue's own text has the URL
	}
	reason, hint := describeTransport(err, timeout)
	return fmt.Errorf("%w: cannot reach %s at %s: %s; %s", ErrUnavailable, k, host, reason, hint)
}

func describeTransport(err error, timeout time.Duration) (reason, hint string) {
	const checkNode = "check that the node is running and that the backend URL has the right host and port"
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", checkNode
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Sprintf("no answer within %s", timeout), "check the host and port, or raise ?timeout= if the node is slow"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		return "connection reset", checkNode + " (a TLS server reached over plain HTTP also does this)"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve host %q", dnsErr.Name), "check the host name"
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr):
		return "its TLS certificate is not trusted (" + lastLine(err) + ")", "for btcd pass its certificate with ?cert=/path/to/rpc.cert"
	case errors.As(err, &recordErr):
		return "it does not speak TLS", "use plain HTTP (btcd with --notls, esplora+http://)"
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		return "no route to host", "check the network and the host"
	}
	return lastLine(err), checkNode
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// lastLine is the innermost message of a chain like
// `Post "http://...": dial tcp ...: connect: connection refused`, without
// the URL (which may carry credentials).
func lastLine(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

// statusError maps an HTTP status to an error, or nil for 2xx.
func statusError(k kind, host string, status int, body []byte) error {
	switch {
	case status >= 200 && status < 300:
		return nil
	case status == http.StatusBadRequest && strings.Contains(string(body), "HTTP request to an HTTPS server"):
		// Go's TLS servers (btcd's included) answer plain HTTP this way.
		return fmt.Errorf("%w: %s at %s speaks TLS; give its certificate with ?cert=/path/to/rpc.cert, or run btcd with --notls on loopback",
			ErrUnavailable, k, host)
	case status == http.StatusUnauthorized:
		return fmt.Errorf("%w: %s at %s rejected the user and password (HTTP 401); check the credentials in the backend URL (or the cookie file, which changes at every node restart)",
			ErrAuth, k, host)
	case status == http.StatusForbidden:
		return fmt.Errorf("%w: %s at %s does not allow this client (HTTP 403); for bitcoind check rpcallowip",
			ErrAuth, k, host)
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable ||
		status == http.StatusBadGateway || status == http.StatusGatewayTimeout:
		return fmt.Errorf("%w: %s at %s is busy (HTTP %d: %s); retry later", ErrUnavailable, k, host, status, snippet(body))
	case status >= 500:
		return fmt.Errorf("%w: %s at %s failed (HTTP %d: %s)", ErrUnavailable, k, host, status, snippet(body))
	}
	return &httpStatusError{status: status, body: string(body), msg: fmt.Sprintf("chain: %s at %s answered HTTP %d: %s", k, host, status, snippet(body))}
}

// httpStatusError is an unexpected HTTP status that maps to no sentinel;
// callers may look at the status (bitcoind answers 404 for /wallet/ paths
// when it runs without wallet support).
type httpStatusError struct {
	status int
	body   string
	msg    string
}

func (e *httpStatusError) Error() string { return e.msg }

// snippet is the start of an answer body, for messages.
func snippet(body []byte) string {
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		return "empty answer"
	}
	return s
}
