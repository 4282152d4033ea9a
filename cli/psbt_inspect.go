package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/psbt"
)

// PSBTInspectOptions are the inputs of `psbt inspect`.
type PSBTInspectOptions struct {
	IO          *Streams
	JSON        bool
	File        string
	Wallet      string
	Coordinator func() (*coordinator.Coordinator, error)
}

func newCmdPSBTInspect(f *Factory, runF func(context.Context, *PSBTInspectOptions) error) *cobra.Command {
	o := &PSBTInspectOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Show what a PSBT pays, its fee, and who still has to sign",
		Long: `Show a PSBT as the wallet sees it: each input (ours or external) and who has
signed it, each output (change, re-derived from the wallet, or external), the
fee and fee rate, and whether it is ready to finalize. FILE may be binary,
base64 or hex; "-" reads stdin.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.File = args[0]
			if runF != nil {
				return runF(c.Context(), o)
			}
			return psbtInspectRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Wallet, "wallet", "", "the wallet the PSBT spends from (default: detected)")
	return withJSONFields(cmd, inspectJSON{})
}

type inspectJSON struct {
	Wallet string `json:"wallet"`
	*psbt.Report
}

func psbtInspectRun(ctx context.Context, o *PSBTInspectOptions) error {
	p, err := readPSBT(o.IO, o.File)
	if err != nil {
		return err
	}
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	w, rep, err := co.Inspect(ctx, o.Wallet, p)
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(o.IO.Out, inspectJSON{w.Name, rep})
	}
	renderReport(o.IO.Out, w.Name, rep)
	return nil
}
