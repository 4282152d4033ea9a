package ledger

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/descriptor"
	emu "github.com/countersign/countersign/hw/emulator/ledger"
	"github.com/countersign/countersign/psbt"
)

// TestTaprootMiniscriptRegisterShowSign registers taproot and miniscript
// wallets on the emulator, checks the HMAC, the addresses it shows and
// the signatures it yields (taken back through the hw.Signer adapter),
// then completes each spend with a software cosigner and finalizes it.
func TestTaprootMiniscriptRegisterShowSign(t *testing.T) {
	keys, _ := policyKeys(t)
	k := func(i int) string { return keys[i].String() }
	for _, c := range []struct {
		name, app string
		desc      *descriptor.Descriptor
		cosigner  int // the software key that completes the spend; -1: the device's key path alone
	}{
		{"default taproot (musig key path, leaf signed)", "2.4.1", mustTaproot(t, keys, descriptor.TaprootOptions{}), 1},
		{"taproot, pk leaf of a second key of the device's account", "2.2.1", mustParse(t, fmt.Sprintf("tr(%s,{pk(%s),multi_a(2,%s,%s)})", k(1), strings.Replace(k(0), "<0;1>", "<2;3>", 1), k(0), k(2))), 2},
		{"taproot, single key path, multi_a leaf", "2.1.3", mustParse(t, fmt.Sprintf("tr(%s,multi_a(2,%s,%s))", k(1), k(0), k(2))), 2},
		{"taproot, the device's key path", "2.1.3", mustParse(t, fmt.Sprintf("tr(%s,multi_a(2,%s,%s))", k(0), k(1), k(2))), -1},
		{"miniscript recovery, device in the primary multi", "2.1.3", mustParse(t, fmt.Sprintf("wsh(or_d(multi(2,%s,%s),and_v(v:pkh(%s),older(52560))))", k(0), k(1), k(2))), 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, addr := startEmulator(t, emu.Config{HMACKey: testHMACKey, AppVersion: c.app})
			d := mustDial(t, addr)
			ctx := context.Background()
			w := newTestWallet(t, descriptor.ScriptWsh, 2, true)
			w.desc = c.desc
			pol, err := PolicyFromDescriptor(w.desc, "heirs")
			if err != nil {
				t.Fatal(err)
			}
			token, err := d.Register(ctx, w.desc, testNet, "heirs")
			if err != nil {
				t.Fatal(err)
			}
			id := pol.ID()
			mac := hmac.New(sha256.New, testHMACKey)
			mac.Write(id[:])
			if !bytes.Equal(token, mac.Sum(nil)) {
				t.Fatalf("token %x, want HMAC-SHA256(device key, wallet id)", token)
			}
			// A fresh session with the stored token.
			d = mustDial(t, addr)
			d.UseToken(token)
			for _, pos := range [][2]uint32{{0, 0}, {1, 3}} {
				got, err := d.DisplayAddress(ctx, w.desc, testNet, "heirs", pos[0], pos[1])
				der, derr := w.desc.Derive(pos[0], pos[1], testNet)
				if err != nil || derr != nil || got != der.Address {
					t.Fatalf("%v: %s, %v; want %s", pos, got, err, der.Address)
				}
			}
			p := w.spend(t, 2)
			signed, err := d.Sign(ctx, p, w.desc, testNet, "heirs")
			if err != nil {
				t.Fatal(err)
			}
			fp := fingerprintOf(t, deviceMaster(t))
			xfp := binary.LittleEndian.Uint32(fp[:])
			for i := range signed.Inputs {
				in := &signed.Inputs[i]
				if c.cosigner < 0 {
					// The key path alone spends: 64-byte SIGHASH_DEFAULT.
					if len(in.TaprootKeySpendSig) != 64 {
						t.Fatalf("input %d: key-path signature %x", i, in.TaprootKeySpendSig)
					}
				} else if c.desc.Script == descriptor.ScriptTr {
					if len(in.TaprootScriptSpendSig) == 0 || !ownedBy(in.TaprootBip32Derivation, in.TaprootScriptSpendSig[0].XOnlyPubKey, xfp) {
						t.Fatalf("input %d: taproot signatures %v", i, in.TaprootScriptSpendSig)
					}
				} else if len(in.PartialSigs) != 1 {
					t.Fatalf("input %d: partial signatures %v", i, in.PartialSigs)
				}
			}
			if c.cosigner >= 0 {
				if _, err := psbt.Sign(signed, w.masters[c.cosigner]); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := psbt.Finalize(signed, psbt.WalletInfo{Descriptor: w.desc, Network: testNet}); err != nil {
				t.Fatalf("finalize with the device's signatures: %v", err)
			}
		})
	}
}

func ownedBy(ders []*bpsbt.TaprootBip32Derivation, x []byte, xfp uint32) bool {
	for _, d := range ders {
		if d.MasterKeyFingerprint == xfp && bytes.Equal(d.XOnlyPubKey, x) {
			return true
		}
	}
	return false
}

// TestMiniscriptTemplatesRegister: the shapes `wallet create --recovery`
// and `--decay` build (coordinator/timelock.go) register on the emulator
// and show the address countersign derives.
func TestMiniscriptTemplatesRegister(t *testing.T) {
	keys, _ := policyKeys(t)
	k := func(i int) string { return keys[i].String() }
	alt := func(i int) string { return strings.Replace(k(i), "<0;1>", "<2;3>", 1) }
	for name, desc := range map[string]string{
		"recovery by several keys": fmt.Sprintf("wsh(or_d(multi(2,%s,%s),and_v(v:multi(1,%s,%s),older(52560))))", k(0), k(1), k(2), alt(0)),
		"recovery at a height":     fmt.Sprintf("wsh(or_d(multi(2,%s,%s),and_v(v:pkh(%s),after(900000))))", k(0), k(1), k(2)),
		"decay by one":             fmt.Sprintf("wsh(thresh(3,pk(%s),s:pk(%s),s:pk(%s),sln:older(52560)))", k(0), k(1), k(2)),
		"decay lower":              fmt.Sprintf("wsh(or_d(multi(3,%s,%s,%s),and_v(v:multi(1,%s,%s,%s),older(52560))))", k(0), k(1), k(2), alt(0), alt(1), alt(2)),
	} {
		t.Run(name, func(t *testing.T) {
			_, addr := startEmulator(t, emu.Config{})
			d := mustDial(t, addr)
			ctx := context.Background()
			w := mustParse(t, desc)
			if _, err := d.Register(ctx, w, testNet, "heirs"); err != nil {
				t.Fatal(err)
			}
			got, err := d.DisplayAddress(ctx, w, testNet, "heirs", 1, 7)
			der, derr := w.Derive(1, 7, testNet)
			if err != nil || derr != nil || got != der.Address {
				t.Fatalf("%s, %v; want %s", got, err, der.Address)
			}
		})
	}
}
