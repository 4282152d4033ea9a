package descriptor

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
)

// taprootVectors is testdata/taproot/vectors.json: the Test Vectors sections
// of BIP-386 (tr), BIP-387 (multi_a, sortedmulti_a) and BIP-390 (musig),
// copied from bitcoin/bips (see testdata/taproot/README.md).
type taprootVectors struct {
	BIP386 tapVectorSet `json:"bip0386"`
	BIP387 tapVectorSet `json:"bip0387"`
	BIP390 tapVectorSet `json:"bip0390"`
}

type tapVectorSet struct {
	Valid   []scriptVector  `json:"valid"`
	Invalid []invalidVector `json:"invalid"`
}

func loadTaprootVectors(t *testing.T) taprootVectors {
	t.Helper()
	b, err := os.ReadFile("testdata/taproot/vectors.json")
	if err != nil {
		t.Fatalf("taproot vectors missing (they are part of the repository): %v", err)
	}
	var v taprootVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// unsupportedLeaf lists valid BIP vectors whose leaves are miniscript
// fragments countersign does not implement; they must be refused by name.
var unsupportedLeaf = map[string]string{
	"tr(a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd,pkh(L4rK1yDtCWekvXuE6oXD9jCYfFNV2cWRpVuPLBcCU2z8TrisoyY1))": "pkh()",
}

func TestTaprootVectorsValid(t *testing.T) {
	v := loadTaprootVectors(t)
	total := 0
	for name, set := range map[string]tapVectorSet{"BIP-386": v.BIP386, "BIP-387": v.BIP387, "BIP-390": v.BIP390} {
		if len(set.Valid) < 6 {
			t.Fatalf("%s: only %d valid vectors", name, len(set.Valid))
		}
		for _, vec := range set.Valid {
			d, err := Parse(vec.Descriptor)
			if frag, ok := unsupportedLeaf[vec.Descriptor]; ok {
				if err == nil || !strings.Contains(err.Error(), frag) || !strings.Contains(err.Error(), "not supported") {
					t.Errorf("%s: %s: want a refusal naming %s, got %v", name, vec.Descriptor, frag, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: Parse(%s): %v", name, vec.Descriptor, err)
				continue
			}
			if len(vec.Scripts) == 0 {
				t.Fatalf("%s: %s has no scripts", name, vec.Descriptor)
			}
			for i, want := range vec.Scripts {
				got, err := d.Derive(0, uint32(i), &chaincfg.MainNetParams)
				if err != nil {
					t.Errorf("%s: %s index %d: %v", name, vec.Descriptor, i, err)
					continue
				}
				if hex.EncodeToString(got.ScriptPubKey) != want {
					t.Errorf("%s: %s index %d:\n got  %x\n want %s", name, vec.Descriptor, i, got.ScriptPubKey, want)
				}
				total++
			}
			// The canonical form (private keys neutered) derives the same.
			again, err := Parse(d.String())
			if err != nil {
				t.Errorf("%s: reparse %s: %v", name, d.String(), err)
				continue
			}
			if again.String() != d.String() {
				t.Errorf("%s: String not stable: %s then %s", name, d.String(), again.String())
			}
			if !d.HasPrivate() {
				if got, want := d.StringNoChecksum(), vec.Descriptor; got != strings.ReplaceAll(want, "'", "h") {
					t.Errorf("%s: round trip:\n got  %s\n want %s", name, got, want)
				}
			}
			if pub, err := again.Derive(0, 0, &chaincfg.MainNetParams); err == nil && hex.EncodeToString(pub.ScriptPubKey) != vec.Scripts[0] {
				// Hardened steps after an xprv cannot be derived from the
				// neutered form; other vectors must agree.
				t.Errorf("%s: public form of %s derives %x", name, vec.Descriptor, pub.ScriptPubKey)
			}
		}
	}
	if total < 25 {
		t.Fatalf("only %d scripts checked", total)
	}
}

func TestTaprootVectorsInvalid(t *testing.T) {
	v := loadTaprootVectors(t)
	n := 0
	for name, set := range map[string]tapVectorSet{"BIP-386": v.BIP386, "BIP-387": v.BIP387, "BIP-390": v.BIP390} {
		for _, vec := range set.Invalid {
			n++
			_, err := Parse(vec.Descriptor)
			if err == nil {
				t.Errorf("%s: %s (%s) parsed", name, vec.Descriptor, vec.Reason)
				continue
			}
			if strings.HasPrefix(vec.Reason, "musig() is not allowed") && !strings.Contains(err.Error(), "musig() is only allowed inside tr()") &&
				!strings.Contains(err.Error(), "unsupported descriptor") && !strings.Contains(err.Error(), "found pk()") {
				t.Errorf("%s: %s: the refusal does not say where musig() belongs: %v", name, vec.Reason, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: %s: error does not wrap ErrInvalid: %v", name, vec.Reason, err)
			}
			t.Logf("%s: %s -> %v", name, vec.Reason, err)
		}
	}
	if n != 25 {
		t.Fatalf("%d invalid vectors, want 25", n)
	}
}
