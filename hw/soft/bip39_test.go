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

// TestBIP39PassphraseNFKD: an imported key's passphrase is hashed in NFKD
// form, so the same words and passphrase give the same key however the
// passphrase's accents were typed (composed or decomposed), full-width
// letters give the ASCII ones' key, and another passphrase another key.
// The seed itself is checked against the bip32JP vectors and Trezor's
// python-mnemonic in internal/bip39.
func TestBIP39PassphraseNFKD(t *testing.T) {
	const words = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
	key := func(pass string) string {
		t.Helper()
		if err := checkBIP39Passphrase(pass); err != nil {
			t.Fatalf("%q refused: %v", pass, err)
		}
		m, err := masterFromMnemonic(words, pass, &chaincfg.MainNetParams)
		if err != nil {
			t.Fatal(err)
		}
		return m.String()
	}
	if key("caf\u00e9") != key("cafe\u0301") {
		t.Fatal("a composed and a decomposed é give different keys")
	}
	if key("caf\u00e9") == key("cafe") {
		t.Fatal("café and cafe give the same key")
	}
	const trezorRoot = "xprv9s21ZrQH143K3h3fDYiay8mocZ3afhfULfb5GX8kCBdno77K4HiA15Tg23wpbeF1pLfs1c5SPmYHrEpTuuRhxMwvKDwqdKiGJS9XFKzUsAF"
	if got := key("\uff34\uff32\uff25\uff3a\uff2f\uff32"); got != trezorRoot {
		t.Fatalf("full-width TREZOR: %s", got)
	}
}
