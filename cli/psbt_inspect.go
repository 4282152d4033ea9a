package cli

import (
	"context"
	"fmt"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/psbt"
)

// PSBTInspectOptions are the inputs of `psbt inspect`.
type PSBTInspectOptions struct {
	IO          *Streams
	JSON        bool
	File        string
	Wallet      string
	Network     string
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
base64 or hex, PSBT version 0 or 2; "-" reads stdin.

A PSBT no stored wallet recognises is still shown, as a plain PSBT (with
--json, "wallet" is null): its inputs with the amounts known, outputs with
addresses (for --network, else the network its xpubs say, else mainnet),
the fee when every amount is known, the signatures present, and the next
role it needs (updater, signer, finalizer or extractor). Nothing in it is
checked against a wallet.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Network = f.Global.Network
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
	Wallet      *string `json:"wallet"` // null: no stored wallet recognises it
	Network     string  `json:"network"`
	PSBTVersion uint32  `json:"psbt_version"`
	*psbt.Report
}

func psbtInspectRun(ctx context.Context, o *PSBTInspectOptions) error {
	p, version, err := readPSBT(o.IO, o.File)
	if err != nil {
		return err
	}
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	var net *chaincfg.Params
	if o.Network != "" {
		if net, err = descriptor.NetworkParams(o.Network); err != nil {
			return usagef("--network: %v", err)
		}
	}
	w, rep, err := co.Inspect(ctx, o.Wallet, p, net)
	if err != nil {
		return err
	}
	j := inspectJSON{PSBTVersion: version, Report: rep}
	name := ""
	switch {
	case w != nil:
		name, j.Wallet, j.Network = w.Name, &w.Name, descriptor.NetworkName(w.Network)
	case net != nil:
		j.Network = descriptor.NetworkName(net)
	default:
		j.Network = descriptor.NetworkName(psbt.GuessNetwork(p))
	}
	if o.JSON {
		return writeJSON(o.IO.Out, j)
	}
	if w == nil {
		fmt.Fprintf(o.IO.Out, "No stored wallet recognises this PSBT: shown as a plain PSBT (addresses on %s); nothing in it is checked against a wallet.\n", j.Network)
	}
	renderReport(o.IO.Out, name, rep)
	return nil
}
