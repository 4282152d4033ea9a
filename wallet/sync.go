package wallet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// ApplySync stores what one sync of the wallet called name learned, in one
// transaction: it replaces the UTXO set, upserts transactions, deletes the
// forgotten ones, records the scan state and raises the address counters to
// the high-water marks. A sync killed at any point leaves the previous
// state whole.
//
// A spender recorded on a UTXO (by MarkBroadcast) is kept when the update
// lists that output again without a spender of its own, unless the update
// forgets the spending transaction: backends that cannot see the mempool
// would otherwise make a just-broadcast spend look unspent again.
func (s *Store) ApplySync(ctx context.Context, name string, u SyncUpdate) error {
	if err := u.check(); err != nil {
		return fmt.Errorf("apply sync of wallet %q: %w", name, err)
	}
	return s.write(ctx, func(tx *dbTx) error {
		id, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		w := journalKey{id, name}
		if err := s.replaceUTXOs(ctx, tx, w, u.UTXOs, u.Forget); err != nil {
			return err
		}
		if err := s.upsertTxs(ctx, tx, w, u.Txs, u.Forget); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO scan_state
			(wallet_id, height, hash, receive_high_water, change_high_water, synced_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (wallet_id) DO UPDATE SET
				height = excluded.height, hash = excluded.hash,
				receive_high_water = CASE WHEN scan_state.receive_high_water > excluded.receive_high_water THEN scan_state.receive_high_water ELSE excluded.receive_high_water END,
				change_high_water = CASE WHEN scan_state.change_high_water > excluded.change_high_water THEN scan_state.change_high_water ELSE excluded.change_high_water END,
				synced_at = excluded.synced_at`,
			id, u.Height, u.Hash.String(), u.ReceiveHighWater, u.ChangeHighWater, s.stamp()); err != nil {
			return fmt.Errorf("apply sync of wallet %q: record scan state: %w", name, err)
		}
		for branch, next := range [2]uint32{u.ReceiveHighWater, u.ChangeHighWater} {
			if _, err := s.advance(ctx, tx, w, uint32(branch), next); err != nil {
				return err
			}
		}
		return s.appendJournal(ctx, tx, w, ActionSyncApply, map[string]any{
			"height": u.Height, "hash": u.Hash.String(), "utxos": len(u.UTXOs),
			"txs": len(u.Txs), "forgotten": len(u.Forget),
		})
	})
}

// replaceUTXOs swaps the wallet's stored UTXO set for utxos inside tx,
// carrying recorded spenders over as ApplySync describes.
func (s *Store) replaceUTXOs(ctx context.Context, tx *dbTx, w journalKey, utxos []UTXO, forget []chainhash.Hash) error {
	kept := map[wire.OutPoint]string{}
	rows, err := tx.QueryContext(ctx, `SELECT txid, vout, spent_by FROM utxos WHERE wallet_id = ? AND spent_by IS NOT NULL`, w.id)
	if err != nil {
		return fmt.Errorf("apply sync of wallet %q: read spenders: %w", w.name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var txid, spender string
		var vout uint32
		if err := rows.Scan(&txid, &vout, &spender); err != nil {
			return fmt.Errorf("apply sync of wallet %q: read spenders: %w", w.name, err)
		}
		h, err := parseHash(txid)
		if err != nil {
			return fmt.Errorf("apply sync of wallet %q: %w", w.name, err)
		}
		kept[wire.OutPoint{Hash: h, Index: vout}] = spender
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("apply sync of wallet %q: read spenders: %w", w.name, err)
	}
	rows.Close()
	forgotten := make(map[string]bool, len(forget))
	for _, h := range forget {
		forgotten[h.String()] = true
	}

	if _, err := tx.ExecContext(ctx, `DELETE FROM utxos WHERE wallet_id = ?`, w.id); err != nil {
		return fmt.Errorf("apply sync of wallet %q: clear UTXOs: %w", w.name, err)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO utxos
		(wallet_id, txid, vout, value, script, branch, idx, height, spent_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("apply sync of wallet %q: %w", w.name, err)
	}
	defer ins.Close()
	for _, o := range utxos {
		var spender any // NULL unless known
		if o.SpentBy != nil {
			spender = o.SpentBy.String()
		} else if k, ok := kept[o.OutPoint]; ok && !forgotten[k] {
			spender = k
		}
		script := o.PkScript
		if script == nil {
			script = []byte{} // the column is NOT NULL; an empty script is still a value
		}
		if _, err := ins.ExecContext(ctx, w.id, o.OutPoint.Hash.String(), o.OutPoint.Index, o.Value,
			script, o.Branch, o.Index, o.Height, spender); err != nil {
			return fmt.Errorf("apply sync of wallet %q: store UTXO %s (listed twice?): %w", w.name, o.OutPoint, err)
		}
	}
	return nil
}

// upsertTxs records txs and deletes the forgotten ones inside tx.
func (s *Store) upsertTxs(ctx context.Context, tx *dbTx, w journalKey, txs []Tx, forget []chainhash.Hash) error {
	ins, err := tx.PrepareContext(ctx, `INSERT INTO transactions
		(wallet_id, txid, height, raw, net, fee, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (wallet_id, txid) DO UPDATE SET
			height = excluded.height,
			raw = coalesce(excluded.raw, transactions.raw),
			net = excluded.net,
			fee = coalesce(excluded.fee, transactions.fee),
			seen_at = CASE WHEN transactions.seen_at < excluded.seen_at THEN transactions.seen_at ELSE excluded.seen_at END`)
	if err != nil {
		return fmt.Errorf("apply sync of wallet %q: %w", w.name, err)
	}
	defer ins.Close()
	now := s.stamp()
	for _, t := range txs {
		seen := now
		if !t.SeenAt.IsZero() {
			seen = t.SeenAt.UnixMilli()
		}
		var raw, fee any // NULL keeps what is stored
		if t.Raw != nil {
			raw = t.Raw
		}
		if t.Fee != nil {
			fee = *t.Fee
		}
		if _, err := ins.ExecContext(ctx, w.id, t.TxID.String(), t.Height, raw, t.Net, fee, seen); err != nil {
			return fmt.Errorf("apply sync of wallet %q: store transaction %s: %w", w.name, t.TxID, err)
		}
	}
	for _, h := range forget {
		if _, err := tx.ExecContext(ctx, `DELETE FROM transactions WHERE wallet_id = ? AND txid = ?`, w.id, h.String()); err != nil {
			return fmt.Errorf("apply sync of wallet %q: forget transaction %s: %w", w.name, h, err)
		}
	}
	return nil
}

// UTXOs returns the wallet's unspent outputs from the last sync: confirmed
// ones oldest first, then unconfirmed ones.
func (s *Store) UTXOs(ctx context.Context, name string) ([]UTXO, error) {
	var out []UTXO
	err := s.read(ctx, func(tx *dbTx) error {
		id, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+utxoColumns+`
			FROM utxos WHERE wallet_id = ? ORDER BY height = 0, height, txid, vout`, id)
		if err != nil {
			return fmt.Errorf("list UTXOs of wallet %q: %w", name, err)
		}
		defer rows.Close()
		for rows.Next() {
			o, err := scanUTXO(rows)
			if err != nil {
				return fmt.Errorf("list UTXOs of wallet %q: %w", name, err)
			}
			out = append(out, o)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list UTXOs of wallet %q: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Transactions returns the wallet's transactions in chain order: confirmed
// by height, then unconfirmed by when they were first seen.
func (s *Store) Transactions(ctx context.Context, name string) ([]Tx, error) {
	var out []Tx
	err := s.read(ctx, func(tx *dbTx) error {
		id, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+txColumns+`
			FROM transactions WHERE wallet_id = ? ORDER BY height = 0, height, seen_at, txid`, id)
		if err != nil {
			return fmt.Errorf("list transactions of wallet %q: %w", name, err)
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanTx(rows)
			if err != nil {
				return fmt.Errorf("list transactions of wallet %q: %w", name, err)
			}
			out = append(out, t)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list transactions of wallet %q: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ScanState returns where the wallet's last sync stopped; the zero
// ScanState (SyncedAt zero) when it was never synced.
func (s *Store) ScanState(ctx context.Context, name string) (ScanState, error) {
	var st ScanState
	err := s.read(ctx, func(tx *dbTx) error {
		id, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		var hash string
		var synced int64
		err = tx.QueryRowContext(ctx, `SELECT height, hash, receive_high_water, change_high_water, synced_at
			FROM scan_state WHERE wallet_id = ?`, id).
			Scan(&st.Height, &hash, &st.ReceiveHighWater, &st.ChangeHighWater, &synced)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read scan state of wallet %q: %w", name, err)
		}
		if st.Hash, err = parseHash(hash); err != nil {
			return fmt.Errorf("read scan state of wallet %q: %w", name, err)
		}
		st.SyncedAt = fromStamp(synced)
		return nil
	})
	return st, err
}

// Balance sums the wallet's stored UTXOs that nothing is known to spend, in
// satoshis: confirmed (in a block) and unconfirmed. Outputs an unconfirmed
// transaction spends count in neither; that transaction's change shows up
// as unconfirmed once a sync has seen it.
func (s *Store) Balance(ctx context.Context, name string) (confirmed, unconfirmed int64, err error) {
	err = s.read(ctx, func(tx *dbTx) error {
		id, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT
				coalesce(sum(CASE WHEN height > 0 THEN value END), 0),
				coalesce(sum(CASE WHEN height = 0 THEN value END), 0)
			FROM utxos WHERE wallet_id = ? AND spent_by IS NULL`, id).Scan(&confirmed, &unconfirmed); err != nil {
			return fmt.Errorf("balance of wallet %q: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return confirmed, unconfirmed, nil
}

// utxoColumns is the SELECT list scanUTXO expects.
const utxoColumns = `txid, vout, value, script, branch, idx, height, spent_by`

// scanUTXO reads one utxos row (utxoColumns order).
func scanUTXO(row interface{ Scan(...any) error }) (UTXO, error) {
	var o UTXO
	var txid string
	var spender sql.NullString
	if err := row.Scan(&txid, &o.OutPoint.Index, &o.Value, &o.PkScript, &o.Branch, &o.Index, &o.Height, &spender); err != nil {
		return o, err
	}
	var err error
	if o.OutPoint.Hash, err = parseHash(txid); err != nil {
		return o, err
	}
	if spender.Valid {
		h, err := parseHash(spender.String)
		if err != nil {
			return o, err
		}
		o.SpentBy = &h
	}
	return o, nil
}

// txColumns is the SELECT list scanTx expects.
const txColumns = `txid, height, raw, net, fee, seen_at`

// scanTx reads one transactions row (txColumns order).
func scanTx(row interface{ Scan(...any) error }) (Tx, error) {
	var t Tx
	var txid string
	var fee sql.NullInt64
	var seen int64
	if err := row.Scan(&txid, &t.Height, &t.Raw, &t.Net, &fee, &seen); err != nil {
		return t, err
	}
	var err error
	if t.TxID, err = parseHash(txid); err != nil {
		return t, err
	}
	if fee.Valid {
		t.Fee = &fee.Int64
	}
	t.SeenAt = fromStamp(seen)
	return t, nil
}
