package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/countersign/countersign/coordinator"
	"github.com/spf13/cobra"
)

// WalletShowOptions are the inputs of `wallet show`.
type WalletShowOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Name        string
}

func newCmdWalletShow(f *Factory, runF func(context.Context, *WalletShowOptions) error) *cobra.Command {
	o := &WalletShowOptions{IO: f.IO, Coordinator: f.Coordinator}
	return withJSONFields(&cobra.Command{
		Use:   "show NAME",
		Short: "Show a wallet: descriptor, policy, cosigners and first address",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Name = args[0]
			if runF != nil {
				return runF(c.Context(), o)
			}
			return walletShowRun(c.Context(), o)
		},
	}, walletJSON{})
}

func walletShowRun(ctx context.Context, o *WalletShowOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	sum, err := co.Summary(ctx, o.Name)
	if err != nil {
		return err
	}
	return renderWalletShow(o.IO, o.JSON, sum)
}

type cosignerJSON struct {
	Position    int            `json:"position"`
	Label       string         `json:"label"`
	Fingerprint string         `json:"fingerprint"`
	Path        string         `json:"path"`
	Xpub        string         `json:"xpub"`
	Registered  []registration `json:"registrations"`
}

type registration struct {
	Device       string    `json:"device"`
	RegisteredAt time.Time `json:"registered_at"`
	NameOnDevice string    `json:"name_on_device,omitempty"`
}

type walletJSON struct {
	Name         string         `json:"name"`
	Descriptor   string         `json:"descriptor"`
	Policy       string         `json:"policy"`
	Script       string         `json:"script"`
	Network      string         `json:"network"`
	Threshold    int            `json:"threshold"`
	N            int            `json:"n"`
	Cosigners    []cosignerJSON `json:"cosigners"`
	Paths        []string       `json:"spending_paths,omitempty"`
	FirstAddress string         `json:"first_address"`
	NextReceive  uint32         `json:"next_receive_index"`
	NextChange   uint32         `json:"next_change_index"`
	BirthHeight  int32          `json:"birth_height"`
	Backend      string         `json:"backend,omitempty"`
	CreatedAt    time.Time      `json:"created_at"`
}

func walletView(sum *coordinator.WalletSummary) *walletJSON {
	w := sum.Wallet
	out := &walletJSON{
		Name:         w.Name,
		Descriptor:   w.Descriptor.String(),
		Policy:       w.Descriptor.Policy(),
		Script:       w.Descriptor.Script.String(),
		Network:      w.Wallet.Network,
		Threshold:    w.Descriptor.Threshold,
		N:            w.Descriptor.N(),
		FirstAddress: sum.FirstAddress,
		NextReceive:  w.NextReceive,
		NextChange:   w.NextChange,
		BirthHeight:  w.BirthHeight,
		Backend:      redactedBackend(w.Backend),
		CreatedAt:    w.CreatedAt.UTC(),
		Paths:        w.Descriptor.SpendingPaths(),
	}
	for _, cs := range sum.Cosigners {
		c := cosignerJSON{Position: cs.Position, Label: cs.Label, Fingerprint: cs.Fingerprint, Path: cs.Path, Xpub: cs.Xpub, Registered: []registration{}}
		for _, r := range cs.Registrations {
			c.Registered = append(c.Registered, registration{Device: r.DeviceType, RegisteredAt: r.RegisteredAt.UTC(), NameOnDevice: r.NameOnDevice})
		}
		out.Cosigners = append(out.Cosigners, c)
	}
	return out
}

func renderWalletShow(s *Streams, asJSON bool, sum *coordinator.WalletSummary) error {
	v := walletView(sum)
	if asJSON {
		return writeJSON(s.Out, v)
	}
	w := s.Out
	fmt.Fprintf(w, "Wallet:      %s\n", safe(v.Name))
	fmt.Fprintf(w, "Policy:      %s (%s, %s)\n", v.Policy, scriptLabel(v.Script), v.Network)
	fmt.Fprintf(w, "Descriptor:  %s\n", v.Descriptor)
	fmt.Fprintf(w, "First address: %s\n", v.FirstAddress)
	fmt.Fprintf(w, "Next index:  receive %d, change %d\n", v.NextReceive, v.NextChange)
	if len(v.Paths) > 0 {
		fmt.Fprintln(w, "Spending paths:")
		for _, p := range v.Paths {
			fmt.Fprintf(w, "  - %s\n", p)
		}
	}
	fmt.Fprintln(w, "Cosigners:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tFINGERPRINT\tLABEL\tPATH\tREGISTERED ON DEVICE")
	for _, c := range v.Cosigners {
		reg := "no"
		if len(c.Registered) > 0 {
			reg = fmt.Sprintf("yes (%s, %s)", safe(c.Registered[0].Device), c.Registered[0].RegisteredAt.Format("2006-01-02"))
		}
		fp, label, path := orDash(c.Fingerprint), safe(orDash(c.Label)), orDash(c.Path)
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", c.Position, fp, label, path, reg)
	}
	return tw.Flush()
}

func scriptLabel(s string) string {
	switch s {
	case "wsh":
		return "P2WSH native segwit"
	case "sh-wsh":
		return "P2SH-P2WSH nested segwit"
	case "sh":
		return "P2SH legacy"
	case "tr":
		return "P2TR taproot"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
