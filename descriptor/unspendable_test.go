package descriptor

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
)

// noKeyPathWallets builds countersign's --no-key-path shapes from three
// fixed cosigners: one 2-of-3 leaf (sorted and not) and a leaf per subset.
func noKeyPathWallets(t *testing.T, net *chaincfg.Params) []*Descriptor {
	t.Helper()
	keys := msKeySet(t, net)
	var ks []Key
	for _, n := range []string{"A", "B", "C"} {
		d, err := Parse("wsh(multi(1," + keys[n] + "))")
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, d.Keys[0])
	}
	var out []*Descriptor
	for _, opt := range []TaprootOptions{{NoKeyPath: true}, {NoKeyPath: true, Unsorted: true}, {NoKeyPath: true, LeafPerSubset: true}} {
		d, err := NewTaproot(2, ks, opt)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// TestNoKeyPathInternalKey: a wallet without key path has as internal key
// a ranged xpub whose key is BIP-341's H (not the plain H, which Coldcard
// EDGE 6.3.5X+ refuses and the Ledger cannot hold): it is unspendable, it
// is made the same from the same keys, it gives every address another
// internal key, none of them H, and it is not a cosigner.
func TestNoKeyPathInternalKey(t *testing.T) {
	for _, d := range noKeyPathWallets(t, &chaincfg.TestNet3Params) {
		if !d.Unspendable() {
			t.Fatalf("%s: not unspendable", d)
		}
		k := d.Keys[d.Tap.Internal.Key]
		pk, err := k.XPub.ECPubKey()
		if err != nil || hex.EncodeToString(pk.SerializeCompressed()[1:]) != NUMSKey || !k.Wildcard || k.Origin != nil {
			t.Fatalf("%s: internal key %s is not a ranged xpub of H", d, k)
		}
		if n := len(d.Cosigners()); n != 3 {
			t.Fatalf("%s: %d cosigners, want 3 (the internal key is none)", d, n)
		}
		again, err := Parse(d.String())
		if err != nil || !again.Unspendable() || again.String() != d.String() {
			t.Fatalf("%s: reparsed as %v (%v)", d, again, err)
		}
		seen := map[string]bool{NUMSKey: true}
		for branch := uint32(0); branch < 2; branch++ {
			for i := uint32(0); i < 3; i++ {
				dv, err := d.Derive(branch, i, &chaincfg.TestNet3Params)
				if err != nil {
					t.Fatal(err)
				}
				ik := hex.EncodeToString(dv.Tap.InternalKey)
				if seen[ik] || !dv.Tap.Unspendable || dv.Tap.KeyPath >= 0 {
					t.Fatalf("%s at %d/%d: internal key %s (repeated or H), unspendable %v, key path %d", d, branch, i, ik, dv.Tap.Unspendable, dv.Tap.KeyPath)
				}
				seen[ik] = true
			}
		}
	}
	a, b := noKeyPathWallets(t, &chaincfg.TestNet3Params), noKeyPathWallets(t, &chaincfg.TestNet3Params)
	if a[0].String() != b[0].String() {
		t.Fatalf("the same keys gave two wallets:\n%s\n%s", a[0], b[0])
	}
	// An ordinary xpub as internal key is a key path, not unspendable.
	keys := msKeySet(t, &chaincfg.TestNet3Params)
	d, err := Parse("tr(" + keys["A"] + ",sortedmulti_a(1," + keys["B"] + "," + keys["C"] + "))")
	if err != nil || d.Unspendable() {
		t.Fatalf("tr(A,...): unspendable %v (%v)", d != nil && d.Unspendable(), err)
	}
}

type trDerivation struct {
	Descriptor string `json:"descriptor"`
	Network    string `json:"network"`
	Change     uint32 `json:"change"`
	Index      uint32 `json:"index"`
	Address    string `json:"address"`
	Error      string `json:"error,omitempty"`
}

// TestNoKeyPathMatchesPeer derives the --no-key-path wallets'
// addresses with @bitcoinerlab/descriptors (testdata/js/tr.js), an
// independent taproot implementation, on two networks.
func TestNoKeyPathMatchesPeer(t *testing.T) {
	dir := filepath.Join("testdata", "js")
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not installed"
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "@bitcoinerlab", "descriptors")); err != nil {
		missing = "run `npm ci` in descriptor/testdata/js"
	}
	if missing != "" {
		if os.Getenv("COUNTERSIGN_REQUIRE_INTEROP") == "1" {
			t.Fatalf("@bitcoinerlab/descriptors cross-check unavailable: %s (COUNTERSIGN_REQUIRE_INTEROP=1)", missing)
		}
		t.Skipf("@bitcoinerlab/descriptors cross-check unavailable: %s", missing)
	}
	var ours []trDerivation
	for _, c := range []struct {
		name string
		net  *chaincfg.Params
	}{{"testnet", &chaincfg.TestNet3Params}, {"mainnet", &chaincfg.MainNetParams}} {
		for _, d := range noKeyPathWallets(t, c.net) {
			for branch := uint32(0); branch < 2; branch++ {
				single, err := d.Single(branch)
				if err != nil {
					t.Fatal(err)
				}
				for i := uint32(0); i < 3; i++ {
					dv, err := d.Derive(branch, i, c.net)
					if err != nil {
						t.Fatal(err)
					}
					ours = append(ours, trDerivation{Descriptor: single.String(), Network: c.name, Change: branch, Index: i, Address: dv.Address})
				}
			}
		}
	}
	in := make([]trDerivation, len(ours))
	for i, o := range ours {
		in[i] = trDerivation{Descriptor: o.Descriptor, Network: o.Network, Index: o.Index}
	}
	body, _ := json.Marshal(in)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "tr.js")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(body)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node tr.js: %v\n%s", err, stderr.String())
	}
	var peer []trDerivation
	if err := json.Unmarshal(out, &peer); err != nil || len(peer) != len(ours) {
		t.Fatalf("tr.js answered %d of %d: %v", len(peer), len(ours), err)
	}
	for i := range ours {
		if peer[i].Address != ours[i].Address {
			t.Errorf("%s on %s at %d/%d: countersign %s, peer %s %s", ours[i].Descriptor, ours[i].Network, ours[i].Change, ours[i].Index,
				ours[i].Address, peer[i].Address, peer[i].Error)
		}
	}
	t.Logf("%d addresses agree", len(ours))
}
