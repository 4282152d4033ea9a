package descriptor

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/countersign/countersign/internal/vectors"
)

// withVersion re-encodes an extended key with other version bytes.
func withVersion(t *testing.T, key, versionHex string) string {
	t.Helper()
	raw := base58.Decode(key)
	if len(raw) != 82 {
		t.Fatalf("%s is not an extended key", key)
	}
	v, err := hex.DecodeString(strings.TrimPrefix(versionHex, "0x"))
	if err != nil || len(v) != 4 {
		t.Fatalf("bad version %q", versionHex)
	}
	payload := append(v, raw[4:78]...)
	h1 := sha256.Sum256(payload)
	h2 := sha256.Sum256(h1[:])
	return base58.Encode(append(payload, h2[:4]...))
}

// TestSLIP132VersionTable converts a key carrying each registered Bitcoin
// version (public and private) and checks it comes out as xpub or tpub
// with the rest of the serialization untouched.
func TestSLIP132VersionTable(t *testing.T) {
	var v slip132Vectors
	vectors.Load(t, "slip132.json", &v)
	if len(v.VersionBytes) == 0 || len(v.TestVectors.Accounts) == 0 {
		t.Fatal("no SLIP-132 vectors")
	}
	acct := v.TestVectors.Accounts[0]
	for _, row := range v.VersionBytes {
		t.Run(row.PublicPrefix, func(t *testing.T) {
			want := "xpub"
			if strings.Contains(row.Coin, "Testnet") {
				want = "tpub"
			}
			pub := withVersion(t, acct.XpubLike, row.PublicVersionHex)
			if !strings.HasPrefix(pub, row.PublicPrefix) {
				t.Fatalf("re-encoded key %s does not start with %s", pub, row.PublicPrefix)
			}
			k, err := ParseKey(pub)
			if err != nil {
				t.Fatalf("ParseKey(%s): %v", row.PublicPrefix, err)
			}
			s := k.String()
			if !strings.HasPrefix(s, want) || !bytes.Equal(base58.Decode(s)[4:78], base58.Decode(pub)[4:78]) {
				t.Fatalf("%s became %s, want the same key as %s", row.PublicPrefix, s, want)
			}

			prv := withVersion(t, acct.XprvLike, row.PrivateVersion)
			pk, err := ParseKey(prv)
			if err != nil {
				t.Fatalf("ParseKey(%s): %v", row.PrivatePrefix, err)
			}
			if !pk.Private || pk.String() != s {
				t.Fatalf("%s neutered to %s (private=%v), want %s", row.PrivatePrefix, pk.String(), pk.Private, s)
			}
		})
	}
}

// TestSLIP132Accounts parses each example account (xpub, ypub, zpub and
// their private keys) and derives its first address.
func TestSLIP132Accounts(t *testing.T) {
	var v slip132Vectors
	vectors.Load(t, "slip132.json", &v)
	for _, a := range v.TestVectors.Accounts {
		t.Run(a.Path, func(t *testing.T) {
			pub, err := ParseKey(a.XpubLike)
			if err != nil {
				t.Fatal(err)
			}
			prv, err := ParseKey(a.XprvLike)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(pub.String(), "xpub") || prv.String() != pub.String() {
				t.Fatalf("%s -> %s, private -> %s", a.XpubLike[:4], pub, prv)
			}
			if !strings.HasSuffix(a.FirstAddressPath, "/0/0") {
				t.Fatalf("unexpected first address path %s", a.FirstAddressPath)
			}
			d, err := Parse("wsh(multi(1," + a.XpubLike + "/0/0))")
			if err != nil {
				t.Fatal(err)
			}
			r, err := d.Derive(0, 0, &chaincfg.MainNetParams)
			if err != nil {
				t.Fatal(err)
			}
			if got := singleSigAddress(t, a.Path, r.Keys[0].PubKey); got != a.FirstAddress {
				t.Fatalf("first address %s, want %s", got, a.FirstAddress)
			}
		})
	}
}

// singleSigAddress encodes a key as the account's BIP-44/49/84 address.
func singleSigAddress(t *testing.T, path string, pub []byte) string {
	t.Helper()
	net := &chaincfg.MainNetParams
	h := btcutil.Hash160(pub)
	var addr btcutil.Address
	var err error
	switch {
	case strings.HasPrefix(path, "m/44'"):
		addr, err = btcutil.NewAddressPubKeyHash(h, net)
	case strings.HasPrefix(path, "m/84'"):
		addr, err = btcutil.NewAddressWitnessPubKeyHash(h, net)
	case strings.HasPrefix(path, "m/49'"):
		var w btcutil.Address
		if w, err = btcutil.NewAddressWitnessPubKeyHash(h, net); err == nil {
			var script []byte
			if script, err = txscript.PayToAddrScript(w); err == nil {
				addr, err = btcutil.NewAddressScriptHash(script, net)
			}
		}
	default:
		t.Fatalf("no address type for %s", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	return addr.EncodeAddress()
}
