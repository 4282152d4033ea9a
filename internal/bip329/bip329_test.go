package bip329

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// readVector reads a testdata file; a missing vector fails the test.
func readVector(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("BIP-329 vector %s: %v (see testdata/README.md)", name, err)
	}
	return b
}

// objects decodes each non-blank line as a JSON object with numbers kept
// as written.
func objects(t testing.TB, data []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// TestBIPExamplesRoundTrip: the BIP's test vector fragment and a file of
// its additional fields read and write back to the same records.
func TestBIPExamplesRoundTrip(t *testing.T) {
	for _, name := range []string{"bip-0329-examples.jsonl", "additional-fields.jsonl"} {
		t.Run(name, func(t *testing.T) {
			in := readVector(t, name)
			rs, err := Parse(bytes.NewReader(in))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := Write(&out, rs); err != nil {
				t.Fatal(err)
			}
			if got, want := objects(t, out.Bytes()), objects(t, in); !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip:\n got %v\nwant %v", got, want)
			}
			again, err := Parse(&out)
			if err != nil || !reflect.DeepEqual(again, rs) {
				t.Fatalf("second read: %v\n%+v\n%+v", err, again, rs)
			}
		})
	}
	rs, _ := Parse(bytes.NewReader(readVector(t, "bip-0329-examples.jsonl")))
	if len(rs) != 7 {
		t.Fatalf("%d records, the BIP has 7", len(rs))
	}
	types := []string{TypeTx, TypeAddr, TypePubkey, TypeInput, TypeOutput, TypeXpub, TypeTx}
	for i, r := range rs {
		if r.Type != types[i] || r.Label == nil {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	if rs[4].Spendable == nil || *rs[4].Spendable || rs[0].Origin == nil || *rs[0].Origin != "wpkh([d34db33f/84'/0'/0'])" || rs[1].Origin != nil {
		t.Errorf("fields: %+v %+v %+v", rs[0], rs[1], rs[4])
	}
}

func TestParseRefuses(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"not json", "{\"type\":\"tx\"", "line 1"},
		{"array", `["tx"]`, "not a JSON object"},
		{"no ref", `{"type":"tx"}`, `no "ref"`},
		{"empty type", `{"type":"","ref":"a"}`, "empty"},
		{"label not string", `{"type":"tx","ref":"a","label":5}`, `"label" is not a string`},
		{"quoted false", `{"type":"output","ref":"a:0","spendable":"false"}`, "not true or false"},
		{"two values", `{"type":"tx","ref":"a"} {"type":"tx","ref":"b"}`, "more than one"},
		{"second line", "{\"type\":\"tx\",\"ref\":\"a\"}\n{", "line 2"},
		{"not utf-8", "{\"type\":\"tx\",\"ref\":\"\xff\"}", "not UTF-8"},
		{"too long", `{"type":"tx","ref":"` + strings.Repeat("a", MaxLineBytes) + `"}`, "longer than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(c.in))
			if err == nil || !errors.Is(err, ErrFormat) && !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

func TestParseKeepsBlankLinesAndCRLF(t *testing.T) {
	rs, err := Parse(strings.NewReader("\r\n{\"type\":\"tx\",\"ref\":\"a\",\"label\":\"<b>&\"}\r\n\n"))
	if err != nil || len(rs) != 1 || *rs[0].Label != "<b>&" {
		t.Fatalf("%+v %v", rs, err)
	}
	line, _ := rs[0].MarshalJSON()
	if string(line) != `{"type":"tx","ref":"a","label":"<b>&"}` {
		t.Fatalf("written as %s", line)
	}
}

// FuzzParse: whatever Parse accepts writes back and reads again to the
// same records; nothing panics.
func FuzzParse(f *testing.F) {
	f.Add(readVector(f, "bip-0329-examples.jsonl"))
	f.Add(readVector(f, "additional-fields.jsonl"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := Parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := Write(&out, rs); err != nil {
			t.Fatalf("accepted records do not write: %v", err)
		}
		again, err := Parse(&out)
		if err != nil {
			t.Fatalf("written records do not read: %v\n%s", err, out.String())
		}
		if !reflect.DeepEqual(again, rs) && !(len(again) == 0 && len(rs) == 0) {
			t.Fatalf("round trip changed the records:\n%+v\n%+v", rs, again)
		}
	})
}
