package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/countersign/countersign/chain"
	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/soft"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// Exit codes, documented in README.md and docs/json.md. This table is the
// only place an error becomes an exit code.
const (
	ExitOK       = 0
	ExitFailure  = 1 // the operation failed (backend down, I/O, ...)
	ExitBadInput = 2 // bad usage or bad input (malformed PSBT, invalid descriptor, wrong network)
	ExitNotFound = 3 // a wallet, key or device that does not exist
	ExitRefused  = 4 // refused by a safety check (fee too high, change not ours, bad signature)
	ExitDevice   = 5 // signer or device error, or rejected on the device
	// ExitInterrupted is Ctrl-C (SIGINT) or SIGTERM, as a shell reports
	// a process ended by SIGINT.
	ExitInterrupted = 130
)

// usageError marks bad flags or arguments detected by the CLI itself.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef returns an error that exits 2.
func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// hintError carries follow-up lines printed after the error as "hint: ...".
type hintError struct {
	err   error
	hints []string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

// withHint attaches advice to an error without changing its exit code.
func withHint(err error, hints ...string) error {
	if err == nil {
		return nil
	}
	return &hintError{err: err, hints: hints}
}

// exitKinds maps sentinel errors to exit codes. Packages register their
// sentinels here (see exitkinds_*.go) so the table stays in one place.
type exitKind struct {
	err  error
	code int
}

func baseExitKinds() []exitKind {
	return []exitKind{
		{descriptor.ErrInvalid, ExitBadInput},
		{formats.ErrUnknownFormat, ExitBadInput},
		{wallet.ErrInvalid, ExitBadInput},
		{wallet.ErrExists, ExitBadInput},
		{wallet.ErrNotFound, ExitNotFound},
		{chain.ErrWrongNetwork, ExitBadInput},
		{psbt.ErrMalformed, ExitBadInput},
		{psbt.ErrRefused, ExitRefused},
		{errRefusedByCheck, ExitRefused},
		{hw.ErrAmbiguous, ExitBadInput},
		{hw.ErrBadSelector, ExitBadInput},
		{soft.ErrExists, ExitBadInput},
		{soft.ErrInvalid, ExitBadInput},
		{soft.ErrWrongPassphrase, ExitDevice},
		{chain.ErrBadURL, ExitBadInput},
		{chain.ErrInsecure, ExitRefused},
		{coordinator.ErrNoBackend, ExitBadInput},
		{hw.ErrNoDevice, ExitNotFound},
		{hw.ErrDevice, ExitDevice},
		{hw.ErrRejected, ExitDevice},
		{hw.ErrNotRegistered, ExitDevice},
	}
}

// ExitCode returns the documented exit code for err.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return ExitBadInput
	}
	for _, k := range baseExitKinds() {
		if errors.Is(err, k.err) {
			return k.code
		}
	}
	if isFlagError(err) {
		return ExitBadInput
	}
	return ExitFailure
}

// isFlagError recognises cobra's own argument and flag errors, which are
// plain strings.
func isFlagError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand flag", "unknown command", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "required flag", "if any flags in the group", "none of the others can be"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// sentinelHints are the hints every error of a kind gets, wherever it
// comes from.
func sentinelHints(err error) []string {
	switch {
	case errors.Is(err, coordinator.ErrNoBackend):
		return []string{"pass --backend URL, or save one: countersign backend set btcd://user:pass@127.0.0.1:18334",
			"forms: btcd://, core://user:pass@host:port, core+cookie:///path/.cookie@host:port, esplora+https://host/api"}
	case errors.Is(err, coordinator.ErrNoWallet):
		return []string{"import the wallet it spends from (countersign wallet import), or name it with --wallet"}
	}
	return nil
}

// hints collects an error's hint lines.
func hints(err error) []string {
	var out []string
	var he *hintError
	if errors.As(err, &he) {
		out = append(out, he.hints...)
	}
	return append(out, sentinelHints(err)...)
}

// PrintError writes "error: ..." and any hints to w. Error text can quote
// what a backend, a device or a file said, so it is escaped. A joined
// error (one line per refused input) is printed a line each, the lines
// after the first indented: a line break inside untrusted text cannot
// start a line of its own that reads "error:" or "hint:".
func PrintError(w io.Writer, err error) {
	lines := strings.Split(err.Error(), "\n")
	fmt.Fprintf(w, "error: %s\n", safe(lines[0]))
	for _, l := range lines[1:] {
		fmt.Fprintf(w, "  %s\n", safe(l))
	}
	for _, h := range hints(err) {
		fmt.Fprintf(w, "hint: %s\n", safe(h))
	}
}

// errCancelled is returned when the user answers no at a prompt.
var errCancelled = errors.New("cancelled")

// errRefusedByCheck is a CLI-level safety refusal (exit 4), such as a device
// showing another address than the wallet derives.
var errRefusedByCheck = errors.New("refused by a safety check")

// printJSONError writes the error as one JSON object on stderr, for
// scripts that asked for --json: {"error": ..., "hints": [...], "exit_code": n}.
func printJSONError(w io.Writer, err error, code int) {
	out := struct {
		Error    string   `json:"error"`
		Hints    []string `json:"hints"`
		ExitCode int      `json:"exit_code"`
	}{Error: err.Error(), Hints: hints(err), ExitCode: code}
	if out.Hints == nil {
		out.Hints = []string{}
	}
	_ = writeJSON(w, out)
}
