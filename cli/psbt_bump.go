package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/psbt"
)

// PSBTBumpOptions are the inputs of `psbt bump` and `psbt cancel`.
type PSBTBumpOptions struct {
	IO             *Streams
	Coordinator    func() (*coordinator.Coordinator, error)
	JSON           bool
	Cancel         bool
	Ref            string
	Wallet         string
	FeeRate        string
	Reduce         int
	Output         string
	Encoding       string
	Note           string
	AllowHighFee   bool
	OverridePolicy string
}

func newCmdPSBTBump(f *Factory, runF func(context.Context, *PSBTBumpOptions) error, cancel bool) *cobra.Command {
	o := &PSBTBumpOptions{IO: f.IO, Coordinator: f.Coordinator, Cancel: cancel, Reduce: -1}
	cmd := &cobra.Command{
		Use:   "bump TXID|ID --fee-rate SAT_VB [--reduce OUTPUT] [-o FILE]",
		Short: "Replace a stuck spend with one paying a higher fee (BIP-125)",
		Long: `Build a replacement for a spend that was broadcast but is stuck (TXID: the
txid it was sent as, or its unsigned txid; ID: a draft id). The replacement
spends the same coins and makes the same payments at --fee-rate:

  - the fee comes from the change output; when the change cannot pay it,
    a confirmed coin of the wallet is added (never an unconfirmed one:
    nodes refuse a replacement that spends new unconfirmed coins);
  - payments are never lowered, except the one output you name with
    --reduce, for a spend without change (a send-all);
  - it meets the replacement rules nodes apply (BIP-125 rules 3 and 4, as
    btcd and Bitcoin Core relay): a higher fee rate than the original, and
    a fee of at least the original's plus 1 sat/vB of its own size. A
    --fee-rate too low for that is refused with the least that works.

The replacement is a new draft, shown by psbt list with what it replaces,
and it needs every signature again: the cosigners sign it like any spend,
then psbt finalize and psbt broadcast send it. The original shows as
replaced once the replacement is sent. It goes through the same safety
checks and spending policy as spend.`,
		Example: `  countersign psbt bump 5e2a9c...d41 --fee-rate 12 -o bump.psbt
  countersign psbt bump 3fa2c1d0 --fee-rate 20 --reduce 0 -o bump.psbt   # a send-all`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Ref = args[0]
			if !o.Cancel && o.FeeRate == "" {
				return usagef("--fee-rate SAT_VB is required: the rate the replacement pays")
			}
			if err := checkEncoding(o.Encoding); err != nil {
				return err
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return psbtBumpRun(c.Context(), o)
		},
	}
	if cancel {
		cmd.Use = "cancel TXID|ID [--fee-rate SAT_VB] [-o FILE]"
		cmd.Short = "Replace a stuck payment with one back to the wallet (BIP-125)"
		cmd.Long = `Build a replacement for a stuck spend that pays everything it spent back to
the wallet (its change address, or the next one), so the payment never
happens if the replacement confirms first. It meets the replacement rules
(a higher fee rate, and at least the original fee plus 1 sat/vB of its own
size); without --fee-rate it pays the least those rules allow. Like a bump
it is a new draft that needs every signature again, and nothing is
cancelled until it is broadcast and confirmed: a miner may still confirm
the original.`
		cmd.Example = `  countersign psbt cancel 5e2a9c...d41 -o cancel.psbt`
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Wallet, "wallet", "", "look only in this wallet")
	fl.StringVar(&o.FeeRate, "fee-rate", "", "the replacement's fee rate in sat/vB")
	if !cancel {
		fl.IntVar(&o.Reduce, "reduce", -1, "take the fee increase out of this output of the original (its index; only for a spend without change)")
	}
	fl.StringVarP(&o.Output, "output", "o", "", "write the replacement PSBT here (binary); default: base64 on stdout")
	fl.StringVar(&o.Note, "note", "", "a note for the replacement (default: the original's label)")
	fl.BoolVar(&o.AllowHighFee, "allow-high-fee", false, "allow a fee above 1,000 sat/vB or 5% of the amount sent")
	fl.StringVar(&o.OverridePolicy, "override-policy", "", "go through a breach of the wallet's spending policy, for this REASON (journaled)")
	addEncodingFlag(cmd, &o.Encoding)
	return withJSONFields(cmd, bumpJSON{})
}

// bumpJSON is what `psbt bump` and `psbt cancel` print.
type bumpJSON struct {
	Draft             string       `json:"draft_id"`
	Wallet            string       `json:"wallet"`
	Replaces          string       `json:"replaces"`
	ReplacesBroadcast string       `json:"replaces_broadcast_txid"`
	File              string       `json:"file,omitempty"`
	PSBT              string       `json:"psbt"`
	OldFee            int64        `json:"old_fee"`
	OldVSize          int64        `json:"old_vsize"`
	OldFeeRate        float64      `json:"old_fee_rate"`
	OldSizeEstimated  bool         `json:"old_vsize_estimated"`
	Descendants       int          `json:"descendants"`
	MinFee            int64        `json:"min_fee"`
	Added             []string     `json:"added_inputs"`
	NeedsSignatures   int          `json:"needs_signatures"`
	Report            *psbt.Report `json:"summary"`
}

func psbtBumpRun(ctx context.Context, o *PSBTBumpOptions) error {
	var rate float64
	if o.FeeRate != "" {
		var err error
		if rate, err = parseFeeRate(o.FeeRate); err != nil {
			return err
		}
	}
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	res, err := co.Bump(ctx, coordinator.BumpRequest{Wallet: o.Wallet, Ref: o.Ref, FeeRate: rate, Reduce: o.Reduce, Cancel: o.Cancel,
		Note: o.Note, AllowHighFee: o.AllowHighFee, OverridePolicy: o.OverridePolicy})
	if err != nil {
		return err
	}
	b64, err := psbt.Encode(res.PSBT)
	if err != nil {
		return err
	}
	if o.Output != "" && o.Output != "-" {
		if err := writePSBT(o.IO, psbtOut{Path: o.Output, Encoding: o.Encoding}, res.PSBT); err != nil {
			return err
		}
	}
	need := 0
	for _, in := range res.Report.Inputs {
		need = max(need, in.Missing)
	}
	if o.JSON {
		j := bumpJSON{Draft: res.Draft.ID, Wallet: res.Original.Wallet.Name, Replaces: res.Original.TxID.String(), PSBT: b64,
			OldFee: res.OldFee, OldVSize: res.OldVSize, OldFeeRate: res.OldFeeRate, OldSizeEstimated: res.OldSizeEstimated,
			Descendants: res.Descendants, MinFee: res.MinFee, Added: []string{}, NeedsSignatures: need, Report: res.Report}
		if res.Original.FinalTxID != nil {
			j.ReplacesBroadcast = res.Original.FinalTxID.String()
		}
		if o.Output != "-" {
			j.File = o.Output
		}
		for _, op := range res.Added {
			j.Added = append(j.Added, op.String())
		}
		return writeJSON(o.IO.Out, j)
	}
	name := res.Original.Wallet.Name
	renderReport(o.IO.ErrOut, name, res.Report)
	what := "Replaces"
	if o.Cancel {
		what = "Cancels (pays back to the wallet)"
	}
	old := res.Original.TxID.String()
	if res.Original.FinalTxID != nil {
		old = res.Original.FinalTxID.String()
	}
	fmt.Fprintf(o.IO.ErrOut, "%s %s: it paid %d sat (%.2f sat/vB at %d vB%s); the replacement pays %d sat (%.2f sat/vB), at least %d were needed.\n",
		what, old, res.OldFee, res.OldFeeRate, res.OldVSize, estimated(res.OldSizeEstimated), res.Report.Fee, res.Report.FeeRate, res.MinFee)
	if len(res.Added) > 0 {
		var ops []string
		for _, op := range res.Added {
			ops = append(ops, op.String())
		}
		fmt.Fprintf(o.IO.ErrOut, "Added coin(s) %s: the change could not pay the higher fee.\n", strings.Join(ops, ", "))
	}
	fmt.Fprintf(o.IO.ErrOut, "Draft %s saved. It needs %d signature(s) again: sign it, then psbt finalize and psbt broadcast.\n", res.Draft.ID[:12], need)
	if o.Output == "" || o.Output == "-" {
		return writePSBT(o.IO, psbtOut{Encoding: o.Encoding}, res.PSBT)
	}
	fmt.Fprintf(o.IO.ErrOut, "Wrote %s. Next: countersign sign %s --with SIGNER\n", o.Output, o.Output)
	return nil
}

func estimated(e bool) string {
	if e {
		return ", estimated"
	}
	return ""
}
