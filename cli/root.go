// Package cli is countersign's command tree. Each command parses flags into
// an options struct, calls a library package and renders text or JSON; no
// Bitcoin logic lives here.
package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/countersign/countersign/descriptor"
	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X .../cli.Version=...".
var Version = "dev"

// NewRootCmd builds the whole command tree over f.
func NewRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "countersign",
		Short: "Coordinate m-of-n Bitcoin multisig wallets across hardware and software signers",
		Long: `countersign builds m-of-n output-descriptor multisig wallets, watches them on
a Bitcoin backend, creates PSBTs, routes them to hardware, air-gapped and
software signers, then combines, finalizes and broadcasts.

Exit codes: 0 ok, 1 operation failed, 2 bad usage or input, 3 not found,
4 refused by a safety check, 5 signer or device error.`,
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{err.Error()} })

	pf := root.PersistentFlags()
	pf.BoolVar(&f.Global.JSON, "json", false, "print machine-readable JSON on stdout")
	pf.StringVar(&f.Global.Fields, "fields", "", "with --json, keep only these comma-separated fields (of each element of a list)")
	pf.StringVar(&f.Global.DataDir, "data-dir", "", "data directory (default $COUNTERSIGN_DATA_DIR or $XDG_DATA_HOME/countersign)")
	pf.StringVar(&f.Global.Network, "network", "", "network: mainnet, testnet, signet or regtest")
	pf.BoolVarP(&f.Global.Yes, "yes", "y", false, "do not ask for confirmation")
	pf.StringVar(&f.Global.Backend, "backend", "", "chain backend URL (btcd://, core://, core+cookie://, esplora+https://)")
	pf.StringVar(&f.Global.Operator, "operator", "", "who runs this command, as the audit journal records it (default $COUNTERSIGN_OPERATOR, else the OS user)")
	pf.StringVar(&f.Global.Store, "store", "", "the wallet store: sqlite:PATH or postgres://USER@HOST/DATABASE (default $COUNTERSIGN_STORE, else what `store set` saved, else SQLite in the data directory)")
	pf.BoolVar(&f.Global.Insecure, "insecure", false, "allow a backend URL that sends the RPC password or your addresses unencrypted to another computer (plain HTTP to a non-local host); with backend set, save that permission")

	root.AddCommand(
		newCmdWallet(f),
		newCmdAddress(f, nil),
		newCmdDescriptor(f),
		newCmdBackend(f),
		newCmdStore(f),
		newCmdSpend(f, nil),
		newCmdPSBT(f),
		newCmdSign(f, nil),
		newCmdKey(f),
		newCmdDevice(f),
		newCmdBSMS(f),
		newCmdDoctor(f, nil),
		newCmdJournal(f),
		newCmdLabel(f),
		newCmdPolicy(f),
	)
	return root
}

// Execute runs countersign with the process's streams and returns the exit code.
func Execute() int { return execute(nil) }

// execute is Execute with a hook that adjusts the factory: tests run their
// own binary as countersign with cheap key encryption through it.
func execute(adjust func(*Factory)) int {
	f := NewFactory(SystemStreams(), os.Getenv)
	if adjust != nil {
		adjust(f)
	}
	defer f.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first Ctrl-C asks the command to stop cleanly; once asked, the
	// default comes back so that a second one ends a process stuck in a
	// call that does not watch ctx (a read of a FIFO the user named).
	go func() { <-ctx.Done(); stop() }()
	return Run(ctx, f, os.Args[1:])
}

// Run executes args against f and returns the exit code; tests call it.
func Run(ctx context.Context, f *Factory, args []string) int {
	// --fields filters the JSON after the command has written it, so every
	// command supports it without knowing; the output is held until then.
	realOut := f.IO.Out
	var held bytes.Buffer
	root := NewRootCmd(f)
	root.SetArgs(args)
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		if v := f.Getenv("COUNTERSIGN_MAX_INPUT_BYTES"); v != "" {
			n, err := parseMaxInput(v)
			if err != nil {
				return usagef("%v", err)
			}
			f.IO.MaxInput = n
		}
		if f.Global.Network != "" {
			if _, err := descriptor.NetworkParams(f.Global.Network); err != nil {
				return usagef("--network: %v", err)
			}
		}
		if f.Global.Fields == "" {
			return nil
		}
		if !f.Global.JSON {
			return usagef("--fields selects fields of the --json output: add --json")
		}
		// Checked before the command runs: a mistyped field must not cost
		// a handed-out address or a device confirmation.
		if err := checkFields(c, parseFields(f.Global.Fields)); err != nil {
			return err
		}
		f.IO.Out = &held
		c.SetOut(&held)
		return nil
	}
	err := root.ExecuteContext(ctx)
	f.IO.Out = realOut
	// A command may print its JSON and still fail (doctor prints the
	// checks, then fails when one did): its output is data either way.
	if f.Global.Fields != "" && f.Global.JSON {
		if ferr := flushSelected(realOut, &held, parseFields(f.Global.Fields)); err == nil {
			err = ferr
		}
	}
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, context.Canceled) {
		// Interrupted: 130, as a shell reports SIGINT. A command that had
		// something to say about what is left (a PSBT on the card) says it.
		if err.Error() == context.Canceled.Error() {
			err = errors.New("interrupted")
		}
		if f.Global.JSON {
			printJSONError(f.IO.ErrOut, err, ExitInterrupted)
		} else {
			PrintError(f.IO.ErrOut, err)
		}
		return ExitInterrupted
	}
	code := ExitCode(err)
	if f.Global.JSON {
		printJSONError(f.IO.ErrOut, err, code)
	} else {
		PrintError(f.IO.ErrOut, err)
	}
	return code
}
