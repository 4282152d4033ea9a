package wallet

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Label record types: BIP-329's six, and "wallet" (countersign's own, a
// label for the wallet itself, which BIP-329 tells other importers to
// ignore).
const (
	LabelTx     = "tx"
	LabelAddr   = "addr"
	LabelPubkey = "pubkey"
	LabelInput  = "input"
	LabelOutput = "output"
	LabelXpub   = "xpub"
	LabelWallet = "wallet"
)

// ValidLabelType reports whether the store keeps records of type t.
func ValidLabelType(t string) bool {
	switch t {
	case LabelTx, LabelAddr, LabelPubkey, LabelInput, LabelOutput, LabelXpub, LabelWallet:
		return true
	}
	return false
}

// MaxLabelBytes bounds one label text: BIP-329 suggests 255 characters as
// an importer's limit; countersign keeps more (a note can be a sentence or
// two) but not a file's worth.
const MaxLabelBytes = 4096

// Label is one BIP-329 record of a wallet. Label, Origin and Spendable are
// nil when the record has none; Extra holds the record's other keys (the
// BIP's additional fields, or anything newer) as a JSON object, so that an
// export gives back what was imported.
type Label struct {
	Type      string
	Ref       string
	Label     *string
	Origin    *string
	Spendable *bool
	Extra     json.RawMessage // a JSON object; nil or "{}" when none
	UpdatedAt time.Time
}

func (l *Label) check(name string) error {
	switch {
	case !ValidLabelType(l.Type):
		return fmt.Errorf("label for wallet %q: unknown type %q: %w", name, l.Type, ErrInvalid)
	case l.Ref == "" || len(l.Ref) > MaxLabelBytes:
		return fmt.Errorf("label for wallet %q: empty or oversized reference: %w", name, ErrInvalid)
	case l.Label != nil && len(*l.Label) > MaxLabelBytes:
		return fmt.Errorf("label for %s %s: %d bytes, above the %d the store keeps: %w", l.Type, l.Ref, len(*l.Label), MaxLabelBytes, ErrInvalid)
	case l.Origin != nil && len(*l.Origin) > MaxLabelBytes:
		return fmt.Errorf("label for %s %s: oversized origin: %w", l.Type, l.Ref, ErrInvalid)
	case l.Spendable != nil && l.Type != LabelOutput:
		return fmt.Errorf("label for %s %s: spendable is only for outputs (BIP-329): %w", l.Type, l.Ref, ErrInvalid)
	case len(l.Extra) > 0 && !json.Valid(l.Extra):
		return fmt.Errorf("label for %s %s: extra fields are not JSON: %w", l.Type, l.Ref, ErrInvalid)
	}
	return nil
}

// upsertLabel merges l into the stored record inside tx: a nil Label,
// Origin or Spendable leaves the stored value (BIP-329: an import without
// them must not alter them), Extra's keys are merged over the stored ones.
func (s *Store) upsertLabel(ctx context.Context, tx *dbTx, wid int64, l *Label) error {
	extra := "{}"
	if len(l.Extra) > 0 {
		extra = string(l.Extra)
	}
	var spendable any
	if l.Spendable != nil {
		spendable = 0
		if *l.Spendable {
			spendable = 1
		}
	}
	// SQLite's json() stores the extra fields minified; PostgreSQL has no
	// such function (from version 16 JSON() is a constructor of the json
	// type), and the fields were checked to be JSON already (check).
	extraArg := "json(?)"
	if tx.pg {
		extraArg = "?"
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO labels (wallet_id, type, ref, label, origin, spendable, extra, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, `+extraArg+`, ?)
		ON CONFLICT (wallet_id, type, ref) DO UPDATE SET
			label = coalesce(excluded.label, labels.label),
			origin = coalesce(excluded.origin, labels.origin),
			spendable = coalesce(excluded.spendable, labels.spendable),
			extra = json_patch(labels.extra, excluded.extra),
			updated_at = excluded.updated_at`,
		wid, l.Type, l.Ref, l.Label, l.Origin, spendable, extra, s.stamp())
	if err != nil {
		return fmt.Errorf("store label for %s %s: %w", l.Type, l.Ref, err)
	}
	return nil
}

// SetLabel gives the record (l.Type, l.Ref) of the wallet called name the
// text *l.Label; an empty text removes the label (and the record, when it
// holds nothing else). Journaled as label.set.
func (s *Store) SetLabel(ctx context.Context, name string, l Label) error {
	if l.Label == nil {
		return fmt.Errorf("set label of %s %s: no text: %w", l.Type, l.Ref, ErrInvalid)
	}
	if err := l.check(name); err != nil {
		return err
	}
	return s.write(ctx, func(tx *dbTx) error {
		wid, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		if *l.Label == "" {
			if _, err := tx.ExecContext(ctx, `UPDATE labels SET label = NULL, updated_at = ? WHERE wallet_id = ? AND type = ? AND ref = ?`,
				s.stamp(), wid, l.Type, l.Ref); err != nil {
				return fmt.Errorf("remove label of %s %s: %w", l.Type, l.Ref, err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM labels WHERE wallet_id = ? AND type = ? AND ref = ?
				AND label IS NULL AND origin IS NULL AND spendable IS NULL AND extra = '{}'`, wid, l.Type, l.Ref); err != nil {
				return fmt.Errorf("remove label of %s %s: %w", l.Type, l.Ref, err)
			}
		} else if err := s.upsertLabel(ctx, tx, wid, &l); err != nil {
			return err
		}
		return s.appendJournal(ctx, tx, journalKey{wid, name}, ActionLabelSet, map[string]any{
			"type": l.Type, "ref": l.Ref, "label": *l.Label,
		})
	})
}

// ImportLabels merges records into the wallet's labels in one transaction
// (see upsertLabel), journaled as one label.import entry. Records of a
// type the store does not keep are the caller's to drop first.
func (s *Store) ImportLabels(ctx context.Context, name string, ls []Label) error {
	for i := range ls {
		if err := ls[i].check(name); err != nil {
			return fmt.Errorf("record %d: %w", i+1, err)
		}
	}
	return s.write(ctx, func(tx *dbTx) error {
		wid, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		for i := range ls {
			if err := s.upsertLabel(ctx, tx, wid, &ls[i]); err != nil {
				return err
			}
		}
		return s.appendJournal(ctx, tx, journalKey{wid, name}, ActionLabelImport, map[string]any{"records": len(ls)})
	})
}

// Labels returns the wallet's label records in the order they were first
// stored (an import keeps its file's order).
func (s *Store) Labels(ctx context.Context, name string) ([]Label, error) {
	var out []Label
	err := s.read(ctx, func(tx *dbTx) error {
		wid, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		return eachRow(ctx, tx, fmt.Sprintf(`SELECT type, ref, label, origin, spendable, extra, updated_at
			FROM labels WHERE wallet_id = %d ORDER BY rowid`, wid), func(r rowScanner) error {
			var l Label
			var label, origin sql.NullString
			var spendable sql.NullInt64
			var extra string
			var at int64
			if err := r.Scan(&l.Type, &l.Ref, &label, &origin, &spendable, &extra, &at); err != nil {
				return fmt.Errorf("read labels of wallet %q: %w", name, err)
			}
			if label.Valid {
				l.Label = &label.String
			}
			if origin.Valid {
				l.Origin = &origin.String
			}
			if spendable.Valid {
				b := spendable.Int64 == 1
				l.Spendable = &b
			}
			if extra != "{}" {
				l.Extra = json.RawMessage(extra)
			}
			l.UpdatedAt = fromStamp(at)
			out = append(out, l)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
