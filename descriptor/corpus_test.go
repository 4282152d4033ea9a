package descriptor

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/fuzzseed"
	"github.com/countersign/countersign/internal/vectors"
)

// TestFuzzCorpus derives the seed corpora of this package's fuzz targets
// (see internal/fuzzseed) from the published vectors: every descriptor
// (FuzzParse), every key expression (FuzzParseKey, and wrapped in a
// multisig for FuzzParse), and every BIP-32 path (FuzzParsePath).
func TestFuzzCorpus(t *testing.T) {
	descs, keys, paths := fuzzseed.New("FuzzParse"), fuzzseed.New("FuzzParseKey"), fuzzseed.New("FuzzParsePath")
	for i, s := range vectorStrings(t) {
		if strings.Contains(s, "(") {
			descs.Add(fmt.Sprintf("vector_%03d", i), s)
			continue
		}
		keys.Add(fmt.Sprintf("vector_%03d", i), s)
		if i%4 == 0 {
			descs.Add(fmt.Sprintf("wrapped_%03d", i), "wsh(sortedmulti(1,"+s+"))")
		}
	}
	descs.Add("bench_wallet_2_of_3", benchWallet(t, 2, 3).String())
	re := regexp.MustCompile(`"(m(?:/[0-9]+[hH']?)*)"`)
	for _, name := range []string{"bip32.json", "descriptor_multisig.json", "slip132.json"} {
		b, err := os.ReadFile(vectors.Path(t, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			paths.Add(m[1], m[1])
		}
	}
	for _, s := range []string{"m/48h/0h/0h/2h", "m/48'/1'/0'/1'", "m/2147483648", "m/2147483647h", "48h/0", "m//0", "m/0/", "M/1", "m/1H", "m/-1", "", "m/0x10"} {
		paths.Add("edge_"+s, s)
	}
	fuzzseed.Check(t, descs, keys, paths)
}
