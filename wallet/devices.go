package wallet

import (
	"context"
	"fmt"
	"time"
)

// Registration records that a signing device knows the wallet: Coldcard and
// Jade keep an imported multisig config, Ledger returns an HMAC over the
// registered wallet policy that must be shown again at every use.
type Registration struct {
	Fingerprint  string // the cosigner's master fingerprint, 8 lower-case hex digits
	DeviceType   string // driver name, e.g. "coldcard", "ledger", "trezor"
	NameOnDevice string // the name the wallet was registered under on the device
	// Token is what the device returned to prove the registration (Ledger's
	// policy HMAC); nil for devices that return nothing.
	Token        []byte
	RegisteredAt time.Time // set by SetRegistration
}

// SetRegistration records r for the wallet called name, replacing an earlier
// registration of the same fingerprint and device type, and sets
// r.RegisteredAt. The fingerprint must be one of the wallet's cosigners
// (ErrNotFound otherwise): registering a device that cannot sign for the
// wallet is a mistake worth stopping.
func (s *Store) SetRegistration(ctx context.Context, name string, r *Registration) error {
	fp, err := normFingerprint(r.Fingerprint, false)
	if err != nil {
		return fmt.Errorf("register device for wallet %q: %w", name, err)
	}
	if r.DeviceType == "" {
		return fmt.Errorf("register device %s for wallet %q: no device type: %w", fp, name, ErrInvalid)
	}
	at := s.stamp()
	err = s.write(ctx, func(tx *dbTx) error {
		id, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		var cosigners int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM cosigners WHERE wallet_id = ? AND fingerprint = ?`, id, fp).Scan(&cosigners); err != nil {
			return fmt.Errorf("register device %s for wallet %q: %w", fp, name, err)
		}
		if cosigners == 0 {
			return fmt.Errorf("fingerprint %s is not a cosigner of wallet %q: %w; check the device holds one of the wallet's keys", fp, name, ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO registrations
			(wallet_id, fingerprint, device_type, name_on_device, token, registered_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (wallet_id, fingerprint, device_type) DO UPDATE SET
				name_on_device = excluded.name_on_device, token = excluded.token, registered_at = excluded.registered_at`,
			id, fp, r.DeviceType, r.NameOnDevice, r.Token, at); err != nil {
			return fmt.Errorf("register device %s for wallet %q: %w", fp, name, err)
		}
		// The token itself stays out of the journal: it is a credential.
		return s.appendJournal(ctx, tx, journalKey{id, name}, ActionDeviceRegister, map[string]any{
			"fingerprint": fp, "device_type": r.DeviceType, "name_on_device": r.NameOnDevice, "has_token": r.Token != nil,
		})
	})
	if err != nil {
		return err
	}
	r.Fingerprint = fp
	r.RegisteredAt = fromStamp(at)
	return nil
}

// Registrations returns the device registrations of the wallet called name,
// by fingerprint and device type.
func (s *Store) Registrations(ctx context.Context, name string) ([]Registration, error) {
	var out []Registration
	err := s.read(ctx, func(tx *dbTx) error {
		id, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+registrationColumns+`
			FROM registrations WHERE wallet_id = ? ORDER BY fingerprint, device_type`, id)
		if err != nil {
			return fmt.Errorf("list registrations of wallet %q: %w", name, err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRegistration(rows)
			if err != nil {
				return fmt.Errorf("list registrations of wallet %q: %w", name, err)
			}
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list registrations of wallet %q: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// registrationColumns is the SELECT list scanRegistration expects.
const registrationColumns = `fingerprint, device_type, name_on_device, token, registered_at`

// scanRegistration reads one registrations row (registrationColumns order).
func scanRegistration(row interface{ Scan(...any) error }) (Registration, error) {
	var r Registration
	var at int64
	if err := row.Scan(&r.Fingerprint, &r.DeviceType, &r.NameOnDevice, &r.Token, &at); err != nil {
		return r, err
	}
	r.RegisteredAt = fromStamp(at)
	return r, nil
}
