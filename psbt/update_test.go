package psbt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/countersign/countersign/descriptor"
)

// electrumForm rewrites cosigner k's derivations and global xpub record the
// way Electrum writes them for a cosigner whose xpub was typed in without
// its origin: rooted at the xpub itself, [fingerprint of the xpub]/branch/
// index.
func electrumForm(t *testing.T, tw *testWallet, p *bpsbt.Packet, k int) {
	t.Helper()
	key := tw.info.Descriptor.Keys[k]
	pub, err := key.XPub.ECPubKey()
	if err != nil {
		t.Fatal(err)
	}
	self := binary.LittleEndian.Uint32(btcutil.Hash160(pub.SerializeCompressed())[:4])
	real := fingerprintValue(tw.fps[k])
	fix := func(ds []*bpsbt.Bip32Derivation) {
		for _, d := range ds {
			if d.MasterKeyFingerprint == real {
				d.MasterKeyFingerprint = self
				d.Bip32Path = slices.Clone(d.Bip32Path[len(d.Bip32Path)-2:])
			}
		}
	}
	for i := range p.Inputs {
		fix(p.Inputs[i].Bip32Derivation)
	}
	for j := range p.Outputs {
		fix(p.Outputs[j].Bip32Derivation)
	}
	for _, u := range p.Unknowns {
		if len(u.Value) >= 4 && binary.LittleEndian.Uint32(u.Value[:4]) == real {
			// Electrum serializes a key without origin as a master key:
			// depth 0, no parent fingerprint, child number 0.
			u.Key = slices.Clone(u.Key)
			copy(u.Key[5:14], make([]byte, 9))
			u.Value = binary.LittleEndian.AppendUint32(nil, self)
		}
	}
}

// TestCombineDecidesByTheWallet: a copy signed by a tool that wrote another
// cosigner's derivation in its own form is combined; the wallet's form is
// kept and the summary says which copy and which record differed.
func TestCombineDecidesByTheWallet(t *testing.T) {
	tw, p, _ := newSpend(t, descriptor.ScriptWsh, 2, 3)
	device, electrum := clone(t, p), clone(t, p)
	tw.sign(t, device, 0)
	electrumForm(t, tw, electrum, 0) // Electrum holds cosigner B; it knows A only as a typed xpub
	tw.sign(t, electrum, 1)
	for _, order := range [][]*bpsbt.Packet{{device, electrum}, {electrum, device}} {
		out, notes, err := CombineReport(order, tw.info)
		if err != nil {
			t.Fatalf("combine: %v", err)
		}
		if !bytes.Equal(mustSerialize(t, withoutSigs(out)), mustSerialize(t, withoutSigs(p))) {
			t.Fatal("the combined PSBT's records are not the wallet's")
		}
		r, err := Inspect(out, tw.info)
		if err != nil || !r.ReadyToFinalize {
			t.Fatalf("inspect: %v", err)
		}
		if len(notes) == 0 || !strings.Contains(strings.Join(notes, "\n"), "the wallet's is ["+hexFP(tw.fps[0])+"/48h/1h/0h/2h/") {
			t.Fatalf("notes do not name the corrected derivation: %q", notes)
		}
		if _, err := Finalize(out, tw.info); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("a key the wallet does not know", func(t *testing.T) {
		a, b := clone(t, p), clone(t, p)
		stray := tw.derive(t, 0, 99).Keys[0].PubKey
		a.Inputs[0].Bip32Derivation = append(a.Inputs[0].Bip32Derivation, &bpsbt.Bip32Derivation{PubKey: stray, MasterKeyFingerprint: 1, Bip32Path: []uint32{1}})
		b.Inputs[0].Bip32Derivation = append(b.Inputs[0].Bip32Derivation, &bpsbt.Bip32Derivation{PubKey: stray, MasterKeyFingerprint: 2, Bip32Path: []uint32{2}})
		_, notes, err := CombineReport([]*bpsbt.Packet{a, b}, tw.info)
		// The wallet drops a derivation of a key that is not in the script.
		if err != nil || !strings.Contains(strings.Join(notes, "\n"), "not in the script") {
			t.Fatalf("combine: %v, notes %q", err, notes)
		}
		if _, _, err := CombineReport([]*bpsbt.Packet{a, b}, WalletInfo{Network: testNet}); !errors.Is(err, ErrRefused) {
			t.Fatalf("without a wallet the conflict must be refused: %v", err)
		}
	})
	t.Run("scripts differ", func(t *testing.T) {
		a := clone(t, p)
		a.Inputs[0].WitnessScript = tw.derive(t, 0, 7).WitnessScript
		if _, _, err := CombineReport([]*bpsbt.Packet{a, clone(t, p)}, tw.info); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "witness script") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unknown records differ", func(t *testing.T) {
		a, b, c := clone(t, p), clone(t, p), clone(t, p)
		a.Inputs[0].Unknowns = append(a.Inputs[0].Unknowns, &bpsbt.Unknown{Key: []byte{0xf0, 1}, Value: []byte{1}})
		b.Inputs[0].Unknowns = append(b.Inputs[0].Unknowns, &bpsbt.Unknown{Key: []byte{0xf0, 1}, Value: []byte{2}})
		c.Inputs[0].Unknowns = append(c.Inputs[0].Unknowns, &bpsbt.Unknown{Key: []byte{0xf0, 1}, Value: []byte{1}})
		out, notes, err := CombineReport([]*bpsbt.Packet{a, b, c}, tw.info)
		if err != nil || len(out.Inputs[0].Unknowns) != 0 || !strings.Contains(strings.Join(notes, "\n"), "dropped record f001") {
			t.Fatalf("combine: %v, unknowns %v, notes %q", err, out.Inputs[0].Unknowns, notes)
		}
	})
}

func withoutSigs(p *bpsbt.Packet) *bpsbt.Packet {
	q := *p
	q.Inputs = slices.Clone(p.Inputs)
	for i := range q.Inputs {
		q.Inputs[i].PartialSigs = nil
	}
	return &q
}

// TestUpdateCompletesForeignPSBT: a PSBT another tool made for this wallet
// (Electrum's derivation form, no global xpubs, no non_witness_utxo, no
// scripts on the change, inputs in another order) is completed from the
// wallet until the wallet check passes.
func TestUpdateCompletesForeignPSBT(t *testing.T) {
	tw, p, _ := newSpend(t, descriptor.ScriptWsh, 2, 3)
	want := clone(t, p)
	foreign := clone(t, p)
	foreign.UnsignedTx.TxIn[0], foreign.UnsignedTx.TxIn[1] = foreign.UnsignedTx.TxIn[1], foreign.UnsignedTx.TxIn[0]
	foreign.Inputs[0], foreign.Inputs[1] = foreign.Inputs[1], foreign.Inputs[0]
	electrumForm(t, tw, foreign, 2)
	prevs := map[chainhash.Hash]*wire.MsgTx{}
	for i := range foreign.Inputs {
		in := &foreign.Inputs[i]
		prevs[in.NonWitnessUtxo.TxHash()] = in.NonWitnessUtxo
		in.NonWitnessUtxo = nil
		in.WitnessScript = nil
		if i == 1 {
			in.Bip32Derivation = nil // found through the store instead
		}
	}
	for j := range foreign.Outputs {
		foreign.Outputs[j] = bpsbt.POutput{}
	}
	foreign.Unknowns = nil
	if err := CheckWallet(foreign, tw.info); err == nil {
		t.Fatal("the stripped PSBT passes the wallet check before any update")
	}
	locate := func(script []byte) (uint32, uint32, bool) {
		for _, pos := range [][2]uint32{{0, 3}, {1, 0}, {1, 4}} {
			if bytes.Equal(tw.derive(t, pos[0], pos[1]).ScriptPubKey, script) {
				return pos[0], pos[1], true
			}
		}
		return 0, 0, false
	}
	rep, err := Update(foreign, tw.info, UpdateSource{Locate: locate, PrevTx: func(h chainhash.Hash) *wire.MsgTx { return prevs[h] }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inputs != 2 || rep.Outputs != 1 {
		t.Fatalf("placed %d inputs and %d outputs, want 2 and 1: %q", rep.Inputs, rep.Outputs, rep.Changes)
	}
	if err := CheckWallet(foreign, tw.info); err != nil {
		t.Fatalf("after the update: %v\n%s", err, strings.Join(rep.Changes, "\n"))
	}
	all := strings.Join(rep.Changes, "\n")
	for _, s := range []string{"added non_witness_utxo", "added the witness script", "the wallet's is [" + hexFP(tw.fps[2]), "global: added the xpub record"} {
		if !strings.Contains(all, s) {
			t.Errorf("report lacks %q:\n%s", s, all)
		}
	}
	// Updating again changes nothing.
	if rep2, err := Update(foreign, tw.info, UpdateSource{}); err != nil || len(rep2.Changes) != 0 {
		t.Fatalf("second update: %v, %q", err, rep2.Changes)
	}
	// The same records as countersign's own PSBT, input order aside.
	want.UnsignedTx = foreign.UnsignedTx
	want.Inputs[0], want.Inputs[1] = want.Inputs[1], want.Inputs[0]
	if !bytes.Equal(mustSerialize(t, foreign), mustSerialize(t, want)) {
		t.Fatal("the updated PSBT differs from the one countersign builds")
	}
	// A PSBT whose UTXO records lie is refused, not completed.
	bad := clone(t, foreign)
	bad.Inputs[0].WitnessUtxo.Value++
	if _, err := Update(bad, tw.info, UpdateSource{}); !errors.Is(err, ErrRefused) {
		t.Fatalf("lying witness_utxo: %v", err)
	}
}
