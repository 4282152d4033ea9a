package coordinator_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/hw/jade"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// manyCoins are n coins of one funding transaction, so that every input
// of a PSBT spending them carries that n-output transaction whole.
func manyCoins(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(50_000 + i)
	}
	return out
}

// TestSpendSplitsSweepForDevice: a sweep whose PSBT would be over the
// limit becomes several transactions, each under it with every signature
// it needs, each coin in exactly one, each its own draft; the parts pay
// the sweep's address everything less their fees.
func TestSpendSplitsSweepForDevice(t *testing.T) {
	const n, limit = 40, 30_000
	r := newRig(t, manyCoins(n)...)
	ctx := context.Background()
	to := outside(t, 0)
	whole, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{to}, SendAll: true, FeeRate: 2, MaxPSBTSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	if whole.SignedSize <= limit || whole.Parts != nil {
		t.Fatalf("the unsplit sweep is %d bytes signed (parts %d): the test needs it over %d", whole.SignedSize, len(whole.Parts), limit)
	}
	if _, err := r.c.Abandon(ctx, "", whole.Draft.ID); err != nil {
		t.Fatal(err)
	}

	res, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{to}, SendAll: true, FeeRate: 2, MaxPSBTSize: limit})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Parts) < 2 || res.Limit.Bytes != limit || res.Limit.Source != "--max-psbt-size" {
		t.Fatalf("%d parts, limit %+v", len(res.Parts), res.Limit)
	}
	seen := map[wire.OutPoint]int{}
	var sent, fees, total int64
	for i, p := range res.Parts {
		raw, err := psbt.Serialize(p.PSBT)
		if err != nil {
			t.Fatal(err)
		}
		signed, err := coordinator.SignedSize(p.PSBT, 2)
		if err != nil {
			t.Fatal(err)
		}
		if p.Size != len(raw) || p.SignedSize != signed || signed > limit {
			t.Fatalf("part %d: %d bytes (said %d), %d signed (said %d), limit %d", i, len(raw), p.Size, signed, p.SignedSize, limit)
		}
		// Two signatures of at most 109 bytes per input.
		if signed != len(raw)+2*109*len(p.PSBT.Inputs) {
			t.Fatalf("part %d: signed size %d for %d bytes and %d inputs", i, signed, len(raw), len(p.PSBT.Inputs))
		}
		if len(p.PSBT.UnsignedTx.TxOut) != 1 || p.Summary.Sent != p.PSBT.UnsignedTx.TxOut[0].Value {
			t.Fatalf("part %d pays %d outputs", i, len(p.PSBT.UnsignedTx.TxOut))
		}
		for j, in := range p.PSBT.UnsignedTx.TxIn {
			seen[in.PreviousOutPoint]++
			total += p.PSBT.Inputs[j].WitnessUtxo.Value
		}
		sent += p.Summary.Sent
		fees += p.Summary.Fee
		if d, err := r.c.Store.Draft(ctx, p.Draft.ID); err != nil || d.TxID != p.PSBT.UnsignedTx.TxHash() {
			t.Fatalf("part %d's draft: %v", i, err)
		}
	}
	if len(seen) != n {
		t.Fatalf("the parts spend %d distinct coins of %d", len(seen), n)
	}
	for op, k := range seen {
		if k != 1 {
			t.Fatalf("coin %s in %d parts", op, k)
		}
	}
	if sent+fees != total {
		t.Fatalf("sent %d + fees %d != %d spent", sent, fees, total)
	}
	if res.Draft.ID != res.Parts[0].Draft.ID {
		t.Fatal("the result's draft is not the first part's")
	}

	// A payment too large for the limit is refused, not split.
	_, err = r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 1_900_000)}, FeeRate: 2, MaxPSBTSize: limit, AllowConflict: true})
	if !errors.Is(err, coordinator.ErrPSBTTooLarge) || !strings.Contains(err.Error(), "a payment is not") {
		t.Fatalf("payment over the limit: %v", err)
	}
	// One coin that does not fit alone is a refusal naming the flag.
	_, err = r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{to}, SendAll: true, FeeRate: 2, MaxPSBTSize: 1000, AllowConflict: true})
	if !errors.Is(err, psbt.ErrRefused) || !strings.Contains(err.Error(), "--max-psbt-size") {
		t.Fatalf("a coin over the limit alone: %v", err)
	}
}

// TestSpendLimitFromRegisteredDevices: without --max-psbt-size the limit
// is the smallest of the device kinds registered for the wallet.
func TestSpendLimitFromRegisteredDevices(t *testing.T) {
	r := newRig(t, 100_000)
	ctx := context.Background()
	// Each spend pays its own fee rate, so that the two PSBTs differ.
	spend := func(rate float64) *coordinator.SpendResult {
		t.Helper()
		res, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 0)}, SendAll: true, FeeRate: rate, AllowConflict: true})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := spend(2); res.Limit.Bytes != 0 {
		t.Fatalf("no device registered, limit %+v", res.Limit)
	}
	fps := r.wallet.Descriptor.Keys
	for i, kind := range []string{"ledger", "coldcard", "jade"} {
		fp := hex.EncodeToString(fps[i].Origin.Fingerprint[:])
		if err := r.c.Store.SetRegistration(ctx, "family", &wallet.Registration{Fingerprint: fp, DeviceType: kind, NameOnDevice: "family"}); err != nil {
			t.Fatal(err)
		}
	}
	res := spend(3)
	if res.Limit.Bytes != jade.MaxPSBT || !strings.Contains(res.Limit.Source, "jade") {
		t.Fatalf("limit %+v, want the Jade's %d", res.Limit, jade.MaxPSBT)
	}
}

// TestInspectWarnsOverDeviceLimit: inspect warns for each named kind and
// each registered kind whose limit the PSBT is over, and for no other.
func TestInspectWarnsOverDeviceLimit(t *testing.T) {
	// 120 coins of one 120-output transaction: about 0.6 MB, over a
	// Jade's and a Coldcard Mk3's limit, under a Mk4's.
	r := newRig(t, manyCoins(120)...)
	ctx := context.Background()
	res, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 0)}, SendAll: true, FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := psbt.Serialize(res.PSBT)
	if len(raw) < coordinator.ColdcardMk3PSBT || len(raw) > coordinator.ColdcardMk4PSBT {
		t.Fatalf("the PSBT is %d bytes: the test needs it between the Mk3's and the Mk4's limits", len(raw))
	}
	in, err := r.c.Inspect(ctx, "", res.PSBT, nil, coordinator.GateOptions{Devices: []string{"coldcard-mk3", "coldcard", "ledger"}})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(in.Report.Warnings, "\n")
	if !strings.Contains(got, "a coldcard-mk3 takes") || strings.Contains(got, "a coldcard takes") || strings.Contains(got, "ledger") {
		t.Fatalf("warnings:\n%s", got)
	}
	if strings.Contains(got, "a jade takes") {
		t.Fatal("a Jade warning without a Jade")
	}
	fp := hex.EncodeToString(r.wallet.Descriptor.Keys[0].Origin.Fingerprint[:])
	if err := r.c.Store.SetRegistration(ctx, "family", &wallet.Registration{Fingerprint: fp, DeviceType: "jade", NameOnDevice: "family"}); err != nil {
		t.Fatal(err)
	}
	in, err = r.c.Inspect(ctx, "", res.PSBT, nil, coordinator.GateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(in.Report.Warnings, "\n"); !strings.Contains(got, "a jade takes") {
		t.Fatalf("no warning for the registered Jade:\n%s", got)
	}
	if _, err := r.c.Inspect(ctx, "", res.PSBT, nil, coordinator.GateOptions{Devices: []string{"abacus"}}); !errors.Is(err, wallet.ErrInvalid) {
		t.Fatalf("an unknown kind: %v", err)
	}
	// A small PSBT draws no size warning.
	small := newRig(t, 100_000)
	sp, err := small.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 0)}, SendAll: true, FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	in, err = small.c.Inspect(ctx, "", sp.PSBT, nil, coordinator.GateOptions{Devices: []string{"jade", "coldcard-mk3"}})
	if err != nil || len(in.Report.Warnings) != 0 {
		t.Fatalf("small PSBT: %v %v", err, in.Report.Warnings)
	}
}

// TestDeviceLimits: every kind the CLI's --with takes has an entry, and
// the figures are the firmware's.
func TestDeviceLimits(t *testing.T) {
	for kind, want := range map[string]int{"coldcard": 2 << 20, "coldcard-mk3": 384 << 10, "jade": 401<<10 - 128, "ledger": 0, "trezor": 0, "bitbox02": 0, "file": 0, "qr": 0, "key": 0} {
		d, ok := coordinator.DevicePSBTLimit(kind)
		if !ok || d.Bytes != want || d.Source == "" {
			t.Errorf("%s: %+v %v, want %d bytes", kind, d, ok, want)
		}
	}
	if _, ok := coordinator.DevicePSBTLimit("COLDCARD"); !ok {
		t.Error("kinds are case-insensitive")
	}
}

// BenchmarkSpendSplit500 is the consolidation: 500 coins of one
// 500-output transaction (each input carries it whole: a 14.5 MB PSBT as
// one), split for a Coldcard Mk4 (2 MiB). It reports the parts and the
// unsplit size.
func BenchmarkSpendSplit500(b *testing.B) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		r := newRig(b, manyCoins(500)...)
		b.StartTimer()
		res, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(b, 0)}, SendAll: true, FeeRate: 2, MaxPSBTSize: coordinator.ColdcardMk4PSBT})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		total := 0
		for _, p := range res.Parts {
			if p.SignedSize > coordinator.ColdcardMk4PSBT {
				b.Fatalf("part of %d bytes", p.SignedSize)
			}
			total += p.Size
		}
		b.ReportMetric(float64(len(res.Parts)), "parts")
		b.ReportMetric(float64(total)/1e6, "MB-unsigned-total")
		b.StartTimer()
	}
}

// fundEach stores n coins of value, each from its own one-output
// transaction (small previous transactions: a large sweep stays a small
// PSBT), confirmed at height 100.
func (r *rig) fundEach(t testing.TB, n int, value int64) {
	t.Helper()
	var us []wallet.UTXO
	var txs []wallet.Tx
	for i := 0; i < n; i++ {
		d, err := r.wallet.Descriptor.Derive(0, uint32(i), regtest)
		if err != nil {
			t.Fatal(err)
		}
		tx := wire.NewMsgTx(2)
		tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{9}, Index: uint32(i)}, nil, nil))
		tx.AddTxOut(wire.NewTxOut(value, d.ScriptPubKey))
		var raw bytes.Buffer
		if err := tx.Serialize(&raw); err != nil {
			t.Fatal(err)
		}
		us = append(us, wallet.UTXO{OutPoint: wire.OutPoint{Hash: tx.TxHash()}, Value: value, PkScript: d.ScriptPubKey, Index: uint32(i), Height: 100})
		txs = append(txs, wallet.Tx{TxID: tx.TxHash(), Height: 100, Raw: raw.Bytes(), Net: value})
	}
	if err := r.c.Store.ApplySync(context.Background(), "family", wallet.SyncUpdate{Height: 200, Hash: chainhash.Hash{1}, UTXOs: us, Txs: txs, ReceiveHighWater: uint32(n)}); err != nil {
		t.Fatal(err)
	}
}

// TestSpendSplitsSweepOverStandardSize: with no device limit, a sweep of
// 1,100 coins (about 114,000 vB in one transaction, over the 100,000 vB
// nodes relay, which Build refuses) is split into standard transactions;
// a payment that large is still refused.
func TestSpendSplitsSweepOverStandardSize(t *testing.T) {
	const n = 1100
	r := newRig(t)
	r.fundEach(t, n, 20_000)
	ctx := context.Background()
	res, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 0)}, SendAll: true, FeeRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Limit.Bytes != 0 || len(res.Parts) < 2 {
		t.Fatalf("limit %+v, %d parts", res.Limit, len(res.Parts))
	}
	inputs := 0
	for i, p := range res.Parts {
		if p.Summary.VSize > 100_000 {
			t.Fatalf("part %d is %d vB", i, p.Summary.VSize)
		}
		inputs += len(p.PSBT.Inputs)
	}
	if inputs != n {
		t.Fatalf("the parts spend %d coins of %d", inputs, n)
	}
	_, err = r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 21_500_000)}, FeeRate: 1, AllowConflict: true})
	if !errors.Is(err, psbt.ErrRefused) || !strings.Contains(err.Error(), "standard limit") {
		t.Fatalf("a payment over the standard size: %v", err)
	}
}

// TestSplitSweepKeepsTheDailyLimit: a sweep split into parts (here: over
// one standard transaction, so it is split before it is ever built whole)
// is one sweep to the daily limit: parts that each fit under it but
// together do not are refused, and none is saved.
func TestSplitSweepKeepsTheDailyLimit(t *testing.T) {
	const n, value = 1100, 20_000
	r := newRig(t)
	r.fundEach(t, n, value)
	ctx := context.Background()
	// The parts send about 0.189 and 0.029 of the 0.22 BTC; the limit is
	// above either and below both.
	if err := r.c.SetPolicy(ctx, "family", coordinator.Policy{DailyLimit: 20_000_000}); err != nil {
		t.Fatal(err)
	}
	_, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 0)}, SendAll: true, FeeRate: 1})
	var pe *coordinator.PolicyError
	if !errors.As(err, &pe) || pe.Rule != coordinator.RuleDailyLimit {
		t.Fatalf("a split sweep over the daily limit: %v, want the daily-limit refusal", err)
	}
	if drafts, _ := r.c.Store.Drafts(ctx, "family"); len(drafts) != 0 {
		t.Fatalf("%d parts saved after the refusal", len(drafts))
	}
}
