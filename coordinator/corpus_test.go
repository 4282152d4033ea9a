package coordinator_test

import (
	"fmt"
	"os"
	"regexp"
	"testing"

	"github.com/countersign/countersign/internal/fuzzseed"
	"github.com/countersign/countersign/internal/vectors"
)

// TestFuzzCorpus derives FuzzParseCosigner's seeds (see internal/fuzzseed)
// from the key expressions of the published descriptor and SLIP-132
// vectors, bare, labelled and with a derivation suffix.
func TestFuzzCorpus(t *testing.T) {
	c := fuzzseed.New("FuzzParseCosigner")
	key := regexp.MustCompile(`(\[[0-9a-fA-F]{8}[^\]]*\])?[xtYZUVyzuv]pub[1-9A-HJ-NP-Za-km-z]{100,112}(/[0-9h'*<>;/]+)?`)
	seen := 0
	for _, name := range []string{"descriptor_multisig.json", "slip132.json", "descriptor_checksum.json"} {
		b, err := os.ReadFile(vectors.Path(t, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range key.FindAllString(string(b), 12) {
			seen++
			c.Add(fmt.Sprintf("%s_%d", name, seen), k)
			c.Add(fmt.Sprintf("%s_%d_labelled", name, seen), "cosigner "+fmt.Sprint(seen)+" = "+k)
		}
	}
	if seen < 10 {
		t.Fatalf("only %d key expressions in the vectors", seen)
	}
	for _, s := range []string{"", "=", "alice=", "alice=02e493dbf1c10d80f3581e4904930b1404cc6c13900ee0758474fa94abe8c4cd13",
		"a=b=c", "[00000000]xpub", "\x1b[31m=xpub"} {
		c.Add("malformed_"+s, s)
	}
	fuzzseed.Check(t, c)
	bsmsCorpus(t)
}

// bsmsCorpus derives FuzzReadBSMSKeyRecord's seeds from the BIP-129 key
// records, plain and encrypted, each with its session's token (hex and
// decimal), with none, and with a wrong one.
func bsmsCorpus(t *testing.T) {
	c := fuzzseed.New("FuzzReadBSMSKeyRecord")
	for mi, m := range loadBIP129Modes(t) {
		for si, files := range m.signers {
			tk := m.signerToken(si)
			for name, content := range files {
				base := fmt.Sprintf("mode%d_%s", mi, name)
				c.Add(base, []byte(content), tk)
				c.Add(base+"_no_token", []byte(content), "")
				c.Add(base+"_wrong_token", []byte(content), "0123456789abcdef\n"+tk)
				if dec := m.coordinator["TOKEN (decimal)"]; len(dec) > si {
					c.Add(base+"_decimal", []byte(content), dec[si])
				}
			}
		}
	}
	fuzzseed.Check(t, c)
}
