package cli

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/hw"
	"github.com/spf13/cobra"
)

// AddressOptions are the inputs of `address`.
type AddressOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	Open        func(ctx context.Context, spec string, so SignerOptions) (*hw.Signer, error)
	JSON        bool
	Name        string
	Change      bool
	Index       int64
	Count       uint32
	Label       string
	VerifyOn    string
}

func newCmdAddress(f *Factory, runF func(context.Context, *AddressOptions) error) *cobra.Command {
	o := &AddressOptions{IO: f.IO, Coordinator: f.Coordinator, Open: f.OpenSigner}
	cmd := &cobra.Command{
		Use:   "address NAME",
		Short: "Hand out the next receive address, or show addresses",
		Long: `Without flags, hand out the next unused receive address and record it, so
no two callers (even in parallel processes) ever get the same one.

--index I, --count N and --change only show addresses; nothing is recorded.
--verify-on SIGNER shows the address on a hardware signer's screen and checks
that the device computed the same address: do this before giving a receive
address to a payer.`,
		Example: `  countersign address treasury --label "invoice 1042"
  countersign address treasury --index 0 --count 5
  countersign address treasury --verify-on coldcard:0f056943`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Name = args[0]
			if o.Count == 0 {
				return usagef("--count must be at least 1")
			}
			if o.Index < -1 || o.Index >= 1<<31 {
				return usagef("--index must be between 0 and 2^31-1")
			}
			if o.VerifyOn != "" && o.Count > 1 {
				return usagef("--verify-on checks one address at a time: drop --count")
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return addressRun(c.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.Change, "change", false, "show change addresses instead (nothing is handed out)")
	fl.Int64Var(&o.Index, "index", -1, "show the address at this index (nothing is handed out)")
	fl.Uint32Var(&o.Count, "count", 1, "number of addresses to show")
	fl.StringVar(&o.Label, "label", "", "label recorded with a handed-out address")
	fl.StringVar(&o.VerifyOn, "verify-on", "", "show the address on this signer and check it matches")
	return withJSONFields(cmd, addressJSON{})
}

type addressJSON struct {
	Wallet       string `json:"wallet"`
	Branch       string `json:"branch"`
	Index        uint32 `json:"index"`
	Address      string `json:"address"`
	ScriptPubKey string `json:"script_pubkey"`
	Label        string `json:"label,omitempty"`
	HandedOut    bool   `json:"handed_out"`
	VerifiedOn   string `json:"verified_on,omitempty"`
}

func addressRun(ctx context.Context, o *AddressOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	w, err := co.Wallet(ctx, o.Name)
	if err != nil {
		return err
	}
	branch := uint32(0)
	if o.Change {
		branch = 1
	}
	showOnly := o.Change || o.Index >= 0 || o.Count > 1
	var addrs []coordinator.Address
	if showOnly {
		addrs, err = co.Addresses(ctx, o.Name, branch, uint32(max(o.Index, 0)), o.Count)
	} else {
		var a *coordinator.Address
		if a, err = co.NextAddress(ctx, o.Name, o.Label); err == nil {
			addrs = []coordinator.Address{*a}
		}
	}
	if err != nil {
		return err
	}
	out := make([]addressJSON, len(addrs))
	for i, a := range addrs {
		out[i] = addressJSON{Wallet: o.Name, Branch: branchName(a.Branch), Index: a.Index, Address: a.Address, ScriptPubKey: hex.EncodeToString(a.ScriptPubKey), Label: a.Label, HandedOut: a.HandedOut}
	}
	if o.VerifyOn != "" {
		s, err := o.Open(ctx, o.VerifyOn, SignerOptions{})
		if err != nil {
			return err
		}
		defer s.Close()
		if _, err := co.VerifyAddress(ctx, w, s, branch, out[0].Index); err != nil {
			return registrationHint(err, o.Name, o.VerifyOn)
		}
		out[0].VerifiedOn = o.VerifyOn
	}
	if o.JSON {
		if len(out) == 1 && !showOnly {
			return writeJSON(o.IO.Out, out[0])
		}
		return writeJSON(o.IO.Out, out)
	}
	for _, a := range out {
		if showOnly {
			fmt.Fprintf(o.IO.Out, "%d\t%s\n", a.Index, a.Address)
		} else {
			fmt.Fprintln(o.IO.Out, a.Address)
		}
	}
	if o.VerifyOn != "" {
		fmt.Fprintf(o.IO.ErrOut, "Verified: %s showed the same address.\n", safe(o.VerifyOn))
	}
	return nil
}
