package formats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
)

// badInputCase is a recognisable file with one thing wrong.
type badInputCase struct {
	name, in string
	want     Format
	msg      string
}

// badInputCases are TestBadInput's files; the fuzz targets' corpora start
// from them too.
func badInputCases(t testing.TB) []badInputCase {
	cc := string(readVector(t, "coldcard_multisig_file.txt"))
	ccDesc := coldcardDescriptorVector(t)
	body, _, _ := strings.Cut(ccDesc, "#")
	caravan := string(readVector(t, "caravan_config.json"))
	const firstKey = "0F056943: tpubDF2rnouQaaYrXF4noGTv6rQYmx87cQ4GrUdhpvXkhtChwQPbdGTi8GA88NUaSrwZBwNsTkC9bFkkC8vDyGBVVAQTZ2AS6gs68RQXtXcCvkP"
	if !strings.Contains(cc, firstKey) {
		t.Fatal("the Coldcard vector no longer holds its first key line")
	}
	mainKey := testCosigner(t, 0, &chaincfg.MainNetParams, accountPath(descriptor.ScriptWsh, &chaincfg.MainNetParams))
	mainXpub := mainKey[strings.IndexByte(mainKey, ']')+1:]
	testPath := accountPath(descriptor.ScriptWsh, &chaincfg.TestNet3Params)
	tprv := testAccountKey(t, 9, &chaincfg.TestNet3Params, testPath, true)
	tpub := testAccountKey(t, 9, &chaincfg.TestNet3Params, testPath, false)

	// A BIP-45 (depth 1) wallet: its xpubs name their parent fingerprint.
	sh := testWallet(t, descriptor.ScriptSh, 2, 3, &chaincfg.TestNet3Params, true)
	shFile, err := Export(sh, FormatColdcard)
	if err != nil {
		t.Fatal(err)
	}
	firstXFP := regexp.MustCompile(`(?m)^[0-9A-F]{8}:`).FindString(string(shFile))

	recv := mustParse(t, body)
	otherWallet := testWallet(t, descriptor.ScriptWsh, 2, 4, &chaincfg.TestNet3Params, true)
	otherChange, err := otherWallet.Descriptor.Single(1)
	if err != nil {
		t.Fatal(err)
	}
	corePair := func(r, c string) string {
		return mustJSON(t, []map[string]any{{"desc": r, "internal": false}, {"desc": c, "internal": true}})
	}

	return []badInputCase{
		// descriptor
		{"wrong checksum", strings.Replace(ccDesc, "#al5z7mcj", "#al5z7mcq", 1), FormatDescriptor, "checksum"},
		{"threshold above key count", strings.Replace(body, "sortedmulti(2,", "sortedmulti(5,", 1), FormatDescriptor, ""},
		{"mixed networks", "wsh(sortedmulti(1," + mainXpub + "/0/*," + tpub + "/0/*))", FormatDescriptor, "same network"},
		{"two wallets in one file", ccDesc + "\n" + otherWallet.Descriptor.String(), FormatDescriptor, "different wallet"},
		{"not multisig", "wpkh(" + tpub + "/0/*)", FormatDescriptor, ""},
		{"unclosed", "wsh(sortedmulti(2,\n" + tpub, FormatDescriptor, "parentheses"},
		// coldcard
		{"coldcard bad policy", strings.Replace(cc, "Policy: 2 of 4", "Policy: two of four", 1), FormatColdcard, "policy"},
		{"coldcard policy without separator", strings.Replace(cc, "Policy: 2 of 4", "Policy: 24", 1), FormatColdcard, "policy"},
		{"coldcard threshold above key count", strings.Replace(cc, "Policy: 2 of 4", "Policy: 5 of 4", 1), FormatColdcard, "cannot exceed"},
		{"coldcard key count", strings.Replace(cc, "Policy: 2 of 4", "Policy: 2 of 3", 1), FormatColdcard, "says 3 keys"},
		{"coldcard missing xfp", strings.Replace(cc, firstKey, firstKey[len("0F056943: "):], 1), FormatColdcard, "no fingerprint"},
		{"coldcard bad xfp", strings.Replace(cc, "0F056943:", "0F05694G:", 1), FormatColdcard, "not a fingerprint"},
		{"coldcard short derivation", strings.Replace(cc, "m/48'/1'/0'/2'", "m/48'/1'/0'", 1), FormatColdcard, "depth 4"},
		{"coldcard bad derivation", strings.Replace(cc, "m/48'/1'/0'/2'", "m/48'/x'/0'/2'", 1), FormatColdcard, "not a number"},
		{"coldcard bad format", strings.Replace(cc, "Format: P2WSH", "Format: P2TR", 1), FormatColdcard, "P2TR"},
		{"coldcard long name", strings.Replace(cc, "Name: CC-2-of-4", "Name: A name far too long for it", 1), FormatColdcard, "at most 20"},
		{"coldcard duplicate xfp", strings.Replace(cc, "6BA6CFD0:", "0F056943:", 1), FormatColdcard, "twice"},
		{"coldcard mixed networks", strings.Replace(cc, firstKey, "0F056943: "+mainXpub, 1), FormatColdcard, "same network"},
		{"coldcard private key", strings.Replace(cc, firstKey, "0F056943: "+tprv, 1), FormatColdcard, "private key"},
		{"coldcard no keys", "Name: x\nPolicy: 2 of 3\nFormat: P2WSH\n", FormatColdcard, "no keys"},
		{"coldcard wrong depth-1 xfp", strings.Replace(string(shFile), firstXFP, "DEADBEEF:", 1), FormatColdcard, "another key"},
		// core
		{"core pair of two wallets", corePair(recv.String(), otherChange.String()), FormatCore, "not the /0/* and /1/* branches"},
		{"core two receive branches", corePair(recv.String(), recv.String()), FormatCore, "not the /0/* and /1/* branches"},
		{"core change only", mustJSON(t, []map[string]any{{"desc": otherChange.String(), "internal": true}}), FormatCore, "only a change"},
		{"core second receive", mustJSON(t, []map[string]any{{"desc": recv.String()}, {"desc": recv.String()}, {"desc": otherChange.String(), "internal": true}}), FormatCore, "second receive"},
		{"core bad checksum", corePair(strings.Replace(ccDesc, "#al5z7mcj", "#al5z7mcq", 1), otherChange.String()), FormatCore, "checksum"},
		{"core non-multisig entry", mustJSON(t, map[string]any{"descriptors": []map[string]any{{"desc": "wpkh(" + tpub + "/0/*)"}}}), FormatCore, ""},
		{"core wrong field type", `[{"desc": "` + body + `", "internal": "yes"}]`, FormatCore, "JSON"},
		// caravan
		{"caravan threshold above key count", strings.Replace(caravan, `"requiredSigners": 2`, `"requiredSigners": 3`, 1), FormatCaravan, "cannot exceed"},
		{"caravan total mismatch", strings.Replace(caravan, `"totalSigners": 2`, `"totalSigners": 3`, 1), FormatCaravan, "totalSigners"},
		{"caravan mixed networks", strings.Replace(caravan, `"network": "mainnet"`, `"network": "testnet"`, 1), FormatCaravan, "network"},
		{"caravan unknown network", strings.Replace(caravan, `"network": "mainnet"`, `"network": "moonnet"`, 1), FormatCaravan, "moonnet"},
		{"caravan bad xfp", strings.Replace(caravan, `"xfp" : "00000006"`, `"xfp" : "xyz"`, 1), FormatCaravan, "8 hex digits"},
		{"caravan bad address type", strings.Replace(caravan, `"addressType": "P2WSH"`, `"addressType": "P2TR"`, 1), FormatCaravan, "P2TR"},
		{"caravan path depth", strings.Replace(caravan, `"m/48'/0'/100'/2'"`, `"m/48'/0'/100'"`, 1), FormatCaravan, "depth 4"},
		{"caravan no quorum", strings.Replace(caravan, `"quorum"`, `"quorum_"`, 1), FormatCaravan, "no quorum"},
		{"caravan bad xpub", strings.Replace(caravan, "xpub6EwJjKaiocGvqSuM2jRZSuQ9HEddiFUFu9RdjE47zG7kXVNDQpJ3GyvskwYiLmvU4SBTNZyv8UH53QcmFEE23YwozE61V3dwzZJEFQr6H2b", "xpub6EwJjKaiocGvqSuM2jRZSuQ9HEddiFUFu9RdjE47zG7kXVNDQpJ3GyvskwYiLmvU4SBTNZyv8UH53QcmFEE23YwozE61V3dwzZJEFQr6H2c", 1), FormatCaravan, "extendedPublicKeys[0]"},
		// specter
		{"specter bad descriptor", mustJSON(t, map[string]any{"label": "x", "descriptor": "wsh(sortedmulti(2,nope))"}), FormatSpecter, ""},
		{"specter negative height", mustJSON(t, map[string]any{"label": "x", "blockheight": -5, "descriptor": ccDesc}), FormatSpecter, "blockheight"},
		{"specter no descriptor", `{"descriptor": "", "label": "x"}`, FormatSpecter, "no descriptor"},
	}
}

// TestBadInput feeds recognisable files with one thing wrong; each must be
// refused as invalid (not as an unknown format), saying what is wrong.
func TestBadInput(t *testing.T) {
	cc := string(readVector(t, "coldcard_multisig_file.txt"))
	caravan := string(readVector(t, "caravan_config.json"))
	for _, tc := range badInputCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.name, "caravan") && tc.in == caravan {
				t.Fatal("the alteration did not apply: the Caravan vector text changed")
			}
			if strings.Contains(tc.name, "coldcard") && tc.in == cc {
				t.Fatal("the alteration did not apply: the Coldcard vector text changed")
			}
			w, f, err := Import([]byte(tc.in), nil)
			if err == nil {
				t.Fatalf("Import succeeded (%s), want an error", w.Descriptor)
			}
			if !errors.Is(err, descriptor.ErrInvalid) || errors.Is(err, ErrUnknownFormat) {
				t.Errorf("error %q should wrap ErrInvalid only", err)
			}
			if f != tc.want {
				t.Errorf("format %q, want %q", f, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}

// coldcardVariant is a Coldcard setup file as other tools or older
// firmware write it, which Import must read as the vector's wallet.
type coldcardVariant struct {
	name, in string
	script   descriptor.ScriptType
	wantName string
}

// coldcardVariants edits the published Coldcard file; the fuzz targets'
// corpora start from them too.
func coldcardVariants(t testing.TB) []coldcardVariant {
	cc := string(readVector(t, "coldcard_multisig_file.txt"))
	return []coldcardVariant{
		{"no format means P2SH", strings.Replace(cc, "Format: P2WSH\n", "", 1), descriptor.ScriptSh, "CC-2-of-4"},
		{"old nested name", strings.Replace(cc, "Format: P2WSH", "Format: P2WSH-P2SH", 1), descriptor.ScriptShWsh, "CC-2-of-4"},
		{"nested name", strings.Replace(cc, "Format: P2WSH", "format: p2sh-p2wsh", 1), descriptor.ScriptShWsh, "CC-2-of-4"},
		{"lower-case labels", strings.NewReplacer("Name:", "name:", "Policy:", "POLICY:", "Derivation:", "derivation:").Replace(cc), descriptor.ScriptWsh, "CC-2-of-4"},
		{"policy with a slash", strings.Replace(cc, "Policy: 2 of 4", "Policy: 2/4", 1), descriptor.ScriptWsh, "CC-2-of-4"},
		{"inline comments", strings.Replace(cc, "Policy: 2 of 4", "Policy: 2 of 4 # two keys sign", 1), descriptor.ScriptWsh, "CC-2-of-4"},
		{"digit after hash is kept", strings.Replace(cc, "Name: CC-2-of-4", "Name: Vault #1", 1), descriptor.ScriptWsh, "Vault #1"},
		{"no name", strings.Replace(cc, "Name: CC-2-of-4\n", "", 1), descriptor.ScriptWsh, ""},
	}
}

// TestColdcardVariants covers what Coldcard's parser accepts beyond its own
// exports: absent Format (P2SH) and Policy (N of N), the old P2WSH-P2SH
// name, lower-case labels, comments, fingerprints filled from depth-1
// xpubs, and a Derivation line per key.
func TestColdcardVariants(t *testing.T) {
	cc := string(readVector(t, "coldcard_multisig_file.txt"))
	want := mustParse(t, coldcardDescriptorVector(t))
	for _, tc := range coldcardVariants(t) {
		t.Run(tc.name, func(t *testing.T) {
			w, f, err := Import([]byte(tc.in), nil)
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if f != FormatColdcard {
				t.Errorf("format %q", f)
			}
			if w.Descriptor.Script != tc.script {
				t.Errorf("script %s, want %s", w.Descriptor.Script, tc.script)
			}
			if w.Name != tc.wantName {
				t.Errorf("name %q, want %q", w.Name, tc.wantName)
			}
			if w.Descriptor.Threshold != want.Threshold || w.Descriptor.N() != want.N() {
				t.Errorf("policy %s, want %s", w.Descriptor.Policy(), want.Policy())
			}
			for i, k := range w.Descriptor.Keys {
				if k.XPub.String() != want.Keys[i].XPub.String() || k.Origin.Fingerprint != want.Keys[i].Origin.Fingerprint {
					t.Errorf("key %d is %s, want %s", i+1, k, want.Keys[i])
				}
			}
		})
	}

	t.Run("no policy means N of N", func(t *testing.T) {
		w, _, err := Import([]byte(strings.Replace(cc, "Policy: 2 of 4\n", "", 1)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if w.Descriptor.Threshold != 4 {
			t.Errorf("threshold %d, want 4 (N of N)", w.Descriptor.Threshold)
		}
	})

	t.Run("depth-1 xpubs without fingerprints", func(t *testing.T) {
		sh := testWallet(t, descriptor.ScriptSh, 2, 3, &chaincfg.TestNet3Params, true)
		out, err := Export(sh, FormatColdcard)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(out), "\n")
		keyLine := regexp.MustCompile(`^[0-9A-F]{8}: `)
		n := 0
		for i, ln := range lines {
			if keyLine.MatchString(ln) {
				// First key: fingerprint zero; second: no label at all.
				switch n {
				case 0:
					lines[i] = "00000000: " + ln[10:]
				case 1:
					lines[i] = ln[10:]
				}
				n++
			}
		}
		edited := strings.Join(lines, "\n")
		edited = strings.Replace(edited, "Derivation: m/45'\n", "", 1) // implied by depth 1
		w, _, err := Import([]byte(edited), nil)
		if err != nil {
			t.Fatalf("Import: %v\n%s", err, edited)
		}
		if !descriptor.Equal(w.Descriptor, sh.Descriptor) {
			t.Errorf("descriptor\n got %s\nwant %s", w.Descriptor, sh.Descriptor)
		}
	})

	t.Run("a derivation per key", func(t *testing.T) {
		net := &chaincfg.MainNetParams
		keys := make([]string, 3)
		for i := range keys {
			path := []uint32{48 + hard, hard, uint32(i) + hard, 2 + hard} // each on its own account
			keys[i] = testCosigner(t, i, net, path) + "/<0;1>/*"
		}
		w := &Wallet{Name: "Accounts", Descriptor: mustParse(t, "wsh(sortedmulti(2,"+strings.Join(keys, ",")+"))"), Network: net}
		out, err := Export(w, FormatColdcard)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(string(out), "Derivation: "); got != 3 {
			t.Errorf("%d Derivation lines, want one per key:\n%s", got, out)
		}
		checkRoundTrip(t, w, FormatColdcard, nil)
	})
}

// TestCaravanMissingOrigins imports Caravan keys whose xfp is missing or
// whose path is "Unknown": those keys get no origin, the others keep theirs.
func TestCaravanMissingOrigins(t *testing.T) {
	var cfg map[string]any
	if err := json.Unmarshal(readVector(t, "caravan_config.json"), &cfg); err != nil {
		t.Fatal(err)
	}
	keys := cfg["extendedPublicKeys"].([]any)
	tests := []struct {
		name   string
		edit   func(k0 map[string]any)
		origin bool // whether key 0 keeps an origin
	}{
		{"xfp missing", func(k map[string]any) { delete(k, "xfp") }, false},
		{"xfp empty", func(k map[string]any) { k["xfp"] = "" }, false},
		{"path unknown", func(k map[string]any) { k["bip32Path"] = "Unknown" }, false},
		{"both known", func(map[string]any) {}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k0 := map[string]any{}
			for k, v := range keys[0].(map[string]any) {
				k0[k] = v
			}
			tc.edit(k0)
			edited := map[string]any{}
			for k, v := range cfg {
				edited[k] = v
			}
			edited["extendedPublicKeys"] = []any{k0, keys[1]}
			w, _, err := Import([]byte(mustJSON(t, edited)), nil)
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if got := w.Descriptor.Keys[0].Origin != nil; got != tc.origin {
				t.Errorf("key 1 origin present = %v, want %v (%s)", got, tc.origin, w.Descriptor.Keys[0])
			}
			if w.Descriptor.Keys[1].Origin == nil || fmt.Sprintf("%x", w.Descriptor.Keys[1].Origin.Fingerprint) != "f57ec65d" {
				t.Errorf("key 2 lost its origin: %s", w.Descriptor.Keys[1])
			}
			if w.Labels[0] != "six" {
				t.Errorf("label %q, want six", w.Labels[0])
			}
		})
	}
}

// TestPrivateKeysDropped imports a descriptor written with private keys:
// the wallet keeps the public keys, and no export carries the secrets.
func TestPrivateKeysDropped(t *testing.T) {
	net := &chaincfg.TestNet3Params
	path := accountPath(descriptor.ScriptWsh, net)
	var priv, pub []string
	for i := 0; i < 3; i++ {
		priv = append(priv, testAccountKey(t, i, net, path, true)+"/0/*")
		pub = append(pub, testAccountKey(t, i, net, path, false)+"/0/*")
	}
	w, _, err := Import([]byte("wsh(sortedmulti(2,"+strings.Join(priv, ",")+"))"), nil)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if want := mustParse(t, "wsh(sortedmulti(2,"+strings.Join(pub, ",")+"))"); !descriptor.Equal(w.Descriptor, want) {
		t.Errorf("descriptor\n got %s\nwant %s", w.Descriptor, want)
	}
	for _, f := range Formats() {
		if f == FormatColdcard {
			continue // no origins in this descriptor
		}
		out, err := Export(w, f)
		if err != nil {
			t.Fatalf("Export %s: %v", f, err)
		}
		for _, p := range priv {
			if bytes.Contains(out, []byte(strings.TrimSuffix(p, "/0/*"))) || bytes.Contains(out, []byte("tprv")) {
				t.Errorf("%s export carries a private key:\n%s", f, out)
			}
		}
	}
}
