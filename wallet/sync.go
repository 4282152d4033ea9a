package wallet

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

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
		if !u.TipOnly {
			if err := s.replaceUTXOs(ctx, tx, w, u.UTXOs, u.Forget); err != nil {
				return err
			}
			if err := s.upsertTxs(ctx, tx, w, u.Txs, u.Forget); err != nil {
				return err
			}
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
		detail := map[string]any{
			"height": u.Height, "hash": u.Hash.String(), "utxos": len(u.UTXOs),
			"txs": len(u.Txs), "forgotten": len(u.Forget),
		}
		if u.TipOnly {
			detail["tip_only"] = true // nothing new: the stored coins were kept
		}
		return s.appendJournal(ctx, tx, w, ActionSyncApply, detail)
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
	vals := make([][]any, 0, len(utxos))
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
		vals = append(vals, []any{w.id, o.OutPoint.Hash.String(), o.OutPoint.Index, o.Value,
			script, o.Branch, o.Index, o.Height, spender})
	}
	return insertRows(ctx, tx, `INSERT INTO utxos (wallet_id, txid, vout, value, script, branch, idx, height, spent_by)`,
		[]string{"j.value->>0", "j.value->>1", "j.value->>2", "j.value->>3", "unhex(j.value->>4)", "j.value->>5", "j.value->>6", "j.value->>7", "j.value->>8"}, vals, "",
		func(err error) error {
			return fmt.Errorf("apply sync of wallet %q: store UTXOs (one listed twice?): %w", w.name, err)
		})
}

// jsonBatch is how many rows one INSERT carries (see insertRows).
const jsonBatch = 5_000

// insertRows inserts rows with one statement per jsonBatch rows: the rows
// travel as one JSON parameter that json_each reads, because this driver
// parses a statement at every execution (one INSERT per row spent half a
// large sync parsing SQL) and binds many parameters in quadratic time.
// head is "INSERT INTO t (columns)"; exprs read each column from the
// row's array, j.value (e.g. "j.value->>0", "unhex(j.value->>3)" for a
// blob, which travels as hex); tail follows the SELECT (an ON CONFLICT
// clause). Values may be integers, strings, []byte (as hex) or nil.
//
// PostgreSQL has no json_each over arrays of arrays and pgx prepares a
// statement once: there, one prepared INSERT ... VALUES runs per row.
func insertRows(ctx context.Context, tx *dbTx, head string, exprs []string, rows [][]any, tail string, fail func(error) error) error {
	if tx.pg {
		st, err := tx.PrepareContext(ctx, head+" VALUES ("+strings.TrimSuffix(strings.Repeat("?, ", len(exprs)), ", ")+") "+tail)
		if err != nil {
			return fail(err)
		}
		defer st.Close()
		for _, r := range rows {
			if _, err := st.ExecContext(ctx, r...); err != nil {
				return fail(err)
			}
		}
		return nil
	}
	q := head + " SELECT " + strings.Join(exprs, ", ") + " FROM json_each(?) AS j WHERE true " + tail
	var buf []byte
	for len(rows) > 0 {
		n := min(len(rows), jsonBatch)
		buf = append(buf[:0], '[')
		for k, r := range rows[:n] {
			if k > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, '[')
			for c, v := range r {
				if c > 0 {
					buf = append(buf, ',')
				}
				var err error
				if buf, err = appendJSONValue(buf, v); err != nil {
					return fail(err)
				}
			}
			buf = append(buf, ']')
		}
		buf = append(buf, ']')
		if _, err := tx.ExecContext(ctx, q, string(buf)); err != nil {
			return fail(err)
		}
		rows = rows[n:]
	}
	return nil
}

// appendJSONValue appends v as JSON: a number, a string, hex for bytes,
// or null.
func appendJSONValue(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...), nil
	case int64:
		return strconv.AppendInt(buf, x, 10), nil
	case int32:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case uint32:
		return strconv.AppendUint(buf, uint64(x), 10), nil
	case int:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case []byte:
		buf = append(buf, '"')
		buf = hex.AppendEncode(buf, x)
		return append(buf, '"'), nil
	case string:
		return strconv.AppendQuoteToASCII(buf, x), nil // a JSON string too: only ASCII escapes
	}
	return buf, fmt.Errorf("cannot store a %T", v)
}

// upsertTxs records txs and deletes the forgotten ones inside tx.
func (s *Store) upsertTxs(ctx context.Context, tx *dbTx, w journalKey, txs []Tx, forget []chainhash.Hash) error {
	now := s.stamp()
	rows := make([][]any, 0, len(txs))
	// One statement cannot upsert a row twice: a txid listed again
	// replaces its earlier row, as when each row had its own statement.
	pos := make(map[chainhash.Hash]int, len(txs))
	for _, t := range txs {
		at := now
		if !t.SeenAt.IsZero() {
			at = t.SeenAt.UnixMilli()
		}
		var raw, fee, blockTime any // NULL keeps what is stored
		if t.Raw != nil {
			raw = t.Raw
		}
		if t.Fee != nil {
			fee = *t.Fee
		}
		if !t.BlockTime.IsZero() && t.Height != 0 {
			blockTime = t.BlockTime.UnixMilli()
		}
		row := []any{w.id, t.TxID.String(), t.Height, raw, t.Net, fee, at, blockTime}
		if i, ok := pos[t.TxID]; ok {
			rows[i] = row
			continue
		}
		pos[t.TxID] = len(rows)
		rows = append(rows, row)
	}
	// A block time stays with its height: a stored one is kept when the
	// update names none at the same height, and dropped when the
	// transaction moves (a reorganisation) or leaves the chain.
	if err := insertRows(ctx, tx, `INSERT INTO transactions (wallet_id, txid, height, raw, net, fee, seen_at, block_time)`,
		[]string{"j.value->>0", "j.value->>1", "j.value->>2", "unhex(j.value->>3)", "j.value->>4", "j.value->>5", "j.value->>6", "j.value->>7"}, rows, `
		ON CONFLICT (wallet_id, txid) DO UPDATE SET
			height = excluded.height,
			raw = coalesce(excluded.raw, transactions.raw),
			net = excluded.net,
			fee = coalesce(excluded.fee, transactions.fee),
			seen_at = CASE WHEN transactions.seen_at < excluded.seen_at THEN transactions.seen_at ELSE excluded.seen_at END,
			block_time = CASE WHEN excluded.height = 0 THEN NULL
				WHEN excluded.block_time IS NOT NULL THEN excluded.block_time
				WHEN transactions.height = excluded.height THEN transactions.block_time END`,
		func(err error) error {
			return fmt.Errorf("apply sync of wallet %q: store transactions: %w", w.name, err)
		}); err != nil {
		return err
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
		n, err := countRows(ctx, tx, "utxos", id)
		if err != nil {
			return fmt.Errorf("list UTXOs of wallet %q: %w", name, err)
		}
		out = make([]UTXO, 0, n)
		// Sorted in Go, not by SQLite: its sorter (compiled to Go) took a
		// third of a spend's time over 30,000 coins.
		rows, err := tx.QueryContext(ctx, `SELECT `+utxoColumns+`
			FROM utxos WHERE wallet_id = ?`, id)
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
	// Confirmed oldest first, then unconfirmed; ties by txid (as
	// displayed), then output index: the order the query's ORDER BY gave.
	slices.SortFunc(out, func(a, b UTXO) int {
		if c := cmp.Compare(b2i(a.Height == 0), b2i(b.Height == 0)); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Height, b.Height); c != 0 {
			return c
		}
		if c := compareDisplayed(&a.OutPoint.Hash, &b.OutPoint.Hash); c != 0 {
			return c
		}
		return cmp.Compare(a.OutPoint.Index, b.OutPoint.Index)
	})
	return out, nil
}

// compareDisplayed orders hashes as their hex in display order sorts
// (the byte-reversed hash), the order of the stored txid text.
func compareDisplayed(a, b *chainhash.Hash) int {
	for k := chainhash.HashSize - 1; k >= 0; k-- {
		if a[k] != b[k] {
			return cmp.Compare(a[k], b[k])
		}
	}
	return 0
}

// RawTxs returns the stored bytes of the wallet's transactions among ids
// (those it has; a missing or byte-less one is simply absent): what a
// spend needs for the few coins it chose, without reading every stored
// transaction.
func (s *Store) RawTxs(ctx context.Context, name string, ids []chainhash.Hash) (map[chainhash.Hash][]byte, error) {
	out := make(map[chainhash.Hash][]byte, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	err := s.read(ctx, func(tx *dbTx) error {
		id, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		for _, h := range ids {
			if _, done := out[h]; done {
				continue
			}
			var raw []byte
			err := tx.QueryRowContext(ctx, `SELECT raw FROM transactions WHERE wallet_id = ? AND txid = ?`, id, h.String()).Scan(&raw)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("read transaction %s of wallet %q: %w", h, name, err)
			}
			if len(raw) > 0 {
				out[h] = raw
			}
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
		n, err := countRows(ctx, tx, "transactions", id)
		if err != nil {
			return fmt.Errorf("list transactions of wallet %q: %w", name, err)
		}
		out = make([]Tx, 0, n)
		// Sorted here rather than by SQLite, whose sorter (compiled to Go)
		// took most of a 30,000-transaction history's time.
		rows, err := tx.QueryContext(ctx, `SELECT `+txColumns+`
			FROM transactions WHERE wallet_id = ?`, id)
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
	slices.SortFunc(out, chainOrder)
	return out, nil
}

// countRows counts the wallet's rows of table (utxos or transactions), to
// size what a listing builds: growing a slice of 30,000 by appends copied
// it a dozen times over.
func countRows(ctx context.Context, tx *dbTx, table string, id int64) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE wallet_id = ?`, id).Scan(&n)
	return n, err
}

// chainOrder orders transactions as a history lists them: confirmed by
// height, then unconfirmed; ties by when first seen, then txid (as
// displayed).
func chainOrder(a, b Tx) int {
	if c := cmp.Compare(b2i(a.Height == 0), b2i(b.Height == 0)); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Height, b.Height); c != 0 {
		return c
	}
	if c := a.SeenAt.Compare(b.SeenAt); c != 0 {
		return c
	}
	return compareDisplayed(&a.TxID, &b.TxID)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// History is Transactions without each transaction's bytes (Raw is
// nil): what a history listing needs, without reading megabytes it does
// not show. A 30,000-transaction history is a listing a person waits for
// (issue 15), so:
//
//   - the columns come from the transactions_history index alone, which
//     also holds them in chain order: confirmed ones by (height, seen_at,
//     txid), then unconfirmed ones (height 0) by (seen_at, txid), so
//     neither SQLite's sorter nor a sort here moves 30,000 rows;
//   - each row is only the columns shown, no NULL for the bytes (every
//     column read takes the pure-Go SQLite's connection mutex), the txid
//     decoded from the row's bytes;
//   - the fees share one allocation instead of one each.
//
// The order is checked, not trusted: an engine whose text collation is
// not byte order (a PostgreSQL locale) is sorted here instead.
func (s *Store) History(ctx context.Context, name string) ([]Tx, error) {
	var out []Tx
	err := s.read(ctx, func(tx *dbTx) error {
		id, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		n, err := countRows(ctx, tx, "transactions", id)
		if err != nil {
			return fmt.Errorf("list transactions of wallet %q: %w", name, err)
		}
		out = make([]Tx, 0, n)
		fees := make([]int64, 0, n)
		for _, q := range [...]string{
			`height > 0 ORDER BY height, seen_at, txid`,
			`height = 0 ORDER BY seen_at, txid`,
		} {
			rows, err := tx.QueryContext(ctx, `SELECT txid, height, net, fee, seen_at, block_time
				FROM transactions WHERE wallet_id = ? AND `+q, id)
			if err != nil {
				return fmt.Errorf("list transactions of wallet %q: %w", name, err)
			}
			if out, fees, err = appendHistoryRows(rows, out, fees); err != nil {
				return fmt.Errorf("list transactions of wallet %q: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !slices.IsSortedFunc(out, chainOrder) {
		slices.SortFunc(out, chainOrder)
	}
	return out, nil
}

// appendHistoryRows appends History's rows, each fee in fees (which the
// caller sized: a fee's pointer must not move when it grows).
func appendHistoryRows(rows *sql.Rows, out []Tx, fees []int64) ([]Tx, []int64, error) {
	defer rows.Close()
	// Scanned into variables outside the loop: a Tx whose fields were
	// handed to Scan would escape, one heap copy per row.
	var txid sql.RawBytes
	var height int32
	var net, seen int64
	var fee, blockTime sql.NullInt64
	for rows.Next() {
		if err := rows.Scan(&txid, &height, &net, &fee, &seen, &blockTime); err != nil {
			return out, fees, err
		}
		t := Tx{Height: height, Net: net}
		var err error
		if t.TxID, err = parseHashBytes(txid); err != nil {
			return out, fees, err
		}
		if fee.Valid {
			if len(fees) == cap(fees) {
				fees = make([]int64, 0, 64) // more rows than counted: a new slab, the old pointers stay valid
			}
			fees = append(fees, fee.Int64)
			t.Fee = &fees[len(fees)-1]
		}
		t.SeenAt = fromStamp(seen)
		if blockTime.Valid {
			t.BlockTime = fromStamp(blockTime.Int64)
		}
		out = append(out, t)
	}
	return out, fees, rows.Err()
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
const txColumns = `txid, height, raw, net, fee, seen_at, block_time`

// scanTx reads one transactions row (txColumns order) of a *sql.Rows
// (the txid is read as RawBytes, which a *sql.Row refuses).
func scanTx(row interface{ Scan(...any) error }) (Tx, error) {
	var t Tx
	var txid sql.RawBytes
	var fee, blockTime sql.NullInt64
	var seen int64
	if err := row.Scan(&txid, &t.Height, &t.Raw, &t.Net, &fee, &seen, &blockTime); err != nil {
		return t, err
	}
	if blockTime.Valid {
		t.BlockTime = fromStamp(blockTime.Int64)
	}
	var err error
	if t.TxID, err = parseHashBytes(txid); err != nil {
		return t, err
	}
	if fee.Valid {
		t.Fee = &fee.Int64
	}
	t.SeenAt = fromStamp(seen)
	return t, nil
}

// KnownTxs reports which of ids are the wallet's stored transactions,
// and how many of its stored transactions are unconfirmed: what a sync
// needs to see that new blocks hold nothing for the wallet, without
// reading every stored transaction.
func (s *Store) KnownTxs(ctx context.Context, name string, ids []chainhash.Hash) (known map[chainhash.Hash]bool, unconfirmed int, err error) {
	known = map[chainhash.Hash]bool{}
	err = s.read(ctx, func(tx *dbTx) error {
		id, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM transactions WHERE wallet_id = ? AND height = 0`, id).Scan(&unconfirmed); err != nil {
			return fmt.Errorf("count unconfirmed transactions of wallet %q: %w", name, err)
		}
		for rest := ids; len(rest) > 0; {
			n := min(len(rest), 500) // host parameters per query
			args := []any{id}
			for _, h := range rest[:n] {
				args = append(args, h.String())
			}
			rows, err := tx.QueryContext(ctx, `SELECT txid FROM transactions WHERE wallet_id = ? AND txid IN (`+
				strings.TrimSuffix(strings.Repeat("?, ", n), ", ")+`)`, args...)
			if err != nil {
				return fmt.Errorf("look up transactions of wallet %q: %w", name, err)
			}
			for rows.Next() {
				var txid string
				if err := rows.Scan(&txid); err != nil {
					rows.Close()
					return fmt.Errorf("look up transactions of wallet %q: %w", name, err)
				}
				h, err := parseHash(txid)
				if err != nil {
					rows.Close()
					return err
				}
				known[h] = true
			}
			if err := rows.Close(); err != nil {
				return err
			}
			rest = rest[n:]
		}
		return nil
	})
	return known, unconfirmed, err
}

// UTXOCount is how many unspent outputs the wallet's last sync stored.
func (s *Store) UTXOCount(ctx context.Context, name string) (int, error) {
	var n int
	err := s.read(ctx, func(tx *dbTx) error {
		id, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		if n, err = countRows(ctx, tx, "utxos", id); err != nil {
			return fmt.Errorf("count UTXOs of wallet %q: %w", name, err)
		}
		return nil
	})
	return n, err
}
