package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
)

func newCmdLabel(f *Factory) *cobra.Command {
	cmd := groupCmd(&cobra.Command{
		Use:   "label",
		Short: "Label addresses, transactions, coins and wallets (BIP-329)",
		Long: `Labels say what a coin or a payment was for. They are shown by wallet
history, wallet utxos, psbt inspect and psbt list, and move between
wallets as BIP-329 label exports (JSON lines). address --label and
spend --note make labels too.`,
	})
	cmd.AddCommand(newCmdLabelSet(f, nil), newCmdLabelList(f, nil), newCmdLabelExport(f, nil), newCmdLabelImport(f, nil))
	return cmd
}

// LabelSetOptions are the inputs of `label set`.
type LabelSetOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Wallet      string
	Type        string
	Ref, Text   string
}

func newCmdLabelSet(f *Factory, runF func(context.Context, *LabelSetOptions) error) *cobra.Command {
	o := &LabelSetOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "set REF TEXT",
		Short: "Label an address, a transaction, an output or the wallet",
		Long: `Give REF the label TEXT ("" removes it). REF is one of:

  ADDRESS            an address (of the wallet's network)
  TXID               a transaction
  TXID:VOUT          an output (a coin)
  input:TXID:VOUT    an input (the coin a transaction spends)
  wallet             the wallet itself (with --wallet, or the only wallet)

or a public key or xpub; --type says which when the form is ambiguous. The
wallet is --wallet, else the only one stored, else the one that knows REF.
The change is journaled.`,
		Example: `  countersign label set bcrt1q...xyz "Invoice 2025-117, Acme GmbH"
  countersign label set 5e2a...d41:1 "cold storage top-up" --wallet treasury
  countersign label set wallet "Operating account" --wallet treasury`,
		Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Ref, o.Text = args[0], args[1]
			if runF != nil {
				return runF(c.Context(), o)
			}
			return labelSetRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Wallet, "wallet", "", "the wallet the label is for")
	cmd.Flags().StringVar(&o.Type, "type", "", "the record type: tx, addr, pubkey, input, output, xpub or wallet (default: from REF)")
	return withJSONFields(cmd, labelJSON{})
}

type labelJSON struct {
	Wallet string `json:"wallet"`
	Type   string `json:"type"`
	Ref    string `json:"ref"`
	Label  string `json:"label"`
}

func labelSetRun(ctx context.Context, o *LabelSetOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	lr, err := co.SetLabel(ctx, o.Wallet, o.Ref, o.Type, o.Text)
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(o.IO.Out, labelJSON{Wallet: lr.Wallet, Type: lr.Type, Ref: lr.Ref, Label: o.Text})
	}
	if o.Text == "" {
		fmt.Fprintf(o.IO.ErrOut, "Removed the label of %s %s (wallet %q).\n", lr.Type, safe(lr.Ref), safe(lr.Wallet))
	} else {
		fmt.Fprintf(o.IO.ErrOut, "Labelled %s %s %q (wallet %q).\n", lr.Type, safe(lr.Ref), safe(o.Text), safe(lr.Wallet))
	}
	return nil
}

// LabelListOptions are the inputs of `label list`.
type LabelListOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Wallet      string
}

func newCmdLabelList(f *Factory, runF func(context.Context, *LabelListOptions) error) *cobra.Command {
	o := &LabelListOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "list [WALLET]",
		Short: "List the wallet's labels",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			if len(args) == 1 {
				o.Wallet = args[0]
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return labelListRun(c.Context(), o)
		},
	}
	return withJSONFields(cmd, labelRecordJSON{})
}

type labelRecordJSON struct {
	Type      string  `json:"type"`
	Ref       string  `json:"ref"`
	Label     *string `json:"label"`
	Origin    *string `json:"origin"`
	Spendable *bool   `json:"spendable"`
}

func labelListRun(ctx context.Context, o *LabelListOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	ls, err := co.Labels(ctx, o.Wallet)
	if err != nil {
		return err
	}
	out := make([]labelRecordJSON, 0, len(ls))
	for _, l := range ls {
		out = append(out, labelRecordJSON{Type: l.Type, Ref: l.Ref, Label: l.Label, Origin: l.Origin, Spendable: l.Spendable})
	}
	if o.JSON {
		return writeJSON(o.IO.Out, out)
	}
	tw := tabwriter.NewWriter(o.IO.Out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tREF\tLABEL")
	for _, l := range out {
		text := "-"
		if l.Label != nil {
			text = *l.Label
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", safe(l.Type), safe(l.Ref), safe(text))
	}
	return tw.Flush()
}

// LabelExportOptions are the inputs of `label export`.
type LabelExportOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Wallet      string
	Output      string
}

func newCmdLabelExport(f *Factory, runF func(context.Context, *LabelExportOptions) error) *cobra.Command {
	o := &LabelExportOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "export [WALLET] [-o FILE]",
		Short: "Write the wallet's labels as a BIP-329 export (JSON lines)",
		Long: `Write the wallet's labels as BIP-329 JSON lines (to -o FILE or stdout), in
the order they were first stored, with every key an import brought
(origin, spendable, the BIP's additional fields): importing an export and
exporting again gives the same records. The wallet's own label is a record
of type "wallet", which other tools ignore (BIP-329 tells importers to skip
types they do not know). Labels are private: keep the file to yourself.
With --json, -o is required and a summary is printed.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			if len(args) == 1 {
				o.Wallet = args[0]
			}
			if o.JSON && (o.Output == "" || o.Output == "-") {
				return usagef("the export is JSON lines on stdout; with --json give -o FILE for it and the summary goes to stdout")
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return labelExportRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "write the export here (default: stdout)")
	return withJSONFields(cmd, linesExportJSON{})
}

func labelExportRun(ctx context.Context, o *LabelExportOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	data, n, err := co.ExportLabels(ctx, o.Wallet)
	if err != nil {
		return err
	}
	if err := writeOutput(o.IO, o.Output, data); err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(o.IO.Out, linesExportJSON{File: o.Output, Records: n})
	}
	if o.Output != "" && o.Output != "-" {
		fmt.Fprintf(o.IO.ErrOut, "Wrote %d labels to %s.\n", n, o.Output)
	}
	return nil
}

// LabelImportOptions are the inputs of `label import`.
type LabelImportOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Wallet      string
	File        string
}

func newCmdLabelImport(f *Factory, runF func(context.Context, *LabelImportOptions) error) *cobra.Command {
	o := &LabelImportOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "import FILE [--wallet NAME]",
		Short: "Merge a BIP-329 label export into the wallet's labels",
		Long: `Read a BIP-329 export (JSON lines; "-" for stdin) and merge it into the
wallet's labels in one step: a record's label, origin and spendable replace
the stored ones, a record without them leaves the stored ones (as BIP-329
asks), other keys are kept for the next export. Records of types BIP-329
does not define are skipped and counted. A line that is not a record stops
the import with its number, and nothing is stored.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.File = args[0]
			if runF != nil {
				return runF(c.Context(), o)
			}
			return labelImportRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Wallet, "wallet", "", "the wallet the labels are for (default: the only one stored)")
	return withJSONFields(cmd, labelImportJSON{})
}

type labelImportJSON struct {
	Wallet   string         `json:"wallet"`
	Imported int            `json:"imported"`
	Skipped  map[string]int `json:"skipped"`
}

func labelImportRun(ctx context.Context, o *LabelImportOptions) error {
	data, err := readInput(o.IO, o.File)
	if err != nil {
		return err
	}
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	res, err := co.ImportLabels(ctx, o.Wallet, data)
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(o.IO.Out, labelImportJSON{Wallet: res.Wallet, Imported: res.Imported, Skipped: res.Skipped})
	}
	fmt.Fprintf(o.IO.ErrOut, "Imported %d labels into wallet %q.\n", res.Imported, safe(res.Wallet))
	if len(res.Skipped) > 0 {
		var types []string
		for t, n := range res.Skipped {
			types = append(types, fmt.Sprintf("%d of type %q", n, safe(t)))
		}
		sort.Strings(types)
		fmt.Fprintf(o.IO.ErrOut, "Skipped records of types BIP-329 does not define: %s.\n", strings.Join(types, ", "))
	}
	return nil
}
