package jade

import (
	"bytes"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// FuzzReply feeds arbitrary bytes to the reply decoder as a stream: the
// item reader never panics, never returns more than the bytes it was
// given, agrees with fxamacker's well-formedness check on every item it
// returns, and decodeReply never panics.
func FuzzReply(f *testing.F) {
	f.Add([]byte{0xa2, 0x62, 'i', 'd', 0x61, '1', 0x66, 'r', 'e', 's', 'u', 'l', 't', 0xf5})
	f.Fuzz(func(t *testing.T, b []byte) {
		ir := newItemReader(bytes.NewReader(b), 1<<16)
		total := 0
		for i := 0; i < 64; i++ {
			item, err := ir.next()
			if err != nil {
				return
			}
			total += len(item)
			if total > len(b) {
				t.Fatalf("read %d bytes of %d", total, len(b))
			}
			if werr := cbor.Wellformed(item); werr != nil {
				t.Fatalf("reader returned %x, fxamacker: %v", item, werr)
			}
			if r, err := decodeReply(item); err == nil && !r.Log && r.ID == "" && r.Error == nil && r.Result == nil {
				t.Fatalf("an empty reply passed: %x", item)
			}
		}
	})
}
