package wallet

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// The audit journal is hash-chained: each entry's hash covers the hash of
// the entry before it and every field of its own, so changing, inserting or
// removing an entry anywhere but at the end breaks the chain from there on.
// The triggers already refuse UPDATE and DELETE; the chain is what still
// holds against someone who edits the database file by hand (drops the
// triggers, or writes the file with another program). The end of the chain
// itself can only be vouched for from outside: `journal sign` signs the
// head hash with a cosigner's key.

// chainDomain separates these hashes from any other SHA-256 the project
// computes.
const chainDomain = "countersign journal v1\n"

// ChainHash is the hash of entry e given the hash of the entry before it
// (all zero for the first entry):
//
//	SHA-256("countersign journal v1\n" || prev || JSON [id, at, wallet_id, wallet, action, detail, operator])
//
// at is Unix milliseconds, wallet_id 0 for a global entry, detail the
// stored JSON text as a string. The JSON array is encoding/json's output
// (no spaces, strings escaped the same way every time), so the encoding is
// one byte string per entry and anyone can recompute it.
func ChainHash(prev [32]byte, e *JournalEntry) [32]byte {
	fields, _ := json.Marshal([]any{e.ID, e.Time.UnixMilli(), e.WalletID, e.Wallet, e.Action, string(e.Detail), e.Operator})
	h := sha256.New()
	h.Write([]byte(chainDomain))
	h.Write(prev[:])
	h.Write(fields)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// ChainBreak is the first entry of a journal that does not chain.
type ChainBreak struct {
	Entry  int64
	Reason string
}

func (b *ChainBreak) Error() string {
	return fmt.Sprintf("journal entry %d does not chain: %s", b.Entry, b.Reason)
}

// ChainState is what walking the chain found.
type ChainState struct {
	// Head is the hash of the last entry (its stored hash, or the computed
	// one when no entry is chained yet); zero for an empty journal.
	Head [32]byte
	// HeadID is the last entry's id; 0 for an empty journal.
	HeadID int64
	// Entries counts the entries walked; Unchained those written before
	// the chain (no stored hash).
	Entries, Unchained int
	// Break is the first entry that does not chain; nil when all do.
	Break *ChainBreak
}

// VerifyChain walks entries (oldest first, as AllJournal returns them) and
// checks each stored hash against ChainHash of the previous entry's stored
// hash (computed for entries before the chain) and the entry's fields. So
// an entry edited by hand is named itself, and an entry whose hash was
// recomputed after an edit is caught at the next one. Entries without a
// hash may only come before the first one with a hash.
func VerifyChain(entries []JournalEntry) ChainState {
	var st ChainState
	var prev [32]byte
	chained := false
	for i := range entries {
		e := &entries[i]
		st.Entries++
		want := ChainHash(prev, e)
		switch {
		case e.Hash == "" && chained:
			if st.Break == nil {
				st.Break = &ChainBreak{e.ID, "it has no hash, but entries before it are chained: its hash was removed"}
			}
		case e.Hash == "":
			st.Unchained++
		default:
			got, err := decodeHash32(e.Hash)
			switch {
			case err != nil:
				if st.Break == nil {
					st.Break = &ChainBreak{e.ID, "its stored hash is not 64 hex digits"}
				}
				got = want
			case got != want && st.Break == nil:
				reason := "its content or the hash of the entry before it was changed"
				if !chained && st.Unchained > 0 {
					reason = fmt.Sprintf("it is the first chained entry and commits to the %d entries before it, written before the chain: one of them, or this one, was changed", st.Unchained)
				}
				st.Break = &ChainBreak{e.ID, reason}
			}
			chained = true
			want = got
		}
		prev, st.Head, st.HeadID = want, want, e.ID
	}
	return st
}

func decodeHash32(s string) ([32]byte, error) {
	var out [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return out, errors.New("not a 32-byte hex hash")
	}
	copy(out[:], b)
	return out, nil
}

// chainTip returns, inside tx, the hash the next entry chains to and the
// id the next entry gets less one: past the last id SQLite handed out, as
// AUTOINCREMENT does. When the last entry predates the chain, its hash is
// computed over the whole journal (once: the entry written now stores it).
func (s *Store) chainTip(ctx context.Context, tx *dbTx) ([32]byte, int64, error) {
	var zero [32]byte
	var seq int64
	seqQuery := `SELECT seq FROM sqlite_sequence WHERE name = 'journal'`
	if tx.pg {
		seqQuery = `SELECT journal_seq FROM ` + pgVersionTable
	}
	if err := tx.QueryRowContext(ctx, seqQuery).Scan(&seq); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return zero, 0, fmt.Errorf("read the journal's sequence: %w", err)
	}
	var last int64
	var hash string
	err := tx.QueryRowContext(ctx, `SELECT id, coalesce(hash, '') FROM journal ORDER BY id DESC LIMIT 1`).Scan(&last, &hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return zero, seq, nil
	case err != nil:
		return zero, 0, fmt.Errorf("read the last journal entry: %w", err)
	}
	next := max(seq, last)
	if hash != "" {
		h, err := decodeHash32(hash)
		if err != nil {
			return zero, 0, fmt.Errorf("journal entry %d: stored hash %q: %w", last, hash, ErrInvalid)
		}
		return h, next, nil
	}
	var all []JournalEntry
	err = eachRow(ctx, tx, `SELECT `+journalColumns+` FROM journal ORDER BY id`, func(r rowScanner) error {
		e, err := scanJournal(r)
		all = append(all, e)
		return err
	})
	if err != nil {
		return zero, 0, fmt.Errorf("read the journal to start its hash chain: %w", err)
	}
	return VerifyChain(all).Head, next, nil
}
