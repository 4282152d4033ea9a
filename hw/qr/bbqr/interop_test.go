package bbqr

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/countersign/countersign/hw/qr/internal/jspeer"
)

// TestBBQrJSInterop cross-checks with Coinkite's own JavaScript package
// (npm bbqr 1.2.0): for binary PSBTs, text and JSON in every encoding,
// their parts join with our Joiner and ours with their joinQRs, shuffled.
// For H and 2 both sides must produce the very same parts and version
// (same fitting rule); for Z each uses its own compressor, and pako's
// inflate with windowBits 10 must accept our 1 KiB-window stream.
func TestBBQrJSInterop(t *testing.T) {
	peer := jspeer.Require(t)
	jsonDoc, _ := json.Marshal(map[string]any{"name": "Family 2-of-3", "descriptor": "wsh(sortedmulti(2,...))", "labels": []string{"Alice", "Bob", "Carol"}, "birth": 850000})
	payloads := []struct {
		name string
		typ  byte
		data []byte
	}{
		{"psbt-1in100out", FileTypePSBT, readVector(t, "1in100out.psbt")},
		{"psbt-1in1000out", FileTypePSBT, readVector(t, "1in1000out.psbt")},
		{"txn-last", FileTypeTransaction, readVector(t, "last.txn")},
		{"text", FileTypeUnicode, bytes.Repeat([]byte("Unicode text ✓ with a multisig policy: 2 of 3.\n"), 40)},
		{"json", FileTypeJSON, bytes.Repeat(jsonDoc, 20)},
	}
	rng := rand.New(rand.NewPCG(9, 10))
	type tcase struct {
		name string
		typ  byte
		data []byte
		enc  byte
		maxV int
		ours []string
		v    int
	}
	var cases []tcase
	var reqs []any
	for _, p := range payloads {
		for _, enc := range []byte{EncodingHex, EncodingBase32, EncodingZlib} {
			for _, maxV := range []int{15, 40} {
				ours, v, err := Split(p.data, p.typ, SplitOptions{Encoding: enc, MaxVersion: maxV})
				if err != nil {
					t.Fatalf("%s %c: %v", p.name, enc, err)
				}
				cases = append(cases, tcase{p.name, p.typ, p.data, enc, maxV, ours, v})
				shuffled := slices.Clone(ours)
				rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				reqs = append(reqs,
					map[string]any{"op": "bbqr-split", "data": hex.EncodeToString(p.data), "fileType": string(p.typ), "encoding": string(enc), "maxVersion": maxV},
					map[string]any{"op": "bbqr-join", "parts": shuffled})
			}
		}
	}
	var answers []struct {
		Parts          []string
		Version        int
		Encoding       string
		FileType, Data string
	}
	peer.Call(t, map[string]any{"op": "batch", "requests": reqs}, &answers)
	if len(answers) != 2*len(cases) {
		t.Fatalf("%d answers for %d requests", len(answers), 2*len(cases))
	}
	for i, c := range cases {
		theirs, joined := answers[2*i], answers[2*i+1]
		if c.enc != EncodingZlib || c.ours[0][2] != EncodingZlib {
			if !slices.Equal(c.ours, theirs.Parts) || c.v != theirs.Version {
				t.Fatalf("%s %c v<=%d: our %d parts (v%d) differ from bbqr's %d (v%d)", c.name, c.enc, c.maxV, len(c.ours), c.v, len(theirs.Parts), theirs.Version)
			}
		} else if theirs.Encoding != "Z" {
			t.Fatalf("%s: we compressed, bbqr fell back to %s", c.name, theirs.Encoding)
		}
		// Theirs -> our Joiner, shuffled.
		shuffled := slices.Clone(theirs.Parts)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		typ, data, err := Join(shuffled)
		if err != nil || typ != c.typ || !bytes.Equal(data, c.data) {
			t.Fatalf("%s %c: joining bbqr's parts: %v", c.name, c.enc, err)
		}
		// Ours -> their joinQRs.
		if joined.FileType != string(c.typ) || joined.Data != hex.EncodeToString(c.data) || joined.Encoding != string(c.ours[0][2]) {
			t.Fatalf("%s %c: bbqr joined our parts as %s/%s, %d hex chars", c.name, c.enc, joined.FileType, joined.Encoding, len(joined.Data))
		}
		if c.enc == EncodingZlib && c.maxV == 40 {
			t.Logf("%s Z: ours %d parts / %d chars, bbqr %d parts / %d chars", c.name, len(c.ours), totalLen(c.ours), len(theirs.Parts), totalLen(theirs.Parts))
		}
	}
}

func totalLen(parts []string) int {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	return n
}
