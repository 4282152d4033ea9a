package formats

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/countersign/countersign/descriptor"
)

// BIP-129 round 1, "Signer" (bip-0129.mediawiki at
// 7fe0b034ec967b52a5a28276419117326df93263): a key record is five lines,
// the version, the hex TOKEN, the KEY as [fingerprint/path]key, a
// description of at most 80 characters, and SIG, a signature of the first
// four lines by the KEY's private key. The BIP's vectors sign exactly those
// four lines joined by "\n", with no newline after the fourth.
const bsmsMaxDescription = 80

// KeyRecord is a BIP-129 key record (round 1, signer to coordinator) whose
// signature has been checked.
type KeyRecord struct {
	Token       string         // hex TOKEN, BSMSNoEncryption ("00") when not encrypted
	Key         descriptor.Key // the KEY with its origin; an xpub/tpub or a plain public key
	KeyText     string         // the KEY line as written, for wallet create's --cosigner
	Description string         // untrusted text: escape before printing
	Signature   string         // base64 legacy Bitcoin signed message
}

// ParseBSMSKeyRecord reads a key record, plain (.bsms) or encrypted (.dat,
// decrypted with token), and verifies its signature. When a token is given
// the record's TOKEN line must be that token, so a record from another
// setup session is refused even when it is not encrypted. token may be ""
// for records sent without encryption.
func ParseBSMSKeyRecord(data []byte, token string) (*KeyRecord, error) {
	plain, tokens, err := bsmsPlaintext(data, token)
	if err != nil {
		return nil, err
	}
	r, err := parseBSMSKeyRecord(plain)
	if err != nil {
		return nil, err
	}
	if tokens != nil && !slices.Contains(tokens, r.Token) {
		return nil, tokenErrorf("the key record's TOKEN is %s but this setup's token is %s: the record belongs to another setup session",
			shortText(r.Token), strings.Join(tokens, " or "))
	}
	return r, nil
}

// bsmsPlaintext returns the record text of a BSMS file: data itself when it
// is plain text, or its decryption when it is an encrypted .dat. It also
// returns the hex tokens the caller's token may stand for (only the one
// whose MAC matched, after decryption; "00" when the token says no
// encryption; nil when no token was given).
func bsmsPlaintext(data []byte, token string) ([]byte, []string, error) {
	t := strings.TrimSpace(strings.TrimPrefix(string(data), "\ufeff"))
	if looksLikeEncryptedBSMS(t) {
		raw, err := bsmsHex([]byte(t))
		if err != nil {
			return nil, nil, err
		}
		plain, hexToken, err := bsmsDecrypt(token, raw)
		if err != nil {
			return nil, nil, err
		}
		return plain, []string{hexToken}, nil
	}
	if strings.TrimSpace(token) == "" {
		return data, nil, nil
	}
	cands, err := BSMSTokenCandidates(token)
	if err != nil {
		return nil, nil, err
	}
	if len(cands) == 0 {
		cands = []string{BSMSNoEncryption}
	}
	return data, cands, nil
}

// bsmsLines splits a record into lines, accepting CRLF and one final
// newline, which editors add, and nothing else: the signature and MAC
// cover the exact text.
func bsmsLines(plain []byte) ([]string, error) {
	if !utf8.Valid(plain) {
		return nil, invalidf("the BSMS record is not UTF-8 text")
	}
	s := strings.TrimPrefix(string(plain), "\ufeff")
	s = strings.TrimSuffix(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	return strings.Split(s, "\n"), nil
}

func parseBSMSKeyRecord(plain []byte) (*KeyRecord, error) {
	lines, err := bsmsLines(plain)
	if err != nil {
		return nil, err
	}
	if len(lines) == 4 && lines[0] == bsmsVersion && strings.Contains(lines[1], "(") {
		return nil, invalidf("this is a BSMS descriptor record (round 2), not a key record (round 1): import it as a wallet")
	}
	if len(lines) != 5 {
		return nil, invalidf("a BSMS key record has 5 lines (version, token, key, description, signature) and this one has %d", len(lines))
	}
	if lines[0] != bsmsVersion {
		return nil, invalidf("version line %q: only %q records are supported", shortText(lines[0]), bsmsVersion)
	}
	r := &KeyRecord{Token: lines[1], KeyText: lines[2], Description: lines[3], Signature: lines[4]}
	if r.Token != BSMSNoEncryption {
		if _, err := bsmsTokenBytes(r.Token); err != nil {
			return nil, invalidf("the key record's TOKEN line %q is not %q or 16 or 32 lower-case hex digits", shortText(r.Token), BSMSNoEncryption)
		}
		if strings.ToLower(r.Token) != r.Token {
			return nil, invalidf("the key record's TOKEN line %q is not lower-case hex", shortText(r.Token))
		}
	}
	if n := utf8.RuneCountInString(r.Description); n > bsmsMaxDescription {
		return nil, invalidf("the key description has %d characters; BIP-129 allows at most %d", n, bsmsMaxDescription)
	}
	for _, c := range r.Description {
		if c < 0x20 || c == 0x7f {
			return nil, invalidf("the key description contains a control character")
		}
	}
	k, err := bsmsRecordKey(r.KeyText)
	if err != nil {
		return nil, err
	}
	r.Key = k
	pub, err := bsmsPubKey(&k)
	if err != nil {
		return nil, err
	}
	msg := []byte(strings.Join(lines[:4], "\n"))
	if err := verifyBitcoinMessage(pub, msg, r.Signature); err != nil {
		return nil, invalidf("the key record's signature does not verify (%v): the record was altered or not signed by the key it carries; do not use it", err)
	}
	return r, nil
}

// bsmsRecordKey parses the KEY line: a key with its origin, nothing after
// it (the descriptor record adds the path restrictions), no private key.
func bsmsRecordKey(s string) (descriptor.Key, error) {
	k, err := descriptor.ParseKey(s)
	if err != nil {
		return descriptor.Key{}, wrapInvalid("the key record's KEY", err)
	}
	switch {
	case k.Private:
		return descriptor.Key{}, invalidf("the key record's KEY holds a private key; a key record carries the public key only")
	case k.Origin == nil:
		return descriptor.Key{}, invalidf("the key record's KEY has no origin: BIP-129 writes it as [fingerprint/path]xpub")
	case len(k.Path) != 0 || k.Wildcard:
		return descriptor.Key{}, invalidf("the key record's KEY has derivation steps after the key; BIP-129 puts those in the descriptor record's path restrictions")
	case k.Uncompressed:
		return descriptor.Key{}, invalidf("the key record's KEY is an uncompressed public key; multisig keys here are compressed")
	}
	return k, nil
}

// bsmsPubKey is the public key whose private key signs the record: the
// xpub's own key, or the plain public key.
func bsmsPubKey(k *descriptor.Key) (*btcec.PublicKey, error) {
	if k.XPub != nil {
		pub, err := k.XPub.ECPubKey()
		if err != nil {
			return nil, wrapInvalid("the key record's KEY", err)
		}
		return pub, nil
	}
	return k.PubKey, nil
}

// NewBSMSKeyRecord writes and signs a key record, as a signer does in round
// 1: key is the KEY line ([fingerprint/path]xpub or a plain public key with
// its origin), priv the private key of that key (for an xpub, of the xpub
// itself), token the setup's hex token or "00". It returns the plain record
// (.bsms); File gives what is sent.
func NewBSMSKeyRecord(token, key, description string, priv *btcec.PrivateKey) (*KeyRecord, error) {
	if token == "" {
		token = BSMSNoEncryption
	}
	token = strings.ToLower(token)
	if token != BSMSNoEncryption {
		if _, err := bsmsTokenBytes(token); err != nil {
			return nil, err
		}
	}
	k, err := bsmsRecordKey(key)
	if err != nil {
		return nil, err
	}
	if n := utf8.RuneCountInString(description); n > bsmsMaxDescription || strings.ContainsAny(description, "\r\n") {
		return nil, invalidf("a key description is one line of at most %d characters", bsmsMaxDescription)
	}
	pub, err := bsmsPubKey(&k)
	if err != nil {
		return nil, err
	}
	if priv == nil || !priv.PubKey().IsEqual(pub) {
		return nil, invalidf("the private key given is not the key record's KEY")
	}
	r := &KeyRecord{Token: token, Key: k, KeyText: key, Description: description}
	r.Signature = signBitcoinMessage(priv, r.signedText())
	return r, nil
}

// signedText is what SIG signs: the first four lines.
func (r *KeyRecord) signedText() []byte {
	return []byte(strings.Join([]string{bsmsVersion, r.Token, r.KeyText, r.Description}, "\n"))
}

// Plaintext is the five-line record, with no final newline (the BIP's
// form, which the MAC of an encrypted record covers).
func (r *KeyRecord) Plaintext() []byte {
	return bytes.Join([][]byte{r.signedText(), []byte(r.Signature)}, []byte("\n"))
}

// File is the record as a signer sends it: the plain record when the token
// is "00", else the encrypted .dat content.
func (r *KeyRecord) File() ([]byte, error) {
	if r.Token == BSMSNoEncryption {
		return r.Plaintext(), nil
	}
	out, err := EncryptBSMS(r.Token, r.Plaintext())
	if err != nil {
		return nil, fmt.Errorf("encrypt the key record: %w", err)
	}
	return out, nil
}
