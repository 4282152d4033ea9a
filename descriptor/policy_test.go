package descriptor

import (
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
)

// TestMiniscriptPolicy: a key in both paths (its second use at /<2;3>/*)
// is one policy key with two placeholders, keys are numbered in the order
// first written, and a key used twice with a step in common is refused.
func TestMiniscriptPolicy(t *testing.T) {
	keys := msKeySet(t, &chaincfg.TestNet3Params)
	b23 := strings.Replace(keys["B"], "/<0;1>/*", "/<2;3>/*", 1)
	d, err := Parse("wsh(or_d(multi(2," + keys["C"] + "," + keys["B"] + "),and_v(v:pkh(" + b23 + "),older(52560))))")
	if err != nil {
		t.Fatal(err)
	}
	tmpl, ks, err := d.MiniscriptPolicy()
	if err != nil {
		t.Fatal(err)
	}
	if want := "wsh(or_d(multi(2,@0/**,@1/**),and_v(v:pkh(@1/<2;3>/*),older(52560))))"; tmpl != want {
		t.Fatalf("template %s, want %s", tmpl, want)
	}
	if len(ks) != 2 || !strings.HasPrefix(keys["C"], ks[0].String()) || !strings.HasPrefix(keys["B"], ks[1].String()) || ks[1].Wildcard || ks[1].Path != nil {
		t.Fatalf("keys %v", ks)
	}
	a12 := strings.Replace(keys["A"], "/<0;1>/*", "/<1;2>/*", 1)
	twice, err := Parse("wsh(or_d(pk(" + keys["A"] + "),and_v(v:pkh(" + a12 + "),older(10))))")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := twice.MiniscriptPolicy(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "step in common") {
		t.Fatalf("a key at /<0;1>/* and /<1;2>/*: %v", err)
	}
}
