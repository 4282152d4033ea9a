package cli

import (
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/vectors"
)

type vectorFile struct {
	Invalid []struct {
		Description string `json:"description"`
		Hex         string `json:"hex"`
		Base64      string `json:"base64"`
	} `json:"invalid"`
	Valid []struct {
		Description string `json:"description"`
		Hex         string `json:"hex"`
		Base64      string `json:"base64"`
	} `json:"valid"`
}

// TestInspectAnyPSBT runs every BIP-174 and BIP-370 vector through
// `psbt inspect` with no wallet stored: every invalid one exits 2 naming
// the record, every valid one exits 0 and decodes, as a plain PSBT.
func TestInspectAnyPSBT(t *testing.T) {
	dir := t.TempDir()
	work := t.TempDir()
	n := 0
	for _, name := range []string{"psbt_bip174.json", "psbt_bip370.json"} {
		var v vectorFile
		vectors.Load(t, name, &v)
		for i, c := range v.Invalid {
			for k, form := range [][]byte{[]byte(c.Base64), mustHexBytes(t, c.Hex)} {
				f := filepath.Join(work, "bad")
				os.WriteFile(f, form, 0o600)
				r := runCLI(t, dir, "", "--json", "psbt", "inspect", f)
				if r.Code != 2 || !strings.Contains(r.Err, "malformed PSBT") {
					t.Errorf("%s invalid #%d (%s) form %d: exit %d, %s", name, i, c.Description, k, r.Code, r.Err)
				}
				n++
			}
		}
		for i, c := range v.Valid {
			f := filepath.Join(work, "good")
			os.WriteFile(f, []byte(c.Base64), 0o600)
			r := runCLI(t, dir, "", "--json", "psbt", "inspect", f)
			if r.Code != 0 {
				t.Errorf("%s valid #%d (%s): exit %d, %s", name, i, c.Description, r.Code, r.Err)
				continue
			}
			var j struct {
				Wallet  *string `json:"wallet"`
				Next    string  `json:"next"`
				Version uint32  `json:"psbt_version"`
				Inputs  []any   `json:"inputs"`
			}
			mustJSON(t, r.Out, &j)
			if j.Wallet != nil || j.Next == "" {
				t.Errorf("%s valid #%d: %s", name, i, r.Out)
			}
			if (name == "psbt_bip370.json") != (j.Version == 2) {
				t.Errorf("%s valid #%d: psbt_version %d", name, i, j.Version)
			}
			// The human summary too.
			if r := runCLI(t, dir, "", "psbt", "inspect", f); r.Code != 0 || !strings.Contains(r.Out, "No stored wallet recognises this PSBT") {
				t.Errorf("%s valid #%d text: exit %d %s", name, i, r.Code, r.Out)
			}
			n++
		}
	}
	if n < 80 {
		t.Fatalf("only %d vector runs", n)
	}
}

func mustHexBytes(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConvertAndEncodings: convert between versions and encodings; the
// default encoding is binary for a .psbt file and base64 otherwise.
func TestConvertAndEncodings(t *testing.T) {
	dir := t.TempDir()
	work := t.TempDir()
	var v vectorFile
	vectors.Load(t, "psbt_bip370.json", &v)
	src := filepath.Join(work, "v2.txt")
	os.WriteFile(src, []byte(v.Valid[len(v.Valid)-1].Base64), 0o600)
	v0 := filepath.Join(work, "v0.psbt")
	mustRun(t, dir, "psbt", "convert", src, "--to", "v0", "-o", v0)
	if b, _ := os.ReadFile(v0); !strings.HasPrefix(string(b), "psbt\xff") {
		t.Fatalf("a .psbt file is not binary: %q", b[:min(len(b), 10)])
	}
	back := filepath.Join(work, "back.txt")
	mustRun(t, dir, "psbt", "convert", v0, "--to", "v2", "-o", back)
	b, _ := os.ReadFile(back)
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || !strings.HasPrefix(string(raw), "psbt\xff") {
		t.Fatalf("a .txt file is not base64: %q", b[:min(len(b), 20)])
	}
	var j struct {
		Version uint32 `json:"psbt_version"`
		From    uint32 `json:"from_version"`
		TxID    string `json:"txid"`
	}
	mustJSON(t, mustRun(t, dir, "--json", "psbt", "convert", back, "--to", "v2", "--encoding", "hex", "-o", filepath.Join(work, "h.psbt")), &j)
	if j.Version != 2 || j.From != 2 {
		t.Fatalf("convert --json: %+v", j)
	}
	if h, _ := os.ReadFile(filepath.Join(work, "h.psbt")); !strings.HasPrefix(string(h), "70736274ff") {
		t.Fatalf("--encoding hex wrote %q", h[:10])
	}
	var insp struct {
		Version uint32 `json:"psbt_version"`
		TxID    string `json:"txid"`
	}
	mustJSON(t, mustRun(t, dir, "--json", "psbt", "inspect", v0), &insp)
	if insp.Version != 0 || insp.TxID != j.TxID {
		t.Fatalf("the v0 form is another transaction: %+v vs %s", insp, j.TxID)
	}
	for _, args := range [][]string{{"psbt", "convert", src, "--to", "v3"}, {"psbt", "convert", src, "--to", "v0", "--encoding", "ascii"}} {
		if r := runCLI(t, dir, "", args...); r.Code != 2 {
			t.Errorf("%v: exit %d", args, r.Code)
		}
	}
}

// TestInputLimits: a PSBT larger than the input limit is refused before it
// is read (exit 2, one message), the limit is configurable, and a
// directory given as a PSBT is bad usage with one message.
func TestInputLimits(t *testing.T) {
	dir := t.TempDir()
	work := t.TempDir()
	var v vectorFile
	vectors.Load(t, "psbt_bip370.json", &v)
	small := filepath.Join(work, "v2.txt")
	os.WriteFile(small, []byte(v.Valid[len(v.Valid)-1].Base64), 0o600)

	// 100 MB, sparse: refused from its size, without reading it.
	huge := filepath.Join(work, "huge.psbt")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(100 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, args := range [][]string{{"psbt", "inspect", huge}, {"sign", huge, "--with", "key:k1", "--yes"}, {"psbt", "combine", small, huge}} {
		r := runCLI(t, dir, "", args...)
		if r.Code != 2 || !strings.Contains(r.Err, "larger than 50 MiB") || strings.Count(r.Err, "error:") != 1 {
			t.Fatalf("%v: exit %d: %s", args, r.Code, r.Err)
		}
	}
	// The same through stdin.
	r := runCLI(t, dir, strings.Repeat("A", 2<<10), "psbt", "inspect", "-")
	if r.Code != 2 {
		t.Fatalf("stdin under the limit but not a PSBT: exit %d", r.Code)
	}
	extraEnv = map[string]string{"COUNTERSIGN_MAX_INPUT_BYTES": "1K"}
	t.Cleanup(func() { extraEnv = nil })
	if r := runCLI(t, dir, strings.Repeat("A", 2<<10), "psbt", "inspect", "-"); r.Code != 2 || !strings.Contains(r.Err, "larger than 1 KiB") {
		t.Fatalf("stdin over a 1K limit: exit %d: %s", r.Code, r.Err)
	}
	extraEnv = map[string]string{"COUNTERSIGN_MAX_INPUT_BYTES": "lots"}
	if r := runCLI(t, dir, "", "psbt", "inspect", small); r.Code != 2 || !strings.Contains(r.Err, "COUNTERSIGN_MAX_INPUT_BYTES") {
		t.Fatalf("a bad limit: exit %d: %s", r.Code, r.Err)
	}
	extraEnv = nil

	r = runCLI(t, dir, "", "psbt", "inspect", work)
	if r.Code != 2 || !strings.Contains(r.Err, "is a directory") || strings.Count(r.Err, "error:") != 1 {
		t.Fatalf("inspect of a directory: exit %d: %q", r.Code, r.Err)
	}
}
