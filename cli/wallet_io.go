package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
)

// WalletImportOptions are the inputs of `wallet import`.
type WalletImportOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Name        string
	File        string
	Network     string
}

func newCmdWalletImport(f *Factory, runF func(context.Context, *WalletImportOptions) error) *cobra.Command {
	o := &WalletImportOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "import NAME --file FILE",
		Short: "Import a wallet from a descriptor, Bitcoin Core, Coldcard, Caravan, Sparrow/Specter or BSMS file",
		Long: `Import a wallet config written by another coordinator or device. The format
is detected from the content: a descriptor line, Bitcoin Core's
importdescriptors/listdescriptors JSON, a Coldcard multisig setup file, a
Caravan wallet config, a Sparrow/Specter JSON export, or a BIP-129 (BSMS)
descriptor record. FILE "-" reads stdin.

Where the file does not say which test network it is for (tpub keys),
--network picks it (default testnet).`,
		Example: `  countersign wallet import vault --file coldcard-export.txt
  countersign wallet import vault --file caravan.json --json
  cat wallet.bsms | countersign wallet import vault --file - --network regtest`,
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
	return withJSONFields(cmd, walletJSON{})
}

func walletImportRun(ctx context.Context, o *WalletImportOptions) error {
	data, err := readInput(o.IO, o.File)
	if err != nil {
		return err
	}
	req := coordinator.ImportRequest{Name: o.Name, Data: data}
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

// WalletExportOptions are the inputs of `wallet export`.
type WalletExportOptions struct {
	IO          *Streams
	JSON        bool
	Coordinator func() (*coordinator.Coordinator, error)
	Name        string
	Format      string
	Output      string
}

func newCmdWalletExport(f *Factory, runF func(context.Context, *WalletExportOptions) error) *cobra.Command {
	o := &WalletExportOptions{IO: f.IO, Coordinator: f.Coordinator}
	names := make([]string, 0, 6)
	for _, fm := range formats.Formats() {
		names = append(names, string(fm))
	}
	cmd := &cobra.Command{
		Use:   "export NAME --format FORMAT [-o FILE]",
		Short: "Export a wallet as a descriptor, Core, Coldcard, Caravan, Specter or BSMS file",
		Long: `Write the wallet config in a format another coordinator or device reads:
  descriptor  one line, the multipath descriptor with checksum (a backup)
  core        Bitcoin Core importdescriptors JSON (receive + change)
  coldcard    Coldcard multisig setup file (copy to the SD card to enroll)
  caravan     Caravan wallet config JSON
  specter     Sparrow/Specter wallet JSON
  bsms        BIP-129 descriptor record
Without -o the file goes to stdout.`,
		Example: `  countersign wallet export treasury --format coldcard -o /media/SD/treasury.txt
  countersign wallet export treasury --format descriptor > treasury.backup`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.Name = args[0]
			o.JSON = f.Global.JSON
			if o.Format == "" {
				return usagef("--format is required: one of %s", strings.Join(names, ", "))
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return walletExportRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Format, "format", "", "one of "+strings.Join(names, ", "))
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "write to FILE instead of stdout")
	return withJSONFields(cmd, exportJSON{})
}

type exportJSON struct {
	Wallet  string `json:"wallet"`
	Format  string `json:"format"`
	File    string `json:"file"`
	Content string `json:"content"`
}

func walletExportRun(ctx context.Context, o *WalletExportOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
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
