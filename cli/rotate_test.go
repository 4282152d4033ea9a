package cli

import (
	"strings"
	"testing"
)

// TestRotateFlags: the flag combinations wallet rotate accepts and
// refuses, and a rotation of a wallet with nothing in it (no backend
// needed: it retires at once).
func TestRotateFlags(t *testing.T) {
	dir := t.TempDir()
	desc, cs := testDescriptor(t, "wsh", 3, 5)
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "w", "--descriptor", desc)
	k6, k7 := newTestCosigner(t, 6, 2), newTestCosigner(t, 7, 2)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--cosigner", k6.Expr, "-o", "x.psbt"}, ExitBadInput, "--replace"},
		{[]string{"--replace", cs[0].FP, "-o", "x.psbt"}, ExitBadInput, "exactly one of"},
		{[]string{"--replace", cs[0].FP, "--cosigner", k6.Expr, "--key", "k", "-o", "x.psbt"}, ExitBadInput, "exactly one of"},
		{[]string{"--replace", cs[0].FP, "--cosigner", k6.Expr}, ExitBadInput, "-o FILE"},
		{[]string{"--replace", "nobody", "--cosigner", k6.Expr, "--no-sync", "-o", "x.psbt"}, ExitNotFound, "no cosigner"},
		{[]string{"--no-sync", "-o", "x.psbt"}, ExitNotFound, "start a rotation"},
		{[]string{"--replace", cs[0].FP, "--cosigner", k6.Expr, "--name", "bad/name", "-o", "x.psbt"}, ExitBadInput, "wallet name"},
	} {
		r := runCLI(t, dir, "", append([]string{"wallet", "rotate", "w"}, tc.args...)...)
		if r.Code != tc.code || !strings.Contains(r.Err, tc.msg) {
			t.Errorf("%v: exit %d: %s", tc.args, r.Code, r.Err)
		}
	}
	var rot struct {
		Successor string `json:"successor"`
		Policy    string `json:"policy"`
		Retired   bool   `json:"retired"`
		Sweep     struct {
			PSBTs []any `json:"psbts"`
		} `json:"sweep"`
	}
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "rotate", "w", "--replace", cs[1].FP, "--cosigner", k6.Expr,
		"--remove", cs[2].FP, "--add-cosigner", k7.Expr, "--no-sync", "--no-register", "-o", "x.psbt"), &rot)
	if rot.Successor != "w-2" || rot.Policy != "3 of 5" || !rot.Retired || len(rot.Sweep.PSBTs) != 0 {
		t.Fatalf("%+v", rot)
	}
	var show walletJSON
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "show", "w-2"), &show)
	fps := map[string]bool{}
	for _, c := range show.Cosigners {
		fps[c.Fingerprint] = true
	}
	if fps[cs[1].FP] || fps[cs[2].FP] || !fps[k6.FP] || !fps[k7.FP] || !fps[cs[0].FP] {
		t.Fatalf("successor cosigners %v", fps)
	}
	if out := mustRun(t, dir, "wallet", "list"); !strings.Contains(out, "retired -> w-2") || !strings.Contains(out, "active (successor of w)") {
		t.Fatalf("wallet list:\n%s", out)
	}
}
