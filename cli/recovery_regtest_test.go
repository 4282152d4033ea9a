package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/regtest"
)

// TestRecoveryFromEveryBackupRegtest: a wallet that has received coins
// (with a gap among its addresses), spent with change and received again
// is backed up in every format countersign writes. Each backup alone,
// imported into an empty data directory and synced with --full, gives
// back the same coins, the same history and the same next receive and
// change indexes; the PDF backup too, read back through its QR code with
// zbarimg.
func TestRecoveryFromEveryBackupRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	dir, work := t.TempDir(), t.TempDir()
	desc, cs := testDescriptor(t, "sh-wsh", 2, 3)
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "w", "--descriptor", desc, "--birth-height", "1")
	mustRun(t, dir, "backend", "set", node.RPCURL())
	importTestKeys(t, dir, cs[:2])
	var addrs []string
	for range 4 {
		addrs = append(addrs, mustRun(t, dir, "address", "w"))
	}
	fundAddress(t, node, addrs[0], 20_000_000)
	fundAddress(t, node, addrs[1], 30_000_000)
	fundAddress(t, node, addrs[3], 40_000_000) // index 2 stays unused
	mine(t, node)
	mustRun(t, dir, "wallet", "sync", "w")
	pay := filepath.Join(work, "pay.psbt")
	mustRun(t, dir, "spend", "w", "--to", node.Address().EncodeAddress()+":0.45", "--fee-rate", "3", "-o", pay)
	signAndSend(t, dir, pay, "k1", "k2")
	mine(t, node)
	fundAddress(t, node, addrs[1], 1_000_000) // an address used twice
	mine(t, node)
	orig := syncWallet(t, dir, node.RPCURL(), "w")
	if orig.NextReceive != 4 || orig.NextChange != 1 || orig.UTXOs < 3 {
		t.Fatalf("original wallet: %+v", orig)
	}
	origUTXOs := mustRun(t, dir, "--json", "wallet", "utxos", "w")
	origHistory := historyWithoutSeenAt(t, mustRun(t, dir, "--json", "wallet", "history", "w"))

	token := "0x0123456789abcdef"
	backups := map[string][]string{} // name -> extra import flags
	for _, f := range []string{"descriptor", "core", "coldcard", "caravan", "specter", "bsms"} {
		mustRun(t, dir, "wallet", "export", "w", "--format", f, "-o", filepath.Join(work, "w."+f))
		backups[f] = nil
	}
	mustRun(t, dir, "wallet", "export", "w", "--format", "bsms", "--encrypt", token, "-o", filepath.Join(work, "w.bsms-encrypted"))
	backups["bsms-encrypted"] = []string{"--bsms-token", token}
	if qr, ok := pdfQRBackup(t, dir, work); ok {
		backups["pdf-qr"] = nil
		if err := os.WriteFile(filepath.Join(work, "w.pdf-qr"), []byte(qr), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	for name, flags := range backups {
		t.Run(name, func(t *testing.T) {
			fresh := t.TempDir()
			args := append([]string{"--network", "regtest", "wallet", "import", "w", "--file", filepath.Join(work, "w."+name)}, flags...)
			mustRun(t, fresh, args...)
			mustRun(t, fresh, "backend", "set", node.RPCURL())
			got := syncWallet(t, fresh, node.RPCURL(), "w", "--full")
			if got.NextReceive != orig.NextReceive || got.NextChange != orig.NextChange || got.Confirmed != orig.Confirmed || got.UTXOs != orig.UTXOs {
				t.Fatalf("restored %+v\noriginal %+v", got, orig)
			}
			if u := mustRun(t, fresh, "--json", "wallet", "utxos", "w"); u != origUTXOs {
				t.Fatalf("coins differ:\n%s\n%s", u, origUTXOs)
			}
			// seen_at is when this store first saw a transaction: the
			// restore's own time, not part of what a backup restores.
			if h := historyWithoutSeenAt(t, mustRun(t, fresh, "--json", "wallet", "history", "w")); h != origHistory {
				t.Fatalf("history differs:\n%s\n%s", h, origHistory)
			}
			// The next address handed out is the one after the last used.
			if a := mustRun(t, fresh, "address", "w"); a == addrs[3] || strings.TrimSpace(a) == "" {
				t.Fatalf("restored wallet hands out %s", a)
			}
		})
	}
}

// pdfQRBackup exports the PDF backup and reads its QR code back with
// poppler-utils and zbar-tools, as someone restoring from paper would
// with a phone; false when the tools are missing (a failure under
// COUNTERSIGN_REQUIRE_INTEROP=1).
func pdfQRBackup(t *testing.T, dir, work string) (string, bool) {
	t.Helper()
	for _, tool := range []string{"pdftoppm", "zbarimg"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("COUNTERSIGN_REQUIRE_INTEROP") == "1" {
				t.Fatalf("%s is not installed and COUNTERSIGN_REQUIRE_INTEROP=1 (apt-get install poppler-utils zbar-tools)", tool)
			}
			t.Logf("%s is not installed: the PDF backup is not restored here", tool)
			return "", false
		}
	}
	pdf := filepath.Join(work, "w.pdf")
	mustRun(t, dir, "wallet", "export", "w", "--format", "pdf", "-o", pdf)
	if out, err := exec.Command("pdftoppm", "-r", "150", "-png", "-singlefile", pdf, filepath.Join(work, "w-page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	out, err := exec.Command("zbarimg", "--raw", "-q", filepath.Join(work, "w-page.png")).Output()
	if err != nil {
		t.Fatalf("zbarimg: %v", err)
	}
	return string(out), true
}

// historyWithoutSeenAt is `wallet history --json` without its seen_at
// fields, re-encoded for comparison.
func historyWithoutSeenAt(t *testing.T, out string) string {
	t.Helper()
	var rows []map[string]any
	mustJSON(t, out, &rows)
	for _, r := range rows {
		delete(r, "seen_at")
	}
	b, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
