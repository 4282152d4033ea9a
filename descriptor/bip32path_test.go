package descriptor

import (
	"errors"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
)

func TestParsePath(t *testing.T) {
	const h = HardenedKeyStart
	for _, tc := range []struct {
		in         string
		want       Path
		str, apost string
	}{
		{"m", Path{}, "m", "m"},
		{"m/48h/0h/0h/2h", Path{h + 48, h, h, h + 2}, "m/48h/0h/0h/2h", "m/48'/0'/0'/2'"},
		{"48'/1'/0'/1'", Path{h + 48, h + 1, h, h + 1}, "m/48h/1h/0h/1h", "m/48'/1'/0'/1'"},
		{"M/45H/0/7", Path{h + 45, 0, 7}, "m/45h/0/7", "m/45'/0/7"},
		{" m/2147483647 ", Path{2147483647}, "m/2147483647", "m/2147483647"},
	} {
		got, err := ParsePath(tc.in)
		if err != nil {
			t.Fatalf("ParsePath(%q): %v", tc.in, err)
		}
		if !got.Equal(tc.want) || got == nil {
			t.Errorf("ParsePath(%q) = %v, want %v", tc.in, got, tc.want)
		}
		if got.String() != tc.str || got.Apostrophe() != tc.apost {
			t.Errorf("%q prints %q / %q, want %q / %q", tc.in, got.String(), got.Apostrophe(), tc.str, tc.apost)
		}
	}
	for _, bad := range []string{"", "m/", "m//1", "m/x", "m/1h'", "m/2147483648", "m/-1", "m/1/ 2", "m/0x10"} {
		if _, err := ParsePath(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParsePath(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestPathHelpers(t *testing.T) {
	p := Path{HardenedKeyStart + 48, HardenedKeyStart}
	c := p.Child(5)
	if !c.HasPrefix(p) || p.HasPrefix(c) || c.Steps() != "/48h/0h/5" || (Path{}).Steps() != "" {
		t.Fatalf("child %v of %v", c, p)
	}
	c2 := p.Child(6)
	if c[2] != 5 || c2[2] != 6 {
		t.Fatal("Child shares the parent's backing array")
	}
}

func TestMultisigPath(t *testing.T) {
	for _, tc := range []struct {
		net    *chaincfg.Params
		script ScriptType
		acct   uint32
		want   string
	}{
		{&chaincfg.MainNetParams, ScriptWsh, 0, "m/48h/0h/0h/2h"},
		{&chaincfg.TestNet3Params, ScriptShWsh, 3, "m/48h/1h/3h/1h"},
		{&chaincfg.RegressionNetParams, ScriptWsh, 0, "m/48h/1h/0h/2h"},
		{&chaincfg.SigNetParams, ScriptSh, 9, "m/45h"},
	} {
		p, err := MultisigPath(tc.net, tc.script, tc.acct)
		if err != nil || p.String() != tc.want {
			t.Errorf("MultisigPath(%s, %s, %d) = %v, %v; want %s", tc.net.Name, tc.script, tc.acct, p, err, tc.want)
		}
	}
	if _, err := MultisigPath(&chaincfg.MainNetParams, ScriptWsh, HardenedKeyStart); !errors.Is(err, ErrInvalid) {
		t.Errorf("account 2^31: %v", err)
	}
}

// FuzzParsePath: any input either fails or gives a path that prints and
// parses back to itself.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"m/48h/0h/0h/2h", "m/48'/1'/0'/1'", "m", "m/0/1", "m/2147483648", "48h/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			return
		}
		for _, form := range []string{p.String(), p.Apostrophe()} {
			q, err := ParsePath(form)
			if err != nil || !q.Equal(p) {
				t.Fatalf("path %q -> %v -> %q -> %v, %v", s, p, form, q, err)
			}
		}
	})
}
