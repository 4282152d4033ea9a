package nip44

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNostrToolsInterop exchanges a message each way with npm's
// nostr-tools (testdata/js, pinned by its package-lock): the same
// conversation key on both sides, a payload sealed here opens there, and
// one sealed there opens here. Without node or `npm ci` it skips, or
// fails when $COUNTERSIGN_REQUIRE_INTEROP=1.
func TestNostrToolsInterop(t *testing.T) {
	skip := func(why string) {
		t.Helper()
		if os.Getenv("COUNTERSIGN_REQUIRE_INTEROP") == "1" {
			t.Fatalf("%s (COUNTERSIGN_REQUIRE_INTEROP=1 requires this test)", why)
		}
		t.Skip(why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skip("node is not installed: install Node.js 18 or later for the nostr-tools cross-check")
	}
	jsDir, _ := filepath.Abs(filepath.Join("testdata", "js"))
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "nostr-tools", "package.json")); err != nil {
		skip("nostr-tools is not installed: run (cd relay/nip44/testdata/js && npm ci)")
	}
	var goSK, jsSK SecretKey
	for _, k := range []*SecretKey{&goSK, &jsSK} {
		if _, err := rand.Read(k[:]); err != nil {
			t.Fatal(err)
		}
	}
	goPK, err := goSK.Public()
	if err != nil {
		t.Fatal(err)
	}
	jsPK, err := jsSK.Public()
	if err != nil {
		t.Fatal(err)
	}
	// A PSBT travels base64-encoded; a long one tests the padding too.
	msg := "cHNidP8B" + strings.Repeat("AAECAwQFBgcICQ", 700)
	reply := "signed: cHNidP8BAHECAAAAAe" + strings.Repeat("z", 40)
	payload, err := Encrypt(goSK, jsPK, []byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := json.Marshal(map[string]string{"js_secret": hex.EncodeToString(jsSK[:]), "go_public": hex.EncodeToString(goPK[:]),
		"go_payload": payload, "reply": reply})
	cmd := exec.Command(node, "interop.mjs")
	cmd.Dir = jsDir
	cmd.Stdin = bytes.NewReader(req)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node interop.mjs: %v\n%s", err, stderr)
	}
	var res struct {
		JSPublic        string `json:"js_public"`
		ConversationKey string `json:"conversation_key"`
		Received        string `json:"received"`
		Payload         string `json:"payload"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	ck, err := ConversationKey(goSK, jsPK)
	if err != nil {
		t.Fatal(err)
	}
	if res.JSPublic != hex.EncodeToString(jsPK[:]) || res.ConversationKey != hex.EncodeToString(ck[:]) {
		t.Errorf("nostr-tools derived public key %s and conversation key %s; here %x and %x", res.JSPublic, res.ConversationKey, jsPK, ck)
	}
	if res.Received != msg {
		t.Errorf("nostr-tools decrypted %d bytes that differ from the %d sent", len(res.Received), len(msg))
	}
	got, err := Decrypt(goSK, jsPK, res.Payload)
	if err != nil || string(got) != reply {
		t.Errorf("nostr-tools' payload decrypts to %q, %v; want %q", got, err, reply)
	}
	// Tampered with in transit: refused.
	b := []byte(res.Payload)
	b[len(b)/2] ^= 1
	if _, err := Decrypt(goSK, jsPK, string(b)); err == nil {
		t.Error("a tampered payload decrypted")
	}
}
