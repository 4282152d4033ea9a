package cli

import (
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/countersign/countersign/wallet"
)

// newDescriptorWallet stores a 2-of-3 wsh regtest wallet "w" from a
// descriptor (no node), with its keys k1..k3.
func newDescriptorWallet(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	desc, cs := testDescriptor(t, "wsh", 2, 3)
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "w", "--descriptor", desc)
	importTestKeys(t, dir, cs)
	return dir
}

// TestLabelCommands: BIP-329's examples round-trip through import and
// export; label set guesses the type, refuses what is not a reference,
// and label list escapes hostile text.
func TestLabelCommands(t *testing.T) {
	dir := newDescriptorWallet(t)
	vectors := filepath.Join("..", "internal", "bip329", "testdata", "bip-0329-examples.jsonl")
	want, err := os.ReadFile(vectors)
	if err != nil {
		t.Fatalf("BIP-329 vectors: %v", err)
	}
	mustRun(t, dir, "label", "import", vectors)
	out := filepath.Join(t.TempDir(), "labels.jsonl")
	mustRun(t, dir, "label", "export", "-o", out)
	got, _ := os.ReadFile(out)
	if !reflect.DeepEqual(jsonObjects(t, got), jsonObjects(t, want)) {
		t.Fatalf("round trip:\n%s", got)
	}
	if r := runCLI(t, dir, "", "--json", "label", "export"); r.Code != 2 {
		t.Fatalf("label export --json without -o: exit %d", r.Code)
	}
	var l labelJSON
	mustJSON(t, mustRun(t, dir, "--json", "label", "set", strings.Repeat("ab", 32)+":3", "coin"), &l)
	if l.Type != "output" || l.Wallet != "w" {
		t.Fatalf("label set of an outpoint: %+v", l)
	}
	mustJSON(t, mustRun(t, dir, "--json", "label", "set", "wallet", "operating account"), &l)
	if l.Type != "wallet" || l.Ref != "w" {
		t.Fatalf("label set wallet: %+v", l)
	}
	if r := runCLI(t, dir, "", "label", "set", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "x"); r.Code != 2 {
		t.Fatalf("a mainnet address in a regtest wallet: exit %d %s", r.Code, r.Err)
	}
	mustRun(t, dir, "label", "set", strings.Repeat("cd", 32), "evil\x1b[2J\rReady to finalize: yes")
	if text := mustRun(t, dir, "label", "list"); strings.Contains(text, "\x1b") || strings.Contains(text, "\r") {
		t.Fatalf("label list printed control characters: %q", text)
	}
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte("{\"type\":\"tx\",\"ref\":\"a\"}\nnot json\n"), 0o600)
	if r := runCLI(t, dir, "", "label", "import", bad); r.Code != 2 || !strings.Contains(r.Err, "line 2") {
		t.Fatalf("import of a broken file: exit %d %s", r.Code, r.Err)
	}
}

// TestPolicyCommands: flags merge into the stored policy, --clear starts
// over, bad values are usage errors.
func TestPolicyCommands(t *testing.T) {
	dir := newDescriptorWallet(t)
	var p policyJSON
	mustJSON(t, mustRun(t, dir, "--json", "policy", "set", "w", "--per-tx-limit", "0.5", "--daily-limit", "150000000sat"), &p)
	if p.PerTxLimit != 50_000_000 || p.DailyLimit != 150_000_000 || len(p.AllowList) != 0 {
		t.Fatalf("policy %+v", p)
	}
	mustJSON(t, mustRun(t, dir, "--json", "policy", "set", "w", "--min-signatures", "3", "--above", "0.1"), &p)
	if p.PerTxLimit != 50_000_000 || p.MinSignatures != 3 || p.MinSignaturesAbove != 10_000_000 {
		t.Fatalf("policy after a second set: %+v", p)
	}
	mustJSON(t, mustRun(t, dir, "--json", "policy", "set", "w", "--per-tx-limit", "none"), &p)
	if p.PerTxLimit != 0 || p.DailyLimit == 0 {
		t.Fatalf("policy after removing a limit: %+v", p)
	}
	for _, args := range [][]string{
		{"policy", "set", "w", "--above", "1"},
		{"policy", "set", "w", "--no-allow-list", "--allow", "x"},
		{"policy", "set", "w", "--per-tx-limit", "lots"},
		{"policy", "set", "w", "--allow", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"},
		{"policy", "set", "w", "--min-signatures", "4"},
	} {
		if r := runCLI(t, dir, "", args...); r.Code != 2 {
			t.Errorf("%v: exit %d %s", args, r.Code, r.Err)
		}
	}
	p = policyJSON{}
	mustJSON(t, mustRun(t, dir, "--json", "policy", "set", "w", "--clear"), &p)
	if p.DailyLimit != 0 || p.MinSignatures != 0 || p.UpdatedAt != "" {
		t.Fatalf("policy after --clear: %+v", p)
	}
	if r := runCLI(t, dir, "", "policy", "show", "nope"); r.Code != 3 {
		t.Fatalf("policy of no wallet: exit %d", r.Code)
	}
}

// TestJournalCommands: the journal verifies, records --operator, refuses
// signers that are not software keys, and names an entry edited by hand
// (exit 4).
func TestJournalCommands(t *testing.T) {
	dir := newDescriptorWallet(t)
	mustRun(t, dir, "--operator", "carol", "address", "w")
	var es []journalEntryJSON
	mustJSON(t, mustRun(t, dir, "--json", "journal", "w", "--since", "2000-01-01"), &es)
	if len(es) != 2 || es[1].Operator != "carol" || es[1].Action != wallet.ActionAddressIssue {
		t.Fatalf("journal %+v", es)
	}
	mustJSON(t, mustRun(t, dir, "--json", "journal", "--since", "2999-01-01"), &es)
	if len(es) != 0 {
		t.Fatalf("entries from the future: %+v", es)
	}
	mustRun(t, dir, "journal", "verify")
	if r := runCLI(t, dir, "", "journal", "sign", "--with", "coldcard", "--yes"); r.Code != 2 {
		t.Fatalf("journal sign with a device: exit %d", r.Code)
	}
	if r := runCLI(t, dir, "", "journal", "--since", "yesterday"); r.Code != 2 {
		t.Fatalf("--since yesterday: exit %d", r.Code)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, wallet.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"DROP TRIGGER journal_no_update", "UPDATE journal SET at = at + 1 WHERE id = 1"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	r := runCLI(t, dir, "", "--json", "journal", "verify")
	var v journalVerifyJSON
	mustJSON(t, r.Out, &v)
	if r.Code != 4 || v.OK || v.BrokenEntry != 1 {
		t.Fatalf("after an edit: exit %d %+v", r.Code, v)
	}
}
