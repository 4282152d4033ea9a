package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	emu "github.com/countersign/countersign/hw/emulator/jade"
)

// jadeOptions are the parsed flags of `countersign-emulator jade`.
type jadeOptions struct {
	Mnemonic string
	Listen   string
	Network  string
	Reject   bool
	PIN      string
}

// envJadeEmulator is the variable countersign reads for the emulator's
// address; the emulator defaults to it too, so both sides agree.
const envJadeEmulator = "COUNTERSIGN_JADE_EMULATOR"

func newJadeCmd(runF func(context.Context, *cobra.Command, *jadeOptions) error) *cobra.Command {
	o := &jadeOptions{}
	cmd := &cobra.Command{
		Use:   "jade --mnemonic WORDS",
		Short: "Emulate a Blockstream Jade on the TCP port of the vendor's QEMU image",
		Long: `Emulate a Blockstream Jade on the TCP port its QEMU image uses (127.0.0.1:30121).

The emulator speaks the Jade's CBOR-RPC (as Blockstream's jadepy and
countersign's jade driver do) with a seed made from --mnemonic: version info,
xpubs, multisig registration, addresses of registered multisig wallets and
PSBT signing, the signed PSBT sent back in pieces as the firmware sends it.
It approves every registration, address and signature, or refuses them all
with --reject (as if the user pressed the cross).

--network ties the wallet to mainnet or to the test networks (testnet, signet
and regtest alike), as a Jade's wallet is; without it the wallet is not tied
yet. With --pin the device starts locked: it also serves a stand-in PIN server
on a loopback port, and unlocks when a host relays its PIN-server request there
(countersign does with COUNTERSIGN_JADE_PIN_RELAY=1).`,
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
			return runJade(cmd.Context(), cmd, o)
		},
	}
	def := os.Getenv(envJadeEmulator)
	if def == "" || strings.Contains(def, ",") {
		def = emu.DefaultAddr
	}
	f := cmd.Flags()
	f.StringVar(&o.Mnemonic, "mnemonic", "", "BIP-39 words of the emulated device's seed")
	f.StringVar(&o.Listen, "listen", def, "host:port to listen on (env "+envJadeEmulator+")")
	f.StringVar(&o.Network, "network", "", "tie the wallet to mainnet, or to the test networks: testnet, signet or regtest")
	f.BoolVar(&o.Reject, "reject", false, "refuse every registration, address and signature, as if the user pressed the cross")
	f.StringVar(&o.PIN, "pin", "", "start locked with this PIN (the user always types it), with a stand-in PIN server")
	return cmd
}

// jadeNetworks maps --network to the wallet's tie.
func jadeNetworks(n string) (string, error) {
	switch n {
	case "":
		return emu.NetworksAll, nil
	case "mainnet":
		return emu.NetworksMain, nil
	case "testnet", "signet", "regtest":
		return emu.NetworksTest, nil
	}
	return "", fmt.Errorf("--network %q: want mainnet, testnet, signet or regtest", n)
}

func runJade(ctx context.Context, cmd *cobra.Command, o *jadeOptions) error {
	networks, err := jadeNetworks(o.Network)
	if err != nil {
		return err
	}
	cfg := emu.Config{Mnemonic: strings.TrimSpace(o.Mnemonic), Networks: networks}
	if o.Reject {
		cfg.Approve = func(context.Context, emu.Screen) bool { return false }
	}
	var lc net.ListenConfig
	if o.PIN != "" {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return err
		}
		pl, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: emu.NewPINServer(secret)}
		go srv.Serve(pl)
		defer srv.Close()
		cfg.PINServer, cfg.PINSecret, cfg.PIN = "http://"+pl.Addr().String(), secret, o.PIN
		fmt.Fprintf(cmd.ErrOrStderr(), "locked; its PIN server listens on %s\n", cfg.PINServer)
	}
	e, err := emu.New(cfg)
	if err != nil {
		return err
	}
	ln, err := lc.Listen(ctx, "tcp", o.Listen)
	if err != nil {
		return err
	}
	fp := e.Fingerprint()
	fmt.Fprintf(cmd.OutOrStdout(), "jade emulator %s listening on %s\n", hex.EncodeToString(fp[:]), ln.Addr())
	err = e.Serve(ctx, ln)
	n := 0
	for _, c := range e.Requests() {
		n += c
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "jade emulator stopped: %d requests\n", n)
	return err
}
