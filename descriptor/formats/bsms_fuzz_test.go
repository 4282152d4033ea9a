package formats

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/countersign/countersign/descriptor"
)

// The seed corpora of these targets are committed under
// testdata/fuzz/<target>/: the BIP-129 vectors' key records, encrypted
// files and descriptor records with their tokens, plus the f.Add seeds
// below, so a plain clone fuzzes real records.

// classified reports whether a BSMS error carries one of the sentinels the
// CLI maps to an exit code.
func classified(err error) bool {
	return errors.Is(err, descriptor.ErrInvalid) || errors.Is(err, ErrBSMSToken) || errors.Is(err, ErrUnknownFormat)
}

// FuzzBSMSKeyRecord checks that the key record parser never panics, that
// every failure is classified, and that an accepted record writes back to
// the same five lines, which verify again.
func FuzzBSMSKeyRecord(f *testing.F) {
	f.Add([]byte("BSMS 1.0\n00\n[00000000/0]02\n\nAA=="), "")
	f.Fuzz(func(t *testing.T, data []byte, token string) {
		r, err := ParseBSMSKeyRecord(data, token)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		again, err := parseBSMSKeyRecord(r.Plaintext())
		if err != nil {
			t.Fatalf("accepted record does not parse again: %v\n%s", err, r.Plaintext())
		}
		if again.KeyText != r.KeyText || again.Token != r.Token || again.Description != r.Description || again.Signature != r.Signature {
			t.Fatalf("record changed: %+v\n%+v", r, again)
		}
	})
}

// FuzzDecryptBSMS checks that decryption never panics, that failures are
// classified, and that whatever authenticates encrypts back to the input.
func FuzzDecryptBSMS(f *testing.F) {
	f.Add("a54044308ceac9b7", []byte(strings.Repeat("00", 40)))
	f.Fuzz(func(t *testing.T, token string, data []byte) {
		raw, err := bsmsHex(data)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		plain, hexToken, err := bsmsDecrypt(token, raw)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		out, err := EncryptBSMS(hexToken, plain)
		if err != nil {
			t.Fatalf("re-encrypt: %v", err)
		}
		if want := bytes.ToLower(bytes.TrimSpace(bytes.TrimPrefix(data, []byte("\ufeff")))); !bytes.Equal(out, want) {
			t.Fatalf("re-encrypted to\n%s\nwant\n%s", out, want)
		}
		if p2, err := DecryptBSMS(token, data); err != nil || !bytes.Equal(p2, plain) {
			t.Fatalf("DecryptBSMS disagrees: %v", err)
		}
	})
}

// FuzzBSMSDescriptorRecord checks descriptor records, plain or encrypted:
// no panic, classified failures, and an accepted record's wallet exports
// (encrypted again with the same token) and imports back the same.
func FuzzBSMSDescriptorRecord(f *testing.F) {
	f.Add([]byte("BSMS 1.0\nwsh(multi(1,02e493dbf1c10d80f3581e4904930b1404cc6c13900ee0758474fa94abe8c4cd13))\nNo path restrictions\nbc1q"), "")
	f.Fuzz(func(t *testing.T, data []byte, token string) {
		if !looksLikeEncryptedBSMS(strings.TrimSpace(string(data))) && !bytes.HasPrefix(bytes.TrimSpace(data), []byte("BSMS")) {
			return // other formats: FuzzImport's job
		}
		w, f, err := ImportWithOptions(data, ImportOptions{BSMSToken: token})
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if f != FormatBSMS {
			t.Fatalf("detected %s", f)
		}
		cands, _ := BSMSTokenCandidates(token)
		exportToken := ""
		if looksLikeEncryptedBSMS(strings.TrimSpace(string(data))) && len(cands) > 0 {
			exportToken = cands[0]
		}
		out, err := ExportBSMS(w, exportToken)
		if err != nil {
			t.Fatalf("accepted record does not export: %v", err)
		}
		back, _, err := ImportWithOptions(out, ImportOptions{DefaultNet: w.Network, BSMSToken: exportToken})
		if err != nil {
			t.Fatalf("export does not import: %v", err)
		}
		if !descriptor.Equal(back.Descriptor, w.Descriptor) || descriptor.NetworkName(back.Network) != descriptor.NetworkName(w.Network) {
			t.Fatalf("wallet changed: %s -> %s", w.Descriptor, back.Descriptor)
		}
	})
}
