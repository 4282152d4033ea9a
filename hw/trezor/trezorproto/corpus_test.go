package trezorproto

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/countersign/countersign/internal/fuzzseed"
)

// TestFuzzCorpus derives the deterministic seeds of this package's fuzz
// targets from every message the package encodes (see internal/fuzzseed);
// the recorded ones, from a session between the driver and the emulator,
// are made by hw/trezor's TestFuzzCorpus.
func TestFuzzCorpus(t *testing.T) {
	un := fuzzseed.New("FuzzUnmarshal")
	asm := fuzzseed.New("FuzzAssembler")
	for i, m := range messages() {
		name := fmt.Sprintf("%s_%d", m.Type(), i)
		un.Add(name, uint16(m.Type()), m.Marshal())
		rs, err := EncodeReports(m.Type(), m.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		asm.Add(name, bytes.Join(rs, nil))
	}
	// The fixed reply of a device that speaks only THP, and a report
	// without the codec's magic.
	asm.Add("thp_invalid_protocol", []byte("?##\x00\x03\x00\x00\x00\x14\x08\x11\x12\x10Invalid protocol"))
	asm.Add("bad_magic", append([]byte{0x40, 0xff, 0xff}, make([]byte, 61)...))
	un.Add("unknown_fields", uint16(TypeFeatures), append((&Features{Vendor: "trezor.io"}).Marshal(), 0xa8, 0x02, 0x01))
	fuzzseed.Check(t, un, asm)
	fuzzseed.Record(t, "FuzzUnmarshal", "session", nil)
	fuzzseed.Record(t, "FuzzAssembler", "session", nil)
}
