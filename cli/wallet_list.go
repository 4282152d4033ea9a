package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/countersign/countersign/coordinator"
	"github.com/spf13/cobra"
)

// WalletListOptions are the inputs of `wallet list`.
type WalletListOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
}

func newCmdWalletList(f *Factory, runF func(context.Context, *WalletListOptions) error) *cobra.Command {
	o := &WalletListOptions{IO: f.IO, Coordinator: f.Coordinator}
	return withJSONFields(&cobra.Command{
		Use:   "list",
		Short: "List the stored wallets",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			if runF != nil {
				return runF(c.Context(), o)
			}
			return walletListRun(c.Context(), o)
		},
	}, walletListItem{})
}

type walletListItem struct {
	Name      string `json:"name"`
	Policy    string `json:"policy"`
	Script    string `json:"script"`
	Network   string `json:"network"`
	Threshold int    `json:"threshold"`
	N         int    `json:"n"`
	// Status is "active", "rotating" (a successor exists, the sweep has not
	// confirmed) or "retired"; Successor and Predecessor name the wallets
	// of a key rotation.
	Status      string  `json:"status"`
	Successor   *string `json:"successor"`
	Predecessor *string `json:"predecessor"`
}

func walletListRun(ctx context.Context, o *WalletListOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	ws, err := co.Wallets(ctx)
	if err != nil {
		return err
	}
	rots, err := co.Rotations(ctx)
	if err != nil {
		return err
	}
	items := make([]walletListItem, 0, len(ws))
	for _, w := range ws {
		it := walletListItem{Name: w.Name, Policy: coordinator.ListPolicy(w), Script: w.Script, Network: w.Network, Threshold: w.Threshold, N: w.N, Status: "active"}
		for _, r := range rots {
			switch {
			case r.Wallet == w.Name:
				it.Successor = &r.Successor
				it.Status = "rotating"
				if r.Retired {
					it.Status = "retired"
				}
			case r.Successor == w.Name:
				it.Predecessor = &r.Wallet
			}
		}
		items = append(items, it)
	}
	if o.JSON {
		return writeJSON(o.IO.Out, items)
	}
	if len(items) == 0 {
		fmt.Fprintln(o.IO.ErrOut, "No wallets yet. Create one with `countersign wallet create` or `countersign wallet import`.")
		return nil
	}
	tw := tabwriter.NewWriter(o.IO.Out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPOLICY\tSCRIPT\tNETWORK\tSTATUS")
	for _, it := range items {
		status := it.Status
		switch {
		case it.Successor != nil:
			status += " -> " + safe(*it.Successor)
		case it.Predecessor != nil:
			status += " (successor of " + safe(*it.Predecessor) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", safe(it.Name), it.Policy, it.Script, it.Network, status)
	}
	return tw.Flush()
}

// WalletDeleteOptions are the inputs of `wallet delete`.
type WalletDeleteOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Yes         bool
	Name        string
}

func newCmdWalletDelete(f *Factory, runF func(context.Context, *WalletDeleteOptions) error) *cobra.Command {
	o := &WalletDeleteOptions{IO: f.IO, Coordinator: f.Coordinator}
	return withJSONFields(&cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a wallet and everything stored for it (asks unless --yes)",
		Long: `Delete a wallet from the store: its config, issued addresses, cached coins,
drafts and registrations. The coins themselves are untouched; anyone with the
descriptor backup can recreate the wallet. Export a backup first:
countersign wallet export NAME --format descriptor.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Yes = f.Global.Yes
			o.Name = args[0]
			if runF != nil {
				return runF(c.Context(), o)
			}
			return walletDeleteRun(c.Context(), o)
		},
	}, deleteJSON{})
}

type deleteJSON struct {
	Name    string `json:"name"`
	Deleted bool   `json:"deleted"`
}

func walletDeleteRun(ctx context.Context, o *WalletDeleteOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	if _, err := co.Wallet(ctx, o.Name); err != nil {
		return err
	}
	if err := confirm(o.IO, o.Yes, fmt.Sprintf("Delete wallet %q and all its stored data?", safe(o.Name))); err != nil {
		return err
	}
	if err := co.DeleteWallet(ctx, o.Name); err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(o.IO.Out, deleteJSON{Name: o.Name, Deleted: true})
	}
	fmt.Fprintf(o.IO.ErrOut, "Deleted wallet %q.\n", safe(o.Name))
	return nil
}
