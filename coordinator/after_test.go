package coordinator_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// signBy has each named key sign its own copy of p (as cosigners do with
// files); the store merges the copies into the spend's current version.
func (r *rig) signBy(t *testing.T, p *bpsbt.Packet, opts coordinator.GateOptions, names ...string) {
	t.Helper()
	for _, n := range names {
		r.signOnce(t, p, opts, n)
	}
}

// signOnce runs the sign step on p with cosigner name's key and returns
// the PSBT with its signatures (the step also records it in the store).
func (r *rig) signOnce(t *testing.T, p *bpsbt.Packet, opts coordinator.GateOptions, name string) *bpsbt.Packet {
	t.Helper()
	ctx := context.Background()
	plan, err := r.c.PrepareSign(ctx, "", p, opts)
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.c.Sign(ctx, plan, hw.NewSigner(r.keys[name]))
	if err != nil {
		t.Fatalf("%s signs: %v", name, err)
	}
	return out.PSBT
}

// current is the stored spend's newest version.
func (r *rig) current(t *testing.T, txid chainhash.Hash) *coordinator.Pending {
	t.Helper()
	p, err := r.c.PendingSpend(context.Background(), "family", txid.String())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// send signs p by alice and bob, finalizes the merged version and
// broadcasts it through the fake backend.
func (r *rig) send(t *testing.T, p *bpsbt.Packet, opts coordinator.GateOptions) *wire.MsgTx {
	t.Helper()
	ctx := context.Background()
	r.signBy(t, p, opts, "alice", "bob")
	cur := r.current(t, p.UnsignedTx.TxHash())
	if cur.State != coordinator.PendingReady || cur.Signatures != 2 {
		t.Fatalf("after two signatures in two copies: state %s, %d signatures", cur.State, cur.Signatures)
	}
	fin, err := r.c.Finalize(ctx, "", cur.PSBT, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := psbt.Serialize(fin.PSBT)
	if _, err := r.c.Broadcast(ctx, "", raw, opts); err != nil {
		t.Fatal(err)
	}
	return fin.Tx
}

// confirm stores tx in the wallet's history at height, as a sync would.
func (r *rig) confirm(t *testing.T, tx *wire.MsgTx, height int32) {
	t.Helper()
	ctx := context.Background()
	us, _ := r.c.Store.UTXOs(ctx, "family")
	spent := map[wire.OutPoint]bool{}
	for _, in := range tx.TxIn {
		spent[in.PreviousOutPoint] = true
	}
	var keep []wallet.UTXO
	for _, u := range us {
		if !spent[u.OutPoint] {
			u.SpentBy = nil
			keep = append(keep, u)
		}
	}
	var raw bytes.Buffer
	tx.Serialize(&raw)
	if err := r.c.Store.ApplySync(ctx, "family", wallet.SyncUpdate{Height: 300, Hash: chainhash.Hash{3}, UTXOs: keep,
		Txs: []wallet.Tx{{TxID: tx.TxHash(), Height: height, Raw: raw.Bytes(), Net: -1}}}); err != nil {
		t.Fatal(err)
	}
}

// TestPendingSpendStates: a spend goes draft -> ready -> broadcast ->
// confirmed in the list, signatures counted across separately signed
// copies (the store merges them), who signed named.
func TestPendingSpendStates(t *testing.T) {
	r := newRig(t, 300_000)
	ctx := context.Background()
	sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 100_000)}, FeeRate: 2, Note: "printer"})
	if err != nil {
		t.Fatal(err)
	}
	state := func() *coordinator.Pending {
		ps, err := r.c.PendingSpends(ctx, "")
		if err != nil || len(ps) != 1 {
			t.Fatalf("%d spends, %v", len(ps), err)
		}
		return ps[0]
	}
	p := state()
	if p.State != coordinator.PendingDraft || p.Signatures != 0 || p.Required != 2 || p.N != 3 || p.ID != sp.Draft.ID || p.Label != "printer" || len(p.Missing) != 3 {
		t.Fatalf("new spend: %+v", p)
	}
	r.signBy(t, sp.PSBT, coordinator.GateOptions{}, "alice")
	if p = state(); p.State != coordinator.PendingDraft || p.Signatures != 1 || len(p.Signed) != 1 || p.Signed[0].Label != "alice" {
		t.Fatalf("after alice: %s %d %+v", p.State, p.Signatures, p.Signed)
	}
	// bob signs the unsigned file, not alice's: the store merges.
	r.signBy(t, sp.PSBT, coordinator.GateOptions{}, "bob")
	if p = state(); p.State != coordinator.PendingReady || p.Signatures != 2 || !p.Report.ReadyToFinalize {
		t.Fatalf("after bob: %s %d", p.State, p.Signatures)
	}
	fin, err := r.c.Finalize(ctx, "", p.PSBT, coordinator.GateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := psbt.Serialize(fin.PSBT)
	if _, err := r.c.Broadcast(ctx, "", raw, coordinator.GateOptions{}); err != nil {
		t.Fatal(err)
	}
	if p = state(); p.State != coordinator.PendingBroadcast || *p.FinalTxID != fin.Tx.TxHash() {
		t.Fatalf("after broadcast: %s", p.State)
	}
	if _, err := r.c.Abandon(ctx, "", p.ID); !errors.Is(err, wallet.ErrInvalid) {
		t.Fatalf("abandoning a broadcast spend: %v", err)
	}
	r.confirm(t, fin.Tx, 250)
	if p = state(); p.State != coordinator.PendingConfirmed || p.Height != 250 {
		t.Fatalf("after a block: %s %d", p.State, p.Height)
	}
	// Every version is findable by its own id, the txid, the final txid.
	for _, ref := range []string{p.Versions[len(p.Versions)-1].ID[:10], p.TxID.String(), fin.Tx.TxHash().String()} {
		if q, err := r.c.PendingSpend(ctx, "", ref); err != nil || q.ID != p.ID {
			t.Fatalf("find %s: %v", ref, err)
		}
	}
	// The journal names who signed.
	es, _ := r.c.Journal(ctx, "family", timeZero)
	signers := 0
	for _, e := range es {
		if strings.Contains(string(e.Detail), `"signed_by"`) {
			signers++
		}
	}
	if signers != 2 {
		t.Fatalf("%d journal entries name a signer, want 2", signers)
	}
}

// TestSpendLeavesOutCoinsOfLiveDrafts: a second spend does not take the
// coin a live draft spends, says so, takes it with AllowConflict, and
// gets it back once the first draft is abandoned.
func TestSpendLeavesOutCoinsOfLiveDrafts(t *testing.T) {
	r := newRig(t, 300_000, 200_000)
	ctx := context.Background()
	first, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 250_000)}, UTXOs: []wire.OutPoint{r.coinAt(t, 0)}, FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	used := first.PSBT.UnsignedTx.TxIn[0].PreviousOutPoint
	second, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 20_000)}, FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(second.LeftOut) != 1 || second.LeftOut[0].OutPoint != used || second.LeftOut[0].Draft != first.Draft.ID {
		t.Fatalf("left out %+v", second.LeftOut)
	}
	for _, in := range second.PSBT.UnsignedTx.TxIn {
		if in.PreviousOutPoint == used {
			t.Fatal("the second spend took the first draft's coin")
		}
	}
	if _, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 20_000)}, UTXOs: []wire.OutPoint{used}, FeeRate: 2}); !errors.Is(err, wallet.ErrInvalid) {
		t.Fatalf("choosing a live draft's coin: %v", err)
	}
	third, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 20_000)}, UTXOs: []wire.OutPoint{used}, FeeRate: 2, AllowConflict: true})
	if err != nil || len(third.Conflicts) != 1 || third.Conflicts[0].Draft != first.Draft.ID {
		t.Fatalf("with AllowConflict: %v %+v", err, third)
	}
	if _, err := r.c.Abandon(ctx, "", first.Draft.ID[:8]); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Abandon(ctx, "", third.Draft.ID); err != nil {
		t.Fatal(err)
	}
	if p := r.current(t, first.Draft.TxID); p.State != coordinator.PendingAbandoned {
		t.Fatalf("abandoned spend shows %s", p.State)
	}
	fourth, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 20_000)}, UTXOs: []wire.OutPoint{used}, FeeRate: 2})
	if err != nil || len(fourth.LeftOut) != 0 {
		t.Fatalf("after abandoning: %v", err)
	}
}

// TestBump: a payment stuck at 1 sat/vB is replaced at 10 sat/vB with the
// same payment, the fee from its change, the replacement rules met; the
// original shows replaced once the bump is broadcast.
func TestBump(t *testing.T) {
	r := newRig(t, 300_000)
	ctx := context.Background()
	pay := outside(t, 100_000)
	sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{pay}, FeeRate: 1, Note: "rent"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Bump(ctx, coordinator.BumpRequest{Ref: sp.Draft.ID, FeeRate: 10, Reduce: -1}); !errors.Is(err, wallet.ErrInvalid) {
		t.Fatalf("bumping a spend never sent: %v", err)
	}
	orig := r.send(t, sp.PSBT, coordinator.GateOptions{})
	// Too little: 1.5 sat/vB is above the old rate but not by the
	// incremental relay fee.
	if _, err := r.c.Bump(ctx, coordinator.BumpRequest{Ref: orig.TxHash().String(), FeeRate: 1.5, Reduce: -1}); !errors.Is(err, wallet.ErrInvalid) || !strings.Contains(err.Error(), "at least") {
		t.Fatalf("bump to 1.5 sat/vB: %v", err)
	}
	b, err := r.c.Bump(ctx, coordinator.BumpRequest{Ref: orig.TxHash().String(), FeeRate: 10, Reduce: -1})
	if err != nil {
		t.Fatal(err)
	}
	if b.OldSizeEstimated || b.OldVSize != coordinator.VSize(orig) {
		t.Fatalf("old size %d (estimated %v), the signed one is %d", b.OldVSize, b.OldSizeEstimated, coordinator.VSize(orig))
	}
	rep := b.Report
	if rep.Fee < psbt.MinReplacementFee(b.OldFee, b.OldVSize, rep.VSize) || rep.FeeRate < 10 || rep.Sent != 100_000 || len(b.Added) != 0 {
		t.Fatalf("replacement: fee %d at %.2f sat/vB, sends %d, added %v (old fee %d)", rep.Fee, rep.FeeRate, rep.Sent, b.Added, b.OldFee)
	}
	for i, in := range orig.TxIn {
		if b.PSBT.UnsignedTx.TxIn[i].PreviousOutPoint != in.PreviousOutPoint && !containsIn(b.PSBT.UnsignedTx, in.PreviousOutPoint) {
			t.Fatalf("the replacement does not spend %s", in.PreviousOutPoint)
		}
	}
	if rep.Inputs[0].Missing != 2 {
		t.Fatalf("the replacement needs %d signatures, want 2 again", rep.Inputs[0].Missing)
	}
	np := r.current(t, b.Draft.TxID)
	if np.Kind != wallet.KindBump || *np.Related != sp.Draft.TxID || np.Label != "rent" || np.State != coordinator.PendingDraft {
		t.Fatalf("the replacement's spend: %+v", np)
	}
	if op := r.current(t, sp.Draft.TxID); op.State != coordinator.PendingBroadcast {
		t.Fatalf("original before the bump is sent: %s", op.State)
	}
	bumped := r.send(t, b.PSBT, coordinator.GateOptions{})
	if op := r.current(t, sp.Draft.TxID); op.State != coordinator.PendingReplaced || *op.ReplacedBy != bumped.TxHash() {
		t.Fatalf("original after the bump is sent: %s", op.State)
	}
	if np = r.current(t, b.Draft.TxID); np.State != coordinator.PendingBroadcast {
		t.Fatalf("bump after it is sent: %s", np.State)
	}
	if _, err := r.c.Bump(ctx, coordinator.BumpRequest{Ref: sp.Draft.ID, FeeRate: 20, Reduce: -1}); !errors.Is(err, wallet.ErrInvalid) {
		t.Fatalf("bumping a replaced spend: %v", err)
	}
	r.confirm(t, bumped, 260)
	if np = r.current(t, b.Draft.TxID); np.State != coordinator.PendingConfirmed {
		t.Fatalf("bump after a block: %s", np.State)
	}
	if op := r.current(t, sp.Draft.TxID); op.State != coordinator.PendingReplaced {
		t.Fatalf("original after the bump confirmed: %s", op.State)
	}
}

func containsIn(tx *wire.MsgTx, op wire.OutPoint) bool {
	for _, in := range tx.TxIn {
		if in.PreviousOutPoint == op {
			return true
		}
	}
	return false
}

// TestBumpAddsACoin: when the change cannot pay the higher fee, a
// confirmed coin is added; the payment is untouched.
func TestBumpAddsACoin(t *testing.T) {
	r := newRig(t, 100_000, 80_000)
	ctx := context.Background()
	first := r.coinAt(t, 0)
	sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 99_000)}, UTXOs: []wire.OutPoint{first}, FeeRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	orig := r.send(t, sp.PSBT, coordinator.GateOptions{})
	b, err := r.c.Bump(ctx, coordinator.BumpRequest{Ref: orig.TxHash().String(), FeeRate: 8, Reduce: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Added) != 1 || b.Added[0] != r.coinAt(t, 1) || b.Report.Sent != 99_000 || b.Report.FeeRate < 8 {
		t.Fatalf("added %v, sends %d at %.2f sat/vB", b.Added, b.Report.Sent, b.Report.FeeRate)
	}
}

// TestBumpSendAll: a send-all has no change: its payment is lowered only
// when asked (Reduce), and otherwise a coin must be added.
func TestBumpSendAll(t *testing.T) {
	r := newRig(t, 100_000)
	ctx := context.Background()
	dest := outside(t, 0)
	sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{dest}, SendAll: true, FeeRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	orig := r.send(t, sp.PSBT, coordinator.GateOptions{})
	if _, err := r.c.Bump(ctx, coordinator.BumpRequest{Ref: orig.TxHash().String(), FeeRate: 5, Reduce: -1}); !errors.Is(err, psbt.ErrInsufficientFunds) {
		t.Fatalf("a send-all bumped without --reduce and no other coin: %v", err)
	}
	b, err := r.c.Bump(ctx, coordinator.BumpRequest{Ref: orig.TxHash().String(), FeeRate: 5, Reduce: 0})
	if err != nil {
		t.Fatal(err)
	}
	if got, was := b.PSBT.UnsignedTx.TxOut[0].Value, orig.TxOut[0].Value; got != was-(b.Report.Fee-b.OldFee) || len(b.PSBT.UnsignedTx.TxOut) != 1 {
		t.Fatalf("the send-all output went from %d to %d with fee %d (was %d)", was, got, b.Report.Fee, b.OldFee)
	}
}

// TestCancel replaces a payment with one back to the wallet's change
// branch: nothing is sent out.
func TestCancel(t *testing.T) {
	r := newRig(t, 300_000)
	ctx := context.Background()
	sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 100_000)}, FeeRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	orig := r.send(t, sp.PSBT, coordinator.GateOptions{})
	b, err := r.c.Bump(ctx, coordinator.BumpRequest{Ref: orig.TxHash().String(), Cancel: true, Reduce: -1})
	if err != nil {
		t.Fatal(err)
	}
	rep := b.Report
	if len(rep.Outputs) != 1 || rep.Outputs[0].Kind != psbt.KindChange || rep.Sent != 0 || rep.Fee < b.MinFee || b.MinFee < b.OldFee+rep.VSize {
		t.Fatalf("cancel: %+v (fee %d, least %d)", rep.Outputs, rep.Fee, b.MinFee)
	}
	if p := r.current(t, b.Draft.TxID); p.Kind != wallet.KindCancel {
		t.Fatalf("cancel kind %s", p.Kind)
	}
}

// TestChildPaysForParent: a child of an unconfirmed payment to the wallet
// at 1 sat/vB lifts the pair to the rate asked.
func TestChildPaysForParent(t *testing.T) {
	r := newRig(t, 50_000)
	ctx := context.Background()
	// Someone pays the wallet 300,000 sat at about 1 sat/vB.
	grand := wire.NewMsgTx(2)
	grand.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{7}}, nil, nil))
	stranger := outside(t, 0)
	strangerScript := addrScript(t, stranger.Address)
	grand.AddTxOut(wire.NewTxOut(1_000_000, strangerScript))
	parent := wire.NewMsgTx(2)
	parent.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: grand.TxHash()}, nil, nil))
	parent.TxIn[0].Witness = wire.TxWitness{bytes.Repeat([]byte{1}, 72), bytes.Repeat([]byte{2}, 33)}
	d, _ := r.wallet.Descriptor.Derive(0, 5, regtest)
	parent.AddTxOut(wire.NewTxOut(300_000, d.ScriptPubKey))
	parent.AddTxOut(wire.NewTxOut(1_000_000-300_000-150, strangerScript))
	r.b.txs = map[chainhash.Hash]*wire.MsgTx{grand.TxHash(): grand}
	var raw bytes.Buffer
	parent.Serialize(&raw)
	us, _ := r.c.Store.UTXOs(ctx, "family")
	us = append(us, wallet.UTXO{OutPoint: wire.OutPoint{Hash: parent.TxHash()}, Value: 300_000, PkScript: d.ScriptPubKey, Index: 5})
	if err := r.c.Store.ApplySync(ctx, "family", wallet.SyncUpdate{Height: 200, Hash: chainhash.Hash{1}, UTXOs: us,
		Txs: []wallet.Tx{{TxID: parent.TxHash(), Raw: raw.Bytes(), Net: 300_000}}, ReceiveHighWater: 6}); err != nil {
		t.Fatal(err)
	}
	res, err := r.c.ChildPaysForParent(ctx, coordinator.CPFPRequest{Wallet: "family", Parent: parent.TxHash().String(), FeeRate: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.ParentFee != 150 || res.ParentVSize != coordinator.VSize(parent) {
		t.Fatalf("parent fee %d vsize %d", res.ParentFee, res.ParentVSize)
	}
	// The stranger's transaction before the parent is not the wallet's:
	// not counted (the regtest test counts the wallet's own).
	if len(res.Ancestors) != 0 || res.AncestorFee != 0 || res.AncestorVSize != 0 {
		t.Fatalf("ancestors %v (%d sat, %d vB)", res.Ancestors, res.AncestorFee, res.AncestorVSize)
	}
	pkg := float64(res.ParentFee+res.Report.Fee) / float64(res.ParentVSize+res.Report.VSize)
	if pkg < 10 || res.PackageRate < 10 || res.Report.Sent != 0 || res.PSBT.UnsignedTx.TxIn[0].PreviousOutPoint.Hash != parent.TxHash() || len(res.Added) != 0 {
		t.Fatalf("package rate %.2f (%.2f), child %+v", pkg, res.PackageRate, res.Report)
	}
	if res.Report.Outputs[0].Kind != psbt.KindChange {
		t.Fatalf("the child pays %s, want the wallet's change", res.Report.Outputs[0].Kind)
	}
	if p := r.current(t, res.Draft.TxID); p.Kind != wallet.KindCPFP || *p.Related != parent.TxHash() {
		t.Fatalf("child spend %+v", p)
	}
	// A confirmed parent needs no child.
	if _, err := r.c.ChildPaysForParent(ctx, coordinator.CPFPRequest{Wallet: "family", Parent: r.coinAt(t, 0).Hash.String(), FeeRate: 10}); !errors.Is(err, wallet.ErrInvalid) {
		t.Fatalf("child of a confirmed transaction: %v", err)
	}
}

// TestPolicy: each rule refuses with its name at the steps it binds, an
// override goes through and is journaled with its reason.
func TestPolicy(t *testing.T) {
	r := newRig(t, 300_000, 200_000, 100_000)
	ctx := context.Background()
	pay := outside(t, 150_000)
	if err := r.c.SetPolicy(ctx, "family", coordinator.Policy{PerTxLimit: 100_000}); err != nil {
		t.Fatal(err)
	}
	var pe *coordinator.PolicyError
	_, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{pay}, FeeRate: 2})
	if !errors.As(err, &pe) || pe.Rule != coordinator.RulePerTxLimit || !errors.Is(err, psbt.ErrRefused) {
		t.Fatalf("spend above the per-transaction limit: %v", err)
	}
	sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{pay}, FeeRate: 2, OverridePolicy: "board approved, minutes 12"})
	if err != nil {
		t.Fatal(err)
	}
	if n := overrides(t, r, "board approved, minutes 12"); n != 1 {
		t.Fatalf("%d override entries after spend", n)
	}
	// Signing and finalizing are refused the same way.
	plan, err := r.c.PrepareSign(ctx, "", sp.PSBT, coordinator.GateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Sign(ctx, plan, hw.NewSigner(r.keys["alice"])); !errors.As(err, &pe) || pe.Rule != coordinator.RulePerTxLimit {
		t.Fatalf("sign above the limit: %v", err)
	}
	ov := coordinator.GateOptions{OverridePolicy: "board approved, minutes 12"}
	r.signBy(t, sp.PSBT, ov, "alice", "bob")
	cur := r.current(t, sp.Draft.TxID)
	if _, err := r.c.Finalize(ctx, "", cur.PSBT, coordinator.GateOptions{}); !errors.As(err, &pe) {
		t.Fatalf("finalize above the limit: %v", err)
	}

	// Allow-list and minimum signatures.
	allowed := outside(t, 0).Address
	if err := r.c.SetPolicy(ctx, "family", coordinator.Policy{AllowList: []string{allowed}, MinSignatures: 3, MinSignaturesAbove: 50_000}); err != nil {
		t.Fatal(err)
	}
	other := psbt.Output{Address: strangerAddr(t), Value: 20_000}
	if _, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{other}, FeeRate: 2}); !errors.As(err, &pe) || pe.Rule != coordinator.RuleAllowList {
		t.Fatalf("spend to an address off the list: %v", err)
	}
	if _, err := r.c.Finalize(ctx, "", cur.PSBT, coordinator.GateOptions{}); !errors.As(err, &pe) || pe.Rule != coordinator.RuleMinSignatures {
		t.Fatalf("finalize with 2 of the 3 signatures the policy asks: %v", err)
	}
	r.signBy(t, cur.PSBT, coordinator.GateOptions{}, "carol")
	cur = r.current(t, sp.Draft.TxID)
	fin, err := r.c.Finalize(ctx, "", cur.PSBT, coordinator.GateOptions{})
	if err != nil {
		t.Fatalf("finalize with 3 signatures: %v", err)
	}
	raw, _ := psbt.Serialize(fin.PSBT)
	if _, err := r.c.Broadcast(ctx, "", raw, coordinator.GateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The daily limit counts what was broadcast in the last 24 hours.
	if err := r.c.SetPolicy(ctx, "family", coordinator.Policy{DailyLimit: 200_000}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 60_000)}, FeeRate: 2}); !errors.As(err, &pe) || pe.Rule != coordinator.RuleDailyLimit {
		t.Fatalf("150,000 sent today, 60,000 more against 200,000 a day: %v", err)
	}
	if _, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 40_000)}, FeeRate: 2}); err != nil {
		t.Fatalf("40,000 more fits: %v", err)
	}

	for name, bad := range map[string]coordinator.Policy{
		"negative":           {PerTxLimit: -1},
		"more than n":        {MinSignatures: 4},
		"below threshold":    {MinSignatures: 1},
		"another network":    {AllowList: []string{"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"}},
		"not an address":     {AllowList: []string{"nope"}},
		"limit above supply": {DailyLimit: 21_000_001 * 100_000_000},
	} {
		if err := r.c.SetPolicy(ctx, "family", bad); !errors.Is(err, coordinator.ErrPolicy) || !errors.Is(err, wallet.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := r.c.SetPolicy(ctx, "family", coordinator.Policy{}); err != nil {
		t.Fatal(err)
	}
	if p, _, _ := r.c.Policy(ctx, "family"); !p.Empty() {
		t.Fatalf("policy after clearing: %+v", p)
	}
}

// overrides counts policy.override journal entries with reason.
func overrides(t *testing.T, r *rig, reason string) int {
	t.Helper()
	es, err := r.c.Journal(context.Background(), "family", timeZero)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if e.Action == wallet.ActionPolicyOverride && strings.Contains(string(e.Detail), reason) {
			n++
		}
	}
	return n
}

// TestJournalSignAndVerify: the head signed with a cosigner's key
// verifies, keeps verifying as the journal grows, and an entry edited in
// the database file (triggers dropped and put back) is named.
func TestJournalSignAndVerify(t *testing.T) {
	r := newRig(t, 300_000)
	ctx := context.Background()
	sig, err := r.c.SignJournal(ctx, r.keys["alice"])
	if err != nil {
		t.Fatal(err)
	}
	fp, _ := r.keys["alice"].Fingerprint(ctx)
	if sig.Fingerprint != hexOf(fp[:]) || !strings.HasPrefix(sig.Message, "countersign journal head "+sig.Head) {
		t.Fatalf("signature %+v (alice is %x)", sig, fp)
	}
	if name := r.c.SignerName(ctx, sig.Fingerprint); name != "alice" {
		t.Fatalf("signer named %q", name)
	}
	js, _ := json.Marshal(sig)
	parsed, err := coordinator.ParseJournalSignature(js)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 10_000)}, FeeRate: 2}); err != nil {
		t.Fatal(err)
	}
	chk, err := r.c.VerifyJournal(ctx, parsed)
	if err != nil || chk.Later != 2 || chk.Signed == nil {
		t.Fatalf("verify after two more entries: %v %+v", err, chk)
	}
	// A signature of another message does not pass.
	forged := *parsed
	forged.Message = strings.Replace(forged.Message, "at entry", "at entry 1", 1)
	fj, _ := json.Marshal(forged)
	if f, err := coordinator.ParseJournalSignature(fj); err == nil {
		if _, err := r.c.VerifyJournal(ctx, f); !errors.Is(err, coordinator.ErrJournalBroken) {
			t.Fatalf("a signature over another message: %v", err)
		}
	}

	// Hand-edit entry 3 with the triggers put back.
	db, err := sql.Open("sqlite", filepath.Join(r.c.Store.Dir(), wallet.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"DROP TRIGGER journal_no_update",
		`UPDATE journal SET detail = json_set(detail, '$.note', 'edited') WHERE id = 3`,
		"CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal BEGIN SELECT RAISE(ABORT, 'the audit journal is append-only'); END",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	chk, err = r.c.VerifyJournal(ctx, nil)
	if !errors.Is(err, coordinator.ErrJournalBroken) || !errors.Is(err, psbt.ErrRefused) || chk.Break == nil || chk.Break.Entry != 3 {
		t.Fatalf("after the edit: %v %+v", err, chk)
	}
	if _, err := r.c.SignJournal(ctx, r.keys["bob"]); !errors.Is(err, coordinator.ErrJournalBroken) {
		t.Fatalf("signing a broken journal: %v", err)
	}
	for _, bad := range []string{`{}`, `[`, `{"address":"x","message":"hello","signature":"y"}`} {
		if _, err := coordinator.ParseJournalSignature([]byte(bad)); !errors.Is(err, wallet.ErrInvalid) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// TestLabels: BIP-329's examples import and export unchanged; labels set
// by reference show on coins, history, PSBTs and spends.
func TestLabels(t *testing.T) {
	r := newRig(t, 300_000)
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join("..", "internal", "bip329", "testdata", "bip-0329-examples.jsonl"))
	if err != nil {
		t.Fatalf("BIP-329 vectors: %v (see internal/bip329/testdata/README.md)", err)
	}
	extra := []byte(`{"type":"future","ref":"x","label":"ignored"}` + "\n")
	imp, err := r.c.ImportLabels(ctx, "", append(data, extra...))
	if err != nil || imp.Imported != 7 || imp.Skipped["future"] != 1 {
		t.Fatalf("import: %+v %v", imp, err)
	}
	out, n, err := r.c.ExportLabels(ctx, "family")
	if err != nil || n != 7 {
		t.Fatalf("export: %d %v", n, err)
	}
	if got, want := jsonLines(t, out), jsonLines(t, data); !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n%s\nwant\n%s", out, data)
	}

	coin := r.coinAt(t, 0)
	for ref, typ := range map[string]string{coin.String(): wallet.LabelOutput, coin.Hash.String(): wallet.LabelTx, "wallet": wallet.LabelWallet} {
		lr, err := r.c.SetLabel(ctx, "", ref, "", "label of "+typ)
		if err != nil || lr.Type != typ {
			t.Fatalf("label %s: %+v %v", ref, lr, err)
		}
	}
	coins, _ := r.c.Coins(ctx, "family")
	hist, _ := r.c.LabelledHistory(ctx, "family")
	if coins[0].Label != "label of output" || hist[0].Label != "label of tx" || hist[0].Balance != 300_000 {
		t.Fatalf("coin %q, history %q balance %d", coins[0].Label, hist[0].Label, hist[0].Balance)
	}
	pay := outside(t, 20_000)
	if _, err := r.c.SetLabel(ctx, "family", pay.Address, "", "supplier"); err != nil {
		t.Fatal(err)
	}
	sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{pay}, FeeRate: 2, Note: "invoice 42"})
	if err != nil {
		t.Fatal(err)
	}
	in, err := r.c.Inspect(ctx, "", sp.PSBT, nil, coordinator.GateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	payOut := 0
	for i, o := range in.Report.Outputs {
		if o.Address == pay.Address {
			payOut = i
		}
	}
	if in.Labels.Tx != "invoice 42" || in.Labels.Outputs[payOut] != "supplier" || in.Labels.Inputs[0] != "label of output" {
		t.Fatalf("inspect labels %+v", in.Labels)
	}
	if _, err := r.c.SetLabel(ctx, "family", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "", "x"); !errors.Is(err, wallet.ErrInvalid) {
		t.Fatalf("label of a mainnet address in a regtest wallet: %v", err)
	}
}

func jsonLines(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

var timeZero time.Time

func hexOf(b []byte) string { return hex.EncodeToString(b) }

func addrScript(t *testing.T, addr string) []byte {
	t.Helper()
	a, err := btcutil.DecodeAddress(addr, regtest)
	if err != nil {
		t.Fatal(err)
	}
	s, err := txscript.PayToAddrScript(a)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func strangerAddr(t *testing.T) string {
	t.Helper()
	a, err := btcutil.NewAddressWitnessScriptHash(bytes.Repeat([]byte{8}, 32), regtest)
	if err != nil {
		t.Fatal(err)
	}
	return a.EncodeAddress()
}

// TestPartialStepAfterFinalize: once a spend is finalized, a later step
// that brings other copies (a combine run again with another cosigner's
// late file) does not make a version without the final scripts the
// newest: the finalized version holds every signature it needs.
func TestPartialStepAfterFinalize(t *testing.T) {
	r := newRig(t, 300_000)
	ctx := context.Background()
	sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 100_000)}, FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	unsigned := mustSerialize(t, sp.PSBT)
	alice, bob, carol := r.signedCopy(t, unsigned, "alice"), r.signedCopy(t, unsigned, "bob"), r.signedCopy(t, unsigned, "carol")
	aliceAgain, _ := psbt.Decode(mustSerialize(t, alice))
	comb, err := r.c.Combine(ctx, "", []*bpsbt.Packet{alice, bob}, coordinator.GateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fin, err := r.c.Finalize(ctx, "", comb.PSBT, coordinator.GateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	txid := sp.PSBT.UnsignedTx.TxHash()
	final := r.current(t, txid).Current
	if _, err := r.c.Combine(ctx, "", []*bpsbt.Packet{aliceAgain, carol}, coordinator.GateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := r.current(t, txid)
	if p.Current.ID != final.ID || p.Current.State != wallet.StateFinalized || p.State != coordinator.PendingReady {
		t.Fatalf("after combining alice's and carol's copies: newest %s %s (finalized: %s), %s", p.Current.ID, p.Current.State, final.ID, p.State)
	}
	tx, err := psbt.Extract(p.PSBT)
	if err != nil || tx.TxHash() != fin.Tx.TxHash() {
		t.Fatalf("newest version extracts to %v, %v; finalized %s", tx, err, fin.Tx.TxHash())
	}
}

// signedCopy is the copy of the PSBT raw that cosigner name signs alone,
// decoded afresh (a cosigner's file).
func (r *rig) signedCopy(t *testing.T, raw []byte, name string) *bpsbt.Packet {
	t.Helper()
	p, err := psbt.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	q, err := psbt.Decode(mustSerialize(t, r.signOnce(t, p, coordinator.GateOptions{}, name)))
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func mustSerialize(t *testing.T, p *bpsbt.Packet) []byte {
	t.Helper()
	raw, err := psbt.Serialize(p)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
