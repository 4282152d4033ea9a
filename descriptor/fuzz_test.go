package descriptor

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/countersign/countersign/internal/vectors"
)

// vectorStrings collects every descriptor and key expression in the
// published vector files, to seed the fuzz targets.
func vectorStrings(tb testing.TB) []string {
	tb.Helper()
	dir := vectors.Dir(tb)
	quoted := regexp.MustCompile(`"((?:[a-z_]+\(|\[|[xt]pub|[xt]prv|0[234])[^"]*)"`)
	var out []string
	for _, name := range []string{"descriptor_checksum.json", "descriptor_multisig.json", "slip132.json", "bip32.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			tb.Fatal(err)
		}
		for _, m := range quoted.FindAllStringSubmatch(string(b), -1) {
			out = append(out, strings.ReplaceAll(m[1], `\"`, `"`))
		}
	}
	if len(out) < 100 {
		tb.Fatalf("only %d seed strings found", len(out))
	}
	return out
}

// FuzzParse: Parse never panics; whatever it accepts prints canonically,
// reparses to the same string, and derives without panicking.
func FuzzParse(f *testing.F) {
	for _, s := range vectorStrings(f) {
		f.Add(s)
		if !strings.Contains(s, "(") {
			f.Add("wsh(sortedmulti(1," + s + "))")
			f.Add("sh(multi(1," + s + "))")
		}
	}
	f.Add(benchWallet(f, 2, 3).String())
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			return
		}
		canon := d.String()
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q) ok but Parse(String() = %q): %v", s, canon, err)
		}
		if again.String() != canon {
			t.Fatalf("String not stable: %q then %q", canon, again.String())
		}
		net := &chaincfg.TestNet3Params
		if d.IsMainnet() {
			net = &chaincfg.MainNetParams
		}
		_, _ = d.Derive(0, 1, net)
		_ = d.Multipath().String()
		if d.IsMiniscript() {
			// Every spending path of a miniscript that parsed is
			// described without panicking.
			paths, err := d.SpendPaths()
			if err != nil {
				t.Fatalf("Parse(%q) ok but SpendPaths: %v", s, err)
			}
			for _, p := range paths {
				_ = p.Describe(nil)
				_, _ = p.OpensAt(100)
			}
		}
		if d.Branches() > 1 {
			if _, err := d.Single(1); err != nil {
				t.Fatalf("Single(1) of a %d-branch descriptor: %v", d.Branches(), err)
			}
		}
	})
}

// FuzzParseKey: ParseKey never panics and its canonical form reparses.
func FuzzParseKey(f *testing.F) {
	for _, s := range vectorStrings(f) {
		if !strings.Contains(s, "(") {
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKey(s)
		if err != nil {
			return
		}
		canon := k.String()
		again, err := ParseKey(canon)
		if err != nil || again.String() != canon {
			t.Fatalf("ParseKey(%q) = %q, but reparsing gave %q, %v", s, canon, again.String(), err)
		}
	})
}
