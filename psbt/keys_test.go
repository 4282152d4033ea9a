package psbt

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/internal/secp"
)

// offCurve returns a compressed key encoding whose x has no point.
func offCurve(t *testing.T) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(21, 22))
	for range 100 {
		k := make([]byte, 33)
		k[0] = 0x02
		for i := 1; i < 33; i++ {
			k[i] = byte(rng.Uint32())
		}
		if !secp.ValidPubKey(k) {
			return k
		}
	}
	t.Fatal("no off-curve x found")
	return nil
}

// TestKeysCheckedBeforeUse: Decode leaves the curve check of partial
// signature and BIP-32 keys for later, and every function that reads a
// packet makes it before anything else: a PSBT with a key that is not a
// point, in a partial signature, an input's or an output's derivation, is
// refused as malformed (naming the record) by Validate, Gate, CheckWallet,
// Inspect (with and without a wallet), Update, Combine and FinalizePacket.
func TestKeysCheckedBeforeUse(t *testing.T) {
	bad := offCurve(t)
	for _, c := range []struct {
		where  string
		tamper func(p *bpsbt.Packet)
	}{
		{"input 0: the partial signature key", func(p *bpsbt.Packet) {
			p.Inputs[0].PartialSigs = append(p.Inputs[0].PartialSigs, &bpsbt.PartialSig{PubKey: bad, Signature: p.Inputs[0].PartialSigs[0].Signature})
		}},
		{"input 1: the BIP-32 derivation key", func(p *bpsbt.Packet) {
			p.Inputs[1].Bip32Derivation = append(p.Inputs[1].Bip32Derivation, &bpsbt.Bip32Derivation{PubKey: bad, MasterKeyFingerprint: 0x01020304, Bip32Path: []uint32{1, 2}})
		}},
		{"output 0: the BIP-32 derivation key", func(p *bpsbt.Packet) {
			p.Outputs[0].Bip32Derivation = append(p.Outputs[0].Bip32Derivation, &bpsbt.Bip32Derivation{PubKey: bad, MasterKeyFingerprint: 0x01020304, Bip32Path: []uint32{7}})
		}},
	} {
		t.Run(c.where, func(t *testing.T) {
			tw, p, _ := newSpend(t, descriptor.ScriptWsh, 2, 3)
			tw.sign(t, p, 0, 1)
			c.tamper(p)
			raw := mustSerialize(t, p)
			q, err := Decode(raw)
			if err != nil {
				t.Fatalf("Decode checks key encodings only, yet refused: %v", err)
			}
			steps := map[string]func() error{
				"Validate":           func() error { return Validate(clone(t, q)) },
				"Gate":               func() error { _, err := Gate(clone(t, q), tw.info, GateRules{VerifySignatures: true}); return err },
				"CheckWallet":        func() error { return CheckWallet(clone(t, q), tw.info) },
				"Inspect":            func() error { _, err := Inspect(clone(t, q), tw.info); return err },
				"Inspect, no wallet": func() error { _, err := Inspect(clone(t, q), WalletInfo{Network: testNet}); return err },
				"Update":             func() error { _, err := Update(clone(t, q), tw.info, UpdateSource{}); return err },
				"Combine":            func() error { _, err := Combine([]*bpsbt.Packet{clone(t, q), clone(t, q)}, tw.info); return err },
				"FinalizePacket":     func() error { return FinalizePacket(clone(t, q), tw.info) },
			}
			for name, step := range steps {
				err := step()
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("%s: err = %v, want ErrMalformed", name, err)
					continue
				}
				if name != "Validate" && !strings.Contains(err.Error(), c.where) {
					t.Errorf("%s: %v does not name %q", name, err, c.where)
				}
			}
		})
	}
}
