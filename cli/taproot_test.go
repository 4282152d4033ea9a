package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestTaprootWalletCreateShapes: --leaf-per-subset writes one 2-of-2 leaf
// per pair of a 2-of-3 (three leaves after the key path), --no-key-path
// drops the MuSig2 key path; both flags need --script tr.
func TestTaprootWalletCreateShapes(t *testing.T) {
	cs := tapCosigners(t, 3)
	for _, tc := range []struct {
		flag  string
		paths int
		first string
	}{
		{"--leaf-per-subset", 4, "Key path: all 3 cosigners"},
		{"--no-key-path", 2, "Key path: none"},
	} {
		dir := t.TempDir()
		args := []string{"--network", "regtest", "wallet", "create", "tap", "--script", "tr", "-m", "2", tc.flag}
		for _, c := range cs {
			args = append(args, "--cosigner", c.Expr)
		}
		mustRun(t, dir, args...)
		var v struct {
			N     int      `json:"n"`
			Paths []string `json:"spending_paths"`
		}
		if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "wallet", "show", "tap")), &v); err != nil {
			t.Fatal(err)
		}
		if v.N != 3 || len(v.Paths) != tc.paths || !strings.HasPrefix(v.Paths[0], tc.first) {
			t.Fatalf("%s: %+v", tc.flag, v)
		}
		if r := runCLI(t, dir, "", "--network", "regtest", "wallet", "create", "w2", "--script", "wsh", "-m", "2", tc.flag, "--cosigner", cs[0].Expr, "--cosigner", cs[1].Expr); r.Code != 2 {
			t.Fatalf("%s without --script tr: exit %d", tc.flag, r.Code)
		}
	}
}

// TestTaprootWalletRefusesUnspendable: a tr() wallet countersign could not
// spend from (single-key key path, no leaf; rawtr) is refused at creation.
func TestTaprootWalletRefusesUnspendable(t *testing.T) {
	cs := tapCosigners(t, 1)
	for _, desc := range []string{"tr(" + cs[0].Expr + "/<0;1>/*)", "rawtr(" + cs[0].Expr + "/<0;1>/*)"} {
		r := runCLI(t, t.TempDir(), "", "--network", "regtest", "wallet", "create", "w", "--descriptor", desc)
		if r.Code != 2 || !strings.Contains(r.Err, "not supported") && !strings.Contains(r.Err, "could receive but not spend") {
			t.Fatalf("%s: exit %d: %s", desc[:5], r.Code, r.Err)
		}
	}
}
