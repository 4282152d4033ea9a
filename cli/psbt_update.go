package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
)

// PSBTUpdateOptions are the inputs of `psbt update`.
type PSBTUpdateOptions struct {
	IO       *Streams
	JSON     bool
	File     string
	Wallet   string
	Output   string
	Encoding string
	// AllowHighFee lets a fee above the limits through the gate.
	AllowHighFee bool
	Coordinator  func() (*coordinator.Coordinator, error)
}

func newCmdPSBTUpdate(f *Factory, runF func(context.Context, *PSBTUpdateOptions) error) *cobra.Command {
	o := &PSBTUpdateOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "update FILE [-o OUT]",
		Short: "Complete a PSBT another tool made for a stored wallet",
		Long: `Fill in what signers need, from the wallet, into a PSBT that spends from a
stored wallet but was made by another tool (Electrum, Sparrow, Core), as
Bitcoin Core's descriptorprocesspsbt does without signing: the previous
transactions (from the store, else the backend), witness_utxo, redeem and
witness scripts, every cosigner's key derivation with its full origin, and
the global xpubs. A record that contradicts the wallet is replaced; every
change is listed. Inputs and outputs the wallet does not derive are left
alone. sign does the same by itself before any signer sees a PSBT. The
completed PSBT then goes through the same checks as sign: a PSBT the wallet
refuses is not written back.

The result replaces FILE unless -o names another file ("-" for stdout), in
FILE's PSBT version.`,
		Example: `  countersign psbt update electrum.psbt -o pay.psbt
  countersign psbt update - < from-sparrow.txt --encoding base64`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.File = args[0]
			if o.Output == "" && o.File == "-" {
				o.Output = "-"
			}
			if err := checkEncoding(o.Encoding); err != nil {
				return err
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return psbtUpdateRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Wallet, "wallet", "", "the wallet the PSBT spends from (default: detected)")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "write the updated PSBT here (default: replace FILE)")
	addEncodingFlag(cmd, &o.Encoding)
	cmd.Flags().BoolVar(&o.AllowHighFee, "allow-high-fee", false, "accept a fee above 1,000 sat/vB or 5% of the amount sent")
	return withJSONFields(cmd, psbtResultJSON{}, updateJSON{})
}

// updateJSON is what update adds to psbtResultJSON.
type updateJSON struct {
	Changes []string `json:"changes"`
}

func psbtUpdateRun(ctx context.Context, o *PSBTUpdateOptions) error {
	p, version, err := readPSBT(o.IO, o.File)
	if err != nil {
		return err
	}
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	up, err := co.UpdatePSBT(ctx, o.Wallet, p, coordinator.GateOptions{AllowHighFee: o.AllowHighFee})
	if err != nil {
		return err
	}
	w, report := up.Wallet, up.Report
	path := o.Output
	if path == "" {
		path = o.File
	}
	out := psbtOut{Path: path, Encoding: o.Encoding, Version: version}
	changes := up.Changes
	if changes == nil {
		changes = []string{}
	}
	if o.JSON {
		j, err := newPSBTResult(out, w.Name, p, report)
		if err != nil {
			return err
		}
		if err := writeFileOnly(o.IO, out, p); err != nil {
			return err
		}
		return writeJSON(o.IO.Out, struct {
			*psbtResultJSON
			updateJSON
		}{j, updateJSON{changes}})
	}
	for _, c := range changes {
		fmt.Fprintf(o.IO.ErrOut, "Updated: %s\n", safe(c))
	}
	if len(changes) == 0 {
		fmt.Fprintln(o.IO.ErrOut, "Nothing to update: the PSBT already carries everything the wallet knows.")
	}
	return finishPSBT(o.IO, out, w.Name, p, report, nil)
}
