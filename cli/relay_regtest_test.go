package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/nostrrelay"
	"github.com/countersign/countersign/internal/regtest"
)

// TestRelayRoundRegtest: three operators with three data directories, one
// software key each, one 2-of-3 wallet, one real Nostr relay. carol drafts
// a spend and sends it to alice and bob; each receives it (--new), signs
// with their key and sends it back; carol receives both, the spend is
// ready, and she finalizes and broadcasts it; the next block confirms it.
func TestRelayRoundRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	url := nostrrelay.Start(t)
	ctx := context.Background()
	desc, cs := testDescriptor(t, "wsh", 2, 3)
	names := []string{"alice", "bob", "carol"}
	dirs := map[string]string{}
	npubs := map[string]string{}
	for i, n := range names {
		dirs[n] = t.TempDir()
		secret := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(secret, []byte(cs[i].Master.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		mustRun(t, dirs[n], "--network", "regtest", "key", "import", n, "--secret-file", secret)
		mustRun(t, dirs[n], "--network", "regtest", "wallet", "create", "w", "--descriptor", desc)
		mustRun(t, dirs[n], "backend", "set", node.RPCURL())
		npubs[n] = strings.TrimSpace(mustRun(t, dirs[n], "key", "npub", n))
	}
	for _, n := range names {
		args := []string{"wallet", "relay", "set", "w", "--relay", url, "--key", n}
		for _, other := range names {
			if other != n {
				args = append(args, "--cosigner", other+"="+npubs[other])
			}
		}
		mustRun(t, dirs[n], args...)
	}

	carol := dirs["carol"]
	fundAddress(t, node, mustRun(t, carol, "address", "w"), 50_000_000)
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		mustRun(t, dirs[n], "wallet", "sync", "w")
	}
	var sp struct {
		DraftID string `json:"draft_id"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, carol, "--json", "spend", "w", "--to", node.Address().EncodeAddress()+":0.1", "--fee-rate", "2")), &sp); err != nil {
		t.Fatal(err)
	}
	mustRun(t, carol, "psbt", "send", sp.DraftID, "--to", "alice", "--to", "bob")

	for _, n := range []string{"alice", "bob"} {
		var got []receivedJSON
		if err := json.Unmarshal([]byte(mustRun(t, dirs[n], "--json", "psbt", "receive", "w", "--new")), &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Outcome != "new" || got[0].Label != "carol" {
			t.Fatalf("%s received %+v", n, got)
		}
		file := filepath.Join(t.TempDir(), "draft.psbt")
		mustRun(t, dirs[n], "psbt", "show", got[0].Spend, "-o", file)
		mustRun(t, dirs[n], "sign", file, "--with", "key:"+n, "--yes", "-o", filepath.Join(t.TempDir(), "signed.psbt"))
		mustRun(t, dirs[n], "psbt", "send", got[0].Spend, "--to", "carol")
	}

	var got []receivedJSON
	if err := json.Unmarshal([]byte(mustRun(t, carol, "--json", "psbt", "receive", "w", "--wait", "10s")), &got); err != nil {
		t.Fatal(err)
	}
	merged := 0
	for _, g := range got {
		if g.Outcome == "merged" && len(g.Signers) == 1 {
			merged++
		}
	}
	if merged != 2 || got[len(got)-1].State != "ready" {
		t.Fatalf("carol received %+v", got)
	}
	final := filepath.Join(t.TempDir(), "final.psbt")
	mustRun(t, carol, "psbt", "show", sp.DraftID, "-o", final)
	tx := filepath.Join(t.TempDir(), "tx")
	mustRun(t, carol, "psbt", "finalize", final, "-o", tx)
	mustRun(t, carol, "psbt", "broadcast", tx)
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	mustRun(t, carol, "wallet", "sync", "w")
	var listed []struct {
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, carol, "--json", "psbt", "list", "w", "--all")), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].State != "confirmed" {
		t.Fatalf("after the block: %s", fmt.Sprint(listed))
	}
}
