package psbt

import (
	"bytes"
	"reflect"
	"testing"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/countersign/countersign/descriptor"
)

// TestMemoAnswersAsComputed: a Memo's answer to a signature check is the
// check's own, valid or not, the first time and every time after; only
// the first is computed.
func TestMemoAnswersAsComputed(t *testing.T) {
	tw, p, _ := newSpend(t, descriptor.ScriptWsh, 2, 3)
	tw.sign(t, p, 0)
	a := analyze(p, nil)
	a.computeSighashes(func(int) bool { return true })
	ps := p.Inputs[0].PartialSigs[0]
	h := a.in[0].sighash
	bad := bytes.Clone(ps.Signature)
	bad[10] ^= 1
	m := NewMemo()
	for round := range 3 {
		for _, c := range []struct {
			sighash, pub, sig []byte
		}{{h, ps.PubKey, ps.Signature}, {h, ps.PubKey, bad}, {a.in[1].sighash, ps.PubKey, ps.Signature}} {
			want := verifySignature(c.sighash, c.pub, c.sig)
			if got := m.verify(c.sighash, c.pub, c.sig); (got == nil) != (want == nil) || (got != nil && got.Error() != want.Error()) {
				t.Fatalf("round %d: memo says %v, the check says %v", round, got, want)
			}
		}
	}
	if st := m.Stats(); st.Verified != 3 || st.Remembered != 6 {
		t.Fatalf("stats %+v, want 3 computed and 6 remembered", st)
	}
	if (*Memo)(nil).verify(h, ps.PubKey, ps.Signature) != nil {
		t.Fatal("a nil memo does not verify")
	}
}

// TestMemoDeriveRange: derivations through a Memo are the descriptor's,
// whether computed in a batch or one by one, and are computed once.
func TestMemoDeriveRange(t *testing.T) {
	tw := newTestWallet(t, descriptor.ScriptShWsh, 2, 3, true)
	m := NewMemo()
	for _, r := range []struct{ branch, from, count uint32 }{{0, 0, 100}, {1, 5, 3}, {0, 90, 20}} {
		got, err := m.DeriveRange(tw.info.Descriptor, testNet, r.branch, r.from, r.count)
		if err != nil {
			t.Fatal(err)
		}
		want, err := tw.info.Descriptor.DeriveRange(r.branch, r.from, r.count, testNet)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("branch %d from %d count %d: the memo's derivations differ", r.branch, r.from, r.count)
		}
	}
	again, _ := m.DeriveRange(tw.info.Descriptor, testNet, 0, 10, 1)
	first, _ := m.DeriveRange(tw.info.Descriptor, testNet, 0, 10, 1)
	if again[0] != first[0] {
		t.Fatal("a position was derived twice")
	}
}

// TestVerifyAhead: the signatures VerifyAhead verified in the background
// are each computed once and answered to the report; a signature changed
// after VerifyAhead returned (its snapshot had the old one) is checked as
// it is now. Run with -race: p is changed while the job may still run.
func TestVerifyAhead(t *testing.T) {
	tw, p, _ := newSpend(t, descriptor.ScriptWsh, 2, 3)
	tw.sign(t, p, 0, 1)
	n := 0
	for i := range p.Inputs {
		n += len(p.Inputs[i].PartialSigs)
	}
	m := NewMemo()
	m.VerifyAhead(p)
	// What a step's update does while the job runs: records replaced.
	ps := p.Inputs[0].PartialSigs[0]
	bad := bytes.Clone(ps.Signature)
	bad[10] ^= 1
	p.Inputs[0].PartialSigs = append([]*bpsbt.PartialSig{{PubKey: ps.PubKey, Signature: bad}}, p.Inputs[0].PartialSigs[1:]...)
	p.Inputs[1].WitnessScript = bytes.Clone(p.Inputs[1].WitnessScript)

	info := tw.info
	info.Memo = m
	rep, err := Inspect(p, info)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(rep.Inputs[0].Signatures); got != 1 {
		t.Fatalf("input 0 counts %d signatures; the changed one must not count", got)
	}
	if got := len(rep.Inputs[1].Signatures); got != 2 {
		t.Fatalf("input 1 counts %d signatures, want 2", got)
	}
	// Every signature VerifyAhead saw was computed once, by it; the
	// report computed only the changed one.
	if st := m.Stats(); st.Verified != n+1 || st.Remembered != n-1 {
		t.Fatalf("stats %+v, want %d computed and %d remembered", st, n+1, n-1)
	}
	(*Memo)(nil).VerifyAhead(p)            // does nothing
	NewMemo().VerifyAhead(&bpsbt.Packet{}) // nor on a packet without a transaction
}

// TestVerifyAheadForgetsFinishedJobs: a memo that lives through many
// steps keeps only the jobs still running.
func TestVerifyAheadForgetsFinishedJobs(t *testing.T) {
	tw, p, _ := newSpend(t, descriptor.ScriptWsh, 2, 3)
	tw.sign(t, p, 0)
	m := NewMemo()
	for range 50 {
		m.VerifyAhead(p)
		a := analyze(p, m)
		a.computeSighashes(func(int) bool { return true })
		ps := p.Inputs[0].PartialSigs[0]
		if err := m.verify(a.in[0].sighash, ps.PubKey, ps.Signature); err != nil {
			t.Fatal(err)
		}
	}
	m.mu.Lock()
	n := len(m.ahead)
	m.mu.Unlock()
	if n > 1 {
		t.Fatalf("%d jobs kept after 50 finished ones", n)
	}
}
