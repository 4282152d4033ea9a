package pgtest

import (
	"context"
	"database/sql"
	"syscall"
	"testing"
)

// TestServer starts a real server, creates a database, runs a query in
// it, and checks that Stop ends the process it started.
func TestServer(t *testing.T) {
	if _, err := Find(); err != nil {
		Missing(t, err)
	}
	ctx := context.Background()
	s, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pid := s.PID()
	url, err := s.CreateDB(ctx, "probe")
	if err != nil {
		s.Stop()
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		s.Stop()
		t.Fatal(err)
	}
	var who, dbname string
	err = db.QueryRowContext(ctx, `SELECT current_user, current_database()`).Scan(&who, &dbname)
	db.Close()
	if err != nil {
		s.Stop()
		t.Fatal(err)
	}
	if who != Superuser || dbname != "probe" {
		t.Errorf("connected as %s to %s, want %s to probe", who, dbname, Superuser)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("postgres (pid %d) still runs after Stop", pid)
	}
}
