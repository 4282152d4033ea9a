package formats

import "testing"

// BenchmarkDecryptBSMS measures decrypting a descriptor record, dominated
// by BIP-129's PBKDF2 (2048 rounds of HMAC-SHA512).
func BenchmarkDecryptBSMS(b *testing.B) {
	plain := []byte("BSMS 1.0\nwsh(sortedmulti(2,...))\n/0/*,/1/*\nbc1q")
	data, err := EncryptBSMS("a54044308ceac9b7", plain)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := DecryptBSMS("a54044308ceac9b7", data); err != nil {
			b.Fatal(err)
		}
	}
}
