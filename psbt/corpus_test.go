package psbt

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"testing"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/internal/fuzzseed"
	"github.com/countersign/countersign/internal/vectors"
)

// TestFuzzCorpus derives the seed corpora of FuzzDecode and FuzzCombine
// (see internal/fuzzseed): every PSBT of the BIP-174 and BIP-370 vectors,
// and a wallet PSBT of each script type at each stage (unsigned, signed
// once, signed twice, finalized), in binary and base64; for Combine, two
// cosigners' copies of each wallet PSBT and the vectors' combiner inputs.
func TestFuzzCorpus(t *testing.T) {
	dec, comb := fuzzseed.New("FuzzDecode"), fuzzseed.New("FuzzCombine")
	for i, b := range vectorSeeds(t) {
		dec.Add(fmt.Sprintf("bip174_%02d", i), b)
	}
	v2 := loadBIP370(t)
	cases := append(append([]vectorCase(nil), v2.Invalid...), v2.Valid...)
	for _, c := range v2.Timelock {
		cases = append(cases, c.vectorCase)
	}
	for i, c := range cases {
		if b, err := hex.DecodeString(c.Hex); err == nil {
			dec.Add(fmt.Sprintf("bip370_%02d", i), b)
		}
	}
	for _, st := range []descriptor.ScriptType{descriptor.ScriptWsh, descriptor.ScriptShWsh, descriptor.ScriptSh} {
		tw, p, _ := newSpend(t, st, 2, 3)
		stage := func(name string, p *bpsbt.Packet) {
			b := mustSerialize(t, p)
			dec.Add(st.String()+"_"+name, b)
			dec.Add(st.String()+"_"+name+"_base64", []byte(base64.StdEncoding.EncodeToString(b)))
		}
		stage("unsigned", p)
		a, b := clone(t, p), clone(t, p)
		tw.sign(t, a, 0)
		tw.sign(t, b, 2)
		comb.Add(st.String()+"_two_cosigners", mustSerialize(t, a), mustSerialize(t, b))
		comb.Add(st.String()+"_same_copy", mustSerialize(t, a), mustSerialize(t, a))
		stage("signed_once", a)
		tw.sign(t, a, 1)
		stage("signed_twice", a)
		if err := FinalizePacket(a, tw.info); err != nil {
			t.Fatal(err)
		}
		stage("finalized", a)
		comb.Add(st.String()+"_final_and_unsigned", mustSerialize(t, a), mustSerialize(t, p))
	}
	var v bip174
	vectors.Load(t, "psbt_bip174.json", &v)
	for i, in := range v.CombinerOrdering.Inputs {
		for j, other := range v.CombinerOrdering.Inputs {
			x, err1 := hex.DecodeString(in.Hex)
			y, err2 := hex.DecodeString(other.Hex)
			if err1 == nil && err2 == nil && i != j {
				comb.Add(fmt.Sprintf("bip174_combiner_%d_%d", i, j), x, y)
			}
		}
	}
	we := v.WorkedExample
	x, _ := hex.DecodeString(we.Signer1.Expected.Hex)
	y, _ := hex.DecodeString(we.Signer2.Expected.Hex)
	comb.Add("bip174_worked_example_signers", x, y)
	fuzzseed.Check(t, dec, comb)
}
