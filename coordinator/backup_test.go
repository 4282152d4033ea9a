package coordinator_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
	"github.com/countersign/countersign/descriptor/formats/paper"
	"github.com/countersign/countersign/wallet"
)

// bip129Vectors is the BIP-129 "Test Vectors" section, kept verbatim in
// the repository beside the formats that read it (see the README there).
// A missing file fails the tests.
var bip129Vectors = filepath.Join("..", "descriptor", "formats", "testdata", "bip129", "bip129.json")

// bip129Mode is one mode of the vectors: the coordinator's fields, each
// signer's files, and the round-2 files.
type bip129Mode struct {
	name        string
	coordinator map[string][]string // field label -> values, in order
	signers     []map[string]string // per signer: file name -> content
	round2      map[string]string   // file name -> content
}

func loadBIP129Modes(t *testing.T) []bip129Mode {
	t.Helper()
	b, err := os.ReadFile(bip129Vectors)
	if err != nil {
		t.Fatalf("BIP-129 vectors: %v", err)
	}
	var v struct {
		Modes []struct {
			Heading string `json:"mode_heading"`
			Rounds  []struct {
				Round   int `json:"round"`
				Entries []struct {
					Party  string `json:"party"`
					Fields []struct {
						Key, Value string
					} `json:"fields"`
					Files []struct {
						Name, Content string
					} `json:"files"`
				} `json:"entries"`
			} `json:"rounds"`
		} `json:"modes"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var out []bip129Mode
	for _, m := range v.Modes {
		bm := bip129Mode{name: m.Heading, coordinator: map[string][]string{}, round2: map[string]string{}}
		for _, r := range m.Rounds {
			for _, e := range r.Entries {
				switch {
				case r.Round == 1 && e.Party == "Coordinator":
					for _, f := range e.Fields {
						bm.coordinator[f.Key] = append(bm.coordinator[f.Key], f.Value)
					}
				case r.Round == 1 && strings.HasPrefix(e.Party, "Signer ") && !strings.HasSuffix(e.Party, "encryption"):
					files := map[string]string{}
					for _, f := range e.Files {
						files[f.Name] = f.Content
					}
					bm.signers = append(bm.signers, files)
				case r.Round == 1:
					for _, f := range e.Files { // "Signer N encryption": the .dat
						bm.signers[len(bm.signers)-1][f.Name] = f.Content
					}
				case r.Round == 2:
					for _, f := range e.Files {
						bm.round2[f.Name] = f.Content
					}
				}
			}
		}
		out = append(out, bm)
	}
	if len(out) != 4 {
		t.Fatalf("%d modes in the BIP-129 vectors, want 4", len(out))
	}
	return out
}

// signerToken is the token signer i (from 0) uses.
func (m bip129Mode) signerToken(i int) string {
	if vs, ok := m.coordinator["TOKEN for Signer "+string(rune('1'+i))+" (hex)"]; ok {
		return vs[0]
	}
	if vs, ok := m.coordinator["TOKEN (hex)"]; ok {
		return vs[0]
	}
	return ""
}

// TestBSMSSetupVectors runs the coordinator's side of each BIP-129 mode:
// round 1, every signer's key record (plain and encrypted) read and its
// signature verified, with all of the session's tokens offered; the wallet
// made from them is the one the BIP's round-2 record describes; round 2,
// the record exported for each signer's token is byte for byte the BIP's
// encrypted file, and reads back.
func TestBSMSSetupVectors(t *testing.T) {
	ctx := context.Background()
	for _, m := range loadBIP129Modes(t) {
		t.Run(m.name, func(t *testing.T) {
			var tokens []string
			for i := range m.signers {
				if tk := m.signerToken(i); tk != "" && !contains(tokens, tk) {
					tokens = append(tokens, tk)
				}
			}
			plain, _, err := formats.Import([]byte(m.round2["my_multisig_wallet.bsms"]), &chaincfg.MainNetParams)
			if err != nil {
				t.Fatal(err)
			}
			var cos []coordinator.Cosigner
			for i, files := range m.signers {
				for name, content := range files {
					rec, err := coordinator.ReadBSMSKeyRecord([]byte(content), tokens)
					if strings.Contains(m.name, "Public Keys") {
						// A plain public key is a valid record but no wallet key.
						if !errors.Is(err, descriptor.ErrInvalid) || !strings.Contains(err.Error(), "plain public key") {
							t.Fatalf("%s: %v", name, err)
						}
						continue
					}
					if err != nil {
						t.Fatalf("signer %d %s: %v", i+1, name, err)
					}
					if want := m.signerToken(i); want != "" && rec.Token != want {
						t.Fatalf("%s: token %s, want %s", name, rec.Token, want)
					}
					if strings.HasSuffix(name, ".bsms") {
						cos = append(cos, rec.Cosigner)
					}
				}
			}
			if strings.Contains(m.name, "Public Keys") {
				return
			}
			c := newStoreOnly(t)
			res, err := c.CreateWallet(ctx, coordinator.CreateRequest{Name: "bsms", Script: plain.Descriptor.Script, Threshold: plain.Descriptor.Threshold,
				Sorted: plain.Descriptor.Sorted, Cosigners: cos, Network: &chaincfg.MainNetParams})
			if err != nil {
				t.Fatal(err)
			}
			if !descriptor.Equal(res.Wallet.Descriptor, plain.Descriptor) {
				t.Fatalf("wallet from the key records:\n%s\nround-2 record:\n%s", res.Wallet.Descriptor, plain.Descriptor)
			}
			for i, l := range res.Wallet.Labels {
				if l != "Signer "+string(rune('1'+i))+" key" {
					t.Fatalf("labels %q: want the records' descriptions", res.Wallet.Labels)
				}
			}
			// Round 2 for each token.
			outs, err := c.ExportBSMS(ctx, "bsms", tokens)
			if err != nil {
				t.Fatal(err)
			}
			for i, out := range outs {
				want := m.round2["my_multisig_wallet.dat"]
				if w, ok := m.round2["my_multisig_wallet_for_signer_"+string(rune('1'+i))+".dat"]; ok {
					want = w
				}
				if len(tokens) == 0 {
					want = m.round2["my_multisig_wallet.bsms"]
				}
				if string(out) != want {
					t.Errorf("round-2 record %d:\n%s\nwant the BIP's\n%s", i+1, out, want)
				}
				back, err := c.ImportWallet(ctx, coordinator.ImportRequest{Name: "back" + string(rune('1'+i)), Data: out, BSMSTokens: tokens})
				if err != nil || !descriptor.Equal(back.Wallet.Descriptor, plain.Descriptor) {
					t.Fatalf("read back: %v", err)
				}
			}
		})
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// newStoreOnly is a coordinator over an empty store, no backend.
func newStoreOnly(t *testing.T) *coordinator.Coordinator {
	t.Helper()
	st, err := wallet.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &coordinator.Coordinator{Store: st}
}

// TestImportEncryptedBSMS: the BIP's encrypted descriptor record imports
// with its token in each form the BIP gives (hex, decimal, six words);
// without it, or with another, it is refused and nothing is stored.
func TestImportEncryptedBSMS(t *testing.T) {
	ctx := context.Background()
	m := loadBIP129Modes(t)[2] // STANDARD
	dat := []byte(m.round2["my_multisig_wallet.dat"])
	plain := m.round2["my_multisig_wallet.bsms"]
	first := plain[strings.LastIndex(plain, "\n")+1:]
	forms := append(m.coordinator["TOKEN (hex)"], m.coordinator["TOKEN (decimal)"]...)
	forms = append(forms, m.coordinator["TOKEN (mnemonic)"]...)
	if len(forms) != 3 {
		t.Fatalf("token forms %v", forms)
	}
	for i, tk := range forms {
		c := newStoreOnly(t)
		res, err := c.ImportWallet(ctx, coordinator.ImportRequest{Name: "v", Data: dat, BSMSTokens: []string{"ffffffffffffffff", tk}})
		if err != nil {
			t.Fatalf("form %d %q: %v", i, tk, err)
		}
		sum, _ := c.Summary(ctx, "v")
		if res.Format != formats.FormatBSMS || sum.FirstAddress != first {
			t.Fatalf("form %d: %s, first address %s want %s", i, res.Format, sum.FirstAddress, first)
		}
	}
	for _, tokens := range [][]string{nil, {"0000000000000001"}, {"0000000000000001", "0000000000000002"}} {
		c := newStoreOnly(t)
		_, err := c.ImportWallet(ctx, coordinator.ImportRequest{Name: "v", Data: dat, BSMSTokens: tokens})
		if !errors.Is(err, formats.ErrBSMSToken) || !errors.Is(err, descriptor.ErrInvalid) {
			t.Fatalf("tokens %v: %v", tokens, err)
		}
		if ws, _ := c.Wallets(ctx); len(ws) != 0 {
			t.Fatal("a refused import stored a wallet")
		}
	}
}

// TestBSMSKeyRecordRefusals: altered records and records of another
// session are refused.
func TestBSMSKeyRecordRefusals(t *testing.T) {
	m := loadBIP129Modes(t)[2]
	rec := m.signers[0]["signer_1_key.bsms"]
	tk := m.signerToken(0)
	for name, tc := range map[string]struct {
		data   string
		tokens []string
	}{
		"altered description":   {strings.Replace(rec, "Signer 1 key", "Signer 9 key", 1), []string{tk}},
		"another session token": {rec, []string{"0123456789abcdef"}},
		// Found by FuzzReadBSMSKeyRecord: a blank token beside a real one
		// used to be tried as "no token" and opened any session.
		"blank token beside":  {rec, []string{"0123456789abcdef", " "}},
		"encrypted, no token": {m.signers[0]["signer_1_key.dat"], nil},
		"encrypted, wrong":    {m.signers[0]["signer_1_key.dat"], []string{"0123456789abcdef", "fedcba9876543210"}},
	} {
		if _, err := coordinator.ReadBSMSKeyRecord([]byte(tc.data), tc.tokens); !errors.Is(err, descriptor.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestNewBSMSTokens(t *testing.T) {
	std, err := coordinator.NewBSMSTokens(0)
	if err != nil || len(std) != 1 || len(std[0]) != 16 {
		t.Fatalf("STANDARD: %v %v", std, err)
	}
	ext, err := coordinator.NewBSMSTokens(3)
	if err != nil || len(ext) != 3 || len(ext[0]) != 32 || ext[0] == ext[1] {
		t.Fatalf("EXTENDED: %v %v", ext, err)
	}
	if _, err := coordinator.NewBSMSTokens(21); !errors.Is(err, descriptor.ErrInvalid) {
		t.Fatal(err)
	}
}

// TestExportPaper: the page carries the stored wallet's descriptor.
func TestExportPaper(t *testing.T) {
	r := newRig(t)
	res, err := r.c.ExportPaper(context.Background(), "family", paper.Options{Created: time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Descriptor != r.wallet.Descriptor.String() || !strings.HasPrefix(string(res.PDF), "%PDF-") || res.Pages != 1 {
		t.Fatalf("descriptor %s, pages %d", res.Descriptor, res.Pages)
	}
	if _, err := r.c.ExportPaper(context.Background(), "family", paper.Options{Paper: "A3"}); !errors.Is(err, descriptor.ErrInvalid) {
		t.Fatalf("paper A3: %v", err)
	}
}
