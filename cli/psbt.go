package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/btcsuite/btcd/btcutil"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/spf13/cobra"

	"github.com/countersign/countersign/psbt"
)

func newCmdPSBT(f *Factory) *cobra.Command {
	cmd := groupCmd(&cobra.Command{
		Use:   "psbt",
		Short: "Inspect, combine, finalize and broadcast PSBTs",
	})
	cmd.AddCommand(newCmdPSBTInspect(f, nil), newCmdPSBTCombine(f, nil), newCmdPSBTFinalize(f, nil), newCmdPSBTBroadcast(f, nil))
	return cmd
}

// readPSBT decodes a PSBT file (binary, base64 or hex; "-" = stdin).
func readPSBT(s *Streams, path string) (*bpsbt.Packet, error) {
	data, err := readInput(s, path)
	if err != nil {
		return nil, err
	}
	p, err := psbt.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", displayName(path), err)
	}
	return p, nil
}

func displayName(path string) string {
	if path == "-" {
		return "stdin"
	}
	return path
}

// writePSBT writes p to path as a binary PSBT, or base64 to stdout for "" or "-".
func writePSBT(s *Streams, path string, p *bpsbt.Packet) error {
	if path == "" || path == "-" {
		b64, err := psbt.Encode(p)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(s.Out, b64)
		return err
	}
	raw, err := psbt.Serialize(p)
	if err != nil {
		return err
	}
	return writeOutput(s, path, raw)
}

// renderReport prints a PSBT summary for people.
func renderReport(w io.Writer, walletName string, r *psbt.Report) {
	fmt.Fprintf(w, "PSBT spending from wallet %q (txid %s)\n", safe(walletName), r.TxID)
	fmt.Fprintln(w, "Inputs:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for i, in := range r.Inputs {
		owner := "ours"
		if !in.Ours {
			owner = "EXTERNAL"
		}
		signed := make([]string, 0, len(in.Signatures))
		for _, s := range in.Signatures {
			signed = append(signed, signerName(s))
		}
		status := fmt.Sprintf("%d of %d signatures", len(in.Signatures), in.Required)
		if in.Finalized {
			status = "finalized"
		} else if len(signed) > 0 {
			status += " (" + safe(strings.Join(signed, ", ")) + ")"
		}
		fmt.Fprintf(tw, "  #%d\t%s\t%s BTC\t%s\t%s\n", i, in.OutPoint, btcNum(in.Amount), owner, status)
	}
	tw.Flush()
	fmt.Fprintln(w, "Outputs:")
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for i, out := range r.Outputs {
		kind := "pays " + safe(orDash(out.Address))
		if out.Kind == psbt.KindChange {
			kind = fmt.Sprintf("change to %s (wallet %d/%d)", safe(out.Address), deref(out.Branch), deref(out.Index))
		}
		fmt.Fprintf(tw, "  #%d\t%s BTC\t%s\n", i, btcNum(out.Amount), kind)
	}
	tw.Flush()
	if r.FeeKnown {
		fmt.Fprintf(w, "Sending %s, fee %d sat (%.2f sat/vB, ~%d vB)%s\n", btcString(r.Sent), r.Fee, r.FeeRate, r.VSize, rbfNote(r.RBF))
	} else {
		fmt.Fprintf(w, "Sending %s; fee unknown (some input amounts are missing)\n", btcString(r.Sent))
	}
	need := map[string]bool{}
	var missing []string
	for _, in := range r.Inputs {
		if in.Missing == 0 || in.Finalized {
			continue
		}
		for _, s := range in.NotSigned {
			n := signerName(s)
			if !need[n] {
				need[n] = true
				missing = append(missing, n)
			}
		}
	}
	if r.ReadyToFinalize {
		fmt.Fprintln(w, "Ready to finalize: yes")
	} else {
		most := 0
		for _, in := range r.Inputs {
			most = max(most, in.Missing)
		}
		fmt.Fprintf(w, "Ready to finalize: no — %d more signature(s) needed, from any of: %s\n", most, safe(strings.Join(missing, ", ")))
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", safe(warn))
	}
}

// btcNum prints satoshis as a BTC number with all 8 decimals.
func btcNum(sat int64) string { return fmt.Sprintf("%.8f", btcutil.Amount(sat).ToBTC()) }

func rbfNote(rbf bool) string {
	if rbf {
		return ", replaceable (RBF)"
	}
	return ""
}

func signerName(s psbt.Cosigner) string {
	switch {
	case s.Label != "" && s.Fingerprint != "":
		return s.Label + " [" + s.Fingerprint + "]"
	case s.Fingerprint != "":
		return "[" + s.Fingerprint + "]"
	case s.Label != "":
		return s.Label
	}
	return s.PubKey
}

func deref(p *uint32) uint32 {
	if p == nil {
		return 0
	}
	return *p
}
