package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/hw/soft"
	"github.com/countersign/countersign/wallet"
)

// GlobalOptions are the persistent flags every command shares.
type GlobalOptions struct {
	JSON    bool
	Fields  string
	DataDir string
	Network string
	Yes     bool
	Backend string
	// Insecure allows a backend reached unencrypted over the network.
	Insecure bool
	// Operator names who runs the command in the audit journal
	// (--operator; else $COUNTERSIGN_OPERATOR; else the OS user, or on
	// PostgreSQL the database role).
	Operator string
	// Store is --store: the store's location (sqlite:PATH or
	// postgres://...); see Factory.StoreLocation.
	Store string
}

// Factory holds the dependencies commands need. It is built once in
// Execute (or by a test) and handed to every NewCmd function; costly values
// are created on first use and cached here, never in package globals.
type Factory struct {
	IO     *Streams
	Getenv func(string) string
	Global *GlobalOptions

	// keyWorkFactor, when non-zero, lowers the software keys' scrypt cost.
	// Only test code sets it (see testkdf_on.go): a shipped binary cannot
	// be talked into weak key encryption.
	keyWorkFactor int

	// selfCommand builds a command that runs this program with args (the
	// key agent `key unlock` starts); tests run their own binary instead.
	selfCommand func(args ...string) (*exec.Cmd, error)

	mu      sync.Mutex
	closers []func() error
	store   *wallet.Store
	coord   *coordinator.Coordinator
}

// NewFactory returns a Factory over the given streams and environment.
func NewFactory(io *Streams, getenv func(string) string) *Factory {
	if getenv == nil {
		getenv = os.Getenv
	}
	return &Factory{IO: io, Getenv: getenv, Global: &GlobalOptions{}, keyWorkFactor: testWorkFactor(getenv)}
}

// DataDir is --data-dir, else $COUNTERSIGN_DATA_DIR, else
// $XDG_DATA_HOME/countersign, else ~/.local/share/countersign.
func (f *Factory) DataDir() (string, error) {
	if f.Global.DataDir != "" {
		return f.Global.DataDir, nil
	}
	if d := f.Getenv("COUNTERSIGN_DATA_DIR"); d != "" {
		return d, nil
	}
	if d := f.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "countersign"), nil
	}
	home := f.Getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("cannot find a data directory: set --data-dir or COUNTERSIGN_DATA_DIR (%v)", err)
		}
		home = h
	}
	return filepath.Join(home, ".local", "share", "countersign"), nil
}

// storeFile is the file in the data directory where `store set` keeps
// the store's location. It may hold a database password: mode 0600.
const storeFile = "store.url"

// Where a store location came from (StoreLocation).
const (
	storeFromFlag    = "flag"
	storeFromEnv     = "env"
	storeFromFile    = "store set"
	storeFromDefault = "default"
)

// StoreLocation is where the wallet store lives: --store, else
// $COUNTERSIGN_STORE, else what `store set` saved in the data directory,
// else "" (the SQLite database in the data directory). The second result
// says which (flag, env, store set, default).
func (f *Factory) StoreLocation() (string, string, error) {
	if f.Global.Store != "" {
		return f.Global.Store, storeFromFlag, nil
	}
	if v := f.Getenv("COUNTERSIGN_STORE"); v != "" {
		return v, storeFromEnv, nil
	}
	dir, err := f.DataDir()
	if err != nil {
		return "", "", err
	}
	b, err := os.ReadFile(filepath.Join(dir, storeFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", storeFromDefault, nil
	case err != nil:
		return "", "", fmt.Errorf("read the saved store location: %w", err)
	}
	return strings.TrimSpace(string(b)), storeFromFile, nil
}

// onClose registers cleanup run when the command finishes.
func (f *Factory) onClose(fn func() error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closers = append(f.closers, fn)
}

// Close releases everything the factory opened, newest first.
func (f *Factory) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.closers) - 1; i >= 0; i-- {
		_ = f.closers[i]()
	}
	f.closers = nil
}

// Store opens the wallet store in the data directory once per command.
func (f *Factory) Store() (*wallet.Store, error) {
	f.mu.Lock()
	if f.store != nil {
		defer f.mu.Unlock()
		return f.store, nil
	}
	f.mu.Unlock()
	dir, err := f.DataDir()
	if err != nil {
		return nil, err
	}
	loc, _, err := f.StoreLocation()
	if err != nil {
		return nil, err
	}
	s, err := wallet.OpenStore(context.Background(), dir, loc)
	if err != nil {
		return nil, err
	}
	op := f.Global.Operator
	if op == "" {
		op = f.Getenv("COUNTERSIGN_OPERATOR")
	}
	s.SetOperator(op)
	f.mu.Lock()
	f.store = s
	f.mu.Unlock()
	f.onClose(s.Close)
	return s, nil
}

// Coordinator returns the application layer over the store, built once per
// command with the global flags' backend override.
func (f *Factory) Coordinator() (*coordinator.Coordinator, error) {
	f.mu.Lock()
	c := f.coord
	f.mu.Unlock()
	if c != nil {
		return c, nil
	}
	s, err := f.Store()
	if err != nil {
		return nil, err
	}
	c = &coordinator.Coordinator{
		Store:           s,
		BackendOverride: f.Global.Backend,
		BackendDefault:  f.Getenv("COUNTERSIGN_BACKEND"),
		Insecure:        f.Global.Insecure,
		LocalKeys: func() ([]soft.KeyInfo, error) {
			ks, err := f.KeyStore()
			if err != nil {
				return nil, err
			}
			return ks.List()
		},
	}
	f.mu.Lock()
	f.coord = c
	f.mu.Unlock()
	return c, nil
}
