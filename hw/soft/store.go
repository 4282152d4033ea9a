package soft

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/countersign/countersign/internal/atomicfile"
)

// Key kinds, as stored in the sidecar and reported by KeyInfo.Kind.
const (
	KindMnemonic = "mnemonic" // a BIP-39 mnemonic, with an optional BIP-39 passphrase
	KindXprv     = "xprv"     // a BIP-32 master private key (xprv or tprv)
)

const (
	secretExt  = ".age"
	sidecarExt = ".json"
	// maxKeyFile bounds what Open reads: a key file is a few hundred bytes,
	// so anything larger is not one of ours.
	maxKeyFile = 64 << 10
)

// validName is the key name rule: it becomes a file name, so it is kept to
// characters that are safe on every filesystem and in a shell.
// Compiled on first use: the {1,64} makes it the costliest of the
// binary's regexps, and most commands never name a key.
var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`) })

// KeyInfo is the public description of a stored key, readable without the
// passphrase.
type KeyInfo struct {
	Name        string
	Fingerprint [4]byte // BIP-32 fingerprint of the master key
	Network     string  // "mainnet", "testnet", "signet" or "regtest"
	Kind        string  // KindMnemonic or KindXprv
	Created     time.Time
}

// sidecar is the on-disk form of KeyInfo (NAME.json).
type sidecar struct {
	Version     int       `json:"version"`
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprint"`
	Network     string    `json:"network"`
	Kind        string    `json:"kind"`
	Created     time.Time `json:"created"`
}

// Store is a directory of encrypted keys. Its zero value is not usable; call
// NewStore.
type Store struct {
	dir string
	// workFactor is the scrypt cost (log2 N) for keys written from now on;
	// 0 keeps age's default, about a second of work on a laptop.
	workFactor int
}

// NewStore returns the key store in dir. Nothing is touched on disk until a
// key is written; a missing directory is an empty store.
func NewStore(dir string) *Store {
	return &Store{dir: dir}
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// SetWorkFactor sets the scrypt work factor (log2 of N, 1 to 30) for keys the
// store writes from now on. Lowering it makes a stolen key file cheaper to
// brute-force, so it exists for tests; users keep age's default. Open accepts
// any factor up to age's own limit.
func (s *Store) SetWorkFactor(logN int) error {
	if logN < 1 || logN > 30 {
		return fmt.Errorf("%w: scrypt work factor %d is out of range: use 1 to 30 (log2 of N)", ErrInvalid, logN)
	}
	s.workFactor = logN
	return nil
}

// checkName rejects names that are not [A-Za-z0-9._-]{1,64}.
func checkName(name string) error {
	if !validName().MatchString(name) {
		return fmt.Errorf("%w: key name %q: use 1 to 64 letters, digits, '.', '_' or '-'", ErrInvalid, name)
	}
	return nil
}

func (s *Store) path(name, ext string) string {
	return filepath.Join(s.dir, name+ext)
}

// List returns every key in the store, sorted by name. A key whose public
// file cannot be read is left out of the list and reported in the error,
// so one damaged key does not hide the others.
func (s *Store) List() ([]KeyInfo, error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the key store %s: %w", s.dir, err)
	}
	var (
		keys []KeyInfo
		errs []error
	)
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), secretExt)
		if !ok || e.IsDir() || checkName(name) != nil {
			continue // not a key file of ours (temporary files start with '.' and end otherwise)
		}
		info, err := s.Info(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		keys = append(keys, info)
	}
	return keys, errors.Join(errs...)
}

// Info returns the public data of one key without decrypting it.
func (s *Store) Info(name string) (KeyInfo, error) {
	if err := checkName(name); err != nil {
		return KeyInfo{}, err
	}
	if _, err := os.Stat(s.path(name, secretExt)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return KeyInfo{}, fmt.Errorf("key %q: %w (looked in %s); `countersign key list` shows the keys there", name, ErrNotFound, s.dir)
		}
		return KeyInfo{}, fmt.Errorf("key %q: %w", name, err)
	}
	return s.readSidecar(name)
}

// readSidecar reads and checks NAME.json.
func (s *Store) readSidecar(name string) (KeyInfo, error) {
	p := s.path(name, sidecarExt)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return KeyInfo{}, fmt.Errorf("key %q: its public file %s is missing (an interrupted write?); open the key once with its passphrase to rebuild it", name, p)
	}
	if err != nil {
		return KeyInfo{}, fmt.Errorf("key %q: read %s: %w", name, p, err)
	}
	var sc sidecar
	if err := json.Unmarshal(b, &sc); err != nil {
		return KeyInfo{}, fmt.Errorf("key %q: %s is not valid JSON (%v); delete it and open the key once to rebuild it", name, p, err)
	}
	info, err := sc.keyInfo()
	if err == nil && sc.Name != name {
		err = fmt.Errorf("it names key %q", sc.Name)
	}
	if err != nil {
		return KeyInfo{}, fmt.Errorf("key %q: %s is damaged: %v; delete it and open the key once to rebuild it", name, p, err)
	}
	return info, nil
}

// keyInfo validates a decoded sidecar.
func (sc *sidecar) keyInfo() (KeyInfo, error) {
	if sc.Version != 1 {
		return KeyInfo{}, fmt.Errorf("unknown version %d (this countersign reads version 1)", sc.Version)
	}
	fp, err := hex.DecodeString(sc.Fingerprint)
	if err != nil || len(fp) != 4 {
		return KeyInfo{}, fmt.Errorf("fingerprint %q is not 8 hex digits", sc.Fingerprint)
	}
	if sc.Kind != KindMnemonic && sc.Kind != KindXprv {
		return KeyInfo{}, fmt.Errorf("unknown kind %q", sc.Kind)
	}
	info := KeyInfo{Name: sc.Name, Network: sc.Network, Kind: sc.Kind, Created: sc.Created}
	copy(info.Fingerprint[:], fp)
	return info, nil
}

// writeSidecar writes NAME.json, replacing any earlier one.
func (s *Store) writeSidecar(info KeyInfo) error {
	b, err := json.MarshalIndent(sidecar{
		Version:     1,
		Name:        info.Name,
		Fingerprint: hex.EncodeToString(info.Fingerprint[:]),
		Network:     info.Network,
		Kind:        info.Kind,
		Created:     info.Created,
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the public data of key %q: %w", info.Name, err)
	}
	if err := atomicfile.Write(filepath.Join(s.dir, info.Name+sidecarExt), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("key %q: %w", info.Name, err)
	}
	return nil
}
