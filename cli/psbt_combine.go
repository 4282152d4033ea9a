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
	IO           *Streams
	JSON         bool
	Files        []string
	Wallet       string
	Output       string
	Encoding     string
	AllowHighFee bool
	Coordinator  func() (*coordinator.Coordinator, error)
}

func newCmdPSBTCombine(f *Factory, runF func(context.Context, *PSBTCombineOptions) error) *cobra.Command {
	o := &PSBTCombineOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "combine FILE FILE... [-o OUT]",
		Short: "Merge signed copies of one PSBT, verifying every signature",
		Long: `Merge copies of the same PSBT signed by different cosigners, with any tools
(BIP-174 combiner; version 0 and version 2 copies mix). Where copies
disagree on something that is not a signature, the wallet decides: each
copy's key derivations and global xpubs of the wallet's keys are corrected
to the wallet's (Electrum writes [fingerprint of the xpub]/0/5 for a
cosigner it knows only by its xpub), and unknown records the copies
disagree on are dropped; every such decision is listed. Copies that
disagree on scripts, UTXOs or keys the wallet does not know are refused
(exit 4), as is any invalid signature, named. The result is written in the
first copy's PSBT version.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Files = args
			if err := checkEncoding(o.Encoding); err != nil {
				return err
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return psbtCombineRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Wallet, "wallet", "", "the wallet the PSBT spends from (default: detected)")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "write the combined PSBT here (default: base64 on stdout)")
	addEncodingFlag(cmd, &o.Encoding)
	cmd.Flags().BoolVar(&o.AllowHighFee, "allow-high-fee", false, "allow a fee above 1,000 sat/vB or 5% of the amount sent")
	return withJSONFields(cmd, psbtResultJSON{}, combineJSON{})
}

// combineJSON is what combine adds to psbtResultJSON.
type combineJSON struct {
	Resolved []string `json:"resolved"`
}

func psbtCombineRun(ctx context.Context, o *PSBTCombineOptions) error {
	ps, versions, err := readPSBTs(o.IO, o.Files)
	if err != nil {
		return err
	}
	version := versions[0]
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	res, err := co.Combine(ctx, o.Wallet, ps, coordinator.GateOptions{AllowHighFee: o.AllowHighFee})
	if err != nil {
		return err
	}
	out := psbtOut{Path: o.Output, Encoding: o.Encoding, Version: version}
	if o.JSON {
		j, err := newPSBTResult(out, res.Wallet.Name, res.PSBT, res.Report)
		if err != nil {
			return err
		}
		if err := writeFileOnly(o.IO, out, res.PSBT); err != nil {
			return err
		}
		resolved := res.Resolved
		if resolved == nil {
			resolved = []string{}
		}
		return writeJSON(o.IO.Out, struct {
			*psbtResultJSON
			combineJSON
		}{j, combineJSON{resolved}})
	}
	for _, r := range res.Resolved {
		fmt.Fprintf(o.IO.ErrOut, "Resolved: %s\n", safe(r))
	}
	if err := finishPSBT(o.IO, out, res.Wallet.Name, res.PSBT, res.Report, res.ToSuccessor); err != nil {
		return err
	}
	if res.Report.ReadyToFinalize && out.Path != "" && out.Path != "-" {
		fmt.Fprintf(o.IO.ErrOut, "Next: countersign psbt finalize %s -o TX (psbt finalize also takes the signed copies themselves: one step)\n", safe(out.Path))
	}
	return nil
}

// psbtResultJSON is what combine, sign and update print with --json.
type psbtResultJSON struct {
	Wallet      string `json:"wallet"`
	File        string `json:"file,omitempty"`
	PSBT        string `json:"psbt"`
	PSBTVersion uint32 `json:"psbt_version"`
	*psbt.Report
}

func newPSBTResult(out psbtOut, walletName string, p *bpsbt.Packet, rep *psbt.Report) (*psbtResultJSON, error) {
	b64, err := base64PSBT(p, out.Version)
	if err != nil {
		return nil, err
	}
	j := &psbtResultJSON{Wallet: walletName, PSBT: b64, PSBTVersion: out.Version, Report: rep}
	if out.Path != "" && out.Path != "-" {
		j.File = out.Path
	}
	return j, nil
}

// writeFileOnly writes p when out names a file; with --json the PSBT on
// stdout is in the JSON object instead.
func writeFileOnly(s *Streams, out psbtOut, p *bpsbt.Packet) error {
	if out.Path == "" || out.Path == "-" {
		return nil
	}
	return writePSBT(s, out, p)
}

// finishPSBT writes p and prints its status for people.
// to names the outputs that pay the wallet's successor, when any does.
func finishPSBT(s *Streams, out psbtOut, walletName string, p *bpsbt.Packet, rep *psbt.Report, to *coordinator.SuccessorOutputs) error {
	if err := writePSBT(s, out, p); err != nil {
		return err
	}
	renderReportTo(s.ErrOut, walletName, rep, to)
	if out.Path != "" && out.Path != "-" {
		fmt.Fprintf(s.ErrOut, "Wrote %s.\n", out.Path)
	}
	return nil
}
