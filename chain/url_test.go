package chain

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in   string
		want endpoint
	}{
		{"core://alice:pw@127.0.0.1:8332", endpoint{kind: kindCore, host: "127.0.0.1:8332", user: "alice", pass: "pw", wallet: "countersign"}},
		{"core://alice:p%40ss%2Fw@node.lan:18443/wallet/cold%20storage?timeout=45s&rescan_since=now",
			endpoint{kind: kindCore, host: "node.lan:18443", user: "alice", pass: "p@ss/w", wallet: "cold storage", timeout: 45 * time.Second, rescanSince: -1}},
		{"CORE://a:b@[::1]:8332/?rescan_since=1700000000", endpoint{kind: kindCore, host: "[::1]:8332", user: "a", pass: "b", wallet: "countersign", rescanSince: 1_700_000_000}},
		{"core+cookie://127.0.0.1:8332?cookie=/home/me/.bitcoin/.cookie",
			endpoint{kind: kindCore, host: "127.0.0.1:8332", cookie: "/home/me/.bitcoin/.cookie", wallet: "countersign"}},
		{"core+cookie:///home/me/.bitcoin/regtest/.cookie@127.0.0.1:18443/wallet/w",
			endpoint{kind: kindCore, host: "127.0.0.1:18443", cookie: "/home/me/.bitcoin/regtest/.cookie", wallet: "w"}},
		{"core+cookie:///srv/a@b/.cookie@10.0.0.2:8332",
			endpoint{kind: kindCore, host: "10.0.0.2:8332", cookie: "/srv/a@b/.cookie", wallet: "countersign"}},
		{"btcd://u:p@127.0.0.1:18334", endpoint{kind: kindBtcd, host: "127.0.0.1:18334", user: "u", pass: "p"}},
		{"btcd://u:p@host:8334?cert=/etc/btcd/rpc.cert", endpoint{kind: kindBtcd, tls: true, host: "host:8334", user: "u", pass: "p", cert: "/etc/btcd/rpc.cert"}},
		{"esplora+https://blockstream.info/api/", endpoint{kind: kindEsplora, tls: true, host: "blockstream.info", path: "/api"}},
		{"esplora+http://127.0.0.1:3000", endpoint{kind: kindEsplora, host: "127.0.0.1:3000"}},
		{" esplora+https://mempool.space/testnet/api?timeout=1m ", endpoint{kind: kindEsplora, tls: true, host: "mempool.space", path: "/testnet/api", timeout: time.Minute}},
		{"esplora+https://blockstream.info/api?max_txs=250000", endpoint{kind: kindEsplora, tls: true, host: "blockstream.info", path: "/api", maxTxs: 250_000}},
	}
	for _, tt := range tests {
		got, err := parseURL(tt.in)
		if err != nil {
			t.Errorf("parseURL(%q): %v", tt.in, err)
			continue
		}
		want := tt.want
		if want.timeout == 0 {
			want.timeout = defaultTimeout
		}
		if want.maxTxs == 0 {
			want.maxTxs = defaultMaxTxs
		}
		if *got != want {
			t.Errorf("parseURL(%q) =\n  %+v\nwant\n  %+v", tt.in, *got, want)
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct{ in, says string }{
		{"", "no scheme"},
		{"127.0.0.1:8332", "scheme"},
		{"http://127.0.0.1:8332", "unknown scheme"},
		{"core://127.0.0.1:8332", "user and password"},
		{"core://alice@127.0.0.1:8332", "user and password"},
		{"core://alice:pw@127.0.0.1", "no port"},
		{"core://alice:pw@127.0.0.1:0", "port"},
		{"core://alice:pw@127.0.0.1:99999", "port"},
		{"core://alice:pw@:8332", "no host"},
		{"core://alice:pw@127.0.0.1:8332/wallets/x", "/wallet/NAME"},
		{"core://alice:pw@127.0.0.1:8332/wallet/", "/wallet/NAME"},
		{"core://alice:pw@127.0.0.1:8332?cert=/x", "unknown parameter"},
		{"core://alice:pw@127.0.0.1:8332?timeout=0s", "timeout"},
		{"core://alice:pw@127.0.0.1:8332?timeout=2h", "timeout"},
		{"core://alice:pw@127.0.0.1:8332?timeout=5s&timeout=6s", "given 2 times"},
		{"core://alice:pw@127.0.0.1:8332?rescan_since=yesterday", "rescan_since"},
		{"core://alice:pw@127.0.0.1:8332#frag", "fragment"},
		{"core+cookie://127.0.0.1:8332", "cookie file"},
		{"core+cookie://u:p@127.0.0.1:8332?cookie=/c", "no user or password"},
		{"core+cookie:///home/me/.cookie", "needs a host"},
		{"core+cookie:///a/.cookie@127.0.0.1:8332?cookie=/b", "twice"},
		{"btcd://u:p@127.0.0.1:8334/path", "no path"},
		{"btcd://u:p@127.0.0.1:8334?cert=", "cert= is empty"},
		{"btcd://u:p@127.0.0.1:8334?rescan_since=now", "unknown parameter"},
		{"esplora+https://user:pw@blockstream.info/api", "no user or password"},
		{"esplora+https:///api", "no host"},
		{"esplora+https://blockstream.info/api?max_txs=0", "max_txs"},
		{"esplora+https://blockstream.info/api?max_txs=many", "max_txs"},
		{"btcd://u:p@127.0.0.1:8334?max_txs=10000001", "max_txs"},
		{"esplora+https://blockstream.info/api?insecure=1", "unknown parameter"},
		{"core://alice:s%zzecret@127.0.0.1:8332", "bad %-escape"},
		{"core:alice:pw@127.0.0.1:8332", "core://"},
	}
	for _, tt := range tests {
		_, err := parseURL(tt.in)
		if !errors.Is(err, ErrBadURL) {
			t.Errorf("parseURL(%q) = %v, want ErrBadURL", tt.in, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.says) {
			t.Errorf("parseURL(%q) = %q, want it to say %q", tt.in, err, tt.says)
		}
	}
}

func TestParseURLNeverShowsPassword(t *testing.T) {
	for _, in := range []string{
		"core://alice:hunter2 secret@127.0.0.1:8332",
		"core://alice:hunter2%zz@127.0.0.1:8332",
		"core://alice:hunter2@127.0.0.1:port",
		"core://alice:hunter2@127.0.0.1:8332?timeout=x",
		"btcd://alice:hunter2@bad host:1",
	} {
		_, err := parseURL(in)
		if err == nil {
			t.Errorf("parseURL(%q) succeeded", in)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("parseURL(%q) error shows the password: %v", in, err)
		}
	}
	if got := Redact("core://alice:hunter2@127.0.0.1:8332/wallet/w"); strings.Contains(got, "hunter2") || !strings.Contains(got, "alice") {
		t.Errorf("Redact = %q", got)
	}
}

func TestEndpointStringRoundTrip(t *testing.T) {
	for _, in := range []string{
		"core://alice:p%40ss@127.0.0.1:8332/wallet/cold%20storage?rescan_since=now&timeout=45s",
		"core+cookie:///home/me/.cookie@127.0.0.1:18443",
		"btcd://u:p@host:8334?cert=%2Fetc%2Frpc.cert",
		"esplora+https://blockstream.info/api",
		"esplora+https://blockstream.info/api?max_txs=20000",
	} {
		e, err := parseURL(in)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseURL(e.String())
		if err != nil {
			t.Fatalf("parseURL(%q) (from %q): %v", e.String(), in, err)
		}
		if *again != *e {
			t.Errorf("round trip of %q through %q changed it", in, e.String())
		}
	}
}

// FuzzParseURL checks that no input panics, errors never echo a password,
// and an accepted URL survives printing and parsing again.
func FuzzParseURL(f *testing.F) {
	for _, seed := range []string{
		"core://alice:pw@127.0.0.1:8332/wallet/w?timeout=5s",
		"core+cookie://127.0.0.1:8332?cookie=/c",
		"core+cookie:///c@127.0.0.1:8332/wallet/x",
		"btcd://u:p@[::1]:18334?cert=/x",
		"esplora+https://blockstream.info/api",
		"esplora+http://127.0.0.1:3000/",
		"core://a:b@h:1?rescan_since=now",
		"core://%41:%42@h:1",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		e, err := parseURL(in)
		if err != nil {
			if !errors.Is(err, ErrBadURL) {
				t.Fatalf("parseURL(%q) error %v does not wrap ErrBadURL", in, err)
			}
			if u, perr := url.Parse(strings.TrimSpace(in)); perr == nil && u.User != nil {
				if pass, ok := u.User.Password(); ok && len(pass) >= 6 && strings.Contains(err.Error(), pass) &&
					!strings.Contains(strings.Replace(in, pass, "", 1), pass) {
					t.Fatalf("parseURL(%q) error shows the password: %v", in, err)
				}
			}
			return
		}
		if e.host == "" || e.kind < kindCore || e.kind > kindEsplora {
			t.Fatalf("parseURL(%q) accepted an endpoint without host or kind: %+v", in, e)
		}
		again, err := parseURL(e.String())
		if err != nil {
			t.Fatalf("parseURL(%q) ok, but its canonical form %q fails: %v", in, e.String(), err)
		}
		if *again != *e {
			t.Fatalf("parseURL(%q) = %+v, canonical %q parses to %+v", in, *e, e.String(), *again)
		}
	})
}

// TestOpenRefusesCleartext: every URL that would send credentials or
// addresses in clear to another computer is refused with ErrInsecure,
// whose message names the host (never the password) and the ways out;
// with OpenOptions.Insecure it opens. Loopback, .onion and TLS forms open
// without it.
func TestOpenRefusesCleartext(t *testing.T) {
	refused := []struct{ in, says string }{
		{"btcd://alice:hunter2@192.168.1.20:8334", "?cert="},
		{"btcd://alice:hunter2@node.example.com:8334", "SSH tunnel"},
		{"core://alice:hunter2@10.0.0.2:8332", "no TLS"},
		{"core://alice:hunter2@[2001:db8::1]:8332", "2001:db8::1"},
		{"core+cookie://10.0.0.2:8332?cookie=/home/me/.bitcoin/.cookie", "cookie"},
		{"core+cookie:///home/me/.cookie@node.lan:8332", "cookie"},
		{"esplora+http://electrs.lan:3000/api", "esplora+https://"},
		{"esplora+http://8.8.8.8/api", "script hashes"},
		{"esplora+http://localhost.example.com:3000", "localhost.example.com"},
		{"esplora+http://127.0.0.1.nip.io:3000", "127.0.0.1.nip.io"},
	}
	for _, tt := range refused {
		_, err := Open(tt.in)
		if !errors.Is(err, ErrInsecure) {
			t.Errorf("Open(%q) = %v, want ErrInsecure", tt.in, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.says) || !strings.Contains(msg, "--insecure") || strings.Contains(msg, "hunter2") {
			t.Errorf("Open(%q) error %q: want it to say %q and --insecure, without the password", tt.in, msg, tt.says)
		}
		if clear, err := Cleartext(tt.in); err != nil || !clear {
			t.Errorf("Cleartext(%q) = %v, %v; want true", tt.in, clear, err)
		}
		if _, err := OpenWith(tt.in, OpenOptions{Insecure: true}); err != nil {
			t.Errorf("OpenWith(%q, Insecure) = %v, want it open", tt.in, err)
		}
	}
	for _, in := range []string{
		"btcd://u:p@127.0.0.1:18334",
		"btcd://u:p@127.5.6.7:18334",
		"btcd://u:p@localhost:18334",
		"btcd://u:p@LOCALHOST.:18334",
		"core://u:p@[::1]:8332",
		"core+cookie://127.0.0.1:8332?cookie=/c",
		"esplora+http://127.0.0.1:3000/api",
		"esplora+http://[::ffff:127.0.0.1]:3000",
		"esplora+http://explorerzydxu5ecjrkwceayqybizmpjjznk5izmitf2modhcusuqlid.onion/api",
		"core://u:p@abcdefghijklmnopabcdefghijklmnopabcdefghijklmnopabcdefgh.onion:8332",
		"esplora+https://blockstream.info/api",
		"btcd://u:p@node.example.com:8334?cert=/etc/btcd/rpc.cert",
	} {
		clear, err := Cleartext(in)
		if err != nil || clear {
			t.Errorf("Cleartext(%q) = %v, %v; want false", in, clear, err)
		}
		if _, err := Open(in); errors.Is(err, ErrInsecure) {
			t.Errorf("Open(%q) = %v, want it allowed", in, err)
		}
	}
	if _, err := Cleartext("core://nobody@host"); !errors.Is(err, ErrBadURL) {
		t.Errorf("Cleartext of a bad URL = %v, want ErrBadURL", err)
	}
}
