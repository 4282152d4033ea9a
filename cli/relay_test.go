package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRelaySetup: `key npub` gives NIP-06's npub for its mnemonic;
// `wallet relay set` stores what `wallet relay show` prints; bad relay
// URLs and npubs are refused with a message saying what to give, and
// `psbt send` names what is missing. (The send and receive round over a
// real relay is coordinator's TestRelayTwoOfThree.)
func TestRelaySetup(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(t.TempDir(), "mnemonic")
	// NIP-06's first vector (hw/soft/testdata/nip06.json).
	if err := os.WriteFile(secret, []byte("leader monkey parrot ring guide accident before fence cannon height naive bean"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, "key", "import", "n", "--secret-file", secret)
	const npub = "npub1zutzeysacnf9rru6zqwmxd54mud0k44tst6l70ja5mhv8jjumytsd2x7nu"
	const bob = "npub16sdj9zv4f8sl85e45vgq9n7nsgt5qphpvmf7vk8r5hhvmdjxx4es8rq74h"
	if got := strings.TrimSpace(mustRun(t, dir, "key", "npub", "n")); got != npub {
		t.Fatalf("key npub = %q, want NIP-06's %q", got, npub)
	}
	mustRun(t, dir, "wallet", "create", "cc", "--descriptor", coldcardVectorDescriptor(t))
	if r := runCLI(t, dir, "", "wallet", "relay", "show", "cc"); r.Code == 0 || !strings.Contains(r.Err, "wallet relay set") {
		t.Fatalf("show before set: exit %d, %s", r.Code, r.Err)
	}
	var got relayJSON
	out := mustRun(t, dir, "--json", "wallet", "relay", "set", "cc", "--relay", "wss://relay.example", "--relay", "ws://127.0.0.1:7000", "--key", "n", "--cosigner", "bob="+bob)
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Key != "n" || len(got.Relays) != 2 || len(got.Cosigners) != 1 || got.Cosigners[0].Npub != bob || got.Cosigners[0].Label != "bob" ||
		got.Cosigners[0].PubKey != "d41b22899549e1f3d335a31002cfd382174006e166d3e658e3a5eecdb6463573" {
		t.Fatalf("relay set printed %s", out)
	}
	if show := mustRun(t, dir, "--json", "wallet", "relay", "show", "cc"); show != out {
		t.Fatalf("relay show %s\nafter set %s", show, out)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--relay", "https://relay.example", "--key", "n"}, "wss://"},
		{[]string{"--relay", "ws://relay.example", "--key", "n"}, "wss://"},
		{[]string{"--relay", "wss://r.example", "--key", "n", "--cosigner", "bob=npub1qqqq"}, "npub"},
		{[]string{"--relay", "wss://r.example", "--key", "n", "--cosigner", bob}, "LABEL="},
		{[]string{"--relay", "wss://r.example", "--key", "n", "--cosigner", "bob=" + bob, "--cosigner", "bob=" + npub}, "twice"},
		{[]string{"--relay", "wss://r.example"}, "--key"},
		{[]string{"--key", "n"}, "--relay"},
	} {
		r := runCLI(t, dir, "", append([]string{"wallet", "relay", "set", "cc"}, bad.args...)...)
		if r.Code == 0 || !strings.Contains(r.Err, bad.want) {
			t.Errorf("relay set %v: exit %d, %q; want a message naming %q", bad.args, r.Code, r.Err, bad.want)
		}
	}
	// The setup is unchanged by the refusals.
	if show := mustRun(t, dir, "--json", "wallet", "relay", "show", "cc"); show != out {
		t.Fatalf("a refused set changed the setup: %s", show)
	}
	if r := runCLI(t, dir, "", "psbt", "send", "0123456789ab", "--to", "bob"); r.Code == 0 || !strings.Contains(r.Err, "no draft") {
		t.Fatalf("send of no draft: exit %d, %s", r.Code, r.Err)
	}
	if r := runCLI(t, dir, "", "psbt", "send", "0123456789ab"); r.Code == 0 || !strings.Contains(r.Err, "--to") {
		t.Fatalf("send without --to: exit %d, %s", r.Code, r.Err)
	}
}
