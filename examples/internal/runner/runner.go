// Package runner is the playground the example scripts run in: a private
// btcd regtest node, a loopback faucet that pays and mines on it, emulated
// Coldcards (countersign-emulator child processes on unix sockets), and a
// fresh countersign data directory, all under one temporary folder.
//
// The demo (examples/demo) and the examples' tests use it the same way:
//
//	s, err := runner.Start(ctx, runner.Config{BinDir: "bin", FaucetCommand: []string{self, "faucet"}})
//	defer s.Close()
//	sc, err := s.StartScript("examples/demo.sh", nil, os.Stdout, os.Stderr)
//	err = sc.Wait(ctx) // cancelling ctx stops the script's whole process group
//
// Every process the playground starts is stopped by its own PID in Close
// (the script's process group by the group's leader, which is the script),
// SIGTERM first and SIGKILL after a grace period, so nothing keeps running
// after the program ends, Ctrl-C included. On Linux the children also get a
// parent-death signal, so even a SIGKILLed demo leaves no node or emulator
// behind.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// DefaultColdcards are the seeds of the two emulated Coldcards: the
// published BIP-39 test mnemonics ("abandon ... about" and "legal winner
// ..."), worthless by construction. They appear on the emulators' command
// lines, which is fine for test seeds and never for real ones.
var DefaultColdcards = []string{
	"abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
	"legal winner thank year wave sausage worth useful legal winner thank yellow",
}

// DefaultPassphrase is the software-key passphrase the scripts get in
// COUNTERSIGN_PASSPHRASE, so that no command prompts.
const DefaultPassphrase = "correct horse battery staple"

// maxSocketDir is the longest folder path that still leaves room for a
// socket file name within the unix limit.
const maxSocketDir = 60

// Config says what a Session starts.
type Config struct {
	// BinDir holds countersign and countersign-emulator; it goes first in
	// the scripts' PATH.
	BinDir string
	// Dir is the session's folder; empty creates countersign-demo-* in the
	// temporary directory. It must be short: unix socket paths live in it.
	Dir string
	// Chain is a running node and faucet to share; nil starts one that
	// the session owns and stops.
	Chain *Chain
	// Coldcards are the seeds of the emulated Coldcards to start; nil
	// means DefaultColdcards, an empty non-nil slice none.
	Coldcards []string
	// FaucetCommand is the command line that runs the faucet client
	// (FaucetMain): usually this program re-executed with "faucet".
	FaucetCommand []string
	// Passphrase for software keys; empty means DefaultPassphrase.
	Passphrase string
	// Log receives one line per process started or stopped; nil discards.
	Log io.Writer
}

// Session is one playground: its folders, the chain and the emulators.
type Session struct {
	Dir     string // the session's folder
	DataDir string // COUNTERSIGN_DATA_DIR: the countersign data directory
	WorkDir string // the scripts' working directory (PSBTs, exports)
	Chain   *Chain
	// Coldcards are the running emulators, in Config.Coldcards order.
	Coldcards []*Emulator

	binDir      string
	toolsDir    string // holds the faucet wrapper
	tmpDir      string // TMPDIR for the scripts (countersign's client sockets)
	sockDir     string // holds the emulators' sockets and tmpDir
	ownsSockDir bool   // sockDir is a short folder of its own in /tmp
	passphrase  string
	ownsChain   bool
	log         io.Writer
	scripts     []*Script
}

// Start creates the session's folders and starts the chain (unless
// cfg.Chain is given) and the emulators. On error everything already
// started is stopped again.
func Start(ctx context.Context, cfg Config) (s *Session, err error) {
	if cfg.BinDir == "" {
		return nil, errors.New("runner: no BinDir: the folder holding countersign and countersign-emulator")
	}
	bin, err := filepath.Abs(cfg.BinDir)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"countersign", "countersign-emulator"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			return nil, fmt.Errorf("runner: %s is missing from %s (build it with `make build`)", name, bin)
		}
	}
	if len(cfg.FaucetCommand) == 0 {
		return nil, errors.New("runner: no FaucetCommand to run the faucet client with")
	}
	dir, created := cfg.Dir, false
	if dir == "" {
		if dir, err = os.MkdirTemp("", "countersign-demo-"); err != nil {
			return nil, fmt.Errorf("runner: create the session folder: %w", err)
		}
		created = true
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("runner: create the session folder: %w", err)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	s = &Session{
		Dir:        dir,
		DataDir:    filepath.Join(dir, "data"),
		WorkDir:    filepath.Join(dir, "work"),
		binDir:     bin,
		toolsDir:   filepath.Join(dir, "tools"),
		tmpDir:     filepath.Join(dir, "tmp"),
		sockDir:    dir,
		passphrase: cfg.Passphrase,
		log:        cfg.Log,
	}
	if s.passphrase == "" {
		s.passphrase = DefaultPassphrase
	}
	if s.log == nil {
		s.log = io.Discard
	}
	defer func() {
		if err != nil {
			s.Close()
			if created {
				// Nothing was run: there is nothing to keep.
				_ = os.RemoveAll(dir)
			}
		}
	}()
	// Unix socket paths are limited to about 100 bytes, and countersign
	// names its client sockets countersign-PID-RANDOM.sock (about 40) in
	// TMPDIR. Below a long session path (a deep $TMPDIR, as on macOS) the
	// sockets go to a short folder in /tmp instead, which Close removes.
	if len(dir) > maxSocketDir {
		if s.sockDir, err = os.MkdirTemp("/tmp", "cs-"); err != nil {
			return s, fmt.Errorf("runner: create a folder for sockets: %w", err)
		}
		s.ownsSockDir = true
		s.tmpDir = filepath.Join(s.sockDir, "tmp")
	}
	for _, d := range []string{s.DataDir, s.WorkDir, s.toolsDir, s.tmpDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return s, fmt.Errorf("runner: %w", err)
		}
	}
	if err := writeFaucetWrapper(filepath.Join(s.toolsDir, "faucet"), cfg.FaucetCommand); err != nil {
		return s, err
	}

	if cfg.Chain != nil {
		s.Chain = cfg.Chain
	} else {
		if s.Chain, err = StartChain(ctx, filepath.Join(dir, "node"), s.log); err != nil {
			return s, err
		}
		s.ownsChain = true
	}

	seeds := cfg.Coldcards
	if seeds == nil {
		seeds = DefaultColdcards
	}
	for i, seed := range seeds {
		e, err := StartColdcard(ctx, ColdcardConfig{
			Binary:   filepath.Join(bin, "countersign-emulator"),
			Mnemonic: seed,
			Socket:   filepath.Join(s.sockDir, fmt.Sprintf("cc%d.sock", i+1)),
			LogPath:  filepath.Join(dir, fmt.Sprintf("cc%d.log", i+1)),
		})
		if err != nil {
			return s, err
		}
		s.Coldcards = append(s.Coldcards, e)
		LogProcess(s.log, "Coldcard emulator "+e.Fingerprint, e.PID(), e.Socket)
	}
	return s, nil
}

// Env is the environment scripts run with: the process's own, minus any
// COUNTERSIGN_ setting that would point elsewhere, plus the playground's.
func (s *Session) Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH" || k == "TMPDIR" || k == "FAUCET" || k == "WORK":
		case strings.HasPrefix(k, "COUNTERSIGN_") && k != "COUNTERSIGN_INSECURE_TEST_WORK_FACTOR" && k != "COUNTERSIGN_CACHE_DIR":
		default:
			env = append(env, kv)
		}
	}
	socks := make([]string, len(s.Coldcards))
	for i, e := range s.Coldcards {
		socks[i] = e.Socket
	}
	env = append(env,
		"PATH="+s.binDir+string(os.PathListSeparator)+s.toolsDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"TMPDIR="+s.tmpDir,
		"COUNTERSIGN_DATA_DIR="+s.DataDir,
		"COUNTERSIGN_EMULATORS=1",
		"COUNTERSIGN_COLDCARD_SOCKET="+strings.Join(socks, ","),
		"COUNTERSIGN_PASSPHRASE="+s.passphrase,
		"FAUCET="+filepath.Join(s.toolsDir, "faucet"),
		"WORK="+s.WorkDir,
	)
	if s.Chain != nil {
		env = append(env, "COUNTERSIGN_BACKEND="+s.Chain.Node.RPCURL(), EnvFaucetURL+"="+s.Chain.FaucetURL)
	}
	return env
}

// LogProcess prints the line that announces a started process.
func LogProcess(w io.Writer, name string, pid int, detail string) {
	fmt.Fprintf(w, "  %-30s pid %-7d %s\n", name, pid, detail)
}

// Process is one process the session started.
type Process struct {
	Name string
	PID  int
}

// Processes lists every process the session started, running or not: the
// scripts, the emulators and, when the session owns it, the node.
func (s *Session) Processes() []Process {
	var ps []Process
	for _, sc := range s.scripts {
		ps = append(ps, Process{"script " + filepath.Base(sc.path), sc.PID()})
	}
	for _, e := range s.Coldcards {
		ps = append(ps, Process{"Coldcard emulator " + e.Fingerprint, e.PID()})
	}
	if s.ownsChain && s.Chain != nil {
		ps = append(ps, Process{"btcd", s.Chain.Node.PID()})
	}
	return ps
}

// Close stops every process the session started, by PID: scripts still
// running, then the emulators, then the chain if the session owns it. It
// removes the sockets, the node's chain and the scratch folders; the data
// and work folders stay. Close is safe to call more than once.
func (s *Session) Close() error {
	var errs []error
	for _, sc := range s.scripts {
		if err := sc.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, e := range s.Coldcards {
		if err := e.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.ownsChain && s.Chain != nil {
		if err := s.Chain.Stop(); err != nil {
			errs = append(errs, err)
		}
		_ = os.RemoveAll(s.Chain.dir)
	}
	for _, e := range s.Coldcards {
		_ = os.Remove(e.Socket)
		_ = os.Remove(e.Socket + ".lock")
		if len(errs) == 0 {
			_ = os.Remove(e.logPath)
		}
	}
	_ = os.RemoveAll(s.toolsDir)
	_ = os.RemoveAll(s.tmpDir)
	if s.ownsSockDir {
		_ = os.RemoveAll(s.sockDir)
	}
	return errors.Join(errs...)
}
