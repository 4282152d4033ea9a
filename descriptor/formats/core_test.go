package formats

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
)

// TestCoreRequests checks the importdescriptors requests field by field:
// the receive and change descriptors with checksums, active, internal,
// range, and a numeric timestamp.
func TestCoreRequests(t *testing.T) {
	w := testWallet(t, descriptor.ScriptWsh, 2, 3, &chaincfg.MainNetParams, true)
	out, err := Export(w, FormatCore)
	if err != nil {
		t.Fatal(err)
	}
	var reqs []map[string]any
	if err := json.Unmarshal(out, &reqs); err != nil {
		t.Fatalf("decode: %v\n%s", err, out)
	}
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want receive and change", len(reqs))
	}
	for i, r := range reqs {
		branch := []string{"/0/*", "/1/*"}[i]
		desc, _ := r["desc"].(string)
		d, err := descriptor.Parse(desc)
		if err != nil || !strings.Contains(desc, "#") {
			t.Errorf("request %d desc %q does not parse with a checksum: %v", i, desc, err)
			continue
		}
		if d.Branches() != 1 || strings.Count(desc, branch) != 3 {
			t.Errorf("request %d desc %s, want every key on %s", i, desc, branch)
		}
		if r["active"] != true || r["internal"] != (i == 1) {
			t.Errorf("request %d active %v internal %v", i, r["active"], r["internal"])
		}
		if rng, _ := r["range"].([]any); len(rng) != 2 || rng[0] != 0.0 || rng[1] != 999.0 {
			t.Errorf("request %d range %v, want [0, 999]", i, r["range"])
		}
		if _, ok := r["timestamp"].(float64); !ok {
			t.Errorf("request %d timestamp %v, want a number (never \"now\", which skips past payments)", i, r["timestamp"])
		}
	}
}

func TestBirthTimestamp(t *testing.T) {
	// Block 840000 was mined at 1713571767 (2024-04-20 00:09:27 UTC); a
	// rescan for a wallet born at or after it must start no later.
	const block840000 = 1713571767
	main, test := &chaincfg.MainNetParams, &chaincfg.TestNet3Params
	if got := birthTimestamp(0, main); got != 0 {
		t.Errorf("unknown birth: %d, want 0 (rescan everything)", got)
	}
	if got := birthTimestamp(850000, test); got != 0 {
		t.Errorf("testnet: %d, want 0", got)
	}
	if got := birthTimestamp(100000, main); got != 0 {
		t.Errorf("height 100000: %d, want 0", got)
	}
	if got := birthTimestamp(840000, main); got <= 0 || got > block840000 {
		t.Errorf("height 840000: %d, want a time up to %d", got, block840000)
	}
	prev := int64(0)
	for h := int32(0); h < 1_000_000; h += 5000 {
		ts := birthTimestamp(h, main)
		if ts < prev {
			t.Fatalf("height %d gives %d, earlier than a lower height's %d", h, ts, prev)
		}
		prev = ts
	}
}

// TestCoreSingleDescriptor covers wallets without a change branch: one
// request, active only when ranged.
func TestCoreSingleDescriptor(t *testing.T) {
	plain := bip129Records(t)[0].content // public keys, no path restrictions
	if strings.Contains(plain, "/**") {
		t.Fatal("the first BIP-129 record is no longer the one with plain public keys")
	}
	w, _, err := Import([]byte(plain), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Export(w, FormatCore)
	if err != nil {
		t.Fatal(err)
	}
	var reqs []map[string]any
	if err := json.Unmarshal(out, &reqs); err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1:\n%s", len(reqs), out)
	}
	if _, ok := reqs[0]["active"]; ok {
		t.Errorf("a fixed (non-ranged) descriptor must not be active; Core refuses that:\n%s", out)
	}
	if _, ok := reqs[0]["range"]; ok {
		t.Errorf("a fixed descriptor must have no range:\n%s", out)
	}
	checkRoundTrip(t, w, FormatCore, nil)
}
