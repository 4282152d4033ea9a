package coordinator_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/chain"
	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/soft"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// newTimelockRig is newRig with a fourth software key, "lawyer", and a
// wallet "family" made by CreateWallet from req (its Name, Script,
// Network and Cosigners are filled in: alice, bob, carol as cosigners and
// lawyer as a recovery cosigner when req.Recovery is set).
func newTimelockRig(t *testing.T, req coordinator.CreateRequest, coins ...int64) *rig {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := wallet.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := &fakeBackend{height: 200, feeRate: 2}
	r := &rig{b: b, keys: map[string]*soft.Signer{}}
	r.c = &coordinator.Coordinator{Store: st, BackendDefault: "fake://", OpenBackend: func(string, chain.OpenOptions) (chain.Backend, error) { return b, nil }}
	ks := soft.NewStore(dir + "/keys")
	if err := ks.SetWorkFactor(10); err != nil {
		t.Fatal(err)
	}
	req.Name, req.Script, req.Network = "family", descriptor.ScriptWsh, regtest
	for _, name := range []string{"alice", "bob", "carol", "lawyer"} {
		if _, _, err := ks.Generate(name, 12, regtest, []byte(pass)); err != nil {
			t.Fatal(err)
		}
		k, err := ks.Open(name, []byte(pass))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { k.Close() })
		r.keys[name] = k
		co, _, err := r.c.CosignerFromSigner(ctx, hw.NewSigner(k), descriptor.ScriptWsh, regtest, 0)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case name != "lawyer":
			req.Cosigners = append(req.Cosigners, co)
		case req.Recovery != nil:
			req.RecoveryCosigners = append(req.RecoveryCosigners, co)
		}
	}
	res, err := r.c.CreateWallet(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	r.wallet = res.Wallet
	r.fund(t, coins...)
	return r
}

func mustTemplate(t *testing.T, parse func(string) (coordinator.Template, error), s string) *coordinator.Template {
	t.Helper()
	tm, err := parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return &tm
}

func TestParseTimelockTemplates(t *testing.T) {
	for _, c := range []struct {
		in      string
		recover bool
		want    string // fmt of the template, "" for an error
		errText string
	}{
		{"after 52560 blocks: 1 of lawyer,alice", true, "{{52560 0 0} 1 [lawyer alice]}", ""},
		{"  After 144 Blocks :  2 of  a, b ,c ", true, "{{144 0 0} 2 [a b c]}", ""},
		{"at block 900000: 1 of heir", true, "{{0 0 900000} 1 [heir]}", ""},
		{"after 52560 blocks: threshold 2", false, "{{52560 0 0} 2 []}", ""},
		{"at block 1000: threshold 1", false, "{{0 0 1000} 1 []}", ""},
		{"after 65536 blocks: 1 of a", true, "", "1 to 65535 blocks"},
		{"after 0 blocks: 1 of a", true, "", "1 to 65535 blocks"},
		{"at block 500000000: 1 of a", true, "", "block height from 1"},
		// Days: BIP-68 time units of 512 s, rounded up (365 days are
		// 61593.75 units); 388 days is the most 65535 units hold.
		{"after 365 days: 1 of lawyer,alice", true, "{{0 61594 0} 1 [lawyer alice]}", ""},
		{"after 1 day: threshold 2", false, "{{0 169 0} 2 []}", ""},
		{"after 388 days: 1 of a", true, "{{0 65475 0} 1 [a]}", ""},
		{"after 389 days: 1 of a", true, "", "1 to 388 days"},
		{"after 389 days: 1 of a", true, "", "after N blocks"},
		{"after 0 days: 1 of a", true, "", "1 to 388 days"},
		{"after 10 weeks: 1 of a", true, "", "is not \"after N blocks\", \"after N days\""},
		{"1 of a", true, "", "a colon"},
		{"after 10 blocks: 2 of a", true, "", "could never sign"},
		{"after 10 blocks: 1 of a,a", true, "", "named twice"},
		{"after 10 blocks: 1 of a,,b", true, "", "empty cosigner name"},
		{"after 10 blocks: one of a", true, "", "not a number"},
		{"after 10 blocks: a and b", true, "", "K of NAME"},
		{"after 10 blocks: threshold 0", false, "", "not a number"},
		{"after 10 blocks: 2", false, "", "threshold T"},
	} {
		parse := coordinator.ParseDecay
		if c.recover {
			parse = coordinator.ParseRecovery
		}
		tm, err := parse(c.in)
		if c.want == "" {
			if err == nil || !errors.Is(err, descriptor.ErrInvalid) || !strings.Contains(err.Error(), c.errText) {
				t.Errorf("%q: %v, want ErrInvalid with %q", c.in, err, c.errText)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if tm.Names == nil {
			tm.Names = []string{}
		}
		if got := fmt.Sprint(tm); got != c.want {
			t.Errorf("%q = %s, want %s", c.in, got, c.want)
		}
	}
}

// TestCreateRecoveryWallet: the inheritance template becomes the
// miniscript the docs promise, alice signs the recovery path with her
// /<2;3>/* key, and wallet show's paths say who signs and when each coin
// opens (funded at height 100, last sync at 200).
func TestCreateRecoveryWallet(t *testing.T) {
	r := newTimelockRig(t, coordinator.CreateRequest{Threshold: 2,
		Recovery: mustTemplate(t, coordinator.ParseRecovery, "after 144 blocks: 1 of lawyer,alice")}, 50000, 70000)
	d := r.wallet.Descriptor
	s := d.String()
	if !d.IsMiniscript() || !strings.HasPrefix(s, "wsh(or_d(multi(2,[") || !strings.Contains(s, "),and_v(v:multi(1,[") || !strings.Contains(s, "/<2;3>/*),older(144))))#") {
		t.Fatalf("descriptor %s", s)
	}
	if got := strings.Join(r.wallet.Labels, ","); got != "alice,bob,carol,lawyer,alice" {
		t.Fatalf("labels %s", got)
	}
	if r.wallet.Threshold != 2 || r.wallet.N != 5 {
		t.Fatalf("stored %d of %d", r.wallet.Threshold, r.wallet.N)
	}
	sum, err := r.c.Summary(context.Background(), "family")
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Paths) != 2 || sum.SyncedHeight != 200 {
		t.Fatalf("%d paths, synced %d", len(sum.Paths), sum.SyncedHeight)
	}
	if p := sum.Paths[0]; p.Name != "primary" || p.Description != "any 2 of alice, bob, carol, at any time" || len(p.Coins) != 0 {
		t.Fatalf("primary %+v", p)
	}
	p := sum.Paths[1]
	if p.Name != "recovery" || p.Description != "any 1 of lawyer, alice, 144 blocks after the coin confirms (about 1 day)" {
		t.Fatalf("recovery %q %q", p.Name, p.Description)
	}
	if len(p.Coins) != 2 || p.Coins[0].OpensAt != 244 || p.Coins[0].Open || p.Coins[1].Value != 70000 {
		t.Fatalf("coins %+v", p.Coins)
	}
	// 43 blocks after the next one, at ten minutes a block from the sync.
	st, _ := r.c.Store.ScanState(context.Background(), "family")
	if want := st.SyncedAt.Add(43 * 10 * time.Minute); st.SyncedAt.IsZero() || !p.Coins[0].Around.Equal(want) {
		t.Fatalf("opens around %v, want %v", p.Coins[0].Around, want)
	}
}

// TestCreateDecayWallet: a threshold lowered by one is thresh() with a
// timer; lowered further it is or_d() over each cosigner's second key.
func TestCreateDecayWallet(t *testing.T) {
	r := newTimelockRig(t, coordinator.CreateRequest{Threshold: 3,
		Decay: mustTemplate(t, coordinator.ParseDecay, "after 10 blocks: threshold 2")})
	if s := r.wallet.Descriptor.String(); !strings.HasPrefix(s, "wsh(thresh(3,pk([") || !strings.Contains(s, ",sln:older(10)))#") {
		t.Fatalf("descriptor %s", s)
	}
	paths, err := r.wallet.Descriptor.SpendPaths()
	if err != nil || len(paths) != 2 || paths[1].Threshold != 2 || len(paths[1].Keys) != 3 {
		t.Fatalf("paths %+v %v", paths, err)
	}
	r = newTimelockRig(t, coordinator.CreateRequest{Threshold: 3,
		Decay: mustTemplate(t, coordinator.ParseDecay, "at block 1000: threshold 1")})
	if s := r.wallet.Descriptor.String(); !strings.HasPrefix(s, "wsh(or_d(multi(3,[") || !strings.Contains(s, "/<2;3>/*),after(1000))))#") {
		t.Fatalf("descriptor %s", s)
	}
}

// TestCreateTimelockRefusals: what the templates refuse, storing nothing.
func TestCreateTimelockRefusals(t *testing.T) {
	rec := mustTemplate(t, coordinator.ParseRecovery, "after 10 blocks: 1 of nobody")
	r := newRig(t)
	ctx := context.Background()
	cos := make([]coordinator.Cosigner, 0, 3)
	for i, k := range r.wallet.Descriptor.Keys {
		cos = append(cos, coordinator.Cosigner{Label: r.wallet.Labels[i], Key: k})
	}
	for _, c := range []struct {
		req  coordinator.CreateRequest
		want string
	}{
		{coordinator.CreateRequest{Threshold: 2, Recovery: rec}, "no cosigner is labelled \"nobody\""},
		{coordinator.CreateRequest{Threshold: 2, Decay: mustTemplate(t, coordinator.ParseDecay, "after 10 blocks: threshold 2")}, "is not below the wallet's 2"},
		{coordinator.CreateRequest{Threshold: 2, Script: descriptor.ScriptShWsh, Recovery: rec}, "need native segwit"},
		{coordinator.CreateRequest{Threshold: 2, RecoveryCosigners: cos[:1]}, "add --recovery"},
	} {
		req := c.req
		req.Name, req.Cosigners, req.Network = "other", cos, regtest
		if req.Script == 0 {
			req.Script = descriptor.ScriptWsh
		}
		_, err := r.c.CreateWallet(ctx, req)
		if err == nil || !errors.Is(err, descriptor.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.req, err, c.want)
		}
	}
	if _, err := r.c.Wallet(ctx, "other"); err == nil {
		t.Fatal("a refused wallet was stored")
	}
}

// FuzzParseTemplate: any clause is a template or a descriptor.ErrInvalid
// error, never a panic.
func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{"after 52560 blocks: 1 of lawyer,alice", "after 52560 blocks: threshold 2", "at block 900000: 2 of a,b,c", "after 1 block: 1 of x", "after 65536 blocks: threshold 1", "after 365 days: 1 of heir", "after 389 days: threshold 1", ":", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, parse := range []func(string) (coordinator.Template, error){coordinator.ParseRecovery, coordinator.ParseDecay} {
			tm, err := parse(s)
			if err != nil {
				if !errors.Is(err, descriptor.ErrInvalid) {
					t.Fatalf("%q: error %v is not ErrInvalid", s, err)
				}
				continue
			}
			set := 0
			for _, v := range []uint32{tm.Lock.Blocks, tm.Lock.TimeUnits, tm.Lock.Height} {
				if v != 0 {
					set++
				}
			}
			if set != 1 || tm.Lock.TimeUnits > 65535 || tm.Threshold < 1 {
				t.Fatalf("%q parsed as %+v", s, tm)
			}
		}
	})
}

// signFinalize has each named software key sign the PSBT in turn and
// finalizes it through the coordinator's gated steps.
func (r *rig) signFinalize(t *testing.T, p *bpsbt.Packet, names ...string) *wire.MsgTx {
	tx, _ := r.signFinalizePSBT(t, p, names...)
	return tx
}

// signFinalizePSBT is signFinalize that also returns the finalized PSBT.
func (r *rig) signFinalizePSBT(t *testing.T, p *bpsbt.Packet, names ...string) (*wire.MsgTx, []byte) {
	t.Helper()
	ctx := context.Background()
	for _, name := range names {
		p = r.signOnce(t, p, coordinator.GateOptions{}, name)
	}
	fin, err := r.c.Finalize(ctx, "", p, coordinator.GateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := psbt.Serialize(fin.PSBT)
	if err != nil {
		t.Fatal(err)
	}
	return fin.Tx, raw
}

// TestSpendByPath: coins funded at 100, tip at 200, recovery after 144
// blocks. The primary path spends at once; the recovery path is refused
// (exit 4, rule timelock) with the opening height 244 until the tip is
// 243, then the lawyer alone spends with nSequence 144.
func TestSpendByPath(t *testing.T) {
	r := newTimelockRig(t, coordinator.CreateRequest{Threshold: 2,
		Recovery: mustTemplate(t, coordinator.ParseRecovery, "after 144 blocks: 1 of lawyer,alice")}, 300_000, 200_000)
	ctx := context.Background()
	sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 250_000)}, FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	if seq := sp.PSBT.UnsignedTx.TxIn[0].Sequence; seq != psbt.SequenceRBF {
		t.Fatalf("primary path nSequence %x", seq)
	}
	if tx := r.signFinalize(t, sp.PSBT, "bob", "carol"); len(tx.TxIn[0].Witness) != 4 {
		t.Fatalf("primary witness has %d items", len(tx.TxIn[0].Witness))
	}

	_, err = r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 250_000)}, FeeRate: 2, Path: "recovery", AllowConflict: true})
	var g *psbt.GateError
	if !errors.As(err, &g) || g.Rule != coordinator.RuleTimelock || !errors.Is(err, psbt.ErrRefused) || !strings.Contains(err.Error(), "opens at block 244, 43 blocks after the tip at 200") {
		t.Fatalf("recovery while locked: %v", err)
	}
	// Coin control names the locked coin: refused with its own opening.
	_, err = r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 100_000)}, FeeRate: 2, Path: "recovery",
		UTXOs: []wire.OutPoint{r.coinAt(t, 1)}, AllowConflict: true})
	if !errors.As(err, &g) || !strings.Contains(err.Error(), "is still locked on the recovery path: it opens at block 244") {
		t.Fatalf("recovery of a chosen locked coin: %v", err)
	}
	if _, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 250_000)}, FeeRate: 2, Path: "heirs"}); !errors.Is(err, descriptor.ErrInvalid) {
		t.Fatalf("unknown path: %v", err)
	}

	r.b.height = 243
	sp, err = r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 250_000)}, FeeRate: 2, Path: "recovery", AllowConflict: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range sp.PSBT.UnsignedTx.TxIn {
		if in.Sequence != 144 {
			t.Fatalf("recovery nSequence %d", in.Sequence)
		}
	}
	if in := sp.Report.Inputs[0]; in.Required != 1 {
		t.Fatalf("recovery input needs %d signatures", in.Required)
	}
	tx, raw := r.signFinalizePSBT(t, sp.PSBT, "lawyer")
	// Broadcast checks the locks against the tip too: on a chain one
	// block short (tip 242) the transaction is refused (its nLockTime 243
	// is the first lock to say so; the coins' relative locks open at 244).
	r.b.height = 242
	_, err = r.c.Broadcast(ctx, "family", raw, coordinator.GateOptions{})
	if !errors.As(err, &g) || g.Rule != coordinator.RuleTimelock || !strings.Contains(err.Error(), "valid from block 244 on, 1 blocks after the tip at 242") {
		t.Fatalf("broadcast before the lock opens: %v", err)
	}
	r.b.height = 243
	if _, err := r.c.Broadcast(ctx, "family", raw, coordinator.GateOptions{}); err != nil || len(r.b.broadcast) != 1 {
		t.Fatalf("broadcast once open: %v", err)
	}
	// The satisfier's witness: the recovery multisig's dummy and the
	// lawyer's signature, the primary multisig dissatisfied (three
	// empty items), the witness script.
	w := tx.TxIn[0].Witness
	sigs := 0
	for _, item := range w[:len(w)-1] {
		if len(item) > 0 {
			sigs++
		}
	}
	if len(w) != 6 || sigs != 1 {
		t.Fatalf("recovery witness %x", w)
	}
}

// TestSpendByAbsolutePath: "at block 250": locked until the tip is 250.
func TestSpendByAbsolutePath(t *testing.T) {
	r := newTimelockRig(t, coordinator.CreateRequest{Threshold: 2,
		Recovery: mustTemplate(t, coordinator.ParseRecovery, "at block 250: 1 of lawyer")}, 300_000)
	ctx := context.Background()
	_, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", SendAll: true, Outputs: []psbt.Output{outside(t, 0)}, FeeRate: 2, Path: "recovery"})
	if !errors.Is(err, psbt.ErrRefused) || !strings.Contains(err.Error(), "opens at block 251") {
		t.Fatalf("recovery while locked: %v", err)
	}
	r.b.height = 250
	sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", SendAll: true, Outputs: []psbt.Output{outside(t, 0)}, FeeRate: 2, Path: "recovery"})
	if err != nil {
		t.Fatal(err)
	}
	if sp.PSBT.UnsignedTx.LockTime != 250 {
		t.Fatalf("nLockTime %d", sp.PSBT.UnsignedTx.LockTime)
	}
	r.signFinalize(t, sp.PSBT, "lawyer")
}

// TestTimelockStatusAndRefresh: coins confirmed at 100, synced at 200,
// recovery after 144 blocks: each opens at 244, 43 blocks after the next
// block. --warn-blocks 10 is quiet, 50 warns; refresh sends both coins to
// the wallet's change by the primary path, and the primary signers sign.
func TestTimelockStatusAndRefresh(t *testing.T) {
	r := newTimelockRig(t, coordinator.CreateRequest{Threshold: 2,
		Recovery: mustTemplate(t, coordinator.ParseRecovery, "after 144 blocks: 1 of lawyer")}, 300_000, 200_000)
	ctx := context.Background()
	st, err := r.c.TimelockStatus(ctx, "family", 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Coins) != 2 || st.SyncedHeight != 200 {
		t.Fatalf("status %+v", st)
	}
	for _, co := range st.Coins {
		if co.Path != "recovery" || co.OpensAt != 244 || co.BlocksLeft != 43 || co.Warn || !co.Refreshable {
			t.Fatalf("coin %+v", co)
		}
	}
	if _, err := r.c.Refresh(ctx, coordinator.RefreshRequest{Wallet: "family", WarnBlocks: 10, FeeRate: 2}); !errors.Is(err, descriptor.ErrInvalid) || !strings.Contains(err.Error(), "nothing to refresh") {
		t.Fatalf("refresh with nothing near: %v", err)
	}
	if st, _ = r.c.TimelockStatus(ctx, "family", 50, 0); !st.Coins[0].Warn || !st.Coins[1].Warn {
		t.Fatalf("no warning at 50 blocks: %+v", st.Coins)
	}
	res, err := r.c.Refresh(ctx, coordinator.RefreshRequest{Wallet: "family", WarnBlocks: 50, FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	rep := res.Report
	if len(rep.Inputs) != 2 || len(rep.Outputs) != 1 || rep.Outputs[0].Kind != psbt.KindChange || rep.Sent != 0 {
		t.Fatalf("refresh report: %+v", rep)
	}
	if seq := res.PSBT.UnsignedTx.TxIn[0].Sequence; seq != psbt.SequenceRBF {
		t.Fatalf("refresh nSequence %x: the primary path needs no lock", seq)
	}
	w, _ := r.c.Wallet(ctx, "family")
	if w.NextChange != 1 {
		t.Fatalf("change index %d after the refresh", w.NextChange)
	}
	r.signFinalize(t, res.PSBT, "alice", "carol")

	plain := newRig(t)
	if _, err := plain.c.TimelockStatus(ctx, "family", 10, 0); !errors.Is(err, descriptor.ErrInvalid) {
		t.Fatalf("status of a plain multisig: %v", err)
	}
}

// TestBumpKeepsThePathLock: the replacement of a recovery spend keeps its
// nSequence, so the lawyer alone can still sign it.
func TestBumpKeepsThePathLock(t *testing.T) {
	r := newTimelockRig(t, coordinator.CreateRequest{Threshold: 2,
		Recovery: mustTemplate(t, coordinator.ParseRecovery, "after 144 blocks: 1 of lawyer")}, 300_000)
	r.b.height = 243
	ctx := context.Background()
	sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", SendAll: true, Outputs: []psbt.Output{outside(t, 0)}, FeeRate: 1, Path: "recovery"})
	if err != nil {
		t.Fatal(err)
	}
	tx, raw := r.signFinalizePSBT(t, sp.PSBT, "lawyer")
	if _, err := r.c.Broadcast(ctx, "family", raw, coordinator.GateOptions{}); err != nil {
		t.Fatal(err)
	}
	b, err := r.c.Bump(ctx, coordinator.BumpRequest{Ref: tx.TxHash().String(), FeeRate: 10, Reduce: 0})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range b.PSBT.UnsignedTx.TxIn {
		if in.Sequence != 144 {
			t.Fatalf("bumped nSequence %d", in.Sequence)
		}
	}
	r.signFinalize(t, b.PSBT, "lawyer")
}

// TestRotateRefusesMiniscript: rotating would build a plain m-of-n and
// drop the recovery path, so it is refused with what to do instead.
func TestRotateRefusesMiniscript(t *testing.T) {
	r := newTimelockRig(t, coordinator.CreateRequest{Threshold: 2,
		Recovery: mustTemplate(t, coordinator.ParseRecovery, "after 144 blocks: 1 of lawyer")})
	repl := coordinator.Cosigner{Label: "dora", Key: r.wallet.Descriptor.Keys[3]}
	_, err := r.c.Rotate(context.Background(), coordinator.RotateRequest{Wallet: "family", Replace: "bob", Replacement: repl})
	if !errors.Is(err, descriptor.ErrInvalid) || !strings.Contains(err.Error(), "time-locked spending paths") {
		t.Fatalf("rotate of a miniscript wallet: %v", err)
	}
}

// TestDecayBelowOneLess: 3 of 3 now, 1 of them after 144 blocks, built as
// or_d over each cosigner's second key; carol alone spends by the
// recovery path once it opens, signing with her second key.
func TestDecayBelowOneLess(t *testing.T) {
	r := newTimelockRig(t, coordinator.CreateRequest{Threshold: 3,
		Decay: mustTemplate(t, coordinator.ParseDecay, "after 144 blocks: threshold 1")}, 300_000)
	r.b.height = 243
	sp, err := r.c.Spend(context.Background(), coordinator.SpendRequest{Wallet: "family", SendAll: true, Outputs: []psbt.Output{outside(t, 0)}, FeeRate: 2, Path: "recovery"})
	if err != nil {
		t.Fatal(err)
	}
	if sp.Report.Inputs[0].Required != 1 {
		t.Fatalf("required %d", sp.Report.Inputs[0].Required)
	}
	r.signFinalize(t, sp.PSBT, "carol")
}

// TestBumpAddsOnlyOpenedCoins: a bump of a recovery spend that needs
// another coin takes only one whose relative lock has opened (it carries
// the same nSequence); a younger coin is left out, and without an opened
// one the bump says there is not enough.
func TestBumpAddsOnlyOpenedCoins(t *testing.T) {
	r := newTimelockRig(t, coordinator.CreateRequest{Threshold: 2,
		Recovery: mustTemplate(t, coordinator.ParseRecovery, "after 144 blocks: 1 of lawyer")})
	ctx := context.Background()
	// Two coins: one confirmed at 100 (open from 244), one at 200 (open
	// from 344). The tip is 250.
	us := r.coinsAt(t, 250, 100, 200)
	r.b.height = 250
	sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 99_000)}, FeeRate: 1, Path: "recovery"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sp.PSBT.UnsignedTx.TxIn); n != 1 || sp.PSBT.UnsignedTx.TxIn[0].PreviousOutPoint != us[0].OutPoint {
		t.Fatalf("the recovery spend took %d inputs: %+v", n, sp.PSBT.UnsignedTx.TxIn)
	}
	tx, raw := r.signFinalizePSBT(t, sp.PSBT, "lawyer")
	if _, err := r.c.Broadcast(ctx, "family", raw, coordinator.GateOptions{}); err != nil {
		t.Fatal(err)
	}
	// 50 sat/vB needs more than the 1,000 sat of change: only the young
	// coin could pay, and it may not.
	_, err = r.c.Bump(ctx, coordinator.BumpRequest{Ref: tx.TxHash().String(), FeeRate: 50, Reduce: -1})
	if !errors.Is(err, psbt.ErrInsufficientFunds) {
		t.Fatalf("a bump that could only add a coin still locked: %v, want insufficient funds", err)
	}
}

// coinsAt syncs the rig's wallet to tip with one 100,000-sat coin at
// receive index i confirmed at heights[i], each paid by its own
// transaction, and returns the coins.
func (r *rig) coinsAt(t *testing.T, tip int32, heights ...int32) []wallet.UTXO {
	t.Helper()
	var us []wallet.UTXO
	var txs []wallet.Tx
	for i, h := range heights {
		d, err := r.wallet.Descriptor.Derive(0, uint32(i), regtest)
		if err != nil {
			t.Fatal(err)
		}
		tx := wire.NewMsgTx(2)
		tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Index: uint32(i)}, nil, nil))
		tx.AddTxOut(wire.NewTxOut(100_000, d.ScriptPubKey))
		var raw bytes.Buffer
		if err := tx.Serialize(&raw); err != nil {
			t.Fatal(err)
		}
		us = append(us, wallet.UTXO{OutPoint: wire.OutPoint{Hash: tx.TxHash()}, Value: 100_000, PkScript: d.ScriptPubKey, Index: uint32(i), Height: h})
		txs = append(txs, wallet.Tx{TxID: tx.TxHash(), Height: h, Raw: raw.Bytes(), Net: 100_000})
	}
	if err := r.c.Store.ApplySync(context.Background(), "family", wallet.SyncUpdate{Height: tip, UTXOs: us, Txs: txs, ReceiveHighWater: uint32(len(heights))}); err != nil {
		t.Fatal(err)
	}
	return us
}
