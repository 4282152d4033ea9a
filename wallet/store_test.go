package wallet

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "data")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustCreate(t, s, "w") // a write, so the -wal file exists
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{
		{dir, 0o700},
		{filepath.Join(dir, DBFile), 0o600},
		{filepath.Join(dir, DBFile+"-wal"), 0o600},
	} {
		info, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != c.mode {
			t.Errorf("%s: mode %o, want %o", c.path, got, c.mode)
		}
	}
}

func TestOpenTightensExistingDatabase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DBFile)
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // past the umask
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o600 {
		t.Errorf("mode %o, want 600", got)
	}
}

func TestOpenRefuses(t *testing.T) {
	notFile := t.TempDir()
	if err := os.Mkdir(filepath.Join(notFile, DBFile), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, dir, want string
	}{
		{"no directory", "", "COUNTERSIGN_DATA_DIR"},
		{"database is a directory", notFile, "countersign.db"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(c.dir)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

// TestOpenOddPath checks that characters meaningful in a URI do not break
// the connection string.
func TestOpenOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a?b#c%20d e")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustCreate(t, s, "w")
	if _, err := os.Stat(filepath.Join(dir, DBFile)); err != nil {
		t.Errorf("database not where expected: %v", err)
	}
}

func TestPragmas(t *testing.T) {
	sqliteOnly(t)
	s := newStore(t)
	ctx := context.Background()
	// Several connections, so each is checked to have run the DSN pragmas.
	var conns []*sql.Conn
	for range 3 {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for i, c := range conns {
		for _, p := range []struct{ pragma, want string }{
			{"journal_mode", "wal"},
			{"foreign_keys", "1"},
			{"synchronous", "2"}, // FULL
			{"busy_timeout", "10000"},
		} {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != p.want {
				t.Errorf("conn %d: PRAGMA %s = %s, want %s", i, p.pragma, got, p.want)
			}
		}
	}
}

// TestWriteTakesLockAtBegin checks that _txlock=immediate is honoured: a
// write transaction that has not written anything yet already blocks
// another connection's BEGIN IMMEDIATE. With a deferred BEGIN it would not.
func TestWriteTakesLockAtBegin(t *testing.T) {
	sqliteOnly(t)
	s := newStore(t)
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()

	other, err := sql.Open("sqlite", "file:"+filepath.Join(s.Dir(), DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	c, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "PRAGMA busy_timeout = 0"); err != nil {
		t.Fatal(err)
	}
	_, err = c.ExecContext(ctx, "BEGIN IMMEDIATE")
	if err == nil {
		c.ExecContext(ctx, "ROLLBACK")
		t.Fatal("second writer got the lock while a store transaction was open: BEGIN is not IMMEDIATE")
	}
	if !strings.Contains(err.Error(), "locked") && !strings.Contains(err.Error(), "busy") {
		t.Fatalf("unexpected error: %v", err)
	}
}

func TestMigrationSetsUserVersion(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := s.rawQueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != len(migrations()) || v < 1 {
		t.Fatalf("user_version = %d, want %d", v, len(migrations()))
	}
	mustCreate(t, s, "kept")
	s.Close()

	// Reopening must neither re-run a step (it would fail: tables exist) nor
	// lose data.
	s, err = Open(dir)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if _, err := s.Wallet(context.Background(), "kept"); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
}

// TestMigrationStepIsAtomic: a failing step leaves the database at the
// previous version with none of the step's changes.
func TestMigrationStepIsAtomic(t *testing.T) {
	db, err := sql.Open("sqlite", dsn(filepath.Join(t.TempDir(), DBFile)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	steps := []string{schemaV1, "CREATE TABLE half_done (a INTEGER); THIS IS NOT SQL;"}
	if err := migrate(ctx, db, steps); err == nil || !strings.Contains(err.Error(), "version 1 to 2") {
		t.Fatalf("migrate = %v, want a failure of step 2", err)
	}
	var v, tables int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'half_done'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if v != 1 || tables != 0 {
		t.Fatalf("after failed step: user_version %d (want 1), half_done tables %d (want 0)", v, tables)
	}
	// Fixing the step lets the next open finish the job.
	steps[1] = "CREATE TABLE half_done (a INTEGER);"
	if err := migrate(ctx, db, steps); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != 2 {
		t.Fatalf("user_version %d, %v; want 2", v, err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.rawExec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(dir)
	if err == nil {
		s.Close()
		t.Fatal("Open accepted a schema from the future")
	}
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "upgrade countersign") {
		t.Fatalf("error %v: want ErrInvalid telling to upgrade", err)
	}
}

// TestConcurrentOpenFreshDirectory: processes racing to create and migrate
// one new store all succeed.
func TestConcurrentOpenFreshDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fresh")
	cmds, outs, release := startChildren(t, "open", dir, 6)
	release()
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("child %d: %v", i, err)
		} else if strings.TrimSpace(outs[i].String()) != "opened" {
			t.Errorf("child %d printed %q", i, outs[i])
		}
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v int
	if err := s.rawQueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(migrations()) {
		t.Fatalf("user_version %d, %v", v, err)
	}
}

func TestDefaultDir(t *testing.T) {
	for _, c := range []struct {
		name                  string
		data, xdg, home, want string
	}{
		{"env wins", "/srv/cs", "/x", "/home/u", "/srv/cs"},
		{"xdg", "", "/x/data", "/home/u", "/x/data/countersign"},
		{"relative xdg ignored", "", "rel/data", "/home/u", "/home/u/.local/share/countersign"},
		{"home", "", "", "/home/u", "/home/u/.local/share/countersign"},
		{"nothing", "", "", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("COUNTERSIGN_DATA_DIR", c.data)
			t.Setenv("XDG_DATA_HOME", c.xdg)
			t.Setenv("HOME", c.home)
			if got := DefaultDir(); got != c.want {
				t.Errorf("DefaultDir() = %q, want %q", got, c.want)
			}
		})
	}
}

// TestOpenKeepsOtherStoresLocks: opening a second Store on a directory, in
// the same process, must not drop the first one's locks. POSIX drops every
// lock a process holds on a file when any descriptor of it is closed
// (sqlite.org/howtocorrupt.html, section 2.2); an unlocked first Store
// looks absent to other processes, and the last of them to close deletes
// the WAL and its index under it: its writes are lost, its reads see a
// malformed database.
func TestOpenKeepsOtherStoresLocks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s1, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	mustCreate(t, s1, "shared")
	for i := uint32(0); i < 6; i++ {
		s2, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		s2.Close()
		cmds, _, release := startChildren(t, "next-address", dir, 1)
		release()
		if err := cmds[0].Wait(); err != nil {
			t.Fatal(err)
		}
		// s1 sees the child's write, and its own writes are seen by the
		// next child.
		w, err := s1.Wallet(ctx, "shared")
		if err != nil || w.NextReceive != 2*i+1 {
			t.Fatalf("round %d: the first store reads %+v, %v; want next receive %d", i, w, err, 2*i+1)
		}
		if idx, _, err := s1.NextAddress(ctx, "shared", 0, deriveFake, ""); err != nil || idx != 2*i+1 {
			t.Fatalf("round %d: the first store hands out %d, %v", i, idx, err)
		}
	}
}

// TestBlockTimeStepKeepsTransactions: a store written before schema step 6
// (block times) opens with its transactions intact, their block times
// unknown, and the history listing reads them as before.
func TestBlockTimeStepKeepsTransactions(t *testing.T) {
	sqliteOnly(t)
	dir := t.TempDir()
	db, err := sql.Open("sqlite", dsn(filepath.Join(dir, DBFile)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	before := migrations()[:5]
	if before[4] != schemaScriptIndex {
		t.Fatal("the test's idea of the step before block times is out of date")
	}
	if err := migrate(ctx, db, before); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO wallets (name, descriptor, network, script, threshold, n, created_at) VALUES ('w', 'wsh(x)', 'regtest', 'wsh', 1, 1, 0)`); err != nil {
		t.Fatal(err)
	}
	for i, h := range []int{7, 0, 3} {
		if _, err := db.Exec(`INSERT INTO transactions (wallet_id, txid, height, raw, net, fee, seen_at) VALUES (1, ?, ?, NULL, ?, NULL, ?)`,
			hashOf('t', i).String(), h, 1000*(i+1), 1_700_000_000_000+int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hist, err := s.History(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 3 || hist[0].Height != 3 || hist[1].Height != 7 || hist[2].Height != 0 {
		t.Fatalf("history after the step: %+v", hist)
	}
	for _, h := range hist {
		if !h.BlockTime.IsZero() || h.Net == 0 {
			t.Fatalf("a transaction after the step: %+v", h)
		}
	}
}
