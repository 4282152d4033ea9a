package psbt

import (
	"context"
	"errors"
	"testing"
)

// taprootSeeds are a taproot wallet PSBT at each stage: unsigned, one leaf
// signature, all MuSig2 nonces, all partial signatures, finalized.
func taprootSeeds(f testing.TB) (*testWallet, [][]byte) {
	tw := newTapWallet(f, 2, 3)
	p, _, err := Build(BuildRequest{
		Wallet:       tw.info,
		UTXOs:        []UTXO{tw.utxo(f, 0, 3, 40_000_000, 1)},
		Outputs:      []Output{{Script: externalScript(7), Value: 30_000_000}},
		FeeRate:      4,
		ChangeBranch: 1, ChangeIndex: 2,
		Rand: seeded(1),
	})
	if err != nil {
		f.Fatal(err)
	}
	seeds := [][]byte{mustSerialize(f, p)}
	tw.sign(f, p, 1)
	seeds = append(seeds, mustSerialize(f, p))
	stores := []*memNonces{{}, {}, {}}
	for round := 0; round < 2; round++ {
		for k := range 3 {
			if _, err := SignMuSig2(context.Background(), p, tw.masters[k], stores[k]); err != nil {
				f.Fatal(err)
			}
		}
		seeds = append(seeds, mustSerialize(f, p))
	}
	if err := FinalizePacket(p, tw.info); err != nil {
		f.Fatal(err)
	}
	return tw, append(seeds, mustSerialize(f, p))
}

// FuzzTaprootPSBT: the taproot paths (BIP-371 leaf and derivation records,
// tapscript parsing, BIP-373 MuSig2 records) never panic on a decoded PSBT
// checked against a taproot wallet: the gate, inspect, both signers and
// the finalizer. Refusals wrap ErrRefused or ErrMalformed. The committed
// corpus (testdata/fuzz/FuzzTaprootPSBT) holds the taprootSeeds stages.
// With -short the signers are left out: under -fuzz the full body has
// been seen to stall after a few executions on this machine (cause not
// found yet; the seeds and 20,000 random mutations run in milliseconds).
func FuzzTaprootPSBT(f *testing.F) {
	tw, seeds := taprootSeeds(f)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode(data)
		if err != nil {
			return
		}
		_, _ = Gate(p, tw.info, GateRules{VerifySignatures: true})
		_, _ = Inspect(p, tw.info)
		_ = FinalizePacket(clone(t, p), tw.info)
		if testing.Short() {
			return
		}
		if _, err := Sign(clone(t, p), tw.masters[0]); err != nil && !errors.Is(err, ErrRefused) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("Sign: error without ErrRefused/ErrMalformed: %v", err)
		}
		_, _ = SignMuSig2(context.Background(), clone(t, p), tw.masters[1], &memNonces{})
	})
}
