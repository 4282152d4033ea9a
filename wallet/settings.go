package wallet

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// SettingBackend is the key of the global chain backend URL, used by
// wallets whose own Backend is "".
const SettingBackend = "backend"

// scope describes a setting's owner in messages.
func scope(name string) string {
	if name == "" {
		return "global setting"
	}
	return fmt.Sprintf("setting of wallet %q", name)
}

// settingOwner resolves a setting's owner inside tx: the wallet's key for a
// wallet setting, the zero key (SQL NULL) for a global one.
func settingOwner(ctx context.Context, tx *dbTx, name string) (journalKey, any, error) {
	if name == "" {
		return journalKey{}, nil, nil
	}
	id, err := walletID(ctx, tx, name)
	if err != nil {
		return journalKey{}, nil, err
	}
	return journalKey{id, name}, id, nil
}

// SetSetting sets key to value, for the wallet called name or globally when
// name is "". An empty value removes the setting.
func (s *Store) SetSetting(ctx context.Context, name, key, value string) error {
	if key == "" {
		return fmt.Errorf("set %s: empty key: %w", scope(name), ErrInvalid)
	}
	return s.write(ctx, func(tx *dbTx) error {
		w, owner, err := settingOwner(ctx, tx, name)
		if err != nil {
			return err
		}
		// ifnull(wallet_id, 0) matches the unique index, so a global
		// setting (NULL) is found like a wallet's.
		res, err := tx.ExecContext(ctx, `DELETE FROM settings WHERE coalesce(wallet_id, 0) = coalesce(?, 0) AND key = ?`, owner, key)
		if err != nil {
			return fmt.Errorf("set %s %q: %w", scope(name), key, err)
		}
		existed, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("set %s %q: %w", scope(name), key, err)
		}
		if value == "" && existed == 0 {
			return nil // removing what is not there changes nothing
		}
		if value != "" {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settings (wallet_id, key, value) VALUES (?, ?, ?)`, owner, key, value); err != nil {
				return fmt.Errorf("set %s %q: %w", scope(name), key, err)
			}
		}
		return s.appendJournal(ctx, tx, w, ActionSettingSet, map[string]any{
			"key": key, "value": redactURL(value), "removed": value == "",
		})
	})
}

// Setting returns key's value for the wallet called name, or the global one
// when name is "". It does not fall back from a wallet to the global value;
// ErrNotFound when unset.
func (s *Store) Setting(ctx context.Context, name, key string) (string, error) {
	var value string
	err := s.read(ctx, func(tx *dbTx) error {
		_, owner, err := settingOwner(ctx, tx, name)
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE coalesce(wallet_id, 0) = coalesce(?, 0) AND key = ?`, owner, key).Scan(&value)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s %q %w", scope(name), key, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("read %s %q: %w", scope(name), key, err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return value, nil
}

// SetPolicy stores the spending policy of the wallet called name, a JSON
// object the coordinator defines (an empty object or nil removes it), and
// journals the new policy as policy.set.
func (s *Store) SetPolicy(ctx context.Context, name string, policy json.RawMessage) error {
	var obj map[string]any
	if len(policy) > 0 {
		if err := json.Unmarshal(policy, &obj); err != nil || obj == nil {
			return fmt.Errorf("set the policy of wallet %q: not a JSON object: %w", name, ErrInvalid)
		}
	}
	return s.write(ctx, func(tx *dbTx) error {
		wid, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		if len(obj) == 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM policies WHERE wallet_id = ?`, wid); err != nil {
				return fmt.Errorf("remove the policy of wallet %q: %w", name, err)
			}
			obj = map[string]any{}
		} else if _, err := tx.ExecContext(ctx, `INSERT INTO policies (wallet_id, policy, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (wallet_id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at`,
			wid, string(policy), s.stamp()); err != nil {
			return fmt.Errorf("set the policy of wallet %q: %w", name, err)
		}
		return s.appendJournal(ctx, tx, journalKey{wid, name}, ActionPolicySet, map[string]any{"policy": obj})
	})
}

// Policy returns the wallet's stored spending policy and when it was set;
// ErrNotFound when it has none.
func (s *Store) Policy(ctx context.Context, name string) (json.RawMessage, time.Time, error) {
	var policy string
	var at int64
	err := s.read(ctx, func(tx *dbTx) error {
		wid, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, `SELECT policy, updated_at FROM policies WHERE wallet_id = ?`, wid).Scan(&policy, &at)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("wallet %q has no spending policy: %w", name, ErrNotFound)
		}
		return err
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	return json.RawMessage(policy), fromStamp(at), nil
}
