package wallet

import (
	"context"
	"database/sql"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
)

// TestJournalChain: every entry a store writes is chained and records the
// operator; VerifyChain accepts the journal as written and names the entry
// an edit breaks, including an edit whose hash was recomputed.
func TestJournalChain(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	s.SetOperator("alice")
	mustCreate(t, s, "w")
	for i := 0; i < 3; i++ {
		if _, _, err := s.NextAddress(ctx, "w", 0, deriveFake, ""); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.AllJournal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := VerifyChain(all)
	if st.Break != nil || st.Entries != 4 || st.Unchained != 0 || st.HeadID != 4 {
		t.Fatalf("sound journal: %+v", st)
	}
	for _, e := range all {
		if e.Operator != "alice" || len(e.Hash) != 64 {
			t.Fatalf("entry %d: operator %q hash %q", e.ID, e.Operator, e.Hash)
		}
	}
	if hex.EncodeToString(st.Head[:]) != all[3].Hash {
		t.Fatalf("head %x, last hash %s", st.Head, all[3].Hash)
	}

	// An edit is named at the entry edited.
	edited := append([]JournalEntry(nil), all...)
	edited[1].Detail = []byte(`{"index":7}`)
	if b := VerifyChain(edited).Break; b == nil || b.Entry != 2 {
		t.Fatalf("edited entry 2: %+v", b)
	}
	// An edit with its hash recomputed is caught at the next entry.
	var prev [32]byte
	prev, _ = decodeHash32(all[0].Hash)
	h := ChainHash(prev, &edited[1])
	edited[1].Hash = hex.EncodeToString(h[:])
	if b := VerifyChain(edited).Break; b == nil || b.Entry != 3 {
		t.Fatalf("edited entry 2 with a new hash: %+v", b)
	}
	// A removed hash after chained entries is a break.
	edited = append([]JournalEntry(nil), all...)
	edited[2].Hash = ""
	if b := VerifyChain(edited).Break; b == nil || b.Entry != 3 || !strings.Contains(b.Reason, "removed") {
		t.Fatalf("hash removed: %+v", b)
	}
	// A malformed hash.
	edited[2].Hash = "zz"
	if b := VerifyChain(edited).Break; b == nil || b.Entry != 3 {
		t.Fatalf("malformed hash: %+v", b)
	}
}

// TestJournalChainOverOldEntries: a database written before the chain
// (schema step 1) migrates; the old entries keep no hash, the first entry
// written afterwards commits to them, and an edit of an old entry is
// caught there. Address labels of the old schema become BIP-329 labels.
func TestJournalChainOverOldEntries(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sql.Open("sqlite", dsn(filepath.Join(dir, DBFile)))
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, db, migrations()[:1]); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO wallets (id, name, descriptor, network, script, threshold, n, created_at) VALUES (1, 'w', 'wsh(x)', 'regtest', 'wsh', 2, 3, 1)`,
		`INSERT INTO journal (at, wallet_id, wallet, action, detail) VALUES (1, 1, 'w', 'wallet.create', '{"descriptor":"wsh(x)"}')`,
		`INSERT INTO addresses (wallet_id, branch, idx, address, label, issued_at) VALUES (1, 0, 0, 'bcrt1q-old', 'rent', 2)`,
		`UPDATE wallets SET next_receive = 1`,
		`INSERT INTO journal (at, wallet_id, wallet, action, detail) VALUES (2, 1, 'w', 'address.issue', '{"address":"bcrt1q-old"}')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ls, err := s.Labels(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].Type != LabelAddr || ls[0].Ref != "bcrt1q-old" || ls[0].Label == nil || *ls[0].Label != "rent" {
		t.Fatalf("labels after the migration: %+v", ls)
	}
	if _, _, err := s.NextAddress(ctx, "w", 0, deriveFake, ""); err != nil {
		t.Fatal(err)
	}
	all, err := s.AllJournal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := VerifyChain(all)
	if st.Break != nil || st.Entries != 3 || st.Unchained != 2 || all[2].Hash == "" {
		t.Fatalf("after the migration: %+v %+v", st, all)
	}
	all[0].Detail = []byte(`{"descriptor":"wsh(y)"}`)
	if b := VerifyChain(all).Break; b == nil || b.Entry != 3 || !strings.Contains(b.Reason, "first chained entry") {
		t.Fatalf("old entry edited: %+v", b)
	}
}
