package trezor

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/tyler-smith/go-bip39"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	emu "github.com/countersign/countersign/hw/emulator/trezor"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/hw/transport"
	tp "github.com/countersign/countersign/hw/trezor/trezorproto"
	"github.com/countersign/countersign/psbt"
)

func TestOpenFingerprintAndInfo(t *testing.T) {
	r := newRig(t, emu.Config{Label: "treasury"}, Options{})
	want := newCosigner(t, mnemonics[0], nil).fp
	info := r.z.Info()
	if info.Fingerprint != hex.EncodeToString(want[:]) {
		t.Fatalf("Info().Fingerprint = %q, want %x (learned at Open without a prompt)", info.Fingerprint, want)
	}
	if info.Type != "trezor" || info.Model != "Trezor Model T" || info.Transport != "udp" || !info.Emulator {
		t.Errorf("Info() = %+v", info)
	}
	got, err := r.z.Fingerprint(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("Fingerprint = %x, want %x", got, want)
	}
	if f := r.z.Features(); f.Label != "treasury" || f.DeviceID == "" || f.MajorVersion != 2 {
		t.Errorf("Features = %+v", f)
	}
}

func TestXpubMatchesHdkeychain(t *testing.T) {
	r := newRig(t, emu.Config{}, Options{})
	ctx := testCtx(t)
	master, err := hdkeychain.NewMaster(bip39.NewSeed(mnemonics[0], ""), &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path []uint32
		net  *chaincfg.Params
	}{
		{[]uint32{48 + h, 1 + h, 0 + h, 2 + h}, &chaincfg.TestNet3Params},
		{[]uint32{48 + h, 0 + h, 0 + h, 2 + h}, &chaincfg.MainNetParams},
		{[]uint32{48 + h, 1 + h, 3 + h, 1 + h, 0, 7}, &chaincfg.TestNet3Params},
		{[]uint32{}, &chaincfg.MainNetParams},
	} {
		k := master
		for _, s := range tc.path {
			if k, err = k.Derive(s); err != nil {
				t.Fatal(err)
			}
		}
		k, _ = k.Neuter()
		k, _ = k.CloneWithVersion(tc.net.HDPublicKeyID[:])
		got, err := r.z.Xpub(ctx, tc.path)
		if err != nil {
			t.Fatalf("%s: %v", descriptor.Path(tc.path), err)
		}
		if got.String() != k.String() {
			t.Errorf("%s: Xpub = %s, want %s", descriptor.Path(tc.path), got, k)
		}
	}
}

func TestDisplayAddressMatchesDescriptor(t *testing.T) {
	var prompts []string
	var mu sync.Mutex
	r := newRig(t, emu.Config{}, Options{Prompt: func(s string) { mu.Lock(); prompts = append(prompts, s); mu.Unlock() }})
	ctx := testCtx(t)
	for _, st := range []descriptor.ScriptType{descriptor.ScriptWsh, descriptor.ScriptShWsh, descriptor.ScriptSh} {
		for _, sorted := range []bool{true, false} {
			w := newTestWallet(t, st, sorted)
			for _, pos := range [][2]uint32{{0, 0}, {0, 17}, {1, 3}} {
				der, err := w.desc.Derive(pos[0], pos[1], testNet)
				if err != nil {
					t.Fatal(err)
				}
				got, err := r.z.DisplayAddress(ctx, hwtest.Wallet(w.desc, testNet, "family"), pos[0], pos[1])
				if err != nil {
					t.Fatalf("%v sorted=%v %v: %v", st, sorted, pos, err)
				}
				if got != der.Address {
					t.Errorf("%v sorted=%v %v: device shows %s, descriptor derives %s", st, sorted, pos, got, der.Address)
				}
				screens := r.emu.Screens()
				if last := screens[len(screens)-1]; last.Kind != "address" || last.Address != der.Address {
					t.Errorf("device screen %+v, want address %s", last, der.Address)
				}
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(prompts) == 0 || !strings.Contains(prompts[0], "trezor 73c5da0a") || !strings.Contains(prompts[0], "family") {
		t.Errorf("prompts = %q", prompts)
	}
}

func TestDisplayAddressForeignWallet(t *testing.T) {
	r := newRig(t, emu.Config{Mnemonic: "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong"}, Options{})
	w := newTestWallet(t, descriptor.ScriptWsh, true)
	_, err := r.z.DisplayAddress(testCtx(t), hwtest.Wallet(w.desc, testNet, "x"), 0, 0)
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "none of the wallet's keys") {
		t.Fatalf("err = %v", err)
	}
}

// sighash computes input i's digest with txscript, independently of the
// driver's verifier.
func sighash(t *testing.T, p *bpsbt.Packet, i int) []byte {
	t.Helper()
	in := p.Inputs[i]
	f := txscript.NewMultiPrevOutFetcher(nil)
	for j, txIn := range p.UnsignedTx.TxIn {
		f.AddPrevOut(txIn.PreviousOutPoint, p.Inputs[j].NonWitnessUtxo.TxOut[txIn.PreviousOutPoint.Index])
	}
	prev := in.NonWitnessUtxo.TxOut[p.UnsignedTx.TxIn[i].PreviousOutPoint.Index]
	var d []byte
	var err error
	if in.WitnessScript != nil {
		d, err = txscript.CalcWitnessSigHash(in.WitnessScript, txscript.NewTxSigHashes(p.UnsignedTx, f), txscript.SigHashAll, p.UnsignedTx, i, prev.Value)
	} else {
		d, err = txscript.CalcSignatureHash(in.RedeemScript, txscript.SigHashAll, p.UnsignedTx, i)
	}
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSignMultisig(t *testing.T) {
	for _, tc := range []struct {
		st     descriptor.ScriptType
		sorted bool
	}{
		{descriptor.ScriptWsh, true},
		{descriptor.ScriptShWsh, true},
		{descriptor.ScriptSh, true},
		{descriptor.ScriptWsh, false},
	} {
		t.Run(tc.st.String()+map[bool]string{true: "-sorted", false: "-multi"}[tc.sorted], func(t *testing.T) {
			r := newRig(t, emu.Config{}, Options{})
			ctx := testCtx(t)
			w := newTestWallet(t, tc.st, tc.sorted)
			p := w.buildPSBT(t, 3, 4)
			before, _ := psbt.Serialize(p)
			signed, err := hwtest.Sign(ctx, r.z, p, w.desc, testNet, "family")
			if err != nil {
				t.Fatal(err)
			}
			if after, _ := psbt.Serialize(p); !bytes.Equal(before, after) {
				t.Fatal("Sign modified the caller's PSBT")
			}
			// The same key in software: RFC 6979 makes the signatures equal.
			soft, _ := bpsbt.NewFromRawBytes(bytes.NewReader(before), false)
			if n, err := psbt.Sign(soft, w.keys[0].master); err != nil || n != 3 {
				t.Fatalf("software signer: %d, %v", n, err)
			}
			own := w.keys[0]
			for i, in := range signed.Inputs {
				if len(in.PartialSigs) != 1 {
					t.Fatalf("input %d: %d partial signatures", i, len(in.PartialSigs))
				}
				ps := in.PartialSigs[0]
				var dv *bpsbt.Bip32Derivation
				for _, d := range in.Bip32Derivation {
					if bytes.Equal(d.PubKey, ps.PubKey) {
						dv = d
					}
				}
				if dv == nil || fpUint(own.fp) != dv.MasterKeyFingerprint {
					t.Fatalf("input %d: signed with %x, not the device's key", i, ps.PubKey)
				}
				key, _ := btcec.ParsePubKey(ps.PubKey)
				sig, err := ecdsa.ParseDERSignature(ps.Signature[:len(ps.Signature)-1])
				if err != nil || ps.Signature[len(ps.Signature)-1] != byte(txscript.SigHashAll) {
					t.Fatalf("input %d: signature %x: %v", i, ps.Signature, err)
				}
				if !sig.Verify(sighash(t, signed, i), key) {
					t.Fatalf("input %d: signature does not verify", i)
				}
				if !bytes.Equal(ps.Signature, soft.Inputs[i].PartialSigs[0].Signature) {
					t.Errorf("input %d: device signature %x, software signature %x", i, ps.Signature, soft.Inputs[i].PartialSigs[0].Signature)
				}
			}
			// A second cosigner in software, then finalize: btcd's script
			// engine runs every input.
			if n, err := psbt.Sign(signed, w.keys[1].master); err != nil || n != 3 {
				t.Fatalf("second signer: %d, %v", n, err)
			}
			if _, err := psbt.Finalize(signed, psbt.WalletInfo{Descriptor: w.desc, Network: testNet}); err != nil {
				t.Fatalf("finalize: %v", err)
			}
			// The device asked to confirm the payment and the total, not the
			// change.
			var kinds []string
			for _, s := range r.emu.Screens() {
				kinds = append(kinds, s.Kind)
				if s.Kind == "output" && s.Amount != signed.UnsignedTx.TxOut[0].Value && s.Amount != signed.UnsignedTx.TxOut[1].Value {
					t.Errorf("output screen %+v", s)
				}
			}
			if strings.Join(kinds, ",") != "output,total" {
				t.Errorf("screens %q, want output,total (change recognised)", kinds)
			}
		})
	}
}

func fpUint(fp [4]byte) uint32 {
	return uint32(fp[0]) | uint32(fp[1])<<8 | uint32(fp[2])<<16 | uint32(fp[3])<<24
}

func TestSignRejectedOnDevice(t *testing.T) {
	r := newRig(t, emu.Config{Approve: func(_ context.Context, s emu.Screen) bool { return s.Kind != "total" }}, Options{})
	w := newTestWallet(t, descriptor.ScriptWsh, true)
	_, err := hwtest.Sign(testCtx(t), r.z, w.buildPSBT(t, 2, 0), w.desc, testNet, "family")
	if !errors.Is(err, hw.ErrRejected) {
		t.Fatalf("err = %v, want ErrRejected", err)
	}
	if !strings.HasPrefix(err.Error(), "trezor 73c5da0a: ") {
		t.Errorf("error does not name the device: %v", err)
	}
	// The device is usable afterwards.
	if _, err := r.z.DisplayAddress(testCtx(t), hwtest.Wallet(w.desc, testNet, "family"), 0, 1); err != nil {
		t.Fatal(err)
	}
}

func TestWrongPIN(t *testing.T) {
	var e *emu.Emulator
	pin := "9999"
	var pinMu sync.Mutex
	opts := Options{PIN: func(ctx context.Context, kind PINKind) (string, error) {
		pinMu.Lock()
		p := pin
		pinMu.Unlock()
		return pinFor(e, p)(ctx, kind)
	}}
	r := newRig(t, emu.Config{PIN: "1234"}, opts)
	e = r.emu
	if r.z.Info().Fingerprint != "" {
		t.Fatal("a locked device's fingerprint was read at Open")
	}
	_, err := r.z.Fingerprint(testCtx(t))
	if !errors.Is(err, hw.ErrDevice) || errors.Is(err, hw.ErrRejected) || !strings.Contains(err.Error(), "wrong PIN") {
		t.Fatalf("err = %v, want ErrDevice with \"wrong PIN\"", err)
	}
	pinMu.Lock()
	pin = "1234"
	pinMu.Unlock()
	fp, err := r.z.Fingerprint(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := newCosigner(t, mnemonics[0], nil).fp; fp != want {
		t.Fatalf("fingerprint %x, want %x", fp, want)
	}
}

func TestLockedWithoutPINEntry(t *testing.T) {
	r := newRig(t, emu.Config{PIN: "1"}, Options{})
	_, err := r.z.Xpub(testCtx(t), []uint32{48 + h, 1 + h, 0 + h, 2 + h})
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "no PIN entry") {
		t.Fatalf("err = %v", err)
	}
	// The device got Cancel and is idle again.
	if _, err := r.z.Xpub(testCtx(t), []uint32{48 + h}); err == nil || !strings.Contains(err.Error(), "no PIN entry") {
		t.Fatalf("second try: %v", err)
	}
}

func TestPassphrase(t *testing.T) {
	r := newRig(t, emu.Config{PassphraseProtection: true}, Options{
		Passphrase: func(context.Context, bool) (string, bool, error) { return "TREZOR", false, nil },
	})
	got, err := r.z.Fingerprint(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := r.emu.Fingerprint("TREZOR")
	if got != want {
		t.Fatalf("fingerprint %x, want %x (the passphrase's wallet)", got, want)
	}
}

func TestBootloaderMode(t *testing.T) {
	e, err := emu.New(emu.Config{Mnemonic: mnemonics[0], Bootloader: true})
	if err != nil {
		t.Fatal(err)
	}
	host, dev := transport.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, dev) }()
	defer func() { cancel(); <-done }()
	_, err = Open(testCtx(t), host, Options{Endpoint: hw.Endpoint{Path: "usb-1"}})
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "bootloader mode") || !strings.Contains(err.Error(), "trezor at usb-1") {
		t.Fatalf("err = %v", err)
	}
}

// TestTHPOnlyDevice answers Initialize as a Trezor Safe 7 does: the fixed
// Failure_InvalidProtocol report of interface_context.py.
func TestTHPOnlyDevice(t *testing.T) {
	host, dev := transport.Pipe()
	go func() {
		ctx := context.Background()
		if _, err := dev.Read(ctx); err != nil {
			return
		}
		r := make([]byte, 64)
		copy(r, "?##\x00\x03\x00\x00\x00\x14\x08\x11")
		dev.Write(ctx, r)
	}()
	_, err := Open(testCtx(t), host, Options{})
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "Trezor-Host Protocol") || !strings.Contains(err.Error(), "not support") {
		t.Fatalf("err = %v", err)
	}
}

func TestCancelWhileWaitingForUser(t *testing.T) {
	release := make(chan struct{})
	r := newRig(t, emu.Config{Approve: func(ctx context.Context, s emu.Screen) bool {
		select {
		case <-ctx.Done():
			return false
		case <-release:
			return true
		}
	}}, Options{})
	defer close(release)
	w := newTestWallet(t, descriptor.ScriptWsh, true)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := r.z.DisplayAddress(ctx, hwtest.Wallet(w.desc, testNet, "x"), 0, 0)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
	// The driver sent Cancel and resynchronises: the next request works.
	k, err := r.z.Xpub(testCtx(t), []uint32{48 + h, 1 + h, 0 + h, 2 + h})
	if err != nil {
		t.Fatal(err)
	}
	if k.String() != w.keys[0].account.String() {
		t.Fatalf("xpub after resync %s", k)
	}
	if r.z.Stats().Resyncs != 1 {
		t.Errorf("resyncs = %d", r.z.Stats().Resyncs)
	}
}

func TestSignRefusesForeignInputs(t *testing.T) {
	r := newRig(t, emu.Config{Mnemonic: "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong"}, Options{})
	w := newTestWallet(t, descriptor.ScriptWsh, true)
	p := w.buildPSBT(t, 1, 0)
	// The adapter refuses a signer that holds no key of the inputs ...
	_, err := hwtest.Sign(testCtx(t), r.z, p, w.desc, testNet, "x")
	if !errors.Is(err, hw.ErrMismatch) || !strings.Contains(err.Error(), "holds no key of any input") {
		t.Fatalf("adapter: %v", err)
	}
	// ... and the driver on its own refuses it too.
	_, err = r.z.SignPSBT(testCtx(t), p, hwtest.Wallet(w.desc, testNet, "x"))
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "no key of this Trezor") {
		t.Fatalf("driver: %v", err)
	}
}

func TestSignNeedsPrevTx(t *testing.T) {
	r := newRig(t, emu.Config{}, Options{})
	w := newTestWallet(t, descriptor.ScriptWsh, true)
	p := w.buildPSBT(t, 2, 0)
	p.Inputs[1].NonWitnessUtxo = nil
	_, err := hwtest.Sign(testCtx(t), r.z, p, w.desc, testNet, "x")
	if err == nil || !strings.Contains(err.Error(), "non_witness_utxo") {
		t.Fatalf("err = %v", err)
	}
}

// TestSignCountsMessages signs a 50-input PSBT and reports the traffic:
// each previous transaction is streamed exactly once (meta, its inputs,
// its outputs).
func TestSignCountsMessages(t *testing.T) {
	if testing.Short() {
		t.Skip("50-input signing in -short mode")
	}
	const n = 50
	r := newRig(t, emu.Config{}, Options{})
	w := newTestWallet(t, descriptor.ScriptWsh, true)
	p := w.buildPSBT(t, n, 0)
	s0, e0 := r.z.Stats(), r.emu.Stats()
	signed, err := hwtest.Sign(testCtx(t), r.z, p, w.desc, testNet, "family")
	if err != nil {
		t.Fatal(err)
	}
	for i := range signed.Inputs {
		if len(signed.Inputs[i].PartialSigs) != 1 {
			t.Fatalf("input %d not signed", i)
		}
	}
	s, e := r.z.Stats(), r.emu.Stats()
	if got := e.PrevTxStreamed - e0.PrevTxStreamed; got != n {
		t.Errorf("previous transactions streamed %d times, want %d", got, n)
	}
	acks := s.Sent[tp.TypeTxAck] - s0.Sent[tp.TypeTxAck]
	nOut := len(p.UnsignedTx.TxOut)
	// inputs + outputs, then per previous tx: meta + 1 input + 2 outputs,
	// then each segwit input once more to sign.
	if want := n + nOut + n*(1+1+2) + n; acks != want {
		t.Errorf("TxAck messages = %d, want %d", acks, want)
	}
	out := s.MessagesOut - s0.MessagesOut
	in := s.MessagesIn - s0.MessagesIn
	t.Logf("signing %d inputs, %d outputs: %d messages to the device, %d from it (%d TxAck, %d reports)", n, nOut, out, in, acks, s.ReportsOut-s0.ReportsOut+s.ReportsIn-s0.ReportsIn)
}

func BenchmarkSign50Inputs(b *testing.B) {
	const n = 50
	r := newRig(b, emu.Config{}, Options{})
	w := newTestWallet(b, descriptor.ScriptWsh, true)
	p := w.buildPSBT(b, n, 0)
	ctx := context.Background()
	s0 := r.z.Stats()
	ops := 0
	for b.Loop() {
		if _, err := hwtest.Sign(ctx, r.z, p, w.desc, testNet, "bench"); err != nil {
			b.Fatal(err)
		}
		ops++
	}
	s := r.z.Stats()
	b.ReportMetric(float64(s.MessagesOut+s.MessagesIn-s0.MessagesOut-s0.MessagesIn)/float64(ops), "messages/op")
	b.ReportMetric(float64(s.ReportsOut+s.ReportsIn-s0.ReportsOut-s0.ReportsIn)/float64(ops), "reports/op")
}
