package ur

import "testing"

// BenchmarkDecodeFountain decodes a 32 kB message sent as 1000-byte
// fragments starting past the first sequence (only mixed parts).
func BenchmarkDecodeFountain(b *testing.B) {
	msg := makeMessageCBOR(b, 32767)
	for b.Loop() {
		e, _ := NewEncoder("bytes", msg, 1000, 10)
		e.f.seqNum = 100
		var d Decoder
		for !d.IsComplete() {
			if _, err := d.Receive(e.NextPart()); err != nil {
				b.Fatal(err)
			}
		}
	}
}
