package wallet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// schemaRotations is the key-rotation step of the schema: one row per
// wallet that has a successor (see CreateSuccessor). It is a table of its
// own rather than columns of wallets so that no query of wallets changes.
//   - wallet_id is the old wallet; successor_id the new one. Deleting either
//     deletes the row: deleting the successor abandons the rotation and the
//     old wallet hands out addresses again.
//   - successor_id is UNIQUE: a wallet succeeds at most one other (a chain
//     of rotations is a chain of rows).
//   - retired_at and retired_height are set together, once the sweep has
//     confirmed (Retire), and never cleared.
const schemaRotations = `
CREATE TABLE rotations (
	wallet_id      INTEGER PRIMARY KEY REFERENCES wallets(id) ON DELETE CASCADE,
	successor_id   INTEGER NOT NULL UNIQUE REFERENCES wallets(id) ON DELETE CASCADE,
	started_at     INTEGER NOT NULL,
	retired_at     INTEGER,
	retired_height INTEGER CHECK (retired_height IS NULL OR retired_height >= 0),
	CHECK (successor_id <> wallet_id),
	CHECK ((retired_at IS NULL) = (retired_height IS NULL))
) STRICT;
`

// ErrRetired is wrapped when a wallet that has a successor is asked for a
// new receive address: coins must go to the successor. It is bad usage
// (exit 2), as ErrInvalid.
var ErrRetired = fmt.Errorf("%w: the wallet was rotated to a successor", ErrInvalid)

// Rotation links a wallet to the successor a key rotation created for it.
type Rotation struct {
	Wallet    string // the old wallet
	Successor string // the wallet its coins move to
	StartedAt time.Time
	// Retired is set once the sweep to the successor has confirmed and the
	// old wallet held nothing more (see Retire); RetiredAt and
	// RetiredHeight say when.
	Retired       bool
	RetiredAt     time.Time
	RetiredHeight int32
}

// CreateSuccessor stores succ as CreateWallet does and records it as the
// successor of the wallet called old, in one transaction: a crash leaves
// either no successor or a successor that is recorded as such. detail is
// journaled on the old wallet with the successor's name (what was replaced,
// what was added). A wallet that already has a successor wraps ErrExists.
func (s *Store) CreateSuccessor(ctx context.Context, old string, succ *Wallet, detail map[string]any) error {
	fps, labels, err := checkWallet(succ)
	if err != nil {
		return err
	}
	if succ.Name == old {
		return fmt.Errorf("rotate wallet %q: the successor needs another name: %w", old, ErrInvalid)
	}
	created := s.now().UnixMilli()
	var id int64
	err = s.write(ctx, func(tx *dbTx) error {
		oldID, err := walletID(ctx, tx, old)
		if err != nil {
			return err
		}
		var oldNet string
		if err := tx.QueryRowContext(ctx, `SELECT network FROM wallets WHERE id = ?`, oldID).Scan(&oldNet); err != nil {
			return fmt.Errorf("rotate wallet %q: %w", old, err)
		}
		if oldNet != succ.Network {
			return fmt.Errorf("rotate wallet %q: the successor is for %s but the wallet is for %s: %w", old, succ.Network, oldNet, ErrInvalid)
		}
		var have string
		err = tx.QueryRowContext(ctx, `SELECT w.name FROM rotations r JOIN wallets w ON w.id = r.successor_id WHERE r.wallet_id = ?`, oldID).Scan(&have)
		switch {
		case err == nil:
			return fmt.Errorf("wallet %q was already rotated: its successor %q %w", old, have, ErrExists)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("rotate wallet %q: %w", old, err)
		}
		if id, err = s.insertWallet(ctx, tx, succ, fps, labels, created); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO rotations (wallet_id, successor_id, started_at) VALUES (?, ?, ?)`,
			oldID, id, created); err != nil {
			return fmt.Errorf("rotate wallet %q: %w", old, err)
		}
		d := map[string]any{}
		for k, v := range detail {
			d[k] = v
		}
		d["successor"] = succ.Name
		d["successor_descriptor"] = succ.Descriptor
		return s.appendJournal(ctx, tx, journalKey{oldID, old}, ActionWalletRotate, d)
	})
	if err != nil {
		return err
	}
	succ.ID = id
	succ.CreatedAt = fromStamp(created)
	succ.Fingerprints, succ.Labels = fps, labels
	return nil
}

// rotationSelect is the query scanRotation reads.
const rotationSelect = `SELECT o.name, n.name, r.started_at, r.retired_at, r.retired_height
	FROM rotations r JOIN wallets o ON o.id = r.wallet_id JOIN wallets n ON n.id = r.successor_id`

func scanRotation(row interface{ Scan(...any) error }) (*Rotation, error) {
	r := &Rotation{}
	var started int64
	var retiredAt, retiredHeight sql.NullInt64
	if err := row.Scan(&r.Wallet, &r.Successor, &started, &retiredAt, &retiredHeight); err != nil {
		return nil, err
	}
	r.StartedAt = fromStamp(started)
	if retiredAt.Valid {
		r.Retired, r.RetiredAt, r.RetiredHeight = true, fromStamp(retiredAt.Int64), int32(retiredHeight.Int64)
	}
	return r, nil
}

// Rotation returns the rotation of the wallet called name (name is the old
// wallet). A wallet without a successor wraps ErrNotFound, as does an
// unknown wallet.
func (s *Store) Rotation(ctx context.Context, name string) (*Rotation, error) {
	var r *Rotation
	err := s.read(ctx, func(tx *dbTx) error {
		var err error
		r, err = scanRotation(tx.QueryRowContext(ctx, rotationSelect+` WHERE o.name = ?`, name))
		if errors.Is(err, sql.ErrNoRows) {
			if _, err := walletID(ctx, tx, name); err != nil {
				return err
			}
			return fmt.Errorf("wallet %q has no successor: %w", name, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("read rotation of wallet %q: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Rotations returns every recorded rotation, by old wallet name.
func (s *Store) Rotations(ctx context.Context) ([]Rotation, error) {
	var out []Rotation
	err := s.read(ctx, func(tx *dbTx) error {
		rows, err := tx.QueryContext(ctx, rotationSelect+` ORDER BY o.name`)
		if err != nil {
			return fmt.Errorf("list rotations: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRotation(rows)
			if err != nil {
				return fmt.Errorf("list rotations: %w", err)
			}
			out = append(out, *r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Retire marks the rotated wallet called name retired at the given chain
// height, journaling detail with it. The caller has seen the sweep confirm
// and the wallet empty. Retiring a retired wallet changes nothing and
// returns false; a wallet without a successor wraps ErrNotFound.
func (s *Store) Retire(ctx context.Context, name string, height int32, detail map[string]any) (bool, error) {
	if height < 0 {
		return false, fmt.Errorf("retire wallet %q: negative height %d: %w", name, height, ErrInvalid)
	}
	done := false
	err := s.write(ctx, func(tx *dbTx) error {
		id, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		var retired sql.NullInt64
		var succ string
		err = tx.QueryRowContext(ctx, `SELECT r.retired_at, w.name FROM rotations r JOIN wallets w ON w.id = r.successor_id WHERE r.wallet_id = ?`, id).Scan(&retired, &succ)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("wallet %q has no successor, so it cannot be retired: %w", name, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("retire wallet %q: %w", name, err)
		}
		if retired.Valid {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE rotations SET retired_at = ?, retired_height = ? WHERE wallet_id = ?`, s.stamp(), height, id); err != nil {
			return fmt.Errorf("retire wallet %q: %w", name, err)
		}
		d := map[string]any{}
		for k, v := range detail {
			d[k] = v
		}
		d["successor"], d["height"] = succ, height
		done = true
		return s.appendJournal(ctx, tx, journalKey{id, name}, ActionWalletRetire, d)
	})
	return done, err
}

// successorOf names the successor of wallet id inside tx; "" when it has
// none.
func successorOf(ctx context.Context, tx *dbTx, id int64) (string, error) {
	var name string
	err := tx.QueryRowContext(ctx, `SELECT w.name FROM rotations r JOIN wallets w ON w.id = r.successor_id WHERE r.wallet_id = ?`, id).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return name, err
}
