package coldcard

import (
	"bufio"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
)

// letterKeys resolves BIP-379's test keys: A..Z are the public keys of the
// secret keys 1..26, x-only in tapscript.
func letterKeys(text string) (msKey, error) {
	if len(text) != 1 || text[0] < 'A' || text[0] > 'Z' {
		return msKey{}, fmt.Errorf("key %q", text)
	}
	var sk [32]byte
	sk[31] = text[0] - 'A' + 1
	priv, _ := btcec.PrivKeyFromBytes(sk[:])
	return msKey{static: schnorr.SerializePubKey(priv.PubKey()), text: text}, nil
}

var hashFragment = regexp.MustCompile(`(sha256|hash256|ripemd160|hash160)\(`)

// The BIP-379 tapscript table (rust-miniscript's scripts_from_rust_tap.tsv,
// testdata/README.md): every expression built only of fragments a wallet
// uses compiles to the published script.
func TestTapscriptVectors(t *testing.T) {
	f, err := os.Open("testdata/scripts_from_rust_tap.tsv.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(z)
	sc.Buffer(nil, 1<<20)
	checked, bad := 0, 0
	for sc.Scan() {
		expr, want, ok := strings.Cut(sc.Text(), "\t")
		if !ok || want == "ERR" || hashFragment.MatchString(expr) {
			// Hash locks are no wallet's; ERR rows fail type checking,
			// which the emulator leaves out (see emulator.go).
			continue
		}
		p := &descParser{s: expr, tap: true, keyFn: letterKeys}
		n, err := p.node(0)
		if err == nil && p.pos != len(p.s) {
			err = p.fail("trailing text")
		}
		if err != nil {
			if bad++; bad < 5 {
				t.Errorf("%s: %v", expr, err)
			}
			continue
		}
		keys := make([][]byte, len(p.keys))
		for i, k := range p.keys {
			keys[i] = k.static
		}
		b := txscript.NewScriptBuilder()
		n.script(b, keys, true)
		got, err := b.Script()
		if err != nil || hex.EncodeToString(got) != want {
			if bad++; bad < 5 {
				t.Errorf("%s: got %x (%v), want %s", expr, got, err, want)
			}
			continue
		}
		checked++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if bad > 0 || checked < 2900 {
		t.Fatalf("%d expressions matched, %d did not", checked, bad)
	}
	t.Logf("%d tapscript expressions compiled as published", checked)
}

// The wsh(miniscript) wallets countersign's templates build, derived by an
// independent implementation (@bitcoinerlab/descriptors; testdata/README.md):
// the emulator derives the same address and witness script. A static key,
// which the firmware refuses ("only extended pubkeys allowed"), is refused.
func TestMiniscriptDerivations(t *testing.T) {
	raw, err := os.ReadFile("testdata/miniscript_derivations.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []struct {
		Descriptor, Network, Address, WitnessScript string
		Change, Index                               uint32
	}
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	nets := map[string]*chaincfg.Params{"mainnet": &chaincfg.MainNetParams, "testnet": &chaincfg.TestNet3Params, "regtest": &chaincfg.RegressionNetParams}
	emus := map[string]*Emulator{}
	checked, refused := 0, 0
	for _, v := range vs {
		net := nets[v.Network]
		if net == nil {
			continue // signet: the device has no signet mode
		}
		e := emus[v.Network]
		if e == nil {
			if e, err = New(Config{Mnemonic: abandonWords, Network: net}); err != nil {
				t.Fatal(err)
			}
			emus[v.Network] = e
		}
		w, err := e.parseDescriptorText(v.Descriptor)
		if regexp.MustCompile(`\(0[23][0-9a-f]{64}`).MatchString(v.Descriptor) {
			if err == nil || !strings.Contains(err.Error(), "only extended pubkeys allowed") {
				t.Fatalf("%s: static key: %v", v.Descriptor, err)
			}
			refused++
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", v.Descriptor, err)
		}
		d, err := w.derive(e, v.Change, v.Index)
		if err != nil {
			t.Fatal(err)
		}
		if d.address != v.Address || hex.EncodeToString(d.script) != v.WitnessScript {
			t.Fatalf("%s %d/%d: %s %x, want %s %s", v.Descriptor, v.Change, v.Index, d.address, d.script, v.Address, v.WitnessScript)
		}
		checked++
	}
	if checked != 84 || refused != 12 {
		t.Fatalf("%d derivations checked, %d refused", checked, refused)
	}
}

// BIP-386/387 vectors with static keys (the only ones in the firmware's
// key syntax): tr() output keys with and without a pk or multi_a leaf.
func TestTaprootVectors(t *testing.T) {
	for _, v := range []struct{ desc, spk string }{
		// BIP-386 valid #1 and #4, BIP-387 valid #2.
		{"tr(a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd)", "512077aab6e066f8a7419c5ab714c12c67d25007ed55a43cadcacb4d7a970a093f11"},
		{"tr(a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd,pk(669b8afcec803a0d323e9a17f3ea8e68e8abe5a278020a929adbec52421adbd0))", "512017cf18db381d836d8923b1bdb246cfcd818da1a9f0e6e7907f187f0b2f937754"},
		{"tr(a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd,multi_a(1,669b8afcec803a0d323e9a17f3ea8e68e8abe5a278020a929adbec52421adbd0))", "5120eb5bd3894327d75093891cc3a62506df7d58ec137fcd104cdd285d67816074f3"},
	} {
		e := newEmu(t, abandonWords)
		p := &descParser{s: strings.TrimPrefix(v.desc, "tr("), e: e, tap: true, keyFn: func(s string) (msKey, error) {
			b, err := hex.DecodeString(s)
			return msKey{static: b, text: s}, err
		}}
		w := &msWallet{tap: true, derived: &derivCache{}}
		var err error
		if w.internal, err = p.key(true); err != nil {
			t.Fatal(err)
		}
		if p.eat(",") {
			if w.tree, err = p.tree(0); err != nil {
				t.Fatal(err)
			}
		}
		w.keys = p.keys
		d, err := w.derive(e, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(d.spk) != v.spk {
			t.Fatalf("%s: %x, want %s", v.desc, d.spk, v.spk)
		}
	}
}

// Versions: mainline firmware has no "mins"; 6.3.5X refuses a static
// internal key that 6.3.4X takes; MuSig2 firmware is not modelled.
func TestFirmwareVersions(t *testing.T) {
	for _, c := range []struct {
		v                  string
		usb, cmds, statics bool
	}{
		{"5.4.1", false, false, true}, {"1.3.1Q", false, false, true},
		{"6.2.1X", true, false, true}, {"6.2.2QX", true, true, true},
		{"6.3.4X", true, true, true}, {"6.3.5X", true, true, false}, {"6.4.1X", true, true, false},
	} {
		f, err := parseFirmware(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if f.usbMiniscript() != c.usb || f.miniscriptCmds() != c.cmds || f.staticKeys() != c.statics {
			t.Errorf("%s: %+v", c.v, f)
		}
	}
	for _, bad := range []string{"", "6.3", "6.3.5Y", "v6.3.5X"} {
		if _, err := parseFirmware(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// 6.4.0X+ refuses an older() without consensus meaning; 6.3.5X takes it.
	const odd = "wsh(and_v(v:pk(tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp),older(65536)))"
	for v, ok := range map[string]bool{"6.3.5X": true, "6.4.1X": false} {
		e, err := New(Config{Mnemonic: abandonWords, Firmware: v})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.parseDescriptorText(odd); (err == nil) != ok {
			t.Errorf("%s: older(65536): %v", v, err)
		}
	}
	if f, _ := parseFirmware("6.5.0QX"); !f.musig() {
		t.Error("6.5.0QX: no MuSig2")
	}
	if f, _ := parseFirmware("6.4.1X"); f.musig() {
		t.Error("6.4.1X: MuSig2")
	}
}

// FuzzMiniscriptDescriptor: any enrolment text gets an answer, never a
// panic.
func FuzzMiniscriptDescriptor(f *testing.F) {
	f.Add("wsh(or_d(multi(2,[73c5da0a/48h/1h/0h/2h]tpubDFH9dgzveyD8zTbPUFuLrGmCydNvxehyNdUXKJAQN8x4aZ4j6UZqGfnqFrD4NqyaTVGKbvEW54tsvPTK2UoSbCC1PJY8iCNiwTL3RWZEheQ/<0;1>/*,[00000002/48h/1h/0h/2h]tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp/<0;1>/*),and_v(v:pkh([00000002/48h/1h/0h/2h]tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp/<2;3>/*),older(144))))")
	f.Add("tr(50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0,{sortedmulti_a(1,tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp),pk(tpubD6NzVbkrYhZ4WaWSyoBvQwbpLkojyoTZPRsgXELWz3Popb3qkjcJyJUGLnL4qHHoQvao8ESaAstxYSnhyswJ76uZPStJRJCTKvosUCJZL5B)})")
	f.Add("wsh(thresh(2,pk(A),s:pk(B),sln:older(1)))#abcdefgh")
	e, err := New(Config{Mnemonic: abandonWords, Firmware: "6.3.4X"})
	if err != nil {
		f.Fatal(err)
	}
	// 6.5.0X parses musig() internal keys (musig.go).
	e65, err := New(Config{Mnemonic: abandonWords, Firmware: "6.5.0X"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 4000 {
			return
		}
		for _, e := range []*Emulator{e, e65} {
			if w, err := e.parseDescriptorText(s); err == nil {
				if _, err := w.derive(e, 1, 5); err != nil {
					t.Logf("derive: %v", err)
				}
			}
		}
	})
}
