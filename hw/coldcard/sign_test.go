package coldcard

import (
	"strings"
	"testing"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	emu "github.com/countersign/countersign/hw/emulator/coldcard"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/psbt"
)

// The driver carries into the next pass only what the device signed for
// its own keys, for this transaction; verifying each signature is the
// adapter's job (hw.Signer, tested in package hw).
func TestCopySignaturesRefusesForeignResults(t *testing.T) {
	r := newRig(t, emu.Config{}, Options{})
	ctx := testCtx(t)
	if _, err := r.cc.Register(ctx, hwtest.Wallet(r.w.desc, testNet, "treasury")); err != nil {
		t.Fatal(err)
	}
	p := r.w.buildPSBT(t, psbtSpec{inputs: 2})
	good, err := hwtest.Sign(ctx, r.cc, p, r.w.desc, testNet, "treasury")
	if err != nil {
		t.Fatal(err)
	}
	fp := r.w.keys[0].fp
	cases := []struct {
		name   string
		change func(*bpsbt.Packet)
		want   string
	}{
		{"signature for a cosigner's key", func(q *bpsbt.Packet) {
			for _, d := range q.Inputs[0].Bip32Derivation {
				if d.MasterKeyFingerprint != fpUint(fp) {
					q.Inputs[0].PartialSigs[0].PubKey = d.PubKey
				}
			}
		}, "does not derive from fingerprint"},
		{"another transaction", func(q *bpsbt.Packet) { q.UnsignedTx.LockTime++ }, "different transaction"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad, _ := psbt.Clone(good)
			c.change(bad)
			dst, _ := psbt.Clone(p)
			_, err := copySignatures(dst, bad, fp)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
	dst, _ := psbt.Clone(p)
	added, err := copySignatures(dst, good, fp)
	if err != nil || added[0] != 1 || added[1] != 1 {
		t.Fatalf("good result: added %v, %v", added, err)
	}
	// Copying the same result again adds nothing.
	if added, err := copySignatures(dst, good, fp); err != nil || added[0]+added[1] != 0 {
		t.Fatalf("second copy: added %v, %v", added, err)
	}
}

func TestNeedsAnotherPass(t *testing.T) {
	w := newTestWallet(t, mnemonics...)
	p := w.buildPSBT(t, psbtSpec{inputs: 1})
	fp := w.keys[0].fp
	in := &p.Inputs[0]
	// Pretend a second key of the input belongs to the device too (same
	// fingerprint): after one signature it still needs another pass.
	var mine []*bpsbt.Bip32Derivation
	for _, d := range in.Bip32Derivation {
		if d.MasterKeyFingerprint == fpUint(fp) {
			mine = append(mine, d)
		}
	}
	other := in.Bip32Derivation[0]
	if other == mine[0] {
		other = in.Bip32Derivation[1]
	}
	other.MasterKeyFingerprint = fpUint(fp)
	in.PartialSigs = []*bpsbt.PartialSig{{PubKey: mine[0].PubKey, Signature: []byte{1}}}
	if !needsAnotherPass(p, fp, []int{1}) {
		t.Fatal("one of two device keys signed: want another pass")
	}
	if needsAnotherPass(p, fp, []int{0}) {
		t.Fatal("no progress in the pass: want no other pass")
	}
	in.PartialSigs = append(in.PartialSigs, &bpsbt.PartialSig{PubKey: []byte{2}, Signature: []byte{1}})
	if needsAnotherPass(p, fp, []int{1}) {
		t.Fatal("2 of 2 required signatures present: want no other pass")
	}
}
