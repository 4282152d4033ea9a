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
	emu "github.com/countersign/countersign/hw/emulator/qrsigner"
)

// qrsignerOptions are the parsed flags of `countersign-emulator qrsigner`.
type qrsignerOptions struct {
	Mnemonic      string
	Passphrase    string
	Wallet        string
	WalletFile    string
	Network       string
	Reject        bool
	MaxFragment   int
	ExportAccount bool
}

func newQRSignerCmd(runF func(context.Context, *cobra.Command, *qrsignerOptions) error) *cobra.Command {
	o := &qrsignerOptions{}
	cmd := &cobra.Command{
		Use:   "qrsigner --mnemonic WORDS [--wallet DESCRIPTOR]",
		Short: "Emulate a camera signer (SeedSigner/Keystone-like) over QR parts as text",
		Long: `Emulate an air-gapped signer that talks through QR codes, as SeedSigner and
Keystone do, with QR parts as text: one part a line on stdin (what its
camera would scan: ur:crypto-psbt, ur:psbt or BBQr of a PSBT, and
ur:crypto-output to register a wallet), and its answer, the signed PSBT in
the transport it was asked in, one part a line on stdout. What its screen
shows (amounts, fee, change, refusals) goes to stderr. It stops at the end
of stdin.

The seed comes from --mnemonic. The multisig wallet it signs for is
--wallet (a descriptor, or --wallet-file) or the first crypto-output it
scans; it refuses change that does not derive from that wallet. --reject
refuses every PSBT, as if the user said no. --export-account prints the
device's cosigner export (ur:crypto-account) and exits.

  countersign sign pay.psbt --with qr --qr-out qr/
  countersign-emulator qrsigner --mnemonic "..." --wallet "$(countersign wallet export vault --format descriptor)" \
      < qr/parts.txt > answer.txt
  countersign sign pay.psbt --with qr -o signed.psbt < answer.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Mnemonic == "" {
				return errors.New("--mnemonic is required")
			}
			if o.Wallet != "" && o.WalletFile != "" {
				return errors.New("give the wallet with --wallet or --wallet-file, not both")
			}
			if runF != nil {
				return runF(cmd.Context(), cmd, o)
			}
			return runQRSigner(cmd.Context(), cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Mnemonic, "mnemonic", "", "BIP-39 words of the emulated device's seed")
	f.StringVar(&o.Passphrase, "passphrase", "", "BIP-39 passphrase")
	f.StringVar(&o.Wallet, "wallet", "", "the registered multisig wallet's descriptor")
	f.StringVar(&o.WalletFile, "wallet-file", "", "read the wallet's descriptor from this file")
	f.StringVar(&o.Network, "network", "testnet", "chain the device is set to: mainnet, testnet, signet or regtest")
	f.BoolVar(&o.Reject, "reject", false, "refuse every PSBT, as if the user said no")
	f.IntVar(&o.MaxFragment, "max-fragment", 200, "UR fragment length of the answer, in bytes")
	f.BoolVar(&o.ExportAccount, "export-account", false, "print the cosigner export (ur:crypto-account) and exit")
	return cmd
}

func runQRSigner(ctx context.Context, cmd *cobra.Command, o *qrsignerOptions) error {
	net, err := descriptor.NetworkParams(o.Network)
	if err != nil {
		return err
	}
	desc := o.Wallet
	if o.WalletFile != "" {
		b, err := os.ReadFile(o.WalletFile)
		if err != nil {
			return err
		}
		desc = strings.TrimSpace(string(b))
	}
	e, err := emu.New(emu.Config{Mnemonic: strings.TrimSpace(o.Mnemonic), Passphrase: o.Passphrase, Network: net,
		Wallet: desc, Reject: o.Reject, MaxFragment: o.MaxFragment, Log: cmd.ErrOrStderr()})
	if err != nil {
		return err
	}
	if o.ExportAccount {
		acct, err := e.AccountUR()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(cmd.OutOrStdout(), acct)
		return err
	}
	fp := e.Fingerprint()
	fmt.Fprintf(cmd.ErrOrStderr(), "qrsigner emulator %s reading QR parts on stdin\n", strings.ToUpper(hex.EncodeToString(fp[:])))
	return e.Run(ctx, cmd.InOrStdin(), cmd.OutOrStdout())
}
