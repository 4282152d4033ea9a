// Package regtest runs a real btcd node on the regression-test network for
// tests and demos.
//
// Start(t) builds the pinned btcd (BtcdVersion) on first use, caches the
// binary (see DefaultCacheDir), starts a node with a fresh data directory on
// free loopback ports, and stops it when the test ends. The node runs with
// --txindex and --addrindex, so getrawtransaction and searchrawtransactions
// work, and mines to the harness's own key, so Fund can pay any script from
// mature coinbase outputs. StartNode is the same without a testing.TB, for
// programs; its caller must call Stop.
//
// The harness needs a unix system (flock, SIGTERM). Tests that use Start are
// skipped under `go test -short`.
package regtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/rpcclient"
)

// Options configure StartNode. The zero value is ready to use.
type Options struct {
	// Binary is a btcd executable to run; empty builds and caches the
	// pinned version (EnsureBtcd).
	Binary string
	// CacheDir holds the built binary; empty means DefaultCacheDir.
	CacheDir string
	// DataDir receives the chain, the logs and btcd.log; empty creates a
	// temporary directory that Stop removes.
	DataDir string
	// StartTimeout bounds how long to wait for the RPC server to answer;
	// zero means 30 seconds.
	StartTimeout time.Duration
	// ExtraArgs are appended to btcd's command line.
	ExtraArgs []string
}

// Node is a running btcd regtest node. Its methods are safe for concurrent
// use.
type Node struct {
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has exited
	exitErr  error         // set before exited is closed
	dataDir  string
	ownsDir  bool
	logPath  string
	rpcAddr  string
	p2pAddr  string
	user     string
	pass     string
	rpc      *rpcConn
	client   *rpcclient.Client
	coins    *coins
	stopOnce sync.Once
	stopErr  error
}

const (
	defaultStartTimeout = 30 * time.Second
	stopGrace           = 5 * time.Second
	startAttempts       = 3 // new ports each time, in case another process took ours
)

// Start starts a node for the test and stops it when the test ends. It
// fails the test if the node cannot start and skips it under -short.
func Start(t testing.TB) *Node {
	t.Helper()
	if testing.Short() {
		t.Skip("regtest: starting a btcd node is skipped in -short mode")
	}
	// The first run also builds btcd, which takes a while on a cold cache.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	n, err := StartNode(ctx, Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("regtest: last lines of %s:\n%s", n.logPath, logTail(n.logPath, 40))
		}
		if err := n.Stop(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return n
}

// StartNode starts a node and waits until its RPC server answers. ctx bounds
// the build and the start, not the node's life: call Stop when done.
func StartNode(ctx context.Context, opts Options) (*Node, error) {
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = EnsureBtcd(ctx, opts.CacheDir); err != nil {
			return nil, err
		}
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = defaultStartTimeout
	}
	var lastErr error
	for attempt := 0; attempt < startAttempts; attempt++ {
		n, err := startOnce(ctx, bin, opts, timeout)
		if err == nil {
			return n, nil
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// RPCURL is the node's backend URL in the chain package's syntax,
// btcd://USER:PASS@127.0.0.1:PORT.
func (n *Node) RPCURL() string {
	u := url.URL{Scheme: "btcd", User: url.UserPassword(n.user, n.pass), Host: n.rpcAddr}
	return u.String()
}

// RPCAddr is the host:port of the node's RPC server.
func (n *Node) RPCAddr() string { return n.rpcAddr }

// Credentials are the RPC user and password.
func (n *Node) Credentials() (user, pass string) { return n.user, n.pass }

// Client is a btcd rpcclient for the node, in HTTP POST mode. Stop shuts
// it down.
func (n *Node) Client() *rpcclient.Client { return n.client }

// Params are the regtest chain parameters.
func (n *Node) Params() *chaincfg.Params { return &chaincfg.RegressionNetParams }

// DataDir is the node's data directory; LogPath its log file.
func (n *Node) DataDir() string { return n.dataDir }

// LogPath is the file btcd's output goes to.
func (n *Node) LogPath() string { return n.logPath }

// PID is the node's process id.
func (n *Node) PID() int { return n.cmd.Process.Pid }

// Exited is closed once the node's process has ended.
func (n *Node) Exited() <-chan struct{} { return n.exited }

// Mine mines count blocks paying the harness key and returns their hashes.
func (n *Node) Mine(ctx context.Context, count int) ([]chainhash.Hash, error) {
	if count <= 0 {
		return nil, fmt.Errorf("regtest: mine %d blocks: the count must be positive", count)
	}
	var hexes []string
	if err := n.rpc.call(ctx, "generate", &hexes, count); err != nil {
		return nil, err
	}
	hashes := make([]chainhash.Hash, len(hexes))
	for i, h := range hexes {
		hash, err := chainhash.NewHashFromStr(h)
		if err != nil {
			return nil, fmt.Errorf("regtest: generate returned a bad block hash %q: %w", h, err)
		}
		hashes[i] = *hash
	}
	return hashes, nil
}

// Tip returns the height and hash of the best block.
func (n *Node) Tip(ctx context.Context) (int32, chainhash.Hash, error) {
	var best struct {
		Hash   string `json:"hash"`
		Height int32  `json:"height"`
	}
	if err := n.rpc.call(ctx, "getbestblock", &best); err != nil {
		return 0, chainhash.Hash{}, err
	}
	hash, err := chainhash.NewHashFromStr(best.Hash)
	if err != nil {
		return 0, chainhash.Hash{}, fmt.Errorf("regtest: getbestblock returned a bad hash %q: %w", best.Hash, err)
	}
	return best.Height, *hash, nil
}
