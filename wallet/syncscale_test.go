package wallet

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// TestApplySyncTipOnly: a tip-only update moves the tip and the sync time
// and keeps every stored coin and transaction (and a recorded spender);
// one that also carries coins is refused.
func TestApplySyncTipOnly(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mustCreate(t, s, "w")
	if err := s.ApplySync(ctx, "w", generation(5)); err != nil {
		t.Fatal(err)
	}
	spend := wire.NewMsgTx(2)
	spend.AddTxIn(wire.NewTxIn(&generation(5).UTXOs[7].OutPoint, nil, nil))
	if err := s.MarkBroadcast(ctx, spend); err != nil {
		t.Fatal(err)
	}
	before, _ := s.UTXOs(ctx, "w")
	marked := 0
	for _, o := range before {
		if o.SpentBy != nil {
			marked++
		}
	}
	if marked != 1 {
		t.Fatalf("%d coins marked spent", marked)
	}
	txsBefore, _ := s.Transactions(ctx, "w")
	if err := s.ApplySync(ctx, "w", SyncUpdate{Height: 9, Hash: hashOf('b', 9), ReceiveHighWater: 5, ChangeHighWater: 2, TipOnly: true}); err != nil {
		t.Fatal(err)
	}
	st, _ := s.ScanState(ctx, "w")
	after, _ := s.UTXOs(ctx, "w")
	txsAfter, _ := s.Transactions(ctx, "w")
	if st.Height != 9 || st.Hash != hashOf('b', 9) || !reflect.DeepEqual(before, after) || !reflect.DeepEqual(txsBefore, txsAfter) {
		t.Fatalf("tip-only: height %d, %d -> %d coins, %d -> %d txs", st.Height, len(before), len(after), len(txsBefore), len(txsAfter))
	}
	n, err := s.UTXOCount(ctx, "w")
	if err != nil || n != genUTXOs {
		t.Fatalf("UTXOCount = %d, %v", n, err)
	}
	bad := generation(10)
	bad.TipOnly = true
	if err := s.ApplySync(ctx, "w", bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("tip-only with coins: %v", err)
	}
	if st, _ := s.ScanState(ctx, "w"); st.Height != 9 {
		t.Fatal("a refused update changed the tip")
	}
}

// TestKnownTxs: which of the ids asked are stored (more than one query's
// worth of them), and how many stored transactions are unconfirmed.
func TestKnownTxs(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mustCreate(t, s, "w")
	u := generation(5)
	u.Txs = append(u.Txs, Tx{TxID: hashOf('u', 1), Net: 1}, Tx{TxID: hashOf('u', 2), Net: 2})
	if err := s.ApplySync(ctx, "w", u); err != nil {
		t.Fatal(err)
	}
	var ask []chainhash.Hash
	for i := 0; i < 1200; i++ {
		ask = append(ask, hashOf('x', i)) // not stored
	}
	ask = append(ask, hashOf('t', 3), hashOf('u', 2), hashOf('t', genTxs+1))
	known, unconfirmed, err := s.KnownTxs(ctx, "w", ask)
	if err != nil {
		t.Fatal(err)
	}
	if unconfirmed != 2 || len(known) != 2 || !known[hashOf('t', 3)] || !known[hashOf('u', 2)] {
		t.Fatalf("known %v, unconfirmed %d", known, unconfirmed)
	}
	if _, _, err := s.KnownTxs(ctx, "nobody", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown wallet: %v", err)
	}
}

// TestHistoryIsTransactionsWithoutBytes: History lists what Transactions
// does, in the same (chain) order, without the bytes; values of every
// kind survive the JSON path the rows are inserted through.
func TestHistoryIsTransactionsWithoutBytes(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mustCreate(t, s, "w")
	fee := int64(0)
	u := SyncUpdate{Height: 50, Hash: hashOf('b', 50), UTXOs: []UTXO{
		{OutPoint: wire.OutPoint{Hash: hashOf('t', 1), Index: 4_000_000_000}, Value: 2_100_000_000_000_000, PkScript: []byte{0x51, 0, '"'}, Branch: 1, Index: 2_147_483_647, Height: 0},
	}}
	for i, h := range []int32{7, 0, 3, 7, 0, 50} {
		raw := []byte{byte(i), 0, 0xff, '"', '\\'}
		u.Txs = append(u.Txs, Tx{TxID: hashOf('t', 100-i), Height: h, Raw: raw, Net: -int64(i) * 1000, Fee: &fee})
	}
	if err := s.ApplySync(ctx, "w", u); err != nil {
		t.Fatal(err)
	}
	full, err := s.Transactions(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	hist, err := s.History(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	if len(full) != 6 || len(hist) != 6 {
		t.Fatalf("%d and %d transactions", len(full), len(hist))
	}
	for i := range full {
		if full[i].Height != 0 && i > 0 && full[i-1].Height == 0 {
			t.Fatal("an unconfirmed transaction before a confirmed one")
		}
		if i > 0 && full[i].Height != 0 && full[i-1].Height > full[i].Height {
			t.Fatalf("heights out of order: %d then %d", full[i-1].Height, full[i].Height)
		}
		if hist[i].Raw != nil {
			t.Fatalf("History carries bytes")
		}
		h := hist[i]
		h.Raw = full[i].Raw
		if !reflect.DeepEqual(h, full[i]) {
			t.Fatalf("row %d: %+v, want %+v", i, hist[i], full[i])
		}
		if k := 100 - int(full[i].TxID[3]); !reflect.DeepEqual(full[i].Raw, []byte{byte(k), 0, 0xff, '"', '\\'}) {
			t.Fatalf("row %d: raw %x", i, full[i].Raw)
		}
	}
	us, _ := s.UTXOs(ctx, "w")
	if !reflect.DeepEqual(us, u.UTXOs) {
		t.Fatalf("UTXO %+v, want %+v", us, u.UTXOs)
	}
}
