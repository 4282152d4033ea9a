package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/hw/soft"
)

// defaultUnlockFor is how long `key unlock` keeps a key open by default.
const defaultUnlockFor = 10 * time.Minute

type keyUnlockJSON struct {
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprint"`
	Until       time.Time `json:"until"`
	PID         int       `json:"pid"`
}

func newCmdKeyUnlock(f *Factory) *cobra.Command {
	var forDur time.Duration
	var passFile string
	cmd := &cobra.Command{
		Use:   "unlock NAME [--for 10m]",
		Short: "Keep a software key open for a while, so that signing needs no passphrase",
		Long: `Open the key once (its passphrase and the key file's scrypt, about a second)
and keep it in a background agent for --for (default 10m, at most 24h):
until then sign --with key:NAME, key xpub, journal sign and bsms record
ask the agent instead of the passphrase, each in a fraction of a second,
as Bitcoin Core's walletpassphrase does for a wallet (the relay commands,
which need the key's Nostr secret itself, still open the key file).
Every check that runs before and after a signature still runs in the
process that asks.

While it is unlocked, any program running as your user can have the key
sign (the agent's socket, <data-dir>/keys/NAME.agent, is yours alone):
unlock it for as long as the work takes, and "countersign key lock NAME"
when done. The agent wipes the key when it locks: at the deadline, on
key lock, or when it is stopped (SIGTERM).`,
		Example: `  countersign key unlock hot --for 30m
  countersign sign pay.psbt --with key:hot --yes -o pay-hot.psbt
  countersign key lock hot`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return keyUnlockRun(c.Context(), f, args[0], forDur, passFile)
		},
	}
	cmd.Flags().DurationVar(&forDur, "for", defaultUnlockFor, "how long the key stays unlocked (at most 24h)")
	cmd.Flags().StringVar(&passFile, "passphrase-file", "", "read the key-store passphrase from this file")
	return withJSONFields(cmd, keyUnlockJSON{})
}

func keyUnlockRun(ctx context.Context, f *Factory, name string, forDur time.Duration, passFile string) error {
	if forDur <= 0 || forDur > soft.MaxAgentFor {
		return usagef("--for %s: give a duration above 0 and at most %s", forDur, soft.MaxAgentFor)
	}
	ks, err := f.KeyStore()
	if err != nil {
		return err
	}
	if _, err := ks.Info(name); err != nil {
		return err
	}
	if a, ok, err := ks.DialAgent(ctx, name); err != nil {
		return err
	} else if ok {
		return withHint(fmt.Errorf("key %q is already unlocked until %s (agent pid %d)", name, a.Until().Local().Format(time.DateTime), a.PID()),
			"countersign key lock "+name+", then unlock it again for another period")
	}
	pass, err := f.passphrase(passFile, "Passphrase for key "+name+": ", false)
	if err != nil {
		return err
	}
	dir, err := f.DataDir()
	if err != nil {
		return err
	}
	until := time.Now().Add(forDur).Truncate(time.Second)
	cmd, err := f.agentCommand("--data-dir", dir, "key", "agent", name, "--until", strconv.FormatInt(until.Unix(), 10))
	if err != nil {
		return err
	}
	ready, err := startAgent(ctx, cmd, pass)
	if err != nil {
		return err
	}
	if f.Global.JSON {
		return writeJSON(f.IO.Out, keyUnlockJSON{Name: name, Fingerprint: ready.fingerprint, Until: until, PID: ready.pid})
	}
	fmt.Fprintf(f.IO.ErrOut, "Key %s (fingerprint %s) is unlocked until %s (agent pid %d).\n", name, ready.fingerprint, until.Local().Format(time.DateTime), ready.pid)
	fmt.Fprintf(f.IO.ErrOut, "Lock it sooner with: countersign key lock %s\n", name)
	return nil
}

// agentCommand is the command that runs the agent: this program, detached
// from the terminal (its own session), its stderr discarded.
func (f *Factory) agentCommand(args ...string) (*exec.Cmd, error) {
	var cmd *exec.Cmd
	if f.selfCommand != nil {
		c, err := f.selfCommand(args...)
		if err != nil {
			return nil, err
		}
		cmd = c
	} else {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find this program to start the key agent: %w", err)
		}
		cmd = exec.Command(exe, args...)
	}
	detach(cmd)
	// The agent reads its passphrase from stdin, not from the environment
	// it would otherwise keep for its whole life.
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool {
		return strings.HasPrefix(kv, "COUNTERSIGN_PASSPHRASE=") || strings.HasPrefix(kv, "COUNTERSIGN_BIP39_PASSPHRASE=")
	})
	return cmd, nil
}

type agentReady struct {
	pid         int
	fingerprint string
}

// startAgent runs cmd, hands it the passphrase on its stdin (then wipes
// it and closes stdin) and waits for
// its first line: "ready FINGERPRINT" once the key is open and the socket
// listens, or "error KIND MESSAGE".
func startAgent(ctx context.Context, cmd *exec.Cmd, pass []byte) (*agentReady, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the key agent: %w", err)
	}
	// The agent lives on after this process: its exit is not waited for
	// here once it is ready (it is in its own session).
	go func() {
		_, _ = stdin.Write(pass)
		clear(pass)
		stdin.Close()
	}()
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(io.LimitReader(stdout, 4096)).ReadString('\n')
		line <- strings.TrimSpace(l)
	}()
	var l string
	select {
	case l = <-line:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, ctx.Err()
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, errors.New("the key agent did not start within 2 minutes")
	}
	kind, rest, _ := strings.Cut(l, " ")
	switch kind {
	case "ready":
		pid := cmd.Process.Pid // Release forgets it
		_ = cmd.Process.Release()
		return &agentReady{pid: pid, fingerprint: rest}, nil
	case "error":
		_ = cmd.Wait()
		code, msg, _ := strings.Cut(rest, " ")
		return nil, agentStartError(code, msg)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return nil, fmt.Errorf("the key agent did not start (it said %q)", safe(l))
}

// agentStartKinds name, on the agent's "error" line, the errors whose kind
// decides key unlock's exit code.
var agentStartKinds = []struct {
	code string
	err  error
}{
	{"passphrase", soft.ErrWrongPassphrase},
	{"exists", soft.ErrExists},
	{"notfound", soft.ErrNotFound},
}

// agentStartCode is the code the agent writes for err.
func agentStartCode(err error) string {
	for _, k := range agentStartKinds {
		if errors.Is(err, k.err) {
			return k.code
		}
	}
	return "other"
}

// agentStartError rebuilds the agent's startup error with the kind the
// exit code depends on.
func agentStartError(code, msg string) error {
	for _, k := range agentStartKinds {
		if k.code == code {
			return fmt.Errorf("%w: %s", k.err, msg)
		}
	}
	return errors.New(msg)
}

// newCmdKeyAgent is the agent itself, started by key unlock: hidden, it
// reads the passphrase from stdin (to its end), says "ready FINGERPRINT" on stdout and
// serves until --until, key lock, or SIGTERM.
func newCmdKeyAgent(f *Factory) *cobra.Command {
	var until int64
	cmd := &cobra.Command{
		Use:    "agent NAME --until UNIXTIME",
		Short:  "The background agent of an unlocked key (started by key unlock)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			err := keyAgentRun(c.Context(), f, args[0], time.Unix(until, 0))
			if err != nil {
				// Before "ready" the parent reads this line; after, no one.
				fmt.Fprintf(f.IO.Out, "error %s %s\n", agentStartCode(err), strings.ReplaceAll(err.Error(), "\n", " "))
			}
			return err
		},
	}
	cmd.Flags().Int64Var(&until, "until", 0, "when the key locks itself (Unix time)")
	return cmd
}

func keyAgentRun(ctx context.Context, f *Factory, name string, until time.Time) error {
	if d := time.Until(until); d <= 0 || d > soft.MaxAgentFor+time.Minute {
		return usagef("--until: a time within the next %s", soft.MaxAgentFor)
	}
	ks, err := f.KeyStore()
	if err != nil {
		return err
	}
	// The whole of stdin, up to EOF: key unlock writes the passphrase and
	// closes it (a passphrase may hold any byte).
	pass, err := io.ReadAll(io.LimitReader(f.IO.In, 64<<10))
	if err != nil {
		return err
	}
	ln, err := ks.Listen(name)
	if err != nil {
		return err
	}
	signer, err := ks.Open(name, pass)
	clear(pass)
	if err != nil {
		ln.Close()
		return err
	}
	// scrypt's 256 MiB buffer goes back to the system now, not minutes
	// later: the agent stays up for the whole period.
	debug.FreeOSMemory()
	a := soft.NewAgent(signer, ln, until)
	fp, _ := signer.Fingerprint(ctx)
	fmt.Fprintf(f.IO.Out, "ready %x\n", fp)
	if out, ok := f.IO.Out.(*os.File); ok {
		out.Close()
	}
	return a.Serve(ctx)
}

type keyLockJSON struct {
	Name   string `json:"name"`
	Locked bool   `json:"locked"` // false: it was not unlocked
}

func newCmdKeyLock(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lock NAME",
		Short: "Wipe an unlocked key from its agent now",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			name := args[0]
			ks, err := f.KeyStore()
			if err != nil {
				return err
			}
			a, ok, err := ks.DialAgent(c.Context(), name)
			if err != nil {
				return err
			}
			if ok {
				if err := a.Lock(c.Context()); err != nil {
					return err
				}
			}
			if f.Global.JSON {
				return writeJSON(f.IO.Out, keyLockJSON{Name: name, Locked: ok})
			}
			if ok {
				fmt.Fprintf(f.IO.ErrOut, "Key %s is locked (agent pid %d has wiped it).\n", name, a.PID())
			} else {
				fmt.Fprintf(f.IO.ErrOut, "Key %s was not unlocked.\n", name)
			}
			return nil
		},
	}
	return withJSONFields(cmd, keyLockJSON{})
}
