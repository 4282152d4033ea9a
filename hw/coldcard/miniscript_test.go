package coldcard

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	emu "github.com/countersign/countersign/hw/emulator/coldcard"
	"github.com/countersign/countersign/hw/hwtest"
)

// keyExpr is cosigner i's key expression on the given branches.
func keyExpr(w *testWallet, i int, branches string) string {
	c := w.keys[i]
	return fmt.Sprintf("[%x/48h/1h/0h/2h]%s/<%s>/*", c.fp, c.account, branches)
}

// recoveryWallet is countersign's --recovery template: 2 of the three
// keys, or after 144 blocks cosigner 1's recovery key alone; the emulated
// Coldcard (cosigner 0) is on the primary path.
func recoveryWallet(t *testing.T, w *testWallet) *descriptor.Descriptor {
	t.Helper()
	d, err := descriptor.Parse(fmt.Sprintf("wsh(or_d(multi(2,%s,%s,%s),and_v(v:pkh(%s),older(144))))",
		keyExpr(w, 0, "0;1"), keyExpr(w, 1, "0;1"), keyExpr(w, 2, "0;1"), keyExpr(w, 1, "2;3")))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// tapscriptWallet is `wallet create --script tr --no-key-path`'s shape:
// BIP-341's NUMS internal key and one sortedmulti_a(2) leaf.
func tapscriptWallet(t *testing.T, w *testWallet) *descriptor.Descriptor {
	t.Helper()
	d, err := descriptor.Parse(fmt.Sprintf("tr(%s,sortedmulti_a(2,%s,%s,%s))", descriptor.NUMSKey,
		keyExpr(w, 0, "0;1"), keyExpr(w, 1, "0;1"), keyExpr(w, 2, "0;1")))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// tapPSBT is hwtest.BuildPSBT with the BIP-371 fields an updater fills for
// a taproot input and change output.
func tapPSBT(t *testing.T, d *descriptor.Descriptor, net *chaincfg.Params) *bpsbt.Packet {
	t.Helper()
	p, _ := hwtest.BuildPSBT(t, d, net)
	for i, pos := range [][2]uint32{{0, 0}, {1, 0}} {
		der, err := d.Derive(pos[0], pos[1], net)
		if err != nil {
			t.Fatal(err)
		}
		var ds []*bpsbt.TaprootBip32Derivation
		for _, k := range der.Keys {
			var leaves [][]byte
			for _, l := range der.Tap.Leaves {
				for _, x := range l.XOnlyKeys {
					if string(x) == string(k.PubKey[1:]) {
						leaves = append(leaves, append([]byte(nil), l.LeafHash[:]...))
					}
				}
			}
			ds = append(ds, &bpsbt.TaprootBip32Derivation{XOnlyPubKey: k.PubKey[1:], LeafHashes: leaves,
				MasterKeyFingerprint: fpUint(k.Fingerprint), Bip32Path: k.Path})
		}
		if i == 0 {
			in := &p.Inputs[0]
			in.WitnessScript, in.Bip32Derivation = nil, nil
			in.TaprootInternalKey, in.TaprootMerkleRoot, in.TaprootBip32Derivation = der.Tap.InternalKey, der.Tap.MerkleRoot, ds
			for _, l := range der.Tap.Leaves {
				in.TaprootLeafScript = append(in.TaprootLeafScript, &bpsbt.TaprootTapLeafScript{ControlBlock: l.ControlBlock, Script: l.Script, LeafVersion: txscript.BaseLeafVersion})
			}
			continue
		}
		out := &p.Outputs[1]
		out.WitnessScript, out.Bip32Derivation = nil, nil
		out.TaprootInternalKey, out.TaprootBip32Derivation = der.Tap.InternalKey, ds
	}
	return p
}

func TestMiniscriptRegisterShowSign(t *testing.T) {
	var prompts []string
	r := newRig(t, emu.Config{}, Options{Prompt: func(m string) { prompts = append(prompts, m) }})
	ctx := testCtx(t)
	d := recoveryWallet(t, r.w)
	w := hwtest.Wallet(d, testNet, "heirs")
	if _, err := r.cc.Register(ctx, w); err != nil {
		t.Fatal(err)
	}
	if got := r.emu.Wallets(); len(got) != 1 || got[0] != "heirs" {
		t.Fatalf("emulator wallets %q", got)
	}
	// Again: found by name and descriptor, not offered twice.
	if _, err := r.cc.Register(ctx, w); err != nil {
		t.Fatal(err)
	}
	if got := r.emu.Wallets(); len(got) != 1 {
		t.Fatalf("enrolled twice: %q", got)
	}
	// Another wallet under the same name is refused.
	other := hwtest.Wallet(recoveryWallet(t, newTestWallet(t, mnemonics[0], mnemonics[2], mnemonics[1])), testNet, "heirs")
	if _, err := r.cc.Register(ctx, other); err == nil || !strings.Contains(err.Error(), "another wallet named") {
		t.Fatalf("same name, other wallet: %v", err)
	}
	for _, pos := range [][2]uint32{{0, 0}, {0, 5}, {1, 3}} {
		der, _ := d.Derive(pos[0], pos[1], testNet)
		got, err := r.cc.DisplayAddress(ctx, w, pos[0], pos[1])
		if err != nil || got != der.Address {
			t.Fatalf("address %v: %s, %v; want %s", pos, got, err, der.Address)
		}
	}
	p, _ := hwtest.BuildPSBT(t, d, testNet)
	signed, err := hwtest.Sign(ctx, r.cc, p, d, testNet, "heirs")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(signed.Inputs[0].PartialSigs); n != 1 {
		t.Fatalf("%d signatures, want the Coldcard's one", n)
	}
	der, _ := d.Derive(0, 0, testNet)
	if got := signed.Inputs[0].PartialSigs[0].PubKey; string(got) != string(der.Keys[0].PubKey) {
		t.Fatalf("signed with %x, want the device's key %x", got, der.Keys[0].PubKey)
	}
	// Unregistered on another device: named, before anything is shown.
	r2 := newRig(t, emu.Config{}, Options{})
	if _, err := hwtest.Sign(ctx, r2.cc, p, d, testNet, "heirs"); !errors.Is(err, hw.ErrNotRegistered) {
		t.Fatalf("unregistered: %v", err)
	}
}

func TestTaprootRegisterShowSign(t *testing.T) {
	// 6.3.4X is the last EDGE release that takes a static internal key.
	r := newRig(t, emu.Config{Firmware: "6.3.4X"}, Options{})
	ctx := testCtx(t)
	d := tapscriptWallet(t, r.w)
	w := hwtest.Wallet(d, testNet, "vault")
	if _, err := r.cc.Register(ctx, w); err != nil {
		t.Fatal(err)
	}
	for _, pos := range [][2]uint32{{0, 0}, {1, 9}} {
		der, _ := d.Derive(pos[0], pos[1], testNet)
		got, err := r.cc.DisplayAddress(ctx, w, pos[0], pos[1])
		if err != nil || got != der.Address {
			t.Fatalf("address %v: %s, %v; want %s", pos, got, err, der.Address)
		}
	}
	p := tapPSBT(t, d, testNet)
	signed, err := hwtest.Sign(ctx, r.cc, p, d, testNet, "vault")
	if err != nil {
		t.Fatal(err)
	}
	sigs := signed.Inputs[0].TaprootScriptSpendSig
	if len(sigs) != 1 || len(sigs[0].Signature) != 64 {
		t.Fatalf("taproot signatures %+v, want one 64-byte script-path signature", sigs)
	}
	// The adapter verified it; check it here too, over BIP-341's sighash.
	der, _ := d.Derive(0, 0, testNet)
	leaf := txscript.NewBaseTapLeaf(der.Tap.Leaves[0].Script)
	prev := signed.Inputs[0].WitnessUtxo
	fetch := txscript.NewCannedPrevOutputFetcher(prev.PkScript, prev.Value)
	digest, err := txscript.CalcTapscriptSignaturehash(txscript.NewTxSigHashes(signed.UnsignedTx, fetch), txscript.SigHashDefault, signed.UnsignedTx, 0, fetch, leaf)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := schnorr.ParseSignature(sigs[0].Signature)
	if err != nil {
		t.Fatal(err)
	}
	var mine []byte // the device's key; Keys[0] is the NUMS internal key
	for _, k := range der.Keys {
		if k.Fingerprint == r.w.keys[0].fp {
			mine = k.PubKey[1:]
		}
	}
	pub, err := schnorr.ParsePubKey(mine)
	if err != nil {
		t.Fatal(err)
	}
	if string(sigs[0].XOnlyPubKey) != string(mine) || !sig.Verify(digest, pub) {
		t.Fatal("the script-path signature is not the device key's over BIP-341's sighash")
	}
}

// On 6.4.0X+ the multisig setup file, p2sh and msck are gone: a plain
// multisig wallet goes through the descriptor commands too.
func TestMultisigOnDescriptorFirmware(t *testing.T) {
	r := newRig(t, emu.Config{Firmware: "6.4.1X"}, Options{})
	ctx := testCtx(t)
	w := hwtest.Wallet(r.w.desc, testNet, "treasury")
	if _, err := r.cc.Register(ctx, w); err != nil {
		t.Fatal(err)
	}
	der, _ := r.w.desc.Derive(0, 2, testNet)
	if got, err := r.cc.DisplayAddress(ctx, w, 0, 2); err != nil || got != der.Address {
		t.Fatalf("address %s, %v; want %s", got, err, der.Address)
	}
	p, _ := hwtest.BuildPSBT(t, r.w.desc, testNet)
	signed, err := hwtest.Sign(ctx, r.cc, p, r.w.desc, testNet, "treasury")
	if err != nil || len(signed.Inputs[0].PartialSigs) != 1 {
		t.Fatalf("sign: %v", err)
	}
}

// Firmware that cannot hold the wallet is named in an ErrUnsupported
// refusal, before the device is asked anything about the wallet.
func TestMiniscriptFirmwareRefusals(t *testing.T) {
	ctx := testCtx(t)
	for _, c := range []struct {
		firmware string
		wallet   func(*testing.T, *testWallet) *descriptor.Descriptor
		want     string
	}{
		{"5.4.1", recoveryWallet, "6.2.2X"},
		{"1.3.1Q", tapscriptWallet, "6.2.2X"},
		{"6.2.1X", recoveryWallet, "6.2.2X"},
		{"6.3.5X", tapscriptWallet, "static"},
		{"6.3.4X", func(t *testing.T, w *testWallet) *descriptor.Descriptor { return tapWallet(t).Descriptor }, "MuSig2"},
	} {
		r := newRig(t, emu.Config{Firmware: c.firmware}, Options{})
		d := c.wallet(t, r.w)
		w := hwtest.Wallet(d, testNet, "heirs")
		before := r.cc.Stats().RoundTrips
		_, err1 := r.cc.Register(ctx, w)
		_, err2 := r.cc.DisplayAddress(ctx, w, 0, 0)
		_, err3 := r.cc.SignPSBT(ctx, &bpsbt.Packet{}, w)
		for _, err := range []error{err1, err2, err3} {
			if !errors.Is(err, hw.ErrUnsupported) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: %v, want an unsupported refusal naming %q", c.firmware, err, c.want)
			}
		}
		if n := r.cc.Stats().RoundTrips - before; n != 0 {
			t.Errorf("%s: %d round trips before the refusal", c.firmware, n)
		}
	}
	// A name msas cannot carry.
	r := newRig(t, emu.Config{}, Options{})
	if _, err := r.cc.Register(ctx, hwtest.Wallet(recoveryWallet(t, r.w), testNet, strings.Repeat("n", 33))); !errors.Is(err, hw.ErrUnsupported) {
		t.Errorf("33-character name: %v", err)
	}
}

// tapWallet is a 2-of-2 taproot wallet of countersign's default shape
// (MuSig2 key path).
func tapWallet(t *testing.T) *hw.Wallet {
	t.Helper()
	const a = "[00000001/48h/1h/0h/3h]tpubD6NzVbkrYhZ4WaWSyoBvQwbpLkojyoTZPRsgXELWz3Popb3qkjcJyJUGLnL4qHHoQvao8ESaAstxYSnhyswJ76uZPStJRJCTKvosUCJZL5B"
	const b = "[00000002/48h/1h/0h/3h]tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp"
	d, err := descriptor.Parse("tr(musig(" + a + "," + b + ")/<0;1>/*,sortedmulti_a(2," + a + "/<0;1>/*," + b + "/<0;1>/*))")
	if err != nil {
		t.Fatal(err)
	}
	return &hw.Wallet{Name: "tap", Descriptor: d, Network: &chaincfg.TestNet3Params}
}

// FuzzMiniscriptReplies: the answers of "vers", "msls" and "msgt" never
// panic the driver.
func FuzzMiniscriptReplies(f *testing.F) {
	f.Add("6.3.5QX")
	f.Add(`["heirs","vault"]`)
	f.Add(`{"name":"heirs","desc":"wsh(multi(1,tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp/<0;1>/*))"}`)
	f.Fuzz(func(t *testing.T, s string) {
		if f, ok := parseFirmware(s); ok {
			f.atLeast(6, 2, 2)
		}
		decodeNames(s)
		if d, ok, err := decodeStored(s); ok && err == nil {
			_ = d.Multipath().StringNoChecksum()
		}
	})
}

// The device signs only for the wallet it holds: a PSBT of another
// taproot wallet is refused, and so is change that claims to be the
// wallet's but derives elsewhere.
func TestTaprootDeviceChecks(t *testing.T) {
	r := newRig(t, emu.Config{Firmware: "6.3.4X"}, Options{})
	ctx := testCtx(t)
	d := tapscriptWallet(t, r.w)
	if _, err := r.cc.Register(ctx, hwtest.Wallet(d, testNet, "vault")); err != nil {
		t.Fatal(err)
	}
	other, err := descriptor.Parse(strings.Replace(d.StringNoChecksum(), "sortedmulti_a(2,", "sortedmulti_a(1,", 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hwtest.Sign(ctx, r.cc, tapPSBT(t, other, testNet), other, testNet, "vault"); err == nil || !strings.Contains(err.Error(), "None of the keys") {
		t.Fatalf("another wallet's PSBT: %v", err)
	}
	p := tapPSBT(t, d, testNet)
	// The change output's derivation says 1/0; make it pay 1/1's script.
	der, _ := d.Derive(1, 1, testNet)
	p.UnsignedTx.TxOut[1].PkScript = der.ScriptPubKey
	if _, err := r.cc.SignPSBT(ctx, p, hwtest.Wallet(d, testNet, "vault")); err == nil || !strings.Contains(err.Error(), "fraudulent") {
		t.Fatalf("forged change: %v", err)
	}
}

// countersign's --decay template (thresh with s:pk and sln:older) on the
// device: enrolled, an address shown, its key's signature taken back.
func TestDecayWallet(t *testing.T) {
	r := newRig(t, emu.Config{Firmware: "6.2.2X"}, Options{})
	ctx := testCtx(t)
	d, err := descriptor.Parse(fmt.Sprintf("wsh(thresh(3,pk(%s),s:pk(%s),s:pk(%s),sln:older(52560)))",
		keyExpr(r.w, 1, "0;1"), keyExpr(r.w, 0, "0;1"), keyExpr(r.w, 2, "0;1")))
	if err != nil {
		t.Fatal(err)
	}
	w := hwtest.Wallet(d, testNet, "decay")
	if _, err := r.cc.Register(ctx, w); err != nil {
		t.Fatal(err)
	}
	der, _ := d.Derive(1, 7, testNet)
	if got, err := r.cc.DisplayAddress(ctx, w, 1, 7); err != nil || got != der.Address {
		t.Fatalf("address %s, %v; want %s", got, err, der.Address)
	}
	p, _ := hwtest.BuildPSBT(t, d, testNet)
	signed, err := hwtest.Sign(ctx, r.cc, p, d, testNet, "decay")
	if err != nil || len(signed.Inputs[0].PartialSigs) != 1 {
		t.Fatalf("sign: %v", err)
	}
}
