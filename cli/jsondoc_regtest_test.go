package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/countersign/countersign/internal/nostrrelay"
	"github.com/countersign/countersign/internal/regtest"
)

// documentedFields reads docs/json.md: for each "### command" section, the
// backticked field names of its table that are not marked optional.
func documentedFields(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "docs", "json.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	var cur string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "### ") {
			cur = strings.TrimPrefix(line, "### ")
			out[cur] = nil
			continue
		}
		if cur == "" || !strings.HasPrefix(line, "| `") {
			continue
		}
		cols := strings.Split(line, "|")
		if len(cols) < 3 || strings.Contains(cols[2], "*optional*") {
			continue
		}
		out[cur] = append(out[cur], strings.Trim(strings.TrimSpace(cols[1]), "`"))
	}
	return out
}

// hasField checks a documented path such as "cosigners[].fingerprint" or
// "[].index" in decoded JSON.
func hasField(v any, path string) bool {
	if path == "" {
		return true
	}
	if strings.HasPrefix(path, "[]") {
		arr, ok := v.([]any)
		if !ok || len(arr) == 0 {
			return false
		}
		return hasField(arr[0], strings.TrimPrefix(strings.TrimPrefix(path, "[]"), "."))
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return false
	}
	name, rest, _ := strings.Cut(path, ".")
	isArr := strings.HasSuffix(name, "[]")
	name = strings.TrimSuffix(name, "[]")
	child, ok := obj[name]
	if !ok {
		return false
	}
	if isArr {
		return hasField(child, "[]."+rest)
	}
	return hasField(child, rest)
}

// TestJSONDocumented runs every command docs/json.md documents and checks
// that each documented field is present.
func TestJSONDocumented(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest test")
	}
	docs := documentedFields(t)
	node := regtest.Start(t)
	ctx := context.Background()
	sock, fp := startColdcard(t, mnemonicA, node.Params(), nil)
	extraEnv = map[string]string{"COUNTERSIGN_EMULATORS": "1", "COUNTERSIGN_COLDCARD_SOCKET": sock}
	t.Cleanup(func() { extraEnv = nil })
	dir := t.TempDir()
	work := t.TempDir()

	cs := []testCosigner{newTestCosigner(t, 1, 2), newTestCosigner(t, 2, 2)}
	importTestKeys(t, dir, cs)
	got := map[string]string{}
	run := func(key string, args ...string) string {
		t.Helper()
		out := mustRun(t, dir, append([]string{"--json"}, args...)...)
		got[key] = out
		return out
	}
	run("key list", "key", "list")
	run("key xpub", "key", "xpub", "k1", "--path", "m/48h/1h/0h/2h")
	run("device list", "device", "list")
	run("wallet show", "--network", "regtest", "wallet", "create", "w", "--threshold", "2", "--device", "key:k1", "--device", "key:k2", "--device", "coldcard:"+fp)
	run("wallet list", "wallet", "list")
	run("device register", "device", "register", "w", "--with", "coldcard:"+fp)
	run("device address", "device", "address", "w", "--with", "coldcard:"+fp, "--index", "3")
	var w walletJSON
	json.Unmarshal([]byte(run("wallet show", "wallet", "show", "w")), &w)
	run("descriptor check", "descriptor", "check", w.Descriptor)
	run("descriptor derive", "descriptor", "derive", w.Descriptor, "--network", "regtest", "--count", "2")
	run("wallet export", "wallet", "export", "w", "--format", "bsms")
	run("bsms token", "bsms", "token")
	run("bsms record", "bsms", "record", "--with", "key:k1", "--token", "00")
	run("backend check", "--backend", node.RPCURL(), "backend", "check")
	run("backend set", "backend", "set", node.RPCURL())
	var a addressJSON
	json.Unmarshal([]byte(run("address", "address", "w")), &a)
	addr, _ := btcutil.DecodeAddress(a.Address, node.Params())
	node.Fund(ctx, addr, 10_000_000)
	node.Mine(ctx, 1)
	run("wallet sync", "wallet", "sync", "w")
	run("wallet balance", "wallet", "balance", "w")
	run("wallet utxos", "wallet", "utxos", "w")
	run("wallet history", "wallet", "history", "w")
	unsigned := filepath.Join(work, "u.psbt")
	var spent struct {
		DraftID string `json:"draft_id"`
	}
	json.Unmarshal([]byte(run("spend", "spend", "w", "--to", node.Address().EncodeAddress()+":0.05", "--fee-rate", "2", "-o", unsigned)), &spent)
	// The relay commands, on a real relay: the draft sent to k1's own
	// Nostr key (listed as cosigner "self") and received back.
	relayURL := nostrrelay.Start(t)
	var np struct {
		Npub string `json:"npub"`
	}
	json.Unmarshal([]byte(run("key npub", "key", "npub", "k1")), &np)
	run("wallet relay set", "wallet", "relay", "set", "w", "--relay", relayURL, "--key", "k1", "--cosigner", "self="+np.Npub)
	run("wallet relay show", "wallet", "relay", "show", "w")
	run("psbt send", "psbt", "send", spent.DraftID, "--to", "self")
	if out := run("psbt receive", "psbt", "receive", "w"); !strings.Contains(out, `"merged"`) {
		t.Errorf("psbt receive of the draft sent to self: %s", out)
	}
	run("psbt inspect", "psbt", "inspect", unsigned)
	run("psbt update", "psbt", "update", unsigned, "-o", filepath.Join(work, "updated.psbt"))
	run("psbt convert", "psbt", "convert", unsigned, "--to", "v2", "-o", filepath.Join(work, "v2.psbt"))
	s1, s2, c := filepath.Join(work, "1.psbt"), filepath.Join(work, "2.psbt"), filepath.Join(work, "c.psbt")
	run("sign", "sign", unsigned, "--with", "key:k1", "--yes", "-o", s1)
	mustRun(t, dir, "sign", unsigned, "--with", "coldcard:"+fp, "-o", s2)
	run("psbt combine", "psbt", "combine", s1, s2, "-o", c)
	run("psbt finalize", "psbt", "finalize", c, "-o", filepath.Join(work, "tx"))
	run("psbt broadcast", "psbt", "broadcast", filepath.Join(work, "tx"))
	var sent struct {
		TxID string `json:"txid"`
	}
	json.Unmarshal([]byte(got["psbt broadcast"]), &sent)
	var listed []struct {
		ID string `json:"id"`
	}
	json.Unmarshal([]byte(run("psbt list", "psbt", "list", "w", "--all")), &listed)
	if len(listed) == 0 {
		t.Fatal("psbt list lists nothing after a spend")
	}
	run("psbt show", "psbt", "show", listed[0].ID, "-o", filepath.Join(work, "show.psbt"))
	run("psbt bump", "psbt", "bump", sent.TxID, "--fee-rate", "10", "-o", filepath.Join(work, "bump.psbt"))
	var cancel struct {
		Draft string `json:"draft_id"`
	}
	json.Unmarshal([]byte(run("psbt cancel", "psbt", "cancel", sent.TxID, "-o", filepath.Join(work, "cancel.psbt"))), &cancel)
	run("psbt abandon", "psbt", "abandon", cancel.Draft)
	run("label set", "label", "set", sent.TxID, "paid the printer")
	run("label list", "label", "list", "w")
	run("label export", "label", "export", "w", "-o", filepath.Join(work, "labels.jsonl"))
	run("label import", "label", "import", filepath.Join(work, "labels.jsonl"))
	run("policy set", "policy", "set", "w", "--per-tx-limit", "1")
	run("policy show", "policy", "show", "w")
	run("journal", "journal", "w")
	run("journal verify", "journal", "verify")
	run("journal export", "journal", "export", "-o", filepath.Join(work, "journal.jsonl"))
	run("journal sign", "journal", "sign", "--with", "key:k1", "--yes")
	// A wallet with a recovery path, one coin 2 blocks from its opening.
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "heirs", "--threshold", "1", "--device", "key:k1",
		"--recovery-cosigner", "heir="+cs[1].Expr, "--recovery", "after 3 blocks: 1 of heir")
	fundAddress(t, node, mustRun(t, dir, "address", "heirs"), 1_000_000)
	node.Mine(ctx, 1)
	mustRun(t, dir, "wallet", "sync", "heirs")
	run("wallet status", "wallet", "status", "heirs", "--warn-blocks", "5")
	run("wallet refresh", "wallet", "refresh", "heirs", "--warn-blocks", "5", "--fee-rate", "2", "-o", filepath.Join(work, "refresh.psbt"))
	// A rotation with a confirmed coin to sweep and an unconfirmed one
	// left behind.
	fundAddress(t, node, mustRun(t, dir, "address", "w"), 1_000_000)
	node.Mine(ctx, 1)
	fundAddress(t, node, mustRun(t, dir, "address", "w"), 1_000_000)
	run("wallet rotate", "wallet", "rotate", "w", "--replace", cs[1].FP, "--cosigner", newTestCosigner(t, 5, 2).Expr, "--fee-rate", "2", "-o", filepath.Join(work, "sweep.psbt"))
	run("key new", "--network", "regtest", "key", "new", "fresh", "--words", "12")
	secret := filepath.Join(work, "secret")
	os.WriteFile(secret, []byte(newTestCosigner(t, 9, 2).Master.String()), 0o600)
	run("key import", "--network", "regtest", "key", "import", "imported", "--secret-file", secret)
	var unlocked keyUnlockJSON
	json.Unmarshal([]byte(run("key unlock", "key", "unlock", "imported", "--for", "1m")), &unlocked)
	if unlocked.PID > 1 && unlocked.PID != os.Getpid() {
		t.Cleanup(func() { _ = syscall.Kill(unlocked.PID, syscall.SIGTERM) })
	}
	run("key lock", "key", "lock", "imported")
	var doc doctorReport
	if json.Unmarshal([]byte(run("doctor", "doctor")), &doc); !doc.OK {
		t.Errorf("doctor after every command: %s", doc.failedChecks())
	}
	// The store commands: the same SQLite store named explicitly, copied
	// to another directory, then back to the default.
	run("store show", "store", "show")
	run("store set", "store", "set", "sqlite:"+dir)
	run("store migrate", "store", "migrate", "--from", "sqlite:"+dir, "--to", "sqlite:"+filepath.Join(work, "copy"))
	mustRun(t, dir, "store", "unset")
	json.Unmarshal([]byte(run("wallet delete", "--yes", "wallet", "delete", "w")), &w)
	r := runCLI(t, dir, "", "--json", "wallet", "show", "nope")
	got["error"] = r.Err

	for cmd, fields := range docs {
		out, ok := got[cmd]
		if !ok {
			t.Errorf("docs/json.md documents %q but the test does not run it", cmd)
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Errorf("%s: output is not JSON: %v\n%s", cmd, err, out)
			continue
		}
		for _, f := range fields {
			if !hasField(v, f) {
				t.Errorf("%s: documented field %q missing from\n%s", cmd, f, out)
			}
		}
	}
}
