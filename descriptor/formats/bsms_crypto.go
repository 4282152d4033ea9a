package formats

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/countersign/countersign/descriptor"
)

// BIP-129 "Encryption" (bitcoin/bips bip-0129.mediawiki at
// 7fe0b034ec967b52a5a28276419117326df93263, sections "The Token", "Key
// Derivation" and "Encryption Scheme"):
//
//	ENCRYPTION_KEY = PBKDF2(SHA512, "No SPOF", salt = TOKEN, 2048, 32 bytes)
//	HMAC_Key       = SHA256(ENCRYPTION_KEY)
//	MAC            = HMAC-SHA256(HMAC_Key, hex-encoded TOKEN || plaintext)
//	IV             = MAC[0:16]
//	ciphertext     = AES-256-CTR(ENCRYPTION_KEY, IV, plaintext)
//	file           = hex(MAC || ciphertext)
//
// The salt is the TOKEN's bytes (8 or 16), the MAC input starts with its
// lower-case hex text; the BIP's test vectors fix both readings.
const (
	bsmsKDFPassword   = "No SPOF"
	bsmsKDFIterations = 2048
	bsmsKeyLen        = 32
	bsmsMACLen        = sha256.Size
	bsmsIVLen         = aes.BlockSize

	// BSMSNoEncryption is the TOKEN of BIP-129's NO_ENCRYPTION mode, as
	// the second line of a key record writes it.
	BSMSNoEncryption = "00"
)

// ErrBSMSToken is wrapped when an encrypted BSMS file does not
// authenticate under the given TOKEN (a wrong or mistyped token, or an
// altered file), and when a file is encrypted but no token was given. Such
// errors also wrap descriptor.ErrInvalid, so the CLI maps them to exit
// code 2 (bad input).
var ErrBSMSToken = errors.New("BSMS token")

// ErrBSMSNeedToken is also wrapped when the file is encrypted and no token
// was given, so a caller at a terminal can ask for one and try again.
var ErrBSMSNeedToken = errors.New("encrypted BSMS file needs its token")

// bsmsTokenError is a token problem: it wraps ErrBSMSToken, and also
// descriptor.ErrInvalid so callers that only know that sentinel still treat
// it as bad input.
type bsmsTokenError struct {
	msg       string
	needToken bool
}

func (e *bsmsTokenError) Error() string { return e.msg }

func (e *bsmsTokenError) Unwrap() []error {
	if e.needToken {
		return []error{ErrBSMSToken, ErrBSMSNeedToken, descriptor.ErrInvalid}
	}
	return []error{ErrBSMSToken, descriptor.ErrInvalid}
}

func tokenErrorf(format string, args ...any) error {
	return &bsmsTokenError{msg: fmt.Sprintf(format, args...)}
}

// NewBSMSToken returns a fresh random TOKEN in lower-case hex: bits 64 is
// BIP-129's STANDARD mode (16 hex digits), 128 its EXTENDED mode (32). The
// BIP suggests showing it to people in decimal; BSMSTokenDecimal gives
// that form.
func NewBSMSToken(bits int) (string, error) {
	if bits != 64 && bits != 128 {
		return "", fmt.Errorf("a BSMS token has 64 (STANDARD) or 128 (EXTENDED) bits, not %d", bits)
	}
	b := make([]byte, bits/8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random BSMS token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// BSMSTokenDecimal writes a hex TOKEN as the decimal number BIP-129
// recommends showing to people.
func BSMSTokenDecimal(token string) (string, error) {
	b, err := bsmsTokenBytes(token)
	if err != nil {
		return "", err
	}
	return new(big.Int).SetBytes(b).String(), nil
}

// bsmsTokenBytes decodes a hex TOKEN of the STANDARD or EXTENDED mode.
func bsmsTokenBytes(token string) ([]byte, error) {
	b, err := hex.DecodeString(token)
	if err != nil || (len(b) != 8 && len(b) != 16) {
		return nil, tokenErrorf("%q is not a BIP-129 token: a token is 16 or 32 hex digits (64 or 128 bits), or %q for no encryption", shortText(token), BSMSNoEncryption)
	}
	return b, nil
}

// BSMSTokenCandidates reads a token as a person may type it: 16 or 32 hex
// digits (as key records write it), a decimal number (as BIP-129
// recommends showing it), or six BIP-39 words (STANDARD mode). It returns
// the hex tokens the input may stand for, most likely first: a run of 16 or
// 32 digits reads as hex and as decimal, and the MAC tells which one the
// file was made with. "", "00" and "0" mean no encryption and return nil.
func BSMSTokenCandidates(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == BSMSNoEncryption || s == "0" || strings.EqualFold(s, "0x00") {
		return nil, nil
	}
	if strings.ContainsAny(s, " \t") {
		t, err := bsmsTokenFromWords(strings.Fields(s))
		if err != nil {
			return nil, err
		}
		return []string{t}, nil
	}
	var out []string
	h := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	if _, err := bsmsTokenBytes(h); err == nil {
		out = append(out, h)
	}
	if d, ok := bsmsTokenFromDecimal(s); ok && !(len(out) > 0 && out[0] == d) {
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, tokenErrorf("%q is not a BIP-129 token: give the 16 or 32 hex digits, the decimal number, or the six words the coordinator showed", shortText(s))
	}
	return out, nil
}

// bsmsTokenFromDecimal reads a decimal token. Its width follows its value:
// up to 2^64-1 it is a STANDARD token, above that (up to 2^128-1) an
// EXTENDED one, the sizes BIP-129's decimal vectors have.
func bsmsTokenFromDecimal(s string) (string, bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" || len(s) > 39 {
		return "", false
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok || v.Sign() == 0 {
		return "", false
	}
	switch {
	case v.BitLen() <= 64:
		return fmt.Sprintf("%016x", v), true
	case v.BitLen() <= 128:
		return fmt.Sprintf("%032x", v), true
	}
	return "", false
}

// bsmsKeys derives the AES key and the HMAC key from a hex TOKEN.
func bsmsKeys(token string) (encKey, macKey []byte, err error) {
	salt, err := bsmsTokenBytes(token)
	if err != nil {
		return nil, nil, err
	}
	encKey, err = pbkdf2.Key(sha512.New, bsmsKDFPassword, salt, bsmsKDFIterations, bsmsKeyLen)
	if err != nil {
		return nil, nil, fmt.Errorf("BSMS key derivation: %w", err)
	}
	h := sha256.Sum256(encKey)
	return encKey, h[:], nil
}

func bsmsMAC(macKey []byte, token string, plain []byte) []byte {
	m := hmac.New(sha256.New, macKey)
	m.Write([]byte(token))
	m.Write(plain)
	return m.Sum(nil)
}

func bsmsCTR(encKey, iv, in []byte) ([]byte, error) {
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(in))
	cipher.NewCTR(block, iv).XORKeyStream(out, in)
	return out, nil
}

// EncryptBSMS encrypts a key or descriptor record under a hex TOKEN and
// returns the BIP-129 .dat file content: hex(MAC || ciphertext), no
// newline. The token must be a STANDARD or EXTENDED one; with no
// encryption a record is sent as it is.
func EncryptBSMS(token string, plain []byte) ([]byte, error) {
	token = strings.ToLower(token)
	encKey, macKey, err := bsmsKeys(token)
	if err != nil {
		return nil, err
	}
	mac := bsmsMAC(macKey, token, plain)
	ct, err := bsmsCTR(encKey, mac[:bsmsIVLen], plain)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 2*(len(mac)+len(ct)))
	out = hex.AppendEncode(out, mac)
	return hex.AppendEncode(out, ct), nil
}

// DecryptBSMS decrypts a BIP-129 .dat file (hex of MAC || ciphertext,
// surrounding white space allowed) with a token as BSMSTokenCandidates
// reads it, and checks the MAC. A MAC that does not match under any reading
// of the token wraps ErrBSMSToken: the token is wrong or the file altered.
func DecryptBSMS(token string, data []byte) ([]byte, error) {
	raw, err := bsmsHex(data)
	if err != nil {
		return nil, err
	}
	plain, _, err := bsmsDecrypt(token, raw)
	return plain, err
}

// bsmsDecrypt tries each reading of token on raw (MAC || ciphertext) and
// returns the plaintext and the hex token whose MAC matched.
func bsmsDecrypt(token string, raw []byte) ([]byte, string, error) {
	if strings.TrimSpace(token) == "" {
		return nil, "", errBSMSEncrypted()
	}
	cands, err := BSMSTokenCandidates(token)
	if err != nil {
		return nil, "", err
	}
	if len(cands) == 0 {
		return nil, "", tokenErrorf("the file is encrypted but the token given is %q (no encryption): give the token the coordinator set for this wallet setup", BSMSNoEncryption)
	}
	for _, c := range cands {
		plain, ok, err := bsmsOpen(c, raw)
		if err != nil {
			return nil, "", err
		}
		if ok {
			return plain, c, nil
		}
	}
	return nil, "", tokenErrorf("the file does not authenticate with this token (MAC mismatch): the token is wrong or mistyped, or the file was altered; check the token with the coordinator")
}

// errBSMSEncrypted names the CLI flag, as the file's reader is the one
// place that knows the content was encrypted.
func errBSMSEncrypted() error {
	return &bsmsTokenError{
		msg:       "this looks like an encrypted BSMS file: pass --bsms-token with the token the coordinator set for this wallet setup",
		needToken: true,
	}
}

// bsmsOpen decrypts raw (MAC || ciphertext) with one hex token and reports
// whether the MAC matched.
func bsmsOpen(token string, raw []byte) ([]byte, bool, error) {
	encKey, macKey, err := bsmsKeys(token)
	if err != nil {
		return nil, false, err
	}
	mac, ct := raw[:bsmsMACLen], raw[bsmsMACLen:]
	plain, err := bsmsCTR(encKey, mac[:bsmsIVLen], ct)
	if err != nil {
		return nil, false, err
	}
	if !hmac.Equal(bsmsMAC(macKey, token, plain), mac) {
		return nil, false, nil
	}
	return plain, true, nil
}

// bsmsHex decodes an encrypted file's hex text and checks it holds a MAC
// and at least one byte of ciphertext.
func bsmsHex(data []byte) ([]byte, error) {
	t := bytes.TrimSpace(bytes.TrimPrefix(data, []byte("\ufeff")))
	if len(t) > 2*maxImportSize {
		return nil, invalidf("the encrypted BSMS file is %d bytes; records are a few hundred", len(t))
	}
	raw, err := hex.DecodeString(string(t))
	if err != nil {
		return nil, invalidf("an encrypted BSMS file is hex (MAC followed by ciphertext), and this one is not: %v", err)
	}
	if len(raw) <= bsmsMACLen {
		return nil, invalidf("the encrypted BSMS file has %d bytes, not enough for the 32-byte MAC and a record", len(raw))
	}
	return raw, nil
}

// looksLikeEncryptedBSMS reports whether text is what BIP-129 encryption
// produces: only hex digits, an even number of them, longer than the MAC.
// Records are at least "BSMS 1.0" plus a key, so real files are hundreds
// of digits; a hex public key or hash alone is too short to be mistaken.
func looksLikeEncryptedBSMS(t string) bool {
	if len(t)%2 != 0 || len(t) < 2*(bsmsMACLen+len(bsmsVersion)+20) {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// shortText cuts untrusted input for an error message and keeps it to
// printable ASCII.
func shortText(s string) string {
	const max = 40
	var b strings.Builder
	for i, r := range s {
		if i >= max {
			b.WriteString("...")
			break
		}
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}
