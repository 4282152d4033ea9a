package coldcard

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	emu "github.com/countersign/countersign/hw/emulator/coldcard"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/psbt"
)

func TestFingerprintAndXpub(t *testing.T) {
	r := newRig(t, emu.Config{}, Options{})
	ctx := testCtx(t)
	want := newCosigner(t, mnemonics[0])
	fp, err := r.cc.Fingerprint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fp != want.fp || fp != r.emu.Fingerprint() {
		t.Fatalf("fingerprint %x, want %x", fp, want.fp)
	}
	if got := r.cc.Info().Fingerprint; got != "73c5da0a" {
		t.Fatalf("Info().Fingerprint = %q, want the BIP-39 vector's 73c5da0a", got)
	}
	x, err := r.cc.Xpub(ctx, accountPath)
	if err != nil {
		t.Fatal(err)
	}
	if x.String() != want.account.String() {
		t.Fatalf("xpub at m/48'/1'/0'/2':\n got %s\nwant %s", x, want.account)
	}
}

func TestRegisterShowAddressSign(t *testing.T) {
	var prompts []string
	r := newRig(t, emu.Config{}, Options{Prompt: func(m string) { prompts = append(prompts, m) }})
	ctx := testCtx(t)
	w := r.w

	if _, err := r.cc.Register(ctx, hwtest.Wallet(w.desc, testNet, "treasury")); err != nil {
		t.Fatal(err)
	}
	if got := r.emu.Wallets(); len(got) != 1 || got[0] != "treasury" {
		t.Fatalf("emulator wallets %q", got)
	}
	if len(prompts) != 1 || !strings.Contains(prompts[0], "2-of-3 wallet \"treasury\"") {
		t.Fatalf("prompts %q", prompts)
	}
	// Registering again finds the wallet and does not offer it twice.
	before := r.cc.Stats().RoundTrips
	if _, err := r.cc.Register(ctx, hwtest.Wallet(w.desc, testNet, "treasury")); err != nil {
		t.Fatal(err)
	}
	if got := r.emu.Wallets(); len(got) != 1 {
		t.Fatalf("second Register enrolled again: %q", got)
	}
	if n := r.cc.Stats().RoundTrips - before; n != 2 {
		t.Fatalf("second Register took %d round trips, want 2 (msck, p2sh)", n)
	}

	for _, pos := range [][2]uint32{{0, 0}, {0, 5}, {1, 3}} {
		ws, _ := w.script(t, pos[0], pos[1])
		want, _, _ := w.address(t, ws)
		got, err := r.cc.DisplayAddress(ctx, hwtest.Wallet(w.desc, testNet, "treasury"), pos[0], pos[1])
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("address %d/%d = %s, want %s", pos[0], pos[1], got, want)
		}
	}

	p := w.buildPSBT(t, psbtSpec{inputs: 2, changeIndex: 4})
	orig, _ := serialize(p)
	signed, err := hwtest.Sign(ctx, r.cc, p, w.desc, testNet, "treasury")
	if err != nil {
		t.Fatal(err)
	}
	if now, _ := serialize(p); !bytes.Equal(now, orig) {
		t.Fatal("Sign modified the caller's packet")
	}
	checkSigned(t, signed, p, w.keys[0].fp)
}

// checkSigned verifies that signed is p plus exactly one valid signature per
// input, by the key of fingerprint fp, checked with ecdsa.Verify over the
// BIP-143 sighash (legacy sighash for P2SH) computed here.
func checkSigned(t *testing.T, signed, p *bpsbt.Packet, fp [4]byte) {
	t.Helper()
	if signed.UnsignedTx.TxHash() != p.UnsignedTx.TxHash() {
		t.Fatal("signed PSBT is for another transaction")
	}
	prev := map[wire.OutPoint]*wire.TxOut{}
	for i, in := range p.Inputs {
		op := p.UnsignedTx.TxIn[i].PreviousOutPoint
		prev[op] = in.NonWitnessUtxo.TxOut[op.Index]
	}
	hashes := txscript.NewTxSigHashes(p.UnsignedTx, txscript.NewMultiPrevOutFetcher(prev))
	for i, in := range signed.Inputs {
		if len(in.PartialSigs) != 1 {
			t.Fatalf("input %d: %d partial signatures, want 1", i, len(in.PartialSigs))
		}
		ps := in.PartialSigs[0]
		var mine bool
		for _, d := range p.Inputs[i].Bip32Derivation {
			mine = mine || bytes.Equal(d.PubKey, ps.PubKey) && d.MasterKeyFingerprint == fpUint(fp)
		}
		if !mine {
			t.Fatalf("input %d: signature by %x, not the device's key", i, ps.PubKey)
		}
		if ps.Signature[len(ps.Signature)-1] != byte(txscript.SigHashAll) {
			t.Fatalf("input %d: sighash byte %x", i, ps.Signature[len(ps.Signature)-1])
		}
		var digest []byte
		var err error
		if ws := p.Inputs[i].WitnessScript; ws != nil {
			digest, err = txscript.CalcWitnessSigHash(ws, hashes, txscript.SigHashAll, p.UnsignedTx, i, prev[p.UnsignedTx.TxIn[i].PreviousOutPoint].Value)
		} else {
			digest, err = txscript.CalcSignatureHash(p.Inputs[i].RedeemScript, txscript.SigHashAll, p.UnsignedTx, i)
		}
		if err != nil {
			t.Fatal(err)
		}
		sig, err := ecdsa.ParseDERSignature(ps.Signature[:len(ps.Signature)-1])
		if err != nil {
			t.Fatal(err)
		}
		pub, err := btcec.ParsePubKey(ps.PubKey)
		if err != nil {
			t.Fatal(err)
		}
		if !sig.Verify(digest, pub) {
			t.Fatalf("input %d: signature does not verify over the BIP-143 sighash", i)
		}
	}
	// Everything but the signatures is the caller's data.
	bare, err := psbt.Clone(signed)
	if err != nil {
		t.Fatal(err)
	}
	for i := range bare.Inputs {
		bare.Inputs[i].PartialSigs = nil
	}
	a, _ := serialize(bare)
	b, _ := serialize(p)
	if !bytes.Equal(a, b) {
		t.Fatal("the signed packet differs from the input beyond its partial signatures")
	}
}

func TestUserRejects(t *testing.T) {
	r := newRig(t, emu.Config{Approve: func(context.Context, emu.Request) bool { return false }}, Options{})
	ctx := testCtx(t)
	_, err := r.cc.Register(ctx, hwtest.Wallet(r.w.desc, testNet, "treasury"))
	if !errors.Is(err, hw.ErrRejected) {
		t.Fatalf("Register: %v, want ErrRejected", err)
	}
	if !strings.HasPrefix(err.Error(), "coldcard 73C5DA0A: ") {
		t.Fatalf("error does not name the device: %v", err)
	}
	if len(r.emu.Wallets()) != 0 {
		t.Fatal("refused wallet was saved")
	}
}

func TestSignRejected(t *testing.T) {
	approve := true
	r := newRig(t, emu.Config{Approve: func(_ context.Context, q emu.Request) bool { return q.Kind == "enroll" || approve }}, Options{})
	ctx := testCtx(t)
	if _, err := r.cc.Register(ctx, hwtest.Wallet(r.w.desc, testNet, "treasury")); err != nil {
		t.Fatal(err)
	}
	approve = false
	_, err := hwtest.Sign(ctx, r.cc, r.w.buildPSBT(t, psbtSpec{inputs: 1}), r.w.desc, testNet, "treasury")
	if !errors.Is(err, hw.ErrRejected) {
		t.Fatalf("Sign: %v, want ErrRejected", err)
	}
}

func TestNotRegistered(t *testing.T) {
	r := newRig(t, emu.Config{}, Options{})
	ctx := testCtx(t)
	p := r.w.buildPSBT(t, psbtSpec{inputs: 1})
	// Without a descriptor the driver skips its own check and the device
	// refuses the inputs itself (the driver alone, without the adapter).
	_, err := r.cc.SignPSBT(ctx, clonePSBT(t, p), hwtest.Wallet(nil, testNet, "treasury"))
	if !errors.Is(err, hw.ErrNotRegistered) || !strings.Contains(err.Error(), "Unknown multisig wallet") {
		t.Fatalf("Sign on the device: %v, want ErrNotRegistered from the device", err)
	}
	_, err = hwtest.Sign(ctx, r.cc, p, r.w.desc, testNet, "treasury")
	if !errors.Is(err, hw.ErrNotRegistered) {
		t.Fatalf("Sign with descriptor: %v, want ErrNotRegistered", err)
	}
	_, err = r.cc.DisplayAddress(ctx, hwtest.Wallet(r.w.desc, testNet, "treasury"), 0, 0)
	if !errors.Is(err, hw.ErrNotRegistered) {
		t.Fatalf("DisplayAddress: %v, want ErrNotRegistered", err)
	}
}

func TestSwappedChangeRefused(t *testing.T) {
	r := newRig(t, emu.Config{}, Options{})
	ctx := testCtx(t)
	if _, err := r.cc.Register(ctx, hwtest.Wallet(r.w.desc, testNet, "treasury")); err != nil {
		t.Fatal(err)
	}
	// The change output pays a wallet where the attacker replaced two
	// cosigners, while its derivations still claim the real wallet.
	thief := newTestWallet(t, mnemonics[0], "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong", "all all all all all all all all all all all all")
	p := r.w.buildPSBT(t, psbtSpec{inputs: 1, changeFrom: thief})
	// The adapter refuses it before the device sees it ...
	if _, err := hwtest.Sign(ctx, r.cc, p, r.w.desc, testNet, "treasury"); !errors.Is(err, psbt.ErrRefused) {
		t.Fatalf("adapter: %v, want ErrRefused", err)
	}
	// ... and the device refuses it on its own too.
	_, err := r.cc.SignPSBT(ctx, clonePSBT(t, p), hwtest.Wallet(r.w.desc, testNet, "treasury"))
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "Output#1") {
		t.Fatalf("Sign with swapped change: %v, want the device's change refusal", err)
	}
}

func TestWrongNetwork(t *testing.T) {
	r := newRig(t, emu.Config{}, Options{})
	ctx := testCtx(t)
	_, err := r.cc.DisplayAddress(ctx, hwtest.Wallet(r.w.desc, &chaincfg.MainNetParams, "x"), 0, 0)
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "set to testnet") {
		t.Fatalf("%v", err)
	}
}

// The nested-segwit and legacy P2SH wallets go through the same steps.
func TestScriptTypes(t *testing.T) {
	for _, st := range []descriptor.ScriptType{descriptor.ScriptShWsh, descriptor.ScriptSh} {
		t.Run(st.String(), func(t *testing.T) {
			r := newRig(t, emu.Config{}, Options{})
			ctx := testCtx(t)
			w := newTestWalletOf(t, st, mnemonics...)
			if _, err := r.cc.Register(ctx, hwtest.Wallet(w.desc, testNet, "nested")); err != nil {
				t.Fatal(err)
			}
			ms, _ := w.script(t, 1, 2)
			want, _, _ := w.address(t, ms)
			got, err := r.cc.DisplayAddress(ctx, hwtest.Wallet(w.desc, testNet, "nested"), 1, 2)
			if err != nil || got != want {
				t.Fatalf("address %q %v, want %s", got, err, want)
			}
			p := w.buildPSBT(t, psbtSpec{inputs: 2, changeIndex: 3})
			signed, err := hwtest.Sign(ctx, r.cc, p, w.desc, testNet, "nested")
			if err != nil {
				t.Fatal(err)
			}
			checkSigned(t, signed, p, w.keys[0].fp)
		})
	}
}

// Missing arguments are errors, not panics.
func TestNilArguments(t *testing.T) {
	r := newRig(t, emu.Config{}, Options{})
	ctx := testCtx(t)
	if _, err := r.cc.DisplayAddress(ctx, hwtest.Wallet(r.w.desc, nil, "x"), 0, 0); err == nil {
		t.Error("nil network accepted")
	}
	if _, err := r.cc.Register(ctx, hwtest.Wallet(nil, testNet, "x")); err == nil {
		t.Error("nil descriptor accepted")
	}
	if _, err := hwtest.Sign(ctx, r.cc, nil, r.w.desc, testNet, "x"); err == nil {
		t.Error("nil PSBT accepted")
	}
	if _, err := hwtest.Sign(ctx, r.cc, r.w.buildPSBT(t, psbtSpec{inputs: 1}), r.w.desc, nil, "x"); err == nil {
		t.Error("nil network accepted for signing")
	}
}

func clonePSBT(t *testing.T, p *bpsbt.Packet) *bpsbt.Packet {
	t.Helper()
	c, err := psbt.Clone(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
