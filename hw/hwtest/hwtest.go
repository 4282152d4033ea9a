// Package hwtest holds what the driver tests of every hw package share:
// running a driver behind the hw.Signer adapter exactly as countersign
// does. It is imported by tests only.
package hwtest

import (
	"context"
	"encoding/binary"
	"testing"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
)

// Wallet is the hw.Wallet for a descriptor, network and name.
func Wallet(d *descriptor.Descriptor, net *chaincfg.Params, name string) *hw.Wallet {
	return &hw.Wallet{Name: name, Descriptor: d, Network: net}
}

// Sign has dev sign p behind the adapter (wallet check, private copy,
// verified merge) and returns the caller's packet with the new signatures.
func Sign(ctx context.Context, dev hw.Device, p *bpsbt.Packet, d *descriptor.Descriptor, net *chaincfg.Params, name string) (*bpsbt.Packet, error) {
	res, err := hw.NewSigner(dev).Sign(ctx, p, Wallet(d, net, name))
	if err != nil {
		return nil, err
	}
	return res.PSBT, nil
}

// SignWithToken is Sign with a stored registration token (Ledger's HMAC).
func SignWithToken(ctx context.Context, dev hw.Device, p *bpsbt.Packet, d *descriptor.Descriptor, net *chaincfg.Params, name string, token []byte) (*bpsbt.Packet, error) {
	w := Wallet(d, net, name)
	w.Token = token
	res, err := hw.NewSigner(dev).Sign(ctx, p, w)
	if err != nil {
		return nil, err
	}
	return res.PSBT, nil
}

// BuildPSBT makes a PSBT spending one 100000-sat coin of the wallet at
// receive index 0 to an outside script, with change to change index 0:
// everything an updater fills (both UTXO fields, witness script, every
// cosigner's derivation on the input and the change). It returns the
// previous transaction too.
func BuildPSBT(t testing.TB, d *descriptor.Descriptor, net *chaincfg.Params) (*bpsbt.Packet, *wire.MsgTx) {
	t.Helper()
	recv, err := d.Derive(0, 0, net)
	if err != nil {
		t.Fatal(err)
	}
	change, err := d.Derive(1, 0, net)
	if err != nil {
		t.Fatal(err)
	}
	prev := wire.NewMsgTx(2)
	prev.AddTxIn(wire.NewTxIn(&wire.OutPoint{Index: 7}, nil, nil))
	prev.AddTxOut(wire.NewTxOut(100_000, recv.ScriptPubKey))

	tx := wire.NewMsgTx(2)
	in := wire.NewTxIn(&wire.OutPoint{Hash: prev.TxHash(), Index: 0}, nil, nil)
	in.Sequence = wire.MaxTxInSequenceNum - 2
	tx.AddTxIn(in)
	outside := append([]byte{txscript.OP_0, 32}, make([]byte, 32)...)
	tx.AddTxOut(wire.NewTxOut(60_000, outside))
	tx.AddTxOut(wire.NewTxOut(39_000, change.ScriptPubKey))

	p, err := bpsbt.NewFromUnsignedTx(tx)
	if err != nil {
		t.Fatal(err)
	}
	p.Inputs[0].NonWitnessUtxo = prev
	p.Inputs[0].WitnessUtxo = prev.TxOut[0]
	p.Inputs[0].WitnessScript = recv.WitnessScript
	p.Inputs[0].Bip32Derivation = Derivations(recv)
	p.Outputs[1].WitnessScript = change.WitnessScript
	p.Outputs[1].Bip32Derivation = Derivations(change)
	return p, prev
}

// Derivations lists every cosigner's BIP-32 derivation at a position.
func Derivations(d *descriptor.Derived) []*bpsbt.Bip32Derivation {
	var out []*bpsbt.Bip32Derivation
	for _, k := range d.Keys {
		out = append(out, &bpsbt.Bip32Derivation{
			PubKey:               k.PubKey,
			MasterKeyFingerprint: binary.LittleEndian.Uint32(k.Fingerprint[:]),
			Bip32Path:            k.Path,
		})
	}
	return out
}
