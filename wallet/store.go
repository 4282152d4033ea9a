package wallet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Sentinel errors; every error the store returns for these cases wraps one
// of them with the name of what was missing, duplicated or refused.
var (
	// ErrNotFound: no wallet, cosigner, draft or setting by that name.
	ErrNotFound = errors.New("not found")
	// ErrExists: a wallet with that name is already stored.
	ErrExists = errors.New("already exists")
	// ErrInvalid: the caller passed a value the store cannot record.
	ErrInvalid = errors.New("invalid")
)

// DBFile is the database's file name inside the data directory.
const DBFile = "countersign.db"

// busyTimeout is how long a write waits for another process's write lock.
// Writes are short (one NextAddress is a few milliseconds), so ten seconds
// only runs out when another process is stuck, and then failing is right.
const busyTimeout = 10 * time.Second

// Store is an open countersign database. Its methods are safe for concurrent
// use by several goroutines and by several processes on the same directory.
type Store struct {
	db  *sql.DB
	dir string
	// now is the clock for every timestamp the store writes; tests replace it
	// to get reproducible times.
	now func() time.Time
	// operator is who the journal says made each change (SetOperator).
	operator string
	// pg is set when the store runs on PostgreSQL (OpenStore); the few
	// places the engines differ ask it.
	pg bool
	// url is the PostgreSQL connection URL, password removed (Location).
	url string
}

// Open opens (creating when needed) the store in dir: the directory is
// created with mode 0700 and countersign.db with mode 0600, because the
// database names the wallet's keys and its addresses, which is private. The
// schema is migrated to the current version before Open returns.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, fmt.Errorf("open store: no data directory: %w (set COUNTERSIGN_DATA_DIR or pass --data-dir)", ErrInvalid)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open store: resolve data directory %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("open store: create data directory %s: %w (check its parent's permissions, or pick another with --data-dir)", abs, err)
	}
	path := filepath.Join(abs, DBFile)
	if err := checkDBFile(path); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{db: db, dir: abs, now: time.Now, operator: DefaultOperator()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*busyTimeout)
	defer cancel()
	// The first connection creates the file when it is missing; only then
	// can its mode be fixed, by path (see restrictFiles).
	if err := firstConnection(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := restrictFiles(path); err != nil {
		db.Close()
		return nil, err
	}
	if err := migrate(ctx, db, migrations()); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

// firstConnection opens the pool's first connection, which runs the DSN's
// pragmas. Switching a new database to WAL needs an exclusive lock, and
// SQLite answers SQLITE_BUSY at once (the busy timeout does not apply: it
// would risk a deadlock) when several processes open a fresh directory
// together; so a busy first connection is retried until ctx ends.
func firstConnection(ctx context.Context, db *sql.DB) error {
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		err := db.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqliteBusy {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
	}
}

// sqliteBusy is SQLITE_BUSY, the primary result code (extended codes keep
// it in the low byte).
const sqliteBusy = 5

// Exists reports whether dir holds a countersign database. Commands that
// only look at a store (doctor) ask first, since Open would create one.
func Exists(dir string) (bool, error) {
	info, err := os.Stat(filepath.Join(dir, DBFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("look for the store in %s: %w", dir, err)
	}
	return info.Mode().IsRegular(), nil
}

// checkDBFile refuses a database path that is there but is not a file.
func checkDBFile(path string) error {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("open store: %s: %w (check the data directory's permissions)", path, err)
	case !info.Mode().IsRegular():
		return fmt.Errorf("open store: %s is not a regular file: %w (move it away or pick another --data-dir)", path, ErrInvalid)
	}
	return nil
}

// restrictFiles gives the database and its -wal and -shm files mode 0600:
// they name the wallet's keys and addresses. SQLite creates the database
// with 0644 (less the umask) and gives the -wal and -shm files the main
// file's mode, so once the main file is 0600 every file SQLite creates
// later is too; the moment before, the new file is still empty.
//
// Modes are changed by path, never through a descriptor of our own:
// closing any descriptor of a file drops every POSIX lock the process
// holds on it, SQLite's included (sqlite.org/howtocorrupt.html, section
// 2.2). A second Open in a process that already has the store open would
// silently unlock the first Store; other processes would then take it for
// gone, and the last of them to close would delete the WAL and its index
// under it, losing its writes and feeding it a malformed database.
func restrictFiles(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		info, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) && p != path {
			continue
		}
		if err != nil {
			return fmt.Errorf("open store: stat %s: %w", p, err)
		}
		if info.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, 0o600); err != nil {
				return fmt.Errorf("open store: restrict %s to mode 0600: %w", p, err)
			}
		}
	}
	return nil
}

// dsn builds the modernc.org/sqlite connection string. Every pooled
// connection runs these pragmas when it opens, so no connection can miss
// foreign keys or the busy timeout. _txlock=immediate makes every read-write
// BeginTx a BEGIN IMMEDIATE: the write lock is taken before the first read,
// so a read-modify-write (NextAddress) cannot interleave with another
// process's, and no transaction fails midway upgrading a read lock.
func dsn(path string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	// Reads through a memory map rather than a read system call per page:
	// a wallet's 30,000 coins or transactions are thousands of pages, and
	// the calls cost more than the reading.
	q.Add("_pragma", "mmap_size(1073741824)")
	q.Set("_txlock", "immediate")
	// A file: URI with an escaped path, so '?', '#' or '%' in a directory
	// name cannot be mistaken for the query.
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	return u.String()
}

// DefaultOperator is the name the journal records when none is given: the
// OS user running countersign ($USER when the user database has no name
// for the uid, "uid N" when neither does).
func DefaultOperator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if v := os.Getenv("USER"); v != "" {
		return v
	}
	return fmt.Sprintf("uid %d", os.Getuid())
}

// SetOperator names who makes the changes the journal records from now on
// (--operator, $COUNTERSIGN_OPERATOR). Call it right after Open, before any
// write; an empty name keeps the OS user.
func (s *Store) SetOperator(name string) {
	if name != "" {
		s.operator = name
	}
}

// Operator is the name the journal records for this store's writes.
func (s *Store) Operator() string { return s.operator }

// Engine is the database the store runs on.
func (s *Store) Engine() Engine {
	if s.pg {
		return EnginePostgres
	}
	return EngineSQLite
}

// Location names the database for messages: the SQLite file's path, or the
// PostgreSQL URL without its password.
func (s *Store) Location() string {
	if s.pg {
		return s.url
	}
	return filepath.Join(s.dir, DBFile)
}

// Dir returns the data directory the store was opened in, as an absolute
// path.
func (s *Store) Dir() string { return s.dir }

// Close closes the database. The store must not be used afterwards.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.Location(), err)
	}
	return nil
}

// write runs fn inside one write transaction and commits it; an error from
// fn, a cancelled ctx, or a panic in a caller's callback rolls everything
// back.
//
// Writes are serialized, on both engines, before their first read: SQLite
// begins IMMEDIATE (the dsn's _txlock), PostgreSQL takes the row lock of
// the schema's version row (lockWrites). Every write appends to the one
// hash-chained journal, so writes could not run side by side anyway: each
// must see the chain's tip the previous one left. Taking the lock first
// also makes each read-modify-write (the next address, the change index, a
// policy's view of what was sent) see every write committed before it.
func (s *Store) write(ctx context.Context, fn func(tx *dbTx) error) error {
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		if ctx.Err() != nil || s.pg {
			return fmt.Errorf("begin store write: %w", err)
		}
		return fmt.Errorf("begin store write: %w (another countersign process may have held the store for %v; retry)", err, busyTimeout)
	}
	tx := &dbTx{Tx: sqlTx, pg: s.pg}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback() // the error that got us here is the one worth reporting
		}
	}()
	if s.pg {
		if err := lockWrites(ctx, tx); err != nil {
			return err
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit store write: %w", err)
	}
	committed = true
	return nil
}

// read runs fn inside one read transaction, so several queries see one
// consistent snapshot even while another process writes (on PostgreSQL a
// REPEATABLE READ transaction: one snapshot for all its queries).
func (s *Store) read(ctx context.Context, fn func(tx *dbTx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.pg {
		opts.Isolation = sql.LevelRepeatableRead
	}
	sqlTx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin store read: %w", err)
	}
	defer sqlTx.Rollback() // read-only: ending it cannot lose anything
	return fn(&dbTx{Tx: sqlTx, pg: s.pg})
}

// stamp is the store's clock as stored: Unix milliseconds.
func (s *Store) stamp() int64 { return s.now().UnixMilli() }

// fromStamp turns a stored Unix-millisecond time back into a time.Time (UTC).
func fromStamp(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
