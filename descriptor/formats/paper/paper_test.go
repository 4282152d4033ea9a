package paper

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
)

var testDate = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// TestRenderDeterministic: a fixed date gives byte-identical PDFs, so a
// backup can be hashed and compared; another date gives another file.
func TestRenderDeterministic(t *testing.T) {
	w := testWallet(t, descriptor.ScriptWsh, 2, 3, &chaincfg.MainNetParams)
	a, err := Render(w, Options{Created: testDate})
	if err != nil {
		t.Fatal(err)
	}
	// Several renders, since Go varies map order between iterations.
	for range 5 {
		b, err := Render(w, Options{Created: testDate})
		if err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(a) != sha256.Sum256(b) {
			t.Fatal("two renders of the same wallet and date differ")
		}
	}
	if !bytes.HasPrefix(a, []byte("%PDF-")) || !bytes.Contains(a, []byte("/CreationDate (D:20260501120000")) {
		t.Errorf("not a PDF with the fixed creation date:\n%.200s", a)
	}
	c, err := Render(w, Options{Created: testDate.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, c) {
		t.Error("another date gives the same bytes")
	}
}

func TestPolicy(t *testing.T) {
	for _, tc := range []struct {
		m, n int
		want string
	}{
		{2, 3, "Any 2 of these 3 keys can spend."},
		{3, 5, "Any 3 of these 5 keys can spend."},
		{15, 15, "All 15 of these 15 keys are needed to spend."},
		{1, 2, "Any 1 of these 2 keys can spend."},
	} {
		w := testWallet(t, descriptor.ScriptWsh, tc.m, tc.n, &chaincfg.MainNetParams)
		if got := Policy(w.Descriptor); got != tc.want {
			t.Errorf("%d of %d: %q, want %q", tc.m, tc.n, got, tc.want)
		}
	}
}

// TestQRParts: what fits one code stays one code; longer text splits into
// the fewest equal parts, each within maxVersion, joining back exactly.
func TestQRParts(t *testing.T) {
	for _, n := range []int{1, 100, 743, 2038, 2068, 2069, 2889, 5000} {
		text := strings.Repeat("wsh(sortedmulti(2,[d34db33f/48h/0h/0h/2h]xpub/<0;1>/*))", n/50+1)[:n]
		parts, err := qrParts(text)
		if err != nil {
			t.Fatalf("%d chars: %v", n, err)
		}
		if strings.Join(parts, "") != text {
			t.Fatalf("%d chars: parts do not join back", n)
		}
		for _, p := range parts {
			q, err := qrCode(p)
			if err != nil || q.VersionNumber > maxVersion {
				t.Fatalf("%d chars: part of %d does not fit: %v", n, len(p), err)
			}
		}
		if want := 1; n <= 2068 && len(parts) != want {
			t.Errorf("%d chars: %d parts, want one code", n, len(parts))
		}
		if n > 2068 && len(parts) < 2 {
			t.Errorf("%d chars in one code beyond version %d", n, maxVersion)
		}
	}
}

// TestPDFText: untrusted text keeps ASCII and Latin-1 letters and turns
// everything else into '?'.
func TestPDFText(t *testing.T) {
	for in, want := range map[string]string{
		"Family vault":        "Family vault",
		"Zo\u00eb's (vault)":  "Zo\xeb's (vault)",
		"a\x1b[31mred\x07":    "a?[31mred?",
		"tab\tnew\nline\r":    "tab?new?line?",
		"rocket \U0001F680":   "rocket ?",
		"\u202eevil":          "?evil",
		"caf\u00e9 \u20ac100": "caf\xe9 ?100",
	} {
		if got := pdfText(in); got != want {
			t.Errorf("pdfText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRenderRefuses(t *testing.T) {
	w := testWallet(t, descriptor.ScriptWsh, 2, 3, &chaincfg.MainNetParams)
	cases := map[string]*formats.Wallet{
		"nil wallet":    nil,
		"no network":    {Descriptor: w.Descriptor},
		"wrong network": {Descriptor: w.Descriptor, Network: &chaincfg.TestNet3Params},
		"label count":   {Descriptor: w.Descriptor, Network: w.Network, Labels: []string{"one"}},
	}
	for name, bad := range cases {
		if _, err := Render(bad, Options{Created: testDate}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := Render(w, Options{Created: testDate, Paper: "A3"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("paper A3: %v", err)
	}
}

// BenchmarkRender measures one 3-of-5 backup page.
func BenchmarkRender(b *testing.B) {
	w := testWallet(b, descriptor.ScriptWsh, 3, 5, &chaincfg.MainNetParams)
	for b.Loop() {
		if _, err := Render(w, Options{Created: testDate}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMiniscriptPage: a wallet with a recovery path says each path in
// words on its page, keys by their number, and renders.
func TestMiniscriptPage(t *testing.T) {
	base := testWallet(t, descriptor.ScriptWsh, 2, 3, &chaincfg.MainNetParams)
	k := base.Descriptor.Keys
	d, err := descriptor.Parse("wsh(or_d(multi(2," + k[0].String() + "," + k[1].String() + "),and_v(v:pkh(" + k[2].String() + "),older(52560))))")
	if err != nil {
		t.Fatal(err)
	}
	w := &formats.Wallet{Name: "heirs", Descriptor: d, Network: &chaincfg.MainNetParams}
	want := "Primary: all of key 1, key 2, at any time. Recovery: key 3, 52560 blocks after the coin confirms (about 1.0 years)."
	if got := Policy(d); got != want {
		t.Fatalf("Policy = %q, want %q", got, want)
	}
	if got := scriptWords(d); !strings.Contains(got, "miniscript") {
		t.Fatalf("scriptWords = %q", got)
	}
	pdf, err := Render(w, Options{Created: testDate})
	if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("render: %v", err)
	}
}
