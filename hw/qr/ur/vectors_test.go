package ur

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"slices"
	"testing"
)

type bcurVectors struct {
	CRC32  []struct{ Input, Hex string } `json:"crc32"`
	CRC32b struct {
		MessageHex string `json:"message_hex"`
		Hex        string
	} `json:"crc32_2"`
	Bytewords1 struct {
		Input                  []byte
		Standard, URI, Minimal string
		Bad                    [][2]string
	} `json:"bytewords1"`
	Bytewords2 struct {
		Input             []int
		Standard, Minimal string
	} `json:"bytewords2"`
	RNG1, RNG2, RNG3   []uint64
	FindFragmentLength [][4]int `json:"find_fragment_length"`
	RandomSampler      struct {
		Probs   []float64
		Samples []int
	} `json:"random_sampler"`
	ShuffleCpp     [][]int  `json:"shuffle_cpp"`
	ShuffleSwift   [][]int  `json:"shuffle_swift"`
	Partition      []string `json:"partition"`
	DegreesCpp     []int    `json:"degrees_cpp"`
	DegreesSwift   []int    `json:"degrees_swift"`
	FragmentsCpp   [][]int  `json:"fragments_cpp"`
	FragmentsSwift [][]int  `json:"fragments_swift"`
	XOR            []string `json:"xor"`
	FountainParts  []string `json:"fountain_parts"`
	FountainCBOR   []string `json:"fountain_cbor"`
	SinglePartUR   string   `json:"single_part_ur"`
	UREncoder      []string `json:"ur_encoder"`
	PartCBOR       struct {
		SeqNum     uint32 `json:"seqNum"`
		SeqLen     uint64 `json:"seqLen"`
		MessageLen uint64 `json:"messageLen"`
		Checksum   uint32
		Data, Hex  string
	} `json:"part_cbor"`
}

func loadVectors(t *testing.T) *bcurVectors {
	t.Helper()
	b, err := os.ReadFile("testdata/bc-ur-vectors.json")
	if err != nil {
		t.Fatalf("vectors missing (see testdata/README.md): %v", err)
	}
	var v bcurVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.RNG1) != 100 || len(v.UREncoder) != 20 || len(v.DegreesSwift) != 1000 || len(v.FragmentsSwift) != 50 {
		t.Fatalf("vector file is incomplete")
	}
	return &v
}

// makeMessage is the references' test message: Xoshiro256** bytes seeded
// with SHA-256(seed).
func makeMessage(n int, seed string) []byte {
	return newXoshiro([]byte(seed)).nextData(n)
}

// makeMessageCBOR wraps the message as a CBOR byte string (the reference's
// make_message_ur).
func makeMessageCBOR(t testing.TB, n int) []byte {
	b, err := encMode.Marshal(makeMessage(n, "Wolf"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCRC32Vectors(t *testing.T) {
	v := loadVectors(t)
	for _, c := range v.CRC32 {
		if got := fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(c.Input))); got != c.Hex {
			t.Errorf("%q: %s want %s", c.Input, got, c.Hex)
		}
	}
	msg, _ := hex.DecodeString(v.CRC32b.MessageHex)
	if !bytes.Equal(msg, makeMessage(1024, "Wolf")) {
		t.Fatalf("makeMessage(1024) differs from the vector's message")
	}
	if got := fmt.Sprintf("%08x", crc32.ChecksumIEEE(msg)); got != v.CRC32b.Hex {
		t.Errorf("got %s want %s", got, v.CRC32b.Hex)
	}
}

func TestBytewordsVectors(t *testing.T) {
	v := loadVectors(t)
	b1 := v.Bytewords1
	for style, want := range map[Style]string{Standard: b1.Standard, URI: b1.URI, Minimal: b1.Minimal} {
		if got := EncodeBytewords(style, b1.Input); got != want {
			t.Errorf("style %d: %s want %s", style, got, want)
		}
		if got, err := DecodeBytewords(style, want); err != nil || !bytes.Equal(got, b1.Input) {
			t.Errorf("style %d decode: %v %v", style, got, err)
		}
	}
	styles := map[string]Style{"standard": Standard, "uri": URI, "minimal": Minimal}
	for _, bad := range b1.Bad {
		if _, err := DecodeBytewords(styles[bad[0]], bad[1]); err == nil {
			t.Errorf("%s %q accepted", bad[0], bad[1])
		}
	}
	in := make([]byte, len(v.Bytewords2.Input))
	for i, x := range v.Bytewords2.Input {
		in[i] = byte(x)
	}
	if got := EncodeBytewords(Standard, in); got != v.Bytewords2.Standard {
		t.Errorf("standard: %s", got)
	}
	if got := EncodeBytewords(Minimal, in); got != v.Bytewords2.Minimal {
		t.Errorf("minimal: %s", got)
	}
	for style, s := range map[Style]string{Standard: v.Bytewords2.Standard, Minimal: v.Bytewords2.Minimal} {
		if got, err := DecodeBytewords(style, s); err != nil || !bytes.Equal(got, in) {
			t.Errorf("decode style %d: %v", style, err)
		}
	}
	// Upper case (as in QR codes) decodes too.
	if got, err := DecodeBytewords(Minimal, "AEADAOLAZMJENDEOTI"); err != nil || !bytes.Equal(got, b1.Input) {
		t.Errorf("upper case: %v", err)
	}
}

func TestXoshiroVectors(t *testing.T) {
	v := loadVectors(t)
	x := newXoshiro([]byte("Wolf"))
	for i, want := range v.RNG1 {
		if got := x.next() % 100; got != want {
			t.Fatalf("rng1[%d] = %d want %d", i, got, want)
		}
	}
	var seed [4]byte
	sum := crc32.ChecksumIEEE([]byte("Wolf"))
	seed[0], seed[1], seed[2], seed[3] = byte(sum>>24), byte(sum>>16), byte(sum>>8), byte(sum)
	x = newXoshiro(seed[:])
	for i, want := range v.RNG2 {
		if got := x.next() % 100; got != want {
			t.Fatalf("rng2[%d] = %d want %d", i, got, want)
		}
	}
	x = newXoshiro([]byte("Wolf"))
	for i, want := range v.RNG3 {
		if got := x.nextInt(1, 10); uint64(got) != want {
			t.Fatalf("rng3[%d] = %d want %d", i, got, want)
		}
	}
	x = newXoshiro([]byte("Wolf"))
	d1, d2 := x.nextData(10), x.nextData(10)
	if hex.EncodeToString(d1) != v.XOR[0] || hex.EncodeToString(d2) != v.XOR[1] {
		t.Fatalf("xor data %x %x", d1, d2)
	}
	d3 := slices.Clone(d1)
	xorInto(d3, d2)
	if hex.EncodeToString(d3) != v.XOR[2] {
		t.Fatalf("xor %x", d3)
	}
	xorInto(d3, d1)
	if !bytes.Equal(d3, d2) {
		t.Fatal("xor is not involutive")
	}
}

func TestSamplerShuffleVectors(t *testing.T) {
	v := loadVectors(t)
	s := newRandomSampler(v.RandomSampler.Probs)
	x := newXoshiro([]byte("Wolf"))
	for i, want := range v.RandomSampler.Samples {
		if got := s.next(x); got != want {
			t.Fatalf("sample %d = %d want %d", i, got, want)
		}
	}
	values := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	x = newXoshiro([]byte("Wolf"))
	for i, want := range v.ShuffleCpp {
		if got := shuffled(values, x, len(values)); !slices.Equal(got, want) {
			t.Fatalf("C++ shuffle %d: %v want %v", i, got, want)
		}
	}
	for i, want := range v.ShuffleSwift {
		if got := shuffled(values, newXoshiro([]byte("Wolf")), i+1); !slices.Equal(got, want) {
			t.Fatalf("Swift shuffle %d: %v want %v", i, got, want)
		}
	}
}

func TestFragmentVectors(t *testing.T) {
	v := loadVectors(t)
	for _, c := range v.FindFragmentLength {
		if got := nominalFragmentLen(c[0], c[1], c[2]); got != c[3] {
			t.Errorf("nominalFragmentLen%v = %d", c[:3], got)
		}
	}
	msg := makeMessage(1024, "Wolf")
	fl := nominalFragmentLen(len(msg), 10, 100)
	frags := partition(msg, fl)
	if len(frags) != len(v.Partition) {
		t.Fatalf("%d fragments want %d", len(frags), len(v.Partition))
	}
	for i, f := range frags {
		if hex.EncodeToString(f) != v.Partition[i] {
			t.Fatalf("fragment %d differs", i)
		}
	}
	// C++: a fresh sampler and an rng seeded "Wolf-<nonce>" per degree.
	for n, want := range v.DegreesCpp {
		c := newFragmentChooser(len(frags), 0)
		if got := c.degrees.next(newXoshiro(fmt.Appendf(nil, "Wolf-%d", n+1))) + 1; got != want {
			t.Fatalf("C++ degree %d = %d want %d", n+1, got, want)
		}
	}
	// Swift: one rng seeded "Wolf" for 1000 degrees.
	c := newFragmentChooser(len(frags), crc32.ChecksumIEEE(msg))
	x := newXoshiro([]byte("Wolf"))
	for n, want := range v.DegreesSwift {
		if got := c.degrees.next(x) + 1; got != want {
			t.Fatalf("Swift degree %d = %d want %d", n, got, want)
		}
	}
	for _, set := range [][][]int{v.FragmentsCpp, v.FragmentsSwift} {
		for i, want := range set {
			got := c.choose(uint32(i + 1))
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("fragments of part %d: %v want %v", i+1, got, want)
			}
		}
	}
}

func TestFountainEncoderVectors(t *testing.T) {
	v := loadVectors(t)
	e, err := newFountainEncoder(makeMessage(256, "Wolf"), 30, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range v.FountainParts {
		p := e.nextPart()
		desc := fmt.Sprintf("seqNum:%d, seqLen:%d, messageLen:%d, checksum:%d, data:%x", p.SeqNum, p.SeqLen, p.MessageLen, p.Checksum, p.Data)
		if desc != v.FountainParts[i] {
			t.Fatalf("part %d:\n got %s\nwant %s", i+1, desc, v.FountainParts[i])
		}
		if got := hex.EncodeToString(p.cbor()); got != v.FountainCBOR[i] {
			t.Fatalf("part %d cbor %s", i+1, got)
		}
		q, err := decodeFountainPart(p.cbor())
		if err != nil || !bytes.Equal(q.cbor(), p.cbor()) {
			t.Fatalf("part %d does not round-trip: %v", i+1, err)
		}
	}
	pc := v.PartCBOR
	data, _ := hex.DecodeString(pc.Data)
	p := fountainPart{SeqNum: pc.SeqNum, SeqLen: pc.SeqLen, MessageLen: pc.MessageLen, Checksum: pc.Checksum, Data: data}
	if got := hex.EncodeToString(p.cbor()); got != pc.Hex {
		t.Fatalf("part cbor %s want %s", got, pc.Hex)
	}
}

func TestURVectors(t *testing.T) {
	v := loadVectors(t)
	single, err := Encode(UR{Type: "bytes", CBOR: makeMessageCBOR(t, 50)})
	if err != nil || single != v.SinglePartUR {
		t.Fatalf("single part %s: %v", single, err)
	}
	u, err := Decode(v.SinglePartUR)
	if err != nil || u.Type != "bytes" || !bytes.Equal(u.CBOR, makeMessageCBOR(t, 50)) {
		t.Fatalf("decode single: %v", err)
	}
	e, err := NewEncoder("bytes", makeMessageCBOR(t, 256), 30, 10)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range v.UREncoder {
		if got := e.NextPart(); got != want {
			t.Fatalf("part %d:\n got %s\nwant %s", i+1, got, want)
		}
	}
}

// TestMultipartDecoderReference is the references' decoder test: a 32767
// byte message in 1000-byte fragments starting at seqNum 100 (all
// fountain parts) decodes.
func TestMultipartDecoderReference(t *testing.T) {
	msg := makeMessageCBOR(t, 32767)
	e, err := NewEncoder("bytes", msg, 1000, 10)
	if err != nil {
		t.Fatal(err)
	}
	e.f.seqNum = 100
	var d Decoder
	n := 0
	for !d.IsComplete() {
		if _, err := d.Receive(e.NextPart()); err != nil {
			t.Fatal(err)
		}
		if n++; n > 1000 {
			t.Fatal("no convergence")
		}
	}
	u, err := d.Result()
	if err != nil || u.Type != "bytes" || !bytes.Equal(u.CBOR, msg) {
		t.Fatalf("result: %v", err)
	}
	t.Logf("%d fountain parts for %d fragments", n, e.SeqLen())
}
