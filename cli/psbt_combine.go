package cli

import (
	"context"
	"fmt"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/psbt"
)

// PSBTCombineOptions are the inputs of `psbt combine`.
type PSBTCombineOptions struct {
	IO          *Streams
	JSON        bool
	Files       []string
	Wallet      string
	Output      string
	Coordinator func() (*coordinator.Coordinator, error)
}

func newCmdPSBTCombine(f *Factory, runF func(context.Context, *PSBTCombineOptions) error) *cobra.Command {
	o := &PSBTCombineOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "combine FILE FILE... [-o OUT]",
		Short: "Merge signed copies of one PSBT, verifying every signature",
		Long: `Merge copies of the same PSBT signed by different cosigners (BIP-174
combiner). Every partial signature is checked against its sighash and public
key; an invalid signature or conflicting data is refused (exit 4) and named.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Files = args
			if runF != nil {
				return runF(c.Context(), o)
			}
			return psbtCombineRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Wallet, "wallet", "", "the wallet the PSBT spends from (default: detected)")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "write the combined PSBT here (default: base64 on stdout)")
	return withJSONFields(cmd, psbtResultJSON{})
}

func psbtCombineRun(ctx context.Context, o *PSBTCombineOptions) error {
	ps := make([]*bpsbt.Packet, len(o.Files))
	for i, a := range o.Files {
		p, err := readPSBT(o.IO, a)
		if err != nil {
			return err
		}
		ps[i] = p
	}
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	res, err := co.Combine(ctx, o.Wallet, ps)
	if err != nil {
		return err
	}
	return finishPSBT(o.IO, o.JSON, o.Output, res.Wallet.Name, res.PSBT, res.Report)
}

// psbtResultJSON is what combine and sign print with --json.
type psbtResultJSON struct {
	Wallet string `json:"wallet"`
	File   string `json:"file,omitempty"`
	PSBT   string `json:"psbt"`
	*psbt.Report
}

// finishPSBT writes p and prints its status.
func finishPSBT(s *Streams, asJSON bool, output, walletName string, p *bpsbt.Packet, rep *psbt.Report) error {
	if asJSON {
		b64, err := psbt.Encode(p)
		if err != nil {
			return err
		}
		if output != "" && output != "-" {
			if err := writePSBT(s, output, p); err != nil {
				return err
			}
		}
		return writeJSON(s.Out, psbtResultJSON{walletName, output, b64, rep})
	}
	if err := writePSBT(s, output, p); err != nil {
		return err
	}
	renderReport(s.ErrOut, walletName, rep)
	if output != "" && output != "-" {
		fmt.Fprintf(s.ErrOut, "Wrote %s.\n", output)
	}
	return nil
}
