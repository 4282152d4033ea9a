package bip39

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	gobip39 "github.com/tyler-smith/go-bip39"
)

// TestWordList: english.txt is BIP-39's list byte for byte (its published
// SHA-256) and sorted, which Index's bisection relies on.
func TestWordList(t *testing.T) {
	sum := sha256.Sum256([]byte(english))
	if got := hex.EncodeToString(sum[:]); got != "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda" {
		t.Fatalf("english.txt SHA-256 %s", got)
	}
	w := Words()
	for i, word := range w {
		if j, ok := Index(word); !ok || j != i {
			t.Fatalf("Index(%q) = %d, %v; want %d", word, j, ok, i)
		}
	}
	for _, bad := range []string{"", "aaa", "zzz", "Abandon", "abandon ", "zoos"} {
		if _, ok := Index(bad); ok {
			t.Fatalf("Index(%q) found it", bad)
		}
	}
}

// TestTrezorVectors: BIP-39's reference vectors (entropy, words, seed with
// the passphrase TREZOR, and the BIP-32 root key of that seed).
func TestTrezorVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/trezor-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ English [][4]string }
	if err := json.Unmarshal(raw, &v); err != nil || len(v.English) != 24 {
		t.Fatalf("%d vectors, %v", len(v.English), err)
	}
	for _, c := range v.English {
		entropy, _ := hex.DecodeString(c[0])
		m, err := NewMnemonic(entropy)
		if err != nil || m != c[1] {
			t.Fatalf("NewMnemonic(%s) = %q, %v; want %q", c[0], m, err, c[1])
		}
		back, err := EntropyFromMnemonic(c[1])
		if err != nil || !bytes.Equal(back, entropy) {
			t.Fatalf("EntropyFromMnemonic(%q) = %x, %v", c[1], back, err)
		}
		seed, err := Seed(c[1], "TREZOR")
		if err != nil || hex.EncodeToString(seed) != c[2] {
			t.Fatalf("Seed(%q) = %x, %v", c[1], seed, err)
		}
		root, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
		if err != nil || root.String() != c[3] {
			t.Fatalf("root key of %q: %v, %v", c[1], root, err)
		}
	}
}

// TestJapaneseVectors: the bip32JP vectors BIP-39 links
// (bip32JP/bip32JP.github.io test_JP_BIP39.json at 0d1ac71): Japanese
// mnemonics written with ideographic spaces and the passphrase
// "㍍ガバヴァぱばぐゞちぢ十人十色", whose seeds come out right only when
// both are hashed in NFKD form (the space becomes U+0020, ㍍ becomes
// メートル, ガ is decomposed). The word list is English only here, so the
// vectors test Seed, not the words.
func TestJapaneseVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/test_JP_BIP39.json")
	if err != nil {
		t.Fatal(err)
	}
	var v []struct {
		Mnemonic, Passphrase, Seed string
		Xprv                       string `json:"bip32_xprv"`
	}
	if err := json.Unmarshal(raw, &v); err != nil || len(v) != 24 {
		t.Fatalf("%d vectors, %v", len(v), err)
	}
	for _, c := range v {
		seed, err := Seed(c.Mnemonic, c.Passphrase)
		if err != nil || hex.EncodeToString(seed) != c.Seed {
			t.Fatalf("Seed(%q, %q) = %x, %v; want %s", c.Mnemonic, c.Passphrase, seed, err, c.Seed)
		}
		root, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
		if err != nil || root.String() != c.Xprv {
			t.Fatalf("root key of %q: %v, %v", c.Mnemonic, root, err)
		}
	}
	// Full-width letters are the ASCII ones after NFKD: Trezor's first
	// vector's seed, from its passphrase typed full-width.
	seed, _ := Seed("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", "\uff34\uff32\uff25\uff3a\uff2f\uff32")
	if hex.EncodeToString(seed) != "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04" {
		t.Fatalf("full-width TREZOR: seed %x", seed)
	}
}

// TestAgainstGoBIP39: random entropy of every size gives the same words
// and seed as go-bip39 (the library the emulators use), and both refuse
// the same broken mnemonics.
func TestAgainstGoBIP39(t *testing.T) {
	for i := 0; i < 200; i++ {
		entropy := make([]byte, 16+4*(i%5))
		rand.Read(entropy)
		m, err := NewMnemonic(entropy)
		want, werr := gobip39.NewMnemonic(entropy)
		if err != nil || werr != nil || m != want {
			t.Fatalf("%x: %q, %v; go-bip39 %q, %v", entropy, m, err, want, werr)
		}
		seed, _ := Seed(m, "pass phrase")
		if !bytes.Equal(seed, gobip39.NewSeed(m, "pass phrase")) {
			t.Fatalf("%q: seeds differ", m)
		}
		// One word swapped for its neighbour in the list: almost always a
		// checksum failure (1 in 2^cs not); both must agree either way.
		words := strings.Fields(m)
		k := i % len(words)
		j, _ := Index(words[k])
		words[k] = Words()[(j+1)%2048]
		broken := strings.Join(words, " ")
		_, err = EntropyFromMnemonic(broken)
		_, werr = gobip39.EntropyFromMnemonic(broken)
		if (err == nil) != (werr == nil) {
			t.Fatalf("%q: %v; go-bip39 %v", broken, err, werr)
		}
		if err != nil && !errors.Is(err, ErrChecksum) {
			t.Fatalf("%q: %v, want ErrChecksum", broken, err)
		}
	}
}

// TestAgainstPythonMnemonic checks a few random mnemonics with Trezor's
// python-mnemonic (Debian's python3-mnemonic, BIP-39's reference code),
// when it is installed, with passphrases in ASCII, with composed and
// decomposed accents, full-width, Cyrillic, CJK and an emoji.
func TestAgainstPythonMnemonic(t *testing.T) {
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import mnemonic").Run(); err != nil {
		if os.Getenv("COUNTERSIGN_REQUIRE_INTEROP") != "" {
			t.Fatalf("python3-mnemonic is required: %v", err)
		}
		t.Skip("python3-mnemonic is not installed")
	}
	passphrases := []string{"TREZOR", "caf\u00e9", "cafe\u0301", "\uff34\uff32\uff25\uff3a\uff2f\uff32", "\u043f\u0430\u0440\u043e\u043b\u044c", "\u5341\u4eba\u5341\u8272 \u338d", "\U0001f511 key", "", " spaces  inside "}
	var entropies, args []string
	for i := 0; i < 2*len(passphrases); i++ {
		e := make([]byte, 16+4*(i%5))
		rand.Read(e)
		entropies = append(entropies, hex.EncodeToString(e))
		args = append(args, entropies[i]+":"+hex.EncodeToString([]byte(passphrases[i%len(passphrases)])))
	}
	// Each argument is ENTROPY:PASSPHRASE, the passphrase's UTF-8 bytes
	// in hex, so that no locale stands between the two programs.
	script := `import sys, mnemonic
m = mnemonic.Mnemonic("english")
for a in sys.argv[1:]:
    e, p = a.split(":")
    words = m.to_mnemonic(bytes.fromhex(e))
    print(words + "|" + m.to_seed(words, bytes.fromhex(p).decode("utf-8")).hex())`
	out, err := exec.Command("/usr/bin/python3", append([]string{"-c", script}, args...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(entropies) {
		t.Fatalf("python-mnemonic printed %d lines for %d entropies", len(lines), len(entropies))
	}
	for i, l := range lines {
		words, seedHex, _ := strings.Cut(l, "|")
		e, _ := hex.DecodeString(entropies[i])
		m, err := NewMnemonic(e)
		if err != nil || m != words {
			t.Fatalf("%s: %q, %v; python-mnemonic %q", entropies[i], m, err, words)
		}
		pass := passphrases[i%len(passphrases)]
		seed, _ := Seed(m, pass)
		if hex.EncodeToString(seed) != seedHex {
			t.Fatalf("%q with passphrase %q: seed differs from python-mnemonic's", m, pass)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, n := range []int{0, 8, 15, 17, 36} {
		if _, err := NewMnemonic(make([]byte, n)); !errors.Is(err, ErrEntropy) {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
	twelve := "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
	for m, want := range map[string]error{
		"":              ErrLength,
		"abandon about": ErrLength,
		strings.Replace(twelve, "about", "abandon", 1): ErrChecksum,
		strings.Replace(twelve, "about", "aboutt", 1):  ErrWord,
		strings.Replace(twelve, " ", "  ", 1):          ErrLength,
	} {
		if _, err := EntropyFromMnemonic(m); !errors.Is(err, want) {
			t.Fatalf("%q: %v, want %v", m, err, want)
		}
	}
}

// FuzzEntropyFromMnemonic: any text either fails with one of the
// package's errors or reads back to entropy that writes the same words.
func FuzzEntropyFromMnemonic(f *testing.F) {
	f.Add("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about")
	f.Add("zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo when")
	f.Add("legal winner")
	f.Fuzz(func(t *testing.T, m string) {
		e, err := EntropyFromMnemonic(m)
		if err != nil {
			if !errors.Is(err, ErrLength) && !errors.Is(err, ErrWord) && !errors.Is(err, ErrChecksum) {
				t.Fatalf("%q: unexpected error %v", m, err)
			}
			return
		}
		again, err := NewMnemonic(e)
		if err != nil || again != m {
			t.Fatalf("%q read back as %x, which writes %q (%v)", m, e, again, err)
		}
	})
}
