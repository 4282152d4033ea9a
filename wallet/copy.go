package wallet

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
)

// copyTables is every table of the schema with every column, in an order
// that respects the foreign keys (wallets first). drafts and labels carry
// their rowid, the order they were saved in. A schema step that adds a
// table or a column adds it here too; TestCopyCoversSchema fails until it
// does.
func copyTables() []copyTable {
	return []copyTable{
		{"wallets", "id, name, descriptor, network, script, threshold, n, birth_height, next_receive, next_change, created_at, backend", "id"},
		{"cosigners", "wallet_id, position, fingerprint, label", "wallet_id, position"},
		{"addresses", "wallet_id, branch, idx, address, label, issued_at", "wallet_id, branch, idx"},
		{"utxos", "wallet_id, txid, vout, value, script, branch, idx, height, spent_by", "wallet_id, txid, vout"},
		{"transactions", "wallet_id, txid, height, raw, net, fee, seen_at, block_time", "wallet_id, txid"},
		{"scan_state", "wallet_id, height, hash, receive_high_water, change_high_water, synced_at", "wallet_id"},
		{"drafts", "rowid, id, wallet_id, txid, state, psbt, note, created_at, broadcast_txid, broadcast_at, kind, related_txid, abandoned_at", "rowid"},
		{"registrations", "wallet_id, fingerprint, device_type, name_on_device, token, registered_at", "wallet_id, fingerprint, device_type"},
		{"settings", "wallet_id, key, value", "coalesce(wallet_id, 0), key"},
		{"journal", "id, at, wallet_id, wallet, action, detail, operator, hash", "id"},
		{"labels", "rowid, wallet_id, type, ref, label, origin, spendable, extra, updated_at", "rowid"},
		{"policies", "wallet_id, policy, updated_at", "wallet_id"},
		{"rotations", "wallet_id, successor_id, started_at, retired_at, retired_height", "wallet_id"},
		{"script_index", "wallet_id, script, branch, idx", "wallet_id, branch, idx"},
		{"script_index_state", "wallet_id, branch, descriptor, up_to", "wallet_id, branch"},
	}
}

// copyTable is one table's part in CopyStore: its columns, and the order
// its rows are copied in.
type copyTable struct{ name, columns, order string }

// pgIdentities are the identity columns whose sequences must move past the
// copied ids, so the target's next wallet (or draft, or label) does not
// reuse one.
func pgIdentities() [][2]string {
	return [][2]string{{"wallets", "id"}, {"journal", "id"}, {"drafts", "rowid"}, {"labels", "rowid"}}
}

// CopyReport is what CopyStore copied and found.
type CopyReport struct {
	// Rows counts the rows copied, by table.
	Rows map[string]int
	// Journal is the target's journal chain after the copy: the same head
	// as the source's.
	Journal ChainState
}

// CopyStore copies everything in src into dst, which must be empty (no
// wallet, no journal entry): every table, every row, the same ids, the
// journal entries byte for byte with their hashes. It reads src in one
// read transaction and writes dst in one write transaction, so a failed
// copy leaves dst empty. Afterwards it walks dst's journal chain and
// compares its head with src's: a copy whose journal does not chain, or
// chains to another head, is an error (and dst keeps what was copied, for
// inspection). A verified copy gets one more entry on dst, store.migrate,
// naming the source, the entries copied and the head they chain to.
func CopyStore(ctx context.Context, dst, src *Store) (*CopyReport, error) {
	if dst.Location() == src.Location() {
		return nil, fmt.Errorf("copy store: source and target are both %s: %w", src.Location(), ErrInvalid)
	}
	rep := &CopyReport{Rows: map[string]int{}}
	err := src.read(ctx, func(stx *dbTx) error {
		return dst.write(ctx, func(dtx *dbTx) error {
			for _, t := range []string{"wallets", "journal"} {
				var n int
				if err := dtx.QueryRowContext(ctx, `SELECT count(*) FROM `+t).Scan(&n); err != nil {
					return fmt.Errorf("copy store: look at the target: %w", err)
				}
				if n > 0 {
					return fmt.Errorf("copy store: the target %s already holds %d %s rows: %w; copy into an empty store", dst.Location(), n, t, ErrExists)
				}
			}
			for _, t := range copyTables() {
				n, err := copyRows(ctx, dtx, stx, t)
				if err != nil {
					return fmt.Errorf("copy store: table %s: %w", t.name, err)
				}
				rep.Rows[t.name] = n
			}
			if dtx.pg {
				if _, err := dtx.ExecContext(ctx, `UPDATE `+pgVersionTable+` SET journal_seq = (SELECT coalesce(max(id), 0) FROM journal)`); err != nil {
					return fmt.Errorf("copy store: record the journal's last id: %w", err)
				}
				for _, id := range pgIdentities() {
					table, column := id[0], id[1]
					// setval(seq, max, true): the next value is max+1;
					// for an empty table, is_called false makes it 1.
					if _, err := dtx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+table+`', '`+column+`'),
						coalesce((SELECT max(`+column+`) FROM `+table+`), 1), (SELECT count(*) > 0 FROM `+table+`))`); err != nil {
						return fmt.Errorf("copy store: move the %s sequence: %w", table, err)
					}
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	srcJournal, err := src.AllJournal(ctx)
	if err != nil {
		return nil, err
	}
	dstJournal, err := dst.AllJournal(ctx)
	if err != nil {
		return nil, err
	}
	want, got := VerifyChain(srcJournal), VerifyChain(dstJournal)
	rep.Journal = got
	switch {
	case got.Break != nil:
		return rep, fmt.Errorf("copy store: the copied journal does not chain: %w", got.Break)
	case got.Head != want.Head || got.Entries != want.Entries:
		return rep, fmt.Errorf("copy store: the copied journal has %d entries ending in %x, the source %d ending in %x: %w",
			got.Entries, got.Head, want.Entries, want.Head, ErrInvalid)
	}
	err = dst.Record(ctx, "", ActionStoreMigrate, map[string]any{
		"from": src.Location(), "engine": src.Engine(), "entries": got.Entries, "head": hex.EncodeToString(got.Head[:]),
	})
	if err != nil {
		return rep, fmt.Errorf("copy store: copied and verified, but not journaled: %w", err)
	}
	return rep, nil
}

// copyRows copies every row of one table from stx to dtx.
func copyRows(ctx context.Context, dtx, stx *dbTx, t copyTable) (int, error) {
	table, columns, order := t.name, t.columns, t.order
	n := len(strings.Split(columns, ","))
	rows, err := stx.QueryContext(ctx, `SELECT `+columns+` FROM `+table+` ORDER BY `+order)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	ins, err := dtx.PrepareContext(ctx, `INSERT INTO `+table+` (`+columns+`) VALUES (`+strings.TrimSuffix(strings.Repeat("?, ", n), ", ")+`)`)
	if err != nil {
		return 0, err
	}
	defer ins.Close()
	vals := make([]any, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	count := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return count, err
		}
		for i, v := range vals {
			// modernc returns TEXT as string and BLOB as []byte, pgx TEXT
			// as string and BYTEA as []byte: each lands in the same
			// column type on the other side. A []byte is copied, since
			// the driver may reuse its buffer on the next row.
			if b, ok := v.([]byte); ok {
				vals[i] = append([]byte{}, b...)
			}
		}
		if _, err := ins.ExecContext(ctx, vals...); err != nil {
			return count, err
		}
		count++
	}
	return count, rows.Err()
}
