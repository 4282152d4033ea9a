package chain

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// kind is the protocol family a backend URL selects.
type kind int

const (
	kindCore kind = iota + 1
	kindBtcd
	kindEsplora
)

func (k kind) String() string {
	switch k {
	case kindCore:
		return "Bitcoin Core"
	case kindBtcd:
		return "btcd"
	case kindEsplora:
		return "Esplora"
	}
	return "unknown backend"
}

const (
	defaultTimeout = 30 * time.Second
	minTimeout     = time.Second
	maxTimeout     = 10 * time.Minute
	// defaultCoreWallet is the watch-only wallet countersign creates in
	// Bitcoin Core when the URL names none.
	defaultCoreWallet = "countersign"
)

// endpoint is a parsed backend URL.
type endpoint struct {
	kind    kind
	tls     bool   // https (btcd with cert=, esplora+https)
	host    string // host:port
	user    string // RPC credentials (core://, btcd://)
	pass    string
	cookie  string // Core cookie file (core+cookie://)
	wallet  string // Core wallet name
	path    string // Esplora base path, e.g. "/api"
	cert    string // btcd: PEM file of the RPC server's certificate
	timeout time.Duration
	// maxTxs bounds the transactions one script may have (max_txs=).
	maxTxs int
	// rescanSince is the UNIX time from which Core rescans for newly
	// imported scripts; -1 means "now" (no rescan).
	rescanSince int64
	// insecure is the caller's permission to send in clear (OpenOptions);
	// never set from the URL.
	insecure bool
}

// parseURL parses a backend URL; errors wrap ErrBadURL and never echo the
// password.
func parseURL(raw string) (*endpoint, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil {
		if !strings.Contains(raw, "://") {
			return nil, badURL("it has no scheme; start it with core://, core+cookie://, btcd://, esplora+https:// or esplora+http://")
		}
		return nil, badURL("cannot parse it (%s)", describeParseError(err))
	}
	e := &endpoint{timeout: defaultTimeout, maxTxs: defaultMaxTxs}
	switch strings.ToLower(u.Scheme) {
	case "core":
		e.kind = kindCore
	case "core+cookie":
		e.kind = kindCore // the cookie comes from ?cookie= or the legacy path form
	case "btcd":
		e.kind = kindBtcd
	case "esplora+https":
		e.kind, e.tls = kindEsplora, true
	case "esplora+http":
		e.kind = kindEsplora
	case "":
		return nil, badURL("it has no scheme; start it with core://, core+cookie://, btcd://, esplora+https:// or esplora+http://")
	default:
		return nil, badURL("unknown scheme %q; use core://, core+cookie://, btcd://, esplora+https:// or esplora+http://", u.Scheme)
	}
	if u.Opaque != "" {
		return nil, badURL("write it as %s://...", u.Scheme)
	}
	if u.Fragment != "" {
		return nil, badURL("it has a #fragment; a '#' in a password must be written %%23")
	}
	cookieScheme := strings.EqualFold(u.Scheme, "core+cookie")
	if cookieScheme && u.Host == "" {
		if err := splitLegacyCookie(u); err != nil {
			return nil, err
		}
	}
	if err := e.parseQuery(u.Query(), cookieScheme); err != nil {
		return nil, err
	}
	if err := e.parseHost(u); err != nil {
		return nil, err
	}
	if err := e.parseUser(u, cookieScheme); err != nil {
		return nil, err
	}
	return e, e.parsePath(u)
}

// splitLegacyCookie rewrites core+cookie:///path/to/.cookie@host:port/... into
// the query form. The cookie path ends at the first '@' that is followed by
// a host:port.
func splitLegacyCookie(u *url.URL) error {
	p := u.Path
	for i := strings.Index(p, "@"); i >= 0; {
		rest := p[i+1:]
		hostPart, tail, _ := strings.Cut(rest, "/")
		if _, port, err := net.SplitHostPort(hostPart); err == nil && validPort(port) == nil {
			q := u.Query()
			if q.Has("cookie") {
				return badURL("the cookie file is given twice (before '@' and in ?cookie=)")
			}
			q.Set("cookie", p[:i])
			u.RawQuery = q.Encode()
			u.Host = hostPart
			u.Path = ""
			if tail != "" {
				u.Path = "/" + tail
			}
			u.RawPath = ""
			return nil
		}
		next := strings.Index(rest, "@")
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return badURL("core+cookie:// needs a host: core+cookie://HOST:PORT?cookie=/path/to/.cookie")
}

func (e *endpoint) parseQuery(q url.Values, cookieScheme bool) error {
	e.rescanSince = 0
	for key, vals := range q {
		if len(vals) != 1 {
			return badURL("parameter %q is given %d times", key, len(vals))
		}
		val := vals[0]
		switch {
		case key == "timeout":
			d, err := time.ParseDuration(val)
			if err != nil || d < minTimeout || d > maxTimeout {
				return badURL("timeout=%q is not a duration between %s and %s (e.g. timeout=45s)", val, minTimeout, maxTimeout)
			}
			e.timeout = d
		case key == "max_txs":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > maxMaxTxs {
				return badURL("max_txs=%q is not a number of transactions from 1 to %d", val, maxMaxTxs)
			}
			e.maxTxs = n
		case key == "cookie" && cookieScheme:
			if val == "" {
				return badURL("cookie= is empty; give the path of bitcoind's .cookie file")
			}
			e.cookie = val
		case key == "cert" && e.kind == kindBtcd:
			if val == "" {
				return badURL("cert= is empty; give the path of btcd's rpc.cert")
			}
			e.cert, e.tls = val, true
		case key == "rescan_since" && e.kind == kindCore:
			if val == "now" {
				e.rescanSince = -1
				continue
			}
			t, err := strconv.ParseInt(val, 10, 64)
			if err != nil || t < 0 {
				return badURL("rescan_since=%q is neither a UNIX time nor \"now\"", val)
			}
			e.rescanSince = t
		default:
			return badURL("unknown parameter %q for %s; known: %s", key, e.kind, strings.Join(e.knownParams(cookieScheme), ", "))
		}
	}
	if cookieScheme && e.cookie == "" {
		return badURL("core+cookie:// needs the cookie file: core+cookie://HOST:PORT?cookie=/path/to/.cookie")
	}
	return nil
}

func (e *endpoint) knownParams(cookieScheme bool) []string {
	known := []string{"timeout", "max_txs"}
	switch {
	case cookieScheme:
		known = append(known, "cookie", "rescan_since")
	case e.kind == kindCore:
		known = append(known, "rescan_since")
	case e.kind == kindBtcd:
		known = append(known, "cert")
	}
	return known
}

func (e *endpoint) parseHost(u *url.URL) error {
	if u.Hostname() == "" {
		return badURL("it has no host")
	}
	if !validHostname(u.Hostname()) {
		return badURL("host %q is neither a name nor an IP address", u.Hostname())
	}
	if strings.Count(u.Host, ":") > 1 && !strings.HasPrefix(u.Host, "[") {
		return badURL("write an IPv6 host in brackets, e.g. [::1]:8332")
	}
	port := u.Port()
	if port == "" {
		if e.kind != kindEsplora {
			return badURL("it has no port; %s has no safe default (e.g. 8332 mainnet, 18443 regtest): add :PORT", e.kind)
		}
		e.host = u.Host
		return nil
	}
	if err := validPort(port); err != nil {
		return err
	}
	e.host = net.JoinHostPort(u.Hostname(), port)
	return nil
}

// validHostname accepts DNS names, IPv4 and IPv6 addresses: what a node
// address can be. It keeps odd bytes (spaces, escapes) out of requests.
func validHostname(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	for _, r := range h {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_'
		if !ok {
			return false
		}
	}
	return h != ""
}

func validPort(port string) error {
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return badURL("port %q is not a number from 1 to 65535", port)
	}
	return nil
}

func (e *endpoint) parseUser(u *url.URL, cookieScheme bool) error {
	switch {
	case e.kind == kindEsplora || cookieScheme:
		if u.User != nil {
			return badURL("%s URLs take no user or password", u.Scheme)
		}
	default:
		pass, ok := u.User.Password()
		if u.User == nil || u.User.Username() == "" || !ok {
			return badURL("%s needs the RPC user and password: %s://USER:PASS@HOST:PORT", e.kind, u.Scheme)
		}
		e.user, e.pass = u.User.Username(), pass
	}
	return nil
}

func (e *endpoint) parsePath(u *url.URL) error {
	path := u.Path
	switch e.kind {
	case kindEsplora:
		e.path = strings.TrimRight(path, "/")
	case kindBtcd:
		if path != "" && path != "/" {
			return badURL("btcd URLs take no path (got %q)", path)
		}
	case kindCore:
		if path == "" || path == "/" {
			e.wallet = defaultCoreWallet
			return nil
		}
		name, ok := strings.CutPrefix(path, "/wallet/")
		if !ok || name == "" {
			return badURL("the only path Core URLs take is /wallet/NAME (got %q)", path)
		}
		e.wallet = name
	}
	return nil
}

// String is the canonical form of the URL, password included; use Redact
// to show it.
func (e *endpoint) String() string {
	u := url.URL{Host: e.host}
	q := url.Values{}
	if e.timeout != defaultTimeout {
		q.Set("timeout", e.timeout.String())
	}
	if e.maxTxs != defaultMaxTxs {
		q.Set("max_txs", strconv.Itoa(e.maxTxs))
	}
	switch e.kind {
	case kindCore:
		u.Scheme = "core"
		if e.cookie != "" {
			u.Scheme = "core+cookie"
			q.Set("cookie", e.cookie)
		} else {
			u.User = url.UserPassword(e.user, e.pass)
		}
		if e.wallet != defaultCoreWallet {
			u.Path = "/wallet/" + e.wallet
		}
		switch {
		case e.rescanSince < 0:
			q.Set("rescan_since", "now")
		case e.rescanSince > 0:
			q.Set("rescan_since", strconv.FormatInt(e.rescanSince, 10))
		}
	case kindBtcd:
		u.Scheme = "btcd"
		u.User = url.UserPassword(e.user, e.pass)
		if e.cert != "" {
			q.Set("cert", e.cert)
		}
	case kindEsplora:
		u.Scheme = "esplora+http"
		if e.tls {
			u.Scheme = "esplora+https"
		}
		u.Path = e.path
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Redact returns a backend URL with its password replaced by "xxxxx", for
// logs and messages.
func Redact(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "(unparsable backend URL)"
	}
	return u.Redacted()
}

func badURL(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadURL, fmt.Sprintf(format, args...))
}

// describeParseError keeps url.Parse's reason but not its copy of the URL,
// which holds the password.
func describeParseError(err error) string {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return "malformed"
	}
	var esc url.EscapeError
	if errors.As(ue.Err, &esc) {
		return "a bad %-escape"
	}
	var host url.InvalidHostError
	if errors.As(ue.Err, &host) {
		return "a bad character in the host"
	}
	msg := ue.Err.Error()
	if strings.HasPrefix(msg, "invalid port") {
		return "a bad port"
	}
	return msg
}

// hostname is the endpoint's host without port or IPv6 brackets.
func (e *endpoint) hostname() string {
	h, _, err := net.SplitHostPort(e.host)
	if err != nil {
		h = e.host // Esplora without a port
	}
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}

// cleartext reports whether the endpoint sends what it sends unencrypted
// over a network: plain HTTP to a host that is not this computer. Every
// backend sends something worth protecting: the node forms their RPC
// credentials (a password, or Core's cookie, which is as good as one) and
// all three the wallet's addresses or script hashes, which tell an
// onlooker every coin the wallet has.
//
// Loopback (127.0.0.0/8, ::1, "localhost") never leaves the machine. A Tor
// onion service (.onion) is allowed too: Tor encrypts the connection end
// to end and the address itself authenticates the server, so plain HTTP
// over it is what Tor users run (reaching it needs a Tor proxy: HTTPS_PROXY
// for Esplora, torsocks for the node forms, which ignore proxy variables).
func (e *endpoint) cleartext() bool {
	if e.tls {
		return false
	}
	h := strings.ToLower(strings.TrimSuffix(e.hostname(), "."))
	if h == "localhost" || strings.HasSuffix(h, ".onion") {
		return false
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return false
	}
	return true
}

// insecureError explains why a cleartext endpoint is refused and what to
// do instead. It names the host, never the credentials.
func (e *endpoint) insecureError() error {
	const optIn = "or, only if every network between here and the node is yours, pass --insecure (countersign backend set --insecure URL saves that choice with the URL)"
	switch {
	case e.kind == kindEsplora:
		return fmt.Errorf("%w: esplora+http:// to %s would send every address of your wallets (as script hashes) unencrypted, so anyone on the network path learns your coins; use esplora+https://, reach the server through an SSH tunnel (ssh -L 3000:127.0.0.1:3000 %s, then esplora+http://127.0.0.1:3000), %s",
			ErrInsecure, e.hostname(), e.hostname(), optIn)
	case e.kind == kindBtcd:
		return fmt.Errorf("%w: btcd:// to %s without ?cert= is plain HTTP: the RPC user and password and every address of your wallets would cross the network unencrypted; run btcd with TLS (its default) and give its certificate with ?cert=/path/to/rpc.cert, use an SSH tunnel (ssh -L 8334:127.0.0.1:8334 %s, then btcd://USER:PASS@127.0.0.1:8334), %s",
			ErrInsecure, e.hostname(), e.hostname(), optIn)
	case e.cookie != "":
		return fmt.Errorf("%w: Bitcoin Core's RPC has no TLS, so core+cookie:// to %s would send the cookie (as good as the RPC password) and every address of your wallets unencrypted; use an SSH tunnel (ssh -L 8332:127.0.0.1:8332 %s, then core+cookie://127.0.0.1:8332?cookie=...), %s",
			ErrInsecure, e.hostname(), e.hostname(), optIn)
	}
	return fmt.Errorf("%w: Bitcoin Core's RPC has no TLS, so core:// to %s would send the RPC user and password and every address of your wallets unencrypted; use an SSH tunnel (ssh -L 8332:127.0.0.1:8332 %s, then core://USER:PASS@127.0.0.1:8332), %s",
		ErrInsecure, e.hostname(), e.hostname(), optIn)
}
