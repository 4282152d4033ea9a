package formats

import (
	"fmt"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/internal/fuzzseed"
)

// TestFuzzCorpus derives the seed corpora of the import targets (see
// internal/fuzzseed): each format's published vectors, the files
// TestDetect, TestBadInput and TestColdcardVariants read, and exports of
// test wallets of every script type on mainnet and testnet. Each
// per-format target gets its format's files; FuzzImport gets them all and
// the contents Import must not recognise.
func TestFuzzCorpus(t *testing.T) {
	targets := map[Format]*fuzzseed.Corpus{
		FormatDescriptor: fuzzseed.New("FuzzImportDescriptor"),
		FormatCore:       fuzzseed.New("FuzzImportCore"),
		FormatColdcard:   fuzzseed.New("FuzzImportColdcard"),
		FormatCaravan:    fuzzseed.New("FuzzImportCaravan"),
		FormatSpecter:    fuzzseed.New("FuzzImportSpecter"),
	}
	all := fuzzseed.New("FuzzImport")
	bsms := fuzzseed.New("FuzzBSMSDescriptorRecord")
	add := func(f Format, name, content string) {
		all.Add(string(f)+"_"+name, []byte(content))
		if c := targets[f]; c != nil {
			c.Add(name, []byte(content))
		}
		if f == FormatBSMS {
			bsms.Add("derived_"+name, []byte(content), "")
		}
	}

	add(FormatColdcard, "vector_coldcard_multisig_file", string(readVector(t, "coldcard_multisig_file.txt")))
	add(FormatCaravan, "vector_caravan_config", string(readVector(t, "caravan_config.json")))
	add(FormatDescriptor, "vector_coldcard_descriptor_export", coldcardDescriptorVector(t))
	for _, r := range bip129Records(t) {
		add(FormatBSMS, "bip129_"+r.mode, r.content)
	}
	for _, c := range detectCases(t) {
		add(c.want, "detect_"+c.name, c.in)
	}
	for _, c := range badInputCases(t) {
		add(c.want, "bad_"+c.name, c.in)
	}
	for _, c := range coldcardVariants(t) {
		add(FormatColdcard, "variant_"+c.name, c.in)
	}
	for _, c := range unknownCases {
		if len(c.in) <= 4096 {
			all.Add("unknown_"+c.name, []byte(c.in))
		}
	}
	for _, script := range []descriptor.ScriptType{descriptor.ScriptWsh, descriptor.ScriptShWsh, descriptor.ScriptSh} {
		for _, net := range []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params} {
			for _, p := range [][3]int{{2, 3, 1}, {3, 5, 1}, {2, 3, 0}} {
				w := testWallet(t, script, p[0], p[1], net, p[2] == 1)
				w.Name, w.Labels, w.BirthHeight = "Family vault", []string{"alice", "bob", "carol", "dave", "erin"}[:p[1]], 800_000
				sorted := map[bool]string{true: "sortedmulti", false: "multi"}[p[2] == 1]
				for _, f := range Formats() {
					out, err := Export(w, f)
					if err != nil {
						continue // the format cannot hold this wallet
					}
					add(f, fmt.Sprintf("export_%s_%s_%d_of_%d_%s", script, descriptor.NetworkName(net), p[0], p[1], sorted), string(out))
				}
			}
		}
	}
	for f, c := range targets {
		if c.Len() < 5 {
			t.Errorf("only %d seeds for %s", c.Len(), f)
		}
	}
	fuzzseed.Check(t, all, bsms)
	for _, f := range Formats() {
		if c := targets[f]; c != nil {
			fuzzseed.Check(t, c)
		}
	}
}
