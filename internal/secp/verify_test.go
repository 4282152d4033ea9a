package secp

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// wycheproof is the part of Wycheproof's ECDSA verification vector files
// (testdata/wycheproof, see its README) the tests read.
type wycheproof struct {
	NumberOfTests int `json:"numberOfTests"`
	TestGroups    []struct {
		PublicKey struct {
			Uncompressed string `json:"uncompressed"`
		} `json:"publicKey"`
		Tests []struct {
			TcID    int      `json:"tcId"`
			Comment string   `json:"comment"`
			Flags   []string `json:"flags"`
			Msg     string   `json:"msg"`
			Sig     string   `json:"sig"`
			Result  string   `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// wycheproofCase is one signature check: hash, key (in both encodings),
// DER signature and what Wycheproof expects.
type wycheproofCase struct {
	id         int
	comment    string
	hash       []byte
	pubs       [][]byte
	der        []byte
	wantResult string
}

func loadWycheproof(t *testing.T, name string) []wycheproofCase {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "wycheproof", name))
	if err != nil {
		t.Fatalf("Wycheproof vectors missing (they are part of the repository): %v", err)
	}
	var w wycheproof
	if err := json.Unmarshal(raw, &w); err != nil {
		t.Fatal(err)
	}
	var out []wycheproofCase
	for _, g := range w.TestGroups {
		u := mustHex(t, g.PublicKey.Uncompressed)
		k, err := btcec.ParsePubKey(u)
		if err != nil {
			t.Fatalf("vector key %x: %v", u, err)
		}
		pubs := [][]byte{u, k.SerializeCompressed()}
		for _, tc := range g.Tests {
			h := sha256.Sum256(mustHex(t, tc.Msg))
			out = append(out, wycheproofCase{id: tc.TcID, comment: tc.Comment, hash: h[:], pubs: pubs, der: mustHex(t, tc.Sig), wantResult: tc.Result})
		}
	}
	if len(out) != w.NumberOfTests || len(out) == 0 {
		t.Fatalf("%s: read %d tests, the file says %d", name, len(out), w.NumberOfTests)
	}
	return out
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lowS reports whether a DER signature's S is at most half the group
// order (BIP-146).
func lowS(der []byte) bool {
	sig, err := ecdsa.ParseDERSignature(der)
	if err != nil {
		return false
	}
	return bytes.Equal(sig.Serialize(), der)
}

// TestWycheproofECDSA runs Wycheproof's secp256k1/SHA-256 ECDSA vectors
// through VerifyECDSA (whichever backend this binary has), with each key
// compressed and uncompressed: every "valid" signature verifies and every
// "invalid" one (BER encodings, out-of-range R or S, arithmetic edge
// cases) does not. The Bitcoin variant adds that a high S is invalid,
// which is VerifyECDSA plus the low-S rule.
func TestWycheproofECDSA(t *testing.T) {
	for _, f := range []struct {
		name    string
		bitcoin bool
	}{{"ecdsa_secp256k1_sha256_test.json", false}, {"ecdsa_secp256k1_sha256_bitcoin_test.json", true}} {
		cases := loadWycheproof(t, f.name)
		for _, c := range cases {
			for _, pub := range c.pubs {
				got := VerifyECDSA(c.hash, pub, c.der)
				if f.bitcoin {
					got = got && lowS(c.der)
				}
				switch c.wantResult {
				case "valid":
					if !got {
						t.Errorf("%s #%d (%s), key %x: valid signature refused (%s)", f.name, c.id, c.comment, pub[:1], Backend())
					}
				case "invalid":
					if got {
						t.Errorf("%s #%d (%s), key %x: invalid signature accepted (%s)", f.name, c.id, c.comment, pub[:1], Backend())
					}
				default:
					t.Fatalf("%s #%d: result %q not handled", f.name, c.id, c.wantResult)
				}
			}
		}
		t.Logf("%s: %d vectors, each with both key encodings, backend %s", f.name, len(cases), Backend())
	}
}

// TestBackendsAgree cross-checks libsecp256k1 against btcec on every
// Wycheproof vector and on random cases: valid signatures, signatures of
// another hash, by another key, with S negated (high S, still valid),
// with R or S off by one, and random R and S. It needs a binary built with
// the libsecp256k1 tag (the Makefile builds one where the library is
// installed); set COUNTERSIGN_REQUIRE_LIBSECP=1 to make its absence fail.
func TestBackendsAgree(t *testing.T) {
	if Backend() != "libsecp256k1" {
		if os.Getenv("COUNTERSIGN_REQUIRE_LIBSECP") == "1" {
			t.Fatal("built without libsecp256k1 (go test -tags libsecp256k1) but COUNTERSIGN_REQUIRE_LIBSECP=1")
		}
		t.Skip("built without libsecp256k1: nothing to cross-check (go test -tags libsecp256k1)")
	}
	agree := func(what string, hash, pub, der []byte) bool {
		t.Helper()
		sig, err := ecdsa.ParseDERSignature(der)
		if err != nil || !StrictDER(der) {
			return false
		}
		a := verifyBtcec(hash, pub, sig)
		b, _ := verifyLibsecp(hash, pub, sig)
		if a != b {
			t.Fatalf("%s: btcec says %v, libsecp256k1 says %v (hash %x, key %x, sig %x)", what, a, b, hash, pub, der)
		}
		return a
	}
	n := 0
	for _, name := range []string{"ecdsa_secp256k1_sha256_test.json", "ecdsa_secp256k1_sha256_bitcoin_test.json"} {
		for _, c := range loadWycheproof(t, name) {
			for _, pub := range c.pubs {
				agree(name, c.hash, pub, c.der)
				n++
			}
		}
	}
	rng := rand.New(rand.NewPCG(9, 10))
	valid := 0
	for i := range 1500 {
		k, err := btcec.NewPrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		var h [32]byte
		for j := range h {
			h[j] = byte(rng.Uint32())
		}
		sig := ecdsa.Sign(k, h[:])
		der := sig.Serialize()
		pubs := [][]byte{k.PubKey().SerializeCompressed(), k.PubKey().SerializeUncompressed()}
		other, _ := btcec.NewPrivateKey()
		h2 := h
		h2[i%32] ^= 1 << (i % 8)
		for _, pub := range pubs {
			if agree("valid", h[:], pub, der) {
				valid++
			}
			agree("another hash", h2[:], pub, der)
			agree("high S", h[:], pub, withS(t, der, func(s *btcec.ModNScalar) { s.Negate() }))
			agree("S+1", h[:], pub, withS(t, der, func(s *btcec.ModNScalar) { s.Add(new(btcec.ModNScalar).SetInt(1)) }))
			n += 4
		}
		agree("another key", h[:], other.PubKey().SerializeCompressed(), der)
		var r, s btcec.ModNScalar
		var rb, sb [32]byte
		for j := range rb {
			rb[j], sb[j] = byte(rng.Uint32()), byte(rng.Uint32())
		}
		r.SetBytes(&rb)
		s.SetBytes(&sb)
		agree("random R and S", h[:], pubs[0], ecdsa.NewSignature(&r, &s).Serialize())
		n += 2
	}
	if valid != 3000 {
		t.Fatalf("%d of 3000 valid signatures verified", valid)
	}
	t.Logf("btcec and libsecp256k1 agree on %d checks", n)
}

// withS re-encodes a DER signature with S changed by f, in DER as it
// comes (high S kept).
func withS(t *testing.T, der []byte, f func(*btcec.ModNScalar)) []byte {
	t.Helper()
	lenR := int(der[3])
	r := der[4 : 4+lenR]
	var s btcec.ModNScalar
	sb := der[6+lenR:]
	for len(sb) > 0 && sb[0] == 0 {
		sb = sb[1:]
	}
	s.SetByteSlice(sb)
	f(&s)
	b := s.Bytes()
	sv := bytes.TrimLeft(b[:], "\x00")
	if len(sv) == 0 || sv[0]&0x80 != 0 {
		sv = append([]byte{0}, sv...)
	}
	out := []byte{0x30, byte(4 + len(r) + len(sv)), 0x02, byte(len(r))}
	out = append(out, r...)
	out = append(out, 0x02, byte(len(sv)))
	return append(out, sv...)
}
