package soft

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/tyler-smith/go-bip39"
)

// bip39Vectors is testdata/bip39_vectors.json: published BIP-39 vectors
// (trezor/python-mnemonic vectors.json; source and commit in the file).
type bip39Vectors struct {
	Passphrase string      `json:"passphrase"`
	English    [][4]string `json:"english"` // entropy, mnemonic, seed, master xprv
}

func loadBIP39Vectors(t *testing.T) bip39Vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/bip39_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v bip39Vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.English) == 0 || v.Passphrase != "TREZOR" {
		t.Fatalf("testdata/bip39_vectors.json has %d vectors and passphrase %q", len(v.English), v.Passphrase)
	}
	return v
}

// TestBIP39Vectors checks entropy -> mnemonic -> seed -> master xprv, the
// chain Generate and Open rely on, against every published vector.
func TestBIP39Vectors(t *testing.T) {
	v := loadBIP39Vectors(t)
	for _, vec := range v.English {
		entropyHex, mnemonic, seedHex, xprv := vec[0], vec[1], vec[2], vec[3]
		t.Run(mnemonic[:20], func(t *testing.T) {
			entropy, err := hex.DecodeString(entropyHex)
			if err != nil {
				t.Fatal(err)
			}
			got, err := bip39.NewMnemonic(entropy)
			if err != nil || got != mnemonic {
				t.Fatalf("NewMnemonic = %q, %v; want %q", got, err, mnemonic)
			}
			norm, err := normalizeMnemonic(mnemonic)
			if err != nil || norm != mnemonic {
				t.Fatalf("normalizeMnemonic = %q, %v", norm, err)
			}
			if seed := hex.EncodeToString(bip39.NewSeed(mnemonic, v.Passphrase)); seed != seedHex {
				t.Fatalf("seed = %s, want %s", seed, seedHex)
			}
			m, err := masterFromMnemonic(mnemonic, v.Passphrase, &chaincfg.MainNetParams)
			if err != nil {
				t.Fatal(err)
			}
			if m.String() != xprv {
				t.Fatalf("master = %s, want %s", m.String(), xprv)
			}
		})
	}
}
