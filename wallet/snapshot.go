package wallet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Snapshot is the whole store as one read transaction saw it, with what
// SQLite itself says about the database file. Check and CheckWallet run the
// store's own integrity checks on it; the coordinator runs the checks that
// need descriptors and PSBTs on the same snapshot, so every check sees one
// consistent state even while other processes write.
type Snapshot struct {
	Dir string
	// Engine is the database the store runs on. On PostgreSQL there are
	// no files to check, the server keeps its own pages' integrity and
	// always enforces foreign keys, and the journal mode is the server's
	// write-ahead log ("postgresql").
	Engine Engine
	// SchemaVersion is the database's user_version; SchemaCurrent the
	// version this countersign writes.
	SchemaVersion, SchemaCurrent int
	JournalMode                  string
	// Integrity is what PRAGMA integrity_check printed: ["ok"] when sound.
	Integrity []string
	// ForeignKeys has one line per row PRAGMA foreign_key_check reports.
	ForeignKeys []string
	// Journal is the whole audit journal, oldest first.
	Journal []JournalEntry
	// JournalSeq is the last id SQLite handed out to the journal
	// (sqlite_sequence); 0 when it never did.
	JournalSeq int64
	// Triggers are the names of the triggers defined on the journal.
	Triggers []string
	// Wallets are the stored wallets and everything stored for them, by
	// name.
	Wallets []*WalletState
	// Unreadable lists rows whose values do not read back (a txid that is
	// not hex, ...): the row is left out of Wallets.
	Unreadable []string
	// FileProblems lists database files readable by others than the owner,
	// or not regular files; FilesChecked counts the files looked at.
	FileProblems []string
	FilesChecked int
}

// WalletState is one stored wallet and the rows that belong to it.
type WalletState struct {
	*Wallet
	// Positions are the cosigner positions stored, in order (0..N-1 when
	// sound).
	Positions     []int
	Addresses     []IssuedAddress // by branch, then index
	UTXOs         []UTXO
	Txs           []Tx
	Scan          ScanState // zero when never synced
	Drafts        []*Draft  // oldest first
	Registrations []Registration
}

// rowScanner is what database/sql's *Row and *Rows have in common.
type rowScanner interface{ Scan(...any) error }

// Snapshot reads the whole store in one read transaction, together with
// SQLite's integrity and foreign key checks and the modes of the database
// files. A row that does not read back is listed in Unreadable rather than
// failing the snapshot: it is what a check must report.
func (s *Store) Snapshot(ctx context.Context) (*Snapshot, error) {
	sn := &Snapshot{Dir: s.dir, SchemaCurrent: len(migrations()), Engine: s.Engine()}
	if !s.pg {
		sn.statFiles()
	}
	err := s.read(ctx, func(tx *dbTx) error {
		for _, step := range []func(context.Context, *dbTx) error{
			sn.readPragmas, sn.readJournal, sn.readWallets,
		} {
			if err := step(ctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the store for checking: %w", err)
	}
	return sn, nil
}

// statFiles looks at the modes of countersign.db and its -wal and -shm
// files: Open creates them 0600, since they name the wallet's keys and
// addresses.
func (sn *Snapshot) statFiles() {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		p := filepath.Join(sn.Dir, DBFile+suffix)
		info, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) && suffix != "" {
			continue // the WAL files exist only while the database is open
		}
		sn.FilesChecked++
		switch {
		case err != nil:
			sn.FileProblems = append(sn.FileProblems, fmt.Sprintf("%s: %v", p, err))
		case !info.Mode().IsRegular():
			sn.FileProblems = append(sn.FileProblems, fmt.Sprintf("%s is not a regular file (%v)", p, info.Mode().Type()))
		case info.Mode().Perm()&0o077 != 0:
			sn.FileProblems = append(sn.FileProblems, fmt.Sprintf("%s has mode %04o: others can read the wallet's keys and addresses; chmod 600 it", p, info.Mode().Perm()))
		}
	}
}

// readPragmas records the schema version, the journal mode and SQLite's own
// checks.
func (sn *Snapshot) readPragmas(ctx context.Context, tx *dbTx) error {
	if tx.pg {
		var err error
		if sn.SchemaVersion, err = pgSchemaVersion(ctx, tx); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		sn.JournalMode, sn.Integrity = pgJournalMode, []string{"ok"}
		return nil
	}
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&sn.SchemaVersion); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&sn.JournalMode); err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	// integrity_check stops after 100 errors: enough to tell damage from a
	// stray bit, without a list as long as the database.
	if err := queryStrings(ctx, tx, &sn.Integrity, `PRAGMA integrity_check(100)`); err != nil {
		return fmt.Errorf("run integrity_check: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return fmt.Errorf("run foreign_key_check: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fkid int
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return fmt.Errorf("run foreign_key_check: %w", err)
		}
		sn.ForeignKeys = append(sn.ForeignKeys, fmt.Sprintf("%s row %d refers to a %s row that does not exist", table, rowid.Int64, parent))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("run foreign_key_check: %w", err)
	}
	return nil
}

// readJournal reads the journal, its sequence counter and its triggers.
func (sn *Snapshot) readJournal(ctx context.Context, tx *dbTx) error {
	seqQuery := `SELECT seq FROM sqlite_sequence WHERE name = 'journal'`
	triggersQuery := `SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'journal' ORDER BY name`
	if tx.pg {
		seqQuery = `SELECT journal_seq FROM ` + pgVersionTable
		triggersQuery = `SELECT tgname::text FROM pg_trigger WHERE tgrelid = 'journal'::regclass AND NOT tgisinternal ORDER BY tgname`
	}
	err := tx.QueryRowContext(ctx, seqQuery).Scan(&sn.JournalSeq)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read the journal's sequence: %w", err)
	}
	if err := queryStrings(ctx, tx, &sn.Triggers, triggersQuery); err != nil {
		return fmt.Errorf("read the journal's triggers: %w", err)
	}
	return eachRow(ctx, tx, `SELECT `+journalColumns+` FROM journal ORDER BY id`, func(r rowScanner) error {
		e, err := scanJournal(r)
		if err != nil {
			return err
		}
		sn.Journal = append(sn.Journal, e)
		return nil
	})
}

// readWallets reads every wallet and its rows.
func (sn *Snapshot) readWallets(ctx context.Context, tx *dbTx) error {
	byID := map[int64]*WalletState{}
	err := eachRow(ctx, tx, `SELECT `+walletColumns+` FROM wallets ORDER BY name`, func(r rowScanner) error {
		w, err := scanWallet(r)
		if err != nil {
			return err
		}
		ws := &WalletState{Wallet: w}
		sn.Wallets = append(sn.Wallets, ws)
		byID[w.ID] = ws
		return nil
	})
	if err != nil {
		return err
	}
	// Each table is read once for all wallets. Every query selects the
	// wallet id first; read scans the rest of the row and returns how to
	// attach it to its wallet. A row of a wallet that does not exist is
	// foreign_key_check's to report.
	type table struct {
		name, query string
		read        func(r rowScanner) (attach func(ws *WalletState), err error)
	}
	tables := []table{
		{"cosigners", `SELECT wallet_id, position, fingerprint, label FROM cosigners ORDER BY wallet_id, position`,
			func(r rowScanner) (func(*WalletState), error) {
				var pos int
				var fp, label string
				if err := r.Scan(&pos, &fp, &label); err != nil {
					return nil, err
				}
				return func(ws *WalletState) {
					ws.Positions = append(ws.Positions, pos)
					if pos >= 0 && pos < ws.N {
						ws.Fingerprints[pos], ws.Labels[pos] = fp, label
					}
				}, nil
			}},
		{"addresses", `SELECT wallet_id, ` + addressColumns + ` FROM addresses ORDER BY wallet_id, branch, idx`,
			func(r rowScanner) (func(*WalletState), error) {
				a, err := scanAddress(r)
				return func(ws *WalletState) { ws.Addresses = append(ws.Addresses, a) }, err
			}},
		{"utxos", `SELECT wallet_id, ` + utxoColumns + ` FROM utxos ORDER BY wallet_id, txid, vout`,
			func(r rowScanner) (func(*WalletState), error) {
				u, err := scanUTXO(r)
				return func(ws *WalletState) { ws.UTXOs = append(ws.UTXOs, u) }, err
			}},
		{"transactions", `SELECT wallet_id, ` + txColumns + ` FROM transactions ORDER BY wallet_id, txid`,
			func(r rowScanner) (func(*WalletState), error) {
				t, err := scanTx(r)
				return func(ws *WalletState) { ws.Txs = append(ws.Txs, t) }, err
			}},
		{"scan_state", `SELECT wallet_id, height, hash, receive_high_water, change_high_water, synced_at FROM scan_state`,
			func(r rowScanner) (func(*WalletState), error) {
				var st ScanState
				var hash string
				var synced int64
				if err := r.Scan(&st.Height, &hash, &st.ReceiveHighWater, &st.ChangeHighWater, &synced); err != nil {
					return nil, err
				}
				st.SyncedAt = fromStamp(synced)
				var err error
				st.Hash, err = parseHash(hash)
				return func(ws *WalletState) { ws.Scan = st }, err
			}},
		{"drafts", `SELECT d.wallet_id, ` + strings.TrimPrefix(draftSelect, "SELECT ") + ` ORDER BY d.wallet_id, d.created_at, d.rowid`,
			func(r rowScanner) (func(*WalletState), error) {
				d, err := scanDraft(r)
				return func(ws *WalletState) { ws.Drafts = append(ws.Drafts, d) }, err
			}},
		{"registrations", `SELECT wallet_id, ` + registrationColumns + ` FROM registrations ORDER BY wallet_id, fingerprint, device_type`,
			func(r rowScanner) (func(*WalletState), error) {
				reg, err := scanRegistration(r)
				return func(ws *WalletState) { ws.Registrations = append(ws.Registrations, reg) }, err
			}},
	}
	for _, t := range tables {
		row := 0
		err := eachRow(ctx, tx, t.query, func(r rowScanner) error {
			row++
			var id int64
			attach, err := t.read(walletIDFirst{r, &id})
			if err != nil {
				sn.Unreadable = append(sn.Unreadable, fmt.Sprintf("%s row %d (wallet id %d): %v", t.name, row, id, err))
				return nil
			}
			if ws := byID[id]; ws != nil {
				attach(ws)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("read %s: %w", t.name, err)
		}
	}
	return nil
}

// walletIDFirst scans a row whose first column is the wallet id into id,
// and the rest into what its caller asks for, so the tables' own scanners
// read the rest unchanged.
type walletIDFirst struct {
	r  rowScanner
	id *int64
}

func (w walletIDFirst) Scan(dest ...any) error {
	return w.r.Scan(append([]any{w.id}, dest...)...)
}

// eachRow runs query and calls fn for every row. An error from fn stops
// the loop and is returned.
func eachRow(ctx context.Context, tx *dbTx, query string, fn func(r rowScanner) error) error {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// queryStrings collects a one-column query's rows into out.
func queryStrings(ctx context.Context, tx *dbTx, out *[]string, query string) error {
	return eachRow(ctx, tx, query, func(r rowScanner) error {
		var v string
		if err := r.Scan(&v); err != nil {
			return err
		}
		*out = append(*out, v)
		return nil
	})
}
