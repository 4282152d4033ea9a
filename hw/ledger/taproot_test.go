package ledger

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
)

// policyKeys returns the test wallet's three keys (the device's first) as
// descriptor keys ending in /<0;1>/*, and as the app's key information.
func policyKeys(t *testing.T) ([]descriptor.Key, []string) {
	t.Helper()
	w := newTestWallet(t, descriptor.ScriptWsh, 2, true)
	var infos []string
	for _, k := range w.desc.Keys {
		origin, xpub, _ := strings.Cut(strings.TrimSuffix(k.String(), "/<0;1>/*"), "]")
		infos = append(infos, strings.ReplaceAll(origin, "h", "'")+"]"+xpub)
	}
	return w.desc.Keys, infos
}

// mustTaproot builds a taproot wallet the way `wallet create --script tr`
// does.
func mustTaproot(t *testing.T, keys []descriptor.Key, opt descriptor.TaprootOptions) *descriptor.Descriptor {
	t.Helper()
	d, err := descriptor.NewTaproot(2, keys, opt)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestTaprootPolicies(t *testing.T) {
	keys, infos := policyKeys(t)
	k := func(i int) string { return keys[i].String() }
	for _, c := range []struct {
		name string
		desc *descriptor.Descriptor
		tmpl string
		keys []int
		need string
	}{
		{"default: MuSig2 key path, one sortedmulti_a leaf", mustTaproot(t, keys, descriptor.TaprootOptions{}),
			"tr(musig(@0,@1,@2)/**,sortedmulti_a(2,@0/**,@1/**,@2/**))", []int{0, 1, 2}, "2.4.1"},
		{"unsorted", mustTaproot(t, keys, descriptor.TaprootOptions{Unsorted: true}),
			"tr(musig(@0,@1,@2)/**,multi_a(2,@0/**,@1/**,@2/**))", []int{0, 1, 2}, "2.4.1"},
		{"single key path, pk leaves", mustParse(t, "tr("+k(1)+",{pk("+k(0)+"),pk("+k(2)+")})"),
			"tr(@0/**,{pk(@1/**),pk(@2/**)})", []int{1, 0, 2}, "2.1.2"},
		{"musig key path only", mustParse(t, fmt.Sprintf("tr(musig(%s,%s)/<0;1>/*)", strings.TrimSuffix(k(0), "/<0;1>/*"), strings.TrimSuffix(k(1), "/<0;1>/*"))),
			"tr(musig(@0,@1)/**)", []int{0, 1}, "2.4.0"},
		{"other steps in a leaf", mustParse(t, "tr("+k(0)+",multi_a(1,"+k(1)+","+strings.Replace(k(0), "<0;1>", "<2;3>", 1)+"))"),
			"tr(@0/**,multi_a(1,@1/**,@0/<2;3>/*))", []int{0, 1}, "2.2.1"},
	} {
		p, err := PolicyFromDescriptor(c.desc, "tap")
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if p.Template != c.tmpl {
			t.Errorf("%s: template %s, want %s", c.name, p.Template, c.tmpl)
		}
		var want []string
		for _, i := range c.keys {
			want = append(want, infos[i])
		}
		if strings.Join(p.Keys, " ") != strings.Join(want, " ") {
			t.Errorf("%s: keys %v, want %v", c.name, p.Keys, want)
		}
		if v, _ := p.AppVersionNeeded(); v != c.need {
			t.Errorf("%s: needs app %s, want %s", c.name, v, c.need)
		}
	}
}

func mustParse(t *testing.T, s string) *descriptor.Descriptor {
	t.Helper()
	d, err := descriptor.Parse(s)
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return d
}

func TestTaprootPolicyRefusals(t *testing.T) {
	keys, _ := policyKeys(t)
	// The plain NUMS point (what --no-key-path wrote before, and other
	// tools write) is no extended key: refused, naming the xpub form.
	nums := mustParse(t, "tr("+descriptor.NUMSKey+",sortedmulti_a(2,"+keys[0].String()+","+keys[1].String()+"))")
	_, err := PolicyFromDescriptor(nums, "tap")
	if err == nil || !errors.Is(err, hw.ErrUnsupported) || !strings.Contains(err.Error(), "bare NUMS point") || !strings.Contains(err.Error(), "dummy") {
		t.Errorf("plain NUMS internal key: %v", err)
	}
	// Today's --no-key-path writes a ranged xpub of the point: a policy
	// whose @0 is that xpub, with no origin.
	ranged := mustTaproot(t, keys, descriptor.TaprootOptions{NoKeyPath: true})
	p, err := PolicyFromDescriptor(ranged, "tap")
	if err != nil {
		t.Fatalf("--no-key-path wallet: %v", err)
	}
	if want := ranged.Keys[ranged.Tap.Internal.Key].XPub.String(); p.Keys[0] != want || !strings.HasPrefix(p.Template, "tr(@0/**,sortedmulti_a(2,@1/**,@2/**") {
		t.Errorf("--no-key-path wallet: policy %s with keys %v, want @0 = %s", p.Template, p.Keys, want)
	}
	// One leaf per key subset uses each key in two leaves with the same
	// steps, which the app refuses.
	subsets := mustTaproot(t, keys, descriptor.TaprootOptions{LeafPerSubset: true})
	if _, err := PolicyFromDescriptor(subsets, "tap"); !errors.Is(err, hw.ErrUnsupported) || !strings.Contains(err.Error(), "--leaf-per-subset") {
		t.Errorf("leaf per subset: %v", err)
	}
	raw := mustParse(t, "rawtr("+keys[0].String()+")")
	if _, err := PolicyFromDescriptor(raw, "raw"); !errors.Is(err, hw.ErrUnsupported) || !strings.Contains(err.Error(), "rawtr") {
		t.Errorf("rawtr: %v", err)
	}
	// BIP-390 allows musig() of derived keys; BIP-388 does not.
	bare := func(i int) string { return strings.TrimSuffix(keys[i].String(), "/<0;1>/*") }
	derivedMuSig := mustParse(t, fmt.Sprintf("tr(musig(%s/0,%s)/<0;1>/*)", bare(0), bare(1)))
	if _, err := PolicyFromDescriptor(derivedMuSig, "m"); !errors.Is(err, hw.ErrUnsupported) || !strings.Contains(err.Error(), "no steps after them inside musig()") {
		t.Errorf("derived musig participant: %v", err)
	}
}

// TestPolicyAppVersions: a policy the running app cannot take is refused
// with the version that added what it needs.
func TestPolicyAppVersions(t *testing.T) {
	keys, _ := policyKeys(t)
	p, err := PolicyFromDescriptor(mustTaproot(t, keys, descriptor.TaprootOptions{}), "tap")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		app  string
		want string // "" accepted
	}{
		{"2.1.3", "which the app has since version 2.1.2"}, // taproot itself is there: musig is next
		{"2.3.0", "musig() key expressions (MuSig2), which the app has since version 2.4.0"},
		{"2.4.0", "since version 2.4.1"},
		{"2.4.1", ""},
		{"2.4.6", ""},
	} {
		v, err := parseSemver(c.app)
		if err != nil {
			t.Fatal(err)
		}
		err = p.checkApp(v, c.app)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("app %s: %v", c.app, err)
		case c.want != "" && (err == nil || !errors.Is(err, hw.ErrUnsupported) || !strings.Contains(err.Error(), "version "+c.app)):
			t.Errorf("app %s: %v, want a refusal naming the version", c.app, err)
		case c.app == "2.3.0" && !strings.Contains(err.Error(), c.want):
			t.Errorf("app %s: %v, want %q", c.app, err, c.want)
		case c.app == "2.4.0" && !strings.Contains(err.Error(), c.want):
			t.Errorf("app %s: %v, want %q", c.app, err, c.want)
		}
	}
}

func TestMiniscriptPolicies(t *testing.T) {
	keys, infos := policyKeys(t)
	k := func(i int) string { return keys[i].String() }
	alt := func(i int) string { return strings.Replace(k(i), "<0;1>", "<2;3>", 1) }
	for _, c := range []struct {
		name string
		desc string
		tmpl string
		keys []int
		need string
	}{
		{"recovery by one key", fmt.Sprintf("wsh(or_d(multi(2,%s,%s),and_v(v:pkh(%s),older(52560))))", k(0), k(1), k(2)),
			"wsh(or_d(multi(2,@0/**,@1/**),and_v(v:pkh(@2/**),older(52560))))", []int{0, 1, 2}, "2.1.0"},
		{"recovery by a primary cosigner's other key", fmt.Sprintf("wsh(or_d(multi(2,%s,%s),and_v(v:multi(1,%s,%s),older(100))))", k(1), k(0), alt(0), k(2)),
			"wsh(or_d(multi(2,@0/**,@1/**),and_v(v:multi(1,@1/<2;3>/*,@2/**),older(100))))", []int{1, 0, 2}, "2.1.0"},
		{"decay", fmt.Sprintf("wsh(thresh(3,pk(%s),s:pk(%s),s:pk(%s),sln:older(144)))", k(0), k(1), k(2)),
			"wsh(thresh(3,pk(@0/**),s:pk(@1/**),s:pk(@2/**),sln:older(144)))", []int{0, 1, 2}, "2.1.0"},
		{"a: wrapper", fmt.Sprintf("wsh(and_b(pk(%s),a:pk(%s)))", k(2), k(0)),
			"wsh(and_b(pk(@0/**),a:pk(@1/**)))", []int{2, 0}, "2.1.2"},
	} {
		d, err := descriptor.Parse(c.desc)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		p, err := PolicyFromDescriptor(d, "heirs")
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if p.Template != c.tmpl {
			t.Errorf("%s: template %s, want %s", c.name, p.Template, c.tmpl)
		}
		var want []string
		for _, i := range c.keys {
			want = append(want, infos[i])
		}
		if strings.Join(p.Keys, " ") != strings.Join(want, " ") {
			t.Errorf("%s: keys %v, want %v", c.name, p.Keys, want)
		}
		if v, _ := p.AppVersionNeeded(); v != c.need {
			t.Errorf("%s: needs app %s, want %s", c.name, v, c.need)
		}
	}
}

func TestHasWrapperA(t *testing.T) {
	for s, want := range map[string]bool{
		"and_b(pk(@0/**),a:pk(@1/**))":                            true,
		"and_b(pk(@0/**),sa:pk(@1/**))":                           true,
		"thresh(2,pk(@0/**),s:pk(@1/**),sln:older(1))":            false,
		"or_d(multi(2,@0/**,@1/**),and_v(v:pkh(@2/**),older(5)))": false,
		"andor(pk(@0/**),older(1),dva:pk(@1/**))":                 true,
	} {
		if got := hasWrapperA(s); got != want {
			t.Errorf("%s: %v", s, got)
		}
	}
}
