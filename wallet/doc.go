// Package wallet is countersign's store: the wallets (descriptor, network,
// cosigners), the addresses handed out, the UTXO and transaction cache
// written by sync, PSBT drafts, device registrations, settings and an
// append-only audit journal. By default everything lives in one SQLite
// database, countersign.db, in the data directory (see DefaultDir); a team
// shares one PostgreSQL database instead (OpenStore), with the same schema,
// the same methods and the same guarantees.
//
// The package knows nothing about Bitcoin scripts: a wallet's descriptor is
// stored as the canonical string the descriptor package printed, and
// NextAddress asks its caller to derive the address for the index it
// reserved. That keeps the store free of project imports and lets any
// descriptor version be stored unchanged.
//
// # Durability and concurrency
//
// The database runs in WAL mode with synchronous=FULL, so a committed write
// survives a power cut. Every method that changes something is exactly one
// SQLite transaction, begun IMMEDIATE (the write lock is taken at BEGIN, not
// at the first write), and appends its journal row inside that same
// transaction: a crash, a kill or a cancelled context leaves either the state
// before the call or the state after it, never a mix. Several countersign
// processes may use one data directory at once; a writer waits up to ten
// seconds for another to finish. Two processes calling NextAddress at the
// same time always get different indexes.
//
// On PostgreSQL every write transaction first locks the one row of the
// schema version table (SELECT ... FOR UPDATE), which serializes writes as
// BEGIN IMMEDIATE does on SQLite; reads are REPEATABLE READ snapshots and
// wait for nothing.
//
// # Errors
//
// Missing wallets, cosigners, drafts and settings wrap ErrNotFound; a
// duplicate wallet name wraps ErrExists; input the store refuses (an empty
// name, a branch other than 0 or 1, a malformed fingerprint) wraps
// ErrInvalid. Test with errors.Is; the messages name the object involved.
//
// # Schema
//
// The schema version is SQLite's user_version (PostgreSQL: the
// countersign_schema table); the steps are written for SQLite and
// translated for PostgreSQL (pgSchema). Open applies the missing
// migrations in order, each in its own transaction, and refuses a database
// written by a newer countersign rather than guess at its layout.
package wallet
