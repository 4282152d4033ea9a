package bitbox02

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
)

// keyExpr is a descriptor key with origin, an xpub or tpub and a
// /<a;b>/* derivation.
var keyExpr = regexp.MustCompile(`(\[[0-9a-fA-F]{8}(?:/[0-9]+[h']?)*\])?([xt]pub[1-9A-HJ-NP-Za-km-z]+)/<([0-9]+);([0-9]+)>/\*`)

// TestMiniscriptCompilerGolden compiles the peer's templates
// (@bitcoinerlab/descriptors, testdata/miniscript_derivations.json) as
// wallet policies and compares witness scripts and addresses. Templates
// with a plain public key are not policies (every key is an xpub) and are
// skipped; the rest must all be compared.
func TestMiniscriptCompilerGolden(t *testing.T) {
	raw, err := os.ReadFile("testdata/miniscript_derivations.json")
	if err != nil {
		t.Fatal(err)
	}
	var vecs []struct {
		Descriptor, Network, Address, WitnessScript string
		Change, Index                               uint32
	}
	if err := json.Unmarshal(raw, &vecs); err != nil {
		t.Fatal(err)
	}
	nets := map[string]*chaincfg.Params{"mainnet": &chaincfg.MainNetParams, "testnet": &chaincfg.TestNet3Params, "signet": &chaincfg.SigNetParams, "regtest": &chaincfg.RegressionNetParams}
	compared := 0
	for _, v := range vecs {
		desc, _, _ := strings.Cut(v.Descriptor, "#")
		var xpubs []*hdkeychain.ExtendedKey
		index := map[string]int{}
		policy := keyExpr.ReplaceAllStringFunc(desc, func(m string) string {
			sm := keyExpr.FindStringSubmatch(m)
			i, ok := index[sm[2]]
			if !ok {
				k, err := hdkeychain.NewKeyFromString(sm[2])
				if err != nil {
					t.Fatal(err)
				}
				i = len(xpubs)
				index[sm[2]] = i
				xpubs = append(xpubs, k)
			}
			if sm[3] == "0" && sm[4] == "1" {
				return "@" + strconv.Itoa(i) + "/**"
			}
			return "@" + strconv.Itoa(i) + "/<" + sm[3] + ";" + sm[4] + ">/*"
		})
		if strings.Contains(policy, "pub") || regexp.MustCompile(`\(0[23][0-9a-f]{64}`).MatchString(policy) {
			continue // a plain key: not a wallet policy
		}
		ms, pks, err := parseWshPolicy(policy)
		if err != nil {
			t.Fatalf("%s: %v", policy, err)
		}
		keys := make([][]byte, len(pks))
		for i, pk := range pks {
			c := pk.receive
			if v.Change == 1 {
				c = pk.chng
			}
			k, err := xpubs[pk.index].Derive(c)
			if err == nil {
				k, err = k.Derive(v.Index)
			}
			if err != nil {
				t.Fatal(err)
			}
			pub, _ := k.ECPubKey()
			keys[i] = pub.SerializeCompressed()
		}
		ws := ms.witnessScript(keys)
		if got := hex.EncodeToString(ws); got != v.WitnessScript {
			t.Errorf("%s %d/%d: witness script\n%s\nwant\n%s", policy, v.Change, v.Index, got, v.WitnessScript)
			continue
		}
		o, err := wshOutput(ws, false, nets[v.Network])
		if err != nil || o.address != v.Address {
			t.Errorf("%s %s %d/%d: address %v %v, want %s", policy, v.Network, v.Change, v.Index, o, err, v.Address)
		}
		compared++
	}
	if compared != 112 {
		t.Errorf("compared %d derivations, want 112 (7 templates of xpubs)", compared)
	}
}

// TestMiniscriptCompile checks scripts written by hand from BIP-379's
// table for the wrappers the golden templates do not use.
func TestMiniscriptCompile(t *testing.T) {
	k0 := strings.Repeat("02", 33)
	k1 := strings.Repeat("03", 33)
	kb := func(s string) []byte { b, _ := hex.DecodeString(s); return b }
	keys := [][]byte{kb(k0), kb(k1)}
	for _, c := range []struct{ policy, want string }{
		{"wsh(pk(@0/**))", "21" + k0 + "ac"},
		{"wsh(and_v(v:pk(@0/**),pk(@1/**)))", "21" + k0 + "ad21" + k1 + "ac"},
		{"wsh(and_b(pk(@0/**),a:pk(@1/**)))", "21" + k0 + "ac6b21" + k1 + "ac6c9a"},
		{"wsh(or_b(pk(@0/**),s:pk(@1/**)))", "21" + k0 + "ac7c21" + k1 + "ac9b"},
		{"wsh(and_v(or_c(pk(@0/**),v:pk(@1/**)),older(16)))", "21" + k0 + "ac6421" + k1 + "ad6860b2"},
		{"wsh(and_n(pk(@0/**),pk(@1/**)))", "21" + k0 + "ac640067" + "21" + k1 + "ac68"},
		{"wsh(or_d(pk(@0/**),and_v(v:pk(@1/**),after(500000))))", "21" + k0 + "ac736421" + k1 + "ad0320a107b168"},
		{"wsh(thresh(1,pk(@0/**),a:pk(@1/**)))", "21" + k0 + "ac6b21" + k1 + "ac6c935187"},
		{"wsh(or_i(pk(@0/**),j:pk(@1/**)))", "6321" + k0 + "ac67829263" + "21" + k1 + "ac6868"},
		{"wsh(t:or_c(pk(@0/**),v:pk(@1/**)))", "21" + k0 + "ac6421" + k1 + "ad6851"},
		{"wsh(and_v(v:thresh(1,pk(@0/**),s:pk(@1/**)),older(2)))", "21" + k0 + "ac7c21" + k1 + "ac935188" + "52b2"},
		{"wsh(andor(pk(@0/**),older(65535),n:pk(@1/**)))", "21" + k0 + "ac6421" + k1 + "ac9267" + "03ffff00b268"},
		{"wsh(or_d(pk(@0/**),and_v(v:pk(@1/**),dv:older(1))))", "21" + k0 + "ac7364" + "21" + k1 + "ad" + "766351b26968" + "68"},
		{"wsh(or_d(pk(@0/**),ul:pk(@1/**)))", "21" + k0 + "ac7364" + "6363" + "0067" + "21" + k1 + "ac68" + "670068" + "68"},
	} {
		ms, _, err := parseWshPolicy(c.policy)
		if err != nil {
			t.Errorf("%s: %v", c.policy, err)
			continue
		}
		if got := hex.EncodeToString(ms.witnessScript(keys)); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.policy, got, c.want)
		}
	}
}

// FuzzParseWshPolicy feeds arbitrary policy text to the parser and
// compiler: an error or a script, never a panic.
func FuzzParseWshPolicy(f *testing.F) {
	for _, s := range []string{
		"wsh(or_d(multi(2,@0/**,@1/**),and_v(v:pkh(@2/**),older(52560))))",
		"wsh(thresh(2,pk(@0/**),s:pk(@1/**),s:pk(@2/**),sln:older(52560)))",
		"wsh(andor(pk(@0/**),older(144),pk(@1/<2;3>/*)))",
		"wsh(or_i(and_v(v:pkh(@0/**),after(900000)),pk(@1/**)))",
		"wsh(multi(1,@0/**))", "wsh(t:or_c(pk(@0/**),v:pk(@1/**)))", "wsh(sha256(00))", "wsh(", "wsh(a:)", "wsh(thresh(1,,))",
	} {
		f.Add(s)
	}
	keys := make([][]byte, 21)
	for i := range keys {
		keys[i] = append([]byte{2}, make([]byte, 32)...)
		keys[i][1] = byte(i)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, pks, err := parseWshPolicy(s)
		if err != nil {
			return
		}
		if len(pks) > len(keys) {
			return
		}
		if len(ms.witnessScript(keys[:len(pks)])) == 0 {
			t.Fatalf("%q compiled to nothing", s)
		}
	})
}

// TestPoliciesByVersion: wallet policies from firmware 9.15.0 on.
func TestPoliciesByVersion(t *testing.T) {
	for v, want := range map[string]bool{"v9.15.0": true, "v9.21.0": true, "v10.0.0": true, "v9.14.1": false, "v8.99.99": false, "v9.15": false, "": false} {
		e := &Emulator{cfg: Config{Version: v}}
		if got := e.hasPolicies(); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
		if !want {
			pc := &policyConfig{}
			if err := e.validatePolicy(pc, coinBTC); err == nil {
				t.Errorf("%q: a policy validated", v)
			}
		}
	}
}
