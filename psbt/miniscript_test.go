package psbt

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/descriptor"
)

// newMiniscriptWallet is a wallet over the test cosigners' keys with the
// miniscript tmpl, where K0..K3 stand for cosigners 0..3 at /<0;1>/* and
// R0 for cosigner 0's second key at /<2;3>/*.
func newMiniscriptWallet(t testing.TB, tmpl string) *testWallet {
	t.Helper()
	base := newTestWallet(t, descriptor.ScriptWsh, 1, 4, false)
	text := tmpl
	for i, k := range base.info.Descriptor.Keys {
		s := k.String()
		text = strings.ReplaceAll(text, fmt.Sprintf("K%d", i), s)
		text = strings.ReplaceAll(text, fmt.Sprintf("R%d", i), strings.Replace(s, "/<0;1>/*", "/<2;3>/*", 1))
	}
	d, err := descriptor.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	base.info.Descriptor = d
	base.info.Labels = []string{"alice", "bob", "carol", "lawyer", "alice"}
	return base
}

// buildMini builds a payment from two coins with the given nSequence.
func buildMini(t testing.TB, tw *testWallet, seq uint32, lockTime uint32) *bpsbt.Packet {
	t.Helper()
	utxos := []UTXO{tw.utxo(t, 0, 3, 400_000, 1), tw.utxo(t, 1, 0, 250_000, 2)}
	p, _, err := Build(BuildRequest{
		Wallet: tw.info, UTXOs: utxos, Preselected: outpoints(utxos),
		Outputs: []Output{{Script: externalScript(8), Value: 300_000}},
		FeeRate: 6, ChangeBranch: 1, ChangeIndex: 4, LockTime: lockTime, Sequence: seq, Rand: seeded(11),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMiniscriptSpendPaths: an inheritance wallet's coins are recognised by
// the gate, signed by software keys (alice with both of her keys), and
// finalized by the satisfier on the path the locks open: the primary 2 of
// 3 at any time, the lawyer alone only with nSequence >= 144. The witness
// is executed by btcd's script engine, and the fee pays at least the rate
// asked for.
func TestMiniscriptSpendPaths(t *testing.T) {
	tw := newMiniscriptWallet(t, "wsh(or_d(multi(2,K0,K1,K2),and_v(v:multi(1,K3,R0),older(144))))")

	// Primary: bob and carol.
	p := buildMini(t, tw, 0, 250)
	if err := CheckWallet(p, tw.info); err != nil {
		t.Fatal(err)
	}
	rep, err := Inspect(p, tw.info)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range rep.Inputs {
		// Only the primary keys can help before the lock opens.
		if !in.Ours || in.Required != 2 || in.Missing != 2 || len(in.NotSigned) != 3 {
			t.Fatalf("unsigned input %+v", in)
		}
	}
	tw.sign(t, p, 1)
	if err := FinalizePacket(clone(t, p), tw.info); err == nil || !errors.Is(err, ErrRefused) {
		t.Fatalf("finalized with one primary signature: %v", err)
	}
	tw.sign(t, p, 2)
	if rep, _ = Inspect(p, tw.info); !rep.ReadyToFinalize {
		t.Fatalf("not ready: %+v", rep.Inputs)
	}
	tx, err := Finalize(p, tw.info)
	if err != nil {
		t.Fatal(err)
	}
	if len(tx.TxIn[0].Witness) != 4 || len(tx.TxIn[0].Witness[0]) != 0 {
		t.Fatalf("primary witness %x", tx.TxIn[0].Witness)
	}
	if got := actualVSize(tx); got > rep.VSize {
		t.Fatalf("estimated %d vB, the transaction has %d", rep.VSize, got)
	}

	// Recovery without the lock: the lawyer's signature is not enough.
	p = buildMini(t, tw, 0, 250)
	tw.sign(t, p, 3)
	if err := FinalizePacket(p, tw.info); err == nil || !strings.Contains(err.Error(), "nSequence") {
		t.Fatalf("recovery finalized without its lock: %v", err)
	}

	// Recovery with nSequence 144: the lawyer alone, or alice's second key.
	for _, signer := range []int{3, 0} {
		p = buildMini(t, tw, 144, 250)
		rep, err = Inspect(p, tw.info)
		if err != nil || rep.Inputs[0].Required != 1 || len(rep.Inputs[0].NotSigned) != 5 {
			t.Fatalf("recovery needs %d signatures from %d keys, %v", rep.Inputs[0].Required, len(rep.Inputs[0].NotSigned), err)
		}
		tw.sign(t, p, signer)
		tx, err = Finalize(p, tw.info)
		if err != nil {
			t.Fatalf("signer %d: %v", signer, err)
		}
		if tx.TxIn[0].Sequence != 144 || tx.Version < 2 {
			t.Fatalf("sequence %d version %d", tx.TxIn[0].Sequence, tx.Version)
		}
		// A finalized recovery spend still passes the gate (its witness
		// holds a public key and empty items beside the signature).
		if _, err := Gate(p, tw.info, GateRules{Locate: func([]byte) (uint32, uint32, bool) { return 0, 0, true }}); err != nil {
			t.Fatalf("gate on the finalized recovery spend: %v", err)
		}
	}
}

// TestMiniscriptDecaySpend: 3 of 4 at any time, 2 of 4 after 10 blocks.
func TestMiniscriptDecaySpend(t *testing.T) {
	tw := newMiniscriptWallet(t, "wsh(thresh(3,pk(K0),s:pk(K1),s:pk(K2),s:pk(K3),sln:older(10)))")
	p := buildMini(t, tw, 0, 250)
	tw.sign(t, p, 0, 3)
	if err := FinalizePacket(clone(t, p), tw.info); err == nil {
		t.Fatal("2 signatures spent the decaying wallet before its lock")
	}
	tw.sign(t, p, 2)
	if _, err := Finalize(p, tw.info); err != nil {
		t.Fatal(err)
	}
	p = buildMini(t, tw, 10, 250)
	tw.sign(t, p, 0, 3)
	if _, err := Finalize(p, tw.info); err != nil {
		t.Fatal(err)
	}
}

// TestMiniscriptAbsoluteLock: after(H) needs nLockTime >= H.
func TestMiniscriptAbsoluteLock(t *testing.T) {
	tw := newMiniscriptWallet(t, "wsh(or_d(multi(2,K0,K1),and_v(v:pkh(K3),after(300))))")
	p := buildMini(t, tw, 0, 299)
	tw.sign(t, p, 3)
	if err := FinalizePacket(p, tw.info); err == nil {
		t.Fatal("spent before the absolute lock")
	}
	p = buildMini(t, tw, 0, 300)
	tw.sign(t, p, 3)
	if _, err := Finalize(p, tw.info); err != nil {
		t.Fatal(err)
	}
}

// miniscriptSeeds are an inheritance wallet's recovery PSBT unsigned,
// signed and finalized, for the fuzz targets: witness scripts that are
// miniscripts, decoded on every Inspect.
func miniscriptSeeds(tb testing.TB) [][]byte {
	tw := newMiniscriptWallet(tb, "wsh(or_d(multi(2,K0,K1,K2),and_v(v:multi(1,K3,R0),older(144))))")
	p := buildMini(tb, tw, 144, 250)
	out := [][]byte{mustSerialize(tb, p)}
	tw.sign(tb, p, 3)
	out = append(out, mustSerialize(tb, p))
	if err := FinalizePacket(p, tw.info); err != nil {
		tb.Fatal(err)
	}
	return append(out, mustSerialize(tb, p))
}
