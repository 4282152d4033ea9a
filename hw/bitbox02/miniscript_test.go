package bitbox02

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/tyler-smith/go-bip39"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	emu "github.com/countersign/countersign/hw/emulator/bitbox02"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/psbt"
)

// msTemplates are the shapes of countersign's --recovery and --decay
// wallets (coordinator's templates), with A the emulated BitBox02's key
// and B, C the other seeds'.
var msTemplates = []struct {
	name, tmpl, policy string
}{
	{"recovery", "or_d(multi(2,A,B),and_v(v:pkh(C),older(52560)))", "wsh(or_d(multi(2,@0/**,@1/**),and_v(v:pkh(@2/**),older(52560))))"},
	{"recovery-key", "or_d(multi(2,B,C),and_v(v:pkh(A),older(52560)))", "wsh(or_d(multi(2,@0/**,@1/**),and_v(v:pkh(@2/**),older(52560))))"},
	{"decay", "thresh(2,pk(A),s:pk(B),s:pk(C),sln:older(52560))", "wsh(thresh(2,pk(@0/**),s:pk(@1/**),s:pk(@2/**),sln:older(52560)))"},
	{"andor", "andor(pk(B),older(144),pk(A))", "wsh(andor(pk(@0/**),older(144),pk(@1/**)))"},
	{"after", "or_d(multi(2,A,B,C),and_v(v:pkh(B),after(900000)))", ""}, // B twice: refused by countersign's parser
	// bob (B) in both paths, at /<2;3>/* in the recovery path (D), as
	// the coordinator writes "--recovery 'after N blocks: 1 of lawyer,bob'".
	{"shared", "or_d(multi(2,A,B),and_v(v:multi(1,C,D),older(52560)))", "wsh(or_d(multi(2,@0/**,@1/**),and_v(v:multi(1,@2/**,@1/<2;3>/*),older(52560))))"},
}

// newMiniscriptWallet writes tmpl with A, B, C the three seeds' wsh
// account keys.
func newMiniscriptWallet(t testing.TB, name, tmpl string, net *chaincfg.Params) (*testWallet, error) {
	t.Helper()
	w := &testWallet{st: descriptor.ScriptWsh, net: net, name: name}
	path := accountPath(descriptor.ScriptWsh)
	var pairs []string
	for i, m := range mnemonics {
		c := newCosigner(t, m, path, net)
		pairs = append(pairs, string(rune('A'+i)), fmt.Sprintf("[%x/48h/1h/0h/2h]%s/<0;1>/*", c.fp, c.account))
		// D and E: B's and A's keys at /<2;3>/*.
		switch i {
		case 0:
			pairs = append(pairs, "E", fmt.Sprintf("[%x/48h/1h/0h/2h]%s/<2;3>/*", c.fp, c.account))
		case 1:
			pairs = append(pairs, "D", fmt.Sprintf("[%x/48h/1h/0h/2h]%s/<2;3>/*", c.fp, c.account))
		}
	}
	r := strings.NewReplacer(pairs...)
	d, err := descriptor.Parse("wsh(" + r.Replace(tmpl) + ")")
	if err != nil {
		return nil, err
	}
	w.desc = d
	return w, nil
}

// TestMiniscriptPolicyText checks the policy the driver sends: the
// miniscript with @i/** in the order the keys are written.
func TestMiniscriptPolicyText(t *testing.T) {
	fp := newCosigner(t, mnemonics[0], nil, &chaincfg.TestNet3Params).fp
	for _, c := range msTemplates {
		w, err := newMiniscriptWallet(t, c.name, c.tmpl, &chaincfg.TestNet3Params)
		if c.policy == "" {
			if err == nil {
				t.Errorf("%s: parsed", c.name)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		v, err := newWalletView(w.hw(), fp)
		if err != nil {
			t.Fatal(c.name, err)
		}
		if v.cfg.Policy == nil || v.cfg.Policy.Policy != c.policy || len(v.cfg.Policy.Keys) != strings.Count(c.policy, "/**") {
			t.Errorf("%s: policy %+v, want %s", c.name, v.cfg.Policy, c.policy)
			continue
		}
		if c.name == "shared" {
			continue
		}
		for i, k := range v.cfg.Policy.Keys {
			want, _ := xpubMessage(w.desc.Keys[i].XPub)
			if string(k.Xpub.PublicKey) != string(want.PublicKey) || len(k.Keypath) != 4 {
				t.Errorf("%s: key %d is not the wallet's key %d", c.name, i, i)
			}
		}
	}
}

// TestMiniscriptRegisterShowSign registers each template on the emulator,
// compares shown addresses with countersign's derivation, signs a spend
// and checks the finished transaction with btcd's script engine.
func TestMiniscriptRegisterShowSign(t *testing.T) {
	for _, c := range msTemplates {
		if c.policy == "" {
			continue
		}
		t.Run(c.name, func(t *testing.T) { testMiniscriptRegisterShowSign(t, c.name, c.tmpl, &chaincfg.TestNet3Params) })
	}
	// A regtest wallet goes to the device as testnet (the firmware takes
	// policies on Bitcoin and testnet only); the adapter compares the
	// shown address, turned back into its regtest form, with the
	// wallet's.
	t.Run("recovery-regtest", func(t *testing.T) {
		testMiniscriptRegisterShowSign(t, "recovery", msTemplates[0].tmpl, &chaincfg.RegressionNetParams)
	})
}

func testMiniscriptRegisterShowSign(t *testing.T, name, tmpl string, net *chaincfg.Params) {
	t.Helper()
	c := struct{ name, tmpl string }{name, tmpl}
	r := newRig(t, emu.Config{})
	b := r.mustOpen(t)
	ctx := testCtx(t)
	w, err := newMiniscriptWallet(t, c.name, c.tmpl, net)
	if err != nil {
		t.Fatal(err)
	}
	s := hw.NewSigner(b)
	if _, err := s.Register(ctx, w.hw()); err != nil {
		t.Fatal(err)
	}
	if got := r.emu.Registrations(); len(got) != 1 || got[0] != w.name {
		t.Fatalf("registrations %v", got)
	}
	for _, pos := range [][2]uint32{{0, 0}, {0, 7}, {1, 3}} {
		addr, err := s.DisplayAddress(ctx, w.hw(), pos[0], pos[1])
		if err != nil {
			t.Fatal(err)
		}
		der, _ := w.desc.Derive(pos[0], pos[1], w.net)
		if addr != der.Address {
			t.Fatalf("address %s, want %s", addr, der.Address)
		}
	}
	// The device's key alone spends the recovery-key and andor
	// wallets once the lock is open: sequence set to the lock.
	seq := uint32(wire.MaxTxInSequenceNum - 2)
	cosign := 1
	switch c.name {
	case "recovery-key":
		seq, cosign = 52560, -1
	case "andor":
		seq, cosign = 144, -1
	}
	p := buildMiniscriptPSBT(t, w, 2, seq)
	out, err := hwtest.Sign(ctx, b, p, w.desc, w.net, w.name)
	if err != nil {
		t.Fatal(err)
	}
	for i := range out.Inputs {
		if len(out.Inputs[i].PartialSigs) != 1 {
			t.Fatalf("input %d has %d signatures", i, len(out.Inputs[i].PartialSigs))
		}
	}
	if cosign >= 0 {
		master, err := hdkeychain.NewMaster(bip39.NewSeed(mnemonics[cosign], ""), w.net)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := psbt.Sign(out, master); err != nil || n < len(out.Inputs) {
			t.Fatalf("software key signed %d inputs: %v", n, err)
		}
	}
	verifySpend(t, out, w)
}

// buildMiniscriptPSBT spends n coins of w with every input's sequence seq.
func buildMiniscriptPSBT(t testing.TB, w *testWallet, n int, seq uint32) *bpsbt.Packet {
	t.Helper()
	var utxos []psbt.UTXO
	var ops []wire.OutPoint
	var total int64
	for i := 0; i < n; i++ {
		der, err := w.desc.Derive(0, uint32(i), w.net)
		if err != nil {
			t.Fatal(err)
		}
		prev := wire.NewMsgTx(2)
		prev.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash{byte(i), 9}, Index: 0}, SignatureScript: []byte{0x51}})
		value := int64(200_000 + i)
		prev.AddTxOut(&wire.TxOut{Value: value, PkScript: der.ScriptPubKey})
		op := wire.OutPoint{Hash: prev.TxHash(), Index: 0}
		utxos = append(utxos, psbt.UTXO{OutPoint: op, Value: value, Branch: 0, Index: uint32(i), PrevTx: prev, Confirmations: 60000})
		ops = append(ops, op)
		total += value
	}
	p, _, err := psbt.Build(psbt.BuildRequest{
		Wallet:       psbt.WalletInfo{Descriptor: w.desc, Network: w.net},
		UTXOs:        utxos,
		Outputs:      []psbt.Output{{Script: externalScript(), Value: total / 2}},
		Preselected:  ops,
		FeeRate:      2,
		ChangeBranch: 1, ChangeIndex: 2,
		LockTime: 2_500_000,
		Sequence: seq,
		Rand:     rand.New(rand.NewPCG(3, 4)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// verifySpend finalizes the PSBT with countersign and runs every input
// through btcd's script engine.
func verifySpend(t *testing.T, p *bpsbt.Packet, w *testWallet) {
	t.Helper()
	tx, err := psbt.Finalize(p, psbt.WalletInfo{Descriptor: w.desc, Network: w.net})
	if err != nil {
		t.Fatal(err)
	}
	fetcher := txscript.NewMultiPrevOutFetcher(nil)
	for i, in := range tx.TxIn {
		prev := p.Inputs[i].NonWitnessUtxo.TxOut[in.PreviousOutPoint.Index]
		fetcher.AddPrevOut(in.PreviousOutPoint, prev)
	}
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	for i, in := range tx.TxIn {
		prev := fetcher.FetchPrevOutput(in.PreviousOutPoint)
		vm, err := txscript.NewEngine(prev.PkScript, tx, i, txscript.StandardVerifyFlags, nil, hashes, prev.Value, fetcher)
		if err != nil {
			t.Fatal(err)
		}
		if err := vm.Execute(); err != nil {
			t.Fatalf("input %d does not verify: %v", i, err)
		}
	}
}

// TestMiniscriptRefusals: what the firmware cannot hold, and firmware
// older than 9.15.0, are ErrUnsupported before the device is asked.
func TestMiniscriptRefusals(t *testing.T) {
	ctx := testCtx(t)
	w, err := newMiniscriptWallet(t, "recovery", msTemplates[0].tmpl, &chaincfg.TestNet3Params)
	if err != nil {
		t.Fatal(err)
	}
	old := newRig(t, emu.Config{Version: "v9.14.1"})
	b := old.mustOpen(t)
	_, err = b.Register(ctx, w.hw())
	if !errors.Is(err, hw.ErrUnsupported) || !strings.Contains(err.Error(), "from firmware 9.15.0 on") || !strings.Contains(err.Error(), "v9.14.1") {
		t.Errorf("old firmware: %v", err)
	}
	if got := old.emu.Registrations(); len(got) != 0 {
		t.Errorf("old firmware registered %v", got)
	}

	r := newRig(t, emu.Config{})
	b = r.mustOpen(t)
	hashLock, err := newMiniscriptWallet(t, "hash", "or_d(multi(2,A,B),and_v(v:pkh(C),sha256(0000000000000000000000000000000000000000000000000000000000000001)))", &chaincfg.TestNet3Params)
	if err != nil {
		t.Fatal(err)
	}
	twice, err := newMiniscriptWallet(t, "twice", "or_d(multi(2,A,B),and_v(v:pkh(E),older(52560)))", &chaincfg.TestNet3Params)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		w    *testWallet
		want string
	}{
		{twice, "holds this BitBox02's key twice (#1 and #3)"},
		{hashLock, "hash locks (sha256...)"},
	} {
		for op, f := range map[string]func() error{
			"register": func() error { _, err := b.Register(ctx, c.w.hw()); return err },
			"show":     func() error { _, err := b.DisplayAddress(ctx, c.w.hw(), 0, 0); return err },
		} {
			err := f()
			if !errors.Is(err, hw.ErrUnsupported) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s %s: %v, want ErrUnsupported saying %q", c.w.name, op, err, c.want)
			}
		}
	}
	if got := r.emu.Registrations(); len(got) != 0 {
		t.Errorf("registered %v", got)
	}
}

func TestParseVersion(t *testing.T) {
	for s, want := range map[string]bool{"v9.15.0": false, "v9.21.0": false, "v10.0.0": false, "v9.14.99": true, "v8.20.0": true} {
		v, ok := parseVersion(s)
		if !ok || versionBefore(v, [3]int{policyMajor, policyMinor, policyPatch}) != want {
			t.Errorf("%s: %v %v", s, v, ok)
		}
	}
	for _, s := range []string{"", "v9.15", "v9.15.0.1", "vx.1.2", "v9.-1.0"} {
		if _, ok := parseVersion(s); ok {
			t.Errorf("%q parsed", s)
		}
	}
}
