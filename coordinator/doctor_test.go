package coordinator_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/soft"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// doctored is a rig that went through every workflow: addresses handed
// out, a payment signed by two keys, combined, finalized and broadcast,
// and a second spend left as an unsigned draft.
func doctored(t *testing.T) (*rig, *soft.Store, *coordinator.SpendResult) {
	t.Helper()
	r := newRig(t, 300_000, 200_000)
	ctx := context.Background()
	for range 3 {
		if _, err := r.c.NextAddress(ctx, "family", ""); err != nil {
			t.Fatal(err)
		}
	}
	sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 250_000)}, UTXOs: r.allCoins(t), FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	var copies []*bpsbt.Packet
	for _, name := range []string{"alice", "bob"} {
		plan, err := r.c.PrepareSign(ctx, "", sp.PSBT, coordinator.GateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out, err := r.c.Sign(ctx, plan, hw.NewSigner(r.keys[name]))
		if err != nil {
			t.Fatal(err)
		}
		copies = append(copies, out.PSBT)
	}
	comb, err := r.c.Combine(ctx, "", copies, coordinator.GateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fin, err := r.c.Finalize(ctx, "", comb.PSBT, coordinator.GateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := psbt.Serialize(fin.PSBT)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Broadcast(ctx, fin.Wallet.Name, raw, coordinator.GateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The broadcast coins are marked spent and cannot be spent again; a
	// new coin (a sync replaces the coin set) pays for a second spend that
	// stays a draft.
	if _, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 50_000)}, UTXOs: r.allCoins(t), FeeRate: 2}); err == nil {
		t.Fatal("spent coins were spent again")
	}
	r.fund(t, 400_000)
	pending, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 50_000)}, FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	return r, soft.NewStore(filepath.Join(r.c.Store.Dir(), "keys")), pending
}

func (r *rig) allCoins(t *testing.T) []wire.OutPoint {
	t.Helper()
	us, err := r.c.Store.UTXOs(context.Background(), "family")
	if err != nil {
		t.Fatal(err)
	}
	var out []wire.OutPoint
	for _, u := range us {
		out = append(out, u.OutPoint)
	}
	return out
}

func TestDoctorPassesAfterEveryWorkflow(t *testing.T) {
	r, keys, _ := doctored(t)
	rep, err := r.c.Doctor(context.Background(), keys)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, c := range rep.Checks {
		seen[c.Name] = c.Detail
		if !c.OK {
			t.Errorf("%s (%s): %q", c.Name, c.Wallet, c.Problems)
		}
	}
	if f := rep.Failed(); len(f) != 0 || rep.Dir != r.c.Store.Dir() {
		t.Fatalf("%d failed; dir %s", len(f), rep.Dir)
	}
	for _, name := range []string{wallet.CheckIntegrity, wallet.CheckJournalSeq, wallet.CheckCounters, coordinator.CheckDescriptor,
		coordinator.CheckAddresses, coordinator.CheckPSBTs, coordinator.CheckChange, coordinator.CheckKeys} {
		if _, ok := seen[name]; !ok {
			t.Errorf("check %s did not run", name)
		}
	}
	// Both spends reserved a change index; the pending draft and the
	// unsigned and signed versions of the first went through the gate.
	if !strings.HasPrefix(seen[coordinator.CheckChange], "2 change indexes reserved") ||
		!strings.Contains(seen[coordinator.CheckPSBTs], "through the safety checks") || !strings.HasPrefix(seen[coordinator.CheckKeys], "3 keys") {
		t.Fatalf("details: %q", seen)
	}
}

// rawDB opens the store's database file directly, as the sqlite3 shell
// would, with foreign keys off.
func rawDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, wallet.DBFile)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestDoctorFindsDamage breaks one thing the store's own checks cannot see
// (they need the descriptor or the PSBTs) and expects the named check to
// fail.
func TestDoctorFindsDamage(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, r *rig, keys *soft.Store, pending *coordinator.SpendResult)
		check  string
		want   string
		also   []string
	}{
		{"address not the derived one", func(t *testing.T, r *rig, _ *soft.Store, _ *coordinator.SpendResult) {
			// Through the store's API, so journal and table agree: only
			// re-deriving shows it.
			_, _, err := r.c.Store.NextAddress(ctx, "family", 0, func(uint32) (string, error) { return "bcrt1qnotours", nil }, "")
			mustOK(t, err)
		}, coordinator.CheckAddresses, "the descriptor derives", nil},
		{"descriptor replaced", func(t *testing.T, r *rig, _ *soft.Store, _ *coordinator.SpendResult) {
			other := newRig(t)
			_, err := rawDB(t, r.c.Store.Dir()).Exec(`UPDATE wallets SET descriptor = ?`, other.wallet.Wallet.Descriptor)
			mustOK(t, err)
		}, coordinator.CheckDescriptor, "fingerprint", []string{coordinator.CheckAddresses, coordinator.CheckPSBTs, coordinator.CheckChange}},
		{"descriptor garbage", func(t *testing.T, r *rig, _ *soft.Store, _ *coordinator.SpendResult) {
			_, err := rawDB(t, r.c.Store.Dir()).Exec(`UPDATE wallets SET descriptor = 'wsh(nonsense)'`)
			mustOK(t, err)
		}, coordinator.CheckDescriptor, "does not parse", []string{coordinator.CheckAddresses, coordinator.CheckPSBTs, coordinator.CheckChange}},
		{"change counter moved back", func(t *testing.T, r *rig, _ *soft.Store, _ *coordinator.SpendResult) {
			_, err := rawDB(t, r.c.Store.Dir()).Exec(`UPDATE wallets SET next_change = 1`)
			mustOK(t, err)
		}, coordinator.CheckChange, "the next spend would reuse it", nil},
		{"change reserved but not paid", func(t *testing.T, r *rig, _ *soft.Store, pending *coordinator.SpendResult) {
			// A PSBT without its change output, recorded as if it used the
			// change index.
			p, err := psbt.Clone(pending.PSBT)
			mustOK(t, err)
			for j := range p.Outputs {
				if len(p.Outputs[j].Bip32Derivation) > 0 {
					p.UnsignedTx.TxOut = append(p.UnsignedTx.TxOut[:j], p.UnsignedTx.TxOut[j+1:]...)
					p.Outputs = append(p.Outputs[:j], p.Outputs[j+1:]...)
					break
				}
			}
			raw, err := psbt.Serialize(p)
			mustOK(t, err)
			_, err = r.c.Store.CreateDraft(ctx, "family", func(uint32) (*wallet.Draft, bool, error) {
				return &wallet.Draft{TxID: p.UnsignedTx.TxHash(), PSBT: raw}, true, nil
			})
			mustOK(t, err)
		}, coordinator.CheckChange, "pays no change there", nil},
		{"draft not a PSBT", func(t *testing.T, r *rig, _ *soft.Store, _ *coordinator.SpendResult) {
			mustOK(t, r.c.Store.SaveDraft(ctx, "family", &wallet.Draft{TxID: chainhash.Hash{3}, PSBT: []byte("psbt\xff but torn")}))
		}, coordinator.CheckPSBTs, "does not parse as a PSBT", nil},
		{"draft under another txid", func(t *testing.T, r *rig, _ *soft.Store, pending *coordinator.SpendResult) {
			p, err := psbt.Clone(pending.PSBT)
			mustOK(t, err)
			p.Unknowns = append(p.Unknowns, &bpsbt.Unknown{Key: []byte{0x55}, Value: []byte{1}})
			raw, err := psbt.Serialize(p)
			mustOK(t, err)
			mustOK(t, r.c.Store.SaveDraft(ctx, "family", &wallet.Draft{TxID: chainhash.Hash{4}, PSBT: raw}))
		}, coordinator.CheckPSBTs, "is stored with txid", nil},
		{"draft incomplete", func(t *testing.T, r *rig, _ *soft.Store, pending *coordinator.SpendResult) {
			p, err := psbt.Clone(pending.PSBT)
			mustOK(t, err)
			for i := range p.Inputs {
				p.Inputs[i].NonWitnessUtxo = nil
			}
			raw, err := psbt.Serialize(p)
			mustOK(t, err)
			mustOK(t, r.c.Store.SaveDraft(ctx, "family", &wallet.Draft{TxID: p.UnsignedTx.TxHash(), PSBT: raw}))
		}, coordinator.CheckPSBTs, "fails the safety checks", nil},
		{"key file open to others", func(t *testing.T, _ *rig, keys *soft.Store, _ *coordinator.SpendResult) {
			mustOK(t, os.Chmod(filepath.Join(keys.Dir(), "bob.age"), 0o644))
		}, coordinator.CheckKeys, "want 0600", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, keys, pending := doctored(t)
			c.damage(t, r, keys, pending)
			rep, err := r.c.Doctor(ctx, keys)
			if err != nil {
				t.Fatal(err)
			}
			expected := map[string]bool{c.check: true}
			for _, a := range c.also {
				expected[a] = true
			}
			failed := false
			for _, ch := range rep.Failed() {
				if !expected[ch.Name] {
					t.Errorf("%s failed too: %q", ch.Name, ch.Problems)
				}
				if ch.Name == c.check {
					failed = true
					if !strings.Contains(strings.Join(ch.Problems, "\n"), c.want) {
						t.Errorf("%s: %q, want %q", ch.Name, ch.Problems, c.want)
					}
				}
			}
			if !failed {
				t.Fatalf("%s passed", c.check)
			}
		})
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
