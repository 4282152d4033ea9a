package wallet

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/pgtest"
)

// The store's test suite runs on both engines. `go test` runs it on SQLite;
// TestPostgresEngine starts a real PostgreSQL server (internal/pgtest) and
// runs the same test binary again with pgAdminEnv set, so that newStore
// hands every test a fresh PostgreSQL database instead of a SQLite file.
// Tests of what only SQLite has (its files, pragmas, WAL) call sqliteOnly.

// pgAdminEnv carries the superuser URL of the server's "postgres" database
// to the re-executed suite.
const pgAdminEnv = "COUNTERSIGN_WALLET_TEST_PG"

// onPostgres reports whether this test binary runs the suite on PostgreSQL.
func onPostgres() bool { return os.Getenv(pgAdminEnv) != "" }

// sqliteOnly skips a test of SQLite's own behaviour when the suite runs on
// PostgreSQL.
func sqliteOnly(t testing.TB) {
	t.Helper()
	if onPostgres() {
		t.Skip("tests SQLite's files or pragmas; the suite runs on PostgreSQL")
	}
}

// openFresh opens an empty store of the suite's engine.
func openFresh(t testing.TB) (*Store, error) {
	if !onPostgres() {
		return Open(t.TempDir())
	}
	return OpenStore(context.Background(), t.TempDir(), freshPostgres(t))
}

// freshPostgres creates a new database on the suite's server and returns
// its URL.
func freshPostgres(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(pgAdminEnv)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "t_" + hex.EncodeToString(b[:])
	if err := pgExec(admin, `CREATE DATABASE `+name); err != nil {
		t.Fatal(err)
	}
	return strings.Replace(admin, "/postgres?", "/"+name+"?", 1)
}

// TestPostgresEngine runs this package's tests again on a real PostgreSQL
// server. It honours -run and -short; without PostgreSQL it skips, or fails
// when $COUNTERSIGN_REQUIRE_INTEROP=1.
func TestPostgresEngine(t *testing.T) {
	if onPostgres() {
		t.Skip("already on PostgreSQL")
	}
	srv := pgtest.ForTest(t)
	args := []string{"-test.skip=^TestPostgresEngine$", "-test.v"}
	// -run picks the tests to run on PostgreSQL too, unless it picked only
	// this one (then all run).
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
		if re, err := regexp.Compile(f.Value.String()); err == nil && !re.MatchString("TestPostgresEngine") {
			args = append(args, "-test.run="+f.Value.String())
		}
	}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), pgAdminEnv+"="+srv.URL("postgres"))
	out, err := cmd.CombinedOutput()
	passed := len(regexp.MustCompile(`(?m)^--- PASS`).FindAll(out, -1))
	skipped := regexp.MustCompile(`(?m)^\s*--- SKIP: (\S+)`).FindAllSubmatch(out, -1)
	if err != nil {
		t.Fatalf("the suite failed on PostgreSQL: %v\n%s", err, failures(out))
	}
	if passed == 0 {
		t.Fatalf("no test passed on PostgreSQL:\n%s", out)
	}
	var names []string
	for _, m := range skipped {
		names = append(names, string(m[1]))
	}
	t.Logf("on PostgreSQL: %d passed, %d skipped (%s)", passed, len(skipped), strings.Join(names, ", "))
}

// failures keeps the lines of a verbose test run worth reading: failures
// and what the failing tests logged.
func failures(out []byte) string {
	var keep []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "=== ") || strings.HasPrefix(strings.TrimSpace(line), "--- PASS") || strings.HasPrefix(strings.TrimSpace(line), "--- SKIP") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

// pgExec runs statements on the database at url.
func pgExec(url, statements string) error {
	db, err := sqlOpenPG(url)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(context.Background(), statements)
	return err
}

func sqlOpenPG(url string) (*sql.DB, error) { return sql.Open("pgx", url) }

// rawExec, rawQueryRow and rawQuery run a test's own SQL (written with "?"
// placeholders) on the store's database, outside the store's methods.
func (s *Store) rawExec(query string, args ...any) (sql.Result, error) {
	return s.db.Exec(s.rebind(query), args...)
}

func (s *Store) rawQueryRow(query string, args ...any) *sql.Row {
	return s.db.QueryRow(s.rebind(query), args...)
}

func (s *Store) rawQuery(query string, args ...any) (*sql.Rows, error) {
	return s.db.Query(s.rebind(query), args...)
}

func (s *Store) rebind(query string) string { return (&dbTx{pg: s.pg}).rebind(query) }
