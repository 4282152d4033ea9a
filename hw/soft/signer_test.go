package soft_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/hw/soft"
	"github.com/countersign/countersign/internal/bip137"
	"github.com/countersign/countersign/psbt"
)

var (
	regtest     = &chaincfg.RegressionNetParams
	accountPath = []uint32{48 + h, 1 + h, 0 + h, 2 + h}
)

// keyExpr is a descriptor key expression [fp/48h/1h/0h/2h]tpub/<0;1>/* for
// the signer's account key.
func keyExpr(t *testing.T, sg hw.Device) string {
	t.Helper()
	ctx := context.Background()
	fp, err := sg.Fingerprint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	x, err := sg.Xpub(ctx, accountPath)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("[%x/48h/1h/0h/2h]%s/<0;1>/*", fp, x)
}

// parseWallet parses a 2-of-n wsh(sortedmulti) of the given key expressions.
func parseWallet(t *testing.T, keys ...string) *descriptor.Descriptor {
	t.Helper()
	d, err := descriptor.Parse("wsh(sortedmulti(2," + strings.Join(keys, ",") + "))")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func buildPSBT(t *testing.T, d *descriptor.Descriptor) (*bpsbt.Packet, *wire.MsgTx) {
	return hwtest.BuildPSBT(t, d, regtest)
}

// execute finalizes p and runs the spend through btcd's script engine.
func execute(t *testing.T, p *bpsbt.Packet, prev *wire.MsgTx) {
	t.Helper()
	if err := bpsbt.MaybeFinalizeAll(p); err != nil {
		t.Fatalf("finalize: %v", err)
	}
	tx, err := bpsbt.Extract(p)
	if err != nil {
		t.Fatal(err)
	}
	fetcher := txscript.NewCannedPrevOutputFetcher(prev.TxOut[0].PkScript, prev.TxOut[0].Value)
	vm, err := txscript.NewEngine(prev.TxOut[0].PkScript, tx, 0, txscript.StandardVerifyFlags, nil,
		txscript.NewTxSigHashes(tx, fetcher), prev.TxOut[0].Value, fetcher)
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.Execute(); err != nil {
		t.Fatalf("the signed transaction does not verify: %v", err)
	}
}

type cosigners struct {
	alice, bob, mallory *soft.Signer
	carol               string // a key expression of a key held elsewhere
	d                   *descriptor.Descriptor
}

func newCosigners(t *testing.T) *cosigners {
	t.Helper()
	s := newStore(t)
	for _, n := range []string{"alice", "bob", "mallory"} {
		if _, _, err := s.Generate(n, 12, regtest, testPass); err != nil {
			t.Fatal(err)
		}
	}
	seed, _ := hex.DecodeString("fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542")
	carolMaster, err := hdkeychain.NewMaster(seed, regtest)
	if err != nil {
		t.Fatal(err)
	}
	carol, err := s.Import("carol", carolMaster.String(), "", regtest, testPass)
	if err != nil {
		t.Fatal(err)
	}
	c := &cosigners{alice: open(t, s, "alice"), bob: open(t, s, "bob"), mallory: open(t, s, "mallory")}
	c.carol = keyExpr(t, open(t, s, carol.Name))
	c.d = parseWallet(t, keyExpr(t, c.alice), keyExpr(t, c.bob), c.carol)
	return c
}

func sigCount(p *bpsbt.Packet) int {
	n := 0
	for _, in := range p.Inputs {
		n += len(in.PartialSigs)
	}
	return n
}

func TestSignTwoOfThree(t *testing.T) {
	c := newCosigners(t)
	ctx := context.Background()
	p, prev := buildPSBT(t, c.d)

	p1, err := hwtest.Sign(ctx, c.alice, p, c.d, regtest, "family")
	if err != nil {
		t.Fatal(err)
	}
	if sigCount(p) != 0 {
		t.Fatal("Sign changed the caller's packet")
	}
	if sigCount(p1) != 1 {
		t.Fatalf("alice added %d signatures, want 1", sigCount(p1))
	}
	p2, err := hwtest.Sign(ctx, c.bob, p1, c.d, regtest, "family")
	if err != nil {
		t.Fatal(err)
	}
	if sigCount(p2) != 2 {
		t.Fatalf("after bob: %d signatures, want 2", sigCount(p2))
	}
	execute(t, p2, prev)
}

func TestSignRefusals(t *testing.T) {
	c := newCosigners(t)
	ctx := context.Background()

	t.Run("not a cosigner", func(t *testing.T) {
		p, _ := buildPSBT(t, c.d)
		fp, _ := c.mallory.Fingerprint(ctx)
		_, err := hwtest.Sign(ctx, c.mallory, p, c.d, regtest, "family")
		want := fmt.Sprintf("software key mallory (fingerprint %x) holds no key of any input of this PSBT: it is not a cosigner", fp)
		if !errors.Is(err, psbt.ErrRefused) || !strings.Contains(err.Error(), want) {
			t.Fatalf("mallory signs: %v; want ErrRefused saying %q", err, want)
		}
	})
	t.Run("wrong network", func(t *testing.T) {
		p, _ := buildPSBT(t, c.d)
		if _, err := hwtest.Sign(ctx, c.alice, p, c.d, &chaincfg.MainNetParams, "family"); !errors.Is(err, psbt.ErrRefused) {
			t.Fatalf("regtest key signing for mainnet: %v, want ErrRefused", err)
		}
	})
	t.Run("fingerprint without the key", func(t *testing.T) {
		// alice's fingerprint and path, but bob's xpub.
		a, b := keyExpr(t, c.alice), keyExpr(t, c.bob)
		forged := a[:strings.Index(a, "]")+1] + b[strings.Index(b, "]")+1:]
		d := parseWallet(t, forged, c.carol)
		p, _ := buildPSBT(t, d)
		_, err := hwtest.Sign(ctx, c.alice, p, d, regtest, "family")
		if !errors.Is(err, psbt.ErrRefused) || !strings.Contains(err.Error(), "not the key found there") {
			t.Fatalf("signing for a forged key: %v", err)
		}
	})
	t.Run("psbt the wallet cannot explain", func(t *testing.T) {
		p, _ := buildPSBT(t, c.d)
		p.Inputs[0].NonWitnessUtxo = nil
		if _, err := hwtest.Sign(ctx, c.alice, p, c.d, regtest, "family"); !errors.Is(err, psbt.ErrRefused) {
			t.Fatalf("signing without non_witness_utxo: %v, want ErrRefused", err)
		}
		p, _ = buildPSBT(t, c.d)
		p.Inputs[0].WitnessScript = append([]byte{txscript.OP_DROP}, p.Inputs[0].WitnessScript...)
		if _, err := hwtest.Sign(ctx, c.alice, p, c.d, regtest, "family"); !errors.Is(err, psbt.ErrRefused) {
			t.Fatalf("signing a changed witness script: %v, want ErrRefused", err)
		}
	})
	t.Run("nothing to sign", func(t *testing.T) {
		p, _ := buildPSBT(t, c.d)
		fp, _ := c.alice.Fingerprint(ctx)
		var keep []*bpsbt.Bip32Derivation
		for _, d := range p.Inputs[0].Bip32Derivation {
			if d.MasterKeyFingerprint != binary.LittleEndian.Uint32(fp[:]) {
				keep = append(keep, d)
			}
		}
		p.Inputs[0].Bip32Derivation = keep
		out, err := hwtest.Sign(ctx, c.alice, p, c.d, regtest, "family")
		if err == nil || out != nil || !(errors.Is(err, hw.ErrDevice) || errors.Is(err, psbt.ErrRefused)) {
			t.Fatalf("signing a PSBT without alice's derivation: %v, %v; want an error", out, err)
		}
	})
	t.Run("no packet", func(t *testing.T) {
		if _, err := hwtest.Sign(ctx, c.alice, nil, c.d, regtest, "family"); !errors.Is(err, psbt.ErrMalformed) {
			t.Fatalf("Sign(nil): %v", err)
		}
		p, _ := buildPSBT(t, c.d)
		if _, err := hwtest.Sign(ctx, c.alice, p, nil, regtest, "family"); err == nil {
			t.Fatal("Sign without a descriptor succeeded")
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		p, _ := buildPSBT(t, c.d)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := hwtest.Sign(cctx, c.alice, p, c.d, regtest, "family"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Sign with a cancelled context: %v", err)
		}
	})
}

func TestDisplayAddressAndRegister(t *testing.T) {
	c := newCosigners(t)
	ctx := context.Background()
	want, err := c.d.Derive(1, 5, regtest)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.alice.DisplayAddress(ctx, hwtest.Wallet(c.d, regtest, "family"), 1, 5)
	if err != nil || got != want.Address {
		t.Fatalf("DisplayAddress = %q, %v; want %q", got, err, want.Address)
	}
	if _, err := c.mallory.DisplayAddress(ctx, hwtest.Wallet(c.d, regtest, "family"), 1, 5); !errors.Is(err, psbt.ErrRefused) {
		t.Fatalf("DisplayAddress by a non-cosigner: %v, want ErrRefused", err)
	}
	if tok, err := c.alice.Register(ctx, hwtest.Wallet(c.d, regtest, "family")); tok != nil || err != nil {
		t.Fatalf("Register = %v, %v; want nil, nil", tok, err)
	}
}

// TestSignMessage: the signature verifies (BIP-137) for the P2PKH address
// of the master key, whose HASH160 starts with the key's fingerprint; a
// closed key signs nothing.
func TestSignMessage(t *testing.T) {
	c := newCosigners(t)
	ctx := context.Background()
	addr, sig, err := c.alice.SignMessage(ctx, "countersign journal entry 7 head 00ff")
	if err != nil {
		t.Fatal(err)
	}
	if err := bip137.Verify(addr, sig, "countersign journal entry 7 head 00ff", regtest); err != nil {
		t.Fatal(err)
	}
	a, err := btcutil.DecodeAddress(addr, regtest)
	if err != nil {
		t.Fatal(err)
	}
	fp, _ := c.alice.Fingerprint(ctx)
	if _, ok := a.(*btcutil.AddressPubKeyHash); !ok || !bytes.Equal(a.ScriptAddress()[:4], fp[:]) {
		t.Fatalf("address %s does not carry fingerprint %x", addr, fp)
	}
	c.alice.Close()
	if _, _, err := c.alice.SignMessage(ctx, "x"); !errors.Is(err, soft.ErrClosed) {
		t.Fatalf("closed key: %v", err)
	}
}
