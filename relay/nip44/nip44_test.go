package nip44

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// vectorsSHA256 is the checksum NIP-44 publishes for its vector file
// (nips/44.md, "Tests and code"): the file here is that file.
const vectorsSHA256 = "269ed0f69e4c192512cc779e78c555090cebc7c785b609e338a62afc3ce25040"

type vectors struct {
	V2 struct {
		Valid struct {
			GetConversationKey []struct {
				Sec1, Pub2      string
				ConversationKey string `json:"conversation_key"`
			} `json:"get_conversation_key"`
			CalcPaddedLen  [][2]int `json:"calc_padded_len"`
			EncryptDecrypt []struct {
				Sec1, Sec2, Nonce, Plaintext, Payload string
				ConversationKey                       string `json:"conversation_key"`
			} `json:"encrypt_decrypt"`
			EncryptDecryptLongMsg []struct {
				ConversationKey string `json:"conversation_key"`
				Nonce, Pattern  string
				Repeat          int
				PlaintextSHA256 string `json:"plaintext_sha256"`
				PayloadSHA256   string `json:"payload_sha256"`
			} `json:"encrypt_decrypt_long_msg"`
		}
		Invalid struct {
			EncryptMsgLengths  []int `json:"encrypt_msg_lengths"`
			GetConversationKey []struct {
				Sec1, Pub2, Note string
			} `json:"get_conversation_key"`
			Decrypt []struct {
				ConversationKey                 string `json:"conversation_key"`
				Nonce, Plaintext, Payload, Note string
			}
		}
	}
}

// loadVectors reads testdata/nip44.vectors.json; a missing or altered file
// fails the test.
func loadVectors(t *testing.T) *vectors {
	t.Helper()
	raw, err := os.ReadFile("testdata/nip44.vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != vectorsSHA256 {
		t.Fatalf("nip44.vectors.json has SHA-256 %x, NIP-44 publishes %s", sum, vectorsSHA256)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

func unhex32(t *testing.T, s string) [32]byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("bad 32-byte hex %q", s)
	}
	return [32]byte(b)
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVectors runs NIP-44's published v2 vectors: conversation keys,
// padded lengths (seen in the payload's size), encryption with the given
// nonce byte for byte and decryption both ways, long messages by hash, and
// every invalid case (message lengths, keys, payloads) refused with the
// right error. get_message_keys (2 vectors) tests an internal step the
// encryption vectors cover end to end.
func TestVectors(t *testing.T) {
	v := loadVectors(t).V2
	n := 0
	for _, c := range v.Valid.GetConversationKey {
		ck, err := ConversationKey(unhex32(t, c.Sec1), unhex32(t, c.Pub2))
		if err != nil || hex.EncodeToString(ck[:]) != c.ConversationKey {
			t.Errorf("conversation key of %s, %s: %x, %v; want %s", c.Sec1, c.Pub2, ck, err, c.ConversationKey)
		}
		n++
	}
	for _, c := range v.Valid.CalcPaddedLen {
		if c[0] > MaxPlaintext {
			continue
		}
		p, err := EncryptWith([32]byte{1}, []byte(strings.Repeat("a", c[0])), nil)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.StdEncoding.DecodeString(p)
		// version 1, nonce 32, length prefix 2, padded plaintext, MAC 32
		if got := len(raw) - 67; got != c[1] {
			t.Errorf("plaintext of %d bytes padded to %d, want %d", c[0], got, c[1])
		}
		n++
	}
	for _, c := range v.Valid.EncryptDecrypt {
		sk1, sk2 := SecretKey(unhex32(t, c.Sec1)), SecretKey(unhex32(t, c.Sec2))
		pk1, err := sk1.Public()
		if err != nil {
			t.Fatal(err)
		}
		pk2, err := sk2.Public()
		if err != nil {
			t.Fatal(err)
		}
		ck, err := ConversationKey(sk1, pk2)
		if err != nil || hex.EncodeToString(ck[:]) != c.ConversationKey {
			t.Errorf("conversation key %x, %v; want %s", ck, err, c.ConversationKey)
		}
		got, err := EncryptWith(ck, []byte(c.Plaintext), unhex(t, c.Nonce))
		if err != nil || got != c.Payload {
			t.Errorf("encrypt %q: %s, %v; want %s", c.Plaintext, got, err, c.Payload)
		}
		pt, err := Decrypt(sk2, pk1, c.Payload)
		if err != nil || string(pt) != c.Plaintext {
			t.Errorf("decrypt by the recipient: %q, %v; want %q", pt, err, c.Plaintext)
		}
		n++
	}
	for _, c := range v.Valid.EncryptDecryptLongMsg {
		pt := []byte(strings.Repeat(c.Pattern, c.Repeat))
		if sum := sha256.Sum256(pt); hex.EncodeToString(sum[:]) != c.PlaintextSHA256 {
			t.Fatalf("long plaintext hash %x, want %s", sum, c.PlaintextSHA256)
		}
		ck := unhex32(t, c.ConversationKey)
		payload, err := EncryptWith(ck, pt, unhex(t, c.Nonce))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256([]byte(payload)); hex.EncodeToString(sum[:]) != c.PayloadSHA256 {
			t.Errorf("long message payload hash %x, want %s", sum, c.PayloadSHA256)
		}
		back, err := DecryptWith(ck, payload)
		if err != nil || string(back) != string(pt) {
			t.Errorf("long message does not decrypt back: %v", err)
		}
		n++
	}
	for _, l := range v.Invalid.EncryptMsgLengths {
		if _, err := EncryptWith([32]byte{1}, make([]byte, l), nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("encrypt %d bytes: %v, want ErrInvalid", l, err)
		}
		n++
	}
	for _, c := range v.Invalid.GetConversationKey {
		if _, err := ConversationKey(unhex32(t, c.Sec1), unhex32(t, c.Pub2)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: conversation key accepted (%v)", c.Note, err)
		}
		n++
	}
	for _, c := range v.Invalid.Decrypt {
		if pt, err := DecryptWith(unhex32(t, c.ConversationKey), c.Payload); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: decrypted to %q (%v)", c.Note, pt, err)
		}
		n++
	}
	if n < 90 {
		t.Fatalf("ran %d vectors; the file has more", n)
	}
	t.Logf("%d NIP-44 v2 vectors", n)
}

// TestPublicRejectsBadSecret: zero and the group order are not keys.
func TestPublicRejectsBadSecret(t *testing.T) {
	for _, s := range []string{strings.Repeat("00", 32), "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"} {
		if _, err := SecretKey(unhex32(t, s)).Public(); !errors.Is(err, ErrInvalid) {
			t.Errorf("secret %s: %v", s, err)
		}
	}
}

// FuzzDecrypt: any payload, however hostile, is an error or a plaintext,
// never a panic; and what decrypts re-encrypts to a payload that opens
// to the same text.
func FuzzDecrypt(f *testing.F) {
	ck := [32]byte{7}
	for _, s := range []string{"", "#abc", strings.Repeat("A", 132)} {
		f.Add(s)
	}
	good, err := EncryptWith(ck, []byte("psbt"), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Fuzz(func(t *testing.T, payload string) {
		pt, err := DecryptWith(ck, payload)
		if err != nil {
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("error %v does not wrap ErrDecrypt", err)
			}
			return
		}
		again, err := EncryptWith(ck, pt, nil)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := DecryptWith(ck, again); err != nil || string(back) != string(pt) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
