package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"testing"

	emu "github.com/countersign/countersign/hw/emulator/ledger"
	"github.com/countersign/countersign/hw/transport"
	"github.com/countersign/countersign/internal/fuzzseed"
)

// TestFuzzCorpus derives the seed corpora of this package's fuzz targets
// (see internal/fuzzseed). Deterministic: client commands against
// FuzzInterpreter's fixed state, GET_VERSION replies of the apps a Ledger
// runs. Recorded: a whole session with the emulator (open, xpub, register,
// address, sign) as a replay stream, its responses HID-framed, the client
// commands the app sent and the signatures it yielded.
func TestFuzzCorpus(t *testing.T) {
	interp := fuzzseed.New("FuzzInterpreter")
	elems := [][]byte{{1}, {2}, {3}}
	l := newMerkleList(elems)
	big := bytes.Repeat([]byte{7}, 400)
	bigHash := sha256.Sum256(big)
	for i := range elems {
		leaf := l.tree.leaf(i)
		interp.Add("get_preimage_leaf", append([]byte{ccGetPreimage, 0}, leaf[:]...))
		interp.Add("get_leaf_proof", append(append([]byte{ccGetMerkleLeafProof}, l.tree.root[:]...), 3, byte(i)))
		interp.Add("get_leaf_index", append(append([]byte{ccGetMerkleLeafIndex}, l.tree.root[:]...), leaf[:]...))
	}
	interp.Add("get_preimage_long", append([]byte{ccGetPreimage, 0}, bigHash[:]...))
	interp.Add("get_more_elements", []byte{ccGetMoreElements})
	interp.Add("yield", []byte{ccYield, 0, 33})
	interp.Add("proof_out_of_range", append(append([]byte{ccGetMerkleLeafProof}, l.tree.root[:]...), 3, 3))
	interp.Add("unknown_command", []byte{0x77})
	interp.Add("empty", []byte{})

	version := fuzzseed.New("FuzzAppVersion")
	for _, v := range []struct{ name, version, flags string }{
		{"Bitcoin Test", "2.1.3", "\x02"},
		{"Bitcoin", "2.2.4", "\x02"},
		{"BOLOS", "2.2.3", ""},
		{"Bitcoin Legacy", "2.1.0", "\x02"},
		{"Ethereum", "1.10.0", "\x02"},
		{"Bitcoin", "2.1.0-rc1", "\x02"},
	} {
		b := append([]byte{1, byte(len(v.name))}, v.name...)
		b = append(append(b, byte(len(v.version))), v.version...)
		if v.flags != "" {
			b = append(append(b, byte(len(v.flags))), v.flags...)
		}
		version.Add(v.name+"_"+v.version, b)
	}
	version.Add("format_2", []byte{2})
	version.Add("truncated", []byte("\x01\x0cBi"))
	yield := fuzzseed.New("FuzzParseYield")
	sig := []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x01}
	key := append([]byte{0x02}, bytes.Repeat([]byte{0x11}, 32)...)
	yield.Add("input_3", append(append([]byte{3, 33}, key...), sig...))
	yield.Add("input_out_of_range", append(append([]byte{4, 33}, key...), sig...))
	yield.Add("musig_tag", append(append([]byte{0xfd, 0xff, 0xff, 33}, key...), sig...))
	yield.Add("xonly_key", append(append([]byte{0, 32}, key[1:]...), sig...))
	yield.Add("key_beyond_end", []byte{0, 33, 2})
	yield.Add("long_signature", append(append([]byte{0, 33}, key...), bytes.Repeat([]byte{0x30}, 80)...))
	// Taproot and MuSig2 (doc/bitcoin.md, SIGN_PSBT).
	schnorrSig := bytes.Repeat([]byte{0x22}, 64)
	leaf := bytes.Repeat([]byte{0x33}, 32)
	yield.Add("tap_key_path", append(append([]byte{1, 32}, key[1:]...), schnorrSig...))
	yield.Add("tap_script_path", append(append(append([]byte{2, 64}, key[1:]...), leaf...), schnorrSig...))
	yield.Add("tap_script_path_sighash_all", append(append(append(append([]byte{2, 64}, key[1:]...), leaf...), schnorrSig...), 0x01))
	musig := func(tag byte, n int, withLeaf bool) []byte {
		b := append([]byte{0xfe, tag, 0xff, 0xff, 0xff, 1}, bytes.Repeat([]byte{0x44}, n)...)
		b = append(append(b, key...), key...)
		if withLeaf {
			b = append(b, leaf...)
		}
		return b
	}
	yield.Add("musig_pubnonce", musig(0xff, 66, false))
	yield.Add("musig_partial_sig", musig(0xfe, 32, false))
	yield.Add("musig_pubnonce_leaf", musig(0xff, 66, true))
	fuzzseed.Check(t, interp, version, yield)

	var rec *recordingLink
	session := func() *recordingLink {
		if rec == nil {
			rec = recordSession(t)
		}
		return rec
	}
	fuzzseed.Record(t, "FuzzSession", "session", func() [][]any {
		r := session()
		var full, open []byte
		for i, x := range r.exchanges {
			full = appendResponse(full, x.data, x.sw)
			if i < 2 {
				open = appendResponse(open, x.data, x.sw)
			}
		}
		return [][]any{{full}, {open}}
	})
	fuzzseed.RecordAt(t, "../transport", "FuzzStream", "ledger_session", func() [][]any {
		// The session's responses as a Speculos socket sends them: the
		// whole stream, and the first few responses on their own.
		var all [][]byte
		for _, x := range session().exchanges {
			b := binary.BigEndian.AppendUint32(nil, uint32(len(x.data)))
			all = append(all, binary.BigEndian.AppendUint16(append(b, x.data...), x.sw))
		}
		out := [][]any{{bytes.Join(all, nil), true}}
		for _, b := range all[:min(4, len(all))] {
			out = append(out, []any{b, true})
		}
		return out
	})
	fuzzseed.Record(t, "FuzzHIDReassembler", "session", func() [][]any {
		var out [][]any
		perLen := map[int]int{} // a few responses of each report count
		for _, x := range session().exchanges {
			fs, err := hidFrames(append(append([]byte(nil), x.data...), byte(x.sw>>8), byte(x.sw)))
			if err != nil {
				t.Fatal(err)
			}
			if perLen[len(fs)]++; perLen[len(fs)] <= 3 {
				out = append(out, []any{bytes.Join(fs, nil)})
			}
		}
		return out
	})
	fuzzseed.Record(t, "FuzzInterpreter", "session", func() [][]any {
		var out [][]any
		perCode := map[byte]int{} // a few commands of each kind
		for _, x := range session().exchanges {
			if x.sw == swInterrupted && len(x.data) > 0 {
				if perCode[x.data[0]]++; perCode[x.data[0]] <= 4 {
					out = append(out, []any{x.data})
				}
			}
		}
		return out
	})
	fuzzseed.Record(t, "FuzzParseYield", "rounds", func() [][]any {
		// Both MuSig2 rounds of the default taproot wallet (app 2.4.1):
		// public nonces, leaf signatures, partial signatures.
		var rec *recordingLink
		f := newMuSigFixtureOn(t, func(l Link) Link { rec = &recordingLink{Link: l}; return rec })
		f.bothRounds(t)
		var out [][]any
		kinds := map[yieldKind]int{}
		for _, x := range rec.exchanges {
			if x.sw == swInterrupted && len(x.data) > 0 && x.data[0] == ccYield {
				ps, err := parseYield(x.data[1:], 2)
				if err != nil {
					t.Fatalf("recorded yield %x: %v", x.data[1:], err)
				}
				kinds[ps.kind]++
				out = append(out, []any{x.data[1:]})
			}
		}
		if kinds[yieldMuSigNonce] != 2 || kinds[yieldMuSigSig] != 2 || kinds[yieldTapLeaf] == 0 {
			t.Fatalf("recorded yields by kind: %v", kinds)
		}
		return out
	})
	fuzzseed.Record(t, "FuzzParseYield", "session", func() [][]any {
		var out [][]any
		for _, x := range session().exchanges {
			if x.sw == swInterrupted && len(x.data) > 0 && x.data[0] == ccYield {
				if _, err := parseYield(x.data[1:], len(newSessionFixture(t).p.Inputs)); err != nil {
					t.Fatalf("recorded yield %x: %v", x.data[1:], err)
				}
				out = append(out, []any{x.data[1:]})
			}
		}
		return out
	})
}

// exchange is one recorded APDU and the device's response.
type exchange struct {
	apdu, data []byte
	sw         uint16
}

// recordingLink keeps every exchange of the Link it wraps.
type recordingLink struct {
	Link
	mu        sync.Mutex
	exchanges []exchange
}

func (r *recordingLink) Exchange(ctx context.Context, apdu []byte) ([]byte, uint16, error) {
	data, sw, err := r.Link.Exchange(ctx, apdu)
	if err == nil {
		r.mu.Lock()
		r.exchanges = append(r.exchanges, exchange{apdu: append([]byte(nil), apdu...), data: append([]byte(nil), data...), sw: sw})
		r.mu.Unlock()
	}
	return data, sw, err
}

// recordSession runs runSession against the emulator on its Speculos port
// and checks that it went through.
func recordSession(t *testing.T) *recordingLink {
	t.Helper()
	_, addr := startEmulator(t, emu.Config{HMACKey: testHMACKey})
	s, err := transport.DialTCP(context.Background(), addr, SpeculosOptions)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingLink{Link: SpeculosLink(s)}
	fx := newSessionFixture(t)
	r := runSession(context.Background(), rec, fx)
	if len(r.errs) > 0 || r.sign == nil || r.sign.Added != 2 || r.addr != fx.addr || !bytes.Equal(r.token, fx.token) {
		t.Fatalf("recorded session did not go through: %v", r.errs)
	}
	return rec
}
