package soft

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/countersign/countersign/internal/bip39"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/internal/atomicfile"
)

// Generate creates a new key from fresh entropy (crypto/rand) with a BIP-39
// mnemonic of 12 or 24 words, stores it encrypted to passphrase and returns
// the mnemonic. The caller shows the mnemonic once, for a paper backup; the
// store never prints it again.
func (s *Store) Generate(name string, words int, net *chaincfg.Params, passphrase []byte) (string, KeyInfo, error) {
	var bits int
	switch words {
	case 12:
		bits = 128
	case 24:
		bits = 256
	default:
		return "", KeyInfo{}, fmt.Errorf("%w: a new mnemonic has 12 or 24 words, not %d", ErrInvalid, words)
	}
	entropy := make([]byte, bits/8)
	defer wipe(entropy)
	if _, err := rand.Read(entropy); err != nil {
		return "", KeyInfo{}, fmt.Errorf("read random bytes for a new key: %w", err)
	}
	mnemonic, err := bip39.NewMnemonic(entropy)
	if err != nil {
		return "", KeyInfo{}, fmt.Errorf("encode the new key as a mnemonic: %w", err)
	}
	info, err := s.create(name, &payload{Kind: KindMnemonic, Mnemonic: mnemonic}, net, passphrase)
	if err != nil {
		return "", KeyInfo{}, err
	}
	return mnemonic, info, nil
}

// Import stores an existing key: a BIP-39 mnemonic (with bip39Passphrase,
// which may be empty) or a master xprv/tprv (bip39Passphrase must then be
// empty). The mnemonic's checksum and the extended key are verified first.
func (s *Store) Import(name, secret, bip39Passphrase string, net *chaincfg.Params, passphrase []byte) (KeyInfo, error) {
	if len(strings.Fields(secret)) == 1 {
		if bip39Passphrase != "" {
			return KeyInfo{}, fmt.Errorf("%w: a BIP-39 passphrase applies to a mnemonic, not to an extended private key; leave it empty", ErrInvalid)
		}
		// create checks the key while deriving its fingerprint.
		return s.create(name, &payload{Kind: KindXprv, Xprv: strings.TrimSpace(secret)}, net, passphrase)
	}
	mnemonic, err := normalizeMnemonic(secret)
	if err != nil {
		return KeyInfo{}, err
	}
	if err := checkBIP39Passphrase(bip39Passphrase); err != nil {
		return KeyInfo{}, err
	}
	return s.create(name, &payload{Kind: KindMnemonic, Mnemonic: mnemonic, BIP39Passphrase: bip39Passphrase}, net, passphrase)
}

// create encrypts p to passphrase and writes NAME.age, then NAME.json. The
// secret file is created with a hard link so that it never replaces an
// existing key, even when two processes race for the name.
func (s *Store) create(name string, p *payload, net *chaincfg.Params, passphrase []byte) (KeyInfo, error) {
	if err := checkName(name); err != nil {
		return KeyInfo{}, err
	}
	if net == nil {
		return KeyInfo{}, fmt.Errorf("%w: no network given for key %q: choose mainnet, testnet, signet or regtest", ErrInvalid, name)
	}
	if len(passphrase) == 0 {
		return KeyInfo{}, fmt.Errorf("%w: an empty passphrase would leave key %q unprotected; choose a passphrase", ErrInvalid, name)
	}
	// Fail fast, before a second of scrypt work; the link below is the
	// authoritative check.
	if _, err := os.Lstat(s.path(name, secretExt)); err == nil {
		return KeyInfo{}, s.existsError(name)
	}

	p.Version = 1
	p.Network = descriptor.NetworkName(net)
	master, err := p.master(net)
	if err != nil {
		return KeyInfo{}, err
	}
	fp, err := fingerprint(master)
	master.Zero()
	if err != nil {
		return KeyInfo{}, err
	}

	sealed, err := s.seal(p, passphrase)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("encrypt key %q: %w", name, err)
	}
	if err := ensureDir(s.dir); err != nil {
		return KeyInfo{}, err
	}
	if err := atomicfile.WriteWith(filepath.Join(s.dir, name+secretExt), sealed, atomicfile.Options{Perm: 0o600, Exclusive: true}); err != nil {
		if errors.Is(err, atomicfile.ErrExists) {
			return KeyInfo{}, s.existsError(name)
		}
		return KeyInfo{}, fmt.Errorf("store key %q: %w", name, err)
	}
	info := KeyInfo{Name: name, Fingerprint: fp, Network: p.Network, Kind: p.Kind, Created: time.Now().UTC().Truncate(time.Second)}
	if err := s.writeSidecar(info); err != nil {
		return KeyInfo{}, fmt.Errorf("%w (the encrypted key is stored; open it once to rebuild the public file)", err)
	}
	return info, nil
}

func (s *Store) existsError(name string) error {
	return fmt.Errorf("%w: a key named %q is already in %s; choose another name (keys are never overwritten)", ErrExists, name, s.dir)
}

// seal encrypts the payload in memory with an age scrypt recipient. The
// plaintext exists only in a buffer that is wiped before returning.
func (s *Store) seal(p *payload, passphrase []byte) ([]byte, error) {
	plain, err := json.Marshal(p)
	defer wipe(plain)
	if err != nil {
		return nil, err
	}
	// age takes the passphrase as a string; that copy cannot be wiped.
	r, err := age.NewScryptRecipient(string(passphrase))
	if err != nil {
		return nil, err
	}
	if s.workFactor != 0 {
		r.SetWorkFactor(s.workFactor)
	}
	var out bytes.Buffer
	w, err := age.Encrypt(&out, r)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
