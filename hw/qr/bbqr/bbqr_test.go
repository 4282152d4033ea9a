package bbqr

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// coinkiteFiles are the reference implementation's test files with the
// sizes BBQr.md's compression table gives for zlib at wbits=10, level 9.
var coinkiteFiles = []struct {
	name       string
	size, zlib int
}{
	{"1in1000out.psbt", 35644, 22095},
	{"1in100out.psbt", 4142, 2654},
	{"1in10out.psbt", 992, 670},
	{"1in20out.psbt", 1342, 897},
	{"1in2out.psbt", 675, 458},
	{"devils-txn.txn", 666, 356},
	{"finalized-by-ckcc.txn", 1932, 807},
	{"last.txn", 553, 530},
	{"nfc-result.txn", 376, 362},
	{"signed.txn", 100757, 77090},
}

func readVector(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "coinkite", name))
	if err != nil {
		t.Fatalf("vector missing (copy it from github.com/coinkite/BBQr test_data): %v", err)
	}
	return b
}

// TestRealScan joins the parts a real device showed (reference test
// test_real_scan), in the file's order, which is not the part order.
func TestRealScan(t *testing.T) {
	var lines []string
	for _, l := range strings.Split(string(readVector(t, "real-scan.txt")), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) < 2 {
		t.Fatalf("real-scan.txt has %d parts", len(lines))
	}
	if h, _ := ParseHeader(lines[0]); h.Index == 0 {
		t.Fatalf("expected the scan to start with a part other than the first")
	}
	typ, data, err := Join(lines)
	if err != nil {
		t.Fatal(err)
	}
	if typ != FileTypeUnicode {
		t.Fatalf("file type %c, want U", typ)
	}
	for _, want := range []string{"Zlib compressed", "PSBT"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("joined text lacks %q", want)
		}
	}
	// Re-split what we joined and join again: our Z round trip on real text.
	parts, _, err := Split(data, FileTypeUnicode, SplitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if parts[0][2] != EncodingZlib {
		t.Fatalf("text re-split with encoding %c, want Z", parts[0][2])
	}
	if _, again, err := Join(parts); err != nil || !bytes.Equal(again, data) {
		t.Fatalf("re-split text does not join back: %v", err)
	}
}

// TestDeflateWindow compresses the reference files and checks that every
// back-reference stays inside the 1 KiB window, that Go's inflater restores
// the input, and that the size is close to zlib's (BBQr.md's table).
func TestDeflateWindow(t *testing.T) {
	for _, f := range coinkiteFiles {
		raw := readVector(t, f.name)
		if len(raw) != f.size {
			t.Fatalf("%s: %d bytes, want %d", f.name, len(raw), f.size)
		}
		c := compressor{data: raw}
		c.run()
		z := c.w.out
		out, err := io.ReadAll(flate.NewReader(bytes.NewReader(z)))
		if err != nil || !bytes.Equal(out, raw) {
			t.Fatalf("%s: inflate: %v", f.name, err)
		}
		if maxDist := maxDistance(t, z); maxDist > windowSize {
			t.Fatalf("%s: back-reference distance %d exceeds the %d-byte window", f.name, maxDist, windowSize)
		}
		// Allow 3% over zlib level 9; we measured (go test -v) within 1%.
		if len(z) > f.zlib*103/100 {
			t.Errorf("%s: %d compressed bytes, zlib wbits=10 gives %d", f.name, len(z), f.zlib)
		}
		t.Logf("%s: %d -> %d bytes (zlib wbits=10: %d)", f.name, len(raw), len(z), f.zlib)
	}
}

// TestDeflateShapes covers inputs that exercise stored, fixed and dynamic
// blocks, long runs and block boundaries.
func TestDeflateShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 70000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	for name, in := range map[string][]byte{
		"empty":     {},
		"one":       {7},
		"zeros":     make([]byte, 100000),
		"random":    random,
		"short-rep": bytes.Repeat([]byte("abcabcabd"), 5000),
		"far-rep":   append(append(append([]byte{}, random[:1500]...), random[:1500]...), random[:3000]...),
		"text":      bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog. "), 900),
	} {
		z := deflate(in)
		out, err := io.ReadAll(flate.NewReader(bytes.NewReader(z)))
		if err != nil || !bytes.Equal(out, in) {
			t.Errorf("%s: round trip failed: %v", name, err)
			continue
		}
		if d := maxDistance(t, z); d > windowSize {
			t.Errorf("%s: distance %d", name, d)
		}
	}
}

// TestSplitLoopback mirrors the reference loopback test: every encoding,
// sizes from 10 bytes to 50 kB, several maximum versions, low and high
// entropy; parts must fit their version and join in any order.
func TestSplitLoopback(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, enc := range []byte{0, EncodingHex, EncodingBase32, EncodingZlib} {
		for _, size := range []int{10, 100, 2000, 10000, 50000} {
			for _, maxV := range []int{11, 29, 40} {
				for _, low := range []bool{true, false} {
					data := make([]byte, size)
					for i := range data {
						if low {
							data[i] = 0x41
						} else {
							data[i] = byte(rng.Uint32())
						}
					}
					parts, v, err := Split(data, FileTypeTransaction, SplitOptions{Encoding: enc, MaxVersion: maxV})
					if err != nil {
						t.Fatalf("enc %c size %d maxV %d: %v", enc, size, maxV, err)
					}
					checkSeries(t, parts, v, maxV)
					got := parts[0][2]
					switch {
					case enc == 0 || enc == EncodingZlib:
						if low && got != EncodingZlib {
							t.Errorf("low-entropy data split as %c, want Z", got)
						}
						if !low && got != EncodingBase32 {
							t.Errorf("random data split as %c, want the base32 fallback", got)
						}
					case got != enc:
						t.Errorf("encoding %c, asked for %c", got, enc)
					}
					rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
					typ, out, err := Join(parts)
					if err != nil || typ != FileTypeTransaction || !bytes.Equal(out, data) {
						t.Fatalf("enc %c size %d: join: %v", enc, size, err)
					}
				}
			}
		}
	}
}

// checkSeries checks the split rules on a series.
func checkSeries(t *testing.T, parts []string, v, maxV int) {
	t.Helper()
	if v < 1 || v > maxV {
		t.Fatalf("version %d outside 1..%d", v, maxV)
	}
	for i, p := range parts {
		if len(p) > AlnumCapacity(v) {
			t.Fatalf("part %d is %d characters, version %d holds %d", i, len(p), v, AlnumCapacity(v))
		}
		h, err := ParseHeader(p)
		if err != nil || h.Index != i || h.Total != len(parts) {
			t.Fatalf("part %d header %q: %v", i, p[:8], err)
		}
		if i < len(parts)-1 && len(p) != len(parts[0]) {
			t.Fatalf("part %d is %d characters, part 0 is %d", i, len(p), len(parts[0]))
		}
		if i == len(parts)-1 && len(p) > len(parts[0]) {
			t.Fatalf("last part longer than the others")
		}
	}
}

// TestVersion27Edges mirrors the reference "Version 27 edge cases": sizes
// around the two-part capacity of version 27 either fit in two parts of
// exactly version 27 or are refused.
func TestVersion27Edges(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	capacity := AlnumCapacity(27) - HeaderLen
	for _, enc := range []byte{EncodingHex, EncodingBase32} {
		for size := 1060; size < 1080; size++ {
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			parts, v, err := Split(data, FileTypeTransaction, SplitOptions{Encoding: enc, MaxSplit: 2, MinVersion: 27, MaxVersion: 27})
			encLen := 2 * size
			mod := 2
			if enc == EncodingBase32 {
				encLen, mod = (size*8+4)/5, 8
			}
			fits := encLen <= (capacity-capacity%mod)+capacity
			if !fits {
				if !errors.Is(err, ErrCannotFit) {
					t.Fatalf("%c %d: want ErrCannotFit, got %v", enc, size, err)
				}
				continue
			}
			if err != nil || v != 27 || len(parts) > 2 {
				t.Fatalf("%c %d: v%d %d parts: %v", enc, size, v, len(parts), err)
			}
			checkSeries(t, parts, v, 27)
		}
	}
}

// TestSplitPicksFewestParts checks the choice rule on sizes we can work out
// by hand from the capacity table.
func TestSplitPicksFewestParts(t *testing.T) {
	// 100 bytes of hex = 200 characters + 8 header fits version 7 (224).
	parts, v, err := Split(bytes.Repeat([]byte{0xab}, 100), FileTypePSBT, SplitOptions{Encoding: EncodingHex})
	if err != nil || v != 7 || len(parts) != 1 || parts[0] != "B$HP0100"+strings.Repeat("AB", 100) {
		t.Fatalf("got v%d %v: %v", v, parts, err)
	}
	// Below the default minimum version 5 only when asked.
	parts, v, err = Split([]byte{1}, FileTypePSBT, SplitOptions{Encoding: EncodingHex, MinVersion: 1})
	if err != nil || v != 1 || parts[0] != "B$HP010001" {
		t.Fatalf("got v%d %v: %v", v, parts, err)
	}
	// A MaxVersion below the default minimum lowers the minimum.
	_, v, err = Split(make([]byte, 40), FileTypePSBT, SplitOptions{Encoding: EncodingHex, MaxVersion: 3})
	if err != nil || v != 3 {
		t.Fatalf("got v%d: %v", v, err)
	}
	// 3000 bytes of hex at most version 20 (1249 chars, 1240 per part):
	// 6000 characters need 5 parts.
	parts, v, err = Split(make([]byte, 3000), FileTypePSBT, SplitOptions{Encoding: EncodingHex, MaxVersion: 20})
	if err != nil || len(parts) != 5 || v != 20 || len(parts[0]) != 8+1240 {
		t.Fatalf("got v%d, %d parts: %v", v, len(parts), err)
	}
	// MinSplit forces more, smaller parts.
	parts, _, err = Split(make([]byte, 3000), FileTypePSBT, SplitOptions{Encoding: EncodingHex, MinSplit: 8})
	if err != nil || len(parts) < 8 {
		t.Fatalf("got %d parts: %v", len(parts), err)
	}
}

func TestSplitRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		data []byte
		typ  byte
		opt  SplitOptions
	}{
		"empty":         {nil, 'P', SplitOptions{}},
		"lower type":    {[]byte{1}, 'p', SplitOptions{}},
		"bad encoding":  {[]byte{1}, 'P', SplitOptions{Encoding: 'Q'}},
		"version 41":    {[]byte{1}, 'P', SplitOptions{MaxVersion: 41}},
		"split 1296":    {[]byte{1}, 'P', SplitOptions{MaxSplit: 1296}},
		"min>max split": {[]byte{1}, 'P', SplitOptions{MinSplit: 3, MaxSplit: 2}},
		"cannot fit":    {make([]byte, 5000), 'P', SplitOptions{Encoding: EncodingHex, MaxVersion: 10, MaxSplit: 2}},
	} {
		if _, _, err := Split(tc.data, tc.typ, tc.opt); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
}

func TestJoiner(t *testing.T) {
	data := bytes.Repeat([]byte("countersign "), 300)
	parts, _, err := Split(data, FileTypeUnicode, SplitOptions{Encoding: EncodingHex, MaxVersion: 10})
	if err != nil || len(parts) < 4 {
		t.Fatalf("%d parts: %v", len(parts), err)
	}
	var j Joiner
	if _, _, err := j.Result(); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("empty joiner: %v", err)
	}
	// Last part first (the "runt"), then a duplicate, then the rest.
	order := append([]int{len(parts) - 1, len(parts) - 1}, rand.Perm(len(parts)-1)...)
	for k, i := range order {
		added, err := j.Add(parts[i] + "\n")
		if err != nil {
			t.Fatalf("add part %d: %v", i, err)
		}
		if added != (k != 1) {
			t.Fatalf("add #%d: added=%v", k, added)
		}
		if k == 2 {
			if _, _, err := j.Result(); !errors.Is(err, ErrIncomplete) {
				t.Fatalf("partial result: %v", err)
			}
			if m := j.Missing(); len(m) != len(parts)-2 {
				t.Fatalf("missing %v", m)
			}
		}
	}
	if have, total := j.Progress(); have != len(parts) || total != len(parts) || !j.Complete() {
		t.Fatalf("progress %d/%d", have, total)
	}
	typ, out, err := j.Result()
	if err != nil || typ != 'U' || !bytes.Equal(out, data) {
		t.Fatalf("result: %c %v", typ, err)
	}

	// Refusals leave the joiner as it was.
	var k Joiner
	if _, err := k.Add(parts[0]); err != nil {
		t.Fatal(err)
	}
	other, _, _ := Split(data, FileTypePSBT, SplitOptions{Encoding: EncodingHex, MaxVersion: 10})
	b32, _, _ := Split(data, FileTypeUnicode, SplitOptions{Encoding: EncodingBase32, MaxVersion: 10})
	tampered := parts[1][:20] + "00" + parts[1][22:]
	for name, tc := range map[string]struct {
		part string
		want error
	}{
		"other type":      {other[1], ErrMixed},
		"other encoding":  {b32[1], ErrMixed},
		"conflicting dup": {parts[0][:20] + "FF" + parts[0][22:], ErrInvalid},
		"short part":      {parts[1][:len(parts[1])-2], ErrInvalid},
		"long last":       {parts[len(parts)-1] + strings.Repeat("0", len(parts[0])), ErrInvalid},
		"lower hex":       {parts[1][:8] + strings.ToLower(parts[1][8:]), ErrInvalid},
		"bad char":        {parts[1][:30] + "G" + parts[1][31:], ErrInvalid},
		"odd hex":         {parts[len(parts)-1] + "0", ErrInvalid},
		"no header":       {"B$HP", ErrInvalid},
		"not bbqr":        {"ur:crypto-psbt/abc", ErrInvalid},
		"index >= total":  {parts[1][:6] + "ZZ" + parts[1][8:], ErrInvalid},
	} {
		if _, err := k.Add(tc.part); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
	if have, _ := k.Progress(); have != 1 {
		t.Fatalf("refused parts changed the joiner: have %d", have)
	}
	if added, err := k.Add(tampered); err != nil || !added {
		// A part whose payload changed but stays well formed is accepted:
		// QR error correction, not BBQr, guards the payload.
		t.Fatalf("tampered part: %v", err)
	}
}

func TestParseHeader(t *testing.T) {
	for s, want := range map[string]Header{
		"B$HP0100":      {'H', 'P', 1, 0},
		"B$2T0A09ABCD":  {'2', 'T', 10, 9},
		"B$ZUZZZY":      {'Z', 'U', 1295, 1294},
		"B$HJ1004" + "": {'H', 'J', 36, 4},
	} {
		h, err := ParseHeader(s)
		if err != nil || h != want {
			t.Errorf("%s: %+v %v", s, h, err)
		}
		if h.String() != s[:8] {
			t.Errorf("%s: String %s", s, h.String())
		}
	}
	for _, s := range []string{"", "B$HP010", "b$HP0100", "B$XP0100", "B$H10100", "B$HP0000", "B$HP0101", "B$HPa100", "B$HP01-0", "B$hP0100"} {
		if _, err := ParseHeader(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q accepted", s)
		}
	}
}

// TestBase36 mirrors the reference test_base36.
func TestBase36(t *testing.T) {
	for n := 0; n <= MaxParts; n++ {
		s := base36(n)
		if got, ok := parseBase36(s); !ok || got != n || strings.ToUpper(s) != s {
			t.Fatalf("%d -> %s -> %d", n, s, got)
		}
	}
}

// TestZipBomb: a small Z series that inflates past MaxSize is refused.
func TestZipBomb(t *testing.T) {
	parts, _, err := Split(make([]byte, 1<<20), FileTypeBinary, SplitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	j := Joiner{MaxSize: 1 << 19}
	for _, p := range parts {
		if _, err := j.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := j.Result(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	// A truncated Z stream is an error, not a panic.
	if _, _, err := Join([]string{"B$ZP0100" + base32NoPad.EncodeToString(deflate([]byte("hello hello hello"))[:3])}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("truncated: %v", err)
	}
}
