package wallet

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// The script index maps a wallet's output scripts to their positions, so
// that "is this script one of the wallet's?" is one lookup rather than a
// derivation of every address the wallet has handed out: the question is
// asked of every output without BIP-32 derivations (any payment to
// someone else) by every step, and a treasury wallet with 10,000 used
// addresses paid 50,000 child derivations (0.3 s) per command to answer
// it. The index is a cache of what the descriptor derives, filled by the
// coordinator as it derives, per branch from index 0 up to a recorded
// bound, and keyed by the descriptor it was derived from (a hash of its
// text): rows of another descriptor are dropped, not trusted. A position
// read from it is derived again before it is believed.

// ScriptIndexFrom is the number of addresses (both branches, up to the
// gap limit) from which a wallet's scripts are kept in the index rather
// than derived into memory by each step: deriving 2,000 3-of-5 addresses
// costs about 20 ms, a lookup well under a millisecond.
const ScriptIndexFrom = 2000

// ScriptIndexKey names the descriptor (its text, checksum included) a
// branch's rows were derived from.
func ScriptIndexKey(descriptor string) string {
	h := sha256.Sum256([]byte(descriptor))
	return hex.EncodeToString(h[:8])
}

// ScriptIndexUpTo is how far (exclusive) the branch's scripts are indexed
// for the descriptor whose hash is dkey; 0 when they are not, or were
// indexed for another descriptor.
func (s *Store) ScriptIndexUpTo(ctx context.Context, name string, branch uint32, dkey string) (uint32, error) {
	var upTo uint32
	err := s.read(ctx, func(tx *dbTx) error {
		wid, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		key, n, err := scriptIndexState(ctx, tx, name, wid, branch)
		if err == nil && key == dkey {
			upTo = uint32(n)
		}
		return err
	})
	return upTo, err
}

// scriptIndexState reads how far a branch is indexed, and for which
// descriptor ("" and 0 when it is not).
func scriptIndexState(ctx context.Context, tx *dbTx, name string, wid int64, branch uint32) (dkey string, upTo int64, err error) {
	err = tx.QueryRowContext(ctx, `SELECT descriptor, up_to FROM script_index_state WHERE wallet_id = ? AND branch = ?`, wid, branch).Scan(&dkey, &upTo)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", 0, nil
	case err != nil:
		return "", 0, fmt.Errorf("read the script index of wallet %q: %w", name, err)
	}
	return dkey, upTo, nil
}

// LocateScript returns the position the index holds for script.
func (s *Store) LocateScript(ctx context.Context, name string, script []byte) (branch, index uint32, ok bool, err error) {
	err = s.read(ctx, func(tx *dbTx) error {
		wid, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		var b, i int64
		err = tx.QueryRowContext(ctx, `SELECT branch, idx FROM script_index WHERE wallet_id = ? AND script = ?`, wid, script).Scan(&b, &i)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil
		case err != nil:
			return fmt.Errorf("look up a script in the index of wallet %q: %w", name, err)
		}
		branch, index, ok = uint32(b), uint32(i), true
		return nil
	})
	return branch, index, ok, err
}

// ExtendScriptIndex records scripts[k] as the branch's script at index
// from+k, for the descriptor whose hash is dkey, when the index ends at
// from (another process may have extended it meanwhile: then nothing is
// written). Rows of another descriptor are dropped first.
func (s *Store) ExtendScriptIndex(ctx context.Context, name string, branch uint32, dkey string, from uint32, scripts [][]byte) error {
	if len(scripts) == 0 {
		return nil
	}
	if uint64(from)+uint64(len(scripts)) > 1<<31 {
		return fmt.Errorf("script index of wallet %q: indexes %d to %d are out of range: %w", name, from, uint64(from)+uint64(len(scripts))-1, ErrInvalid)
	}
	return s.write(ctx, func(tx *dbTx) error {
		wid, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		key, n, err := scriptIndexState(ctx, tx, name, wid, branch)
		if err != nil {
			return err
		}
		if key != dkey && key != "" {
			if _, err := tx.ExecContext(ctx, `DELETE FROM script_index WHERE wallet_id = ? AND branch = ?`, wid, branch); err != nil {
				return fmt.Errorf("reset the script index of wallet %q: %w", name, err)
			}
			n = 0
		}
		if n != int64(from) {
			return nil
		}
		// A few hundred rows per statement: one statement per row was most
		// of the time for a 10,000-address wallet.
		const perStatement = 500
		for lo := 0; lo < len(scripts); lo += perStatement {
			hi := min(lo+perStatement, len(scripts))
			var q strings.Builder
			q.WriteString(`INSERT INTO script_index (wallet_id, script, branch, idx) VALUES `)
			args := make([]any, 0, 4*(hi-lo))
			for k := lo; k < hi; k++ {
				if k > lo {
					q.WriteString(", ")
				}
				q.WriteString("(?, ?, ?, ?)")
				args = append(args, wid, scripts[k], branch, int64(from)+int64(k))
			}
			// A script already indexed at another position (two
			// descriptors' rows, or a bug) keeps its first row; positions
			// are derived again before they are believed.
			q.WriteString(` ON CONFLICT (wallet_id, script) DO NOTHING`)
			if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
				return fmt.Errorf("extend the script index of wallet %q: %w", name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO script_index_state (wallet_id, branch, descriptor, up_to) VALUES (?, ?, ?, ?)
			ON CONFLICT (wallet_id, branch) DO UPDATE SET descriptor = excluded.descriptor, up_to = excluded.up_to`,
			wid, branch, dkey, int64(from)+int64(len(scripts))); err != nil {
			return fmt.Errorf("extend the script index of wallet %q: %w", name, err)
		}
		return nil
	})
}
