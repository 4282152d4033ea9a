package regtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/rpcclient"
)

// This file runs the btcd process: start it, wait for its RPC, stop it.

// errPortTaken marks a start that failed because a picked port was taken
// between picking and binding; StartNode retries with new ports.
var errPortTaken = errors.New("port already in use")

func startOnce(ctx context.Context, bin string, opts Options, timeout time.Duration) (*Node, error) {
	dataDir, ownsDir := opts.DataDir, false
	if dataDir == "" {
		dir, err := os.MkdirTemp("", "countersign-btcd-")
		if err != nil {
			return nil, fmt.Errorf("regtest: create data directory: %w", err)
		}
		dataDir, ownsDir = dir, true
	} else {
		if err := os.MkdirAll(dataDir, 0o755); err != nil {
			return nil, fmt.Errorf("regtest: create data directory: %w", err)
		}
		// A previous attempt may have left a chain behind; every node
		// starts from genesis.
		for _, sub := range []string{"data", "logs"} {
			if err := os.RemoveAll(filepath.Join(dataDir, sub)); err != nil {
				return nil, fmt.Errorf("regtest: clear data directory: %w", err)
			}
		}
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	cs, err := newCoins()
	if err != nil {
		return nil, err
	}
	n := &Node{
		exited:  make(chan struct{}),
		dataDir: dataDir,
		ownsDir: ownsDir,
		logPath: filepath.Join(dataDir, "btcd.log"),
		rpcAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		p2pAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
		user:    "countersign",
		pass:    randomHex(16),
		coins:   cs,
	}
	if err := n.launch(bin, opts.ExtraArgs); err != nil {
		n.cleanupDir()
		return nil, err
	}
	if err := n.waitReady(ctx, timeout); err != nil {
		_ = n.Stop()
		return nil, err
	}
	return n, nil
}

func (n *Node) launch(bin string, extra []string) error {
	// An empty config file keeps btcd away from ~/.btcd/btcd.conf (and
	// from writing a default one there).
	conf := filepath.Join(n.dataDir, "btcd.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		return fmt.Errorf("regtest: write %s: %w", conf, err)
	}
	logFile, err := os.Create(n.logPath)
	if err != nil {
		return fmt.Errorf("regtest: create %s: %w", n.logPath, err)
	}
	args := []string{
		"--configfile=" + conf,
		"--datadir=" + filepath.Join(n.dataDir, "data"),
		"--logdir=" + filepath.Join(n.dataDir, "logs"),
		"--regtest",
		"--txindex",
		"--addrindex",
		"--rpcuser=" + n.user,
		"--rpcpass=" + n.pass,
		"--notls", // allowed because RPC listens on loopback only
		"--rpclisten=" + n.rpcAddr,
		"--listen=" + n.p2pAddr,
		"--miningaddr=" + n.coins.addr.EncodeAddress(),
		// The default 250 MiB UTXO cache is pre-allocated; a test chain
		// needs almost none of it and several nodes may run at once.
		"--utxocachemaxsize=16",
		"--debuglevel=MINR=warn", // one line per mined block would bury the useful lines
	}
	args = append(args, extra...)
	n.cmd = exec.Command(bin, args...)
	n.cmd.Stdout = logFile
	n.cmd.Stderr = logFile
	setParentDeathSignal(n.cmd)
	if err := n.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("regtest: start %s: %w", bin, err)
	}
	go func() {
		n.exitErr = n.cmd.Wait()
		logFile.Close()
		close(n.exited)
	}()

	httpClient := &http.Client{Transport: &http.Transport{
		// btcd closes every RPC connection after answering.
		DisableKeepAlives: true,
	}}
	n.rpc = &rpcConn{url: "http://" + n.rpcAddr + "/", user: n.user, pass: n.pass, http: httpClient}
	n.client, err = rpcclient.New(&rpcclient.ConnConfig{
		Host:         n.rpcAddr,
		User:         n.user,
		Pass:         n.pass,
		HTTPPostMode: true,
		DisableTLS:   true,
	}, nil)
	if err != nil {
		_ = n.Stop()
		return fmt.Errorf("regtest: create RPC client: %w", err)
	}
	return nil
}

// waitReady polls the RPC server until it answers, the process exits, or
// the timeout passes.
func (n *Node) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		probe, cancelProbe := context.WithTimeout(ctx, 2*time.Second)
		err := n.rpc.call(probe, "getblockcount", nil)
		cancelProbe()
		if err == nil {
			return nil
		}
		select {
		case <-n.exited:
			tail := logTail(n.logPath, 30)
			if strings.Contains(tail, "address already in use") {
				return fmt.Errorf("regtest: btcd could not bind its ports: %w", errPortTaken)
			}
			return fmt.Errorf("regtest: btcd exited during startup (%v); last lines of %s:\n%s", n.exitErr, n.logPath, tail)
		case <-ctx.Done():
			return fmt.Errorf("regtest: btcd RPC at %s did not answer within %s (last error: %v); last lines of %s:\n%s",
				n.rpcAddr, timeout, err, n.logPath, logTail(n.logPath, 30))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop ends the node: SIGTERM, then SIGKILL if it has not exited after a
// few seconds. It removes the data directory if StartNode created it. Stop
// is idempotent.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() {
		n.stopErr = n.stop()
	})
	return n.stopErr
}

func (n *Node) stop() error {
	if n.client != nil {
		n.client.Shutdown()
	}
	var err error
	if n.cmd != nil && n.cmd.Process != nil {
		select {
		case <-n.exited:
		default:
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-n.exited:
			case <-time.After(stopGrace):
				if kerr := n.cmd.Process.Kill(); kerr != nil {
					err = fmt.Errorf("regtest: kill btcd (pid %d): %w", n.cmd.Process.Pid, kerr)
				}
				<-n.exited
			}
		}
	}
	n.cleanupDir()
	return err
}

func (n *Node) cleanupDir() {
	if n.ownsDir {
		_ = os.RemoveAll(n.dataDir)
	}
}

// freePorts asks the kernel for count distinct free loopback ports. The
// listeners stay open until all are picked so the same port is not handed
// out twice.
func freePorts(count int) ([]int, error) {
	ports := make([]int, 0, count)
	for i := 0; i < count; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("regtest: find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// logTail returns the last lines of a log file, or a note why it cannot.
func logTail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
