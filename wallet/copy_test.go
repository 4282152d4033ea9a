package wallet

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/pgtest"
)

// TestCopyCoversSchema: CopyStore's table list names every table and
// every column of the current schema, so a later schema step cannot add a
// table that `store migrate` silently leaves behind.
func TestCopyCoversSchema(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var tables []string
	rows, err := s.db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'sqlite_sequence' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	listed := map[string]string{}
	for _, c := range copyTables() {
		listed[c.name] = strings.TrimPrefix(c.columns, "rowid, ")
	}
	if len(listed) != len(tables) {
		t.Errorf("the schema has tables %v; CopyStore copies %d", tables, len(listed))
	}
	for _, table := range tables {
		var cols []string
		r, err := s.db.Query(`SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var n string
			if err := r.Scan(&n); err != nil {
				t.Fatal(err)
			}
			cols = append(cols, n)
		}
		r.Close()
		got := strings.Split(listed[table], ", ")
		if want := cols; !slices.Equal(sorted(got), sorted(want)) {
			t.Errorf("table %s has columns %v; CopyStore copies %v", table, want, got)
		}
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// fillForCopy puts a row in every table of s, and a deleted wallet whose
// journal entries stay behind.
func fillForCopy(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	mustCreate(t, s, "treasury")
	fillWallet(t, s, "treasury")
	mustCreate(t, s, "gone")
	fillWallet(t, s, "gone")
	if err := s.DeleteWallet(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	note, origin, yes := "rent", "m/48h", true
	if err := s.SetLabel(ctx, "treasury", Label{Type: LabelTx, Ref: hashOf(1, 1).String(), Label: &note, Extra: json.RawMessage(`{"b": [1, 2], "a": "x"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLabel(ctx, "treasury", Label{Type: LabelOutput, Ref: hashOf(1, 1).String() + ":0", Label: &note, Origin: &origin, Spendable: &yes}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPolicy(ctx, "treasury", json.RawMessage(`{"daily_limit":100000}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSetting(ctx, "", SettingBackend, "btcd://u:secret@127.0.0.1:18334"); err != nil {
		t.Fatal(err)
	}
	succ := testWallet("treasury-2")
	if err := s.CreateSuccessor(ctx, "treasury", succ, map[string]any{"replaced": "c0ffee00"}); err != nil {
		t.Fatal(err)
	}
	if err := s.ExtendScriptIndex(ctx, "treasury", 0, "d1", 0, [][]byte{{0x00, 0x20, 1}, {0x00, 0x20, 2}}); err != nil {
		t.Fatal(err)
	}
}

// dump prints every row of every table, in copy order.
func dump(t *testing.T, s *Store) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, c := range copyTables() {
		rows, err := s.rawQuery(`SELECT ` + c.columns + ` FROM ` + c.name + ` ORDER BY ` + c.order)
		if err != nil {
			t.Fatal(err)
		}
		n := len(strings.Split(c.columns, ","))
		for rows.Next() {
			vals := make([]any, n)
			ptrs := make([]any, n)
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					vals[i] = fmt.Sprintf("bytes %x", b)
				}
			}
			out[c.name] = append(out[c.name], fmt.Sprint(vals...))
		}
		rows.Close()
	}
	return out
}

// TestCopyStore copies a SQLite store with a row in every table to
// PostgreSQL and back to a new SQLite store: every row comes back as it
// was, the journal chains to the same head on each copy, and the copies go
// on working (new ids past the copied ones, the chain continued).
func TestCopyStore(t *testing.T) {
	if onPostgres() {
		t.Skip("runs its own server")
	}
	ctx := context.Background()
	src := newStore(t)
	fillForCopy(t, src)
	want := dump(t, src)
	for _, c := range copyTables() {
		if len(want[c.name]) == 0 {
			t.Errorf("the source has no %s row: the test copies nothing there", c.name)
		}
	}

	srv := pgtest.ForTest(t)
	url, err := srv.CreateDB(ctx, "copy")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := OpenStore(ctx, t.TempDir(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	rep, err := CopyStore(ctx, pg, src)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Journal.Entries != len(want["journal"]) || rep.Rows["journal"] != len(want["journal"]) {
		t.Errorf("copied %d journal entries, chain has %d; want %d", rep.Rows["journal"], rep.Journal.Entries, len(want["journal"]))
	}
	got := dump(t, pg)
	got["journal"] = got["journal"][:len(got["journal"])-1] // store.migrate
	if !equalDumps(t, got, want) {
		t.Error("PostgreSQL copy differs from the source")
	}
	if _, err := CopyStore(ctx, pg, src); err == nil {
		t.Error("copied into a store that is not empty")
	}

	back, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if _, err := CopyStore(ctx, back, pg); err != nil {
		t.Fatal(err)
	}
	got = dump(t, back)
	got["journal"] = got["journal"][:len(got["journal"])-2] // store.migrate twice
	if !equalDumps(t, got, want) {
		t.Error("SQLite copy of the PostgreSQL copy differs from the source")
	}

	// Both copies go on: a new wallet gets a new id, the journal chains on.
	for _, s := range []*Store{pg, back} {
		w := mustCreate(t, s, "after")
		if w.ID <= 3 {
			t.Errorf("%s: new wallet got id %d, which a copied wallet had", s.Engine(), w.ID)
		}
		if _, _, err := s.NextAddress(ctx, "treasury-2", 0, deriveFake, ""); err != nil {
			t.Fatal(err)
		}
		all, err := s.AllJournal(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The copy's store.migrate entry (two on the second copy, which
		// copies the first's), then the two entries written here.
		extra := 3
		if s == back {
			extra = 4
		}
		if st := VerifyChain(all); st.Break != nil || st.Entries != len(want["journal"])+extra {
			t.Errorf("%s: journal after the copy: %+v", s.Engine(), st)
		}
	}
}

func equalDumps(t *testing.T, got, want map[string][]string) bool {
	t.Helper()
	ok := true
	for _, c := range copyTables() {
		if !slices.Equal(got[c.name], want[c.name]) {
			t.Errorf("table %s:\n got %q\nwant %q", c.name, got[c.name], want[c.name])
			ok = false
		}
	}
	return ok
}
