package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/pgtest"
)

// TestStoreOnPostgres: a one-person SQLite store is moved to PostgreSQL
// with `store migrate`, two more terminals join it (`store set`,
// `--store`), addresses continue where the SQLite store left off, the
// journal names each operator and filters by one, its chain verifies, and
// a read-only auditor role (the grants docs/ recommend) can read the
// journal but change nothing.
func TestStoreOnPostgres(t *testing.T) {
	srv := pgtest.ForTest(t)
	ctx := context.Background()
	if _, err := srv.CreateDB(ctx, "treasury"); err != nil {
		t.Fatal(err)
	}
	// The roles docs/architecture.md and README set up: an owner that
	// creates the schema, a team whose members get rights on what the
	// owner creates, one login role per person.
	if err := srv.Exec(ctx, "treasury", `CREATE ROLE owner LOGIN;
		CREATE ROLE team NOLOGIN;
		CREATE ROLE bob LOGIN IN ROLE team;
		CREATE ROLE carol LOGIN IN ROLE team;
		GRANT CONNECT ON DATABASE treasury TO team;
		GRANT CREATE, USAGE ON SCHEMA public TO owner;
		GRANT USAGE ON SCHEMA public TO team;
		ALTER DEFAULT PRIVILEGES FOR ROLE owner IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO team;
		ALTER DEFAULT PRIVILEGES FOR ROLE owner IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO team;`); err != nil {
		t.Fatal(err)
	}
	ownerURL, bobURL, carolURL := srv.RoleURL("owner", "treasury"), srv.RoleURL("bob", "treasury"), srv.RoleURL("carol", "treasury")
	alice, bob, carol := t.TempDir(), t.TempDir(), t.TempDir()
	mustRun(t, alice, "wallet", "create", "cc", "--descriptor", coldcardVectorDescriptor(t))
	mustRun(t, alice, "--operator", "alice", "address", "cc")
	mustRun(t, alice, "--operator", "alice", "address", "cc")

	var mig storeMigrateJSON
	mustJSON(t, mustRun(t, alice, "--json", "store", "migrate", "--to", ownerURL), &mig)
	if mig.Rows["wallets"] != 1 || mig.Rows["addresses"] != 2 || mig.Entries != mig.Rows["journal"] || len(mig.JournalHead) != 64 {
		t.Fatalf("migrate: %+v", mig)
	}
	if !strings.HasSuffix(mig.From, "countersign.db") || !strings.HasPrefix(mig.To, "postgres://") {
		t.Errorf("migrate named %s -> %s", mig.From, mig.To)
	}
	if r := runCLI(t, alice, "", "store", "migrate", "--to", ownerURL); r.Code == 0 || !strings.Contains(r.Err, "empty store") {
		t.Errorf("a second migrate into the same database: exit %d, %s", r.Code, r.Err)
	}

	mustRun(t, bob, "store", "set", bobURL)
	if info, err := os.Stat(filepath.Join(bob, storeFile)); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("saved store file: %v %v", info, err)
	}
	var show storeShowJSON
	mustJSON(t, mustRun(t, bob, "--json", "store", "show"), &show)
	if show.Engine != "postgres" || show.Source != storeFromFile || show.Operator != "bob" {
		t.Errorf("store show: %+v", show)
	}
	var a addressJSON
	mustJSON(t, mustRun(t, bob, "--json", "address", "cc"), &a)
	if a.Index != 2 {
		t.Errorf("bob's address has index %d, want 2 (after alice's two)", a.Index)
	}
	mustJSON(t, mustRun(t, carol, "--json", "--store", carolURL, "address", "cc"), &a)
	if a.Index != 3 {
		t.Errorf("carol's address has index %d, want 3", a.Index)
	}

	var entries []journalEntryJSON
	mustJSON(t, mustRun(t, bob, "--json", "journal", "--by", "alice"), &entries)
	if len(entries) != 2 {
		t.Fatalf("alice's entries: %+v", entries)
	}
	for _, e := range entries {
		if e.Operator != "alice" || e.Action != "address.issue" {
			t.Errorf("journal --by alice gave %+v", e)
		}
	}
	// The global --operator names who runs a command; on journal it is
	// not a filter.
	mustJSON(t, mustRun(t, bob, "--json", "--operator", "alice", "journal"), &entries)
	if len(entries) <= 2 {
		t.Fatalf("journal run --operator alice kept only %d entries: the global flag filtered", len(entries))
	}
	mustJSON(t, mustRun(t, bob, "--json", "journal"), &entries)
	ops := map[string]int{}
	for _, e := range entries {
		ops[e.Operator]++
	}
	// alice's two addresses (--operator); bob's and carol's under their
	// database roles; the copy's store.migrate under the owner's.
	if ops["alice"] != 2 || ops["bob"] != 1 || ops["carol"] != 1 || ops["owner"] != 1 || entries[len(entries)-1].Operator != "carol" {
		t.Errorf("operators in the journal: %v; last by %s", ops, entries[len(entries)-1].Operator)
	}
	mustRun(t, bob, "journal", "verify")
	var doc doctorJSON
	mustJSON(t, mustRun(t, bob, "--json", "doctor"), &doc)
	if !doc.OK {
		t.Errorf("doctor on PostgreSQL: %+v", doc)
	}

	// The auditor: a login role with SELECT only, as docs/architecture.md
	// shows.
	if err := srv.Exec(ctx, "treasury", `CREATE ROLE auditor LOGIN;
		GRANT CONNECT ON DATABASE treasury TO auditor;
		GRANT USAGE ON SCHEMA public TO auditor;
		GRANT SELECT ON ALL TABLES IN SCHEMA public TO auditor;`); err != nil {
		t.Fatal(err)
	}
	audit := srv.RoleURL("auditor", "treasury")
	var seen []journalEntryJSON
	mustJSON(t, mustRun(t, carol, "--json", "--store", audit, "journal"), &seen)
	if len(seen) != len(entries) {
		t.Errorf("the auditor sees %d entries, want %d", len(seen), len(entries))
	}
	mustRun(t, carol, "--store", audit, "journal", "verify")
	if r := runCLI(t, carol, "", "--store", audit, "address", "cc"); r.Code == 0 || !strings.Contains(r.Err, "permission denied") {
		t.Errorf("the auditor handed out an address: exit %d, %s", r.Code, r.Err)
	}
	var after []json.RawMessage
	mustJSON(t, mustRun(t, bob, "--json", "journal"), &after)
	if len(after) != len(entries) {
		t.Errorf("the auditor's refused command changed the journal: %d entries, was %d", len(after), len(entries))
	}
}

// TestStoreLocationOrder: --store beats $COUNTERSIGN_STORE beats what
// `store set` saved beats SQLite in the data directory; `store unset`
// forgets the saved one.
func TestStoreLocationOrder(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"COUNTERSIGN_DATA_DIR": dir}
	f := NewFactory(nil, func(k string) string { return env[k] })
	check := func(wantLoc, wantSource string) {
		t.Helper()
		loc, source, err := f.StoreLocation()
		if err != nil || loc != wantLoc || source != wantSource {
			t.Errorf("StoreLocation = %q, %q, %v; want %q, %q", loc, source, err, wantLoc, wantSource)
		}
	}
	check("", storeFromDefault)
	other := filepath.Join(t.TempDir(), "other")
	mustRun(t, dir, "store", "set", "sqlite:"+other)
	check("sqlite:"+other, storeFromFile)
	env["COUNTERSIGN_STORE"] = "postgres://env@localhost/x"
	check("postgres://env@localhost/x", storeFromEnv)
	f.Global.Store = "sqlite:/flag"
	check("sqlite:/flag", storeFromFlag)
	f.Global.Store, env["COUNTERSIGN_STORE"] = "", ""
	mustRun(t, dir, "store", "unset")
	check("", storeFromDefault)
	if r := runCLI(t, dir, "", "store", "set", "mysql://x"); r.Code == 0 {
		t.Error("store set accepted mysql://")
	}
}
