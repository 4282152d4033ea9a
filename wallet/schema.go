package wallet

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations returns the schema steps in order; step i brings user_version
// from i to i+1. Steps are only ever appended: a released step never changes,
// because databases out there already ran it.
func migrations() []string {
	return []string{schemaV1, schemaAfterSpend, schemaRotations, schemaHistoryIndex, schemaScriptIndex, schemaBlockTime}
}

// schemaV1 is the first schema. Notes on choices that are hard to undo:
//   - wallets.id is AUTOINCREMENT so a deleted wallet's id is never reused;
//     the journal keeps old ids and must not point at a newer wallet.
//   - Every per-wallet table references wallets(id) ON DELETE CASCADE, so
//     DeleteWallet is one DELETE and cannot leave orphans.
//   - The journal has no foreign key: it outlives the wallets it mentions,
//     and triggers refuse UPDATE and DELETE on it.
//   - txids are stored as hex in the usual display order (as block
//     explorers print them) so the database can be read with the sqlite3
//     shell.
//   - Times are Unix milliseconds.
const schemaV1 = `
CREATE TABLE wallets (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	name         TEXT    NOT NULL UNIQUE,
	descriptor   TEXT    NOT NULL,
	network      TEXT    NOT NULL,
	script       TEXT    NOT NULL,
	threshold    INTEGER NOT NULL CHECK (threshold >= 1),
	n            INTEGER NOT NULL CHECK (n >= threshold),
	birth_height INTEGER NOT NULL DEFAULT 0 CHECK (birth_height >= 0),
	next_receive INTEGER NOT NULL DEFAULT 0 CHECK (next_receive BETWEEN 0 AND 2147483648),
	next_change  INTEGER NOT NULL DEFAULT 0 CHECK (next_change BETWEEN 0 AND 2147483648),
	created_at   INTEGER NOT NULL,
	backend      TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE cosigners (
	wallet_id   INTEGER NOT NULL REFERENCES wallets(id) ON DELETE CASCADE,
	position    INTEGER NOT NULL CHECK (position >= 0),
	fingerprint TEXT    NOT NULL DEFAULT '' CHECK (fingerprint = '' OR length(fingerprint) = 8),
	label       TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (wallet_id, position)
) STRICT;

CREATE TABLE addresses (
	wallet_id INTEGER NOT NULL REFERENCES wallets(id) ON DELETE CASCADE,
	branch    INTEGER NOT NULL CHECK (branch IN (0, 1)),
	idx       INTEGER NOT NULL CHECK (idx BETWEEN 0 AND 2147483647),
	address   TEXT    NOT NULL,
	label     TEXT    NOT NULL DEFAULT '',
	issued_at INTEGER NOT NULL,
	PRIMARY KEY (wallet_id, branch, idx)
) STRICT;

CREATE TABLE utxos (
	wallet_id INTEGER NOT NULL REFERENCES wallets(id) ON DELETE CASCADE,
	txid      TEXT    NOT NULL CHECK (length(txid) = 64),
	vout      INTEGER NOT NULL CHECK (vout >= 0),
	value     INTEGER NOT NULL CHECK (value >= 0),
	script    BLOB    NOT NULL,
	branch    INTEGER NOT NULL CHECK (branch IN (0, 1)),
	idx       INTEGER NOT NULL CHECK (idx BETWEEN 0 AND 2147483647),
	height    INTEGER NOT NULL DEFAULT 0 CHECK (height >= 0),
	spent_by  TEXT CHECK (spent_by IS NULL OR length(spent_by) = 64),
	PRIMARY KEY (wallet_id, txid, vout)
) STRICT;

CREATE TABLE transactions (
	wallet_id INTEGER NOT NULL REFERENCES wallets(id) ON DELETE CASCADE,
	txid      TEXT    NOT NULL CHECK (length(txid) = 64),
	height    INTEGER NOT NULL DEFAULT 0 CHECK (height >= 0),
	raw       BLOB,
	net       INTEGER NOT NULL,
	fee       INTEGER CHECK (fee IS NULL OR fee >= 0),
	seen_at   INTEGER NOT NULL,
	PRIMARY KEY (wallet_id, txid)
) STRICT;

CREATE TABLE scan_state (
	wallet_id          INTEGER PRIMARY KEY REFERENCES wallets(id) ON DELETE CASCADE,
	height             INTEGER NOT NULL CHECK (height >= 0),
	hash               TEXT    NOT NULL CHECK (length(hash) = 64),
	receive_high_water INTEGER NOT NULL DEFAULT 0 CHECK (receive_high_water BETWEEN 0 AND 2147483648),
	change_high_water  INTEGER NOT NULL DEFAULT 0 CHECK (change_high_water BETWEEN 0 AND 2147483648),
	synced_at          INTEGER NOT NULL
) STRICT;

CREATE TABLE drafts (
	id             TEXT    PRIMARY KEY CHECK (length(id) = 64),
	wallet_id      INTEGER NOT NULL REFERENCES wallets(id) ON DELETE CASCADE,
	txid           TEXT    NOT NULL CHECK (length(txid) = 64),
	state          TEXT    NOT NULL CHECK (state IN ('draft', 'signed', 'finalized', 'broadcast')),
	psbt           BLOB    NOT NULL,
	note           TEXT    NOT NULL DEFAULT '',
	created_at     INTEGER NOT NULL,
	broadcast_txid TEXT CHECK (broadcast_txid IS NULL OR length(broadcast_txid) = 64),
	broadcast_at   INTEGER
) STRICT;
CREATE INDEX drafts_by_wallet ON drafts (wallet_id, created_at);
CREATE INDEX drafts_by_txid ON drafts (txid);

CREATE TABLE registrations (
	wallet_id      INTEGER NOT NULL REFERENCES wallets(id) ON DELETE CASCADE,
	fingerprint    TEXT    NOT NULL CHECK (length(fingerprint) = 8),
	device_type    TEXT    NOT NULL CHECK (device_type <> ''),
	name_on_device TEXT    NOT NULL DEFAULT '',
	token          BLOB,
	registered_at  INTEGER NOT NULL,
	PRIMARY KEY (wallet_id, fingerprint, device_type)
) STRICT;

-- wallet_id NULL is a global setting. NULLs are distinct in a UNIQUE
-- constraint, so uniqueness is on ifnull(wallet_id, 0): wallet ids start at 1.
CREATE TABLE settings (
	wallet_id INTEGER REFERENCES wallets(id) ON DELETE CASCADE,
	key       TEXT NOT NULL CHECK (key <> ''),
	value     TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX settings_by_scope_key ON settings (ifnull(wallet_id, 0), key);

CREATE TABLE journal (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	at        INTEGER NOT NULL,
	wallet_id INTEGER,
	wallet    TEXT    NOT NULL DEFAULT '',
	action    TEXT    NOT NULL,
	detail    TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(detail))
) STRICT;
CREATE INDEX journal_by_wallet ON journal (wallet, id);
CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
BEGIN SELECT RAISE(ABORT, 'the audit journal is append-only'); END;
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
BEGIN SELECT RAISE(ABORT, 'the audit journal is append-only'); END;
`

// schemaAfterSpend is what the days after a spend need (issue 14), in one
// step so that it can be renumbered against other branches' steps:
//   - journal.operator: who ran the command (the OS user, or --operator);
//     journal.hash: the entry's link in the hash chain (journalchain.go).
//     Entries written before this step have no stored hash; the first
//     chained entry commits to them, so editing one is still caught.
//   - drafts.kind (spend, bump, cancel, cpfp), drafts.related_txid (the
//     unsigned txid a bump or cancel replaces, the parent a cpfp child
//     pays for), drafts.abandoned_at (psbt abandon).
//   - labels: BIP-329 records per wallet. label and origin NULL mean the
//     record had none (BIP-329: an import without label leaves the stored
//     one alone); extra keeps the record's other keys so an export gives
//     back what was imported. Labels given with `address --label` before
//     this step are copied in.
//   - policies: a wallet's spending policy as JSON (the coordinator reads
//     it; the store only keeps it).
const schemaAfterSpend = `
ALTER TABLE journal ADD COLUMN operator TEXT NOT NULL DEFAULT '';
ALTER TABLE journal ADD COLUMN hash TEXT CHECK (hash IS NULL OR length(hash) = 64);

ALTER TABLE drafts ADD COLUMN kind TEXT NOT NULL DEFAULT 'spend' CHECK (kind IN ('spend', 'bump', 'cancel', 'cpfp'));
ALTER TABLE drafts ADD COLUMN related_txid TEXT CHECK (related_txid IS NULL OR length(related_txid) = 64);
ALTER TABLE drafts ADD COLUMN abandoned_at INTEGER;

CREATE TABLE labels (
	wallet_id  INTEGER NOT NULL REFERENCES wallets(id) ON DELETE CASCADE,
	type       TEXT    NOT NULL CHECK (type IN ('tx', 'addr', 'pubkey', 'input', 'output', 'xpub', 'wallet')),
	ref        TEXT    NOT NULL CHECK (ref <> ''),
	label      TEXT,
	origin     TEXT,
	spendable  INTEGER CHECK (spendable IS NULL OR spendable IN (0, 1)),
	extra      TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(extra)),
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (wallet_id, type, ref)
) STRICT;
INSERT INTO labels (wallet_id, type, ref, label, updated_at)
	SELECT wallet_id, 'addr', address, label, issued_at FROM addresses WHERE label <> '';

CREATE TABLE policies (
	wallet_id  INTEGER PRIMARY KEY REFERENCES wallets(id) ON DELETE CASCADE,
	policy     TEXT    NOT NULL CHECK (json_valid(policy)),
	updated_at INTEGER NOT NULL
) STRICT;
`

// migrate brings the database up to len(steps). Each step runs in its own
// IMMEDIATE transaction that re-reads user_version first, so two processes
// opening a fresh directory at the same moment apply each step once, and a
// failed step leaves the database at the previous version.
func migrate(ctx context.Context, db *sql.DB, steps []string) error {
	for {
		done, err := migrateOne(ctx, db, steps)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the next missing step, if any, and reports whether the
// schema is already current.
func migrateOne(ctx context.Context, db *sql.DB, steps []string) (current bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin schema migration: %w", err)
	}
	defer func() {
		if err != nil || current {
			_ = tx.Rollback() // nothing written, or the step failed: undo it
		}
	}()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	switch {
	case version > len(steps):
		return false, fmt.Errorf("database schema version %d is newer than this countersign understands (%d): %w; upgrade countersign", version, len(steps), ErrInvalid)
	case version == len(steps):
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, steps[version]); err != nil {
		return false, fmt.Errorf("migrate schema from version %d to %d: %w", version, version+1, err)
	}
	// PRAGMA takes no bound parameters; version is an int we computed.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version+1)); err != nil {
		return false, fmt.Errorf("record schema version %d: %w", version+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit schema migration to version %d: %w", version+1, err)
	}
	return false, nil
}

// schemaHistoryIndex lets a history listing read the transactions table
// from one index, in chain order, without visiting the rows themselves:
// the rows hold each transaction's bytes (up to many kB apiece), and with
// 30,000 transactions reading them row by row through the primary key was
// most of `wallet history`'s time (issue 15). The index holds every column
// the listing shows, so SQLite answers from it alone ("covering index").
const schemaHistoryIndex = `
CREATE INDEX transactions_history ON transactions (wallet_id, height, seen_at, txid, net, fee);
`

// schemaBlockTime records when each confirmed transaction's block was
// mined (its header's timestamp, Unix milliseconds, as the backend
// reported it; NULL while unconfirmed or not reported), so that a history
// export is dated by the chain, not by when countersign first saw the
// transaction: for a wallet restored today those are years apart. The
// history index is rebuilt to hold the column, so a listing still reads
// the index alone.
const schemaBlockTime = `
ALTER TABLE transactions ADD COLUMN block_time INTEGER CHECK (block_time IS NULL OR block_time >= 0);
DROP INDEX transactions_history;
CREATE INDEX transactions_history ON transactions (wallet_id, height, seen_at, txid, net, fee, block_time);
`

// schemaScriptIndex holds each wallet's output scripts by position, a cache
// of what its descriptor derives (scriptindex.go): asking whether a
// payment goes to one of the wallet's addresses derived every address it
// had handed out, 0.3 s per command for a 10,000-address wallet (issue
// 15). script_index_state records, per branch, the descriptor the rows
// were derived from (a hash of its text) and the first index not yet
// indexed.
const schemaScriptIndex = `
CREATE TABLE script_index (
	wallet_id INTEGER NOT NULL REFERENCES wallets(id) ON DELETE CASCADE,
	script    BLOB    NOT NULL,
	branch    INTEGER NOT NULL CHECK (branch IN (0, 1)),
	idx       INTEGER NOT NULL CHECK (idx BETWEEN 0 AND 2147483647),
	PRIMARY KEY (wallet_id, script)
) STRICT;

CREATE TABLE script_index_state (
	wallet_id  INTEGER NOT NULL REFERENCES wallets(id) ON DELETE CASCADE,
	branch     INTEGER NOT NULL CHECK (branch IN (0, 1)),
	descriptor TEXT    NOT NULL,
	up_to      INTEGER NOT NULL CHECK (up_to BETWEEN 0 AND 2147483648),
	PRIMARY KEY (wallet_id, branch)
) STRICT;
`
