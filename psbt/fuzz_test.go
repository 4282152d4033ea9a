package psbt

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"testing"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/internal/vectors"
)

// vectorSeeds returns every PSBT in the BIP-174 vectors, binary.
func vectorSeeds(f testing.TB) [][]byte {
	var v bip174
	vectors.Load(f, "psbt_bip174.json", &v)
	var out [][]byte
	add := func(h string) {
		if b, err := hex.DecodeString(h); err == nil {
			out = append(out, b)
		}
	}
	for _, set := range [][]vectorCase{v.Invalid, v.Valid, v.SignerCheckFailures} {
		for _, c := range set {
			add(c.Hex)
		}
	}
	we := &v.WorkedExample
	for _, e := range []encoded{we.Creator.Expected, we.Updater.Expected, we.UpdaterSighashAll.Expected, we.Signer1.Expected,
		we.Signer2.Expected, we.CombinerResult.Expected, we.Finalizer.Expected, v.CombinerOrdering.Expected} {
		add(e.Hex)
	}
	for _, e := range v.CombinerOrdering.Inputs {
		add(e.Hex)
	}
	return out
}

// FuzzDecode: Decode never panics; whatever it accepts serializes, decodes
// again and serializes to the same bytes; the read-only roles do not panic
// on it either.
func FuzzDecode(f *testing.F) {
	seeds := vectorSeeds(f)
	// A wallet PSBT of each stage, so the multisig paths are reached.
	tw, p, _ := newSpend(f, descriptor.ScriptShWsh, 2, 3)
	seeds = append(seeds, mustSerialize(f, p))
	tw.sign(f, p, 1)
	seeds = append(seeds, mustSerialize(f, p))
	tw.sign(f, p, 2)
	seeds = append(seeds, mustSerialize(f, p))
	if err := FinalizePacket(p, tw.info); err != nil {
		f.Fatal(err)
	}
	seeds = append(seeds, mustSerialize(f, p))
	seeds = append(seeds, miniscriptSeeds(f)...)
	for _, s := range seeds {
		f.Add(s)
		f.Add([]byte(hex.EncodeToString(s)))
		f.Add([]byte(base64.StdEncoding.EncodeToString(s)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error without ErrMalformed: %v", err)
			}
			return
		}
		s1, err := Encode(p)
		if err != nil {
			t.Fatalf("accepted but cannot encode: %v", err)
		}
		p2, err := Decode([]byte(s1))
		if err != nil {
			t.Fatalf("own encoding refused: %v", err)
		}
		s2, err := Encode(p2)
		if err != nil || s1 != s2 {
			t.Fatalf("encode(decode(encode(p))) differs: %v", err)
		}
		_, _ = Inspect(p, WalletInfo{})
		_ = CheckWallet(p, WalletInfo{})
		_, _ = Extract(p)
		_ = FinalizePacket(p, WalletInfo{})
	})
}

// FuzzCombine: combining two decoded PSBTs never panics and what it
// returns serializes and decodes.
func FuzzCombine(f *testing.F) {
	seeds := vectorSeeds(f)
	for i, s := range seeds {
		f.Add(s, s)
		if i+1 < len(seeds) {
			f.Add(s, seeds[i+1])
		}
	}
	// Two cosigners' copies of one wallet PSBT: what Combine usually gets.
	tw, p, _ := newSpend(f, descriptor.ScriptWsh, 2, 3)
	a, b := clone(f, p), clone(f, p)
	tw.sign(f, a, 0)
	tw.sign(f, b, 2)
	f.Add(mustSerialize(f, a), mustSerialize(f, b))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		pa, err := Decode(a)
		if err != nil {
			return
		}
		pb, err := Decode(b)
		if err != nil {
			return
		}
		before := mustSerialize(t, pa)
		out, err := Combine([]*bpsbt.Packet{pa, pb}, WalletInfo{})
		if !bytes.Equal(before, mustSerialize(t, pa)) {
			t.Fatal("Combine changed its input")
		}
		if err != nil {
			if !errors.Is(err, ErrRefused) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		s, err := Encode(out)
		if err != nil {
			t.Fatalf("combined PSBT does not encode: %v", err)
		}
		if _, err := Decode([]byte(s)); err != nil {
			t.Fatalf("combined PSBT does not decode: %v", err)
		}
	})
}
