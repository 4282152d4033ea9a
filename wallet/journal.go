package wallet

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"time"
)

// Journal actions: the Action of each JournalEntry, one per mutating method.
const (
	ActionWalletCreate   = "wallet.create"
	ActionWalletDelete   = "wallet.delete"
	ActionCosignerLabel  = "cosigner.label"
	ActionWalletBackend  = "wallet.backend"
	ActionAddressIssue   = "address.issue"
	ActionAddressAdvance = "address.advance"
	ActionSyncApply      = "sync.apply"
	ActionDraftSave      = "draft.save"
	ActionDraftBroadcast = "draft.broadcast"
	ActionDeviceRegister = "device.register"
	ActionSettingSet     = "setting.set"
	ActionWalletRotate   = "wallet.rotate" // a successor was created for the wallet (CreateSuccessor)
	ActionWalletRetire   = "wallet.retire" // the rotation's sweep confirmed (Retire)
	ActionDraftAbandon   = "draft.abandon"
	ActionLabelSet       = "label.set"
	ActionLabelImport    = "label.import"
	ActionPolicySet      = "policy.set"
	ActionPolicyOverride = "policy.override"
	ActionStoreMigrate   = "store.migrate" // the store was copied here from another (CopyStore)
	ActionRelaySend      = "relay.send"    // a draft published to cosigners over Nostr (coordinator.SendPSBT)
	ActionRelayReceive   = "relay.receive" // a message fetched from the relays, and what became of it
)

// JournalEntry is one row of the audit journal. Rows are never changed or
// deleted, not even when their wallet is deleted.
type JournalEntry struct {
	ID       int64     // increases with every entry; the journal's order
	Time     time.Time // when the change was committed (UTC, millisecond precision)
	WalletID int64     // the wallet's id at the time; 0 for global changes
	Wallet   string    // the wallet's name at the time; "" for global changes
	Action   string    // one of the Action constants
	// Detail is a JSON object with the action's particulars (indexes,
	// addresses, txids, old and new values).
	Detail json.RawMessage
	// Operator is who ran the command: the OS user, or the name given
	// with --operator; "" for entries written before operators were
	// recorded.
	Operator string
	// Hash is the entry's link in the hash chain, hex (see ChainHash);
	// "" for entries written before the chain, which the first chained
	// entry commits to.
	Hash string
}

// journalKey names a wallet in a journal row.
type journalKey struct {
	id   int64 // 0 for global
	name string
}

// appendJournal records one action inside the caller's transaction, so the
// journal row exists exactly when the change it describes does. The entry
// is chained to the one before it (ChainHash): its id is chosen here, as
// AUTOINCREMENT would (the write lock is held), because the hash covers it.
func (s *Store) appendJournal(ctx context.Context, tx *dbTx, w journalKey, action string, detail map[string]any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	js, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("journal %s: encode detail: %w", action, err)
	}
	prev, lastID, err := s.chainTip(ctx, tx)
	if err != nil {
		return fmt.Errorf("journal %s: %w", action, err)
	}
	e := JournalEntry{ID: lastID + 1, Time: fromStamp(s.stamp()), WalletID: w.id, Wallet: w.name, Action: action, Detail: js, Operator: s.operator}
	h := ChainHash(prev, &e)
	var id any // NULL for a global action
	if w.id != 0 {
		id = w.id
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO journal (id, at, wallet_id, wallet, action, detail, operator, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.Time.UnixMilli(), id, w.name, action, string(js), e.Operator, hex.EncodeToString(h[:])); err != nil {
		return fmt.Errorf("journal %s: %w", action, err)
	}
	if tx.pg {
		// SQLite's AUTOINCREMENT keeps sqlite_sequence; here the store
		// keeps the same counter, in the row lockWrites holds.
		if _, err := tx.ExecContext(ctx, `UPDATE `+pgVersionTable+` SET journal_seq = ?`, e.ID); err != nil {
			return fmt.Errorf("journal %s: record its id: %w", action, err)
		}
	}
	return nil
}

// Record appends one journal entry on its own, for what happened outside
// the store but must be on record (a policy overridden at a step that then
// wrote nothing, such as a signer that has the PSBT but has not answered).
// name "" records a global entry.
func (s *Store) Record(ctx context.Context, name, action string, detail map[string]any) error {
	if action == "" {
		return fmt.Errorf("journal: no action: %w", ErrInvalid)
	}
	return s.write(ctx, func(tx *dbTx) error {
		w := journalKey{}
		if name != "" {
			id, err := walletID(ctx, tx, name)
			if err != nil {
				return err
			}
			w = journalKey{id, name}
		}
		return s.appendJournal(ctx, tx, w, action, detail)
	})
}

// Journal returns the newest entries about the wallet called name, newest
// first; limit <= 0 returns them all. name "" returns the whole journal,
// global entries included. Entries of a deleted wallet stay readable by its
// name; ErrNotFound only when no wallet has that name and none ever had.
func (s *Store) Journal(ctx context.Context, name string, limit int) ([]JournalEntry, error) {
	var lim any = limit
	if limit <= 0 {
		lim = -1 // SQLite: no limit
		if s.pg {
			lim = nil // PostgreSQL: LIMIT NULL is no limit; a negative one is an error
		}
	}
	var out []JournalEntry
	err := s.read(ctx, func(tx *dbTx) error {
		q := `SELECT ` + journalColumns + ` FROM journal`
		args := []any{}
		if name != "" {
			q += ` WHERE wallet = ?`
			args = append(args, name)
		}
		q += ` ORDER BY id DESC LIMIT ?`
		args = append(args, lim)
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("read journal: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanJournal(rows)
			if err != nil {
				return fmt.Errorf("read journal: %w", err)
			}
			out = append(out, e)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read journal: %w", err)
		}
		if len(out) == 0 && name != "" {
			// Every wallet ever created has its creation row, so no rows
			// means a mistyped name, which must not look like empty history.
			if _, err := walletID(ctx, tx, name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AllJournal returns the whole journal, oldest first, as the hash chain
// runs.
func (s *Store) AllJournal(ctx context.Context) ([]JournalEntry, error) {
	var out []JournalEntry
	err := s.read(ctx, func(tx *dbTx) error {
		return eachRow(ctx, tx, `SELECT `+journalColumns+` FROM journal ORDER BY id`, func(r rowScanner) error {
			e, err := scanJournal(r)
			if err != nil {
				return fmt.Errorf("read journal: %w", err)
			}
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// journalColumns is the SELECT list scanJournal expects.
const journalColumns = `id, at, coalesce(wallet_id, 0), wallet, action, detail, operator, coalesce(hash, '')`

// scanJournal reads one journal row (journalColumns order).
func scanJournal(row interface{ Scan(...any) error }) (JournalEntry, error) {
	var e JournalEntry
	var at int64
	var detail string
	if err := row.Scan(&e.ID, &at, &e.WalletID, &e.Wallet, &e.Action, &detail, &e.Operator, &e.Hash); err != nil {
		return e, err
	}
	e.Time = fromStamp(at)
	e.Detail = json.RawMessage(detail)
	return e, nil
}

// redactURL hides the password in a backend URL before it goes into the
// journal, which is meant to be shown and shared, and the query too (API
// keys travel there). A value that does not parse is not recorded at all: it
// may still hold a secret.
func redactURL(v string) string {
	u, err := url.Parse(v)
	if err != nil {
		return "(unparsable value, not recorded)"
	}
	if u.RawQuery != "" {
		u.RawQuery = "redacted"
	}
	return u.Redacted()
}
