// Command countersign-emulator runs a signing-device emulator in the
// foreground, on the endpoint the vendor's own simulator uses, so that
// countersign (with COUNTERSIGN_EMULATORS=1), the vendor's tools and tests
// can talk to it as to the real device.
//
//	countersign-emulator coldcard --mnemonic "..." [--socket PATH] [--network testnet] [--reject]
//	countersign-emulator qrsigner --mnemonic "..." [--wallet DESC] < parts.txt > answer.txt
//	countersign-emulator bitbox02 --mnemonic "..." [--listen 127.0.0.1:15423] [--network testnet] [--reject]
//	countersign-emulator jade --mnemonic "..." [--listen 127.0.0.1:30121] [--network testnet|regtest] [--reject] [--pin PIN]
//
// Each device family is one subcommand; it prints one line when it is
// ready ("coldcard emulator 0F056943 listening on /tmp/ckcc-simulator.sock")
// and runs until SIGINT or SIGTERM, when it removes its endpoint and exits 0.
// The QR signer has no endpoint: it is a filter from the QR parts it scans
// (stdin) to the parts it shows (stdout), and stops at the end of stdin.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(os.Stdout, os.Stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "countersign-emulator:", err)
		stop()
		os.Exit(1)
	}
}

// newRootCmd builds the command tree; every device family adds one
// subcommand here.
func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "countersign-emulator",
		Short:         "Run a signing-device emulator in the foreground",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newColdcardCmd(nil))
	root.AddCommand(newLedgerCmd(nil))
	root.AddCommand(newTrezorCmd(nil))
	root.AddCommand(newQRSignerCmd(nil))
	root.AddCommand(newBitBox02Cmd(nil))
	root.AddCommand(newJadeCmd(nil))
	return root
}
