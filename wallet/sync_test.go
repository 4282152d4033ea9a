package wallet

import (
	"bufio"
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// genUTXOs and genTxs size a generation; large enough that a kill or a
// cancel often lands inside the transaction.
const (
	genUTXOs = 3000
	genTxs   = 50
)

// hashOf makes a distinct, recognisable hash from a tag and a number.
func hashOf(tag byte, n int) chainhash.Hash {
	var h chainhash.Hash
	h[0], h[1], h[2], h[3] = tag, byte(n>>16), byte(n>>8), byte(n)
	return h
}

// generation is sync update number gen: every value in it carries gen, so
// a store mixing two generations is easy to spot.
func generation(gen int32) SyncUpdate {
	u := SyncUpdate{
		Height: gen, Hash: hashOf('b', int(gen)),
		ReceiveHighWater: uint32(gen), ChangeHighWater: uint32(gen) / 2,
	}
	for i := range genUTXOs {
		u.UTXOs = append(u.UTXOs, UTXO{
			OutPoint: wire.OutPoint{Hash: hashOf('t', i), Index: uint32(i % 3)},
			Value:    int64(gen), PkScript: []byte{0x00, 0x20, byte(i)},
			Branch: uint32(i % 2), Index: uint32(i), Height: gen,
		})
	}
	for i := range genTxs {
		u.Txs = append(u.Txs, Tx{TxID: hashOf('t', i), Height: gen, Net: int64(gen)})
	}
	return u
}

// checkGeneration fails unless the store holds exactly generation gen (0:
// never synced) for wallet name.
func checkGeneration(t *testing.T, s *Store, name string, gen int32) {
	t.Helper()
	ctx := context.Background()
	st, err := s.ScanState(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	utxos, err := s.UTXOs(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	txs, err := s.Transactions(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Wallet(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	wantN, wantTxs := genUTXOs, genTxs
	if gen == 0 {
		wantN, wantTxs = 0, 0
	}
	if st.Height != gen || len(utxos) != wantN || len(txs) != wantTxs || w.NextReceive != uint32(gen) {
		t.Fatalf("store mixes states: scan height %d, %d UTXOs, %d txs, next receive %d; want generation %d",
			st.Height, len(utxos), len(txs), w.NextReceive, gen)
	}
	for _, o := range utxos {
		if o.Value != int64(gen) || o.Height != gen {
			t.Fatalf("UTXO %s from another generation (value %d) than the scan state (%d)", o.OutPoint, o.Value, gen)
		}
	}
	for _, tx := range txs {
		if tx.Net != int64(gen) {
			t.Fatalf("transaction %s from generation %d, scan state says %d", tx.TxID, tx.Net, gen)
		}
	}
}

func TestApplySyncRoundTrip(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mustCreate(t, s, "w")
	fee := int64(141)
	seen := testBase.Add(-time.Hour)
	spender := hashOf('s', 1)
	u := SyncUpdate{
		Height: 800, Hash: hashOf('b', 800), ReceiveHighWater: 4, ChangeHighWater: 1,
		UTXOs: []UTXO{
			{OutPoint: wire.OutPoint{Hash: hashOf('t', 2), Index: 1}, Value: 5000, PkScript: []byte{1, 2}, Branch: 0, Index: 3, Height: 0},
			{OutPoint: wire.OutPoint{Hash: hashOf('t', 1), Index: 0}, Value: 70000, PkScript: []byte{3}, Branch: 1, Index: 0, Height: 790},
			{OutPoint: wire.OutPoint{Hash: hashOf('t', 3), Index: 0}, Value: 1, PkScript: []byte{4}, Branch: 0, Index: 1, Height: 799, SpentBy: &spender},
		},
		Txs: []Tx{
			{TxID: hashOf('t', 1), Height: 790, Raw: []byte{0xde, 0xad}, Net: 70000, Fee: &fee, SeenAt: seen},
			{TxID: hashOf('t', 2), Height: 0, Net: -20000},
		},
	}
	if err := s.ApplySync(ctx, "w", u); err != nil {
		t.Fatal(err)
	}
	utxos, err := s.UTXOs(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	// Confirmed oldest first, unconfirmed last.
	wantUTXOs := []UTXO{u.UTXOs[1], u.UTXOs[2], u.UTXOs[0]}
	if !reflect.DeepEqual(utxos, wantUTXOs) {
		t.Fatalf("UTXOs\n%+v\nwant\n%+v", utxos, wantUTXOs)
	}
	txs, err := s.Transactions(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	if len(txs) != 2 || !reflect.DeepEqual(txs[0], u.Txs[0]) || txs[1].TxID != u.Txs[1].TxID ||
		txs[1].Fee != nil || txs[1].Raw != nil || txs[1].SeenAt.IsZero() {
		t.Fatalf("transactions %+v", txs)
	}
	st, err := s.ScanState(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	if st.Height != 800 || st.Hash != u.Hash || st.ReceiveHighWater != 4 || st.ChangeHighWater != 1 || st.SyncedAt.IsZero() {
		t.Fatalf("scan state %+v", st)
	}
	conf, unconf, err := s.Balance(ctx, "w")
	if err != nil || conf != 70000 || unconf != 5000 {
		t.Fatalf("balance %d/%d, %v; want 70000/5000 (the spent output counts in neither)", conf, unconf, err)
	}
	w, err := s.Wallet(ctx, "w")
	if err != nil || w.NextReceive != 4 || w.NextChange != 1 {
		t.Fatalf("counters %d/%d, %v; want raised to 4/1", w.NextReceive, w.NextChange, err)
	}

	// Second sync: the set is replaced; a tx without Raw/Fee keeps the
	// stored ones and its earlier SeenAt; marks and counters never drop.
	u2 := SyncUpdate{
		Height: 801, Hash: hashOf('b', 801), ReceiveHighWater: 2,
		UTXOs: []UTXO{u.UTXOs[1]},
		Txs:   []Tx{{TxID: hashOf('t', 1), Height: 790, Net: 70000, SeenAt: testBase}},
	}
	if err := s.ApplySync(ctx, "w", u2); err != nil {
		t.Fatal(err)
	}
	if utxos, _ = s.UTXOs(ctx, "w"); len(utxos) != 1 {
		t.Fatalf("UTXO set not replaced: %d", len(utxos))
	}
	txs, _ = s.Transactions(ctx, "w")
	if len(txs) != 2 || txs[0].Fee == nil || *txs[0].Fee != fee || string(txs[0].Raw) != "\xde\xad" || !txs[0].SeenAt.Equal(seen) {
		t.Fatalf("upsert lost data: %+v", txs[0])
	}
	st, _ = s.ScanState(ctx, "w")
	if st.Height != 801 || st.ReceiveHighWater != 4 || st.ChangeHighWater != 1 {
		t.Fatalf("scan state %+v", st)
	}
}

func TestApplySyncRefuses(t *testing.T) {
	bad := hashOf('x', 1)
	neg := int64(-1)
	for _, c := range []struct {
		name   string
		wallet string
		modify func(u *SyncUpdate)
		want   error
	}{
		{"unknown wallet", "nope", func(u *SyncUpdate) {}, ErrNotFound},
		{"negative tip", "w", func(u *SyncUpdate) { u.Height = -1 }, ErrInvalid},
		{"high water too far", "w", func(u *SyncUpdate) { u.ChangeHighWater = maxIndex + 1 }, ErrInvalid},
		{"negative value", "w", func(u *SyncUpdate) { u.UTXOs[5].Value = -1 }, ErrInvalid},
		{"more than all bitcoin", "w", func(u *SyncUpdate) { u.UTXOs[5].Value = 21e14 + 1 }, ErrInvalid},
		{"bad branch", "w", func(u *SyncUpdate) { u.UTXOs[5].Branch = 2 }, ErrInvalid},
		{"hardened index", "w", func(u *SyncUpdate) { u.UTXOs[5].Index = maxIndex }, ErrInvalid},
		{"negative height", "w", func(u *SyncUpdate) { u.Txs[1].Height = -3 }, ErrInvalid},
		{"negative fee", "w", func(u *SyncUpdate) { u.Txs[1].Fee = &neg }, ErrInvalid},
		{"spent by forgotten", "w", func(u *SyncUpdate) { u.UTXOs[0].SpentBy = &bad; u.Forget = []chainhash.Hash{bad} }, ErrInvalid},
		{"stored and forgotten", "w", func(u *SyncUpdate) { u.Forget = []chainhash.Hash{u.Txs[0].TxID} }, ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			mustCreate(t, s, "w")
			if err := s.ApplySync(context.Background(), "w", generation(1)); err != nil {
				t.Fatal(err)
			}
			u := generation(2)
			c.modify(&u)
			wantErr(t, s.ApplySync(context.Background(), c.wallet, u), c.want)
			checkGeneration(t, s, "w", 1)
		})
	}
}

// TestApplySyncRollsBack: a failure deep inside the transaction (the
// second copy of an outpoint, after the old set is already deleted and
// thousands of rows written) leaves the previous state whole.
func TestApplySyncRollsBack(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mustCreate(t, s, "w")
	if err := s.ApplySync(ctx, "w", generation(1)); err != nil {
		t.Fatal(err)
	}
	before := journalLen(t, s)
	u := generation(2)
	u.UTXOs = append(u.UTXOs, u.UTXOs[7])
	err := s.ApplySync(ctx, "w", u)
	if err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Fatalf("ApplySync = %v, want a duplicate-outpoint failure", err)
	}
	checkGeneration(t, s, "w", 1)
	if journalLen(t, s) != before {
		t.Fatal("journal row of a rolled-back sync survived")
	}
}

func TestApplySyncCancelled(t *testing.T) {
	s := newStore(t)
	mustCreate(t, s, "w")
	if err := s.ApplySync(context.Background(), "w", generation(1)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.ApplySync(ctx, "w", generation(2)); !errors.Is(err, context.Canceled) {
		t.Fatalf("ApplySync with a cancelled context = %v", err)
	}
	checkGeneration(t, s, "w", 1)

	// Cancelled while running: whichever side of the commit the cancel
	// lands on, the store holds one whole generation.
	for gen := int32(2); gen < 6; gen++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(40))*time.Millisecond)
		err := s.ApplySync(ctx, "w", generation(gen))
		cancel()
		st, _ := s.ScanState(context.Background(), "w")
		if err == nil && st.Height != gen {
			t.Fatalf("ApplySync succeeded but the store holds generation %d", st.Height)
		}
		checkGeneration(t, s, "w", st.Height)
	}
}

// TestApplySyncKilled kills a process in the middle of a stream of large
// syncs; the store must open and hold one whole generation.
func TestApplySyncKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	for round := range 3 {
		dir := t.TempDir()
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		mustCreate(t, s, "crash")
		s.Close()

		cmds, outs, release := startChildren(t, "sync-loop", dir, 1)
		cmd := cmds[0]
		release()
		// Wait until the child has committed two generations.
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(outs[0].String(), "gen 2\n") {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("round %d: child made no progress; output %q", round, outs[0])
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond) // one generation takes ~100 ms: land inside or between them
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()

		s, err = Open(dir)
		if err != nil {
			t.Fatalf("round %d: store does not open after the kill: %v", round, err)
		}
		var check string
		if err := s.rawQueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
			t.Fatalf("round %d: integrity_check %q, %v", round, check, err)
		}
		st, err := s.ScanState(context.Background(), "crash")
		if err != nil {
			t.Fatal(err)
		}
		if st.Height < 2 {
			t.Fatalf("round %d: committed generation 2 lost (store at %d)", round, st.Height)
		}
		checkGeneration(t, s, "crash", st.Height)
		t.Logf("round %d: killed after %q; store at generation %d", round, lastLine(outs[0].String()), st.Height)
		s.Close()
	}
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	var last string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if sc.Text() != "" {
			last = sc.Text()
		}
	}
	return last
}

func TestApplySyncKeepsBroadcastSpender(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mustCreate(t, s, "w")
	u := generation(1)
	u.UTXOs = u.UTXOs[:3]
	if err := s.ApplySync(ctx, "w", u); err != nil {
		t.Fatal(err)
	}
	spend := spendTx(u.UTXOs[0].OutPoint, false)
	if err := s.MarkBroadcast(ctx, spend); err != nil {
		t.Fatal(err)
	}
	spendID := spend.TxHash()

	spentBy := func() *chainhash.Hash {
		t.Helper()
		utxos, err := s.UTXOs(ctx, "w")
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range utxos {
			if o.OutPoint == u.UTXOs[0].OutPoint {
				return o.SpentBy
			}
		}
		t.Fatal("UTXO vanished")
		return nil
	}
	// A backend blind to the mempool still lists the output as unspent.
	if err := s.ApplySync(ctx, "w", u); err != nil {
		t.Fatal(err)
	}
	if got := spentBy(); got == nil || *got != spendID {
		t.Fatalf("spender lost by a sync: %v", got)
	}
	// Once the spend is known to be gone, the output is free again.
	u.Forget = []chainhash.Hash{spendID}
	if err := s.ApplySync(ctx, "w", u); err != nil {
		t.Fatal(err)
	}
	if got := spentBy(); got != nil {
		t.Fatalf("spender %v kept after the update forgot it", got)
	}
}

func TestSyncReadersUnknownWallet(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	_, err := s.UTXOs(ctx, "nope")
	wantErr(t, err, ErrNotFound)
	_, err = s.Transactions(ctx, "nope")
	wantErr(t, err, ErrNotFound)
	_, err = s.ScanState(ctx, "nope")
	wantErr(t, err, ErrNotFound)
	_, _, err = s.Balance(ctx, "nope")
	wantErr(t, err, ErrNotFound)
}

func TestNeverSynced(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mustCreate(t, s, "w")
	st, err := s.ScanState(ctx, "w")
	if err != nil || st != (ScanState{}) {
		t.Fatalf("scan state %+v, %v; want zero", st, err)
	}
	conf, unconf, err := s.Balance(ctx, "w")
	if err != nil || conf != 0 || unconf != 0 {
		t.Fatalf("balance %d/%d, %v", conf, unconf, err)
	}
}

// TestBlockTimeFollowsHeight: a confirmed transaction keeps the block
// time a sync reported while it stays at that height (a later sync that
// reports none keeps it), loses it when it goes back to the mempool, and
// takes the new block's when it confirms elsewhere; History and
// Transactions both read it.
func TestBlockTimeFollowsHeight(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mustCreate(t, s, "w")
	id := hashOf('t', 1)
	t0 := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	apply := func(height int32, bt time.Time) {
		t.Helper()
		u := SyncUpdate{Height: 60, Hash: hashOf('b', 60), Txs: []Tx{{TxID: id, Height: height, Net: 1000, BlockTime: bt}}}
		if err := s.ApplySync(ctx, "w", u); err != nil {
			t.Fatal(err)
		}
	}
	check := func(stage string, want time.Time) {
		t.Helper()
		hist, err := s.History(ctx, "w")
		if err != nil || len(hist) != 1 {
			t.Fatalf("%s: History %v, %v", stage, hist, err)
		}
		full, err := s.Transactions(ctx, "w")
		if err != nil || len(full) != 1 {
			t.Fatalf("%s: Transactions %v, %v", stage, full, err)
		}
		if !hist[0].BlockTime.Equal(want) || !full[0].BlockTime.Equal(want) {
			t.Fatalf("%s: block time %v (History) and %v (Transactions), want %v", stage, hist[0].BlockTime, full[0].BlockTime, want)
		}
	}
	apply(50, t0)
	check("confirmed", t0)
	apply(50, time.Time{})
	check("the same height, no time reported", t0)
	apply(0, t0) // a time for an unconfirmed one is not stored
	check("back in the mempool", time.Time{})
	apply(51, time.Time{})
	check("confirmed again, no time reported", time.Time{})
	t1 := t0.Add(10 * time.Minute)
	apply(52, t1)
	check("moved to another block", t1)
	apply(53, time.Time{})
	check("moved, no time reported", time.Time{})
}
