package wallet

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/wire"
)

// soundStore fills a store the way countersign uses it: two wallets (one
// deleted), addresses handed out on both branches, a sync with coins whose
// transactions are stored, drafts (one of them broadcast), a registration
// and settings. Every check must pass on it.
func soundStore(t *testing.T) *Store {
	t.Helper()
	ctx := context.Background()
	s := newStore(t)
	mustCreate(t, s, "w")
	mustCreate(t, s, "gone")
	for range 3 {
		if _, _, err := s.NextAddress(ctx, "w", 0, deriveFake, "l"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.NextAddress(ctx, "w", 1, func(i uint32) (string, error) { return fakeAddr(1, i), nil }, ""); err != nil {
		t.Fatal(err)
	}
	funding := wire.NewMsgTx(2)
	funding.AddTxIn(wire.NewTxIn(&wire.OutPoint{Index: 7}, nil, nil))
	funding.AddTxOut(wire.NewTxOut(50_000, []byte{0x00, 0x20, 1}))
	funding.AddTxOut(wire.NewTxOut(60_000, []byte{0x00, 0x20, 2}))
	var raw bytes.Buffer
	if err := funding.Serialize(&raw); err != nil {
		t.Fatal(err)
	}
	fid := funding.TxHash()
	err := s.ApplySync(ctx, "w", SyncUpdate{
		Height: 120, Hash: hashOf('b', 120), ReceiveHighWater: 5, ChangeHighWater: 1,
		Txs: []Tx{{TxID: fid, Height: 110, Raw: raw.Bytes(), Net: 110_000}},
		UTXOs: []UTXO{
			{OutPoint: wire.OutPoint{Hash: fid, Index: 0}, Value: 50_000, PkScript: []byte{0x00, 0x20, 1}, Branch: 0, Index: 4, Height: 110},
			{OutPoint: wire.OutPoint{Hash: fid, Index: 1}, Value: 60_000, PkScript: []byte{0x00, 0x20, 2}, Branch: 1, Index: 0, Height: 110},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	sent := spendTx(wire.OutPoint{Hash: fid, Index: 0}, false)
	_, err = s.CreateDraft(ctx, "w", func(change uint32) (*Draft, bool, error) {
		return &Draft{TxID: unsigned(sent).TxHash(), PSBT: []byte("unsigned psbt")}, true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveDraft(ctx, "w", &Draft{TxID: unsigned(sent).TxHash(), PSBT: []byte("signed psbt"), State: StateSigned}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkBroadcast(ctx, sent); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveDraft(ctx, "w", &Draft{TxID: hashOf('x', 1), PSBT: []byte("another")}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRegistration(ctx, "w", &Registration{Fingerprint: "0badf00d", DeviceType: "coldcard", NameOnDevice: "w"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWallet(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSetting(ctx, "w", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSetting(ctx, "", SettingBackend, "btcd://u:p@127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	return s
}

// allChecks runs the store-wide checks and each wallet's.
func allChecks(t *testing.T, s *Store) []Check {
	t.Helper()
	sn, err := s.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := sn.Check()
	for _, ws := range sn.Wallets {
		out = append(out, sn.CheckWallet(ws)...)
	}
	return out
}

func TestChecksPassOnSoundStore(t *testing.T) {
	s := soundStore(t)
	checks := allChecks(t, s)
	names := map[string]bool{}
	for _, c := range checks {
		names[c.Name] = true
		if !c.OK || len(c.Problems) > 0 || c.Detail == "" {
			t.Errorf("%s (%s): ok=%v detail=%q problems=%q", c.Name, c.Wallet, c.OK, c.Detail, c.Problems)
		}
	}
	for _, n := range []string{CheckFiles, CheckIntegrity, CheckForeignKeys, CheckSchema, CheckRows, CheckJournalAppend,
		CheckJournalSeq, CheckJournalWallets, CheckRecord, CheckCounters, CheckTransactions, CheckUTXOs, CheckDrafts, CheckJournalState} {
		if !names[n] {
			t.Errorf("check %s did not run", n)
		}
	}
	sn, err := s.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(sn.Wallets) != 1 || len(sn.Wallets[0].Drafts) != 3 || len(sn.Wallets[0].UTXOs) != 2 || len(sn.Wallets[0].Addresses) != 4 {
		t.Fatalf("snapshot misses rows: %+v", sn.Wallets[0])
	}
	js := sn.JournalDrafts(sn.Wallets[0].ID)
	if len(js) != 3 || !js[0].Created || js[0].ChangeIndex == nil || *js[0].ChangeIndex != 1 || js[1].Created || js[2].ChangeIndex != nil {
		t.Fatalf("journal drafts: %+v", js)
	}
}

// tamper runs SQL on one connection of the store's pool, with foreign keys
// off, as something outside countersign would (the sqlite3 shell, a disk
// error, a bug).
func tamper(t *testing.T, s *Store, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range append([]string{"PRAGMA foreign_keys = OFF"}, stmts...) {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = ON"); err != nil {
		t.Fatal(err)
	}
}

// TestChecksFindDamage damages a sound store one way at a time and expects
// exactly the named check to fail, with a problem saying what is wrong.
func TestChecksFindDamage(t *testing.T) {
	sqliteOnly(t)
	const (
		dropTriggers = "DROP TRIGGER journal_no_delete; DROP TRIGGER journal_no_update"
		sep          = "; "
	)
	for _, c := range []struct {
		name  string
		sql   []string
		other func(t *testing.T, s *Store)
		check string
		want  string
		also  []string // checks that also fail, as a consequence
	}{
		{name: "counter moved back", sql: []string{"UPDATE wallets SET next_receive = 1"},
			check: CheckCounters, want: "would be handed out again"},
		{name: "counter below high water", sql: []string{"UPDATE scan_state SET change_high_water = 9"},
			check: CheckCounters, want: "below the change high-water mark"},
		{name: "journal gap", sql: []string{dropTriggers, "DELETE FROM journal WHERE id = 3",
			"CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal BEGIN SELECT RAISE(ABORT, 'x');END",
			"CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal BEGIN SELECT RAISE(ABORT, 'x');END"},
			check: CheckJournalSeq, want: "ids 3 to 3 are missing", also: []string{CheckJournalState, CheckJournalChain}},
		{name: "journal tail removed", sql: []string{dropTriggers, "DELETE FROM journal WHERE id = (SELECT max(id) FROM journal)"},
			check: CheckJournalAppend, want: "entries were removed"},
		{name: "trigger dropped", sql: []string{"DROP TRIGGER journal_no_update"},
			check: CheckJournalAppend, want: "journal_no_update is missing"},
		{name: "entry rewritten", sql: []string{dropTriggers, "UPDATE journal SET wallet = 'other' WHERE action = 'address.issue'"},
			check: CheckJournalWallets, want: "created as", also: []string{CheckJournalAppend, CheckJournalState, CheckJournalChain}},
		// Only the hash chain sees an edit that leaves every other rule
		// content: the triggers restored, a field no other rule reads.
		{name: "entry edited, triggers restored", sql: []string{dropTriggers, "UPDATE journal SET operator = 'mallory' WHERE id = 2",
			"CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal BEGIN SELECT RAISE(ABORT, 'x');END",
			"CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal BEGIN SELECT RAISE(ABORT, 'x');END"},
			check: CheckJournalChain, want: "entry 2 does not chain"},
		{name: "wallet deleted behind the journal", sql: []string{"DELETE FROM wallets WHERE name = 'w'"},
			check: CheckJournalWallets, want: "never recorded its deletion", also: []string{CheckForeignKeys}},
		{name: "address not journaled", sql: []string{"INSERT INTO addresses (wallet_id, branch, idx, address, issued_at) SELECT id, 0, 4, 'x', 0 FROM wallets WHERE name = 'w'"},
			check: CheckJournalState, want: "never journaled"},
		{name: "address changed", sql: []string{"UPDATE addresses SET address = 'bcrt1q-other' WHERE idx = 1 AND branch = 0"},
			check: CheckJournalState, want: "was journaled as " + fakeAddr(0, 1)},
		{name: "draft lost", sql: []string{"DELETE FROM drafts WHERE state = 'draft' AND note = '' AND psbt = CAST('another' AS BLOB)"},
			check: CheckJournalState, want: "is not stored"},
		{name: "draft torn", sql: []string{"UPDATE drafts SET psbt = substr(psbt, 1, 4) WHERE state = 'draft'"},
			check: CheckDrafts, want: "hash to"},
		{name: "draft broadcast without txid", sql: []string{"UPDATE drafts SET state = 'broadcast' WHERE broadcast_txid IS NULL"},
			check: CheckDrafts, want: "state broadcast with broadcast txid <nil>"},
		{name: "funding transaction lost", sql: []string{"DELETE FROM transactions"},
			check: CheckUTXOs, want: "its transaction is not stored"},
		{name: "funding transaction altered", sql: []string{"UPDATE transactions SET raw = substr(raw, 1, 20)"},
			check: CheckTransactions, want: "does not decode", also: []string{}},
		{name: "coin value altered", sql: []string{"UPDATE utxos SET value = 1 WHERE vout = 1"},
			check: CheckUTXOs, want: "stored as 1 sat"},
		{name: "cosigner lost", sql: []string{"DELETE FROM cosigners WHERE position = 1"},
			check: CheckRecord, want: "2 cosigners stored for n=3"},
		{name: "registration for a stranger", sql: []string{"UPDATE registrations SET fingerprint = '01020304'"},
			check: CheckRecord, want: "not a cosigner"},
		{name: "orphan rows", sql: []string{"INSERT INTO addresses (wallet_id, branch, idx, address, issued_at) VALUES (999, 0, 0, 'x', 0)"},
			check: CheckForeignKeys, want: "addresses row"},
		{name: "unreadable txid", sql: []string{"UPDATE utxos SET txid = '" + strings.Repeat("z", 64) + "' WHERE vout = 0"},
			check: CheckRows, want: "utxos row", also: []string{}},
		{name: "schema version", sql: []string{"PRAGMA user_version = 7"},
			check: CheckSchema, want: "schema version 7"},
		{name: "database readable by others", other: func(t *testing.T, s *Store) {
			if err := os.Chmod(filepath.Join(s.Dir(), DBFile), 0o644); err != nil {
				t.Fatal(err)
			}
		}, check: CheckFiles, want: "has mode 0644"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := soundStore(t)
			if len(c.sql) > 0 {
				var stmts []string
				for _, q := range c.sql {
					stmts = append(stmts, strings.Split(q, sep)...)
				}
				tamper(t, s, stmts...)
			}
			if c.other != nil {
				c.other(t, s)
			}
			failed := map[string]bool{}
			for _, ch := range allChecks(t, s) {
				if ch.OK != (len(ch.Problems) == 0) {
					t.Errorf("%s: ok=%v with problems %q", ch.Name, ch.OK, ch.Problems)
				}
				if ch.OK {
					continue
				}
				failed[ch.Name] = true
				if ch.Name == c.check && !strings.Contains(strings.Join(ch.Problems, "\n"), c.want) {
					t.Errorf("%s failed without %q: %q", ch.Name, c.want, ch.Problems)
				}
			}
			if !failed[c.check] {
				t.Fatalf("%s did not fail", c.check)
			}
			expected := map[string]bool{c.check: true}
			for _, a := range c.also {
				expected[a] = true
			}
			for n := range failed {
				if !expected[n] {
					t.Errorf("%s failed too", n)
				}
			}
		})
	}
}

// TestCheckIntegrityFindsBrokenIndex empties an index's b-tree page on
// disk, as a torn page write would, and expects SQLite's integrity check
// to see that rows are missing from it.
func TestCheckIntegrityFindsBrokenIndex(t *testing.T) {
	sqliteOnly(t)
	ctx := context.Background()
	s := soundStore(t)
	var root, pageSize int64
	if err := s.rawQueryRow(`SELECT rootpage FROM sqlite_master WHERE name = 'journal_by_wallet'`).Scan(&root); err != nil {
		t.Fatal(err)
	}
	if err := s.rawQueryRow(`PRAGMA page_size`).Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	if _, err := s.rawExec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	dir := s.Dir()
	s.Close()
	f, err := os.OpenFile(filepath.Join(dir, DBFile), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// An empty leaf index page: type 0x0a, no freeblock, no cells, the
	// content area starting at the page's end.
	page := make([]byte, pageSize)
	page[0] = 0x0a
	binary.BigEndian.PutUint16(page[5:], uint16(pageSize%65536))
	if _, err := f.WriteAt(page, (root-1)*pageSize); err != nil {
		t.Fatal(err)
	}
	f.Close()

	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	sn, err := s2.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range sn.Check() {
		if c.Name == CheckIntegrity {
			if c.OK || !strings.Contains(strings.Join(c.Problems, "\n"), "journal_by_wallet") {
				t.Fatalf("integrity check: ok=%v %q", c.OK, c.Problems)
			}
			return
		}
	}
	t.Fatal("no integrity check")
}

func TestCheckProblemsAreBounded(t *testing.T) {
	c := NewCheck("x", "")
	for i := range MaxProblems + 5 {
		c.Problem("problem %d", i)
	}
	done := c.Done("d")
	if done.OK || len(done.Problems) != MaxProblems+1 || done.Problems[MaxProblems] != "... and 5 more" {
		t.Fatalf("%+v", done)
	}
	if ok := NewCheck("y", "w").Done("fine"); !ok.OK || ok.Problems != nil || ok.Wallet != "w" {
		t.Fatalf("%+v", ok)
	}
}

// TestSnapshotSeesWholeWrites: a snapshot taken while another
// connection writes sees either all of a write or none of it.
func TestSnapshotSeesWholeWrites(t *testing.T) {
	ctx := context.Background()
	s := soundStore(t)
	done := make(chan error)
	go func() {
		for i := 0; i < 50; i++ {
			if _, _, err := s.NextAddress(ctx, "w", 0, deriveFake, ""); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		default:
		}
		for _, c := range allChecks(t, s) {
			if !c.OK {
				t.Fatalf("%s failed during writes: %q", c.Name, c.Problems)
			}
		}
	}
}

func TestExists(t *testing.T) {
	dir := t.TempDir()
	if ok, err := Exists(dir); ok || err != nil {
		t.Fatalf("empty dir: %v %v", ok, err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if ok, err := Exists(dir); !ok || err != nil {
		t.Fatalf("after Open: %v %v", ok, err)
	}
}

// TestChecksFindDamagePostgres is TestChecksFindDamage's journal and state
// cases on PostgreSQL, damaged as someone with the database's superuser
// would (triggers disabled around an edit): the same checks catch them,
// the end of the journal removed included (countersign_schema.journal_seq
// plays sqlite_sequence).
func TestChecksFindDamagePostgres(t *testing.T) {
	if !onPostgres() {
		t.Skip("PostgreSQL's own damage; TestPostgresEngine runs it")
	}
	const (
		off = "ALTER TABLE journal DISABLE TRIGGER USER"
		on  = "ALTER TABLE journal ENABLE TRIGGER USER"
	)
	for _, c := range []struct {
		name  string
		sql   []string
		check string
		want  string
		also  []string
	}{
		{name: "journal gap", sql: []string{off, "DELETE FROM journal WHERE id = 3", on},
			check: CheckJournalSeq, want: "ids 3 to 3 are missing", also: []string{CheckJournalState, CheckJournalChain}},
		{name: "journal tail removed", sql: []string{off, "DELETE FROM journal WHERE id = (SELECT max(id) FROM journal)", on},
			check: CheckJournalAppend, want: "entries were removed"},
		{name: "trigger dropped", sql: []string{"DROP TRIGGER journal_no_update ON journal"},
			check: CheckJournalAppend, want: "journal_no_update is missing"},
		{name: "entry edited, triggers restored", sql: []string{off, "UPDATE journal SET operator = 'mallory' WHERE id = 2", on},
			check: CheckJournalChain, want: "entry 2 does not chain"},
		{name: "counter moved back", sql: []string{"UPDATE wallets SET next_receive = 1"},
			check: CheckCounters, want: "would be handed out again"},
		{name: "draft torn", sql: []string{"UPDATE drafts SET psbt = substring(psbt from 1 for 4) WHERE state = 'draft'"},
			check: CheckDrafts, want: "hash to"},
		{name: "coin value altered", sql: []string{"UPDATE utxos SET value = 1 WHERE vout = 1"},
			check: CheckUTXOs, want: "stored as 1 sat"},
		{name: "schema version", sql: []string{"UPDATE " + pgVersionTable + " SET version = 7"},
			check: CheckSchema, want: "schema version 7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := soundStore(t)
			for _, q := range c.sql {
				if _, err := s.db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			failed := map[string]bool{}
			for _, ch := range allChecks(t, s) {
				if ch.OK {
					continue
				}
				failed[ch.Name] = true
				if ch.Name == c.check && !strings.Contains(strings.Join(ch.Problems, "\n"), c.want) {
					t.Errorf("%s failed without %q: %q", ch.Name, c.want, ch.Problems)
				}
			}
			if !failed[c.check] {
				t.Fatalf("%s did not fail", c.check)
			}
			expected := map[string]bool{c.check: true}
			for _, a := range c.also {
				expected[a] = true
			}
			for n := range failed {
				if !expected[n] {
					t.Errorf("%s failed too", n)
				}
			}
		})
	}
}
