package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain lets the test binary act as the countersign command when
// COUNTERSIGN_AS_MAIN=1, so tests can start real separate processes without
// building a binary first.
func TestMain(m *testing.M) {
	if os.Getenv("COUNTERSIGN_AS_MAIN") == "1" {
		os.Exit(execute(cheapKeys))
	}
	os.Exit(m.Run())
}

// cheapKeys lowers the software keys' scrypt cost: the suite creates many.
// Only test code can do this (the shipped binary has no switch for it).
func cheapKeys(f *Factory) { f.keyWorkFactor = 10 }

// extraEnv adds variables to runCLI's environment (tests that use it do not
// run in parallel).
var extraEnv map[string]string

// shortTempDir is a temp dir with a short path: unix socket paths are
// limited to about 100 bytes, and t.TempDir() paths can be longer.
func shortTempDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "cs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// testPassphrase encrypts software keys in tests.
const testPassphrase = "correct horse battery staple"

// result is what one command run printed and returned.
type result struct {
	Out, Err string
	Code     int
}

// runCLI runs countersign in-process through the cobra tree with buffer
// streams (none a terminal) and the given data dir.
func runCLI(t testing.TB, dataDir string, stdin string, args ...string) result {
	t.Helper()
	io, in, out, errOut := TestStreams()
	in.WriteString(stdin)
	env := map[string]string{"COUNTERSIGN_DATA_DIR": dataDir, "HOME": dataDir,
		"COUNTERSIGN_PASSPHRASE": testPassphrase}
	for k, v := range extraEnv {
		env[k] = v
	}
	f := NewFactory(io, func(k string) string { return env[k] })
	cheapKeys(f)
	f.selfCommand = testBinaryAsMain
	defer f.Close()
	code := Run(context.Background(), f, args)
	return result{Out: out.String(), Err: errOut.String(), Code: code}
}

// mustRun fails the test unless the command exits 0.
func mustRun(t testing.TB, dataDir string, args ...string) string {
	t.Helper()
	r := runCLI(t, dataDir, "", args...)
	if r.Code != 0 {
		t.Fatalf("countersign %s: exit %d\nstderr: %s", strings.Join(args, " "), r.Code, r.Err)
	}
	return r.Out
}

// testBinaryAsMain is Factory.selfCommand in tests: this test binary, run
// as countersign (TestMain), instead of the program being tested.
func testBinaryAsMain(args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "COUNTERSIGN_AS_MAIN=1")
	return cmd, nil
}

// execCLI runs countersign as a separate process (this test binary).
func execCLI(t testing.TB, dataDir string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "COUNTERSIGN_AS_MAIN=1", "COUNTERSIGN_DATA_DIR="+dataDir,
		"COUNTERSIGN_PASSPHRASE="+testPassphrase)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	return cmd
}

// mustJSON decodes a command's JSON output or fails the test.
func mustJSON(t testing.TB, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}
