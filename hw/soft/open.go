package soft

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"filippo.io/age"

	"github.com/countersign/countersign/descriptor"
)

// Open decrypts key name with passphrase and returns its signer. A wrong
// passphrase gives an error wrapping ErrWrongPassphrase. The public file is
// checked against the decrypted key, and rebuilt if it is missing.
func (s *Store) Open(name string, passphrase []byte) (*Signer, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	p, err := s.unseal(name, passphrase)
	if err != nil {
		return nil, err
	}
	net, err := descriptor.NetworkParams(p.Network)
	if err != nil {
		return nil, fmt.Errorf("key %q is damaged: its network %q is unknown: %v", name, p.Network, err)
	}
	master, err := p.master(net)
	if err != nil {
		return nil, fmt.Errorf("key %q is damaged: %w", name, err)
	}
	fp, err := fingerprint(master)
	if err != nil {
		master.Zero()
		return nil, err
	}
	if err := s.checkSidecar(name, p, fp); err != nil {
		master.Zero()
		return nil, err
	}
	return &Signer{name: name, master: master, fp: fp, net: net, dir: s.dir}, nil
}

// unseal reads and decrypts NAME.age.
func (s *Store) unseal(name string, passphrase []byte) (*payload, error) {
	path := s.path(name, secretExt)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("key %q: %w (looked in %s); `countersign key list` shows the keys there", name, ErrNotFound, s.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", name, err)
	}
	defer f.Close()

	id, err := age.NewScryptIdentity(string(passphrase))
	if err != nil {
		return nil, fmt.Errorf("key %q: %w: the passphrase is empty", name, ErrWrongPassphrase)
	}
	r, err := age.Decrypt(io.LimitReader(f, maxKeyFile), id)
	var noMatch *age.NoIdentityMatchError
	if errors.As(err, &noMatch) {
		return nil, fmt.Errorf("key %q: %w; try again (the key file is intact)", name, ErrWrongPassphrase)
	}
	if err != nil {
		return nil, fmt.Errorf("key %q: %s is not a readable age file (%v); restore it from a backup or import the key again under a new name", name, path, err)
	}
	plain, err := io.ReadAll(r)
	defer wipe(plain)
	if err != nil {
		return nil, fmt.Errorf("key %q: %s is damaged or truncated (%v); restore it from a backup or import the key again under a new name", name, path, err)
	}
	var p payload
	if err := json.Unmarshal(plain, &p); err != nil || p.Version != 1 {
		return nil, fmt.Errorf("key %q: %s decrypted, but its content is not a countersign key (version 1); was it written by a newer countersign?", name, path)
	}
	return &p, nil
}

// checkSidecar makes sure the public file describes the key that was just
// decrypted, since `key list` and wallet setup trust it. A missing public
// file (a crash between the two writes) is rebuilt.
func (s *Store) checkSidecar(name string, p *payload, fp [4]byte) error {
	_, statErr := os.Stat(s.path(name, sidecarExt))
	if errors.Is(statErr, fs.ErrNotExist) {
		info := KeyInfo{Name: name, Fingerprint: fp, Network: p.Network, Kind: p.Kind, Created: s.modTime(name)}
		if err := s.writeSidecar(info); err != nil {
			return fmt.Errorf("rebuild the public file of key %q: %w", name, err)
		}
		return nil
	}
	info, err := s.readSidecar(name)
	if err != nil {
		return err
	}
	if info.Fingerprint != fp || info.Network != p.Network || info.Kind != p.Kind {
		return fmt.Errorf("key %q: its public file %s says fingerprint %s on %s, but the encrypted key is %s on %s; the public file was changed: delete it and open the key again to rebuild it",
			name, s.path(name, sidecarExt), hex.EncodeToString(info.Fingerprint[:]), info.Network, hex.EncodeToString(fp[:]), p.Network)
	}
	return nil
}

// modTime is the best creation time left when the public file is lost.
func (s *Store) modTime(name string) (t time.Time) {
	if st, err := os.Stat(s.path(name, secretExt)); err == nil {
		t = st.ModTime().UTC().Truncate(time.Second)
	}
	return t
}
