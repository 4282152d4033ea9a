package cli

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/wallet"
)

// AddressOptions are the inputs of `address`.
type AddressOptions struct {
	IO       *Streams
	Store    func() (*wallet.Store, error)
	JSON     bool
	Name     string
	Change   bool
	Index    int64
	Count    uint32
	Label    string
	VerifyOn string
	Verify   func(ctx context.Context, l *loaded, spec string, branch, index uint32, want string) error
}

func newCmdAddress(f *Factory, runF func(context.Context, *AddressOptions) error) *cobra.Command {
	o := &AddressOptions{IO: f.IO, Store: f.Store, Verify: f.verifyAddressOnDevice}
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
	return cmd
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
	s, err := o.Store()
	if err != nil {
		return err
	}
	l, err := loadWallet(ctx, s, o.Name)
	if err != nil {
		return err
	}
	branch := uint32(0)
	branchName := "receive"
	if o.Change {
		branch, branchName = 1, "change"
	}
	showOnly := o.Change || o.Index >= 0 || o.Count > 1
	var out []addressJSON
	if showOnly {
		from := uint32(0)
		if o.Index >= 0 {
			from = uint32(o.Index)
		}
		ds, err := l.D.DeriveRange(branch, from, o.Count, l.Net)
		if err != nil {
			return err
		}
		for _, d := range ds {
			out = append(out, addressJSON{Wallet: o.Name, Branch: branchName, Index: d.Index, Address: d.Address, ScriptPubKey: hex.EncodeToString(d.ScriptPubKey)})
		}
	} else {
		var script []byte
		idx, addr, err := s.NextAddress(ctx, o.Name, 0, func(i uint32) (string, error) {
			d, err := l.D.Derive(0, i, l.Net)
			if err != nil {
				return "", err
			}
			script = d.ScriptPubKey
			return d.Address, nil
		}, o.Label)
		if err != nil {
			return err
		}
		out = append(out, addressJSON{Wallet: o.Name, Branch: branchName, Index: idx, Address: addr, ScriptPubKey: hex.EncodeToString(script), Label: o.Label, HandedOut: true})
	}
	if o.VerifyOn != "" {
		if len(out) != 1 {
			return usagef("--verify-on checks one address at a time: drop --count")
		}
		if err := o.Verify(ctx, l, o.VerifyOn, branch, out[0].Index, out[0].Address); err != nil {
			return err
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
		fmt.Fprintf(o.IO.ErrOut, "Verified: %s showed the same address.\n", o.VerifyOn)
	}
	return nil
}
