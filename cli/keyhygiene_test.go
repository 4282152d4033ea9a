package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bip39Vector is the first published BIP-39 vector (passphrase "TREZOR"):
// the mnemonic and the master xprv it gives with that passphrase.
func bip39Vector(t *testing.T) (mnemonic, xprv string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "hw", "soft", "testdata", "bip39_vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Passphrase string     `json:"passphrase"`
		English    [][]string `json:"english"`
	}
	if err := json.Unmarshal(b, &v); err != nil || len(v.English) == 0 || v.Passphrase != "TREZOR" {
		t.Fatalf("bip39_vectors.json: %v", err)
	}
	return v.English[0][1], v.English[0][3]
}

func writeSecret(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f, mode); err != nil {
		t.Fatal(err)
	}
	return f
}

func keyFingerprint(t *testing.T, out string) string {
	t.Helper()
	var k keyInfoJSON
	mustJSON(t, out, &k)
	return k.Fingerprint
}

// TestBIP39PassphraseNeverAFlagValue: the BIP-39 passphrase comes from a
// file, the environment or the terminal; the old flag value is refused
// without being echoed, and the file form gives the published vector's key.
func TestBIP39PassphraseNeverAFlagValue(t *testing.T) {
	dir := t.TempDir()
	mnemonic, xprv := bip39Vector(t)
	words := writeSecret(t, mnemonic+"\n", 0o600)

	r := runCLI(t, dir, "", "key", "import", "a", "--secret-file", words, "--bip39-passphrase", "TREZOR")
	if r.Code != 2 || !strings.Contains(r.Err, "--bip39-passphrase-file") || strings.Contains(r.Err, "TREZOR") {
		t.Fatalf("--bip39-passphrase VALUE: exit %d: %s", r.Code, r.Err)
	}
	// The refused import stored nothing: the name "a" is still free below.

	pass := writeSecret(t, "TREZOR\n", 0o600)
	fromFile := keyFingerprint(t, mustRun(t, dir, "--json", "key", "import", "a", "--secret-file", words, "--bip39-passphrase-file", pass))
	fromXprv := keyFingerprint(t, mustRun(t, dir, "--json", "key", "import", "b", "--secret-file", writeSecret(t, xprv, 0o600)))
	if fromFile != fromXprv {
		t.Fatalf("mnemonic + TREZOR from a file gives fingerprint %s; the vector's xprv is %s", fromFile, fromXprv)
	}
	extraEnv = map[string]string{"COUNTERSIGN_BIP39_PASSPHRASE": "TREZOR"}
	t.Cleanup(func() { extraEnv = nil })
	if fromEnv := keyFingerprint(t, mustRun(t, dir, "--json", "key", "import", "c", "--secret-file", words)); fromEnv != fromXprv {
		t.Fatalf("mnemonic + TREZOR from the environment gives %s, want %s", fromEnv, fromXprv)
	}
	extraEnv = nil
	if none := keyFingerprint(t, mustRun(t, dir, "--json", "key", "import", "d", "--secret-file", words)); none == fromXprv {
		t.Fatal("the mnemonic without passphrase gives the passphrase's key")
	}
	// Asking needs a terminal.
	if r := runCLI(t, dir, "", "key", "import", "e", "--secret-file", words, "--ask-bip39-passphrase"); r.Code != 2 {
		t.Fatalf("--ask-bip39-passphrase without a terminal: exit %d: %s", r.Code, r.Err)
	}
}

// TestKeyPassphraseRules: a new key's passphrase has at least 10
// characters; a passphrase file other users can read is refused.
func TestKeyPassphraseRules(t *testing.T) {
	dir := t.TempDir()
	extraEnv = map[string]string{"COUNTERSIGN_PASSPHRASE": "x"}
	t.Cleanup(func() { extraEnv = nil })
	if r := runCLI(t, dir, "", "--network", "regtest", "key", "new", "short"); r.Code != 2 || !strings.Contains(r.Err, "at least 10") {
		t.Fatalf("one-character passphrase: exit %d: %s", r.Code, r.Err)
	}
	if r := runCLI(t, dir, "", "--network", "regtest", "key", "new", "short", "--passphrase-file", writeSecret(t, "nine char", 0o600)); r.Code != 2 {
		t.Fatalf("nine-character passphrase file: exit %d: %s", r.Code, r.Err)
	}
	extraEnv = nil

	open := writeSecret(t, "a long enough passphrase\n", 0o644)
	if r := runCLI(t, dir, "", "--network", "regtest", "key", "new", "k", "--passphrase-file", open); r.Code != 2 || !strings.Contains(r.Err, "chmod 600") {
		t.Fatalf("world-readable passphrase file: exit %d: %s", r.Code, r.Err)
	}
	group := writeSecret(t, "a long enough passphrase\n", 0o640)
	if r := runCLI(t, dir, "", "--network", "regtest", "key", "new", "k", "--passphrase-file", group); r.Code != 2 {
		t.Fatalf("group-readable passphrase file: exit %d: %s", r.Code, r.Err)
	}
	mine := writeSecret(t, "a long enough passphrase\n", 0o600)
	mustRun(t, dir, "--network", "regtest", "key", "new", "k", "--passphrase-file", mine)
	// An existing key opens with the passphrase it has, whatever its length.
	mustRun(t, dir, "key", "xpub", "k", "--path", "m/48h/1h/0h/2h", "--passphrase-file", mine)
}

// TestTwoKeysOneFingerprint: two different xpubs claiming one master
// fingerprint are refused at create and import, and nothing is stored.
func TestTwoKeysOneFingerprint(t *testing.T) {
	dir := t.TempDir()
	a, b, c := newTestCosigner(t, 1, 2), newTestCosigner(t, 2, 2), newTestCosigner(t, 3, 2)
	// b's key claimed under a's fingerprint.
	forged := "[" + a.FP + strings.TrimPrefix(b.Expr, "["+b.FP)
	r := runCLI(t, dir, "", "--network", "regtest", "wallet", "create", "w", "--threshold", "2",
		"--cosigner", a.Expr, "--cosigner", forged, "--cosigner", c.Expr)
	if r.Code != 2 || !strings.Contains(r.Err, "fingerprint "+a.FP) {
		t.Fatalf("create: exit %d: %s", r.Code, r.Err)
	}
	desc := "wsh(sortedmulti(2," + a.Expr + "/<0;1>/*," + forged + "/<0;1>/*," + c.Expr + "/<0;1>/*))"
	if r := runCLI(t, dir, "", "--network", "regtest", "wallet", "create", "w", "--descriptor", desc); r.Code != 2 {
		t.Fatalf("create --descriptor: exit %d: %s", r.Code, r.Err)
	}
	f := writeSecret(t, desc, 0o600)
	if r := runCLI(t, dir, "", "--network", "regtest", "wallet", "import", "w", "--file", f); r.Code != 2 {
		t.Fatalf("import: exit %d: %s", r.Code, r.Err)
	}
	if r := runCLI(t, dir, "", "wallet", "show", "w"); r.Code != 3 {
		t.Fatalf("a refused wallet was stored: wallet show exit %d", r.Code)
	}
}

// TestFailedImportStoresNothing: a descriptor that parses but cannot
// derive (a hardened step after the xpub) is refused before anything is
// stored or printed as imported; the name stays free.
func TestFailedImportStoresNothing(t *testing.T) {
	dir := t.TempDir()
	a, b, c := newTestCosigner(t, 1, 2), newTestCosigner(t, 2, 2), newTestCosigner(t, 3, 2)
	bad := "wsh(sortedmulti(2," + a.Expr + "/<0;1>/*h," + b.Expr + "/<0;1>/*h," + c.Expr + "/<0;1>/*h))"
	f := writeSecret(t, bad, 0o600)
	r := runCLI(t, dir, "", "--network", "regtest", "wallet", "import", "w", "--file", f)
	if r.Code != 2 || strings.Contains(r.Out+r.Err, "Imported") {
		t.Fatalf("import of an underivable descriptor: exit %d\nstdout %s\nstderr %s", r.Code, r.Out, r.Err)
	}
	if r := runCLI(t, dir, "", "wallet", "show", "w"); r.Code != 3 {
		t.Fatalf("the failed import left a wallet: exit %d: %s", r.Code, r.Err)
	}
	good := writeSecret(t, "wsh(sortedmulti(2,"+a.Expr+"/<0;1>/*,"+b.Expr+"/<0;1>/*,"+c.Expr+"/<0;1>/*))", 0o600)
	mustRun(t, dir, "--network", "regtest", "wallet", "import", "w", "--file", good)
	mustRun(t, dir, "wallet", "show", "w")
}
