package wallet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Wallet is one stored multisig wallet.
type Wallet struct {
	ID   int64  // assigned by CreateWallet; never reused after a delete
	Name string // unique in the store
	// Descriptor is the canonical multipath descriptor string, with checksum,
	// as descriptor.(*Descriptor).String prints it. The store never parses it.
	Descriptor string
	Network    string // "mainnet", "testnet", "signet" or "regtest"
	Script     string // "sh", "sh-wsh" or "wsh"
	Threshold  int    // signatures needed (M)
	N          int    // cosigners
	// Labels and Fingerprints describe the cosigners in descriptor order;
	// both have length N when read back. Labels are free text ("" when
	// none); fingerprints are the 8 lower-case hex digits of each key
	// origin's master fingerprint ("" when the key has no origin).
	Labels       []string
	Fingerprints []string
	BirthHeight  int32 // first block that can hold the wallet's coins; 0 when unknown
	// NextReceive and NextChange are the next index NextAddress hands out on
	// each branch.
	NextReceive, NextChange uint32
	CreatedAt               time.Time // set by CreateWallet
	Backend                 string    // this wallet's chain backend URL; "" uses the global setting
	// Source says, for the journal only, where the wallet came from
	// ("import: coldcard", ...); "" for one created here. Not stored.
	Source string
}

// walletID looks a wallet's id up by name inside tx; the error wraps
// ErrNotFound and reads `wallet "x" not found`.
func walletID(ctx context.Context, tx *dbTx, name string) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM wallets WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("wallet %q %w", name, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("look up wallet %q: %w", name, err)
	}
	return id, nil
}

// CreateWallet stores w and its cosigners in one transaction and sets w.ID
// and w.CreatedAt. A name already in use wraps ErrExists and changes nothing.
// Labels and Fingerprints may be nil (all unknown) or have length N.
func (s *Store) CreateWallet(ctx context.Context, w *Wallet) error {
	fps, labels, err := checkWallet(w)
	if err != nil {
		return err
	}
	created := s.now()
	var id int64
	err = s.write(ctx, func(tx *dbTx) error {
		var err error
		id, err = s.insertWallet(ctx, tx, w, fps, labels, created.UnixMilli())
		return err
	})
	if err != nil {
		return err
	}
	w.ID = id
	w.CreatedAt = fromStamp(created.UnixMilli())
	w.Fingerprints, w.Labels = fps, labels
	return nil
}

// insertWallet stores w and its cosigners inside tx and journals the
// creation; CreateWallet and CreateSuccessor share it. A name already in
// use wraps ErrExists.
func (s *Store) insertWallet(ctx context.Context, tx *dbTx, w *Wallet, fps, labels []string, created int64) (int64, error) {
	// Checked inside the write lock, so no other process can take the
	// name between this check and the insert.
	var taken int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM wallets WHERE name = ?`, w.Name).Scan(&taken); err != nil {
		return 0, fmt.Errorf("create wallet %q: %w", w.Name, err)
	}
	if taken > 0 {
		return 0, fmt.Errorf("wallet %q %w: choose another name, or delete the stored wallet first", w.Name, ErrExists)
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO wallets
		(name, descriptor, network, script, threshold, n, birth_height, next_receive, next_change, created_at, backend)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		w.Name, w.Descriptor, w.Network, w.Script, w.Threshold, w.N, w.BirthHeight,
		w.NextReceive, w.NextChange, created, w.Backend).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("create wallet %q: %w", w.Name, err)
	}
	for i := range w.N {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO cosigners (wallet_id, position, fingerprint, label) VALUES (?, ?, ?, ?)`,
			id, i, fps[i], labels[i]); err != nil {
			return 0, fmt.Errorf("create wallet %q: store cosigner %d: %w", w.Name, i, err)
		}
	}
	detail := map[string]any{
		"descriptor": w.Descriptor, "network": w.Network, "script": w.Script,
		"threshold": w.Threshold, "n": w.N, "fingerprints": fps, "birth_height": w.BirthHeight,
	}
	if w.Source != "" {
		detail["source"] = w.Source
	}
	return id, s.appendJournal(ctx, tx, journalKey{id, w.Name}, ActionWalletCreate, detail)
}

// walletColumns is the SELECT list scanWallet expects.
const walletColumns = `id, name, descriptor, network, script, threshold, n, birth_height,
	next_receive, next_change, created_at, backend`

// scanWallet reads one wallets row (walletColumns order).
func scanWallet(row interface{ Scan(...any) error }) (*Wallet, error) {
	w := &Wallet{}
	var created int64
	if err := row.Scan(&w.ID, &w.Name, &w.Descriptor, &w.Network, &w.Script, &w.Threshold, &w.N,
		&w.BirthHeight, &w.NextReceive, &w.NextChange, &created, &w.Backend); err != nil {
		return nil, err
	}
	w.CreatedAt = fromStamp(created)
	w.Labels = make([]string, w.N)
	w.Fingerprints = make([]string, w.N)
	return w, nil
}

// fillCosigners copies the cosigners rows of the given wallets into their
// Labels and Fingerprints.
func fillCosigners(ctx context.Context, tx *dbTx, byID map[int64]*Wallet) error {
	rows, err := tx.QueryContext(ctx, `SELECT wallet_id, position, fingerprint, label FROM cosigners`)
	if err != nil {
		return fmt.Errorf("read cosigners: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var pos int
		var fp, label string
		if err := rows.Scan(&id, &pos, &fp, &label); err != nil {
			return fmt.Errorf("read cosigners: %w", err)
		}
		w, ok := byID[id]
		if !ok {
			continue
		}
		if pos >= w.N {
			return fmt.Errorf("wallet %q: cosigner %d stored beyond n=%d: the database is inconsistent", w.Name, pos, w.N)
		}
		w.Fingerprints[pos], w.Labels[pos] = fp, label
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read cosigners: %w", err)
	}
	return nil
}

// Wallet returns the wallet called name; ErrNotFound when there is none.
func (s *Store) Wallet(ctx context.Context, name string) (*Wallet, error) {
	var w *Wallet
	err := s.read(ctx, func(tx *dbTx) error {
		var err error
		w, err = scanWallet(tx.QueryRowContext(ctx, `SELECT `+walletColumns+` FROM wallets WHERE name = ?`, name))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("wallet %q %w", name, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("read wallet %q: %w", name, err)
		}
		return fillCosigners(ctx, tx, map[int64]*Wallet{w.ID: w})
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// Wallets returns every stored wallet, sorted by name.
func (s *Store) Wallets(ctx context.Context) ([]*Wallet, error) {
	var out []*Wallet
	err := s.read(ctx, func(tx *dbTx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+walletColumns+` FROM wallets ORDER BY name`)
		if err != nil {
			return fmt.Errorf("list wallets: %w", err)
		}
		defer rows.Close()
		byID := map[int64]*Wallet{}
		for rows.Next() {
			w, err := scanWallet(rows)
			if err != nil {
				return fmt.Errorf("list wallets: %w", err)
			}
			out = append(out, w)
			byID[w.ID] = w
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list wallets: %w", err)
		}
		rows.Close()
		return fillCosigners(ctx, tx, byID)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteWallet removes the wallet called name and everything stored for it
// (cosigners, addresses, UTXOs, transactions, drafts, registrations, its
// settings) in one transaction. The journal keeps its history, including
// the descriptor, so a wallet deleted by mistake can be re-created.
func (s *Store) DeleteWallet(ctx context.Context, name string) error {
	return s.write(ctx, func(tx *dbTx) error {
		w, err := scanWallet(tx.QueryRowContext(ctx, `SELECT `+walletColumns+` FROM wallets WHERE name = ?`, name))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("wallet %q %w", name, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("delete wallet %q: %w", name, err)
		}
		// Foreign keys cascade the delete to every per-wallet table.
		if _, err := tx.ExecContext(ctx, `DELETE FROM wallets WHERE id = ?`, w.ID); err != nil {
			return fmt.Errorf("delete wallet %q: %w", name, err)
		}
		return s.appendJournal(ctx, tx, journalKey{w.ID, name}, ActionWalletDelete, map[string]any{
			"descriptor": w.Descriptor, "network": w.Network,
			"next_receive": w.NextReceive, "next_change": w.NextChange,
		})
	})
}

// SetCosignerLabel sets the label of the cosigner at position (descriptor
// order, from 0) of the wallet called name. An unknown wallet or position
// wraps ErrNotFound.
func (s *Store) SetCosignerLabel(ctx context.Context, name string, position int, label string) error {
	return s.write(ctx, func(tx *dbTx) error {
		id, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		var old string
		err = tx.QueryRowContext(ctx, `SELECT label FROM cosigners WHERE wallet_id = ? AND position = ?`, id, position).Scan(&old)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("wallet %q has no cosigner at position %d: %w (positions start at 0, in descriptor order)", name, position, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("label cosigner %d of wallet %q: %w", position, name, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE cosigners SET label = ? WHERE wallet_id = ? AND position = ?`, label, id, position); err != nil {
			return fmt.Errorf("label cosigner %d of wallet %q: %w", position, name, err)
		}
		return s.appendJournal(ctx, tx, journalKey{id, name}, ActionCosignerLabel, map[string]any{
			"position": position, "old": old, "new": label,
		})
	})
}

// SetWalletBackend sets the chain backend URL used for the wallet called
// name; "" makes it use the global "backend" setting again. The URL is
// stored as given: chain.Open checks it when it is used.
func (s *Store) SetWalletBackend(ctx context.Context, name, backend string) error {
	return s.write(ctx, func(tx *dbTx) error {
		id, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		var old string
		if err := tx.QueryRowContext(ctx, `SELECT backend FROM wallets WHERE id = ?`, id).Scan(&old); err != nil {
			return fmt.Errorf("set backend of wallet %q: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE wallets SET backend = ? WHERE id = ?`, backend, id); err != nil {
			return fmt.Errorf("set backend of wallet %q: %w", name, err)
		}
		return s.appendJournal(ctx, tx, journalKey{id, name}, ActionWalletBackend, map[string]any{
			"old": redactURL(old), "new": redactURL(backend),
		})
	})
}
