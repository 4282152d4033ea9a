package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/vectors"
)

// TestConvertRefusesOffCurveKey: a PSBT whose BIP-32 derivation key is
// not a point on the curve (Decode leaves that check to the steps that
// read the packet) is refused by convert and inspect, exit 2, and convert
// writes nothing.
func TestConvertRefusesOffCurveKey(t *testing.T) {
	dir, work := t.TempDir(), t.TempDir()
	var v vectorFile
	vectors.Load(t, "psbt_bip174.json", &v)
	var src string
	for _, c := range v.Valid {
		if strings.Contains(c.Hex, "2206029da12cdb5b235692b91536afefe5c91c3ab9473d8e43b533836ab456299c8871") {
			src = c.Hex
			break
		}
	}
	if src == "" {
		t.Fatal("no valid BIP-174 vector with the expected BIP-32 derivation")
	}
	// The derivation of 029da1...8871 (a point) becomes one of 02 || 5,
	// which is not: 5³ + 7 has no square root mod p.
	bad := strings.Replace(src, "2206029da12cdb5b235692b91536afefe5c91c3ab9473d8e43b533836ab456299c8871", "220602"+strings.Repeat("00", 31)+"05", 1)
	in := filepath.Join(work, "bad.txt")
	if err := os.WriteFile(in, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "out.psbt")
	for _, args := range [][]string{{"psbt", "convert", in, "--to", "v2", "-o", out}, {"psbt", "inspect", in}} {
		r := runCLI(t, dir, "", args...)
		if r.Code != 2 || !strings.Contains(r.Err, "public key") {
			t.Errorf("%v: exit %d, stderr %q", args, r.Code, r.Err)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("convert wrote %s for an invalid PSBT", out)
	}
}
