package bip137

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
)

type vector struct {
	Network, WIF, Address, Message, Signature string
}

func vectors(t testing.TB) []vector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "core-signmessage.json"))
	if err != nil {
		t.Fatalf("signed-message vectors: %v (see testdata/README.md)", err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil || len(vs) == 0 {
		t.Fatalf("signed-message vectors: %v", err)
	}
	return vs
}

// TestCoreVector: Bitcoin Core's signmessagewithprivkey vector comes out
// byte for byte and verifies; changed messages, addresses and signatures
// do not.
func TestCoreVector(t *testing.T) {
	for _, v := range vectors(t) {
		net := &chaincfg.TestNet3Params
		wif, err := btcutil.DecodeWIF(v.WIF)
		if err != nil {
			t.Fatal(err)
		}
		addr, sig, err := Sign(wif.PrivKey, v.Message, net)
		if err != nil {
			t.Fatal(err)
		}
		if addr != v.Address || sig != v.Signature {
			t.Fatalf("signed as %s %s, Core: %s %s", addr, sig, v.Address, v.Signature)
		}
		if err := Verify(v.Address, v.Signature, v.Message, net); err != nil {
			t.Fatal(err)
		}
		if err := Verify(v.Address, v.Signature, v.Message+".", net); !errors.Is(err, ErrMismatch) {
			t.Fatalf("other message: %v", err)
		}
		other, _ := btcutil.NewAddressPubKeyHash(make([]byte, 20), net)
		if err := Verify(other.EncodeAddress(), v.Signature, v.Message, net); !errors.Is(err, ErrMismatch) {
			t.Fatalf("other address: %v", err)
		}
		raw, _ := base64.StdEncoding.DecodeString(v.Signature)
		raw[10] ^= 1
		if err := Verify(v.Address, base64.StdEncoding.EncodeToString(raw), v.Message, net); !errors.Is(err, ErrMismatch) {
			t.Fatalf("changed signature: %v", err)
		}
		if err := Verify(v.Address, v.Signature, v.Message, &chaincfg.MainNetParams); !errors.Is(err, ErrInvalid) {
			t.Fatalf("testnet address on mainnet: %v", err)
		}
	}
}

// TestSegwitHeaders: the same signature with a P2SH-P2WPKH or P2WPKH
// header verifies against that address of the key, and not against the
// P2PKH one.
func TestSegwitHeaders(t *testing.T) {
	v := vectors(t)[0]
	net := &chaincfg.TestNet3Params
	wif, _ := btcutil.DecodeWIF(v.WIF)
	hash := btcutil.Hash160(wif.PrivKey.PubKey().SerializeCompressed())
	wpkh, _ := btcutil.NewAddressWitnessPubKeyHash(hash, net)
	script, _ := txscript.PayToAddrScript(wpkh)
	shwpkh, _ := btcutil.NewAddressScriptHash(script, net)
	raw, _ := base64.StdEncoding.DecodeString(v.Signature)
	for _, c := range []struct {
		add  byte
		addr string
	}{{4, shwpkh.EncodeAddress()}, {8, wpkh.EncodeAddress()}} {
		s := append([]byte(nil), raw...)
		s[0] += c.add
		enc := base64.StdEncoding.EncodeToString(s)
		if err := Verify(c.addr, enc, v.Message, net); err != nil {
			t.Errorf("header %d: %v", s[0], err)
		}
		if err := Verify(v.Address, enc, v.Message, net); !errors.Is(err, ErrMismatch) {
			t.Errorf("header %d against the P2PKH address: %v", s[0], err)
		}
	}
}

func TestVerifyRefusesMalformed(t *testing.T) {
	v := vectors(t)[0]
	net := &chaincfg.TestNet3Params
	raw, _ := base64.StdEncoding.DecodeString(v.Signature)
	for name, sig := range map[string]string{
		"not base64": "%%%",
		"short":      base64.StdEncoding.EncodeToString(raw[:64]),
		"header 26":  base64.StdEncoding.EncodeToString(append([]byte{26}, raw[1:]...)),
		"header 43":  base64.StdEncoding.EncodeToString(append([]byte{43}, raw[1:]...)),
	} {
		if err := Verify(v.Address, sig, v.Message, net); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := Verify("not-an-address", v.Signature, v.Message, net); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad address: %v", err)
	}
}

// FuzzVerify: any address, signature and message give an answer, never a
// panic; only the vector's own triple verifies.
func FuzzVerify(f *testing.F) {
	v := vectors(f)[0]
	f.Add(v.Address, v.Signature, v.Message)
	f.Add(v.Address, v.Signature, "")
	f.Add("tb1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq0l98cr", "AAAA", "x")
	want, _ := base64.StdEncoding.DecodeString(v.Signature)
	f.Fuzz(func(t *testing.T, addr, sig, msg string) {
		err := Verify(addr, sig, msg, &chaincfg.TestNet3Params)
		got, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(sig))
		if err == nil && (!bytes.Equal(got, want) || msg != v.Message) {
			// Another valid triple is possible only by breaking ECDSA.
			t.Fatalf("verified %q %q %q", addr, sig, msg)
		}
	})
}
