package descriptor

import (
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
)

// TestSpendPaths: the templates' paths in words, with their locks and the
// height each opens for a coin confirmed at block 1000.
func TestSpendPaths(t *testing.T) {
	keys := msKeySet(t, &chaincfg.TestNet3Params)
	names := []string{"alice", "bob", "carol", "dave", "erin"}
	for _, c := range []struct {
		tmpl  string
		names []string
		want  []string
		opens []int32
	}{
		{"wsh(sortedmulti(2,A,B,C))", names, []string{"primary: any 2 of alice, bob, carol, at any time"}, []int32{0}},
		{msTemplates[0], []string{"alice", "bob", "carol", "lawyer"}, []string{
			"primary: any 2 of alice, bob, carol, at any time",
			"recovery: lawyer, 52560 blocks after the coin confirms (about 1.0 years)",
		}, []int32{0, 53560}},
		{msTemplates[1], []string{"alice", "bob", "carol", "lawyer", "alice"}, []string{
			"primary: any 2 of alice, bob, carol, at any time",
			"recovery: any 1 of lawyer, alice, 52560 blocks after the coin confirms (about 1.0 years)",
		}, []int32{0, 53560}},
		{msTemplates[2], names, []string{
			"primary: any 3 of alice, bob, carol, dave, erin, at any time",
			"recovery: any 2 of alice, bob, carol, dave, erin, 52560 blocks after the coin confirms (about 1.0 years)",
		}, []int32{0, 53560}},
		{msTemplates[3], []string{"alice", "bob", "lawyer"}, []string{
			"primary: all of alice, bob, at any time",
			"recovery: lawyer, from block 900001 on",
		}, []int32{0, 900001}},
		{"wsh(or_i(and_v(v:pkh(A),older(4320)),or_i(and_v(v:pkh(B),older(144)),pk(C))))", names, []string{
			"primary: carol, at any time",
			"recovery: bob, 144 blocks after the coin confirms (about 1 day)",
			"recovery-2: alice, 4320 blocks after the coin confirms (about 30 days)",
		}, []int32{0, 1144, 5320}},
		{"wsh(andor(pk(A),pk(B),and_v(v:pk(C),pk(D))))", names, []string{
			"primary: alice + bob, or carol + dave, at any time",
		}, []int32{0}},
	} {
		d, err := Parse(expand(c.tmpl, keys))
		if err != nil {
			t.Fatalf("%s: %v", c.tmpl, err)
		}
		paths, err := d.SpendPaths()
		if err != nil {
			t.Fatal(err)
		}
		if len(paths) != len(c.want) {
			t.Fatalf("%s: %d paths, want %d", c.tmpl, len(paths), len(c.want))
		}
		for i, p := range paths {
			if got := p.Name + ": " + p.Describe(c.names); got != c.want[i] {
				t.Errorf("%s path %d:\n got %s\nwant %s", c.tmpl, i, got, c.want[i])
			}
			if h, ok := p.OpensAt(1000); !ok || h != c.opens[i] {
				t.Errorf("%s %s opens at %d %v, want %d", c.tmpl, p.Name, h, ok, c.opens[i])
			}
			if q, err := d.FindPath(p.Name); err != nil || q.Name != p.Name {
				t.Errorf("FindPath(%s): %v", p.Name, err)
			}
		}
	}
	d, _ := Parse(expand(msTemplates[0], keys))
	if _, err := d.FindPath("heirs"); err == nil {
		t.Fatal("FindPath accepted an unknown name")
	}
}

// TestSpendPathsTooManyCombinations: a 10-of-20 multi() inside a
// miniscript has 184756 key sets; the descriptor still parses, its
// primary threshold is 10, and its paths are described by their cheapest
// key set.
func TestSpendPathsTooManyCombinations(t *testing.T) {
	var ks []string
	for i := 0; i < 21; i++ {
		ks = append(ks, testPubKey(i, false))
	}
	d, err := Parse("wsh(or_d(multi(10," + strings.Join(ks[:20], ",") + "),and_v(v:pkh(" + ks[20] + "),older(100))))")
	if err != nil {
		t.Fatal(err)
	}
	if d.Threshold != 10 {
		t.Fatalf("threshold %d", d.Threshold)
	}
	paths, err := d.SpendPaths()
	if err != nil || len(paths) != 2 {
		t.Fatalf("paths %+v %v", paths, err)
	}
	if p := paths[0]; p.Name != "primary" || !p.Partial || len(p.Sets[0]) != 10 || p.Locked() {
		t.Fatalf("primary %+v", p)
	}
	p := paths[1]
	if p.Name != "recovery" || p.Older != 100 || len(p.Sets[0]) != 1 || p.Sets[0][0] != 20 {
		t.Fatalf("recovery %+v", p)
	}
	if got := p.Describe(nil); !strings.HasPrefix(got, "1 signature, such as key 21 (too many key combinations") {
		t.Fatalf("describe %q", got)
	}
}
