package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
)

// PSBTBroadcastOptions are the inputs of `psbt broadcast`.
type PSBTBroadcastOptions struct {
	IO           *Streams
	JSON         bool
	File         string
	Wallet       string
	AllowHighFee bool
	Coordinator  func() (*coordinator.Coordinator, error)
}

func newCmdPSBTBroadcast(f *Factory, runF func(context.Context, *PSBTBroadcastOptions) error) *cobra.Command {
	o := &PSBTBroadcastOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "broadcast FILE",
		Short: "Send a finalized PSBT or raw transaction to the network",
		Long: `Send a finalized PSBT (or a raw transaction in hex) through the wallet's
backend, print the txid and record it: the coins it spends stop counting in
the balance until the next sync confirms it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.File = args[0]
			if runF != nil {
				return runF(c.Context(), o)
			}
			return psbtBroadcastRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Wallet, "wallet", "", "the wallet the transaction spends from (default: detected)")
	cmd.Flags().BoolVar(&o.AllowHighFee, "allow-high-fee", false, "allow a fee above 1,000 sat/vB or 5% of the amount sent")
	return withJSONFields(cmd, broadcastJSON{})
}

type broadcastJSON struct {
	Wallet string `json:"wallet"`
	TxID   string `json:"txid"`
}

func psbtBroadcastRun(ctx context.Context, o *PSBTBroadcastOptions) error {
	data, err := readInput(o.IO, o.File)
	if err != nil {
		return err
	}
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	res, err := co.Broadcast(ctx, o.Wallet, data, coordinator.GateOptions{AllowHighFee: o.AllowHighFee})
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(o.IO.Out, broadcastJSON{Wallet: res.Wallet.Name, TxID: res.TxID.String()})
	}
	fmt.Fprintln(o.IO.Out, res.TxID)
	return nil
}
