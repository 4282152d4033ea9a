package examples_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/countersign/countersign/examples/internal/runner"
	"github.com/countersign/countersign/internal/nostrrelay"
	"github.com/countersign/countersign/internal/pgtest"
)

// The example scripts call `faucet`, a wrapper that runs this test binary
// with "faucet" as its first argument.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "faucet" {
		os.Exit(runner.FaucetMain(os.Args[2:], os.Stdout, os.Stderr))
	}
	// Software keys with a cheap scrypt: the scripts create a dozen.
	os.Setenv("COUNTERSIGN_INSECURE_TEST_WORK_FACTOR", "10")
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds countersign, countersign-emulator and countersign-demo
// from this source tree once per test binary.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "countersign-examples-bin-")
		if buildErr != nil {
			return
		}
		for _, args := range [][]string{
			// The tag lets these binaries read COUNTERSIGN_INSECURE_TEST_WORK_FACTOR:
			// the scripts create a dozen software keys.
			{"build", "-tags", "countersign_insecure_kdf", "-o", binDir + string(os.PathSeparator), "./cmd/countersign", "./cmd/countersign-emulator"},
			{"build", "-o", filepath.Join(binDir, "countersign-demo"), "./examples/demo"},
		} {
			cmd := exec.Command("go", args...)
			cmd.Dir = moduleRoot(t)
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// syncBuffer is an output buffer the script's two streams share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// marker, when set, is closed the first time the output contains it.
	marker   string
	reached  chan struct{}
	reachedO sync.Once
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if b.marker != "" && strings.Contains(b.buf.String(), b.marker) {
		b.reachedO.Do(func() { close(b.reached) })
	}
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// exampleScripts are the workflow scripts: every *.sh here but the shared
// helpers and the tutorial, which TestDemo runs through the demo program.
func exampleScripts(t *testing.T) []string {
	t.Helper()
	all, err := filepath.Glob("*.sh")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range all {
		if s != "lib.sh" && s != "demo.sh" {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	if len(out) < 4 {
		t.Fatalf("found only %v", out)
	}
	return out
}

var requiresLine = regexp.MustCompile(`(?m)^# Requires: (.+)$`)

// requirements lists the tools a script's header says it needs.
func requirements(t *testing.T, script string) []string {
	t.Helper()
	b, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	var tools []string
	for _, m := range requiresLine.FindAllStringSubmatch(string(b), -1) {
		tools = append(tools, strings.Fields(strings.ReplaceAll(m[1], ",", " "))...)
	}
	return tools
}

var storeLine = regexp.MustCompile(`(?m)^# Store: postgres$`)

// storeArgs gives a script whose header says "# Store: postgres" a new
// database on a real PostgreSQL server (internal/pgtest) as its argument.
func storeArgs(t *testing.T, script string) []string {
	t.Helper()
	b, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	if !storeLine.Match(b) {
		return nil
	}
	srv := pgtest.ForTest(t)
	url, err := srv.CreateDB(context.Background(), "treasury")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{url}
	if relayLine.Match(b) {
		args = append(args, nostrrelay.Start(t))
	}
	return args
}

// relayLine marks a script that also takes a Nostr relay's URL, after the
// store: a real relay from npm (internal/nostrrelay) is started for it.
var relayLine = regexp.MustCompile(`(?m)^# Relay: nostr$`)

// TestExamples runs every example script against one regtest node, each in
// a session of its own (data directory, emulated Coldcards), and checks
// that it succeeds and leaves no process running.
func TestExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	bin := binaries(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	chain, err := runner.StartChain(ctx, filepath.Join(t.TempDir(), "node"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := chain.Stop(); err != nil {
			t.Error(err)
		}
		assertGone(t, "btcd", chain.Node.PID())
	}()

	for _, script := range exampleScripts(t) {
		t.Run(strings.TrimSuffix(script, ".sh"), func(t *testing.T) {
			for _, tool := range requirements(t, script) {
				if _, err := exec.LookPath(tool); err != nil {
					if os.Getenv("COUNTERSIGN_REQUIRE_INTEROP") == "1" {
						t.Fatalf("%s needs %s, which is not installed (COUNTERSIGN_REQUIRE_INTEROP=1)", script, tool)
					}
					t.Skipf("%s needs %s, which is not installed", script, tool)
				}
			}
			start := time.Now()
			s, err := runner.Start(ctx, runner.Config{
				BinDir:        bin,
				Dir:           t.TempDir(),
				Chain:         chain,
				FaucetCommand: []string{self, "faucet"},
			})
			if err != nil {
				t.Fatal(err)
			}
			out := &syncBuffer{}
			sc, err := s.StartScript(script, storeArgs(t, script), out, out)
			if err != nil {
				s.Close()
				t.Fatal(err)
			}
			runErr := sc.Wait(ctx)
			if err := s.Close(); err != nil {
				t.Error(err)
			}
			if runErr != nil {
				t.Fatalf("%s failed: %v\n%s", script, runErr, out)
			}
			for _, p := range s.Processes() {
				assertGone(t, p.Name, p.PID)
			}
			assertGroupGone(t, sc.PID())
			t.Logf("%s passed in %s", script, time.Since(start).Round(10*time.Millisecond))
		})
	}
}

// demoRun is one run of the countersign-demo program.
type demoRun struct {
	out      *syncBuffer
	cmd      *exec.Cmd
	done     chan error
	finished bool
}

// startDemo starts `countersign-demo` as `make demo` does, from the source
// tree, with no stdin and no terminal. Its session folder goes under a
// temporary directory of the test.
func startDemo(t *testing.T, marker string) *demoRun {
	t.Helper()
	bin := binaries(t)
	cmd := exec.Command(filepath.Join(bin, "countersign-demo"))
	cmd.Dir = moduleRoot(t)
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	out := &syncBuffer{marker: marker, reached: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &demoRun{out: out, cmd: cmd, done: make(chan error, 1)}
	go func() { r.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if r.finished {
			return
		}
		// A test that failed half-way still stops the demo the way a
		// user would, so that it stops its own children.
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

// wait waits for the demo to exit and returns its exit code.
func (r *demoRun) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case err := <-r.done:
		r.finished = true
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return r.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		r.cmd.Process.Kill()
		<-r.done
		r.finished = true
		t.Fatalf("the demo did not finish within %s:\n%s", timeout, r.out)
		return -1
	}
}

var (
	pidRE     = regexp.MustCompile(`(?m)^  (btcd|Coldcard emulator|script)\b.*\bpid (\d+)`)
	sessionRE = regexp.MustCompile(`Remove it with: rm -rf (\S+)`)
)

// started returns the processes the demo announced, by name.
func started(t *testing.T, out string) map[string]int {
	t.Helper()
	ps := map[string]int{}
	for _, m := range pidRE.FindAllStringSubmatch(out, -1) {
		pid, _ := strconv.Atoi(m[2])
		name := m[1]
		if name == "Coldcard emulator" {
			name += fmt.Sprintf(" #%d", len(ps))
		}
		ps[name] = pid
	}
	return ps
}

// TestDemo runs `make demo`'s program end to end, non-interactively, and
// checks the final balance and that every process it started is gone.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	start := time.Now()
	r := startDemo(t, "")
	code := r.wait(t, 5*time.Minute)
	out := r.out.String()
	if code != 0 {
		t.Fatalf("the demo exited %d:\n%s", code, out)
	}
	t.Logf("demo finished in %s", time.Since(start).Round(10*time.Millisecond))

	ps := started(t, out)
	if ps["btcd"] == 0 || ps["script"] == 0 || len(ps) != 4 {
		t.Fatalf("the demo did not announce btcd, two emulators and the script with their PIDs: %v\n%s", ps, out)
	}
	for name, pid := range ps {
		assertGone(t, name, pid)
	}
	assertGroupGone(t, ps["script"])

	// Every step is printed as a real countersign command before it runs.
	for _, step := range []string{
		"$ countersign device list",
		"$ countersign key new office",
		"$ countersign --network regtest wallet create demo --threshold 2 --device coldcard:",
		"$ countersign device register demo --with coldcard:",
		"$ countersign address demo --verify-on coldcard:",
		"$ countersign wallet sync demo",
		"$ countersign spend demo --to ",
		"$ countersign psbt inspect pay.psbt",
		"$ countersign sign pay.psbt --with coldcard:",
		"$ countersign psbt combine pay-cc1.psbt pay-cc2.psbt",
		"$ countersign psbt finalize pay-signed.psbt",
		"$ countersign psbt broadcast pay.tx",
		"$ countersign wallet balance demo",
	} {
		if !strings.Contains(out, step) {
			t.Errorf("the demo's output lacks the step %q", step)
		}
	}
	// Without a terminal there is no colour.
	if strings.Contains(out, "\x1b[") {
		t.Errorf("escape sequences in the output of a run without a terminal")
	}
	// The recovery words are shown once, with the warning.
	if n := strings.Count(out, "shown only this once"); n != 1 {
		t.Errorf("the mnemonic warning appears %d times", n)
	}

	// Nothing is left but the session folder with data/ and work/.
	m := sessionRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the demo did not name its session folder:\n%s", out)
	}
	dir := m[1]
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "data,work" {
		t.Errorf("the session folder holds %v, want only data and work", names)
	}

	// The final balance, read back from the data directory the demo kept:
	// 0.5 BTC received, 0.2 BTC paid, less the fee of the signed PSBT.
	cs := filepath.Join(binDir, "countersign")
	var bal struct {
		Confirmed   int64 `json:"confirmed_sat"`
		Unconfirmed int64 `json:"unconfirmed_sat"`
	}
	runJSON(t, &bal, cs, "--data-dir", filepath.Join(dir, "data"), "--json", "wallet", "balance", "demo")
	var rep struct {
		Fee   int64 `json:"fee"`
		Ready bool  `json:"ready_to_finalize"`
	}
	runJSON(t, &rep, cs, "--data-dir", filepath.Join(dir, "data"), "--json", "psbt", "inspect", filepath.Join(dir, "work", "pay-signed.psbt"))
	if !rep.Ready || rep.Fee <= 0 {
		t.Fatalf("pay-signed.psbt: %+v", rep)
	}
	if want := int64(50_000_000 - 20_000_000 - rep.Fee); bal.Confirmed != want || bal.Unconfirmed != 0 {
		t.Fatalf("final balance %+v, want %d confirmed (fee %d)", bal, want, rep.Fee)
	}
}

// TestDemoInterrupt sends SIGINT (Ctrl-C) or SIGTERM to the demo while it
// is running a countersign command and checks that it stops every process
// it started, exits 128+signal and leaves no socket or node data behind.
func TestDemoInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tc.sig.String(), func(t *testing.T) { interruptDemo(t, tc.sig, tc.code) })
	}
}

func interruptDemo(t *testing.T, sig syscall.Signal, wantCode int) {
	r := startDemo(t, "$ countersign spend demo")
	select {
	case <-r.out.reached:
	case err := <-r.done:
		r.finished = true
		t.Fatalf("the demo ended (%v) before reaching the spend step:\n%s", err, r.out)
	case <-time.After(5 * time.Minute):
		t.Fatalf("the demo did not reach the spend step:\n%s", r.out)
	}
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	code := r.wait(t, 30*time.Second)
	out := r.out.String()
	if code != wantCode {
		t.Errorf("the demo stopped by %v exited %d, want %d:\n%s", sig, code, wantCode, out)
	}
	if !strings.Contains(out, "Interrupted") || strings.Contains(out, "== 7. The result ==") {
		t.Errorf("the demo was not interrupted mid-way:\n%s", out)
	}
	ps := started(t, out)
	if ps["btcd"] == 0 || ps["script"] == 0 || len(ps) != 4 {
		t.Fatalf("the demo did not announce btcd, two emulators and the script with their PIDs: %v\n%s", ps, out)
	}
	for name, pid := range ps {
		assertGone(t, name, pid)
	}
	assertGroupGone(t, ps["script"])

	m := sessionRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the interrupted demo did not name its session folder:\n%s", out)
	}
	filepath.WalkDir(m[1], func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type()&os.ModeSocket != 0 {
			t.Errorf("socket left behind: %s", path)
		}
		if rel, _ := filepath.Rel(m[1], path); rel == "node" || rel == "tmp" || rel == "tools" {
			t.Errorf("left behind: %s", path)
		}
		return nil
	})
}

// runJSON runs a command and decodes its stdout.
func runJSON(t *testing.T, v any, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// assertGone fails unless no process has the given PID.
func assertGone(t *testing.T, name string, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Errorf("%s: no PID", name)
		return
	}
	err := syscall.Kill(pid, 0)
	if errors.Is(err, syscall.ESRCH) {
		return
	}
	t.Errorf("%s (pid %d) is still there (kill 0: %v): %s", name, pid, err, procState(pid))
}

// assertGroupGone fails if any process is left in the process group pgid
// (the script and every command it started).
func assertGroupGone(t *testing.T, pgid int) {
	t.Helper()
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process group %d still has members (kill 0: %v)", pgid, err)
	}
}

// procState describes a process from /proc, for failure messages.
func procState(pid int) string {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "(no /proc entry)"
	}
	defer f.Close()
	var parts []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if l := s.Text(); strings.HasPrefix(l, "Name:") || strings.HasPrefix(l, "State:") || strings.HasPrefix(l, "PPid:") {
			parts = append(parts, strings.Join(strings.Fields(l), " "))
		}
	}
	return strings.Join(parts, ", ")
}
