package coldcard

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/countersign/countersign/internal/fuzzseed"
	"github.com/countersign/countersign/internal/vectors"
)

// TestFuzzCorpus derives the seed corpora of the emulator's fuzz targets
// (see internal/fuzzseed): every command with the arguments ckcc-protocol
// packs for it (and malformed ones), and the BIP-174 vector PSBTs. The
// wallet PSBTs of the driver's tests are recorded by hw/coldcard.
func TestFuzzCorpus(t *testing.T) {
	dispatch := fuzzseed.New("FuzzDispatch")
	cmd := func(name string) uint8 {
		i := slices.Index(dispatchCommands, name)
		if i < 0 {
			t.Fatalf("no command %s", name)
		}
		return uint8(i)
	}
	le := func(vs ...uint32) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint32(b, v)
		}
		return b
	}
	priv, _ := btcec.PrivKeyFromBytes([]byte(strings.Repeat("k", 32)))
	hostXY := priv.PubKey().SerializeUncompressed()[1:]
	sha := make([]byte, 32)
	script := append(append([]byte{0x52, 0x21}, make([]byte, 33)...), 0x51, 0xae)
	p2sh := append(le(0x0e), 2, 3)
	p2sh = binary.LittleEndian.AppendUint16(p2sh, uint16(len(script)))
	p2sh = append(p2sh, script...)
	for i := 0; i < 3; i++ {
		p2sh = append(p2sh, 5)
		p2sh = append(p2sh, le(0x0a0b0c0d+uint32(i), 48|1<<31, 1|1<<31, 1<<31, 2|1<<31)...)
	}
	for _, c := range []struct {
		cmd, name string
		args      []byte
	}{
		{"ping", "hello", []byte("hello")},
		{"vers", "", nil},
		{"blkc", "", nil},
		{"ncry", "v1", append(le(1), hostXY...)},
		{"ncry", "v2", append(le(2), hostXY...)},
		{"ncry", "v3", append(le(3), hostXY...)},
		{"ncry", "not_on_curve", append(le(1), make([]byte, 64)...)},
		{"ncry", "short", le(1)},
		{"mitm", "", nil},
		{"xpub", "account", []byte("m/48'/1'/0'/2'")},
		{"xpub", "master", []byte("m")},
		{"xpub", "hardened_h", []byte("m/48h/1h")},
		{"xpub", "too_deep", []byte("m" + strings.Repeat("/1", 13))},
		{"xpub", "garbage", []byte("m/x")},
		{"upld", "first_block", append(le(0, 300), make([]byte, 256)...)},
		{"upld", "unaligned", append(le(10, 300), 1, 2, 3)},
		{"upld", "beyond_total", append(le(256, 100), 1)},
		{"sha2", "", nil},
		{"dwld", "result", le(0, 256, 1)},
		{"dwld", "other_file", le(0, 256, 0)},
		{"enrl", "", append(le(300), sha...)},
		{"msck", "2_of_3", le(2, 3, 0xdeadbeef)},
		{"msck", "short", le(2, 3)},
		{"p2sh", "p2wsh_2_of_3", p2sh},
		{"p2sh", "truncated", p2sh[:20]},
		{"stxn", "", append(le(300, 0), sha...)},
		{"stok", "", nil},
		{"zzzz", "unknown", []byte("x")},
		{"mins", "", append(le(300), sha...)},
		{"msls", "", nil},
		{"msas", "receive_0", append(le(0, 0), "heirs"...)},
		{"msas", "bad_change", append(le(2, 0), "heirs"...)},
		{"msas", "long_name", append(le(1, 5), strings.Repeat("n", 40)...)},
		{"msgt", "", []byte("heirs")},
		{"msdl", "", []byte("heirs")},
		{"stxn", "named", append(append(append(le(300, 0), sha...), 5), "heirs"...)},
	} {
		dispatch.Add(c.cmd+"_"+c.name, cmd(c.cmd), c.args)
	}

	review := fuzzseed.New("FuzzReviewPSBT")
	var v struct {
		Invalid, Valid []struct {
			Hex string `json:"hex"`
		}
	}
	vectors.Load(t, "psbt_bip174.json", &v)
	for i, c := range append(v.Valid, v.Invalid...) {
		b, err := hex.DecodeString(c.Hex)
		if err != nil {
			continue
		}
		review.Add(fmt.Sprintf("bip174_%02d", i), b)
	}
	if review.Len() < 10 {
		t.Fatalf("only %d BIP-174 PSBTs", review.Len())
	}
	fuzzseed.Check(t, dispatch, review)
	fuzzseed.Record(t, "FuzzReviewPSBT", "driver_psbt", nil)
}
