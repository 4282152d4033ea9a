package ledger

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"github.com/countersign/countersign/hw/transport"
)

// rfcPath is RFC 6962's PATH(m, D[n]) over leaf hashes: the audit path
// from leaf m up, computed recursively, independently of merkleTree.
func rfcPath(m int, d [][32]byte) [][32]byte {
	if len(d) <= 1 {
		return nil
	}
	k := 1
	for k*2 < len(d) {
		k *= 2
	}
	if m < k {
		return append(rfcPath(m, d[:k]), rfcRoot(d[k:]))
	}
	return append(rfcPath(m-k, d[k:]), rfcRoot(d[:k]))
}

func rfcRoot(d [][32]byte) [32]byte {
	switch len(d) {
	case 0:
		return [32]byte{}
	case 1:
		return d[0]
	}
	k := 1
	for k*2 < len(d) {
		k *= 2
	}
	return nodeHash(rfcRoot(d[:k]), rfcRoot(d[k:]))
}

func sha(parts ...[]byte) [32]byte {
	return sha256.Sum256(bytes.Join(parts, nil))
}

func TestMerkleVectors(t *testing.T) {
	el := func(i int) []byte { return []byte(fmt.Sprintf("element %d", i)) }
	l := func(i int) [32]byte { return sha([]byte{0}, el(i)) }
	n := func(a, b [32]byte) [32]byte { return sha([]byte{1}, a[:], b[:]) }
	list := func(k int) *merkleList {
		var es [][]byte
		for i := 0; i < k; i++ {
			es = append(es, el(i))
		}
		return newMerkleList(es)
	}
	for name, c := range map[string]struct {
		got, want [32]byte
	}{
		"empty":    {list(0).tree.root, [32]byte{}},
		"one":      {list(1).tree.root, l(0)},
		"two":      {list(2).tree.root, n(l(0), l(1))},
		"three":    {list(3).tree.root, n(n(l(0), l(1)), l(2))},
		"five":     {list(5).tree.root, n(n(n(l(0), l(1)), n(l(2), l(3))), l(4))},
		"leafHash": {leafHash(el(7)), l(7)},
	} {
		if c.got != c.want {
			t.Errorf("%s: %x, want %x", name, c.got, c.want)
		}
	}
	for size := 1; size <= 70; size++ {
		ml := list(size)
		leaves := make([][32]byte, size)
		for i := range leaves {
			leaves[i] = l(i)
		}
		if ml.tree.root != rfcRoot(leaves) {
			t.Fatalf("size %d: root differs from RFC 6962", size)
		}
		for i := 0; i < size; i++ {
			got, want := ml.tree.proof(i), rfcPath(i, leaves)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("size %d leaf %d: proof %x, want %x", size, i, got, want)
			}
			if j := ml.tree.index[l(i)]; j != i {
				t.Fatalf("size %d: index of leaf %d is %d", size, i, j)
			}
		}
	}
}

func TestMerkleMapSortsAndRejectsDuplicates(t *testing.T) {
	m, err := newMerkleMap([]kv{{[]byte{0x06, 1}, []byte("b")}, {[]byte{0x01}, []byte("a")}, {[]byte{0x06}, []byte("c")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%x", m.keys.elements); got != "[01 06 0601]" {
		t.Errorf("keys in order %s", got)
	}
	if got := fmt.Sprintf("%s", m.values.elements); got != "[a c b]" {
		t.Errorf("values in key order %s", got)
	}
	c := m.commitment().bytes()
	if len(c) != 65 || c[0] != 3 {
		t.Errorf("commitment %x", c)
	}
	if _, err := newMerkleMap([]kv{{[]byte{1}, nil}, {[]byte{1}, []byte{2}}}); err == nil {
		t.Error("accepted a duplicate key")
	}
}

func TestInterpreter(t *testing.T) {
	it := newInterpreter()
	long := bytes.Repeat([]byte("0123456789"), 60) // 600 bytes
	it.addPreimage(long)
	var es [][]byte
	for i := 0; i < 300; i++ {
		es = append(es, []byte{byte(i), byte(i >> 8)})
	}
	ml := newMerkleList(es)
	it.addList(ml)

	// A long preimage: as much as fits, the rest as 1-byte elements.
	h := sha256.Sum256(long)
	resp, err := it.execute(append([]byte{ccGetPreimage, 0}, h[:]...))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp) != 255 || !bytes.Equal(resp[:4], []byte{0xfd, 0x58, 0x02, 251}) {
		t.Fatalf("preimage response %x", resp[:8])
	}
	got := append([]byte(nil), resp[4:]...)
	for it.queue.count() > 0 {
		more, err := it.execute([]byte{ccGetMoreElements})
		if err != nil {
			t.Fatal(err)
		}
		if more[1] != 1 || len(more) != 2+int(more[0]) || len(more) > 255 {
			t.Fatalf("more elements %x", more[:2])
		}
		got = append(got, more[2:]...)
	}
	if !bytes.Equal(got, long) {
		t.Fatal("preimage reassembled wrong")
	}
	if _, err := it.execute([]byte{ccGetMoreElements}); err == nil {
		t.Error("GET_MORE_ELEMENTS on an empty queue")
	}

	// A deep proof: 6 hashes in the response, the rest queued.
	req := append([]byte{ccGetMerkleLeafProof}, ml.tree.root[:]...)
	req = append(req, 0xfd, 0x2c, 0x01, 0x00) // size 300, index 0: 9 levels deep
	resp, err = it.execute(req)
	if err != nil {
		t.Fatal(err)
	}
	proof := ml.tree.proof(0)
	if len(proof) != 9 {
		t.Fatalf("proof of %d hashes", len(proof))
	}
	if resp[32] != byte(len(proof)) || resp[33] != byte(min(6, len(proof))) {
		t.Fatalf("proof header %x (proof of %d)", resp[32:34], len(proof))
	}
	if _, err := it.execute(req); err == nil {
		t.Error("a second proof while the first one's tail is queued")
	}
	more, err := it.execute([]byte{ccGetMoreElements})
	if err != nil {
		t.Fatal(err)
	}
	all := append(resp[34:], more[2:]...)
	for i, p := range proof {
		if !bytes.Equal(all[32*i:32*i+32], p[:]) {
			t.Fatalf("proof element %d", i)
		}
	}
	leaf := leafHash(es[17])
	if resp, _ := it.execute(append(append([]byte{ccGetMerkleLeafIndex}, ml.tree.root[:]...), leaf[:]...)); !bytes.Equal(resp, []byte{1, 17}) {
		t.Errorf("leaf index %x", resp)
	}
	var nope [32]byte
	if resp, _ := it.execute(append(append([]byte{ccGetMerkleLeafIndex}, ml.tree.root[:]...), nope[:]...)); !bytes.Equal(resp, []byte{0, 0}) {
		t.Errorf("missing leaf %x", resp)
	}
	// List elements come back with the 0x00 leaf prefix.
	resp, err = it.execute(append([]byte{ccGetPreimage, 0}, leaf[:]...))
	if err != nil || !bytes.Equal(resp, []byte{3, 3, 0, 17, 0}) {
		t.Errorf("element preimage %x %v", resp, err)
	}
	if _, err := it.execute(append([]byte{ccGetPreimage, 0}, nope[:]...)); !errors.Is(err, errUnanswerable) {
		t.Errorf("unknown preimage: %v", err)
	}
	if _, err := it.execute(append(append([]byte{ccGetMerkleLeafProof}, nope[:]...), 1, 0)); !errors.Is(err, errUnanswerable) {
		t.Errorf("unknown tree: %v", err)
	}
	for _, bad := range [][]byte{{}, {0x77}, {ccGetPreimage, 1}, {ccGetMerkleLeafIndex, 1, 2}, {ccGetMoreElements, 0}} {
		if _, err := it.execute(bad); err == nil {
			t.Errorf("accepted %x", bad)
		}
	}
	if _, err := it.execute([]byte{ccYield, 1, 2, 3}); err != nil || len(it.yields) != 1 || !bytes.Equal(it.yields[0], []byte{1, 2, 3}) {
		t.Errorf("yield: %v %x", err, it.yields)
	}
}

func FuzzInterpreter(f *testing.F) {
	f.Add([]byte{ccGetPreimage, 0})
	f.Add([]byte{ccGetMerkleLeafProof, 1, 2})
	f.Add([]byte{ccGetMoreElements})
	f.Add([]byte{ccYield, 0, 33})
	it := newInterpreter()
	it.addList(newMerkleList([][]byte{{1}, {2}, {3}}))
	it.addPreimage(bytes.Repeat([]byte{7}, 400))
	f.Fuzz(func(t *testing.T, req []byte) {
		resp, err := it.execute(req)
		if err == nil && len(resp) > maxResponse {
			t.Fatalf("response of %d bytes", len(resp))
		}
		it.yields = nil
	})
}

// FuzzParseYield: a yield parses into one of the kinds with the lengths
// that kind has, or is refused; never a panic. Seeds: ECDSA, taproot key
// path, taproot script path, MuSig2 nonce and partial signature; and
// testdata/fuzz/FuzzParseYield: synthetic seeds and the yields of recorded
// sessions (rounds_*: both MuSig2 rounds of the default taproot wallet).
func FuzzParseYield(f *testing.F) {
	f.Add([]byte{0, 33})
	f.Add(append(append([]byte{1, 33}, bytes.Repeat([]byte{2}, 33)...), bytes.Repeat([]byte{3}, 71)...))
	f.Add(append(append([]byte{1, 32}, bytes.Repeat([]byte{2}, 32)...), bytes.Repeat([]byte{3}, 64)...))
	f.Add(append(append([]byte{2, 64}, bytes.Repeat([]byte{2}, 64)...), bytes.Repeat([]byte{3}, 64)...))
	f.Add(append([]byte{0xfe, 0xff, 0xff, 0xff, 0xff, 1}, bytes.Repeat([]byte{4}, 66+33+33)...))
	f.Add(append([]byte{0xfe, 0xfe, 0xff, 0xff, 0xff, 3}, bytes.Repeat([]byte{5}, 32+33+33+32)...))
	f.Fuzz(func(t *testing.T, y []byte) {
		ps, err := parseYield(y, 4)
		if err != nil {
			return
		}
		ok := ps.input < 4
		switch ps.kind {
		case yieldECDSA:
			ok = ok && len(ps.pubKey) == 33 && len(ps.sig) >= 9 && len(ps.sig) <= 73 && ps.leafHash == nil
		case yieldTapKey:
			ok = ok && len(ps.pubKey) == 32 && (len(ps.sig) == 64 || len(ps.sig) == 65) && ps.leafHash == nil
		case yieldTapLeaf:
			ok = ok && len(ps.pubKey) == 32 && (len(ps.sig) == 64 || len(ps.sig) == 65) && len(ps.leafHash) == 32
		case yieldMuSigNonce, yieldMuSigSig:
			size := map[yieldKind]int{yieldMuSigNonce: 66, yieldMuSigSig: 32}[ps.kind]
			ok = ok && len(ps.sig) == size && len(ps.pubKey) == 33 && len(ps.agg) == 33 && (ps.leafHash == nil || len(ps.leafHash) == 32)
		default:
			ok = false
		}
		if !ok {
			t.Fatalf("accepted %x as %+v", y, ps)
		}
	})
}

// FuzzHIDReassembler feeds a stream of HID reports (the input cut into
// 64-byte pieces) to the reassembler: no panic, no message above the
// limit, and a completed message framed again reassembles to itself.
// Seeds: testdata/fuzz/FuzzHIDReassembler (the responses of a recorded
// emulator session, framed as a device frames them).
func FuzzHIDReassembler(f *testing.F) {
	frames, _ := hidFrames(make([]byte, 100))
	f.Add(bytes.Join(frames, nil))
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := newHIDReassembler()
		for off := 0; off < len(stream); off += transport.ReportSize {
			msg, done, err := r.add(stream[off:min(off+transport.ReportSize, len(stream))])
			if err != nil {
				return
			}
			if !done {
				continue
			}
			if len(msg) > maxMessage {
				t.Fatalf("message of %d bytes", len(msg))
			}
			again := newHIDReassembler()
			fs, err := hidFrames(msg)
			if err != nil {
				t.Fatal(err)
			}
			for _, fr := range fs {
				if out, done, err := again.add(fr); err != nil || done && !bytes.Equal(out, msg) {
					t.Fatalf("reframed %x: %x, %v", msg, out, err)
				}
			}
			r = newHIDReassembler()
		}
	})
}
