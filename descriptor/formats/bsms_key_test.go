package formats

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
)

// testSigner returns cosigner i's account key expression and the account
// private key that signs its key record.
func testSigner(t *testing.T, i int, net *chaincfg.Params, script descriptor.ScriptType) (string, *hdkeychain.ExtendedKey) {
	t.Helper()
	expr := testCosigner(t, i, net, accountPath(script, net))
	xprv, err := hdkeychain.NewKeyFromString(testAccountKey(t, i, net, accountPath(script, net), true))
	if err != nil {
		t.Fatal(err)
	}
	return expr, xprv
}

// TestBSMSSetupRoundTrip runs a whole BIP-129 setup with software keys:
// each signer writes a signed (and, with a token, encrypted) key record, the
// coordinator reads them, builds the wallet and sends the encrypted
// descriptor record, which each signer imports with its token.
func TestBSMSSetupRoundTrip(t *testing.T) {
	for _, bits := range []int{0, 64, 128} {
		for _, net := range []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params} {
			t.Run(fmt.Sprintf("%d-bit %s", bits, descriptor.NetworkName(net)), func(t *testing.T) {
				token := BSMSNoEncryption
				if bits > 0 {
					var err error
					if token, err = NewBSMSToken(bits); err != nil || len(token) != bits/4 {
						t.Fatalf("NewBSMSToken(%d) = %q, %v", bits, token, err)
					}
				}
				var keys []string
				for i := range 3 {
					expr, xprv := testSigner(t, i, net, descriptor.ScriptWsh)
					priv, err := xprv.ECPrivKey()
					if err != nil {
						t.Fatal(err)
					}
					rec, err := NewBSMSKeyRecord(token, expr, testLabels[i]+"'s key", priv)
					if err != nil {
						t.Fatal(err)
					}
					file, err := rec.File()
					if err != nil {
						t.Fatal(err)
					}
					if bits > 0 && strings.Contains(string(file), "BSMS") {
						t.Fatalf("encrypted key record is plain text:\n%s", file)
					}
					got, err := ParseBSMSKeyRecord(file, token)
					if err != nil {
						t.Fatalf("ParseBSMSKeyRecord: %v", err)
					}
					if got.KeyText != expr || got.Description != testLabels[i]+"'s key" || got.Token != token {
						t.Errorf("read back %+v", got)
					}
					keys = append(keys, got.KeyText+"/<0;1>/*")
				}
				d := mustParse(t, "wsh(sortedmulti(2,"+strings.Join(keys, ",")+"))")
				w := &Wallet{Descriptor: d, Network: net}
				out, err := ExportBSMS(w, token)
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := Import(out, net); (bits > 0) != (err != nil) {
					t.Errorf("Import without a token: %v", err)
				}
				back, f, err := ImportWithOptions(out, ImportOptions{DefaultNet: net, BSMSToken: token})
				if err != nil || f != FormatBSMS {
					t.Fatalf("ImportWithOptions: %v %s", err, f)
				}
				if !descriptor.Equal(back.Descriptor, d) || descriptor.NetworkName(back.Network) != descriptor.NetworkName(net) {
					t.Errorf("imported %s on %s", back.Descriptor, descriptor.NetworkName(back.Network))
				}
				if bits == 64 {
					words, err := BSMSTokenWords(token)
					if err != nil {
						t.Fatal(err)
					}
					if _, _, err := ImportWithOptions(out, ImportOptions{DefaultNet: net, BSMSToken: strings.ToUpper(words)}); err != nil {
						t.Errorf("token as words %q: %v", words, err)
					}
				}
				if bits > 0 {
					dec, err := BSMSTokenDecimal(token)
					if err != nil {
						t.Fatal(err)
					}
					if _, _, err := ImportWithOptions(out, ImportOptions{DefaultNet: net, BSMSToken: dec}); err != nil {
						t.Errorf("token as decimal %s: %v", dec, err)
					}
				}
			})
		}
	}
}

// TestBSMSKeyRecordInvalid alters a published key record in the ways that
// must be refused.
func TestBSMSKeyRecordInvalid(t *testing.T) {
	var rec string
	for _, e := range loadBIP129(t) {
		if e.mode == "Mode: NO_ENCRYPTION" && e.party == "Signer 1" {
			rec = e.files["signer_1_key.bsms"]
		}
	}
	if rec == "" {
		t.Fatal("NO_ENCRYPTION signer 1 key record missing from the vectors")
	}
	lines := strings.Split(rec, "\n")
	with := func(i int, v string) string {
		l := append([]string(nil), lines...)
		l[i] = v
		return strings.Join(l, "\n")
	}
	other := "[4fc1dd4a/48'/0'/0'/2']xpub6EebMbEps7ZcV3FYEnddRsvrFWDrt2tiPmCeM7pPXQEmphvq9ZfJ1LWFUDjf3vxCeBuPrfyGrMazWUsYsetrnHatQZVLJH7LsgCjtMqdzgj"
	tests := []struct {
		name, record, token, msg string
	}{
		{"altered description", with(3, "Signer 1 kez"), "", "signature does not verify"},
		{"other key", with(2, other), "", "signature does not verify"},
		{"altered fingerprint", with(2, strings.Replace(lines[2], "1cf0bf7e", "1cf0bf7f", 1)), "", "signature does not verify"},
		{"altered token", with(1, "a54044308ceac9b7"), "", "signature does not verify"},
		{"truncated signature", with(4, lines[4][:40]), "", "bytes"},
		{"signature not base64", with(4, "!!"+lines[4][2:]), "", "base64"},
		{"no origin", with(2, lines[2][strings.IndexByte(lines[2], ']')+1:]), "", "origin"},
		{"path after key", with(2, lines[2]+"/0/*"), "", "after the key"},
		{"long description", with(3, strings.Repeat("x", 81)), "", "at most 80"},
		{"control character", with(3, "Signer\x1b[31m"), "", "control character"},
		{"bad token line", with(1, "zz"), "", "TOKEN line"},
		{"upper-case token line", with(1, "A54044308CEAC9B7"), "", "lower-case"},
		{"version", with(0, "BSMS 2.0"), "", "version"},
		{"four lines", strings.Join(lines[:4], "\n"), "", "5 lines"},
		{"token of another session", rec, "a54044308ceac9b7", "another setup session"},
		{"descriptor record", bip129Records(t)[1].content, "", "descriptor record"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseBSMSKeyRecord([]byte(tc.record), tc.token)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one containing %q", err, tc.msg)
			}
			if !errors.Is(err, descriptor.ErrInvalid) {
				t.Errorf("error does not wrap descriptor.ErrInvalid: %v", err)
			}
		})
	}
	// Accepted variations: CRLF line ends and a final newline.
	for _, ok := range []string{rec + "\n", strings.ReplaceAll(rec, "\n", "\r\n") + "\r\n"} {
		if _, err := ParseBSMSKeyRecord([]byte(ok), "00"); err != nil {
			t.Errorf("%q: %v", ok[len(ok)-3:], err)
		}
	}
}

// TestNewBSMSKeyRecordRefuses checks the signer side refuses a private key
// that is not the record's key, and malformed tokens and descriptions.
func TestNewBSMSKeyRecordRefuses(t *testing.T) {
	expr, xprv := testSigner(t, 0, &chaincfg.MainNetParams, descriptor.ScriptWsh)
	_, other := testSigner(t, 1, &chaincfg.MainNetParams, descriptor.ScriptWsh)
	priv, _ := xprv.ECPrivKey()
	otherPriv, _ := other.ECPrivKey()
	if _, err := NewBSMSKeyRecord("00", expr, "k", otherPriv); err == nil {
		t.Error("signed with another key's private key")
	}
	if _, err := NewBSMSKeyRecord("1234", expr, "k", priv); !errors.Is(err, ErrBSMSToken) {
		t.Errorf("4-digit token: %v", err)
	}
	if _, err := NewBSMSKeyRecord("00", expr, "two\nlines", priv); err == nil {
		t.Error("accepted a two-line description")
	}
	if _, err := NewBSMSToken(32); err == nil {
		t.Error("NewBSMSToken(32) accepted")
	}
}

// TestBSMSTokenCandidates covers the token forms a person may type.
func TestBSMSTokenCandidates(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{"00", nil, false},
		{"0x00", nil, false},
		{"a54044308ceac9b7", []string{"a54044308ceac9b7"}, false},
		{"0xA54044308CEAC9B7", []string{"a54044308ceac9b7"}, false},
		{"11907592390080907703", []string{"a54044308ceac9b7"}, false},
		// 16 digits read as hex first, then as decimal; the MAC decides.
		{"1234567890123456", []string{"1234567890123456", "000462d53c8abac0"}, false},
		{"12345", []string{"0000000000003039"}, false},
		{"340282366920938463463374607431768211456", nil, true}, // 2^128
		{"pipe acquire around border prosper swift", []string{"a54044308ceac9b7"}, false},
		{"pipe acquire around border prosper prosper", nil, true},
		{"pipe acquire around border prosper", nil, true},
		{"zz", nil, true},
		{"", nil, false},
	}
	for _, tc := range tests {
		got, err := BSMSTokenCandidates(tc.in)
		if (err != nil) != tc.err || strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("BSMSTokenCandidates(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestBSMSDecimalTokenAmbiguity: a decimal token that happens to be 16
// digits long still decrypts, because the MAC picks the right reading.
func TestBSMSDecimalTokenAmbiguity(t *testing.T) {
	const dec = "1234567890123456"
	hexTok := "000462d53c8abac0"
	w := testWallet(t, descriptor.ScriptWsh, 2, 3, &chaincfg.MainNetParams, true)
	out, err := ExportBSMS(w, hexTok)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ImportWithOptions(out, ImportOptions{BSMSToken: dec}); err != nil {
		t.Fatalf("decimal token %s: %v", dec, err)
	}
	sum := sha256.Sum256([]byte(dec))
	if _, _, err := ImportWithOptions(out, ImportOptions{BSMSToken: fmt.Sprintf("%x", sum[:8])}); !errors.Is(err, ErrBSMSToken) {
		t.Fatalf("wrong token: %v", err)
	}
}

// TestBSMSMultipathRecord reads descriptor records written with the BIP-389
// form instead of the BIP-129 template, with and without restrictions.
func TestBSMSMultipathRecord(t *testing.T) {
	w := testWallet(t, descriptor.ScriptWsh, 2, 3, &chaincfg.MainNetParams, true)
	first, err := w.Descriptor.Derive(0, 0, w.Network)
	if err != nil {
		t.Fatal(err)
	}
	for _, restrictions := range []string{"No path restrictions", "/0/*,/1/*"} {
		rec := strings.Join([]string{"BSMS 1.0", w.Descriptor.String(), restrictions, first.Address}, "\n")
		got, _, err := Import([]byte(rec), nil)
		if err != nil {
			t.Fatalf("%s: %v", restrictions, err)
		}
		if !descriptor.Equal(got.Descriptor, w.Descriptor) {
			t.Errorf("%s: %s", restrictions, got.Descriptor)
		}
	}
}
