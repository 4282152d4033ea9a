package descriptor

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/countersign/countersign/internal/secp"
	"github.com/countersign/countersign/internal/vectors"
)

func loadBIP32(t *testing.T) bip32Vectors {
	t.Helper()
	var v bip32Vectors
	vectors.Load(t, "bip32.json", &v)
	if len(v.Vectors) == 0 {
		t.Fatal("no BIP-32 vectors")
	}
	return v
}

// parseBIP32Path reads a vector path such as m/0'/1/2'.
func parseBIP32Path(t *testing.T, p string) []uint32 {
	t.Helper()
	var out []uint32
	for _, s := range strings.Split(p, "/")[1:] {
		v, err := parseIndex(s)
		if err != nil {
			t.Fatalf("path %q: %v", p, err)
		}
		out = append(out, v)
	}
	return out
}

// TestBIP32PublicDerivation derives every non-hardened step of the BIP-32
// vectors from the parent's xpub with pubNode (one at a time) and with the
// batched engine, and compares with the vector's child xpub.
func TestBIP32PublicDerivation(t *testing.T) {
	v := loadBIP32(t)
	table := secp.NewBaseTable()
	checked := 0
	for _, tv := range v.Vectors {
		for i := 1; i < len(tv.Chains); i++ {
			parent, child := tv.Chains[i-1], tv.Chains[i]
			pp, cp := parseBIP32Path(t, parent.Path), parseBIP32Path(t, child.Path)
			idx := cp[len(cp)-1]
			if len(cp) != len(pp)+1 || idx >= HardenedKeyStart {
				continue // hardened steps need the private key
			}
			t.Run(fmt.Sprintf("vector %d %s", tv.TestVector, child.Path), func(t *testing.T) {
				pk, err := hdkeychain.NewKeyFromString(parent.ExtPub)
				if err != nil {
					t.Fatal(err)
				}
				node, err := nodeFromExtendedKey(pk)
				if err != nil {
					t.Fatal(err)
				}
				pub, cc, err := node.ckd(idx)
				if err != nil {
					t.Fatal(err)
				}
				fp, err := fingerprintOf(pk)
				if err != nil {
					t.Fatal(err)
				}
				got := hdkeychain.NewExtendedKey(pk.Version(), pub[:], cc[:], fp[:], pk.Depth()+1, idx, false).String()
				if got != child.ExtPub {
					t.Fatalf("CKDpub = %s, want %s", got, child.ExtPub)
				}

				var sum [64]byte
				il, err := node.tweak(newMAC(node), idx, &sum)
				if err != nil {
					t.Fatal(err)
				}
				out := make([]secp.Affine, 1)
				table.MulBaseAdd([]btcec.ModNScalar{il}, []*secp.Affine{node.affine()}, out, &secp.BatchAdder{})
				if b := compressed(&out[0]); hex.EncodeToString(b) != hex.EncodeToString(pub[:]) {
					t.Fatalf("batched child %x, want %x", b, pub)
				}
			})
			checked++
		}
	}
	if checked < 5 {
		t.Fatalf("only %d public steps checked", checked)
	}
}

// TestBIP32PrivatePaths derives each vector path from the master xprv
// through a descriptor (hardened steps need the kept private key) and from
// the master xpub (which must refuse hardened steps).
func TestBIP32PrivatePaths(t *testing.T) {
	v := loadBIP32(t)
	for _, tv := range v.Vectors {
		master := tv.Chains[0]
		mk, err := hdkeychain.NewKeyFromString(master.ExtPub)
		if err != nil {
			t.Fatal(err)
		}
		mfp, err := fingerprintOf(mk)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range tv.Chains[1:] {
			t.Run(fmt.Sprintf("vector %d %s", tv.TestVector, ch.Path), func(t *testing.T) {
				path := strings.TrimPrefix(ch.Path, "m")
				want, err := hdkeychain.NewKeyFromString(ch.ExtPub)
				if err != nil {
					t.Fatal(err)
				}
				wantPub, err := want.ECPubKey()
				if err != nil {
					t.Fatal(err)
				}
				d, err := Parse("wsh(multi(1," + master.ExtPrv + path + "))")
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				r, err := d.Derive(0, 0, &chaincfg.MainNetParams)
				if err != nil {
					t.Fatalf("Derive: %v", err)
				}
				k := r.Keys[0]
				if !bytesEqual(k.PubKey, wantPub.SerializeCompressed()) {
					t.Fatalf("pubkey %x, want %x", k.PubKey, wantPub.SerializeCompressed())
				}
				if k.Fingerprint != mfp || fmt.Sprint(k.Path) != fmt.Sprint(parseBIP32Path(t, ch.Path)) {
					t.Fatalf("origin %x %v, want %x %v", k.Fingerprint, k.Path, mfp, parseBIP32Path(t, ch.Path))
				}

				pub, err := Parse("wsh(multi(1," + master.ExtPub + path + "))")
				if err != nil {
					t.Fatalf("Parse(xpub): %v", err)
				}
				r2, err := pub.Derive(0, 0, &chaincfg.MainNetParams)
				if strings.Contains(ch.Path, "'") {
					if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "needs the private key") {
						t.Fatalf("xpub with a hardened path: Derive = %v, want the private key error", err)
					}
					return
				}
				if err != nil || !bytesEqual(r2.Keys[0].PubKey, k.PubKey) {
					t.Fatalf("xpub Derive = %v, %v", r2, err)
				}
			})
		}
	}
}

// TestBIP32InvalidKeys refuses each invalid extended key of BIP-32 test
// vector 5, for the BIP's reason.
func TestBIP32InvalidKeys(t *testing.T) {
	v := loadBIP32(t)
	reasons := map[string]string{
		"pubkey version / prvkey mismatch":            "a public key starts with 02 or 03",
		"prvkey version / pubkey mismatch":            "not the 00 of a private key",
		"invalid pubkey prefix 04":                    "a public key starts with 02 or 03",
		"invalid prvkey prefix 04":                    "not the 00 of a private key",
		"invalid pubkey prefix 01":                    "a public key starts with 02 or 03",
		"invalid prvkey prefix 01":                    "not the 00 of a private key",
		"zero depth with non-zero parent fingerprint": "non-zero parent fingerprint",
		"zero depth with non-zero index":              "non-zero child number",
		"unknown extended key version":                "unknown extended key version",
		"private key 0 not in 1..n-1":                 "range 1..n-1",
		"private key n not in 1..n-1":                 "range 1..n-1",
		"invalid checksum":                            "checksum",
	}
	if len(v.Invalid.Keys) == 0 {
		t.Fatal("no invalid keys")
	}
	for _, c := range v.Invalid.Keys {
		t.Run(c.Reason, func(t *testing.T) {
			want, ok := reasons[c.Reason]
			if strings.HasPrefix(c.Reason, "invalid pubkey 02") {
				want, ok = "not a point on secp256k1", true
			}
			if !ok {
				t.Fatalf("no expected message for reason %q", c.Reason)
			}
			_, err := ParseKey(c.ExtendedKey)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
				t.Fatalf("ParseKey = %v, want ErrInvalid mentioning %q", err, want)
			}
		})
	}
}

// TestCKDAgainstHdkeychain compares pubNode and the batched engine with
// hdkeychain on random indexes of every vector xpub.
func TestCKDAgainstHdkeychain(t *testing.T) {
	v := loadBIP32(t)
	rng := rand.New(rand.NewPCG(5, 6))
	table := secp.NewBaseTable()
	for _, tv := range v.Vectors {
		for _, ch := range tv.Chains {
			k, err := hdkeychain.NewKeyFromString(ch.ExtPub)
			if err != nil {
				t.Fatal(err)
			}
			node, err := nodeFromExtendedKey(k)
			if err != nil {
				t.Fatal(err)
			}
			var idxs []uint32
			var tweaks []btcec.ModNScalar
			var bases []*secp.Affine
			base := node.affine()
			mac := newMAC(node)
			for j := range 40 {
				i := rng.Uint32N(HardenedKeyStart)
				if j < 3 {
					i = uint32(j)
				}
				var sum [64]byte
				il, err := node.tweak(mac, i, &sum)
				if err != nil {
					t.Fatal(err)
				}
				idxs, tweaks, bases = append(idxs, i), append(tweaks, il), append(bases, base)
			}
			out := make([]secp.Affine, len(idxs))
			table.MulBaseAdd(tweaks, bases, out, &secp.BatchAdder{})
			if !verifyRound(tweaks, bases, out) {
				t.Fatal("verifyRound rejected a correct round")
			}
			for j, i := range idxs {
				ref, err := k.Derive(i)
				if err != nil {
					t.Fatal(err)
				}
				refPub, _ := ref.ECPubKey()
				pub, cc, err := node.ckd(i)
				if err != nil {
					t.Fatal(err)
				}
				if !bytesEqual(pub[:], refPub.SerializeCompressed()) || !bytesEqual(cc[:], ref.ChainCode()) {
					t.Fatalf("%s/%d: ckd differs from hdkeychain", ch.ExtPub, i)
				}
				if !bytesEqual(compressed(&out[j]), pub[:]) {
					t.Fatalf("%s/%d: batch differs from hdkeychain", ch.ExtPub, i)
				}
			}
		}
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }
