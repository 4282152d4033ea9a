package fuzzseed

import "testing"

// The encoding is the one `go test` reads (src/internal/fuzz/encoding.go);
// every package's TestFuzzCorpus files are also parsed by go test itself
// when it runs them as seeds, so a wrong literal fails there too.
func TestEntry(t *testing.T) {
	got := string(Entry([]byte("a\x00\xff\n"), "é\"", uint16(7), true, uint8(200), int64(-3)))
	want := "go test fuzz v1\n" +
		"[]byte(\"a\\x00\\xff\\n\")\n" +
		"string(\"é\\\"\")\n" +
		"uint16(7)\n" +
		"bool(true)\n" +
		"byte(200)\n" +
		"int64(-3)\n"
	if got != want {
		t.Fatalf("Entry:\n%s\nwant\n%s", got, want)
	}
}

func TestCorpusNamesAndDuplicates(t *testing.T) {
	c := New("FuzzX")
	c.Add("a b/c", []byte("1"))
	c.Add("a b/c", []byte("2"))
	c.Add("other", []byte("1")) // same content: dropped
	c.Add("", []byte("3"))
	if c.Len() != 3 {
		t.Fatalf("%d entries, want 3: %v", c.Len(), c.files)
	}
	for _, n := range []string{"a_b_c", "a_b_c_2", "seed"} {
		if c.files[n] == nil {
			t.Errorf("no entry %q in %v", n, c.files)
		}
	}
}
