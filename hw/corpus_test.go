package hw

import (
	"testing"

	"github.com/countersign/countersign/internal/fuzzseed"
)

// TestFuzzCorpus derives FuzzParseSelector's seeds (see
// internal/fuzzseed): the selector forms the manual and `device list`
// show, the forms the CLI resolves itself, and malformed ones.
func TestFuzzCorpus(t *testing.T) {
	c := fuzzseed.New("FuzzParseSelector")
	for _, s := range []string{
		"coldcard", "coldcard:0F056943", "ledger:73c5da0a", "trezor", "trezor:5c9e228d",
		"path:/tmp/coldcard-simulator.sock", "path:127.0.0.1:21324", "path:1-2:1.0",
		"COLDCARD:0f056943", "  ledger  ", "path:", "trezor:xyz", "trezor:0f05694", "key:office",
		"file:/media/sdcard", "hwi:coldcard", "bitbox02", ":", "",
	} {
		c.Add(s, s)
	}
	fuzzseed.Check(t, c)
}
