package soft_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/tyler-smith/go-bip39"

	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/soft"
)

var testPass = []byte("correct horse battery staple")

const h = hdkeychain.HardenedKeyStart

// newStore returns an empty store with a cheap scrypt work factor: the
// default costs about a second per key.
func newStore(t *testing.T) *soft.Store {
	t.Helper()
	s := soft.NewStore(filepath.Join(t.TempDir(), "keys"))
	if err := s.SetWorkFactor(10); err != nil {
		t.Fatal(err)
	}
	return s
}

// testTprv is the BIP-32 test vector 1 master key (seed 000102...0f) with
// testnet version bytes.
func testTprv(t *testing.T) string {
	t.Helper()
	seed, _ := hex.DecodeString("000102030405060708090a0b0c0d0e0f")
	m, err := hdkeychain.NewMaster(seed, &chaincfg.TestNet3Params)
	if err != nil {
		t.Fatal(err)
	}
	return m.String()
}

func open(t *testing.T, s *soft.Store, name string) *soft.Signer {
	t.Helper()
	sg, err := s.Open(name, testPass)
	if err != nil {
		t.Fatalf("Open(%s): %v", name, err)
	}
	t.Cleanup(func() { sg.Close() })
	return sg
}

func TestGenerateOpenXpub(t *testing.T) {
	for _, words := range []int{12, 24} {
		s := newStore(t)
		mnemonic, info, err := s.Generate("alice", words, &chaincfg.TestNet3Params, testPass)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(strings.Fields(mnemonic)); n != words {
			t.Fatalf("mnemonic has %d words, want %d", n, words)
		}
		if info.Name != "alice" || info.Kind != soft.KindMnemonic || info.Network != "testnet" || info.Created.IsZero() {
			t.Fatalf("info = %+v", info)
		}

		// The same xpub, derived independently from the mnemonic.
		master, err := hdkeychain.NewMaster(bip39.NewSeed(mnemonic, ""), &chaincfg.TestNet3Params)
		if err != nil {
			t.Fatal(err)
		}
		path := []uint32{48 + h, 1 + h, 0 + h, 2 + h}
		want := master
		for _, p := range path {
			if want, err = want.Derive(p); err != nil {
				t.Fatal(err)
			}
		}
		wantPub, _ := want.Neuter()

		sg := open(t, s, "alice")
		got, err := sg.Xpub(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != wantPub.String() {
			t.Fatalf("xpub = %s, want %s", got, wantPub)
		}
		fp, _ := sg.Fingerprint(context.Background())
		if fp != info.Fingerprint {
			t.Fatalf("fingerprint %x, info says %x", fp, info.Fingerprint)
		}
		list, err := s.List()
		if err != nil || len(list) != 1 || list[0] != info {
			t.Fatalf("List = %+v, %v; want [%+v]", list, err, info)
		}
	}
}

func TestWrongPassphrase(t *testing.T) {
	s := newStore(t)
	if _, _, err := s.Generate("alice", 12, &chaincfg.TestNet3Params, testPass); err != nil {
		t.Fatal(err)
	}
	_, err := s.Open("alice", []byte("Correct horse battery staple"))
	if !errors.Is(err, soft.ErrWrongPassphrase) {
		t.Fatalf("Open with a wrong passphrase: %v, want ErrWrongPassphrase", err)
	}
	if !strings.Contains(err.Error(), `"alice"`) {
		t.Errorf("error does not name the key: %v", err)
	}
	if _, err := s.Open("alice", nil); !errors.Is(err, soft.ErrWrongPassphrase) {
		t.Fatalf("Open with no passphrase: %v, want ErrWrongPassphrase", err)
	}
	open(t, s, "alice") // still intact
}

// TestNoSecretOnDisk greps every byte the store wrote for the secrets.
func TestNoSecretOnDisk(t *testing.T) {
	s := newStore(t)
	mnemonic, _, err := s.Generate("gen", 24, &chaincfg.RegressionNetParams, testPass)
	if err != nil {
		t.Fatal(err)
	}
	xprv := testTprv(t)
	if _, err := s.Import("imp", xprv, "", &chaincfg.RegressionNetParams, testPass); err != nil {
		t.Fatal(err)
	}
	words := strings.Fields(mnemonic)
	secrets := []string{
		mnemonic,
		strings.Join(words[:3], " "),
		strings.Join(words[len(words)-3:], " "),
		xprv,
		xprv[4:40], // any long piece of the base58
	}
	entries, err := os.ReadDir(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 {
		t.Errorf("the store holds %d files, want 4 (NAME.age and NAME.json per key): %v", len(entries), entries)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(s.Dir(), e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, sec := range secrets {
			if bytes.Contains(b, []byte(sec)) {
				t.Errorf("%s contains secret %q", e.Name(), sec)
			}
		}
		if info, _ := e.Info(); info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", e.Name(), info.Mode().Perm())
		}
	}
	if st, _ := os.Stat(s.Dir()); st.Mode().Perm() != 0o700 {
		t.Errorf("store directory has mode %v, want 0700", st.Mode().Perm())
	}
	// And the secret really is in there.
	sg := open(t, s, "imp")
	x, _ := sg.Xpub(context.Background(), nil)
	want, _ := hdkeychain.NewKeyFromString(xprv)
	wantPub, _ := want.Neuter()
	if x.String() != wantPub.String() {
		t.Fatalf("imported key opens as %s, want %s", x, wantPub)
	}
}

func TestDuplicateNameRefused(t *testing.T) {
	s := newStore(t)
	_, first, err := s.Generate("alice", 12, &chaincfg.TestNet3Params, testPass)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Generate("alice", 12, &chaincfg.TestNet3Params, []byte("other"))
	if !errors.Is(err, soft.ErrExists) {
		t.Fatalf("second Generate: %v, want ErrExists", err)
	}
	xprv := testTprv(t)
	if _, err := s.Import("alice", xprv, "", &chaincfg.TestNet3Params, []byte("other")); !errors.Is(err, soft.ErrExists) {
		t.Fatalf("Import over an existing key: %v, want ErrExists", err)
	}
	sg := open(t, s, "alice") // the first key, first passphrase
	if fp, _ := sg.Fingerprint(context.Background()); fp != first.Fingerprint {
		t.Fatalf("key was replaced: fingerprint %x, want %x", fp, first.Fingerprint)
	}
}

func TestImportMnemonicRefusals(t *testing.T) {
	s := newStore(t)
	net := &chaincfg.TestNet3Params
	cases := []struct {
		name, secret, bip39Pass, want string
	}{
		{"checksum", strings.Repeat("abandon ", 12), "", "checksum"},
		{"checksum24", strings.Repeat("zoo ", 24), "", "checksum"},
		{"unknown word", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandonn about", "", "word 11"},
		{"word count", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", "", "13"},
		{"passphrase", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", "caf\u00e9\r", "control character"},
		{"passphrase not UTF-8", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", "caf\xe9", "UTF-8"},
		{"xprv with passphrase", testTprv(t), "x", "passphrase"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Import("k", c.secret, c.bip39Pass, net, testPass)
			if !errors.Is(err, soft.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Import: %v; want ErrInvalid mentioning %q", err, c.want)
			}
			if strings.Contains(err.Error(), "abandonn") {
				t.Errorf("the error repeats a word of the secret: %v", err)
			}
		})
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Fatalf("refused imports left keys behind: %+v", list)
	}
}

func TestNamesAndArguments(t *testing.T) {
	s := newStore(t)
	net := &chaincfg.TestNet3Params
	for _, name := range []string{"", "../x", "a/b", "a b", strings.Repeat("a", 65), "ключ"} {
		if _, _, err := s.Generate(name, 12, net, testPass); !errors.Is(err, soft.ErrInvalid) {
			t.Errorf("Generate(%q): %v, want ErrInvalid", name, err)
		}
		if _, err := s.Open(name, testPass); !errors.Is(err, soft.ErrInvalid) {
			t.Errorf("Open(%q): %v, want ErrInvalid", name, err)
		}
	}
	if _, _, err := s.Generate("ok", 18, net, testPass); !errors.Is(err, soft.ErrInvalid) {
		t.Errorf("Generate with 18 words: %v, want ErrInvalid", err)
	}
	if _, _, err := s.Generate("ok", 12, net, nil); !errors.Is(err, soft.ErrInvalid) {
		t.Errorf("Generate with an empty passphrase: %v, want ErrInvalid", err)
	}
	if _, _, err := s.Generate("ok", 12, nil, testPass); !errors.Is(err, soft.ErrInvalid) {
		t.Errorf("Generate without a network: %v, want ErrInvalid", err)
	}
	for _, wf := range []int{0, -1, 31} {
		if err := s.SetWorkFactor(wf); !errors.Is(err, soft.ErrInvalid) {
			t.Errorf("SetWorkFactor(%d): %v, want ErrInvalid", wf, err)
		}
	}
	if _, err := s.Open("nobody", testPass); !errors.Is(err, soft.ErrNotFound) || !errors.Is(err, hw.ErrNoDevice) {
		t.Errorf("Open(nobody): %v, want ErrNotFound (an hw.ErrNoDevice)", err)
	}
	if _, err := s.Info("nobody"); !errors.Is(err, soft.ErrNotFound) {
		t.Errorf("Info(nobody): %v, want ErrNotFound", err)
	}
	if list, err := s.List(); err != nil || len(list) != 0 {
		t.Errorf("List of a store never written: %v, %v", list, err)
	}
}

// TestSidecar: a lost public file is rebuilt by Open, a changed one is
// refused, and List still shows the healthy keys.
func TestSidecar(t *testing.T) {
	s := newStore(t)
	net := &chaincfg.TestNet3Params
	_, a, err := s.Generate("a", 12, net, testPass)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Generate("b", 12, net, testPass); err != nil {
		t.Fatal(err)
	}
	side := filepath.Join(s.Dir(), "a.json")
	if err := os.Remove(side); err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err == nil || len(list) != 1 || list[0].Name != "b" {
		t.Fatalf("List with a lost public file = %+v, %v; want key b and an error about a", list, err)
	}
	open(t, s, "a")
	got, err := s.Info("a")
	if err != nil || got.Fingerprint != a.Fingerprint || got.Network != "testnet" || got.Kind != soft.KindMnemonic {
		t.Fatalf("rebuilt info = %+v, %v; want %+v", got, err, a)
	}

	var sc map[string]any
	b, _ := os.ReadFile(side)
	if err := json.Unmarshal(b, &sc); err != nil {
		t.Fatal(err)
	}
	sc["fingerprint"] = "00000000"
	b, _ = json.Marshal(sc)
	if err := os.WriteFile(side, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open("a", testPass); err == nil || !strings.Contains(err.Error(), "public file") {
		t.Fatalf("Open with a changed public file: %v, want a refusal", err)
	}
}

func TestClosedSigner(t *testing.T) {
	s := newStore(t)
	if _, _, err := s.Generate("a", 12, &chaincfg.TestNet3Params, testPass); err != nil {
		t.Fatal(err)
	}
	sg := open(t, s, "a")
	if err := sg.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sg.Xpub(context.Background(), []uint32{0}); !errors.Is(err, soft.ErrClosed) || !errors.Is(err, hw.ErrDevice) {
		t.Fatalf("Xpub after Close: %v, want ErrClosed", err)
	}
	if err := sg.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
