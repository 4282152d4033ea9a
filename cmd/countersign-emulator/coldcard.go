package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/descriptor"
	emu "github.com/countersign/countersign/hw/emulator/coldcard"
	"github.com/countersign/countersign/hw/transport"
)

// coldcardOptions are the parsed flags of `countersign-emulator coldcard`.
type coldcardOptions struct {
	Mnemonic   string
	Passphrase string
	Socket     string
	Network    string
	Reject     bool
	Firmware   string
}

// envColdcardSocket is the variable countersign reads for the simulator
// socket; the emulator defaults to it too, so both sides agree.
const envColdcardSocket = "COUNTERSIGN_COLDCARD_SOCKET"

func newColdcardCmd(runF func(context.Context, *cobra.Command, *coldcardOptions) error) *cobra.Command {
	o := &coldcardOptions{}
	cmd := &cobra.Command{
		Use:   "coldcard --mnemonic WORDS",
		Short: "Emulate a Coldcard on the simulator's unix datagram socket",
		Long: `Emulate a Coldcard on the Coldcard simulator's unix datagram socket.

The emulator speaks the Coldcard USB protocol (as ckcc and countersign's
coldcard driver do) with a seed made from --mnemonic. It approves every
enrolment and signature, or refuses them all with --reject (as if the user
pressed X). Enrolled wallets last until it exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Mnemonic == "" {
				return errors.New("--mnemonic is required")
			}
			if o.Socket == "" {
				return errors.New("--socket must not be empty")
			}
			if runF != nil {
				return runF(cmd.Context(), cmd, o)
			}
			return runColdcard(cmd.Context(), cmd, o)
		},
	}
	def := os.Getenv(envColdcardSocket)
	if def == "" {
		def = "/tmp/ckcc-simulator.sock"
	}
	f := cmd.Flags()
	f.StringVar(&o.Mnemonic, "mnemonic", "", "BIP-39 words of the emulated device's seed")
	f.StringVar(&o.Passphrase, "passphrase", "", "BIP-39 passphrase")
	f.StringVar(&o.Socket, "socket", def, "unix datagram socket to listen on (env "+envColdcardSocket+")")
	f.StringVar(&o.Network, "network", "testnet", "chain the device is set to: mainnet, testnet or regtest")
	f.BoolVar(&o.Reject, "reject", false, "refuse every enrolment and signature, as if the user pressed X")
	f.StringVar(&o.Firmware, "firmware", "6.3.5X", "firmware version modelled: EDGE 6.2.1X and later enrol miniscript and taproot wallets (static keys until 6.3.4X, a MuSig2 key path from 6.5.0X); mainline 5.x or 1.xQ do not")
	return cmd
}

func runColdcard(ctx context.Context, cmd *cobra.Command, o *coldcardOptions) error {
	net, err := descriptor.NetworkParams(o.Network)
	if err != nil {
		return err
	}
	cfg := emu.Config{Mnemonic: strings.TrimSpace(o.Mnemonic), Passphrase: o.Passphrase, Network: net, Firmware: o.Firmware}
	if o.Reject {
		cfg.Approve = func(context.Context, emu.Request) bool { return false }
	}
	e, err := emu.New(cfg)
	if err != nil {
		return err
	}
	srv, err := transport.ListenUnixgram(o.Socket)
	if err != nil {
		return err
	}
	defer srv.Close()
	xfp := e.Fingerprint()
	fmt.Fprintf(cmd.OutOrStdout(), "coldcard emulator %s listening on %s\n", strings.ToUpper(hex.EncodeToString(xfp[:])), srv.Path())
	err = e.Serve(ctx, srv)
	st := e.Stats()
	fmt.Fprintf(cmd.ErrOrStderr(), "coldcard emulator stopped: %d round trips, %d frames in, %d frames out\n", st.RoundTrips, st.FramesIn, st.FramesOut)
	return err
}
