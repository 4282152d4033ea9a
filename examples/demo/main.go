// Command countersign-demo runs countersign's tutorial (examples/demo.sh),
// or any other example script, in a private regtest playground: a btcd
// node, a faucet and two emulated Coldcards on loopback, and a fresh data
// directory. It is what `make demo` runs.
//
//	countersign-demo [-bin DIR] [-dir DIR]              the tutorial
//	countersign-demo [-bin DIR] [-dir DIR] run SCRIPT [ARGS...]   an example script
//	countersign-demo faucet fund ADDRESS AMOUNT | mine [N] | address
//
// The last form is the faucet client the scripts call (as `faucet`, a
// wrapper on their PATH that runs this program). Every process the demo
// starts is stopped by its PID when the script ends, fails, or on Ctrl-C
// or SIGTERM; what stays is the session folder with the countersign data
// directory, named at the end.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/countersign/countersign/examples/internal/runner"
)

const usage = `countersign-demo runs the countersign tutorial on a private regtest chain.

usage:
  countersign-demo [-bin DIR] [-dir DIR]                       the tutorial (examples/demo.sh)
  countersign-demo [-bin DIR] [-dir DIR] run SCRIPT [ARGS...]  another example script
  countersign-demo faucet fund ADDRESS AMOUNT | mine [N] | address

The playground is a btcd regtest node, a faucet and two emulated Coldcards,
all on this machine; everything is stopped when the script ends or on Ctrl-C.

flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "faucet" {
		return runner.FaucetMain(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("countersign-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	binDir := fs.String("bin", "", "folder holding countersign and countersign-emulator (default: beside this program, else bin/ of the source tree)")
	dir := fs.String("dir", "", "session folder, kept at the end (default: a new countersign-demo-* folder in the temporary directory)")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rest := fs.Args()
	var script string
	var scriptArgs []string
	switch {
	case len(rest) == 0:
	case rest[0] == "run" && len(rest) >= 2:
		script, scriptArgs = rest[1], rest[2:]
	default:
		fs.Usage()
		return 2
	}

	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "countersign-demo: cannot find its own executable for the faucet:", err)
		return 1
	}
	if *binDir == "" {
		if *binDir, err = findBinDir(self); err != nil {
			fmt.Fprintln(stderr, "countersign-demo:", err)
			return 1
		}
	}
	if script == "" {
		if script, err = findDemoScript(self); err != nil {
			fmt.Fprintln(stderr, "countersign-demo:", err)
			return 1
		}
	}
	if !isFile(script) {
		fmt.Fprintf(stderr, "countersign-demo: no script %s\n", script)
		return 2
	}
	if _, err := exec.LookPath("bash"); err != nil {
		fmt.Fprintln(stderr, "countersign-demo: the example scripts need bash in PATH")
		return 1
	}

	// Ctrl-C and SIGTERM cancel ctx; the signals stay caught until the
	// playground is down, so a second Ctrl-C cannot cut the cleanup short.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	var caught atomic.Int32
	go func() {
		sig := <-sigs
		if s, ok := sig.(syscall.Signal); ok {
			caught.Store(int32(s))
		}
		cancel()
	}()
	// The exit code of a run ended by a signal: 128 + its number, as a
	// shell reports it (130 for Ctrl-C).
	signalCode := func() int {
		if n := caught.Load(); n > 0 {
			return 128 + int(n)
		}
		return 130
	}

	if len(rest) == 0 {
		fmt.Fprintln(stderr, "countersign demo: a 2-of-3 multisig wallet from two Coldcards and a software key,")
		fmt.Fprintln(stderr, "end to end on a private regtest chain. No real bitcoin is involved.")
	}
	fmt.Fprintln(stderr)
	fmt.Fprintln(stderr, "Starting the playground (every process runs on this machine, on loopback):")
	s, err := runner.Start(ctx, runner.Config{
		BinDir:        *binDir,
		Dir:           *dir,
		FaucetCommand: []string{self, "faucet"},
		Log:           stderr,
	})
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "countersign-demo: interrupted while starting; everything started is stopped.")
			return signalCode()
		}
		fmt.Fprintln(stderr, "countersign-demo:", err)
		return 1
	}
	sc, err := s.StartScript(script, scriptArgs, stdout, stderr)
	if err == nil {
		runner.LogProcess(stderr, "script "+relative(script), sc.PID(), "in "+s.WorkDir)
		err = sc.Wait(ctx)
	}
	interrupted := ctx.Err() != nil
	code := 0
	switch {
	case interrupted:
		fmt.Fprintln(stderr, "\nInterrupted: stopping the playground.")
		code = signalCode()
	case err != nil:
		fmt.Fprintf(stderr, "\ncountersign-demo: %s failed (%v); the command above says why.\n", relative(script), err)
		// The script's own exit code, which is the failed command's.
		code = 1
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() > 0 {
			code = ee.ExitCode()
		}
	}
	cerr := s.Close()
	var stopped []string
	for _, p := range s.Processes() {
		stopped = append(stopped, fmt.Sprintf("%s (pid %d)", p.Name, p.PID))
	}
	fmt.Fprintf(stderr, "\nStopped %s.\n", strings.Join(stopped, ", "))
	if cerr != nil {
		fmt.Fprintln(stderr, "countersign-demo:", cerr)
		code = 1
	}
	fmt.Fprintf(stderr, "Kept the session folder %s:\n", s.Dir)
	fmt.Fprintf(stderr, "  data/  the countersign data directory (wallets, keys, drafts); look with\n")
	fmt.Fprintf(stderr, "         COUNTERSIGN_DATA_DIR=%s %s wallet list\n", s.DataDir, filepath.Join(relative(*binDir), "countersign"))
	fmt.Fprintf(stderr, "  work/  the files the script wrote (PSBTs, exports)\n")
	fmt.Fprintf(stderr, "Remove it with: rm -rf %s\n", s.Dir)
	return code
}

// findBinDir is the folder of this program if countersign is beside it
// (make demo builds all three into bin/), else bin/ of the source tree
// holding the working directory.
func findBinDir(self string) (string, error) {
	here := filepath.Dir(self)
	if isFile(filepath.Join(here, "countersign")) && isFile(filepath.Join(here, "countersign-emulator")) {
		return here, nil
	}
	if root, ok := sourceRoot(); ok {
		bin := filepath.Join(root, "bin")
		if isFile(filepath.Join(bin, "countersign")) {
			return bin, nil
		}
		return "", fmt.Errorf("%s has no countersign: run `make build` (or `make demo`) first", bin)
	}
	return "", errors.New("cannot find countersign and countersign-emulator: pass -bin DIR, or run from the source tree after `make build`")
}

// findDemoScript is examples/demo.sh of the source tree: beside bin/ when
// this program is bin/countersign-demo, else above the working directory.
func findDemoScript(self string) (string, error) {
	if root := filepath.Dir(filepath.Dir(self)); isSourceRoot(root) {
		return filepath.Join(root, "examples", "demo.sh"), nil
	}
	if root, ok := sourceRoot(); ok {
		if p := filepath.Join(root, "examples", "demo.sh"); isFile(p) {
			return p, nil
		}
	}
	return "", errors.New("cannot find examples/demo.sh: run from the source tree, or name a script with `run SCRIPT`")
}

// sourceRoot finds the countersign module above the working directory.
func sourceRoot() (string, bool) {
	d, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if isSourceRoot(d) {
			return d, true
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", false
		}
		d = parent
	}
}

// isSourceRoot reports whether dir holds the countersign module and its
// examples.
func isSourceRoot(dir string) bool {
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	return err == nil && bytes.HasPrefix(mod, []byte("module github.com/countersign/countersign\n")) &&
		isFile(filepath.Join(dir, "examples", "demo.sh"))
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// relative shortens p to a path relative to the working directory when it
// lies below it.
func relative(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if r, err := filepath.Rel(wd, abs); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}
