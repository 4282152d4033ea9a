package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// These tests check the flags of the backup and BSMS commands end to end.
// The BIP-129 files are used as fixtures, as a signer would send them;
// the vectors themselves are checked in descriptor/formats and
// coordinator.

// bip129Fixtures reads the BIP-129 test vector files of one mode (by
// heading prefix) from the repository's copy: file name -> content, and
// the coordinator's fields.
func bip129Fixtures(t *testing.T, mode string) (map[string]string, map[string][]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "descriptor", "formats", "testdata", "bip129", "bip129.json"))
	if err != nil {
		t.Fatalf("BIP-129 vectors: %v", err)
	}
	var v struct {
		Modes []struct {
			Heading string `json:"mode_heading"`
			Rounds  []struct {
				Entries []struct {
					Party  string
					Fields []struct{ Key, Value string }
					Files  []struct{ Name, Content string }
				}
			}
		} `json:"modes"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	files, fields := map[string]string{}, map[string][]string{}
	for _, m := range v.Modes {
		if !strings.HasPrefix(m.Heading, "Mode: "+mode) {
			continue
		}
		for _, r := range m.Rounds {
			for _, e := range r.Entries {
				for _, f := range e.Files {
					files[f.Name] = f.Content
				}
				if e.Party == "Coordinator" {
					for _, f := range e.Fields {
						fields[f.Key] = append(fields[f.Key], f.Value)
					}
				}
			}
		}
	}
	if len(files) == 0 {
		t.Fatalf("no BIP-129 mode %q", mode)
	}
	return files, fields
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBSMSSetupCLI runs a STANDARD BSMS setup as a coordinator would:
// round 1, the signers' encrypted key records verified with the token
// from a file (decimal form); round 2, the encrypted descriptor record
// (the BIP's own file, byte for byte) read back with the six-word token.
// Missing and wrong tokens are refused with exit 2 and a hint.
func TestBSMSSetupCLI(t *testing.T) {
	files, fields := bip129Fixtures(t, "STANDARD")
	dir, work := t.TempDir(), t.TempDir()
	writeFiles(t, work, files)
	tok := filepath.Join(work, "token.txt")
	os.WriteFile(tok, []byte("# the setup's token, as the coordinator showed it\n"+fields["TOKEN (decimal)"][0]+"\n"), 0o600)

	r := runCLI(t, dir, "", "wallet", "create", "v", "--threshold", "2",
		"--bsms-record", filepath.Join(work, "signer_1_key.dat"), "--bsms-record", filepath.Join(work, "signer_2_key.dat"))
	if r.Code != ExitBadInput || !strings.Contains(r.Err, "--bsms-token") {
		t.Fatalf("create without the token: exit %d: %s", r.Code, r.Err)
	}
	var w walletJSON
	out := mustRun(t, dir, "--json", "wallet", "create", "v", "--threshold", "2", "--bsms-token-file", tok,
		"--bsms-record", filepath.Join(work, "signer_1_key.dat"), "--bsms-record", filepath.Join(work, "signer_2_key.dat"))
	mustJSON(t, out, &w)
	if w.Network != "mainnet" || w.Policy != "2 of 2" || w.Cosigners[0].Label != "Signer 1 key" && w.Cosigners[1].Label != "Signer 1 key" {
		t.Fatalf("wallet from the key records: %+v", w)
	}
	// An altered record is refused.
	bad := filepath.Join(work, "bad.bsms")
	os.WriteFile(bad, []byte(strings.Replace(files["signer_1_key.bsms"], "Signer 1 key", "Signer 7 key", 1)), 0o600)
	if r := runCLI(t, dir, "", "wallet", "create", "x", "--threshold", "1", "--bsms-record", bad, "--bsms-token-file", tok); r.Code != ExitBadInput || !strings.Contains(r.Err, "signature") {
		t.Fatalf("altered record: exit %d: %s", r.Code, r.Err)
	}

	dat := filepath.Join(work, "round2.dat")
	mustRun(t, dir, "wallet", "export", "v", "--format", "bsms", "--encrypt", "0x"+fields["TOKEN (hex)"][0], "-o", dat)
	if got := readFile(t, dat); got != files["my_multisig_wallet.dat"] {
		t.Fatalf("round-2 record:\n%s\nwant the BIP's\n%s", got, files["my_multisig_wallet.dat"])
	}
	if r := runCLI(t, dir, "", "wallet", "import", "back", "--file", dat); r.Code != ExitBadInput || !strings.Contains(r.Err, "hint: pass the setup's token") {
		t.Fatalf("import without token: exit %d: %s", r.Code, r.Err)
	}
	if r := runCLI(t, dir, "", "wallet", "import", "back", "--file", dat, "--bsms-token", "0000000000000001"); r.Code != ExitBadInput {
		t.Fatalf("import with a wrong token: exit %d: %s", r.Code, r.Err)
	}
	var back walletJSON
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "import", "back", "--file", dat, "--bsms-token", fields["TOKEN (mnemonic)"][0]), &back)
	plain := files["my_multisig_wallet.bsms"]
	if back.Descriptor != w.Descriptor || back.FirstAddress != plain[strings.LastIndex(plain, "\n")+1:] {
		t.Fatalf("read back: %+v", back)
	}
}

// TestBSMSExtendedCLI: one token per signer, one record file each, each
// the BIP's file for that signer.
func TestBSMSExtendedCLI(t *testing.T) {
	files, fields := bip129Fixtures(t, "EXTENDED")
	dir, work := t.TempDir(), t.TempDir()
	writeFiles(t, work, files)
	var toks []string
	for i := 1; i <= 3; i++ {
		toks = append(toks, fields["TOKEN for Signer "+string(rune('0'+i))+" (hex)"][0])
	}
	tokFile := filepath.Join(work, "tokens.txt")
	os.WriteFile(tokFile, []byte(strings.Join(toks, "\n")), 0o600)
	args := []string{"wallet", "create", "v", "--threshold", "2", "--script", "sh-wsh", "--unsorted", "--bsms-token-file", tokFile}
	for i := 1; i <= 3; i++ {
		args = append(args, "--bsms-record", filepath.Join(work, "signer_"+string(rune('0'+i))+"_key.dat"))
	}
	mustRun(t, dir, args...)
	if r := runCLI(t, dir, "", "wallet", "export", "v", "--format", "bsms", "--encrypt-file", tokFile); r.Code != ExitBadInput {
		t.Fatalf("three tokens without -o: exit %d", r.Code)
	}
	var ex exportJSON
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "export", "v", "--format", "bsms", "--encrypt-file", tokFile, "-o", filepath.Join(work, "out.dat")), &ex)
	if len(ex.Files) != 3 {
		t.Fatalf("files %v", ex.Files)
	}
	for i, f := range ex.Files {
		want := files["my_multisig_wallet_for_signer_"+string(rune('1'+i))+".dat"]
		if got := readFile(t, f); got != want {
			t.Fatalf("%s is not the BIP's record for signer %d", f, i+1)
		}
	}
	if ex.Files[1] != filepath.Join(work, "out-2.dat") {
		t.Fatalf("second file %s", ex.Files[1])
	}
}

// TestBSMSTokenCLI: tokens made by `bsms token` encrypt a record that
// reads back with the decimal form.
func TestBSMSTokenCLI(t *testing.T) {
	dir := t.TempDir()
	var std bsmsTokenJSON
	mustJSON(t, mustRun(t, dir, "--json", "bsms", "token"), &std)
	if std.Mode != "STANDARD" || len(std.Tokens) != 1 || len(std.Tokens[0].Hex) != 16 || len(strings.Fields(std.Tokens[0].Words)) != 6 {
		t.Fatalf("%+v", std)
	}
	var ext bsmsTokenJSON
	mustJSON(t, mustRun(t, dir, "--json", "bsms", "token", "--signers", "3"), &ext)
	if ext.Mode != "EXTENDED" || len(ext.Tokens) != 3 || len(ext.Tokens[2].Hex) != 32 || ext.Tokens[0].Words != "" {
		t.Fatalf("%+v", ext)
	}
	desc, _ := testDescriptor(t, "wsh", 2, 3)
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "w", "--descriptor", desc)
	dat := filepath.Join(t.TempDir(), "w.dat")
	mustRun(t, dir, "wallet", "export", "w", "--format", "bsms", "--encrypt", std.Tokens[0].Hex, "-o", dat)
	mustRun(t, dir, "--network", "regtest", "wallet", "import", "w2", "--file", dat, "--bsms-token", std.Tokens[0].Decimal)
	a, b := mustRun(t, dir, "wallet", "export", "w", "--format", "descriptor"), mustRun(t, dir, "wallet", "export", "w2", "--format", "descriptor")
	if a != b {
		t.Fatalf("%s\n%s", a, b)
	}
	if r := runCLI(t, dir, "", "bsms", "token", "--signers", "21"); r.Code != ExitBadInput {
		t.Fatalf("21 signers: exit %d", r.Code)
	}
}

// TestExportPDFCLI: `wallet export --format pdf` renders the backup; the
// page, rendered by Debian's poppler-utils, holds QR codes that Debian's
// zbarimg decodes to exactly the descriptor `wallet export --format
// descriptor` writes.
func TestExportPDFCLI(t *testing.T) {
	tools := map[string]string{}
	for tool, pkg := range map[string]string{"pdftoppm": "poppler-utils", "zbarimg": "zbar-tools"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			if os.Getenv("COUNTERSIGN_REQUIRE_INTEROP") == "1" {
				t.Fatalf("%s is not installed (Debian package %s) and COUNTERSIGN_REQUIRE_INTEROP=1", tool, pkg)
			}
			t.Skipf("%s is not installed: apt-get install poppler-utils zbar-tools", tool)
		}
		tools[tool] = p
	}
	for _, tc := range []struct {
		script string
		m, n   int
		paper  string
	}{{"wsh", 2, 3, ""}, {"sh-wsh", 3, 5, "Letter"}} {
		dir, work := t.TempDir(), t.TempDir()
		desc, _ := testDescriptor(t, tc.script, tc.m, tc.n)
		mustRun(t, dir, "--network", "regtest", "wallet", "create", "family", "--descriptor", desc)
		pdf := filepath.Join(work, "backup.pdf")
		args := []string{"--json", "wallet", "export", "family", "--format", "pdf", "-o", pdf}
		if tc.paper != "" {
			args = append(args, "--paper", tc.paper)
		}
		var ex exportJSON
		mustJSON(t, mustRun(t, dir, args...), &ex)
		want := strings.TrimSpace(mustRun(t, dir, "wallet", "export", "family", "--format", "descriptor"))
		if ex.Content != want || ex.Pages != 1 || ex.File != pdf {
			t.Fatalf("export: %+v, want descriptor %s", ex, want)
		}
		if out, err := exec.Command(tools["pdftoppm"], "-r", "150", "-png", pdf, filepath.Join(work, "page")).CombinedOutput(); err != nil {
			t.Fatalf("pdftoppm: %v\n%s", err, out)
		}
		pngs, _ := filepath.Glob(filepath.Join(work, "page*.png"))
		if len(pngs) != 1 {
			t.Fatalf("pages: %v", pngs)
		}
		out, err := exec.Command(tools["zbarimg"], "--raw", "-q", pngs[0]).Output()
		if err != nil {
			t.Fatalf("zbarimg: %v", err)
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Fatalf("the QR code decodes to\n%s\nwant the exported descriptor\n%s", got, want)
		}
		// And it restores the wallet.
		restored := t.TempDir()
		mustRun(t, restored, "--network", "regtest", "wallet", "import", "family", "--file", writeTemp(t, string(out)))
		if got := strings.TrimSpace(mustRun(t, restored, "wallet", "export", "family", "--format", "descriptor")); got != want {
			t.Fatalf("restored %s", got)
		}
	}
	dir := t.TempDir()
	desc, _ := testDescriptor(t, "wsh", 2, 3)
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "w", "--descriptor", desc)
	if r := runCLI(t, dir, "", "wallet", "export", "w", "--format", "pdf", "--paper", "A3", "-o", filepath.Join(t.TempDir(), "x.pdf")); r.Code != ExitBadInput {
		t.Fatalf("paper A3: exit %d: %s", r.Code, r.Err)
	}
	if r := runCLI(t, dir, "", "wallet", "export", "w", "--format", "descriptor", "--paper", "A4"); r.Code != ExitBadInput {
		t.Fatalf("--paper without pdf: exit %d", r.Code)
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBSMSRecordCLI: software keys make their own round-1 key records
// (bsms record), which the coordinator's wallet create --bsms-record
// verifies and turns into the wallet of exactly those keys; without
// encryption the record is the BIP's five plain lines; a token that reads
// two ways is refused.
func TestBSMSRecordCLI(t *testing.T) {
	dir, work := t.TempDir(), t.TempDir()
	cs := []testCosigner{newTestCosigner(t, 0x51, 2), newTestCosigner(t, 0x52, 2)}
	importTestKeys(t, dir, cs)
	const token = "0x1f7c5a3bd9e2a681"
	var recs []string
	for i := range cs {
		f := filepath.Join(work, fmt.Sprintf("k%d.dat", i+1))
		var r struct {
			Key       string `json:"key"`
			Encrypted bool   `json:"encrypted"`
		}
		mustJSON(t, mustRun(t, dir, "--json", "bsms", "record", "--with", fmt.Sprintf("key:k%d", i+1), "--token", token,
			"--description", fmt.Sprintf("laptop %d", i+1), "-o", f), &r)
		if want := strings.NewReplacer("h/", "'/", "h]", "']").Replace(cs[i].Expr); r.Key != want || !r.Encrypted {
			t.Fatalf("record of k%d: key %s (encrypted %v), want %s", i+1, r.Key, r.Encrypted, want)
		}
		recs = append(recs, "--bsms-record", f)
	}
	var w walletJSON
	mustJSON(t, mustRun(t, dir, append([]string{"--json", "--network", "regtest", "wallet", "create", "v", "--threshold", "2", "--bsms-token", token}, recs...)...), &w)
	for _, c := range cs {
		if !strings.Contains(w.Descriptor, strings.TrimPrefix(c.Expr, "[")[9:]) {
			t.Fatalf("wallet %s lacks key %s", w.Descriptor, c.Expr)
		}
	}
	if w.Policy != "2 of 2" {
		t.Fatalf("wallet from the records: %+v", w)
	}

	plain := mustRun(t, dir, "bsms", "record", "--with", "key:k1", "--token", "00", "--script", "tr")
	if lines := strings.Split(strings.TrimSpace(plain), "\n"); len(lines) != 5 || lines[0] != "BSMS 1.0" || lines[1] != "00" || !strings.Contains(lines[2], "/48'/1'/0'/3']tpub") {
		t.Fatalf("plain taproot record:\n%s", plain)
	}
	if r := runCLI(t, dir, "", "bsms", "record", "--with", "key:k1", "--token", "1234567890123456"); r.Code != ExitBadInput || !strings.Contains(r.Err, "reads as hex and as a decimal") {
		t.Fatalf("ambiguous token: exit %d: %s", r.Code, r.Err)
	}
	if r := runCLI(t, dir, "", "bsms", "record", "--with", "coldcard", "--token", "00"); r.Code != ExitBadInput {
		t.Fatalf("a device: exit %d: %s", r.Code, r.Err)
	}
}
