// Package pgtest starts a real PostgreSQL server for tests: Debian's
// postgresql package (initdb and postgres from /usr/lib/postgresql/N/bin,
// or from PATH), a fresh cluster in a temporary directory, reachable only
// through a unix socket in that directory, stopped by its PID.
//
// PostgreSQL refuses to run as root; when the tests run as root (CI
// containers do), initdb and postgres run as the unprivileged user
// "nobody", and the cluster's directory is given to that user.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// RequireEnv makes a missing PostgreSQL a failure instead of a skip (CI
// sets it).
const RequireEnv = "COUNTERSIGN_REQUIRE_INTEROP"

// Superuser is the role initdb creates; tests connect as it.
const Superuser = "countersign"

// ErrNotInstalled is returned by Find when no initdb is found.
var ErrNotInstalled = errors.New("PostgreSQL server binaries (initdb, postgres) not found: install Debian's postgresql package")

// Find returns the directory holding initdb and postgres: the one on PATH,
// else the newest /usr/lib/postgresql/N/bin (Debian keeps them off PATH).
func Find() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "postgres")); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", ErrNotInstalled
}

func versionOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Server is a running PostgreSQL cluster.
type Server struct {
	dir    string // owns the cluster (data/) and the socket
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
}

// Start initializes a cluster in a new temporary directory and starts
// postgres on a unix socket there. Stop it with Stop.
func Start(ctx context.Context) (*Server, error) {
	bin, err := Find()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "countersign-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{dir: dir, exited: make(chan struct{}), log: filepath.Join(dir, "postgres.log")}
	cred, err := runAs(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"),
		"-U", Superuser, "--auth=trust", "--no-sync", "--locale=C", "-E", "UTF8")
	initdb.Dir, initdb.Env = dir, childEnv(dir)
	initdb.SysProcAttr = procAttr(cred)
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
	}
	logf, err := os.Create(s.log)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	defer logf.Close()
	// No TCP listener: the socket in dir is the only way in. fsync off:
	// a test cluster need not survive a power cut, and it is much faster.
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", filepath.Join(dir, "data"),
		"-k", dir, "-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200")
	s.cmd.Dir, s.cmd.Env = dir, childEnv(dir)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = procAttr(cred)
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: start postgres: %w", err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx, 60*time.Second); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// runAs gives dir to "nobody" and returns its credentials when this
// process is root (postgres refuses to run as root); nil otherwise.
func runAs(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	uid, gid := 65534, 65534
	if u, err := user.Lookup("nobody"); err == nil {
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, fmt.Errorf("pgtest: give %s to nobody: %w", dir, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// childEnv is a minimal environment: no PG* variables of the caller's
// leak in, HOME is the cluster's directory (nobody's home does not exist).
func childEnv(dir string) []string {
	return []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "LC_ALL=C", "TZ=UTC"}
}

// waitReady polls a connection until the server answers or it exits.
func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		db, err := sql.Open("pgx", s.URL("postgres"))
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err = db.PingContext(pctx)
			cancel()
			db.Close()
		}
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("pgtest: postgres exited at start:\n%s", s.Log())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: postgres not ready after %v: %v\n%s", timeout, err, s.Log())
		}
	}
}

// Log returns what the server has logged.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// PID is the postmaster's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// URL is the connection URL of database db as the superuser.
func (s *Server) URL(db string) string {
	return s.RoleURL(Superuser, db)
}

// RoleURL is the connection URL of database db as role.
func (s *Server) RoleURL(role, db string) string {
	q := url.Values{"host": {s.dir}, "sslmode": {"disable"}}
	u := url.URL{Scheme: "postgres", User: url.User(role), Path: "/" + db, RawQuery: q.Encode()}
	return u.String()
}

// Exec runs statements on database db as the superuser.
func (s *Server) Exec(ctx context.Context, db, statements string) error {
	conn, err := sql.Open("pgx", s.URL(db))
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.ExecContext(ctx, statements)
	return err
}

// CreateDB creates an empty database and returns its URL.
func (s *Server) CreateDB(ctx context.Context, name string) (string, error) {
	if strings.ContainsAny(name, "\"\\\x00") {
		return "", fmt.Errorf("pgtest: bad database name %q", name)
	}
	if err := s.Exec(ctx, "postgres", `CREATE DATABASE "`+name+`"`); err != nil {
		return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return s.URL(name), nil
}

// Stop shuts the server down by its PID (SIGINT: PostgreSQL's fast
// shutdown, which ends open sessions), kills it if it has not exited after
// ten seconds, and removes the cluster.
func (s *Server) Stop() error {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = syscall.Kill(s.cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
	}
	return os.RemoveAll(s.dir)
}

// ForTest starts a server for t and stops it when t ends. Without the
// binaries it skips t, or fails it when $COUNTERSIGN_REQUIRE_INTEROP=1.
func ForTest(t testing.TB) *Server {
	t.Helper()
	if _, err := Find(); err != nil {
		Missing(t, err)
	}
	s, err := Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return s
}

// Missing skips t because PostgreSQL is not installed, or fails it when
// $COUNTERSIGN_REQUIRE_INTEROP=1.
func Missing(t testing.TB, err error) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%v (%s=1)", err, RequireEnv)
	}
	t.Skipf("%v; skipping the PostgreSQL tests", err)
}
