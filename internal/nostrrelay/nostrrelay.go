// Package nostrrelay starts a real Nostr relay for tests: the npm package
// @nostr-relay/core (with its validator) behind a ws server on loopback,
// from testdata/js (installed with `npm ci --prefix
// internal/nostrrelay/testdata/js`). No relay protocol is written here;
// see testdata/js/relay.cjs.
package nostrrelay

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Start runs the relay and returns its ws:// URL; it is stopped by its PID
// when the test ends. Without node or node_modules the test is skipped,
// or fails when $COUNTERSIGN_REQUIRE_INTEROP=1.
func Start(t testing.TB) string {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(self), "testdata", "js")
	unavailable := func(why string) {
		if os.Getenv("COUNTERSIGN_REQUIRE_INTEROP") == "1" {
			t.Fatalf("%s (COUNTERSIGN_REQUIRE_INTEROP=1 requires the test relay)", why)
		}
		t.Skip(why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable("node is not installed: the test relay needs it")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@nostr-relay", "core")); err != nil {
		unavailable("the test relay is not installed: run `npm ci --prefix internal/nostrrelay/testdata/js`")
	}
	cmd := exec.Command(node, filepath.Join(dir, "relay.cjs"))
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the test relay: %v", err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		_ = cmd.Wait()
	})
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				port <- p
			}
		}
	}()
	select {
	case p := <-port:
		return fmt.Sprintf("ws://127.0.0.1:%s", p)
	case <-time.After(30 * time.Second):
		t.Fatal("the test relay did not start within 30s")
	}
	return ""
}
