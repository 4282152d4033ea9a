package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// PSBTListOptions are the inputs of `psbt list`.
type PSBTListOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Wallet      string
	All         bool
}

func newCmdPSBTList(f *Factory, runF func(context.Context, *PSBTListOptions) error) *cobra.Command {
	o := &PSBTListOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "list [WALLET]",
		Short: "List pending spends: who has signed, and what is left to do",
		Long: `List every spend saved in the store (of WALLET, or of every wallet): its id
(the first version's draft id, as spend printed it), when it was made, what
it pays and to whom, how many signatures it has of how many it needs and
whose, and its state:

  draft       needs more signatures
  ready       enough signatures: finalize and broadcast it
  broadcast   sent, not yet in a block (as of the last sync)
  confirmed   in a block
  replaced    another transaction spends its coins (a bump, a cancel, or a
              payment made elsewhere)
  abandoned   psbt abandon

Signatures come from every version saved (sign, combine and finalize save
theirs; copies signed apart are merged), so the list is right whichever
files the cosigners passed around. Confirmed, replaced and abandoned spends
are left out unless --all.`,
		Example: `  countersign psbt list
  countersign psbt list treasury --all
  countersign --json psbt list treasury`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			if len(args) == 1 {
				o.Wallet = args[0]
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return psbtListRun(c.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.All, "all", false, "also list confirmed, replaced and abandoned spends")
	return withJSONFields(cmd, pendingJSON{})
}

// pendingJSON is one spend in `psbt list`, `psbt show` and `psbt abandon`.
type pendingJSON struct {
	ID            string            `json:"id"`
	Wallet        string            `json:"wallet"`
	Created       string            `json:"created"`
	State         string            `json:"state"`
	Kind          string            `json:"kind"`
	TxID          string            `json:"txid"`
	BroadcastTxID string            `json:"broadcast_txid,omitempty"`
	Replaces      string            `json:"replaces,omitempty"`
	Parent        string            `json:"parent,omitempty"`
	ReplacedBy    string            `json:"replaced_by,omitempty"`
	Height        int32             `json:"height,omitempty"`
	Amount        int64             `json:"amount"`
	Fee           int64             `json:"fee"`
	FeeRate       float64           `json:"fee_rate"`
	Destinations  []destinationJSON `json:"destinations"`
	Signatures    int               `json:"signatures"`
	Required      int               `json:"required"`
	N             int               `json:"n"`
	SignedBy      []psbt.Cosigner   `json:"signed_by"`
	Missing       []psbt.Cosigner   `json:"missing"`
	Label         string            `json:"label"`
	Versions      int               `json:"versions"`
}

type destinationJSON struct {
	Address string `json:"address"`
	Amount  int64  `json:"amount"`
	Label   string `json:"label"`
}

func newPendingJSON(ctx context.Context, co *coordinator.Coordinator, p *coordinator.Pending) pendingJSON {
	j := pendingJSON{ID: p.ID, Wallet: p.Wallet.Name, Created: p.Created.UTC().Format(time.RFC3339), State: p.State, Kind: string(p.Kind),
		TxID: p.TxID.String(), Height: p.Height, Amount: p.Report.Sent, Fee: p.Report.Fee, FeeRate: p.Report.FeeRate,
		Signatures: p.Signatures, Required: p.Required, N: p.N, SignedBy: p.Signed, Missing: p.Missing, Label: p.Label,
		Versions: len(p.Versions), Destinations: []destinationJSON{}}
	if p.FinalTxID != nil {
		j.BroadcastTxID = p.FinalTxID.String()
	}
	if p.Related != nil {
		if p.Kind == wallet.KindCPFP {
			j.Parent = p.Related.String()
		} else {
			j.Replaces = p.Related.String()
		}
	}
	if p.ReplacedBy != nil {
		j.ReplacedBy = p.ReplacedBy.String()
	}
	labels := co.AddressLabels(ctx, p.Wallet.Name)
	for _, o := range p.Report.Outputs {
		if o.Kind == psbt.KindExternal {
			j.Destinations = append(j.Destinations, destinationJSON{Address: o.Address, Amount: o.Amount, Label: labels[o.Address]})
		}
	}
	if j.SignedBy == nil {
		j.SignedBy = []psbt.Cosigner{}
	}
	if j.Missing == nil {
		j.Missing = []psbt.Cosigner{}
	}
	return j
}

func psbtListRun(ctx context.Context, o *PSBTListOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	ps, err := co.PendingSpends(ctx, o.Wallet)
	if err != nil {
		return err
	}
	out := []pendingJSON{}
	for _, p := range ps {
		switch p.State {
		case coordinator.PendingConfirmed, coordinator.PendingReplaced, coordinator.PendingAbandoned:
			if !o.All {
				continue
			}
		}
		out = append(out, newPendingJSON(ctx, co, p))
	}
	if o.JSON {
		return writeJSON(o.IO.Out, out)
	}
	if len(out) == 0 {
		fmt.Fprintln(o.IO.ErrOut, "No pending spends. Make one with `countersign spend`; --all lists the finished ones too.")
		return nil
	}
	tw := tabwriter.NewWriter(o.IO.Out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tWALLET\tCREATED\tSTATE\tAMOUNT (BTC)\tSIGNATURES\tTO\tLABEL")
	for _, j := range out {
		sigs := fmt.Sprintf("%d of %d", j.Signatures, j.Required)
		if names := cosignerNames(j.SignedBy); names != "" {
			sigs += " (" + names + ")"
		}
		state := j.State
		if j.Kind != string(wallet.KindSpend) {
			state += " (" + j.Kind + ")"
		}
		created, _ := time.Parse(time.RFC3339, j.Created)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.ID[:12], safe(j.Wallet), created.Local().Format("2006-01-02 15:04"), state,
			btcNum(j.Amount), safe(sigs), safe(destinations(j.Destinations)), safe(j.Label))
	}
	return tw.Flush()
}

func cosignerNames(cs []psbt.Cosigner) string {
	var names []string
	for _, c := range cs {
		names = append(names, signerName(c))
	}
	return strings.Join(names, ", ")
}

func destinations(ds []destinationJSON) string {
	switch len(ds) {
	case 0:
		return "(the wallet itself)"
	case 1:
		if ds[0].Label != "" {
			return ds[0].Address + " (" + ds[0].Label + ")"
		}
		return ds[0].Address
	}
	return fmt.Sprintf("%s and %d more", ds[0].Address, len(ds)-1)
}

// PSBTShowOptions are the inputs of `psbt show`.
type PSBTShowOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Ref         string
	Wallet      string
	Output      string
	Encoding    string
}

func newCmdPSBTShow(f *Factory, runF func(context.Context, *PSBTShowOptions) error) *cobra.Command {
	o := &PSBTShowOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "show ID [-o FILE]",
		Short: "Write a pending spend's current PSBT, with every signature collected",
		Long: `Write the current PSBT of a spend (ID: a draft id of any of its versions, at
least 8 hex digits, its unsigned txid or the txid it was broadcast as):
the newest version, which holds every signature saved so far. Without -o
it is printed in base64 after a summary on stderr.`,
		Example: `  countersign psbt show 3fa2c1d0 -o pay.psbt
  countersign psbt finalize <(countersign psbt show 3fa2c1d0)`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Ref = args[0]
			if err := checkEncoding(o.Encoding); err != nil {
				return err
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return psbtShowRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Wallet, "wallet", "", "look only in this wallet")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "write the PSBT here (default: base64 on stdout)")
	addEncodingFlag(cmd, &o.Encoding)
	return withJSONFields(cmd, showJSON{})
}

type showJSON struct {
	pendingJSON
	PSBT string `json:"psbt"`
	File string `json:"file,omitempty"`
}

func psbtShowRun(ctx context.Context, o *PSBTShowOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	p, err := co.PendingSpend(ctx, o.Wallet, o.Ref)
	if err != nil {
		return err
	}
	out := psbtOut{Path: o.Output, Encoding: o.Encoding}
	if o.JSON {
		b64, err := base64PSBT(p.PSBT, 0)
		if err != nil {
			return err
		}
		if err := writeFileOnly(o.IO, out, p.PSBT); err != nil {
			return err
		}
		j := showJSON{pendingJSON: newPendingJSON(ctx, co, p), PSBT: b64}
		if o.Output != "-" {
			j.File = o.Output
		}
		return writeJSON(o.IO.Out, j)
	}
	j := newPendingJSON(ctx, co, p)
	fmt.Fprintf(o.IO.ErrOut, "Spend %s of wallet %q: %s, %d of %d signatures", j.ID[:12], safe(j.Wallet), j.State, j.Signatures, j.Required)
	if names := cosignerNames(j.SignedBy); names != "" {
		fmt.Fprintf(o.IO.ErrOut, " (%s)", safe(names))
	}
	fmt.Fprintln(o.IO.ErrOut, ".")
	if err := writePSBT(o.IO, out, p.PSBT); err != nil {
		return err
	}
	if o.Output != "" && o.Output != "-" {
		fmt.Fprintf(o.IO.ErrOut, "Wrote %s.\n", o.Output)
	}
	return nil
}

// PSBTAbandonOptions are the inputs of `psbt abandon`.
type PSBTAbandonOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Ref         string
	Wallet      string
}

func newCmdPSBTAbandon(f *Factory, runF func(context.Context, *PSBTAbandonOptions) error) *cobra.Command {
	o := &PSBTAbandonOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "abandon ID",
		Short: "Give up a spend that was never sent, freeing its coins",
		Long: `Mark a spend as abandoned (journaled): psbt list shows it so, and spend may
use its coins again. A spend that was broadcast cannot be abandoned while
it may still confirm: replace it with psbt cancel instead. Abandoning does
not unsign anything: a copy someone holds can still be broadcast, and would
then show as broadcast again after a sync.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Ref = args[0]
			if runF != nil {
				return runF(c.Context(), o)
			}
			return psbtAbandonRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Wallet, "wallet", "", "look only in this wallet")
	return withJSONFields(cmd, pendingJSON{})
}

func psbtAbandonRun(ctx context.Context, o *PSBTAbandonOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	p, err := co.Abandon(ctx, o.Wallet, o.Ref)
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(o.IO.Out, newPendingJSON(ctx, co, p))
	}
	fmt.Fprintf(o.IO.ErrOut, "Abandoned spend %s of wallet %q; its %d coin(s) are free for new spends.\n", p.ID[:12], safe(p.Wallet.Name), len(p.Inputs()))
	return nil
}
