package qrsigner

import (
	"bytes"
	"testing"
)

// FuzzPSBT: the emulator's PSBT parser never panics, and what it accepts
// it writes back byte for byte. Seeds: testdata/fuzz/FuzzPSBT.
func FuzzPSBT(f *testing.F) {
	f.Add([]byte("psbt\xff\x00"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := parsePSBT(raw)
		if err != nil {
			return
		}
		if out := p.serialize(); !bytes.Equal(out, raw) {
			t.Fatalf("round trip changed the PSBT:\n%x\n%x", raw, out)
		}
		for _, in := range p.inputs {
			derivations(in, inBip32Derivation)
			if v, ok := in.get(inWitnessUtxo); ok {
				witnessUtxo(v)
			}
		}
	})
}

// FuzzCryptoOutput: the crypto-output reader never panics; a wallet it
// accepts derives. Seeds: testdata/fuzz/FuzzCryptoOutput.
func FuzzCryptoOutput(f *testing.F) {
	f.Add([]byte{0xd9, 0x01, 0x91, 0xa0})
	f.Fuzz(func(t *testing.T, msg []byte) {
		w, err := walletFromCryptoOutput(msg)
		if err == nil {
			w.scripts(1, 0)
		}
	})
}

// FuzzWallet: the descriptor reader never panics. Seeds:
// testdata/fuzz/FuzzWallet.
func FuzzWallet(f *testing.F) {
	f.Add("wsh(sortedmulti(1,[00000000/48h]tpub/<0;1>/*))")
	f.Fuzz(func(t *testing.T, desc string) {
		if w, err := parseWallet(desc); err == nil {
			w.scripts(0, 1)
		}
	})
}
