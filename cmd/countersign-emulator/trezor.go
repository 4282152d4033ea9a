package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	emu "github.com/countersign/countersign/hw/emulator/trezor"
	"github.com/countersign/countersign/hw/transport"
)

// trezorOptions are the parsed flags of `countersign-emulator trezor`.
type trezorOptions struct {
	Mnemonic   string
	Listen     string
	Label      string
	PIN        string
	Passphrase bool
	Reject     bool
	Bootloader bool
}

// envTrezorEmulator is the variable countersign reads for the emulator's
// address; the emulator defaults to it too, so both sides agree.
const envTrezorEmulator = "COUNTERSIGN_TREZOR_EMULATOR"

func newTrezorCmd(runF func(context.Context, *cobra.Command, *trezorOptions) error) *cobra.Command {
	o := &trezorOptions{}
	cmd := &cobra.Command{
		Use:   "trezor --mnemonic WORDS",
		Short: "Emulate a Trezor on the vendor emulator's UDP port",
		Long: `Emulate a Trezor (model T) on the UDP port the vendor's emulator uses.

The emulator speaks the Trezor wire protocol (the v1 codec and its protobuf
messages, as trezorlib, trezorctl and countersign's trezor driver do) with a
seed made from --mnemonic, for every coin (Bitcoin, Testnet, Regtest). It
answers the PINGPING probe, shows addresses and signs multisig transactions,
confirming everything, or cancelling every confirmation with --reject (as if
the user pressed X). With --pin the device starts locked; the PIN matrix is
printed on stderr each time the device asks for the PIN, standing in for its
screen.

Try it with: trezorctl -p udp:127.0.0.1:21324 get-features`,
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
			return runTrezor(cmd.Context(), cmd, o)
		},
	}
	def := os.Getenv(envTrezorEmulator)
	if def == "" {
		def = emu.DefaultAddr
	}
	f := cmd.Flags()
	f.StringVar(&o.Mnemonic, "mnemonic", "", "BIP-39 words of the emulated device's seed")
	f.StringVar(&o.Listen, "listen", def, "UDP address to listen on (env "+envTrezorEmulator+")")
	f.StringVar(&o.Label, "label", "", "device label (Features.label)")
	f.StringVar(&o.PIN, "pin", "", "lock the device with this PIN (digits 1-9)")
	f.BoolVar(&o.Passphrase, "passphrase", false, "enable passphrase protection (the host sends the BIP-39 passphrase)")
	f.BoolVar(&o.Reject, "reject", false, "cancel every confirmation, as if the user pressed X")
	f.BoolVar(&o.Bootloader, "bootloader", false, "answer as a device in bootloader mode")
	return cmd
}

func runTrezor(ctx context.Context, cmd *cobra.Command, o *trezorOptions) error {
	cfg := emu.Config{
		Mnemonic: strings.TrimSpace(o.Mnemonic), Label: o.Label, PIN: o.PIN,
		PassphraseProtection: o.Passphrase, Bootloader: o.Bootloader,
	}
	if o.Reject {
		cfg.Approve = func(context.Context, emu.Screen) bool { return false }
	}
	e, err := emu.New(cfg)
	if err != nil {
		return err
	}
	srv, err := transport.ListenUDP(o.Listen)
	if err != nil {
		return err
	}
	defer srv.Close()
	fp, err := e.Fingerprint("")
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "trezor emulator %s listening on udp:%s\n", hex.EncodeToString(fp[:]), srv.Addr())
	done := make(chan struct{})
	if o.PIN != "" {
		go showPinMatrix(ctx, cmd, e, done)
	}
	err = e.Serve(ctx, srv)
	close(done)
	st := e.Stats()
	fmt.Fprintf(cmd.ErrOrStderr(), "trezor emulator stopped: %d messages in, %d out, %d reports in, %d out\n", st.MessagesIn, st.MessagesOut, st.ReportsIn, st.ReportsOut)
	return err
}

// showPinMatrix stands in for the device's screen: each time the emulator
// asks for the PIN it prints the scrambled matrix, laid out like the keypad
// positions the host asks for (7 8 9 on top).
func showPinMatrix(ctx context.Context, cmd *cobra.Command, e *emu.Emulator, done <-chan struct{}) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	shown := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-tick.C:
		}
		m := e.PinMatrix()
		if m == shown {
			continue
		}
		shown = m
		if len(m) != 9 {
			continue
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "PIN matrix on the device's screen:\n  %c %c %c\n  %c %c %c\n  %c %c %c\n",
			m[6], m[7], m[8], m[3], m[4], m[5], m[0], m[1], m[2])
	}
}
