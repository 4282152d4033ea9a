package formats

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/countersign/countersign/descriptor"
)

// bip129File is testdata/bip129/bip129.json, the BIP-129 "Test Vectors"
// section copied verbatim (see the README beside it). It lives in the
// repository so that a plain clone runs these tests; a missing file fails.
var bip129File = filepath.Join("testdata", "bip129", "bip129.json")

// bip129Entry is one party's bullet list in one round of one mode.
type bip129Entry struct {
	mode, party string
	round       int
	fields      map[string]string // level-2 labels; level-3 ones as "parent / label"
	files       map[string]string // file name -> exact content
}

func loadBIP129(t testing.TB) []bip129Entry {
	t.Helper()
	b, err := os.ReadFile(bip129File)
	if err != nil {
		t.Fatalf("BIP-129 vectors: %v (they are part of the repository; restore %s)", err, bip129File)
	}
	var v struct {
		Modes []struct {
			Mode   string `json:"mode_heading"`
			Rounds []struct {
				Round   int `json:"round"`
				Entries []struct {
					Party  string `json:"party"`
					Fields []struct {
						Level int    `json:"level"`
						Key   string `json:"key"`
						Value string `json:"value"`
					} `json:"fields"`
					Files []struct {
						Name    string `json:"name"`
						Content string `json:"content"`
					} `json:"files"`
				} `json:"entries"`
			} `json:"rounds"`
		} `json:"modes"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", bip129File, err)
	}
	var out []bip129Entry
	for _, m := range v.Modes {
		for _, r := range m.Rounds {
			for _, e := range r.Entries {
				ent := bip129Entry{mode: m.Mode, party: e.Party, round: r.Round, fields: map[string]string{}, files: map[string]string{}}
				parent := ""
				for _, f := range e.Fields {
					if f.Level == 2 {
						parent = f.Key
						ent.fields[f.Key] = f.Value
					} else {
						ent.fields[parent+" / "+f.Key] = f.Value
					}
				}
				for _, f := range e.Files {
					ent.files[f.Name] = f.Content
				}
				out = append(out, ent)
			}
		}
	}
	if len(v.Modes) != 4 {
		t.Fatalf("%s: %d modes, want the BIP's 4", bip129File, len(v.Modes))
	}
	return out
}

// bip129Records returns the four round-2 plain descriptor records.
func bip129Records(t testing.TB) []bip129Record {
	t.Helper()
	var recs []bip129Record
	for _, e := range loadBIP129(t) {
		for name, content := range e.files {
			if e.round == 2 && strings.HasSuffix(name, ".bsms") {
				recs = append(recs, bip129Record{e.mode, content})
			}
		}
	}
	if len(recs) != 4 {
		t.Fatalf("%s: %d round-2 descriptor records, want 4 (one per mode)", bip129File, len(recs))
	}
	return recs
}

var signerNumber = regexp.MustCompile(`Signer (\d+)`)

// bip129Token is the hex token a party of a mode uses: the coordinator's
// one token in STANDARD mode, the signer's own in EXTENDED mode, "" when
// the mode does not encrypt.
func bip129Token(t *testing.T, entries []bip129Entry, e bip129Entry) string {
	t.Helper()
	for _, c := range entries {
		if c.mode != e.mode || c.party != "Coordinator" || c.round != 1 {
			continue
		}
		if tok, ok := c.fields["TOKEN (hex)"]; ok {
			return tok
		}
		if m := signerNumber.FindStringSubmatch(e.party); m != nil {
			if tok, ok := c.fields["TOKEN for Signer "+m[1]+" (hex)"]; ok {
				return tok
			}
		}
	}
	return ""
}

// TestBIP129KeyRecordVectors verifies every published key record's
// signature, checks the key against the signer's listed fingerprint, key
// and private key, and signs the record again with that private key.
func TestBIP129KeyRecordVectors(t *testing.T) {
	entries := loadBIP129(t)
	n := 0
	for _, e := range entries {
		if e.round != 1 || !strings.HasPrefix(e.party, "Signer") || strings.HasSuffix(e.party, "encryption") {
			continue
		}
		for name, content := range e.files {
			n++
			t.Run(e.mode+"/"+name, func(t *testing.T) {
				r, err := ParseBSMSKeyRecord([]byte(content), "")
				if err != nil {
					t.Fatalf("ParseBSMSKeyRecord: %v\n%s", err, content)
				}
				fp := e.fields["MASTER_KEY_FINGERPRINT"]
				if got := hex.EncodeToString(r.Key.Origin.Fingerprint[:]); got != fp {
					t.Errorf("fingerprint %s, want %s", got, fp)
				}
				var wif, pub string
				for k, v := range e.fields {
					switch {
					case strings.HasPrefix(k, "PRIVATE_KEY"):
						wif = v
					case strings.HasPrefix(k, "XPUB"), strings.HasPrefix(k, "Public Key"):
						pub = v
					}
				}
				if !strings.HasSuffix(r.KeyText, "]"+pub) {
					t.Errorf("KEY %s, want the listed key %s", r.KeyText, pub)
				}
				if want := bip129Token(t, entries, e); want != "" && r.Token != want {
					t.Errorf("TOKEN %s, want %s", r.Token, want)
				}
				if r.Description != strings.Split(content, "\n")[3] {
					t.Errorf("description %q", r.Description)
				}
				w, err := btcutil.DecodeWIF(wif)
				if err != nil {
					t.Fatalf("vector WIF: %v", err)
				}
				again, err := NewBSMSKeyRecord(r.Token, r.KeyText, r.Description, w.PrivKey)
				if err != nil {
					t.Fatalf("NewBSMSKeyRecord with the vector's private key: %v", err)
				}
				// RFC 6979 nonces, as the BIP's signer used: the same bytes.
				if string(again.Plaintext()) != content {
					t.Errorf("signed again:\n%s\nwant\n%s", again.Plaintext(), content)
				}
				if _, err := ParseBSMSKeyRecord(again.Plaintext(), r.Token); err != nil {
					t.Errorf("own record does not verify: %v", err)
				}
			})
		}
	}
	if n != 9 {
		t.Fatalf("%d plain key records, want the BIP's 9 (2+2+2+3)", n)
	}
}

// TestBIP129EncryptionVectors checks the key derivation, MAC, IV and
// ciphertext of every encrypted file, and that decrypting each .dat gives
// the published plain record.
func TestBIP129EncryptionVectors(t *testing.T) {
	entries := loadBIP129(t)
	// The plain record each encrypted file carries, by mode and round.
	plainKey := map[string]string{} // mode + signer number -> key record
	plainDesc := map[string]string{}
	for _, e := range entries {
		for name, content := range e.files {
			if !strings.HasSuffix(name, ".bsms") {
				continue
			}
			if e.round == 1 {
				plainKey[e.mode+signerNumber.FindString(e.party)] = content
			} else {
				plainDesc[e.mode] = content
			}
		}
	}
	// The ENCRYPTION_KEY the coordinator lists for each token.
	encKeys := map[string]string{}
	for _, e := range entries {
		if e.party != "Coordinator" || e.round != 1 {
			continue
		}
		for k, v := range e.fields {
			if strings.HasSuffix(k, "(hex)") && strings.HasPrefix(k, "TOKEN") && !strings.Contains(k, " / ") {
				if ek, ok := e.fields[k+" / ENCRYPTION_KEY (hex)"]; ok {
					encKeys[v] = ek
				} else if ek, ok := e.fields["ENCRYPTION_KEY (hex)"]; ok {
					encKeys[v] = ek
				}
			}
		}
	}
	if len(encKeys) != 4 {
		t.Fatalf("%d tokens with an ENCRYPTION_KEY, want 4 (1 STANDARD + 3 EXTENDED)", len(encKeys))
	}
	n := 0
	for _, e := range entries {
		if len(e.fields["MAC (hex)"]) == 0 {
			continue
		}
		for name, content := range e.files {
			n++
			t.Run(e.mode+"/"+e.party+"/"+name, func(t *testing.T) {
				token := bip129Token(t, entries, e)
				plain := plainDesc[e.mode]
				if e.round == 1 {
					plain = plainKey[e.mode+signerNumber.FindString(e.party)]
				}
				if token == "" || plain == "" {
					t.Fatalf("no token (%q) or plain record for this file", token)
				}
				enc, mac, err := bsmsKeys(token)
				if err != nil {
					t.Fatal(err)
				}
				if got := hex.EncodeToString(enc); got != encKeys[token] {
					t.Errorf("ENCRYPTION_KEY %s, want %s", got, encKeys[token])
				}
				if got := hex.EncodeToString(mac); got != e.fields["HMAC_KEY (hex)"] {
					t.Errorf("HMAC_KEY %s, want %s", got, e.fields["HMAC_KEY (hex)"])
				}
				if got := hex.EncodeToString(bsmsMAC(mac, token, []byte(plain))); got != e.fields["MAC (hex)"] {
					t.Errorf("MAC %s, want %s", got, e.fields["MAC (hex)"])
				}
				if got := e.fields["MAC (hex)"][:32]; got != e.fields["IV (hex)"] {
					t.Errorf("IV %s is not the MAC's first 16 bytes", e.fields["IV (hex)"])
				}
				out, err := EncryptBSMS(token, []byte(plain))
				if err != nil {
					t.Fatal(err)
				}
				if string(out) != content {
					t.Errorf("EncryptBSMS:\n%s\nwant\n%s", out, content)
				}
				if !strings.HasSuffix(content, e.fields["CIPHERTEXT (hex)"]) {
					t.Errorf("the .dat file does not end in the listed CIPHERTEXT")
				}
				back, err := DecryptBSMS(token, []byte(content+"\n"))
				if err != nil || string(back) != plain {
					t.Fatalf("DecryptBSMS: %v\n%s", err, back)
				}
				if e.round == 1 {
					r, err := ParseBSMSKeyRecord([]byte(content), token)
					if err != nil {
						t.Fatalf("ParseBSMSKeyRecord(.dat): %v", err)
					}
					if string(r.Plaintext()) != plain {
						t.Errorf("decrypted record\n%s\nwant\n%s", r.Plaintext(), plain)
					}
					return
				}
				w, f, err := ImportWithOptions([]byte(content), ImportOptions{BSMSToken: token})
				if err != nil || f != FormatBSMS {
					t.Fatalf("ImportWithOptions(.dat): %v (%s)", err, f)
				}
				want, _, err := Import([]byte(plain), nil)
				if err != nil {
					t.Fatal(err)
				}
				if !descriptor.Equal(w.Descriptor, want.Descriptor) {
					t.Errorf("wallet %s, want %s", w.Descriptor, want.Descriptor)
				}
			})
		}
	}
	if n != 9 {
		t.Fatalf("%d encrypted files, want the BIP's 9 (2+1 STANDARD, 3+3 EXTENDED)", n)
	}
}

// TestBIP129TokenForms reads each token in the other forms the BIP lists
// (decimal, six words) and checks they decrypt the same files.
func TestBIP129TokenForms(t *testing.T) {
	n := 0
	for _, e := range loadBIP129(t) {
		if e.party != "Coordinator" || e.round != 1 {
			continue
		}
		for k, hexTok := range e.fields {
			if !strings.HasPrefix(k, "TOKEN") || !strings.HasSuffix(k, "(hex)") || strings.Contains(k, " / ") {
				continue
			}
			dec := e.fields[k+" / TOKEN (decimal)"]
			if dec == "" {
				t.Fatalf("%s: no decimal form", k)
			}
			n++
			if got, err := BSMSTokenDecimal(hexTok); err != nil || got != dec {
				t.Errorf("BSMSTokenDecimal(%s) = %s, %v; want %s", hexTok, got, err, dec)
			}
			if c, err := BSMSTokenCandidates(dec); err != nil || c[len(c)-1] != hexTok {
				t.Errorf("BSMSTokenCandidates(%s) = %v, %v; want %s", dec, c, err, hexTok)
			}
			if words := e.fields[k+" / TOKEN (mnemonic)"]; words != "" {
				n++
				if got, err := BSMSTokenWords(hexTok); err != nil || got != words {
					t.Errorf("BSMSTokenWords(%s) = %q, %v; want %q", hexTok, got, err, words)
				}
				if c, err := BSMSTokenCandidates(words); err != nil || len(c) != 1 || c[0] != hexTok {
					t.Errorf("BSMSTokenCandidates(%q) = %v, %v; want %s", words, c, err, hexTok)
				}
			}
		}
	}
	if n != 5 {
		t.Fatalf("%d token forms, want 5 (STANDARD decimal and words, three EXTENDED decimals)", n)
	}
}

// TestBIP129WrongToken refuses the published encrypted files with a wrong
// token, with no token, and after one flipped bit.
func TestBIP129WrongToken(t *testing.T) {
	var dat, keyDat, token string
	entries := loadBIP129(t)
	for _, e := range entries {
		if e.mode == "Mode: STANDARD Encryption" {
			if c, ok := e.files["my_multisig_wallet.dat"]; ok {
				dat = c
			}
			if c, ok := e.files["signer_1_key.dat"]; ok {
				keyDat = c
			}
			if e.party == "Coordinator" && e.round == 1 {
				token = e.fields["TOKEN (hex)"]
			}
		}
	}
	if dat == "" || keyDat == "" || token == "" {
		t.Fatal("STANDARD mode files or token missing from the vectors")
	}
	other, err := NewBSMSToken(64)
	if err != nil {
		t.Fatal(err)
	}
	flipped := []byte(dat)
	flipped[len(flipped)-1] ^= 1 // a hex digit changes, still hex
	if flipped[len(flipped)-1] > 'f' || flipped[len(flipped)-1] < '0' {
		t.Fatal("flipped digit is not hex")
	}
	tests := []struct {
		name, data, token, msg string
	}{
		{"wrong token", dat, other, "MAC mismatch"},
		{"no token", dat, "", "this looks like an encrypted BSMS file: pass --bsms-token"},
		{"no-encryption token", dat, "00", "no encryption"},
		{"altered ciphertext", string(flipped), token, "MAC mismatch"},
		{"128-bit token for a 64-bit file", dat, strings.Repeat(token, 2), "MAC mismatch"},
		{"key record is not a wallet", keyDat, token, "key record"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ImportWithOptions([]byte(tc.data), ImportOptions{BSMSToken: tc.token})
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one containing %q", err, tc.msg)
			}
			if !errors.Is(err, descriptor.ErrInvalid) {
				t.Errorf("error does not wrap descriptor.ErrInvalid: %v", err)
			}
			if tc.msg != "key record" && !errors.Is(err, ErrBSMSToken) {
				t.Errorf("error does not wrap ErrBSMSToken: %v", err)
			}
			if errors.Is(err, ErrBSMSNeedToken) != (tc.token == "") {
				t.Errorf("ErrBSMSNeedToken is %v for token %q", errors.Is(err, ErrBSMSNeedToken), tc.token)
			}
		})
	}
	if _, err := ParseBSMSKeyRecord([]byte(keyDat), other); !errors.Is(err, ErrBSMSToken) {
		t.Errorf("key record with a wrong token: %v, want ErrBSMSToken", err)
	}
	if _, err := ParseBSMSKeyRecord([]byte(keyDat), ""); err == nil || !strings.Contains(err.Error(), "--bsms-token") {
		t.Errorf("encrypted key record without a token: %v", err)
	}
}
