package wallet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// OpenStore opens the store named by location, with dir as the data
// directory (software keys and device pairings stay there whatever the
// engine):
//
//	""                    the SQLite store in dir, as Open
//	sqlite:PATH           the SQLite store in directory PATH (or PATH is
//	                      its countersign.db)
//	postgres://...        a PostgreSQL database (postgresql:// too), in
//	                      libpq's URL form: user, password, host, port,
//	                      database, and options such as sslmode or
//	                      host=/run/postgresql for a unix socket
//
// The schema is migrated to the current version, with the same steps on
// both engines, before OpenStore returns.
func OpenStore(ctx context.Context, dir, location string) (*Store, error) {
	switch {
	case location == "":
		return Open(dir)
	case strings.HasPrefix(location, "sqlite:"):
		return Open(sqliteDir(strings.TrimPrefix(location, "sqlite:")))
	case strings.HasPrefix(location, "postgres://"), strings.HasPrefix(location, "postgresql://"):
		return openPostgres(ctx, dir, location)
	}
	return nil, fmt.Errorf("open store %q: %w; give sqlite:PATH or postgres://USER@HOST/DATABASE", RedactStoreURL(location), ErrInvalid)
}

// sqliteDir is the data directory of a sqlite: location: PATH itself, or
// its directory when PATH names the database file.
func sqliteDir(path string) string {
	if filepath.Base(path) == DBFile {
		if info, err := os.Stat(path); err == nil && info.Mode().IsRegular() {
			return filepath.Dir(path)
		}
	}
	return path
}

// RedactStoreURL is location as it may be printed or journaled: the
// password, in the URL's user part or its query, replaced by "xxxxx".
func RedactStoreURL(location string) string {
	u, err := url.Parse(location)
	if err != nil {
		return "(unparsable store URL)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// IsPostgresURL reports whether location names a PostgreSQL store.
func IsPostgresURL(location string) bool {
	return strings.HasPrefix(location, "postgres://") || strings.HasPrefix(location, "postgresql://")
}

// pgConnectTimeout bounds how long OpenStore waits for the server.
const pgConnectTimeout = 15 * time.Second

// openPostgres connects to the database at location and migrates it. The
// journal's operator is the database role (current_user) unless
// SetOperator names another: on a shared store each person logs in as
// their own role, and the database vouches for the name.
func openPostgres(ctx context.Context, dir, location string) (*Store, error) {
	shown := RedactStoreURL(location)
	abs := dir
	if dir != "" {
		var err error
		if abs, err = filepath.Abs(dir); err != nil {
			return nil, fmt.Errorf("open store: resolve data directory %q: %w", dir, err)
		}
	}
	db, err := sql.Open("pgx", location)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", shown, err)
	}
	ctx, cancel := context.WithTimeout(ctx, pgConnectTimeout)
	defer cancel()
	s := &Store{db: db, dir: abs, now: time.Now, pg: true, url: shown}
	if err := db.QueryRowContext(ctx, `SELECT current_user`).Scan(&s.operator); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w (is the server running, and may this role log in?)", shown, err)
	}
	if err := migratePG(ctx, db, migrations()); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", shown, err)
	}
	return s, nil
}

// pgVersionTable holds PostgreSQL's schema version, SQLite's user_version,
// and journal_seq, the last journal id handed out, SQLite's sqlite_sequence
// entry for the journal: one row, written in the same transaction as each
// journal entry, so an entry removed from the end is seen (doctor's
// journal.append_only), as on SQLite. Its row lock is also the store's
// write lock (lockWrites).
const pgVersionTable = `countersign_schema`

// pgBootstrapLock is the advisory lock key (an arbitrary constant, "cs" in
// ASCII) that orders the creation of pgVersionTable when several processes
// open a fresh database at once; CREATE TABLE IF NOT EXISTS alone can
// fail on a concurrent creation.
const pgBootstrapLock = 0x6373

// lockWrites takes the store's write lock inside tx: the version row's
// lock, held until tx ends. Every write transaction takes it first, so
// writes run one at a time, as on SQLite; reads are not blocked.
func lockWrites(ctx context.Context, tx *dbTx) error {
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT version FROM `+pgVersionTable+` FOR UPDATE`).Scan(&v); err != nil {
		return fmt.Errorf("lock the store for writing: %w", err)
	}
	return nil
}

// migratePG brings a PostgreSQL database up to len(steps), translating
// each SQLite step with pgSchema. Each step runs in its own transaction
// holding the version row's lock, so concurrent first opens apply each step
// once. A database already current is only read, so a read-only role (an
// auditor) can open it.
func migratePG(ctx context.Context, db *sql.DB, steps []string) error {
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, pgVersionTable).Scan(&exists); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if !exists {
		if err := bootstrapPG(ctx, db); err != nil {
			return err
		}
	}
	var version int
	if err := db.QueryRowContext(ctx, `SELECT version FROM `+pgVersionTable).Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version == len(steps) {
		return nil
	}
	for {
		done, err := migrateOnePG(ctx, db, steps)
		if err != nil || done {
			return err
		}
	}
}

// bootstrapPG creates the version table at version 0.
func bootstrapPG(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin schema creation: %w", err)
	}
	defer tx.Rollback() // after Commit a no-op
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, pgBootstrapLock); err != nil {
		return fmt.Errorf("create schema version table: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+pgVersionTable+` (
		one         BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
		version     BIGINT  NOT NULL CHECK (version >= 0),
		journal_seq BIGINT  NOT NULL DEFAULT 0 CHECK (journal_seq >= 0)
	)`); err != nil {
		return fmt.Errorf("create schema version table: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+pgVersionTable+` (version) VALUES (0) ON CONFLICT (one) DO NOTHING`); err != nil {
		return fmt.Errorf("create schema version table: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create schema version table: %w", err)
	}
	return nil
}

// migrateOnePG applies the next missing step, if any, and reports whether
// the schema is already current.
func migrateOnePG(ctx context.Context, db *sql.DB, steps []string) (current bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin schema migration: %w", err)
	}
	defer func() {
		if err != nil || current {
			_ = tx.Rollback() // nothing written, or the step failed: undo it
		}
	}()
	var version int
	if err := tx.QueryRowContext(ctx, `SELECT version FROM `+pgVersionTable+` FOR UPDATE`).Scan(&version); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	switch {
	case version > len(steps):
		return false, fmt.Errorf("database schema version %d is newer than this countersign understands (%d): %w; upgrade countersign", version, len(steps), ErrInvalid)
	case version == len(steps):
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, pgSchema(steps[version])); err != nil {
		return false, fmt.Errorf("migrate schema from version %d to %d: %w", version, version+1, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE `+pgVersionTable+` SET version = $1`, version+1); err != nil {
		return false, fmt.Errorf("record schema version %d: %w", version+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit schema migration to version %d: %w", version+1, err)
	}
	return false, nil
}

// pgJournalMode is Snapshot.JournalMode on PostgreSQL.
const pgJournalMode = "postgresql"

// pgSchemaVersion reads the PostgreSQL schema version inside tx.
func pgSchemaVersion(ctx context.Context, tx *dbTx) (int, error) {
	var v int
	err := tx.QueryRowContext(ctx, `SELECT version FROM `+pgVersionTable).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}
