package runner

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
)

func TestParseAmount(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want btcutil.Amount
		ok   bool
	}{
		{"0.5", 50_000_000, true},
		{"0.5btc", 50_000_000, true},
		{"1", 100_000_000, true},
		{"150000sat", 150_000, true},
		{" 0.00000001 ", 1, true},
		{"0", 0, false},
		{"-1", 0, false},
		{"12sats", 0, false},
		{"abc", 0, false},
		{"5000", 0, false}, // more than the faucet pays
	} {
		got, err := parseAmount(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseAmount(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// The wrapper passes its arguments through to the command, whatever the
// quotes in the command's path.
func TestFaucetWrapper(t *testing.T) {
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "faucet")
	if err := writeFaucetWrapper(wrapper, []string{"/bin/echo", "it's", "faucet"}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(wrapper, "fund", "bcrt1q x", "0.5").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "it's faucet fund bcrt1q x 0.5\n"; got != want {
		t.Fatalf("wrapper ran %q, want %q", got, want)
	}
}

// scriptSession is a session with no chain and no emulators, enough to run
// shell scripts.
func scriptSession(t *testing.T) *Session {
	dir := t.TempDir()
	s := &Session{Dir: dir, DataDir: dir, WorkDir: dir, binDir: dir, toolsDir: dir, tmpDir: dir}
	return s
}

// pidsOf reads the PIDs a script wrote, one a line.
func pidsOf(t *testing.T, file string) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(file)
		var pids []int
		for _, f := range strings.Fields(string(b)) {
			n, err := strconv.Atoi(f)
			if err == nil {
				pids = append(pids, n)
			}
		}
		if len(pids) >= 2 || time.Now().After(deadline) {
			return pids
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func assertDead(t *testing.T, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("pid %d still exists (%v)", pid, err)
		}
	}
}

// Cancelling the context stops the script and everything it started, in
// the foreground and in the background.
func TestScriptCancelStopsGroup(t *testing.T) {
	s := scriptSession(t)
	script := filepath.Join(s.WorkDir, "s.sh")
	pidFile := filepath.Join(s.WorkDir, "pids")
	os.WriteFile(script, []byte("sleep 60 & echo $! >> pids\nsh -c 'echo $$ >> pids; exec sleep 60'\n"), 0o600)
	var out bytes.Buffer
	sc, err := s.StartScript(script, nil, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	pids := pidsOf(t, pidFile)
	if len(pids) != 2 {
		t.Fatalf("the script's children: %v", pids)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := sc.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stopping took %s: SIGTERM was not enough?", d)
	}
	assertDead(t, append(pids, sc.PID())...)
	if err := syscall.Kill(-sc.PID(), 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the process group is not empty (%v)", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// A script that exits and leaves a command in the background does not
// leave it running.
func TestScriptExitStopsLeftovers(t *testing.T) {
	s := scriptSession(t)
	script := filepath.Join(s.WorkDir, "s.sh")
	os.WriteFile(script, []byte("sleep 60 & echo $! > pids; echo $$ >> pids; exit 3\n"), 0o600)
	var out bytes.Buffer
	sc, err := s.StartScript(script, nil, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	err = sc.Wait(context.Background())
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("Wait: %v, want exit status 3", err)
	}
	assertDead(t, pidsOf(t, filepath.Join(s.WorkDir, "pids"))...)
}
