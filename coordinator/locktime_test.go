package coordinator_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/chain"
	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/psbt"
)

// clockBackend is fakeBackend with block headers, so that the median time
// past (BIP-113) of any block can be read: block h has the timestamp
// base + 600*h, plus adjust[h] where a test moves one. With steady
// timestamps the median time past of block h >= 10 is the timestamp of
// block h-5.
type clockBackend struct {
	*fakeBackend
	base   int64
	adjust map[int32]int64
}

func (b *clockBackend) stamp(h int32) int64 { return b.base + 600*int64(h) + b.adjust[h] }

// mtp is the median time past the test expects for block h >= 10 (steady
// timestamps around it).
func (b *clockBackend) mtp(h int32) int64 { return b.stamp(h - 5) }

func (b *clockBackend) Headers(_ context.Context, from, to int32) ([]wire.BlockHeader, error) {
	if to > b.height {
		return nil, fmt.Errorf("%w: no block %d", chain.ErrNotFound, to)
	}
	var out []wire.BlockHeader
	prev := chainhash.Hash{}
	for h := int32(0); h <= to; h++ {
		hd := wire.BlockHeader{Version: 4, PrevBlock: prev, MerkleRoot: chainhash.Hash{byte(h), byte(h >> 8)}, Timestamp: time.Unix(b.stamp(h), 0), Bits: 0x207fffff}
		if h >= from {
			out = append(out, hd)
		}
		prev = hd.BlockHash()
	}
	return out, nil
}

// withClock makes r's coordinator see its fake chain with headers.
func (r *rig) withClock(base int64) *clockBackend {
	cb := &clockBackend{fakeBackend: r.b, base: base, adjust: map[int32]int64{}}
	r.c.OpenBackend = func(string, chain.OpenOptions) (chain.Backend, error) { return cb, nil }
	return cb
}

// newAfterTimeRig is newTimelockRig for a wallet whose recovery path
// (1 of lawyer) opens at the Unix time lock: a descriptor written by
// hand, as another tool would, since the templates write relative locks.
func newAfterTimeRig(t *testing.T, lock uint32, coins ...int64) *rig {
	t.Helper()
	ctx := context.Background()
	r := newTimelockRig(t, coordinator.CreateRequest{Threshold: 2,
		Recovery: mustTemplate(t, coordinator.ParseRecovery, "at block 250: 1 of lawyer")})
	text := r.wallet.Descriptor.String()
	text = strings.Replace(text[:strings.IndexByte(text, '#')], "after(250)", fmt.Sprintf("after(%d)", lock), 1)
	d, err := descriptor.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.c.Store.DeleteWallet(ctx, "family"); err != nil {
		t.Fatal(err)
	}
	res, err := r.c.CreateWallet(ctx, coordinator.CreateRequest{Name: "family", Descriptor: d, Network: regtest})
	if err != nil {
		t.Fatal(err)
	}
	r.wallet = res.Wallet
	r.fund(t, coins...)
	return r
}

const lockT = 1_800_000_000 // 2027-01-15 08:00:00 UTC

// TestSpendByAfterTime: after(T) with T a Unix time is judged by the
// median time past of the tip (BIP-113: final when nLockTime < MTP).
// With the tip's MTP at T the path is still locked by one second, and the
// refusal names T as a UTC date; at T+1 it spends with nLockTime T, and
// broadcast checks the same boundary. A backend without headers is
// refused with the reason, never guessed.
func TestSpendByAfterTime(t *testing.T) {
	r := newAfterTimeRig(t, lockT, 300_000)
	ctx := context.Background()
	cb := r.withClock(lockT - 600*195) // MTP(200) = T
	if got := cb.mtp(200); got != lockT {
		t.Fatalf("test setup: MTP(200) = %d", got)
	}
	req := coordinator.SpendRequest{Wallet: "family", SendAll: true, Outputs: []psbt.Output{outside(t, 0)}, FeeRate: 2, Path: "recovery", AllowConflict: true}
	_, err := r.c.Spend(ctx, req)
	var g *psbt.GateError
	if !errors.As(err, &g) || g.Rule != coordinator.RuleTimelock ||
		!strings.Contains(err.Error(), "opens at 2027-01-15 08:00:00 UTC, about 1 second from now (the chain's median time past, by which time locks are judged, is 2027-01-15 08:00:00 UTC at tip 200)") {
		t.Fatalf("recovery with MTP = T: %v", err)
	}

	cb.base++ // MTP(200) = T+1: open
	sp, err := r.c.Spend(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if lt := sp.PSBT.UnsignedTx.LockTime; lt != lockT {
		t.Fatalf("nLockTime %d, want %d", lt, lockT)
	}
	if seq := sp.PSBT.UnsignedTx.TxIn[0].Sequence; seq == wire.MaxTxInSequenceNum {
		t.Fatal("a final nSequence voids nLockTime")
	}
	// A day early, the refusal says how long.
	cb.base -= 86400 + 1
	if _, err := r.c.Spend(ctx, req); !errors.As(err, &g) || !strings.Contains(err.Error(), "about 1 day 1 second from now") {
		t.Fatalf("a day early: %v", err)
	}

	// The plain fake serves no headers: no median time past, no guess.
	r.c.OpenBackend = func(string, chain.OpenOptions) (chain.Backend, error) { return r.b, nil }
	_, err = r.c.Spend(ctx, req)
	if !errors.Is(err, chain.ErrUnsupported) || !strings.Contains(err.Error(), "median time past") || errors.As(err, &g) {
		t.Fatalf("without headers: %v", err)
	}
	cb = r.withClock(lockT - 600*195 + 1) // open again
	_, raw := r.signFinalizePSBT(t, sp.PSBT, "lawyer")

	cb.base-- // MTP(200) = T again: broadcast refuses
	_, err = r.c.Broadcast(ctx, "family", raw, coordinator.GateOptions{})
	if !errors.As(err, &g) || g.Rule != coordinator.RuleTimelock || !strings.Contains(err.Error(), "nLockTime is 2027-01-15 08:00:00 UTC") || !strings.Contains(err.Error(), "about 1 second from now") {
		t.Fatalf("broadcast with MTP = T: %v", err)
	}
	if len(r.b.broadcast) != 0 {
		t.Fatal("a locked transaction reached the backend")
	}
	cb.base++
	if _, err := r.c.Broadcast(ctx, "family", raw, coordinator.GateOptions{}); err != nil || len(r.b.broadcast) != 1 {
		t.Fatalf("broadcast with MTP = T+1: %v", err)
	}
}

// TestSpendByOlderTime: "after 1 day" writes older(4194304+169) (169
// units of 512 s = 86528 s); a coin confirmed at 100 opens when the tip's
// median time past reaches the median time past of block 99 plus 86528
// s (BIP-68). Block 238's timestamp sets MTP(243): 127 s later than
// steady it is locked by one second, 128 s later it is open exactly at
// the boundary; spend, then broadcast, check the same.
func TestSpendByOlderTime(t *testing.T) {
	r := newTimelockRig(t, coordinator.CreateRequest{Threshold: 2,
		Recovery: mustTemplate(t, coordinator.ParseRecovery, "after 1 day: 1 of lawyer")}, 300_000, 200_000)
	ctx := context.Background()
	if !strings.Contains(r.wallet.Descriptor.String(), fmt.Sprintf("older(%d)", 1<<22|169)) {
		t.Fatalf("descriptor %s", r.wallet.Descriptor)
	}
	cb := r.withClock(1_700_000_000)
	coinTime := cb.mtp(99) // the block before the coins' block 100
	opens := coinTime + 86528
	req := coordinator.SpendRequest{Wallet: "family", SendAll: true, Outputs: []psbt.Output{outside(t, 0)}, FeeRate: 2, Path: "recovery", AllowConflict: true}

	var g *psbt.GateError
	_, err := r.c.Spend(ctx, req) // tip 200: 101 blocks of 600 s, far off
	if !errors.As(err, &g) || g.Rule != coordinator.RuleTimelock || !strings.Contains(err.Error(), "still locked for every coin: the first opens at "+time.Unix(opens, 0).UTC().Format("2006-01-02 15:04:05 UTC")) {
		t.Fatalf("recovery at tip 200: %v", err)
	}
	r.b.height = 243
	cb.adjust[238] = 127
	if cb.mtp(243) != opens-1 {
		t.Fatalf("test setup: MTP(243) = %d, want %d", cb.mtp(243), opens-1)
	}
	if _, err := r.c.Spend(ctx, req); !errors.As(err, &g) || !strings.Contains(err.Error(), ", about 1 second from now (the chain's median time past") {
		t.Fatalf("recovery locked by one second: %v", err)
	}
	_, err = r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 100_000)}, FeeRate: 2, Path: "recovery",
		UTXOs: []wire.OutPoint{r.coinAt(t, 1)}, AllowConflict: true})
	if !errors.As(err, &g) || !strings.Contains(err.Error(), "is still locked on the recovery path: it opens at") {
		t.Fatalf("recovery of a chosen locked coin: %v", err)
	}

	cb.adjust[238] = 128 // MTP(243) = opens: open
	sp, err := r.c.Spend(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(sp.PSBT.UnsignedTx.TxIn) != 2 {
		t.Fatalf("%d inputs, want both coins", len(sp.PSBT.UnsignedTx.TxIn))
	}
	for _, in := range sp.PSBT.UnsignedTx.TxIn {
		if in.Sequence != 1<<22|169 {
			t.Fatalf("nSequence %#x, want the type flag and 169 units", in.Sequence)
		}
	}
	if sp.PSBT.UnsignedTx.Version < 2 {
		t.Fatal("BIP-68 needs version 2")
	}
	_, raw := r.signFinalizePSBT(t, sp.PSBT, "lawyer")

	cb.adjust[238] = 127
	_, err = r.c.Broadcast(ctx, "family", raw, coordinator.GateOptions{})
	if !errors.As(err, &g) || g.Rule != coordinator.RuleTimelock || !strings.Contains(err.Error(), "relative lock of 1 day 2 minutes") || !strings.Contains(err.Error(), "about 1 second from now") {
		t.Fatalf("broadcast locked by one second: %v", err)
	}
	cb.adjust[238] = 128
	if _, err := r.c.Broadcast(ctx, "family", raw, coordinator.GateOptions{}); err != nil || len(r.b.broadcast) != 1 {
		t.Fatalf("broadcast at the boundary: %v", err)
	}
}

// TestTimeLockShowStatusRefresh: wallet show gives each coin's opening
// date on a relative lock counted in time (the median time past of block
// 99 plus 86528 s for coins confirmed at 100) and whether it is open at
// the synced block; wallet status counts the seconds left from the synced
// block's median time past and warns within --warn-days; refresh moves
// the coins by the primary path. Without headers, show still lists the
// coins and says why the date is unknown; status refuses.
func TestTimeLockShowStatusRefresh(t *testing.T) {
	r := newTimelockRig(t, coordinator.CreateRequest{Threshold: 2,
		Recovery: mustTemplate(t, coordinator.ParseRecovery, "after 1 day: 1 of lawyer")}, 300_000, 200_000)
	ctx := context.Background()

	sum, err := r.c.Summary(ctx, "family")
	if err != nil {
		t.Fatal(err)
	}
	if c := sum.Paths[1].Coins[0]; !c.OpensTime.IsZero() || c.Open || !strings.Contains(c.TimeUnknown, "median time past") {
		t.Fatalf("without headers: %+v", c)
	}
	if _, err := r.c.TimelockStatus(ctx, "family", 10, 0); !errors.Is(err, chain.ErrUnsupported) {
		t.Fatalf("status without headers: %v", err)
	}

	cb := r.withClock(1_700_000_000)
	opens := cb.mtp(99) + 86528
	sum, err = r.c.Summary(ctx, "family")
	if err != nil {
		t.Fatal(err)
	}
	p := sum.Paths[1]
	if p.Name != "recovery" || len(p.Coins) != 2 || !strings.Contains(p.Description, "86528 seconds (about 1 day) after the coin confirms, by the chain's median time past") {
		t.Fatalf("recovery path %+v", p)
	}
	for _, c := range p.Coins {
		if c.OpensTime.Unix() != opens || c.Open || c.TimeUnknown != "" || c.OpensAt != 0 {
			t.Fatalf("coin at tip 200: %+v", c)
		}
	}

	left := opens - cb.mtp(200)
	st, err := r.c.TimelockStatus(ctx, "family", 0, time.Duration(left-1)*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Coins) != 2 {
		t.Fatalf("status %+v", st)
	}
	for _, c := range st.Coins {
		if c.Path != "recovery" || c.OpensTime.Unix() != opens || c.SecondsLeft != left || c.Warn || !c.Refreshable {
			t.Fatalf("status coin %+v, want %d seconds left", c, left)
		}
	}
	if _, err := r.c.Refresh(ctx, coordinator.RefreshRequest{Wallet: "family", WarnTime: time.Duration(left-1) * time.Second, FeeRate: 2}); !errors.Is(err, descriptor.ErrInvalid) {
		t.Fatalf("refresh with nothing near: %v", err)
	}
	if st, _ = r.c.TimelockStatus(ctx, "family", 0, time.Duration(left)*time.Second); !st.Coins[0].Warn {
		t.Fatalf("no warning at exactly the distance: %+v", st.Coins[0])
	}
	res, err := r.c.Refresh(ctx, coordinator.RefreshRequest{Wallet: "family", WarnTime: 2 * 24 * time.Hour, FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Report.Inputs) != 2 || res.PSBT.UnsignedTx.TxIn[0].Sequence != psbt.SequenceRBF {
		t.Fatalf("refresh: %d inputs, nSequence %#x", len(res.Report.Inputs), res.PSBT.UnsignedTx.TxIn[0].Sequence)
	}
	r.signFinalize(t, res.PSBT, "alice", "bob")

	// At the boundary (see TestSpendByOlderTime) the synced block's view
	// is what counts: synced at 200, still locked; the coins are open
	// once a sync at 243 is stored.
	r.b.height = 243
	cb.adjust[238] = 128
	sum, _ = r.c.Summary(ctx, "family")
	if sum.Paths[1].Coins[0].Open {
		t.Fatal("open as of a sync at 200")
	}
}

// TestAfterTimeShow: an after(T) path's coins open at T+1 (the median
// time past that must be passed), known without the backend; open is
// judged at the synced block.
func TestAfterTimeShow(t *testing.T) {
	r := newAfterTimeRig(t, lockT, 300_000)
	ctx := context.Background()
	sum, err := r.c.Summary(ctx, "family")
	if err != nil {
		t.Fatal(err)
	}
	c := sum.Paths[1].Coins[0]
	if c.OpensTime.Unix() != lockT+1 || c.Open || c.TimeUnknown == "" {
		t.Fatalf("without headers: %+v", c)
	}
	if !strings.Contains(sum.Paths[1].Description, "once the chain's median time past is later than 2027-01-15 08:00:00 UTC (unix time 1800000000)") {
		t.Fatalf("description %q", sum.Paths[1].Description)
	}
	r.withClock(lockT - 600*195 + 1) // MTP(200) = T+1
	sum, _ = r.c.Summary(ctx, "family")
	if c := sum.Paths[1].Coins[0]; !c.Open || c.TimeUnknown != "" {
		t.Fatalf("with MTP(200) = T+1: %+v", c)
	}
	st, err := r.c.TimelockStatus(ctx, "family", 10, 0)
	if err != nil || len(st.Coins) != 1 || st.Coins[0].SecondsLeft != 0 || !st.Coins[0].Warn || st.Coins[0].Refreshable {
		t.Fatalf("status: %+v, %v", st, err)
	}
}

// TestBumpAddsOnlyOpenedTimeCoins: a bump of a spend by a relative lock
// counted in time (after 1 day, 86528 s) may add a coin only once the
// tip's median time past has passed that coin's opening. Coins confirmed
// at 100 and 240; at tip 250 the young one is still locked (its block's
// predecessor's median time past plus 86528 s is ahead), at tip 400 it is
// open and the bump takes it with the same nSequence.
func TestBumpAddsOnlyOpenedTimeCoins(t *testing.T) {
	r := newTimelockRig(t, coordinator.CreateRequest{Threshold: 2,
		Recovery: mustTemplate(t, coordinator.ParseRecovery, "after 1 day: 1 of lawyer")})
	ctx := context.Background()
	us := r.coinsAt(t, 250, 100, 240)
	r.b.height = 250
	r.withClock(1_700_000_000)
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
	_, err = r.c.Bump(ctx, coordinator.BumpRequest{Ref: tx.TxHash().String(), FeeRate: 50, Reduce: -1})
	if !errors.Is(err, psbt.ErrInsufficientFunds) {
		t.Fatalf("a bump that could only add a coin still locked: %v, want insufficient funds", err)
	}
	r.b.height = 400
	res, err := r.c.Bump(ctx, coordinator.BumpRequest{Ref: tx.TxHash().String(), FeeRate: 50, Reduce: -1, AllowHighFee: true})
	if err != nil {
		t.Fatalf("bump once the young coin opened: %v", err)
	}
	if n := len(res.PSBT.UnsignedTx.TxIn); n != 2 {
		t.Fatalf("the bump has %d inputs, want the opened coin added", n)
	}
	for _, in := range res.PSBT.UnsignedTx.TxIn {
		if in.Sequence != 1<<22|169 {
			t.Fatalf("bump nSequence %#x", in.Sequence)
		}
	}
}

// TestCreateDecayWalletDays: "after 180 days" writes older(4194304 +
// 30375) (180 days = 30375 units of 512 s exactly) in both decay shapes,
// and the locked path is described in time.
func TestCreateDecayWalletDays(t *testing.T) {
	for _, c := range []struct {
		clause string
		want   string
	}{
		{"after 180 days: threshold 2", ",sln:older(4224679)))#"},
		{"after 180 days: threshold 1", "/<2;3>/*),older(4224679))))#"},
	} {
		r := newTimelockRig(t, coordinator.CreateRequest{Threshold: 3, Decay: mustTemplate(t, coordinator.ParseDecay, c.clause)})
		if s := r.wallet.Descriptor.String(); !strings.Contains(s, c.want) {
			t.Fatalf("%s: descriptor %s", c.clause, s)
		}
		p, err := r.wallet.Descriptor.FindPath("recovery")
		if err != nil || p.Older != 4224679 || !strings.Contains(p.Describe(nil), "15552000 seconds (about 180 days) after the coin confirms") {
			t.Fatalf("%s: path %+v %v", c.clause, p, err)
		}
	}
}
