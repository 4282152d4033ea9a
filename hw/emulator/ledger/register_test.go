package ledger

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/tyler-smith/go-bip39"
)

// policyKeys are the emulator's key at m/48'/1'/0'/2' and n-1 others, as
// policy keys, then BIP-341's unspendable key as an xpub.
func policyKeys(t testing.TB, n int) (keys []string, nums string) {
	t.Helper()
	seeds := [][]byte{bip39.NewSeed(testMnemonic, "")}
	for i := 1; i < n; i++ {
		seeds = append(seeds, bytes.Repeat([]byte{byte(9 + i)}, 32))
	}
	for _, seed := range seeds {
		m, _ := hdkeychain.NewMaster(seed, &chaincfg.TestNet3Params)
		k := m
		for _, s := range []uint32{48, 1, 0, 2} {
			k, _ = k.Derive(s + hdkeychain.HardenedKeyStart)
		}
		pub, _ := k.Neuter()
		mp, _ := m.ECPubKey()
		keys = append(keys, fmt.Sprintf("[%x/48'/1'/0'/2']%s", btcutil.Hash160(mp.SerializeCompressed())[:4], pub))
	}
	cc := bytes.Repeat([]byte{5}, 32)
	return keys, hdkeychain.NewExtendedKey(chaincfg.TestNet3Params.HDPublicKeyID[:], numsKey, cc, []byte{0, 0, 0, 0}, 0, 0, false).String()
}

// TestRegisterPolicies registers templates through REGISTER_WALLET with
// an honest host, as app 2.1.3 and 2.4.6, and checks the status word and
// error code of each refusal against the app's (register_wallet.c: a
// template its parser refuses is 0x6A80; is_policy_sane's refusals are
// 0x6A82 with EC_REGISTER_WALLET_POLICY_NOT_SANE; a policy without the
// device's key is 0x6A80 with EC_REGISTER_WALLET_POLICY_HAS_NO_INTERNAL_KEY).
func TestRegisterPolicies(t *testing.T) {
	keys, nums := policyKeys(t, 3)
	other := append([]string{nums}, keys[1:]...)
	const (
		ok       = 0x9000 << 16
		notSane  = 0x6a82<<16 | 0x0001
		noKey    = 0x6a80<<16 | 0x0002
		badData  = 0x6a80 << 16
		tooMany  = 0x6a82 << 16
		noLeaf   = "tr(@0/**,{pk(@1/**),and_v(v:pk(@2/**),older(10))})"
		musigTmp = "tr(musig(@0,@1,@2)/**,sortedmulti_a(2,@0/**,@1/**,@2/**))"
	)
	cases := []struct {
		version, template string
		keys              []string
		want              uint32 // status word << 16 | error code
	}{
		{"2.1.3", "tr(@0/**,sortedmulti_a(2,@0/<2;3>/*,@1/**,@2/**))", keys, ok},
		{"2.1.3", noLeaf, keys, badData},
		{"2.4.6", noLeaf, keys, ok},
		{"2.1.3", musigTmp, keys, badData},
		{"2.3.0", musigTmp, keys, badData},
		{"2.4.6", musigTmp, keys, ok},
		{"2.4.6", "tr(musig(@0,@0,@2)/**,sortedmulti_a(2,@0/**,@1/**,@2/**))", keys, notSane},
		{"2.4.6", "tr(@0/**,sortedmulti_a(2,@1/**,@2/**))", append([]string{nums}, keys[:2]...), ok},
		{"2.4.6", "tr(@0/**,sortedmulti_a(2,@1/**,@2/**))", other, noKey},
		{"2.1.3", "wsh(or_d(multi(2,@0/**,@1/**,@2/**),and_v(v:pkh(@0/<2;3>/*),older(52560))))", keys, ok},
		{"2.1.3", "wsh(or_d(multi(2,@0/**,@1/**,@2/**),and_v(v:pkh(@0/**),older(52560))))", keys, notSane},
		{"2.1.3", "wsh(or_d(multi(2,@0/**,@1/**,@2/**),and_v(v:pkh(@0/<1;2>/*),older(52560))))", keys, notSane},
		{"2.4.6", "wsh(or_d(multi(2,@0/**,@1/**,@2/**),and_v(v:pkh(@0/<2;3>/*),older(65536))))", keys, notSane},
		{"2.1.3", "wsh(sortedmulti(2,@0/**,@1/**,@2/**))", []string{keys[0], keys[1], keys[1]}, notSane},
		{"2.1.3", "wsh(and_v(v:pk(@0/**),pk(@1/**),pk(@2/**)))", keys, badData},
		{"2.1.3", "wsh(or_b(pk(@0/**),pk(@1/**)))", keys[:2], badData},                                                                                   // or_b needs a W second argument
		{"2.1.3", "wsh(v:pk(@0/**))", keys[:1], notSane},                                                                                                 // top not B
		{"2.1.3", "wsh(or_i(pk(@0/**),older(10)))", keys[:1], notSane},                                                                                   // a path without a signature
		{"2.1.3", "wsh(and_v(v:pk(@0/**),and_v(v:older(10),older(4194305))))", keys[:1], notSane},                                                        // height and time CSV
		{"2.1.3", "wsh(and_v(v:pk(@0/**),and_v(v:older(10),after(500000001))))", keys[:1], ok},                                                           // relative and absolute may mix
		{"2.1.3", "wsh(and_v(v:pk(@0/**),or_d(sha256(e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855),older(10))))", keys[:1], notSane}, // malleable
		{"2.4.6", "tr(@0/**,or_i(pk(@1/**),older(10)))", keys[:2], notSane},
	}
	for _, c := range cases {
		_, addr := start(t, Config{AppVersion: c.version})
		h := connect(t, addr)
		p := testPolicy{name: "policy", template: c.template, keys: c.keys}
		data, sw := register(t, h, p, nil)
		got := uint32(sw) << 16
		if len(data) == 2 {
			got |= uint32(data[0])<<8 | uint32(data[1])
		}
		if got != c.want {
			t.Errorf("%s %s: status %#x data %x, want %#x", c.version, c.template, sw, data, c.want)
		}
	}
}

// TestMaxKeysByVersion checks MAX_N_KEYS_IN_WALLET_POLICY: 10 from 2.2.4
// to 2.3.x, 15 from 2.4.0 (SW_NOT_SUPPORTED without a code).
func TestMaxKeysByVersion(t *testing.T) {
	keys, _ := policyKeys(t, 11)
	tmpl := "wsh(sortedmulti(2,@0/**,@1/**,@2/**,@3/**,@4/**,@5/**,@6/**,@7/**,@8/**,@9/**,@10/**))"
	for v, want := range map[string]uint16{"2.3.0": 0x6a82, "2.4.6": 0x9000} {
		_, addr := start(t, Config{AppVersion: v})
		if _, sw := register(t, connect(t, addr), testPolicy{name: "eleven", template: tmpl, keys: keys}, nil); sw != want {
			t.Errorf("%s: 11 keys: %#x, want %#x", v, sw, want)
		}
	}
}
