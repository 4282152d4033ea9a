package transport

import (
	"encoding/binary"
	"testing"

	"github.com/countersign/countersign/internal/fuzzseed"
)

// TestFuzzCorpus derives FuzzStream's deterministic seeds (see
// internal/fuzzseed): APDU responses in Speculos framing and APDUs as an
// emulator reads them. The recorded Ledger session is written by
// hw/ledger's TestFuzzCorpus.
func TestFuzzCorpus(t *testing.T) {
	c := fuzzseed.New("FuzzStream")
	frame := func(payload []byte, trailer []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
		return append(append(b, payload...), trailer...)
	}
	version := []byte("\x01\x0cBitcoin Test\x052.1.3\x01\x02")
	c.Add("speculos_get_version", append(frame(version, []byte{0x90, 0x00}), frame([]byte{0x73, 0xc5, 0xda, 0x0a}, []byte{0x90, 0x00})...), true)
	c.Add("speculos_status_only", frame(nil, []byte{0x69, 0x85}), true)
	c.Add("speculos_client_command", frame(append([]byte{0x40, 0x00}, make([]byte, 32)...), []byte{0xe0, 0x00}), true)
	c.Add("apdu_get_version", frame([]byte{0xb0, 0x01, 0x00, 0x00, 0x00}, nil), false)
	c.Add("apdu_continue", frame([]byte{0xf8, 0x01, 0x00, 0x01, 0x02, 0x01, 0x00}, nil), false)
	c.Add("length_above_limit", []byte{0x00, 0x01, 0x00, 0x00, 0x01}, false)
	c.Add("truncated", []byte{0x00, 0x00, 0x00, 0x09, 0x01}, true)
	fuzzseed.Check(t, c)
	fuzzseed.Record(t, "FuzzStream", "ledger_session", nil)
}
