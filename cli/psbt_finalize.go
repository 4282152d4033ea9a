package cli

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
)

// PSBTFinalizeOptions are the inputs of `psbt finalize`.
type PSBTFinalizeOptions struct {
	IO             *Streams
	JSON           bool
	Files          []string
	Wallet         string
	Output         string
	PSBTOutput     string
	AllowHighFee   bool
	OverridePolicy string
	Coordinator    func() (*coordinator.Coordinator, error)
}

func newCmdPSBTFinalize(f *Factory, runF func(context.Context, *PSBTFinalizeOptions) error) *cobra.Command {
	o := &PSBTFinalizeOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "finalize FILE... [-o TX]",
		Short: "Build the final transaction once enough cosigners have signed",
		Long: `When every input holds enough valid signatures, build the final scriptSig and
witness (signatures in script key order), execute every input's script with
btcd's script engine against its previous output, and write the raw
transaction as hex (-o TX, default stdout). With too few signatures it exits
4 and says who is missing. The wallet's spending policy is checked first
(exit 4 with the rule named; --override-policy "REASON" is journaled).

Given several files (copies of one PSBT signed by different cosigners), it
combines them first exactly as "psbt combine" does, in the same process:
every signature is verified once, the combined PSBT is saved as a pending
spend (so nothing collected is lost when signatures are still missing:
"psbt show TXID" writes it), and then it is finalized.`,
		Example: `  countersign psbt finalize signed.psbt -o tx.hex
  countersign psbt finalize alice.psbt bob.psbt carol.psbt -o tx.hex`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Files = args
			if runF != nil {
				return runF(c.Context(), o)
			}
			return psbtFinalizeRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Wallet, "wallet", "", "the wallet the PSBT spends from (default: detected)")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "write the raw transaction hex here (default: stdout)")
	cmd.Flags().StringVar(&o.PSBTOutput, "psbt-output", "", "also write the finalized PSBT here")
	cmd.Flags().BoolVar(&o.AllowHighFee, "allow-high-fee", false, "allow a fee above 1,000 sat/vB or 5% of the amount sent")
	cmd.Flags().StringVar(&o.OverridePolicy, "override-policy", "", "finalize despite a breach of the wallet's spending policy, for this REASON (journaled)")
	return withJSONFields(cmd, finalizeJSON{})
}

type finalizeJSON struct {
	Wallet string `json:"wallet"`
	TxID   string `json:"txid"`
	Hex    string `json:"hex"`
	VSize  int64  `json:"vsize"`
	// Resolved is, given several copies, what combining them decided
	// (as psbt combine's "resolved").
	Resolved []string `json:"resolved,omitempty"`
}

func psbtFinalizeRun(ctx context.Context, o *PSBTFinalizeOptions) (err error) {
	ps, versions, err := readPSBTs(o.IO, o.Files)
	if err != nil {
		return err
	}
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	p, version, walletName := ps[0], versions[0], o.Wallet
	var resolved []string
	if len(ps) > 1 {
		comb, cerr := co.Combine(ctx, o.Wallet, ps, coordinator.GateOptions{AllowHighFee: o.AllowHighFee})
		if cerr != nil {
			return cerr
		}
		if !o.JSON {
			for _, r := range comb.Resolved {
				fmt.Fprintf(o.IO.ErrOut, "Resolved: %s\n", safe(r))
			}
		}
		p, walletName, resolved = comb.PSBT, comb.Wallet.Name, comb.Resolved
		txid := p.UnsignedTx.TxHash()
		defer func() {
			if err != nil {
				err = fmt.Errorf("%w (the %d copies were combined and saved: \"countersign psbt show %s\" writes the result)", err, len(o.Files), txid)
			}
		}()
	}
	res, err := co.Finalize(ctx, walletName, p, coordinator.GateOptions{AllowHighFee: o.AllowHighFee, OverridePolicy: o.OverridePolicy})
	if err != nil {
		return err
	}
	if o.PSBTOutput != "" {
		if err := writePSBT(o.IO, psbtOut{Path: o.PSBTOutput, Version: version}, res.PSBT); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	if err := res.Tx.Serialize(&buf); err != nil {
		return err
	}
	rawHex := hex.EncodeToString(buf.Bytes())
	vsize := coordinator.VSize(res.Tx)
	if o.JSON {
		if o.Output != "" && o.Output != "-" {
			if err := writeOutput(o.IO, o.Output, []byte(rawHex+"\n")); err != nil {
				return err
			}
		}
		return writeJSON(o.IO.Out, finalizeJSON{Wallet: res.Wallet.Name, TxID: res.Tx.TxHash().String(), Hex: rawHex, VSize: vsize, Resolved: resolved})
	}
	if err := writeOutput(o.IO, o.Output, []byte(rawHex+"\n")); err != nil {
		return err
	}
	fmt.Fprintf(o.IO.ErrOut, "Finalized %s (%d vB); every input verified by the script engine.\n", res.Tx.TxHash(), vsize)
	return nil
}
