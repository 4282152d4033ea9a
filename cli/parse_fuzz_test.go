package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// The argument parsers' targets: no panic, every failure is a usage error
// (exit 2), and what a parser accepts prints in its canonical form and
// parses back to the same value. Seeds: testdata/fuzz/<target> (the
// arguments the examples, docs and tests pass, and malformed ones).

// isUsage reports whether err is a usage error (exit code 2).
func isUsage(err error) bool { return ExitCode(err) == 2 }

// FuzzParseOutPoints reads --utxo TXID:VOUT.
func FuzzParseOutPoints(f *testing.F) {
	f.Add("4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b:0")
	f.Fuzz(func(t *testing.T, s string) {
		ops, err := parseOutPoints([]string{s})
		if err != nil {
			if !isUsage(err) {
				t.Fatalf("%q: error %v is not a usage error", s, err)
			}
			return
		}
		if len(ops) != 1 {
			t.Fatalf("%q: %d outpoints", s, len(ops))
		}
		again, err := parseOutPoints([]string{ops[0].String()})
		if err != nil || again[0] != ops[0] {
			t.Fatalf("%q -> %v -> %v, %v", s, ops[0], again, err)
		}
	})
}

// FuzzParseOutputs reads --to ADDRESS:AMOUNT (and --send-all ADDRESS).
func FuzzParseOutputs(f *testing.F) {
	f.Add("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq:0.25", false)
	f.Fuzz(func(t *testing.T, s string, sendAll bool) {
		to, all := []string{s}, ""
		if sendAll {
			if s == "" {
				return // --send-all not given
			}
			to, all = nil, s
		}
		outs, err := parseOutputs(to, all)
		if err != nil {
			if !isUsage(err) {
				t.Fatalf("%q: error %v is not a usage error", s, err)
			}
			return
		}
		if len(outs) != 1 {
			t.Fatalf("%q: %d outputs", s, len(outs))
		}
		o := outs[0]
		if o.Address == "" || o.Address != strings.TrimSpace(o.Address) {
			t.Fatalf("%q: address %q is empty or keeps surrounding space", s, o.Address)
		}
		if sendAll {
			return // the amount is what is left
		}
		if o.Value <= 0 || o.Value > 21_000_000*100_000_000 || strings.Contains(o.Address, ":") {
			t.Fatalf("%q read as %+v", s, o)
		}
		again, err := parseOutputs([]string{fmt.Sprintf("%s:%dsat", o.Address, o.Value)}, "")
		if err != nil || again[0].Address != o.Address || again[0].Value != o.Value || again[0].Script != nil {
			t.Fatalf("%q -> %+v -> %+v, %v", s, o, again, err)
		}
	})
}

// FuzzParseFeeRate reads --fee-rate (sat/vB).
func FuzzParseFeeRate(f *testing.F) {
	f.Add("5")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseFeeRate(s)
		if err != nil {
			if !isUsage(err) {
				t.Fatalf("%q: error %v is not a usage error", s, err)
			}
			return
		}
		if !(v >= 1) || math.IsInf(v, 0) {
			t.Fatalf("%q read as %v sat/vB", s, v)
		}
		printed := strconv.FormatFloat(v, 'g', -1, 64)
		if again, err := parseFeeRate(printed); err != nil || again != v {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, v, printed, again, err)
		}
	})
}

// FuzzParsePathFlag reads --path (a BIP-32 path).
func FuzzParsePathFlag(f *testing.F) {
	f.Add("m/48h/1h/0h/2h")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePathFlag(s)
		if err != nil {
			if !isUsage(err) {
				t.Fatalf("%q: error %v is not a usage error", s, err)
			}
			return
		}
		again, err := parsePathFlag(p.String())
		if err != nil || !again.Equal(p) {
			t.Fatalf("%q -> %s -> %v, %v", s, p, again, err)
		}
	})
}

// FuzzSafe checks the escaping of untrusted text for the terminal: the
// result holds no control character (C0, DEL, C1), line break, bidi
// override or invalid UTF-8; clean text is left alone; and escaping twice
// changes nothing more.
func FuzzSafe(f *testing.F) {
	f.Add("caf\u00e9 \x1b[31mred\x1b[0m\r\n\u202eevil")
	f.Fuzz(func(t *testing.T, s string) {
		out := safe(s)
		if !utf8.ValidString(out) {
			t.Fatalf("safe(%q) = %q is not UTF-8", s, out)
		}
		for _, r := range out {
			if r < 0x20 || r >= 0x7f && r < 0xa0 || r == 0x2028 || r == 0x2029 || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
				t.Fatalf("safe(%q) = %q keeps %U", s, out, r)
			}
		}
		if safe(out) != out {
			t.Fatalf("safe is not idempotent on %q: %q then %q", s, out, safe(out))
		}
		clean := utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !printable(r) })
		if clean && out != s {
			t.Fatalf("clean %q changed to %q", s, out)
		}
	})
}
