package soft

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/btcsuite/btcd/btcec/v2/schnorr/musig2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/countersign/countersign/internal/atomicfile"
	"github.com/countersign/countersign/psbt"
)

// nonceDir is where a key keeps its MuSig2 secret nonces between the two
// signing rounds, next to the key files.
const nonceDir = "musig2-nonces"

// nonceStore is psbt.NonceStore for one software key: one file per secret
// nonce, named by its session id, encrypted with AES-256-GCM under a key
// derived from the master private key (secret nonces are as sensitive as
// keys and never touch the disk in the clear). Take reads the file and
// removes it (syncing the directory) before the nonce is returned, so a
// nonce can be used once: a second sign in the same state finds nothing
// and is refused.
type nonceStore struct {
	dir  string
	aead cipher.AEAD
}

func newNonceStore(keyDir, keyName string, masterPriv []byte) (*nonceStore, error) {
	k := chainhash.TaggedHash([]byte("countersign/musig2-nonce-store"), masterPriv)
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &nonceStore{dir: filepath.Join(keyDir, nonceDir, keyName), aead: aead}, nil
}

var _ psbt.NonceStore = (*nonceStore)(nil)

func (s *nonceStore) path(id [32]byte) string {
	return filepath.Join(s.dir, hex.EncodeToString(id[:])+".nonce")
}

// Save writes the encrypted secret nonce (temp file, fsync, rename, fsync
// of the directory), refusing to overwrite one already saved for id.
func (s *nonceStore) Save(ctx context.Context, id [32]byte, sec [musig2.SecNonceSize]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ensureDir(filepath.Dir(s.dir)); err != nil {
		return err
	}
	if err := ensureDir(s.dir); err != nil {
		return err
	}
	if _, err := os.Stat(s.path(id)); err == nil {
		return fmt.Errorf("a secret nonce for this session already exists")
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	box := s.aead.Seal(nonce, nonce, sec[:], id[:])
	return atomicfile.Write(s.path(id), box, 0o600)
}

// Take returns the secret nonce for id and deletes it first.
func (s *nonceStore) Take(ctx context.Context, id [32]byte) ([musig2.SecNonceSize]byte, error) {
	var out [musig2.SecNonceSize]byte
	if err := ctx.Err(); err != nil {
		return out, err
	}
	p := s.path(id)
	box, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return out, psbt.ErrNonceUsed
	}
	if err != nil {
		return out, err
	}
	// Erase before use: if anything below fails, the nonce is gone rather
	// than left for a second use.
	if err := os.Remove(p); err != nil {
		return out, fmt.Errorf("erasing the secret nonce before use: %w", err)
	}
	if err := atomicfile.SyncDir(s.dir); err != nil {
		return out, fmt.Errorf("erasing the secret nonce before use: %w", err)
	}
	n := s.aead.NonceSize()
	if len(box) < n {
		return out, errors.New("secret nonce file is damaged")
	}
	plain, err := s.aead.Open(nil, box[:n], box[n:], id[:])
	if err != nil || len(plain) != musig2.SecNonceSize {
		return out, errors.New("secret nonce file is damaged or belongs to another key")
	}
	copy(out[:], plain)
	for i := range plain {
		plain[i] = 0
	}
	return out, nil
}
