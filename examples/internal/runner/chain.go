package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/countersign/countersign/internal/regtest"
)

// Chain is a regtest node plus the faucet that serves it on loopback.
type Chain struct {
	Node *regtest.Node
	// FaucetURL is the faucet's base URL, secret path included; scripts
	// get it in COUNTERSIGN_FAUCET_URL.
	FaucetURL string

	dir  string
	srv  *http.Server
	done chan struct{} // closed when the faucet server has returned
}

// buildNotice is how long EnsureBtcd may take before the user is told that
// btcd is being built (a cached binary answers at once).
const buildNotice = time.Second

// StartChain starts a btcd regtest node with its data in dir (building the
// pinned btcd on first use) and a faucet for it on a free loopback port.
func StartChain(ctx context.Context, dir string, log io.Writer) (*Chain, error) {
	if log == nil {
		log = io.Discard
	}
	type built struct {
		bin string
		err error
	}
	ch := make(chan built, 1)
	go func() {
		bin, err := regtest.EnsureBtcd(ctx, "")
		ch <- built{bin, err}
	}()
	var b built
	select {
	case b = <-ch:
	case <-time.After(buildNotice):
		cache, _ := regtest.DefaultCacheDir()
		fmt.Fprintf(log, "  building btcd %s into %s (first run only; a minute or two)...\n", regtest.BtcdVersion, cache)
		b = <-ch
	}
	if b.err != nil {
		return nil, b.err
	}
	node, err := regtest.StartNode(ctx, regtest.Options{Binary: b.bin, DataDir: dir})
	if err != nil {
		return nil, err
	}
	c := &Chain{Node: node, dir: dir, done: make(chan struct{})}
	LogProcess(log, "btcd "+regtest.BtcdVersion+" regtest node", node.PID(), "rpc "+node.RPCAddr())

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = node.Stop()
		return nil, fmt.Errorf("runner: faucet: %w", err)
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	prefix := "/" + hex.EncodeToString(secret)
	c.FaucetURL = "http://" + l.Addr().String() + prefix
	c.srv = &http.Server{Handler: http.StripPrefix(prefix, faucetHandler(node)), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(c.done)
		_ = c.srv.Serve(l)
	}()
	fmt.Fprintf(log, "  %-30s http://%s\n", "regtest faucet", l.Addr())
	return c, nil
}

// Stop closes the faucet and stops the node (SIGTERM, then SIGKILL).
func (c *Chain) Stop() error {
	var errs []error
	if c.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := c.srv.Shutdown(ctx); err != nil {
			_ = c.srv.Close()
		}
		cancel()
		<-c.done
	}
	if err := c.Node.Stop(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
