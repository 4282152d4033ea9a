package soft

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/internal/bip137"
	"github.com/countersign/countersign/psbt"
)

// Signer is an opened software key. It implements hw.Device (wrap it with
// hw.NewSigner for the checks every signer gets). Its methods are safe for
// concurrent use; after Close every method fails with ErrClosed.
type Signer struct {
	name string
	fp   [4]byte
	net  *chaincfg.Params

	dir string // the key store directory (MuSig2 nonces live under it)

	mu     sync.Mutex
	master *hdkeychain.ExtendedKey // nil once closed
}

var _ hw.Device = (*Signer)(nil)

// Name is the key's name in the store.
func (s *Signer) Name() string { return s.name }

// Info names the key for messages and lists.
func (s *Signer) Info() hw.DeviceInfo {
	return hw.DeviceInfo{Type: "key", Model: "software key", Path: s.name, Fingerprint: s.fpHex(), Name: "software key " + s.name}
}

// Network is the network the key was stored for.
func (s *Signer) Network() *chaincfg.Params { return s.net }

// Fingerprint is the BIP-32 fingerprint of the master key.
func (s *Signer) Fingerprint(ctx context.Context) ([4]byte, error) {
	if err := ctx.Err(); err != nil {
		return [4]byte{}, err
	}
	return s.fp, nil
}

// Xpub returns the extended public key at path from the master. Hardened
// steps are allowed: the private key is at hand.
func (s *Signer) Xpub(ctx context.Context, path descriptor.Path) (*hdkeychain.ExtendedKey, error) {
	master, unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var xpub *hdkeychain.ExtendedKey
	err = withChild(master, path, func(c *hdkeychain.ExtendedKey) error {
		xpub, err = publicCopy(c)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%w: key %q: xpub at %s: %v", hw.ErrDevice, s.name, path, err)
	}
	return xpub, nil
}

// Register does nothing: a software key has no wallet registry to enrol in.
func (s *Signer) Register(ctx context.Context, w *hw.Wallet) ([]byte, error) {
	_, unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	unlock()
	return nil, nil
}

// DisplayAddress derives the wallet's address at (branch, index) and checks
// that this key's public key is part of it. A software key has no screen:
// the address comes from the same computer that made it, so this is NOT the
// independent check a hardware device's display gives.
func (s *Signer) DisplayAddress(ctx context.Context, w *hw.Wallet, branch, index uint32) (string, error) {
	d, net, name := w.Descriptor, w.Network, w.Name
	master, unlock, err := s.lock(ctx)
	if err != nil {
		return "", err
	}
	defer unlock()
	if err := s.checkCosigner(master, d, net); err != nil {
		return "", err
	}
	derived, err := d.Derive(branch, index, net)
	if err != nil {
		return "", fmt.Errorf("derive address %d/%d of wallet %q: %w", branch, index, name, err)
	}
	for _, k := range derived.Keys {
		if k.Fingerprint != s.fp {
			continue
		}
		pub, _, err := derivePub(master, k.Path)
		if err == nil && bytes.Equal(pub.SerializeCompressed(), k.PubKey) {
			return derived.Address, nil
		}
	}
	return "", fmt.Errorf("%w: key %q (fingerprint %s) does not derive any public key of address %d/%d of wallet %q; the descriptor's paths for this key are wrong",
		psbt.ErrRefused, s.name, s.fpHex(), branch, index, name)
}

// SignPSBT adds this key's partial signatures to p (the adapter's private
// copy). It refuses a wallet the key is not a cosigner of.
func (s *Signer) SignPSBT(ctx context.Context, p *bpsbt.Packet, w *hw.Wallet) (*bpsbt.Packet, error) {
	master, unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if p == nil || p.UnsignedTx == nil {
		return nil, fmt.Errorf("%w: key %q was given no PSBT to sign", psbt.ErrMalformed, s.name)
	}
	if err := s.checkCosigner(master, w.Descriptor, w.Network); err != nil {
		return nil, err
	}
	if _, err := psbt.Sign(p, master); err != nil {
		return nil, fmt.Errorf("key %q (fingerprint %s): %w", s.name, s.fpHex(), err)
	}
	if w.Descriptor != nil && w.Descriptor.Script == descriptor.ScriptTr {
		if s.dir == "" {
			return nil, fmt.Errorf("key %q: no key store directory to keep MuSig2 nonces in", s.name)
		}
		priv, err := master.ECPrivKey()
		if err != nil {
			return nil, err
		}
		store, err := newNonceStore(s.dir, s.name, priv.Serialize())
		if err != nil {
			return nil, err
		}
		if _, err := psbt.SignMuSig2(ctx, p, master, store); err != nil {
			return nil, fmt.Errorf("key %q (fingerprint %s): MuSig2: %w", s.name, s.fpHex(), err)
		}
	}
	return p, nil
}

// Close wipes the master key. Later calls fail with ErrClosed.
func (s *Signer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.master != nil {
		s.master.Zero()
		s.master = nil
	}
	return nil
}

// lock checks ctx and takes the signer's mutex; unlock releases it.
func (s *Signer) lock(ctx context.Context) (*hdkeychain.ExtendedKey, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	if s.master == nil {
		s.mu.Unlock()
		return nil, nil, fmt.Errorf("key %q: %w", s.name, ErrClosed)
	}
	return s.master, s.mu.Unlock, nil
}

func (s *Signer) fpHex() string { return hex.EncodeToString(s.fp[:]) }

// SignMessage signs message as a Bitcoin signed message (BIP-137, legacy
// P2PKH format) with the master private key, and returns the P2PKH address
// of the master public key on the key's network and the base64 signature.
// The address's HASH160 begins with the key's fingerprint (the fingerprint
// is the first four bytes of that hash), so whoever checks the signature
// can tell which cosigner made it.
func (s *Signer) SignMessage(ctx context.Context, message string) (address, signature string, err error) {
	master, unlock, err := s.lock(ctx)
	if err != nil {
		return "", "", err
	}
	defer unlock()
	priv, err := master.ECPrivKey()
	if err != nil {
		return "", "", fmt.Errorf("%w: key %q: %v", hw.ErrDevice, s.name, err)
	}
	defer priv.Zero()
	return bip137.Sign(priv, message, s.net)
}

// nostrPath is NIP-06's derivation of a Nostr key from a BIP-32 master
// (github.com/nostr-protocol/nips/blob/master/06.md): m/44'/1237'/0'/0/0.
// countersign's Nostr key for the PSBT relay is the software key's own, at
// this path, so it is kept, encrypted and backed up like the key itself.
func nostrPath() descriptor.Path {
	return descriptor.Path{44 | hdkeychain.HardenedKeyStart, 1237 | hdkeychain.HardenedKeyStart, hdkeychain.HardenedKeyStart, 0, 0}
}

// NostrSecret returns the Nostr secret key at nostrPath (32 bytes,
// big-endian; the caller wipes it when done).
func (s *Signer) NostrSecret(ctx context.Context) ([32]byte, error) {
	var out [32]byte
	master, unlock, err := s.lock(ctx)
	if err != nil {
		return out, err
	}
	defer unlock()
	err = withChild(master, nostrPath(), func(c *hdkeychain.ExtendedKey) error {
		priv, err := c.ECPrivKey()
		if err != nil {
			return err
		}
		b := priv.Key.Bytes()
		copy(out[:], b[:])
		priv.Zero()
		return nil
	})
	return out, err
}

// BSMSKeyRecord makes this key's BIP-129 key record (round 1 of a BSMS
// setup, as a signer): KEY is the xpub at path with the master's
// fingerprint and the path as origin ("[fp/48'/0'/0'/2']xpub", the BIP's
// form), signed as a Bitcoin message by the private key at path. token is
// the coordinator's hex token ("00" for none); description is one line.
func (s *Signer) BSMSKeyRecord(ctx context.Context, token, description string, path descriptor.Path) (*formats.KeyRecord, error) {
	master, unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var rec *formats.KeyRecord
	err = withChild(master, path, func(c *hdkeychain.ExtendedKey) error {
		xpub, err := publicCopy(c)
		if err != nil {
			return err
		}
		priv, err := c.ECPrivKey()
		if err != nil {
			return err
		}
		defer priv.Zero()
		key := "[" + s.fpHex() + strings.ReplaceAll(path.Steps(), "h", "'") + "]" + xpub.String()
		rec, err = formats.NewBSMSKeyRecord(token, key, description, priv)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("key %q: BSMS key record at %s: %w", s.name, path, err)
	}
	return rec, nil
}
