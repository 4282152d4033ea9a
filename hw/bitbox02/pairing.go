package bitbox02

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/countersign/countersign/internal/atomicfile"
)

// StaticKey is a Curve25519 keypair: the app's long-term Noise identity.
type StaticKey struct {
	Private []byte `json:"private"`
	Public  []byte `json:"public"`
}

// Pairings is what a host remembers about BitBox02 pairings, as the
// vendor's app keeps it: its own static Noise keypair, and the static
// public keys of the devices whose pairing code the user confirmed. A
// device in this list is opened without a pairing confirmation (unless the
// device itself asks for one: it forgets hosts after a reset).
type Pairings struct {
	AppStaticKey        *StaticKey `json:"appNoiseStaticKeypair,omitempty"`
	DeviceStaticPubkeys [][]byte   `json:"deviceNoiseStaticPubkeys"`
}

// Knows reports whether the device with static public key pub was paired.
func (p *Pairings) Knows(pub []byte) bool {
	for _, k := range p.DeviceStaticPubkeys {
		if bytes.Equal(k, pub) {
			return true
		}
	}
	return false
}

// PairingStore loads and saves Pairings. Load returns empty Pairings when
// nothing was saved yet.
type PairingStore interface {
	Load() (*Pairings, error)
	Save(*Pairings) error
}

// FileStore keeps Pairings in a JSON file (mode 0600: it holds the app's
// private key), written atomically. countersign keeps it at
// <data-dir>/bitbox02/pairings.json.
type FileStore struct {
	Path string
}

// Load reads the file; a missing file is empty Pairings.
func (s FileStore) Load() (*Pairings, error) {
	data, err := os.ReadFile(s.Path)
	if errors.Is(err, os.ErrNotExist) {
		return &Pairings{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read BitBox02 pairings: %w", err)
	}
	var p Pairings
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("BitBox02 pairings file %s is damaged (%v): move it away to pair again", s.Path, err)
	}
	if k := p.AppStaticKey; k != nil && (len(k.Private) != 32 || len(k.Public) != 32) {
		return nil, fmt.Errorf("BitBox02 pairings file %s holds a malformed key: move it away to pair again", s.Path)
	}
	return &p, nil
}

// Save writes the file, creating its folder (mode 0700).
func (s FileStore) Save(p *Pairings) error {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o700); err != nil {
		return fmt.Errorf("save BitBox02 pairings: %w", err)
	}
	if err := atomicfile.Write(s.Path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("save BitBox02 pairings: %w", err)
	}
	return nil
}

// MemoryStore keeps Pairings in memory: for tests, and for a one-off
// connection whose pairing should not be remembered.
type MemoryStore struct {
	mu sync.Mutex
	p  Pairings
}

// Load returns a copy of what was saved.
func (m *MemoryStore) Load() (*Pairings, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.p
	c.DeviceStaticPubkeys = append([][]byte(nil), m.p.DeviceStaticPubkeys...)
	return &c, nil
}

// Save replaces what was saved.
func (m *MemoryStore) Save(p *Pairings) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.p = *p
	m.p.DeviceStaticPubkeys = append([][]byte(nil), p.DeviceStaticPubkeys...)
	return nil
}
