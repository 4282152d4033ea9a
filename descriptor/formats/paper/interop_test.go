package paper

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
)

// The backup is checked with peers no one here wrote, as a person would:
// Debian's poppler-utils (pdftoppm renders each page at 150 dpi, pdftotext
// extracts the text, pdfinfo reads the page size) and zbar-tools (zbarimg
// decodes the QR codes from the rendered pages).

// needTools returns the paths of the tools, or skips the test when one is
// missing (fails under COUNTERSIGN_REQUIRE_INTEROP=1, as CI sets it).
func needTools(t *testing.T) map[string]string {
	t.Helper()
	paths := map[string]string{}
	for tool, pkg := range map[string]string{"pdftoppm": "poppler-utils", "pdftotext": "poppler-utils", "pdfinfo": "poppler-utils", "zbarimg": "zbar-tools"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			if os.Getenv("COUNTERSIGN_REQUIRE_INTEROP") == "1" {
				t.Fatalf("%s is not installed (Debian package %s) and COUNTERSIGN_REQUIRE_INTEROP=1", tool, pkg)
			}
			t.Skipf("%s is not installed: apt-get install poppler-utils zbar-tools to check the backup PDF", tool)
		}
		paths[tool] = p
	}
	return paths
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

// TestBackupInterop renders backups of several sizes, decodes the QR codes
// from the rendered pages back to exactly the exported descriptor, and
// finds the name, the policy words, every fingerprint and the first three
// addresses in the extracted text.
func TestBackupInterop(t *testing.T) {
	tools := needTools(t)
	cases := []struct {
		name   string
		script descriptor.ScriptType
		m, n   int
		net    *chaincfg.Params
		paper  Paper
		pages  int // pages the layout needs
		codes  int // QR codes
	}{
		{"2-of-3 wsh", descriptor.ScriptWsh, 2, 3, &chaincfg.MainNetParams, A4, 1, 1},
		{"3-of-5 wsh letter", descriptor.ScriptWsh, 3, 5, &chaincfg.MainNetParams, Letter, 1, 1},
		{"2-of-3 sh-wsh testnet", descriptor.ScriptShWsh, 2, 3, &chaincfg.TestNet3Params, A4, 1, 1},
		// 15 keys: one version-33 code, but the page flows onto a second.
		{"15-of-15 sh", descriptor.ScriptSh, 15, 15, &chaincfg.MainNetParams, A4, 2, 1},
		// 20 keys (~2900 characters) need two codes.
		{"15-of-20 wsh", descriptor.ScriptWsh, 15, 20, &chaincfg.MainNetParams, A4, 3, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := testWallet(t, tc.script, tc.m, tc.n, tc.net)
			r, err := RenderResult(w, Options{Created: testDate, Paper: tc.paper})
			if err != nil {
				t.Fatal(err)
			}
			exported, err := formats.Export(w, formats.FormatDescriptor)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSpace(string(exported))
			if r.Descriptor != want {
				t.Fatalf("printed descriptor\n%s\nis not the exported one\n%s", r.Descriptor, want)
			}
			if r.Pages != tc.pages || len(r.QRParts) != tc.codes {
				t.Errorf("%d pages and %d QR codes, want %d and %d", r.Pages, len(r.QRParts), tc.pages, tc.codes)
			}
			dir := t.TempDir()
			pdf := filepath.Join(dir, "backup.pdf")
			if err := os.WriteFile(pdf, r.PDF, 0o600); err != nil {
				t.Fatal(err)
			}

			info := run(t, tools["pdfinfo"], pdf)
			wantSize := map[Paper]string{A4: "595.28 x 841.89 pts (A4)", Letter: "612 x 792 pts (letter)"}[tc.paper]
			if !strings.Contains(info, wantSize) || !strings.Contains(info, "Pages:") {
				t.Errorf("pdfinfo: want page size %s\n%s", wantSize, info)
			}

			run(t, tools["pdftoppm"], "-r", "150", "-png", pdf, filepath.Join(dir, "page"))
			pngs, _ := filepath.Glob(filepath.Join(dir, "page*.png"))
			slices.Sort(pngs)
			if len(pngs) != r.Pages {
				t.Fatalf("pdftoppm made %d pages, Render says %d", len(pngs), r.Pages)
			}
			var decoded []string
			for _, png := range pngs {
				out, err := exec.Command(tools["zbarimg"], "--raw", "-q", png).Output()
				if err != nil && len(out) == 0 {
					continue // zbarimg exits 4 on a page without a code
				}
				for _, ln := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
					if ln != "" {
						decoded = append(decoded, ln)
					}
				}
			}
			// zbarimg lists codes in no set order; each part is distinct.
			got := slices.Clone(decoded)
			slices.Sort(got)
			wantParts := slices.Clone(r.QRParts)
			slices.Sort(wantParts)
			if !slices.Equal(got, wantParts) {
				t.Fatalf("zbarimg decoded %d codes %q, want the %d parts %q", len(decoded), decoded, len(r.QRParts), r.QRParts)
			}
			if strings.Join(r.QRParts, "") != want {
				t.Fatalf("the parts do not join to the descriptor")
			}

			text := run(t, tools["pdftotext"], "-layout", pdf, "-")
			flat := strings.Join(strings.Fields(text), " ")
			for _, s := range []string{w.Name, Policy(w.Descriptor), "Birth height: 850123", "Printed 2026-05-01",
				"countersign wallet import", "Sparrow", "importdescriptors"} {
				if !strings.Contains(flat, s) {
					t.Errorf("pdftotext does not find %q", s)
				}
			}
			for i, k := range w.Descriptor.Keys {
				if fp := strings.ToLower(strings.TrimSpace(hexFP(k))); !strings.Contains(text, fp) {
					t.Errorf("pdftotext does not find cosigner %d's fingerprint %s", i+1, fp)
				}
				if !strings.Contains(text, w.Labels[i]) {
					t.Errorf("pdftotext does not find cosigner %d's label %q", i+1, w.Labels[i])
				}
			}
			for _, a := range r.Addresses {
				if !strings.Contains(text, a) {
					t.Errorf("pdftotext does not find address %s", a)
				}
			}
			if tc.net != &chaincfg.MainNetParams && !strings.Contains(flat, "TEST NETWORK") {
				t.Error("a testnet backup does not say so")
			}
		})
	}
}

func hexFP(k descriptor.Key) string {
	const digits = "0123456789abcdef"
	var b strings.Builder
	for _, c := range k.Origin.Fingerprint {
		b.WriteByte(digits[c>>4])
		b.WriteByte(digits[c&15])
	}
	return b.String()
}

// TestBackupHostileText prints a wallet whose name and labels carry
// control characters, PDF string syntax, other scripts and a huge length:
// the page still renders on one page, and the text shows the safe forms.
func TestBackupHostileText(t *testing.T) {
	tools := needTools(t)
	w := testWallet(t, descriptor.ScriptWsh, 2, 3, &chaincfg.MainNetParams)
	w.Name = "Zo\u00eb's (vault) \\) >> /JS \x1b[31m \U0001F680 " + strings.Repeat("long ", 80)
	w.Labels = []string{"a\nb\rc", "\u202eright-to-left", strings.Repeat("W", 300)}
	r, err := RenderResult(w, Options{Created: testDate})
	if err != nil {
		t.Fatal(err)
	}
	if r.Pages != 1 {
		t.Errorf("%d pages, want 1: long text must be cut, not flow", r.Pages)
	}
	pdf := filepath.Join(t.TempDir(), "b.pdf")
	if err := os.WriteFile(pdf, r.PDF, 0o600); err != nil {
		t.Fatal(err)
	}
	text := run(t, tools["pdftotext"], "-enc", "UTF-8", pdf, "-")
	for _, want := range []string{"Zo\u00eb's (vault) \\) >> /JS ?[31m ? long", "a?b?c", "?right-to-left", "WWW..."} {
		if !strings.Contains(text, want) {
			t.Errorf("pdftotext does not find %q in\n%s", want, text)
		}
	}
	if strings.ContainsAny(text, "\x1b\u202e") || strings.Contains(text, "\U0001F680") {
		t.Error("a control or non-Latin-1 character reached the page")
	}
}

// TestBackupWithoutLabelsOrOrigins prints a wallet whose keys have no
// labels and no origin (a descriptor of bare xpubs): the table says so
// instead of leaving blanks.
func TestBackupWithoutLabelsOrOrigins(t *testing.T) {
	tools := needTools(t)
	full := testWallet(t, descriptor.ScriptWsh, 2, 3, &chaincfg.MainNetParams)
	s := full.Descriptor.StringNoChecksum()
	for _, k := range full.Descriptor.Keys {
		origin := k.String()[:strings.IndexByte(k.String(), ']')+1]
		s = strings.Replace(s, origin, "", 1)
	}
	d, err := descriptor.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	r, err := RenderResult(&formats.Wallet{Descriptor: d, Network: &chaincfg.MainNetParams}, Options{Created: testDate})
	if err != nil {
		t.Fatal(err)
	}
	pdf := filepath.Join(t.TempDir(), "b.pdf")
	if err := os.WriteFile(pdf, r.PDF, 0o600); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(run(t, tools["pdftotext"], pdf, "-")), " ")
	for _, want := range []string{"(unnamed wallet)", "(no label)", "unknown (no key origin)", "Birth height: unknown", "wallet import NAME"} {
		if !strings.Contains(text, want) {
			t.Errorf("pdftotext does not find %q", want)
		}
	}
}
