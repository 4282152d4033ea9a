package descriptor

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
)

// FuzzParseTr: taproot descriptors (tr, rawtr, multi_a, sortedmulti_a,
// musig) never panic; whatever Parse accepts prints canonically, reparses
// to the same string, derives, and converts with Multipath and Single.
// The committed corpus (testdata/fuzz/FuzzParseTr) holds the BIP-386, 387
// and 390 vectors and countersign's default wallet shape.
func FuzzParseTr(f *testing.F) {
	b, err := os.ReadFile("testdata/taproot/vectors.json")
	if err != nil {
		f.Fatal(err)
	}
	var v taprootVectors
	if err := json.Unmarshal(b, &v); err != nil {
		f.Fatal(err)
	}
	for _, set := range []tapVectorSet{v.BIP386, v.BIP387, v.BIP390} {
		for _, x := range set.Valid {
			f.Add(x.Descriptor)
		}
		for _, x := range set.Invalid {
			f.Add(x.Descriptor)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			return
		}
		canon := d.String()
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q) ok but Parse(String() = %q): %v", s, canon, err)
		}
		if again.String() != canon {
			t.Fatalf("String not stable: %q then %q", canon, again.String())
		}
		for _, net := range []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params} {
			for br := range uint32(d.Branches()) {
				_, _ = d.Derive(br, 1, net)
			}
		}
		_ = d.Multipath().String()
		if sd, err := d.Single(0); err == nil {
			_ = sd.String()
		}
		_ = d.Policy()
		_ = d.N()
	})
}
