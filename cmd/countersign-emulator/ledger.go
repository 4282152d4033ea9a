package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/descriptor"
	emu "github.com/countersign/countersign/hw/emulator/ledger"
)

// ledgerOptions are the parsed flags of `countersign-emulator ledger`.
type ledgerOptions struct {
	Mnemonic   string
	Passphrase string
	Listen     string
	Network    string
	Reject     bool
	AppVersion string
}

// envLedgerSpeculos is the variable countersign reads for the Speculos APDU
// socket; the emulator defaults to it too, so both sides agree.
const envLedgerSpeculos = "COUNTERSIGN_LEDGER_SPECULOS"

func newLedgerCmd(runF func(context.Context, *cobra.Command, *ledgerOptions) error) *cobra.Command {
	o := &ledgerOptions{}
	cmd := &cobra.Command{
		Use:   "ledger --mnemonic WORDS",
		Short: "Emulate a Ledger running the Bitcoin app on a Speculos-style APDU socket",
		Long: `Emulate a Ledger running the Bitcoin app (wallet-policy protocol, app 2.1.3
unless --app-version names another, up to ` + emu.LatestAppVersion + `) on a TCP port with Speculos's APDU framing, as Ledger's client libraries and
countersign's ledger driver use it.

The seed comes from --mnemonic. The app is "Bitcoin Test" (testnet, signet and
regtest wallets) unless --network mainnet. The emulator approves every wallet
registration, address display and signature, or refuses them all with
--reject (as if the user pressed reject). Registrations are HMACs under a
secret drawn at start: they last until the emulator exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Mnemonic == "" {
				return errors.New("--mnemonic is required")
			}
			if o.Listen == "" {
				return errors.New("--listen must not be empty")
			}
			if runF != nil {
				return runF(cmd.Context(), cmd, o)
			}
			return runLedger(cmd.Context(), cmd, o)
		},
	}
	def := os.Getenv(envLedgerSpeculos)
	if def == "" {
		def = "127.0.0.1:9999"
	}
	f := cmd.Flags()
	f.StringVar(&o.Mnemonic, "mnemonic", "", "BIP-39 words of the emulated device's seed")
	f.StringVar(&o.Passphrase, "passphrase", "", "BIP-39 passphrase")
	f.StringVar(&o.Listen, "listen", def, "host:port of the APDU socket (env "+envLedgerSpeculos+")")
	f.StringVar(&o.Network, "network", "testnet", "network: mainnet runs the Bitcoin app, testnet, signet or regtest the Bitcoin Test app")
	f.BoolVar(&o.Reject, "reject", false, "refuse every registration, address display and signature, as if the user pressed reject")
	f.StringVar(&o.AppVersion, "app-version", emu.DefaultAppVersion, "Bitcoin app version to report and model ("+emu.LatestAppVersion+" takes taproot miniscript and musig())")
	return cmd
}

func runLedger(ctx context.Context, cmd *cobra.Command, o *ledgerOptions) error {
	params, err := descriptor.NetworkParams(o.Network)
	if err != nil {
		return err
	}
	cfg := emu.Config{Mnemonic: strings.TrimSpace(o.Mnemonic), Passphrase: o.Passphrase, Network: params, AppVersion: o.AppVersion}
	if o.Reject {
		cfg.Approve = func(context.Context, emu.Request) bool { return false }
	}
	e, err := emu.New(cfg)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", o.Listen)
	if err != nil {
		return err
	}
	xfp := e.Fingerprint()
	app, version := e.App()
	fmt.Fprintf(cmd.OutOrStdout(), "ledger emulator %s (%s %s) listening on %s\n", hex.EncodeToString(xfp[:]), app, version, ln.Addr())
	err = e.Serve(ctx, ln)
	st := e.Stats()
	fmt.Fprintf(cmd.ErrOrStderr(), "ledger emulator stopped: %d commands, %d APDUs\n", st.Commands, st.APDUs)
	return err
}
