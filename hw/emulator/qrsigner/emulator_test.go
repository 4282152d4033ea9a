package qrsigner_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/tyler-smith/go-bip39"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	emu "github.com/countersign/countersign/hw/emulator/qrsigner"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/hw/qr/ur"
	driver "github.com/countersign/countersign/hw/qrsigner"
	"github.com/countersign/countersign/psbt"
)

// abandon is BIP-39's all-"abandon" test mnemonic; its master
// fingerprint 73c5da0a is published with BIP-84's test vectors.
const abandon = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

var testnet = &chaincfg.TestNet3Params

// setup is a 2-of-3 wallet of the emulator and two software keys.
type setup struct {
	e    *emu.Emulator
	log  *bytes.Buffer
	soft []*hdkeychain.ExtendedKey
	d    *descriptor.Descriptor
	w    *hw.Wallet
}

// newSetup makes the wallet of the given script type; the emulator's key
// comes from its own crypto-account export, read by countersign's UR
// decoder, and is checked against a derivation from the seed.
func newSetup(t *testing.T, script descriptor.ScriptType, register bool, cfg emu.Config) *setup {
	t.Helper()
	s := &setup{log: &bytes.Buffer{}}
	cfg.Mnemonic, cfg.Network, cfg.Log = abandon, testnet, s.log
	probe, err := emu.New(emu.Config{Mnemonic: abandon, Network: testnet})
	if err != nil {
		t.Fatal(err)
	}
	if fp := probe.Fingerprint(); fmt.Sprintf("%x", fp[:]) != "73c5da0a" {
		t.Fatalf("fingerprint %x, want BIP-84's 73c5da0a", fp)
	}
	acct, err := probe.AccountUR()
	if err != nil {
		t.Fatal(err)
	}
	u, err := ur.Decode(acct)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ur.DecodeAccount(u.CBOR)
	if err != nil {
		t.Fatal(err)
	}
	mine, err := a.Multisig(script)
	if err != nil {
		t.Fatal(err)
	}
	checkAccountKey(t, mine, script)
	keys := []string{mine.String() + "/<0;1>/*"}
	for i := range 2 {
		m, _ := hdkeychain.NewMaster(bytes.Repeat([]byte{byte(i + 1)}, 32), testnet)
		s.soft = append(s.soft, m)
		pub, _ := m.ECPubKey()
		k := m
		for _, st := range []uint32{48, 1, 0, 2} {
			k, _ = k.Derive(hdkeychain.HardenedKeyStart + st)
		}
		x, _ := k.Neuter()
		keys = append(keys, fmt.Sprintf("[%x/48h/1h/0h/2h]%s/<0;1>/*", btcutil.Hash160(pub.SerializeCompressed())[:4], x))
	}
	text := "sortedmulti(2," + strings.Join(keys, ",") + ")"
	switch script {
	case descriptor.ScriptWsh:
		text = "wsh(" + text + ")"
	case descriptor.ScriptShWsh:
		text = "sh(wsh(" + text + "))"
	default:
		text = "sh(" + text + ")"
	}
	if s.d, err = descriptor.Parse(text); err != nil {
		t.Fatal(err)
	}
	s.w = hwtest.Wallet(s.d, testnet, "vault")
	if register {
		cfg.Wallet = s.d.String()
	}
	if s.e, err = emu.New(cfg); err != nil {
		t.Fatal(err)
	}
	return s
}

// checkAccountKey derives the account key from the seed independently.
func checkAccountKey(t *testing.T, k descriptor.Key, script descriptor.ScriptType) {
	t.Helper()
	m, _ := hdkeychain.NewMaster(bip39.NewSeed(abandon, ""), testnet)
	h := uint32(hdkeychain.HardenedKeyStart)
	path := map[descriptor.ScriptType][]uint32{
		descriptor.ScriptSh:    {45 + h},
		descriptor.ScriptShWsh: {48 + h, 1 + h, h, 1 + h},
		descriptor.ScriptWsh:   {48 + h, 1 + h, h, 2 + h},
	}[script]
	for _, s := range path {
		m, _ = m.Derive(s)
	}
	x, _ := m.Neuter()
	if k.XPub.String() != x.String() || fmt.Sprint([]uint32(k.Origin.Path)) != fmt.Sprint(path) {
		t.Fatalf("crypto-account key %s, want %s at %v", k, x, path)
	}
}

// buildPSBT spends one coin at receive index 2 to an outside script with
// change at change index 5, as countersign's updater fills it: both UTXO
// fields for segwit, the previous transaction alone for P2SH, scripts and
// every cosigner's derivations.
func (s *setup) buildPSBT(t *testing.T) *bpsbt.Packet {
	t.Helper()
	recv, _ := s.d.Derive(0, 2, testnet)
	change, _ := s.d.Derive(1, 5, testnet)
	prev := wire.NewMsgTx(2)
	prev.AddTxIn(wire.NewTxIn(&wire.OutPoint{Index: 1}, nil, nil))
	prev.AddTxOut(wire.NewTxOut(7_000, []byte{txscript.OP_TRUE}))
	prev.AddTxOut(wire.NewTxOut(250_000, recv.ScriptPubKey))
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: prev.TxHash(), Index: 1}, nil, nil))
	tx.AddTxOut(wire.NewTxOut(100_000, append([]byte{txscript.OP_0, 20}, make([]byte, 20)...)))
	tx.AddTxOut(wire.NewTxOut(149_000, change.ScriptPubKey))
	p, err := bpsbt.NewFromUnsignedTx(tx)
	if err != nil {
		t.Fatal(err)
	}
	in := &p.Inputs[0]
	in.NonWitnessUtxo = prev
	if s.d.Script != descriptor.ScriptSh {
		in.WitnessUtxo = prev.TxOut[1]
	}
	in.RedeemScript, in.WitnessScript = recv.RedeemScript, recv.WitnessScript
	in.Bip32Derivation = hwtest.Derivations(recv)
	p.Outputs[1].RedeemScript, p.Outputs[1].WitnessScript = change.RedeemScript, change.WitnessScript
	p.Outputs[1].Bip32Derivation = hwtest.Derivations(change)
	return p
}

// roundTrip hands p to the emulator the way a user does: countersign's
// QR signer writes parts.txt, the emulator scans it (after the extra lines
// before it) and shows its answer, and countersign reads that answer as a
// scanner types it. It returns the adapter's result and the emulator's
// answer lines.
func (s *setup) roundTrip(t *testing.T, p *bpsbt.Packet, f driver.Format, before []string) (*hw.SignResult, string, error) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	_, err := hw.NewSigner(driver.New(driver.Options{Format: f, OutDir: dir, MaxFragment: 150})).Sign(ctx, p, s.w)
	if !errors.Is(err, hw.ErrPending) {
		t.Fatalf("handing over: %v", err)
	}
	parts, err := os.ReadFile(filepath.Join(dir, "parts.txt"))
	if err != nil {
		t.Fatal(err)
	}
	in := strings.Join(before, "\n") + "\n" + string(parts)
	var answer bytes.Buffer
	if err := s.e.Run(ctx, strings.NewReader(in), &answer); err != nil {
		t.Fatal(err)
	}
	res, err := hw.NewSigner(driver.New(driver.Options{Format: f, In: strings.NewReader(answer.String())})).Sign(ctx, p, s.w)
	return res, answer.String(), err
}

// TestSignsOverQRText: for every script type and both transports, the
// emulator's signature is taken by the adapter, which verifies it with
// countersign's own sighash; a software key's signature then completes
// the transaction, which finalizes.
func TestSignsOverQRText(t *testing.T) {
	for _, script := range []descriptor.ScriptType{descriptor.ScriptWsh, descriptor.ScriptShWsh, descriptor.ScriptSh} {
		for _, f := range []driver.Format{driver.UR, driver.BBQr} {
			t.Run(script.String()+"-"+f.String(), func(t *testing.T) {
				s := newSetup(t, script, true, emu.Config{})
				p := s.buildPSBT(t)
				res, answer, err := s.roundTrip(t, p, f, nil)
				if err != nil {
					t.Fatalf("%v\nemulator log:\n%s", err, s.log)
				}
				if res.Added != 1 {
					t.Fatalf("added %d", res.Added)
				}
				wantPrefix := map[driver.Format]string{driver.UR: "UR:CRYPTO-PSBT/", driver.BBQr: "B$"}[f]
				if !strings.HasPrefix(answer, wantPrefix) {
					t.Fatalf("answer in another transport: %.30q", answer)
				}
				if !strings.Contains(s.log.String(), "change") || !strings.Contains(s.log.String(), "Fee 0.00001000 BTC") {
					t.Errorf("screen:\n%s", s.log)
				}
				if n, err := psbt.Sign(res.PSBT, s.soft[0]); err != nil || n != 1 {
					t.Fatalf("software key: %d, %v", n, err)
				}
				if err := bpsbt.MaybeFinalizeAll(res.PSBT); err != nil {
					t.Fatalf("finalize: %v", err)
				}
			})
		}
	}
}

// TestRegisterThenSign: an emulator without a wallet refuses a PSBT; the
// wallet QR countersign shows for registration (crypto-output) teaches it
// the wallet, and the same PSBT is then signed.
func TestRegisterThenSign(t *testing.T) {
	s := newSetup(t, descriptor.ScriptWsh, false, emu.Config{})
	p := s.buildPSBT(t)
	if _, _, err := s.roundTrip(t, p, driver.UR, nil); !errors.Is(err, hw.ErrDevice) || !strings.Contains(s.log.String(), "no multisig wallet registered") {
		t.Fatalf("unregistered: %v\n%s", err, s.log)
	}
	dir := t.TempDir()
	if _, err := hw.NewSigner(driver.New(driver.Options{OutDir: dir})).Register(context.Background(), s.w); err != nil {
		t.Fatal(err)
	}
	reg, err := os.ReadFile(filepath.Join(dir, "parts.txt"))
	if err != nil {
		t.Fatal(err)
	}
	res, _, err := s.roundTrip(t, p, driver.UR, strings.Fields(string(reg)))
	if err != nil || res.Added != 1 {
		t.Fatalf("after registration: %v\n%s", err, s.log)
	}
	if !strings.Contains(s.log.String(), "registered wallet 2-of-3 wsh") {
		t.Errorf("log:\n%s", s.log)
	}
}

// TestRefusesBadPSBTs: a PSBT whose change is not the wallet's, whose
// input is not the wallet's, or that asks another sighash, is refused on
// the device with the reason, and nothing comes back; so is any PSBT in
// reject mode.
func TestRefusesBadPSBTs(t *testing.T) {
	// Another wallet holding the device's key (its sh-wsh account).
	other := newSetup(t, descriptor.ScriptShWsh, true, emu.Config{})
	otherChange, _ := other.d.Derive(1, 5, testnet)
	for _, tc := range []struct {
		name   string
		cfg    emu.Config
		tamper func(s *setup, p *bpsbt.Packet)
		want   string
	}{
		{"change to an outside script", emu.Config{}, func(s *setup, p *bpsbt.Packet) {
			p.UnsignedTx.TxOut[1].PkScript = append([]byte{txscript.OP_0, 32}, bytes.Repeat([]byte{9}, 32)...)
		}, "change does not derive from wallet"},
		{"change at a position outside the wallet", emu.Config{}, func(s *setup, p *bpsbt.Packet) {
			for _, d := range p.Outputs[1].Bip32Derivation {
				d.Bip32Path[len(d.Bip32Path)-2] = 7
			}
		}, "not a receive or change address"},
		{"change to another wallet with our key's derivation", emu.Config{}, func(s *setup, p *bpsbt.Packet) {
			p.UnsignedTx.TxOut[1].PkScript = otherChange.ScriptPubKey
			p.Outputs[1].WitnessScript = otherChange.WitnessScript
		}, "change does not derive from wallet"},
		{"input not from the wallet", emu.Config{}, func(s *setup, p *bpsbt.Packet) {
			for _, d := range p.Inputs[0].Bip32Derivation {
				d.Bip32Path[len(d.Bip32Path)-1] = 3
			}
		}, "the coin spent is not wallet"},
		{"sighash other than ALL", emu.Config{}, func(s *setup, p *bpsbt.Packet) {
			p.Inputs[0].SighashType = txscript.SigHashNone
		}, "only SIGHASH_ALL"},
		{"witness UTXO disagrees", emu.Config{}, func(s *setup, p *bpsbt.Packet) {
			p.Inputs[0].WitnessUtxo = wire.NewTxOut(1_000_000, p.Inputs[0].WitnessUtxo.PkScript)
		}, "does not match the previous transaction"},
		{"rejected by the user", emu.Config{Reject: true}, func(*setup, *bpsbt.Packet) {}, "rejected on the device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSetup(t, descriptor.ScriptWsh, true, tc.cfg)
			p := s.buildPSBT(t)
			tc.tamper(s, p)
			raw, err := psbt.Serialize(p)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := ur.EncodePSBT(raw)
			enc, _ := ur.NewEncoder(ur.TypeCryptoPSBT, msg, 100, 10)
			var answer bytes.Buffer
			if err := s.e.Run(context.Background(), strings.NewReader(strings.Join(enc.Parts(enc.SeqLen()), "\n")), &answer); err != nil {
				t.Fatal(err)
			}
			if answer.Len() != 0 {
				t.Fatalf("the device answered a PSBT it should refuse")
			}
			if !strings.Contains(s.log.String(), tc.want) {
				t.Fatalf("log lacks %q:\n%s", tc.want, s.log)
			}
		})
	}
}

// TestWalletWithoutDeviceKey: a wallet the device holds no key of is
// refused at start and when scanned.
func TestWalletWithoutDeviceKey(t *testing.T) {
	s := newSetup(t, descriptor.ScriptWsh, true, emu.Config{})
	other := strings.Replace(s.d.String(), "73c5da0a", "00000000", 1)
	other = other[:strings.IndexByte(other, '#')]
	if _, err := emu.New(emu.Config{Mnemonic: abandon, Wallet: other}); err == nil || !strings.Contains(err.Error(), "holds none of the wallet's keys") {
		t.Fatalf("foreign wallet: %v", err)
	}
	d, _ := descriptor.Parse(other)
	msg, _ := ur.EncodeCryptoOutputDescriptor(d, ur.OutputOptions{})
	part, _ := ur.Encode(ur.UR{Type: ur.TypeCryptoOutput, CBOR: msg})
	var log bytes.Buffer
	e, _ := emu.New(emu.Config{Mnemonic: abandon, Log: &log})
	e.Run(context.Background(), strings.NewReader(part+"\nnot a part\n"), &bytes.Buffer{})
	if !strings.Contains(log.String(), "descriptor scan refused") || !strings.Contains(log.String(), "not a QR part") {
		t.Fatalf("log:\n%s", log.String())
	}
	if _, err := emu.New(emu.Config{Mnemonic: "abandon abandon"}); err == nil {
		t.Fatal("a bad mnemonic was accepted")
	}
}
