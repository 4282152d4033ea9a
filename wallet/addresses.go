package wallet

import (
	"context"
	"fmt"
	"time"
)

// IssuedAddress is an address NextAddress handed out.
type IssuedAddress struct {
	Branch   uint32 // 0 receive, 1 change
	Index    uint32 // the wildcard index it was derived at
	Address  string
	Label    string
	IssuedAt time.Time
}

// counterColumn names the wallets column holding branch's next index.
func counterColumn(branch uint32) string {
	if branch == 1 {
		return "next_change"
	}
	return "next_receive"
}

// NextAddress hands out the next unused index on branch (0 receive, 1
// change) of the wallet called name. In one IMMEDIATE transaction it reads
// the counter, calls deriveAddr(index), records the address with label,
// bumps the counter and journals it; two calls, in this process or another,
// never get the same index. deriveAddr runs while the store's write lock is
// held, so it must be quick and must not use the store. When it fails
// nothing changes and its error is returned wrapped.
func (s *Store) NextAddress(ctx context.Context, name string, branch uint32, deriveAddr func(index uint32) (string, error), label string) (index uint32, addr string, err error) {
	if err := checkBranch(branch); err != nil {
		return 0, "", fmt.Errorf("next address of wallet %q: %w", name, err)
	}
	if deriveAddr == nil {
		return 0, "", fmt.Errorf("next address of wallet %q: no derivation function: %w", name, ErrInvalid)
	}
	col := counterColumn(branch)
	err = s.write(ctx, func(tx *dbTx) error {
		id, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		// A rotated wallet's coins are moving to its successor: a new
		// receive address would send more after them. Checked inside the
		// write lock, so no address slips out as the rotation is recorded.
		if branch == 0 {
			succ, err := successorOf(ctx, tx, id)
			if err != nil {
				return fmt.Errorf("next address of wallet %q: %w", name, err)
			}
			if succ != "" {
				return fmt.Errorf("wallet %q hands out no new addresses: %w %q; take addresses from %q", name, ErrRetired, succ, succ)
			}
		}
		if err := tx.QueryRowContext(ctx, `SELECT `+col+` FROM wallets WHERE id = ?`, id).Scan(&index); err != nil {
			return fmt.Errorf("next address of wallet %q: read counter: %w", name, err)
		}
		if index >= maxIndex {
			return fmt.Errorf("wallet %q has used every non-hardened index on branch %d: %w; create a new wallet", name, branch, ErrInvalid)
		}
		if addr, err = deriveAddr(index); err != nil {
			return fmt.Errorf("derive address %d/%d of wallet %q: %w", branch, index, name, err)
		}
		if addr == "" {
			return fmt.Errorf("derive address %d/%d of wallet %q: the derivation returned no address: %w", branch, index, name, ErrInvalid)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO addresses (wallet_id, branch, idx, address, label, issued_at) VALUES (?, ?, ?, ?, ?, ?)`,
			id, branch, index, addr, label, s.stamp()); err != nil {
			return fmt.Errorf("record address %d/%d of wallet %q: %w", branch, index, name, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE wallets SET `+col+` = ? WHERE id = ?`, index+1, id); err != nil {
			return fmt.Errorf("bump address counter of wallet %q: %w", name, err)
		}
		if label != "" {
			// The label is a BIP-329 address label from the start.
			l := Label{Type: LabelAddr, Ref: addr, Label: &label}
			if err := l.check(name); err != nil {
				return err
			}
			if err := s.upsertLabel(ctx, tx, id, &l); err != nil {
				return err
			}
		}
		return s.appendJournal(ctx, tx, journalKey{id, name}, ActionAddressIssue, map[string]any{
			"branch": branch, "index": index, "address": addr, "label": label,
		})
	})
	if err != nil {
		return 0, "", err
	}
	return index, addr, nil
}

// AdvanceIndex moves branch's counter of the wallet called name forward to
// next, so NextAddress never hands out an index sync found already used. A
// counter already at or past next is left alone: counters never go back,
// since an address given out once may be paid to at any time.
func (s *Store) AdvanceIndex(ctx context.Context, name string, branch uint32, next uint32) error {
	if err := checkBranch(branch); err != nil {
		return fmt.Errorf("advance address counter of wallet %q: %w", name, err)
	}
	if next > maxIndex {
		return fmt.Errorf("advance address counter of wallet %q to %d: beyond the non-hardened range: %w", name, next, ErrInvalid)
	}
	return s.write(ctx, func(tx *dbTx) error {
		id, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		_, err = s.advance(ctx, tx, journalKey{id, name}, branch, next)
		return err
	})
}

// advance raises one counter inside tx and journals the move; it reports
// whether the counter changed.
func (s *Store) advance(ctx context.Context, tx *dbTx, w journalKey, branch, next uint32) (bool, error) {
	col := counterColumn(branch)
	var old uint32
	if err := tx.QueryRowContext(ctx, `SELECT `+col+` FROM wallets WHERE id = ?`, w.id).Scan(&old); err != nil {
		return false, fmt.Errorf("advance address counter of wallet %q: %w", w.name, err)
	}
	if next <= old {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE wallets SET `+col+` = ? WHERE id = ?`, next, w.id); err != nil {
		return false, fmt.Errorf("advance address counter of wallet %q: %w", w.name, err)
	}
	return true, s.appendJournal(ctx, tx, w, ActionAddressAdvance, map[string]any{
		"branch": branch, "old": old, "new": next,
	})
}

// Addresses returns the addresses handed out for the wallet called name,
// receive before change, each by index.
func (s *Store) Addresses(ctx context.Context, name string) ([]IssuedAddress, error) {
	var out []IssuedAddress
	err := s.read(ctx, func(tx *dbTx) error {
		id, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx,
			`SELECT `+addressColumns+` FROM addresses WHERE wallet_id = ? ORDER BY branch, idx`, id)
		if err != nil {
			return fmt.Errorf("list addresses of wallet %q: %w", name, err)
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanAddress(rows)
			if err != nil {
				return fmt.Errorf("list addresses of wallet %q: %w", name, err)
			}
			out = append(out, a)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list addresses of wallet %q: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// addressColumns is the SELECT list scanAddress expects.
const addressColumns = `branch, idx, address, label, issued_at`

// scanAddress reads one addresses row (addressColumns order).
func scanAddress(row interface{ Scan(...any) error }) (IssuedAddress, error) {
	var a IssuedAddress
	var at int64
	if err := row.Scan(&a.Branch, &a.Index, &a.Address, &a.Label, &at); err != nil {
		return a, err
	}
	a.IssuedAt = fromStamp(at)
	return a, nil
}
