package descriptor

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
)

// TestParseErrors checks one descriptor per rule and the message it gets.
func TestParseErrors(t *testing.T) {
	w := benchWallet(t, 2, 3)
	k1, k2, k3 := w.Keys[0].String(), w.Keys[1].String(), w.Keys[2].String()
	x1 := w.Keys[0].XPub.String()
	tpub := "tpubD6NzVbkrYhZ4WaWSyoBvQwbpLkojyoTZPRsgXELWz3Popb3qkjcJyJUGLnL4qHHoQvao8ESaAstxYSnhyswJ76uZPStJRJCTKvosUCJZL5B"
	good := fmt.Sprintf("wsh(sortedmulti(2,%s,%s,%s))", k1, k2, k3)
	sum, err := Checksum(good)
	if err != nil {
		t.Fatal(err)
	}
	wrong := "qqqqqqqq"
	if sum == wrong {
		wrong = "pppppppp"
	}

	cases := []struct {
		name, desc, want string
	}{
		{"threshold zero", "wsh(multi(0," + testPubKeys(2, false) + "))", "invalid descriptor: threshold 0: at least 1 signature must be required"},
		{"threshold above n", "wsh(multi(3," + testPubKeys(2, false) + "))", "threshold 3 is more than the 2 keys: a 3-of-2 multisig could never be spent"},
		{"threshold not a number", "wsh(multi(two," + testPubKeys(2, false) + "))", `threshold "two" is not a number`},
		{"sh over 15 keys", "sh(multi(1," + testPubKeys(16, false) + "))", "16 keys is more than sh allows (at most 15); use wsh or sh-wsh for up to 20 keys"},
		{"wsh over 20 keys", "wsh(multi(1," + testPubKeys(21, false) + "))", "21 keys is more than wsh allows (at most 20)"},
		{"sh-wsh over 20 keys", "sh(wsh(multi(1," + testPubKeys(21, false) + ")))", "21 keys is more than sh-wsh allows (at most 20)"},
		{"sh redeem script over 520 bytes", "sh(multi(1," + testPubKeys(8, true) + "))", "sh redeem script would be 531 bytes, more than the 520-byte limit"},
		{"duplicate xpub and path", fmt.Sprintf("wsh(multi(2,%s,%s))", k1, k1), "invalid descriptor: key 2: duplicates key 1"},
		{"duplicate xpub, other origin", fmt.Sprintf("wsh(multi(2,%s,[00000000/1h]%s/<0;1>/*))", k1, x1), "key 2: duplicates key 1"},
		{"duplicate pubkey, other encoding", fmt.Sprintf("sh(multi(1,%s,%s))", testPubKey(0, false), testPubKey(0, true)), "key 2: duplicates key 1"},
		{"uncompressed under wsh", "wsh(multi(1," + testPubKey(0, true) + "))", "key 1: uncompressed public key under wsh: segwit allows only compressed keys"},
		{"uncompressed under sh-wsh", "sh(wsh(multi(1," + testPubKey(1, false) + "," + testPubKey(0, true) + ")))", "key 2: uncompressed public key under sh-wsh"},
		{"mixed networks", fmt.Sprintf("wsh(multi(1,%s,%s/<0;1>/*))", k1, tpub), "key 2: is a testnet/signet/regtest key (tpub) but key 1 is a mainnet key (xpub): all keys of a wallet must be for the same network"},
		{"multipath lengths differ", fmt.Sprintf("wsh(multi(1,%s,%s/<0;1;2>/*))", k1, x1+"/5"), "key 2: has 3 multipath alternatives but key 1 has 2"},
		{"multipath duplicate alternative", fmt.Sprintf("wsh(multi(1,%s/<1;1>/*))", x1), `multipath step "<1;1>" lists 1 twice`},
		{"two multipath steps", fmt.Sprintf("wsh(multi(1,%s/<0;1>/<2;3>/*))", x1), "more than one multipath step <a;b> in one key"},
		{"one-element multipath", fmt.Sprintf("wsh(multi(1,%s/<0>/*))", x1), "has one index: BIP-389 needs two or more"},
		{"wildcard not last", fmt.Sprintf("wsh(multi(1,%s/*/0))", x1), "the wildcard '*' must be the last step"},
		{"capital H marker", fmt.Sprintf("wsh(multi(1,[deadbeef/48H]%s/0/*))", x1), "hardened marker 'H'"},
		{"checksum mismatch", good + "#" + wrong, fmt.Sprintf("checksum mismatch: got %q, expected %q", wrong, sum)},
		{"checksum too short", good + "#" + sum[:7], "has 7 characters but a BIP-380 checksum has 8"},
		{"empty checksum", good + "#", "missing checksum after '#'"},
		{"two checksums", good + "#" + sum + "#" + sum, "more than one '#'"},
		{"character outside the set", "wsh(multi(1,é))", "invalid descriptor: character 'é' at position 13 is not allowed"},
		{"bare multi", "multi(1," + testPubKeys(1, false) + ")", "bare multi() has no address"},
		{"single-sig type", "wpkh(" + testPubKey(0, false) + ")", "unsupported descriptor wpkh()"},
		{"single key", "wpkh(" + testPubKey(0, false) + ")", "unsupported descriptor wpkh()"},
		{"taproot miniscript leaf", "tr(" + testPubKey(0, false) + ",and_v(v:pk(" + testPubKey(1, false) + "),older(10)))", "script leaf and_v() is not supported"},
		{"wsh in wsh", "wsh(wsh(multi(1," + testPubKey(0, false) + ")))", "wsh() nested in wsh()"},
		{"sh in sh", "sh(sh(multi(1," + testPubKey(0, false) + ")))", "sh() nested in sh()"},
		{"non-multisig inside sh", "sh(pkh(" + testPubKey(0, false) + "))", "accepts miniscript only directly inside wsh()"},
		{"unknown fragment inside wsh", "wsh(pkk(" + testPubKey(0, false) + "))", "neither multi()/sortedmulti() nor a valid miniscript"},
		{"script as a key", "wsh(multi(1,pk(" + testPubKey(0, false) + ")))", "key 1: is a script expression, not a key"},
		{"no keys", "wsh(multi(1))", "multi() has no keys"},
		{"bad third key", fmt.Sprintf("wsh(multi(1,%s,%s,xpubnonsense))", k1, k2), "invalid descriptor: key 3: unrecognised key"},
		{"hybrid public key", "sh(multi(1,06" + testPubKey(0, true)[2:] + "))", "starts with 06"},
		{"x-only public key", "wsh(multi(1," + testPubKey(0, false)[2:] + "))", "x-only public key"},
		{"not a descriptor", "hello", `"hello" is not a descriptor`},
		{"empty", "", "is not a descriptor"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.desc)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded", c.desc)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error\n  %v\nwant it to contain\n  %s", err, c.want)
			}
			if n := strings.Count(err.Error(), "invalid descriptor"); n != 1 {
				t.Fatalf("error %q repeats its prefix", err)
			}
		})
	}
}

// TestLimitsAccepted: the largest allowed wallets parse.
func TestLimitsAccepted(t *testing.T) {
	for _, desc := range []string{
		"sh(multi(15," + testPubKeys(15, false) + "))",
		"sh(sortedmulti(1," + testPubKeys(7, true) + "))", // 465-byte redeem script
		"wsh(multi(20," + testPubKeys(20, false) + "))",
		"sh(wsh(sortedmulti(20," + testPubKeys(20, false) + ")))",
	} {
		d, err := Parse(desc)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if _, err := d.Derive(0, 0, &chaincfg.MainNetParams); err != nil {
			t.Fatalf("Derive: %v", err)
		}
	}
}

// TestDeriveErrors checks the errors Derive and DeriveRange give.
func TestDeriveErrors(t *testing.T) {
	w := benchWallet(t, 2, 3)
	single, err := w.Single(0)
	if err != nil {
		t.Fatal(err)
	}
	hardened, err := Parse(fmt.Sprintf("wsh(multi(1,%s,%s/0h/*))", w.Keys[0], w.Keys[1].XPub))
	if err != nil {
		t.Fatalf("a hardened step after an xpub must parse: %v", err)
	}
	hardenedWildcard, err := Parse(fmt.Sprintf("wsh(multi(1,%s/0/*h))", w.Keys[1].XPub))
	if err != nil {
		t.Fatalf("a hardened wildcard after an xpub must parse: %v", err)
	}
	main := &chaincfg.MainNetParams
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"hardened step after an xpub", func() error { _, err := hardened.Derive(0, 0, main); return err },
			"key 2: hardened derivation after an xpub needs the private key"},
		{"hardened wildcard after an xpub", func() error { _, err := hardenedWildcard.DeriveRange(0, 0, 100, main); return err },
			"key 1: hardened derivation after an xpub needs the private key"},
		{"branch beyond multipath", func() error { _, err := w.Derive(2, 0, main); return err },
			"branch 2 does not exist: this descriptor has 2"},
		{"change branch without multipath", func() error { _, err := single.Derive(1, 0, main); return err },
			"branch 1 does not exist: this descriptor has 1"},
		{"hardened index", func() error { _, err := w.Derive(0, HardenedKeyStart, main); return err },
			"index 2147483648 is out of range"},
		{"range past the last index", func() error { _, err := w.DeriveRange(0, HardenedKeyStart-10, 11, main); return err },
			"indexes 2147483638 to 2147483648 are out of range"},
		{"range too large", func() error { _, err := w.DeriveRange(0, 0, maxRange+1, main); return err },
			"more than 1048576 addresses in one call"},
		{"testnet address for xpub keys", func() error { _, err := w.Derive(0, 0, &chaincfg.TestNet3Params); return err },
			"key 1: xpub is a mainnet key but the network is testnet"},
		{"no network", func() error { _, err := w.Derive(0, 0, nil); return err },
			"no network given"},
		{"single branch out of range", func() error { _, err := w.Single(2); return err },
			"branch 2 does not exist"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want ErrInvalid containing %q", err, c.want)
			}
			if n := strings.Count(err.Error(), "invalid descriptor"); n != 1 {
				t.Fatalf("error %q repeats its prefix", err)
			}
		})
	}
}

// TestDuplicateAtDerivation: keys that differ in text but derive the same
// child (an xpub and its own /0 child) are caught when derived.
func TestDuplicateAtDerivation(t *testing.T) {
	w := benchWallet(t, 1, 1)
	x := w.Keys[0].XPub
	child, err := x.Derive(0)
	if err != nil {
		t.Fatal(err)
	}
	fifth, err := x.Derive(5)
	if err != nil {
		t.Fatal(err)
	}
	fifthPub, err := fifth.ECPubKey()
	if err != nil {
		t.Fatal(err)
	}
	// A ranged key meets a fixed key at one index only.
	d, err := Parse(fmt.Sprintf("wsh(multi(1,%s/*,%x))", x, fifthPub.SerializeCompressed()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Derive(0, 4, &chaincfg.MainNetParams); err != nil {
		t.Fatalf("index 4: %v", err)
	}
	if _, err := d.Derive(0, 5, &chaincfg.MainNetParams); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "key 2: derives the same public key as key 1 at branch 0 index 5") {
		t.Fatalf("index 5: %v", err)
	}
	if _, err := d.DeriveRange(0, 0, 100, &chaincfg.MainNetParams); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "index 5") {
		t.Fatalf("DeriveRange over index 5: %v", err)
	}

	for _, desc := range []string{
		fmt.Sprintf("wsh(multi(1,%s/0/*,%s/*))", x, child),             // same parent node
		fmt.Sprintf("wsh(multi(1,%s/0/5,%s/5))", x, child),             // same fixed key
		fmt.Sprintf("wsh(multi(1,%s/0/<0;1>/*,%s/<0;1>/*))", x, child), // same node on both branches
		fmt.Sprintf("sh(multi(1,%s/0/*,%s))", x, testPubKey(0, false)), // distinct: must work
	} {
		d, err := Parse(desc)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		_, err = d.Derive(0, 5, &chaincfg.MainNetParams)
		if strings.HasPrefix(desc, "sh(") {
			if err != nil {
				t.Fatalf("distinct keys: %v", err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "key 2: derives the same public keys as key 1") &&
			!strings.Contains(err.Error(), "key 2: derives the same public key as key 1") {
			t.Fatalf("%s: Derive = %v, want a duplicate error", desc, err)
		}
	}
}
