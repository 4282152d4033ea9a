package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/qrsigner"
)

// WalletImportOptions are the inputs of `wallet import`.
type WalletImportOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Name        string
	File        string
	Network     string
	// BSMSTokens and BSMSTokenFiles open an encrypted BIP-129 record.
	BSMSTokens, BSMSTokenFiles []string
}

func newCmdWalletImport(f *Factory, runF func(context.Context, *WalletImportOptions) error) *cobra.Command {
	o := &WalletImportOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "import NAME --file FILE",
		Short: "Import a wallet from a descriptor, Bitcoin Core, Coldcard, Caravan, Sparrow/Specter or BSMS file, or from QR codes",
		Long: `Import a wallet config written by another coordinator or device. The format
is detected from the content: a descriptor line, Bitcoin Core's
importdescriptors/listdescriptors JSON, a Coldcard multisig setup file, a
Caravan wallet config, a Sparrow/Specter JSON export, or a BIP-129 (BSMS)
descriptor record. FILE "-" reads stdin.

A wallet scanned from QR codes is read too: the text a USB QR scanner types
(or that is pasted), one part a line in any order, of a UR (crypto-output
or output-descriptor, as Sparrow, Keystone and SeedSigner show a wallet) or
a BBQr (a Coldcard Q shows its multisig setup file so). Scan every frame of
an animated code into the file or into stdin (end with Ctrl-D). A signer's
key export (ur:crypto-account) is one cosigner, not a wallet: the command
says so, exits 2 and prints its key for wallet create --cosigner.

An encrypted BIP-129 descriptor record (a .dat file, hex) is decrypted
with the setup's token: --bsms-token TOKEN (the 16 or 32 hex digits, the
decimal number or the six words the coordinator showed; repeat for
EXTENDED setups, the one that opens the file is used) or, kept out of the
shell history, --bsms-token-file FILE (one token a line). The record's MAC
is checked, and its first address must be the descriptor's.

Where the file does not say which test network it is for (tpub keys),
--network picks it (default testnet).`,
		Example: `  countersign wallet import vault --file coldcard-export.txt
  countersign wallet import vault --file caravan.json --json
  cat wallet.bsms | countersign wallet import vault --file - --network regtest
  countersign wallet import vault --file scanned-parts.txt
  countersign wallet import vault --file vault.dat --bsms-token-file token.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Network = f.Global.Network
			o.Name = args[0]
			if o.File == "" {
				return usagef("--file is required (use - for stdin)")
			}
			if err := checkWalletName(o.Name); err != nil {
				return err
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return walletImportRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.File, "file", "f", "", "wallet file to import (- for stdin)")
	cmd.Flags().StringArrayVar(&o.BSMSTokens, "bsms-token", nil, "token of an encrypted BSMS record: hex, decimal or six words (repeat)")
	cmd.Flags().StringArrayVar(&o.BSMSTokenFiles, "bsms-token-file", nil, "read BSMS tokens from FILE, one a line (repeat)")
	return withJSONFields(cmd, walletJSON{})
}

func walletImportRun(ctx context.Context, o *WalletImportOptions) error {
	if o.File == "-" && o.IO.StdinTTY {
		fmt.Fprintln(o.IO.ErrOut, "Paste the wallet file, or scan every frame of its QR code with a USB scanner; end with Ctrl-D.")
	}
	data, err := readInput(o.IO, o.File)
	if err != nil {
		return err
	}
	tokens, err := bsmsTokens(o.BSMSTokens, o.BSMSTokenFiles)
	if err != nil {
		return err
	}
	req := coordinator.ImportRequest{Name: o.Name, Data: data, BSMSTokens: tokens}
	if o.Network != "" {
		if req.Network, err = descriptor.NetworkParams(o.Network); err != nil {
			return usagef("--network: %v", err)
		}
	}
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	res, err := co.ImportWallet(ctx, req)
	var ce *formats.CosignerExportError
	if errors.As(err, &ce) {
		return withHint(err, cosignerHints(ce)...)
	}
	if errors.Is(err, formats.ErrBSMSNeedToken) {
		return withHint(err, "pass the setup's token: --bsms-token TOKEN or --bsms-token-file FILE")
	}
	if err != nil {
		return err
	}
	sum, err := co.Summary(ctx, o.Name)
	if err != nil {
		return err
	}
	if err := renderWalletShow(o.IO, o.JSON, sum); err != nil {
		return err
	}
	if !o.JSON {
		fmt.Fprintf(o.IO.ErrOut, "Imported %s file as wallet %q.\n", res.Format, safe(o.Name))
	}
	return nil
}

// cosignerHints show how a cosigner export's key joins a wallet.
func cosignerHints(ce *formats.CosignerExportError) []string {
	var h []string
	for _, k := range ce.Keys {
		h = append(h, fmt.Sprintf("%s wallet: countersign wallet create NAME --threshold M --script %s --cosigner '%s' --cosigner ...", k.Script, k.Script, k.Key))
	}
	return h
}

// WalletExportOptions are the inputs of `wallet export`.
type WalletExportOptions struct {
	IO          *Streams
	JSON        bool
	Coordinator func() (*coordinator.Coordinator, error)
	Name        string
	Format      string
	Output      string
	QRKind      string
	QROut       string
	// Encrypt and EncryptFiles are BSMS tokens: one encrypted record each.
	Encrypt, EncryptFiles []string
	Paper                 string
}

func newCmdWalletExport(f *Factory, runF func(context.Context, *WalletExportOptions) error) *cobra.Command {
	o := &WalletExportOptions{IO: f.IO, Coordinator: f.Coordinator}
	names := make([]string, 0, 7)
	for _, fm := range formats.Formats() {
		names = append(names, string(fm))
	}
	names = append(names, formatQR, formatPDF)
	cmd := &cobra.Command{
		Use:   "export NAME --format FORMAT [-o FILE]",
		Short: "Export a wallet as a descriptor, Core, Coldcard, Caravan, Specter or BSMS file, or as QR codes",
		Long: `Write the wallet config in a format another coordinator or device reads:
  descriptor  one line, the multipath descriptor with checksum (a backup)
  core        Bitcoin Core importdescriptors JSON (receive + change)
  coldcard    Coldcard multisig setup file (copy to the SD card to enroll)
  caravan     Caravan wallet config JSON
  specter     Sparrow/Specter wallet JSON
  bsms        BIP-129 descriptor record (round 2 of a BSMS setup); with
              --encrypt TOKEN the encrypted .dat file for the signers
              holding that token: one token for a STANDARD setup, or
              --encrypt once per signer for an EXTENDED one (one file
              each: FILE, FILE-2, ... in the order given); --encrypt-file
              reads the tokens from a file, one a line
  pdf         a one-page printable backup (A4, or --paper Letter): name,
              policy in words, each cosigner's label, fingerprint, path and
              xpub, the descriptor as text and QR code(s), the first three
              receive addresses, and how to restore it with countersign,
              Sparrow or Bitcoin Core. It holds no private key.
  qr          QR codes for a camera signer to enrol (--qr-kind ur: a
              crypto-output UR for Keystone, Passport, SeedSigner, Jade,
              Krux, Sparrow, or for a taproot or miniscript wallet an
              output-descriptor UR with the descriptor text; --qr-kind
              bbqr: the Coldcard setup file as BBQr for a Coldcard Q)
Without -o the file goes to stdout (a PDF only when stdout is not a
terminal). With --format qr at a terminal the code is animated until
Enter (or Ctrl-C); --qr-out DIR writes it as PNG frames, an animated GIF
and parts.txt; otherwise (-o, a pipe, --json) the parts are written as
text, one a line.`,
		Example: `  countersign wallet export treasury --format coldcard -o /media/SD/treasury.txt
  countersign wallet export treasury --format descriptor > treasury.backup
  countersign wallet export treasury --format qr --qr-kind bbqr
  countersign wallet export treasury --format qr --qr-out qr/
  countersign wallet export treasury --format pdf -o treasury-backup.pdf
  countersign wallet export treasury --format bsms --encrypt-file token.txt -o treasury.dat`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.Name = args[0]
			o.JSON = f.Global.JSON
			if o.Format == "" {
				return usagef("--format is required: one of %s", strings.Join(names, ", "))
			}
			if o.Format != formatQR && (o.QRKind != "" || o.QROut != "") {
				return usagef("--qr-kind and --qr-out go with --format qr")
			}
			if o.Format != string(formats.FormatBSMS) && (len(o.Encrypt) > 0 || len(o.EncryptFiles) > 0) {
				return usagef("--encrypt and --encrypt-file go with --format bsms")
			}
			if o.Format != formatPDF && o.Paper != "" {
				return usagef("--paper goes with --format pdf")
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return walletExportRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Format, "format", "", "one of "+strings.Join(names, ", "))
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "write to FILE instead of stdout")
	cmd.Flags().StringVar(&o.QRKind, "qr-kind", "", "with --format qr: ur (crypto-output, the default) or bbqr (Coldcard Q)")
	cmd.Flags().StringVar(&o.QROut, "qr-out", "", "with --format qr: write PNG frames, an animated GIF and parts.txt to DIR")
	cmd.Flags().StringArrayVar(&o.Encrypt, "encrypt", nil, "with --format bsms: encrypt the record with this BSMS token (repeat: one file per token)")
	cmd.Flags().StringArrayVar(&o.EncryptFiles, "encrypt-file", nil, "with --format bsms: read the tokens to encrypt with from FILE, one a line")
	cmd.Flags().StringVar(&o.Paper, "paper", "", "with --format pdf: A4 (default) or Letter")
	return withJSONFields(cmd, exportJSON{})
}

type exportJSON struct {
	Wallet  string `json:"wallet"`
	Format  string `json:"format"`
	File    string `json:"file"`
	Content string `json:"content"`
	// Files lists every file written when there are several (one BSMS
	// record per --encrypt token).
	Files []string `json:"files,omitempty"`
	// Pages is the PDF backup's page count.
	Pages int `json:"pages,omitempty"`
}

// formatPDF is export's printable backup: a rendering, not a file format
// another tool imports.
const formatPDF = "pdf"

// formatQR is export's QR codes "format": not a file format (formats
// has none), but the wallet drawn for a camera.
const formatQR = "qr"

func walletExportRun(ctx context.Context, o *WalletExportOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	switch {
	case o.Format == formatQR:
		return walletExportQR(ctx, co, o)
	case o.Format == formatPDF:
		return walletExportPDF(ctx, co, o)
	case o.Format == string(formats.FormatBSMS) && (len(o.Encrypt) > 0 || len(o.EncryptFiles) > 0):
		return walletExportBSMS(ctx, co, o)
	}
	data, err := co.ExportWallet(ctx, o.Name, formats.Format(o.Format))
	if err != nil {
		return err
	}
	if o.JSON {
		if o.Output != "" && o.Output != "-" {
			if err := writeOutput(o.IO, o.Output, data); err != nil {
				return err
			}
		}
		return writeJSON(o.IO.Out, exportJSON{Wallet: o.Name, Format: o.Format, File: o.Output, Content: string(data)})
	}
	return writeOutput(o.IO, o.Output, data)
}

// walletExportQR shows the wallet as QR codes, or writes them.
func walletExportQR(ctx context.Context, co *coordinator.Coordinator, o *WalletExportOptions) error {
	kind, err := qrsigner.ParseFormat(o.QRKind)
	if err != nil {
		return usagef("--qr-kind: %q is not ur or bbqr", o.QRKind)
	}
	w, err := co.Wallet(ctx, o.Name)
	if err != nil {
		return err
	}
	hwWallet := &hw.Wallet{Name: w.Name, Descriptor: w.Descriptor, Network: w.Network}
	opts := qrsigner.Options{Format: kind, OutDir: o.QROut, Prompt: func(msg string) { fmt.Fprintln(o.IO.ErrOut, safe(msg)) }}
	animate := o.QROut == "" && o.Output == "" && !o.JSON && o.IO.StdoutTTY
	var ser *qrsigner.Series
	if animate || o.QROut != "" {
		if animate {
			in, restore := o.IO.scanner()
			defer restore()
			opts.Screen, opts.In = o.IO.Out, in
			opts.Width, opts.Height = o.IO.termSize()
		}
		ser, err = qrsigner.New(opts).ShowWallet(ctx, hwWallet)
		if animate && errors.Is(err, context.Canceled) {
			err = nil // Ctrl-C is how a display is put away
		}
	} else {
		ser, err = opts.WalletSeries(hwWallet)
	}
	if err != nil {
		return err
	}
	content := strings.Join(ser.Parts, "\n") + "\n"
	file := o.Output
	if o.QROut != "" {
		file = o.QROut
	}
	switch {
	case o.JSON:
		if o.Output != "" && o.Output != "-" {
			if err := writeOutput(o.IO, o.Output, []byte(content)); err != nil {
				return err
			}
		}
		return writeJSON(o.IO.Out, exportJSON{Wallet: o.Name, Format: formatQR, File: file, Content: content})
	case animate, o.QROut != "" && o.Output == "":
		return nil
	}
	return writeOutput(o.IO, o.Output, []byte(content))
}
