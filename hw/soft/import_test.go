package soft_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/hw/soft"
	"github.com/countersign/countersign/internal/vectors"
)

type bip32File struct {
	Vectors []struct {
		TestVector int `json:"test_vector"`
		Chains     []struct {
			Path   string `json:"path"`
			ExtPub string `json:"ext_pub"`
			ExtPrv string `json:"ext_prv"`
		} `json:"chains"`
	} `json:"vectors"`
	Invalid struct {
		Keys []struct {
			ExtendedKey string `json:"extended_key"`
			Reason      string `json:"reason"`
		} `json:"keys"`
	} `json:"invalid_extended_keys_test_vector_5"`
}

// parsePath reads the BIP's "m/0'/1/2'" notation.
func parsePath(s string) ([]uint32, error) {
	parts := strings.Split(s, "/")
	if parts[0] != "m" {
		return nil, fmt.Errorf("path %q does not start with m", s)
	}
	var out []uint32
	for _, p := range parts[1:] {
		hard := strings.HasSuffix(p, "'")
		n, err := strconv.ParseUint(strings.TrimSuffix(p, "'"), 10, 32)
		if err != nil {
			return nil, err
		}
		if hard {
			n += hdkeychain.HardenedKeyStart
		}
		out = append(out, uint32(n))
	}
	return out, nil
}

// TestImportXprvBIP32 imports each BIP-32 master xprv and checks every
// published xpub of its chain, hardened steps included.
func TestImportXprvBIP32(t *testing.T) {
	var f bip32File
	vectors.Load(t, "bip32.json", &f)
	s := newStore(t)
	for _, v := range f.Vectors {
		name := fmt.Sprintf("v%d", v.TestVector)
		if v.Chains[0].Path != "m" {
			t.Fatalf("vector %d does not start at m", v.TestVector)
		}
		info, err := s.Import(name, v.Chains[0].ExtPrv, "", &chaincfg.MainNetParams, testPass)
		if err != nil {
			t.Fatalf("vector %d: %v", v.TestVector, err)
		}
		if info.Kind != soft.KindXprv || info.Network != "mainnet" {
			t.Fatalf("vector %d: info %+v", v.TestVector, info)
		}
		sg := open(t, s, name)
		for _, c := range v.Chains {
			path, err := parsePath(c.Path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := sg.Xpub(context.Background(), path)
			if err != nil {
				t.Fatalf("vector %d %s: %v", v.TestVector, c.Path, err)
			}
			if got.String() != c.ExtPub {
				t.Errorf("vector %d %s: xpub %s, want %s", v.TestVector, c.Path, got, c.ExtPub)
			}
		}
		// A child xprv is not a master key: its PSBT paths could not match.
		if _, err := s.Import(name+"child", v.Chains[1].ExtPrv, "", &chaincfg.MainNetParams, testPass); !errors.Is(err, soft.ErrInvalid) || !strings.Contains(err.Error(), "depth") {
			t.Errorf("vector %d: importing %s: %v, want ErrInvalid about its depth", v.TestVector, v.Chains[1].Path, err)
		}
		// Nor may a mainnet key be stored for testnet.
		if _, err := s.Import(name+"test", v.Chains[0].ExtPrv, "", &chaincfg.TestNet3Params, testPass); !errors.Is(err, soft.ErrInvalid) {
			t.Errorf("vector %d: xprv imported for testnet: %v, want ErrInvalid", v.TestVector, err)
		}
	}
}

// TestImportInvalidBIP32 feeds every invalid key of BIP-32 test vector 5.
func TestImportInvalidBIP32(t *testing.T) {
	var f bip32File
	vectors.Load(t, "bip32.json", &f)
	if len(f.Invalid.Keys) == 0 {
		t.Fatal("no invalid keys in bip32.json")
	}
	s := newStore(t)
	for i, k := range f.Invalid.Keys {
		_, err := s.Import(fmt.Sprintf("bad%d", i), k.ExtendedKey, "", &chaincfg.MainNetParams, testPass)
		if !errors.Is(err, soft.ErrInvalid) {
			t.Errorf("%s (%s): %v, want ErrInvalid", k.ExtendedKey, k.Reason, err)
		}
	}
}

// TestImportMnemonicBIP39 goes through the store with the published BIP-39
// vectors: mnemonic + passphrase TREZOR must open as the published master.
func TestImportMnemonicBIP39(t *testing.T) {
	b, err := os.ReadFile("testdata/bip39_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Passphrase string      `json:"passphrase"`
		English    [][4]string `json:"english"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	s := newStore(t)
	for i, vec := range v.English {
		mnemonic, xprv := vec[1], vec[3]
		if i == 0 {
			// Spacing and capitals do not change the wallet.
			mnemonic = "  " + strings.ToUpper(strings.ReplaceAll(mnemonic, " ", "\t "))
		}
		name := fmt.Sprintf("m%d", i)
		info, err := s.Import(name, mnemonic, v.Passphrase, &chaincfg.MainNetParams, testPass)
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		want, err := hdkeychain.NewKeyFromString(xprv)
		if err != nil {
			t.Fatal(err)
		}
		wantPub, _ := want.Neuter()
		sg := open(t, s, name)
		got, err := sg.Xpub(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != wantPub.String() {
			t.Errorf("vector %d: master xpub %s, want %s (from %s)", i, got, wantPub, xprv)
		}
		// The same master imported as an xprv has the same fingerprint.
		xinfo, err := s.Import(name+"x", xprv, "", &chaincfg.MainNetParams, testPass)
		if err != nil {
			t.Fatal(err)
		}
		if xinfo.Fingerprint != info.Fingerprint {
			t.Errorf("vector %d: fingerprint %x as mnemonic, %x as xprv", i, info.Fingerprint, xinfo.Fingerprint)
		}
	}
}
