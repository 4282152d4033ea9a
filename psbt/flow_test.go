package psbt

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
)

// newSpend builds a two-input spend with change from a fresh wallet.
func newSpend(t testing.TB, script descriptor.ScriptType, m, n int) (*testWallet, *bpsbt.Packet, *BuildSummary) {
	t.Helper()
	tw := newTestWallet(t, script, m, n, true)
	utxos := []UTXO{tw.utxo(t, 0, 3, 400_000, 1), tw.utxo(t, 1, 0, 250_000, 2)}
	p, sum, err := Build(BuildRequest{
		Wallet: tw.info, UTXOs: utxos, Preselected: outpoints(utxos),
		Outputs: []Output{{Script: externalScript(8), Value: 300_000}},
		FeeRate: 6, ChangeBranch: 1, ChangeIndex: 4, LockTime: 250, Rand: seeded(11),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.ChangeUsed {
		t.Fatal("expected change")
	}
	return tw, p, sum
}

// TestSignCombineFinalize is the whole multisig round: each cosigner signs
// its own copy, the copies are combined, inspected and finalized, and the
// transaction pays at least the rate asked for.
func TestSignCombineFinalize(t *testing.T) {
	for _, st := range []descriptor.ScriptType{descriptor.ScriptSh, descriptor.ScriptShWsh, descriptor.ScriptWsh} {
		t.Run(st.String(), func(t *testing.T) {
			tw, p, sum := newSpend(t, st, 2, 3)
			if err := CheckWallet(p, tw.info); err != nil {
				t.Fatal(err)
			}
			r, err := Inspect(p, tw.info)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Warnings) != 0 || r.ReadyToFinalize || r.Fee != sum.Fee || r.VSize != sum.VSize || r.Sent != 300_000 {
				t.Fatalf("unsigned report: %+v", r)
			}
			for _, in := range r.Inputs {
				if !in.Ours || in.Required != 2 || in.Missing != 2 || len(in.NotSigned) != 3 {
					t.Fatalf("input report %+v", in)
				}
			}
			change := r.Outputs[sum.ChangeOutput]
			if change.Kind != KindChange || *change.Branch != 1 || *change.Index != 4 {
				t.Fatalf("change output report %+v", change)
			}

			// Cosigners A and C sign separate copies.
			a, c := clone(t, p), clone(t, p)
			if n, err := Sign(a, tw.masters[0]); err != nil || n != 2 {
				t.Fatalf("A signs: n=%d err=%v", n, err)
			}
			if n, err := Sign(a, tw.masters[0]); err != nil || n != 0 {
				t.Fatalf("A signs again: n=%d err=%v, want nothing added", n, err)
			}
			if n, err := Sign(c, tw.masters[2]); err != nil || n != 2 {
				t.Fatalf("C signs: n=%d err=%v", n, err)
			}
			for _, q := range []*bpsbt.Packet{a, c} {
				if err := CheckWallet(q, tw.info); err != nil {
					t.Fatal(err)
				}
			}
			comb, err := Combine([]*bpsbt.Packet{a, c}, tw.info)
			if err != nil {
				t.Fatal(err)
			}
			r, err = Inspect(comb, tw.info)
			if err != nil {
				t.Fatal(err)
			}
			if !r.ReadyToFinalize || len(r.Warnings) != 0 {
				t.Fatalf("combined: ready %v warnings %v", r.ReadyToFinalize, r.Warnings)
			}
			for _, in := range r.Inputs {
				if len(in.Signatures) != 2 || in.Missing != 0 || len(in.NotSigned) != 1 || in.NotSigned[0].Label != "cosigner-B" {
					t.Fatalf("combined input report %+v", in)
				}
			}
			tx, err := Finalize(comb, tw.info)
			if err != nil {
				t.Fatal(err)
			}
			if paid := float64(sum.Fee) / float64(actualVSize(tx)); paid < 6 {
				t.Fatalf("paid %.2f sat/vB, asked 6", paid)
			}
			for i := range comb.Inputs {
				in := comb.Inputs[i]
				if in.PartialSigs != nil || in.Bip32Derivation != nil || in.RedeemScript != nil || in.WitnessScript != nil {
					t.Fatalf("input %d: the finalizer left records BIP-174 says to clear", i)
				}
				if in.NonWitnessUtxo == nil {
					t.Fatalf("input %d: the finalizer dropped the UTXO", i)
				}
			}
			r, err = Inspect(comb, tw.info)
			if err != nil || !r.ReadyToFinalize || !r.Inputs[0].Finalized {
				t.Fatalf("finalized report: %+v err %v", r, err)
			}
			// The report's vsize is now the real one.
			if r.VSize != actualVSize(tx) {
				t.Fatalf("report vsize %d, transaction %d", r.VSize, actualVSize(tx))
			}
			tx2, err := Extract(comb)
			if err != nil || !bytes.Equal(txBytes(t, tx2), txBytes(t, tx)) {
				t.Fatalf("Extract: %v", err)
			}
			if _, err := json.Marshal(r); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestReceiveDescriptorRecognisesChange: a wallet given as its receive
// descriptor (/0/*) still recognises change on /1/*.
func TestReceiveDescriptorRecognisesChange(t *testing.T) {
	tw, p, sum := newSpend(t, descriptor.ScriptWsh, 2, 3)
	recv, err := tw.info.Descriptor.Single(0)
	if err != nil {
		t.Fatal(err)
	}
	w := WalletInfo{Descriptor: recv, Network: testNet, Labels: tw.info.Labels}
	r, err := Inspect(p, w)
	if err != nil {
		t.Fatal(err)
	}
	if o := r.Outputs[sum.ChangeOutput]; o.Kind != KindChange || *o.Branch != 1 || !r.Inputs[1].Ours {
		t.Fatalf("change %+v, input 1 ours %v", o, r.Inputs[1].Ours)
	}
	if err := CheckWallet(p, w); err != nil {
		t.Fatal(err)
	}
}

func TestInspectJSONFieldNames(t *testing.T) {
	tw, p, _ := newSpend(t, descriptor.ScriptWsh, 2, 3)
	tw.sign(t, p, 1)
	r, err := Inspect(p, tw.info)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"inputs"`, `"outpoint"`, `"amount"`, `"address"`, `"ours"`, `"branch"`, `"index"`,
		`"signatures"`, `"fingerprint"`, `"label":"cosigner-B"`, `"pubkey"`, `"missing":1`, `"required":2`, `"finalized"`,
		`"outputs"`, `"kind":"change"`, `"kind":"external"`, `"fee"`, `"fee_rate"`, `"vsize"`, `"total_in"`, `"total_out"`,
		`"sent"`, `"ready_to_finalize":false`, `"warnings":[]`} {
		if !bytes.Contains(b, []byte(field)) {
			t.Errorf("report JSON lacks %s: %s", field, b)
		}
	}
}

// TestSwappedChangeOutput: an attacker replaces the change output's script
// with their own and keeps the derivations, hoping a signer trusts them.
func TestSwappedChangeOutput(t *testing.T) {
	tw, p, sum := newSpend(t, descriptor.ScriptWsh, 2, 3)
	attacker := append([]byte{0x00, 0x20}, bytes.Repeat([]byte{0xee}, 32)...)
	p.UnsignedTx.TxOut[sum.ChangeOutput].PkScript = attacker

	r, err := Inspect(p, tw.info)
	if err != nil {
		t.Fatal(err)
	}
	if k := r.Outputs[sum.ChangeOutput].Kind; k != KindExternal {
		t.Fatalf("swapped change reported as %q", k)
	}
	if !containsWarning(r, "claims to be change but does not derive from the wallet") {
		t.Fatalf("no warning about the swapped change: %v", r.Warnings)
	}
	if r.Sent != 300_000+sum.ChangeValue {
		t.Fatalf("sent %d: the swapped change must count as sent", r.Sent)
	}
	err = CheckWallet(p, tw.info)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "output") {
		t.Fatalf("CheckWallet: %v", err)
	}

	// Same attack with the witness script swapped to match the new
	// program: still not the wallet's.
	p.Outputs[sum.ChangeOutput].WitnessScript = []byte{txscript.OP_1}
	if err := CheckWallet(p, tw.info); !errors.Is(err, ErrRefused) {
		t.Fatalf("CheckWallet: %v", err)
	}
}

func containsWarning(r *Report, s string) bool {
	for _, w := range r.Warnings {
		if strings.Contains(w, s) {
			return true
		}
	}
	return false
}

func TestForgedUTXOData(t *testing.T) {
	t.Run("non_witness_utxo does not hash to the txid", func(t *testing.T) {
		tw, p, _ := newSpend(t, descriptor.ScriptWsh, 2, 3)
		forged := p.Inputs[0].NonWitnessUtxo.Copy()
		forged.TxOut[1].Value += 1_000_000 // a richer coin, and a different txid
		p.Inputs[0].NonWitnessUtxo = forged
		expectRefused(t, tw, p, "non_witness_utxo")
	})
	t.Run("witness_utxo disagrees with non_witness_utxo", func(t *testing.T) {
		tw, p, _ := newSpend(t, descriptor.ScriptShWsh, 2, 3)
		p.Inputs[1].WitnessUtxo.Value -= 50_000 // the BIP-143 fee attack
		expectRefused(t, tw, p, "disagrees")
	})
	t.Run("segwit input without non_witness_utxo", func(t *testing.T) {
		tw, p, _ := newSpend(t, descriptor.ScriptWsh, 2, 3)
		p.Inputs[0].NonWitnessUtxo = nil
		expectRefused(t, tw, p, "non_witness_utxo")
	})
	t.Run("witness_utxo on a legacy sh input", func(t *testing.T) {
		tw, p, _ := newSpend(t, descriptor.ScriptSh, 2, 3)
		prev := p.Inputs[0].NonWitnessUtxo.TxOut[p.UnsignedTx.TxIn[0].PreviousOutPoint.Index]
		p.Inputs[0].WitnessUtxo = wire.NewTxOut(prev.Value, prev.PkScript)
		expectRefused(t, tw, p, "witness_utxo")
	})
	t.Run("sighash NONE", func(t *testing.T) {
		tw, p, _ := newSpend(t, descriptor.ScriptWsh, 2, 3)
		p.Inputs[1].SighashType = txscript.SigHashNone
		expectRefused(t, tw, p, "sighash type 0x2")
	})
	t.Run("input that is not the wallet's", func(t *testing.T) {
		tw, p, _ := newSpend(t, descriptor.ScriptWsh, 2, 3)
		other := newTestWallet(t, descriptor.ScriptWsh, 2, 2, true)
		if err := CheckWallet(p, other.info); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "does not belong") {
			t.Fatalf("CheckWallet with another wallet: %v", err)
		}
		r, err := Inspect(p, other.info)
		if err != nil || r.Inputs[0].Ours || r.Inputs[1].Ours {
			t.Fatalf("Inspect with another wallet marks inputs as ours: %v", err)
		}
		_ = tw
	})
}

// expectRefused checks that the gate, the signer and the report all catch
// a tampered input.
func expectRefused(t *testing.T, tw *testWallet, p *bpsbt.Packet, reason string) {
	t.Helper()
	err := CheckWallet(p, tw.info)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), reason) {
		t.Fatalf("CheckWallet: err = %v, want a refusal about %q", err, reason)
	}
	before := countSigs(p)
	if _, err := Sign(p, tw.masters[0]); !errors.Is(err, ErrRefused) {
		t.Fatalf("Sign: err = %v, want a refusal", err)
	}
	if countSigs(p) != before {
		t.Fatal("Sign added a signature before refusing")
	}
	r, err := Inspect(p, tw.info)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Warnings) == 0 || r.ReadyToFinalize {
		t.Fatalf("Inspect shows no warning: %+v", r)
	}
}

func TestCombineRefusals(t *testing.T) {
	tw, p, _ := newSpend(t, descriptor.ScriptWsh, 2, 3)
	a, b := clone(t, p), clone(t, p)
	tw.sign(t, a, 0)
	tw.sign(t, b, 1)

	t.Run("different transaction", func(t *testing.T) {
		other := clone(t, b)
		other.UnsignedTx.LockTime++
		_, err := Combine([]*bpsbt.Packet{a, b, other}, tw.info)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "PSBT 3 of 3") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("conflicting signature for one key", func(t *testing.T) {
		b2 := clone(t, b)
		// A second, different signature for A's key.
		tw.sign(t, b2, 0)
		sig := a.Inputs[0].PartialSigs[0]
		for _, ps := range b2.Inputs[0].PartialSigs {
			if bytes.Equal(ps.PubKey, sig.PubKey) {
				ps.Signature = append([]byte(nil), sig.Signature...)
				ps.Signature[10] ^= 0x01
			}
		}
		_, err := Combine([]*bpsbt.Packet{a, b2}, tw.info)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "input 0") || !strings.Contains(err.Error(), "two different values") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("invalid signature", func(t *testing.T) {
		bad := clone(t, p)
		tw.sign(t, bad, 2)
		for _, ps := range bad.Inputs[1].PartialSigs {
			ps.Signature[12] ^= 0x01 // still DER, no longer valid
		}
		_, err := Combine([]*bpsbt.Packet{a, bad}, tw.info)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "input 1") || !strings.Contains(err.Error(), "cosigner-C") ||
			!strings.Contains(err.Error(), hexFP(tw.fps[2])) {
			t.Fatalf("err = %v, want a refusal naming input 1 and cosigner-C", err)
		}
		// Finalize refuses it too rather than skipping it, once there are
		// enough signatures to try.
		for i := range bad.Inputs {
			bad.Inputs[i].PartialSigs = append(bad.Inputs[i].PartialSigs, a.Inputs[i].PartialSigs...)
		}
		if err := FinalizePacket(bad, tw.info); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "invalid signature from cosigner "+hexFP(tw.fps[2])+" (cosigner-C)") {
			t.Fatalf("FinalizePacket: %v", err)
		}
		// Inspect reports it and does not count it.
		r, err := Inspect(bad, tw.info)
		if err != nil || r.Inputs[1].Missing != 1 || r.ReadyToFinalize || !containsWarning(r, "invalid signature") {
			t.Fatalf("Inspect: %+v %v", r, err)
		}
	})
	t.Run("signature with sighash NONE", func(t *testing.T) {
		bad := clone(t, a)
		ps := bad.Inputs[0].PartialSigs[0]
		ps.Signature[len(ps.Signature)-1] = byte(txscript.SigHashNone)
		_, err := Combine([]*bpsbt.Packet{bad, b}, tw.info)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "SIGHASH_ALL") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("inputs untouched", func(t *testing.T) {
		before := mustSerialize(t, a)
		if _, err := Combine([]*bpsbt.Packet{a, clone(t, p)}, tw.info); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, mustSerialize(t, a)) {
			t.Fatal("Combine changed its input")
		}
	})
}

func hexFP(fp [4]byte) string {
	const digits = "0123456789abcdef"
	var b []byte
	for _, x := range fp {
		b = append(b, digits[x>>4], digits[x&15])
	}
	return string(b)
}

func TestFinalizeNamesMissingCosigners(t *testing.T) {
	tw, p, _ := newSpend(t, descriptor.ScriptWsh, 3, 5)
	tw.sign(t, p, 1, 3)
	before := mustSerialize(t, p)
	err := FinalizePacket(p, tw.info)
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"input 0", "input 1", "2 of the 3", "cosigner-A", "cosigner-C", "cosigner-E"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "cosigner-B") || strings.Contains(err.Error(), "cosigner-D") {
		t.Errorf("error names cosigners who signed: %v", err)
	}
	if !bytes.Equal(before, mustSerialize(t, p)) {
		t.Fatal("a refused finalization changed the PSBT")
	}
	// With a third signature it goes through; the first three by script
	// order are used when more are present.
	tw.sign(t, p, 4, 0)
	if _, err := Finalize(p, tw.info); err != nil {
		t.Fatal(err)
	}
}

func TestSignRefusesForeignScriptKey(t *testing.T) {
	tw, p, _ := newSpend(t, descriptor.ScriptWsh, 2, 3)
	// The derivation for cosigner A is kept but its pubkey is changed to
	// another key: the master does not derive it.
	other := tw.derive(t, 0, 99)
	for _, d := range p.Inputs[0].Bip32Derivation {
		if fingerprintOf(d) == tw.fps[0] {
			d.PubKey = other.Keys[0].PubKey
		}
	}
	if _, err := Sign(p, tw.masters[0]); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "derives") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Sign(p, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("nil master: %v", err)
	}
	pub, _ := tw.masters[0].Neuter()
	if _, err := Sign(p, pub); !errors.Is(err, ErrMalformed) {
		t.Fatalf("public master: %v", err)
	}
}

func TestFinalizedInputs(t *testing.T) {
	tw, p, _ := newSpend(t, descriptor.ScriptShWsh, 2, 3)
	tw.sign(t, p, 0, 2)
	if err := FinalizePacket(p, tw.info); err != nil {
		t.Fatal(err)
	}
	// Finalizing again keeps the final scripts and checks them again.
	before := mustSerialize(t, p)
	if err := FinalizePacket(p, tw.info); err != nil || !bytes.Equal(before, mustSerialize(t, p)) {
		t.Fatalf("second finalization: %v", err)
	}
	// A finalized PSBT can no longer be checked against the wallet.
	if err := CheckWallet(p, tw.info); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "already finalized") {
		t.Fatalf("CheckWallet: %v", err)
	}
	// A tampered final witness is caught by the extractor's script check.
	q := clone(t, p)
	wit, err := parseWitness(q.Inputs[0].FinalScriptWitness)
	if err != nil {
		t.Fatal(err)
	}
	wit[1][20] ^= 1
	var b bytes.Buffer
	if err := bpsbt.WriteTxWitness(&b, wit); err != nil {
		t.Fatal(err)
	}
	q.Inputs[0].FinalScriptWitness = b.Bytes()
	if _, err := Extract(q); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "input 0") {
		t.Fatalf("Extract of a broken witness: %v", err)
	}
}

func TestInspectForeignSignature(t *testing.T) {
	tw, p, _ := newSpend(t, descriptor.ScriptWsh, 2, 3)
	tw.sign(t, p, 0)
	// A signature under a key that is not in the script does not count.
	other := tw.derive(t, 0, 42).Keys[1].PubKey
	p.Inputs[0].PartialSigs = append(p.Inputs[0].PartialSigs, &bpsbt.PartialSig{PubKey: other, Signature: p.Inputs[0].PartialSigs[0].Signature})
	r, err := Inspect(p, tw.info)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Inputs[0].Signatures) != 1 || r.Inputs[0].Missing != 1 || !containsWarning(r, "not in the input's script") {
		t.Fatalf("report %+v warnings %v", r.Inputs[0], r.Warnings)
	}
	if _, err := Combine([]*bpsbt.Packet{p}, tw.info); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "not a key of the input's script") {
		t.Fatalf("Combine: %v", err)
	}
}

func TestDuplicateInputsRefused(t *testing.T) {
	tw, p, _ := newSpend(t, descriptor.ScriptWsh, 2, 3)
	p.UnsignedTx.TxIn[1].PreviousOutPoint = p.UnsignedTx.TxIn[0].PreviousOutPoint
	p.Inputs[1] = p.Inputs[0]
	if err := CheckWallet(p, tw.info); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "both spend") {
		t.Fatalf("err = %v", err)
	}
}
