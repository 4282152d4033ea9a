package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/psbt"
)

// PSBTInspectOptions are the inputs of `psbt inspect`.
type PSBTInspectOptions struct {
	IO      *Streams
	JSON    bool
	File    string
	Wallet  string
	Network string
	// AllowHighFee: a fee above the limits is not a refusal.
	AllowHighFee bool
	// Devices are --device kinds whose PSBT size limit to warn about.
	Devices     []string
	Coordinator func() (*coordinator.Coordinator, error)
}

func newCmdPSBTInspect(f *Factory, runF func(context.Context, *PSBTInspectOptions) error) *cobra.Command {
	o := &PSBTInspectOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Show what a PSBT pays, its fee, and who still has to sign",
		Long: `Show a PSBT as the wallet sees it: each input (ours or external) and who has
signed it, each output (change, re-derived from the wallet, or external), the
fee and fee rate, and whether it is ready to finalize. FILE may be binary,
base64 or hex, PSBT version 0 or 2; "-" reads stdin.

A PSBT no stored wallet recognises is still shown, as a plain PSBT (with
--json, "wallet" is null): its inputs with the amounts known, outputs with
addresses (for --network, else the network its xpubs say, else mainnet),
the fee when every amount is known, the signatures present, and the next
role it needs (updater, signer, finalizer or extractor). Nothing in it is
checked against a wallet.

A stored wallet's PSBT also goes through the checks every step runs (see
SECURITY.md): when sign, combine, finalize or broadcast would refuse it,
inspect still shows it, names the rule and the reason ("refused" in
--json) and exits 4.

A PSBT larger than a device takes is shown with a warning: for each kind
registered for the wallet and each --device KIND (coldcard, coldcard-mk3,
jade, ...), when the PSBT, or the PSBT with the signatures it still needs,
is over that device's limit. spend --max-psbt-size splits a sweep to fit.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Network = f.Global.Network
			o.File = args[0]
			for _, d := range o.Devices {
				if _, ok := coordinator.DevicePSBTLimit(d); !ok {
					return usagef("--device %q: expected a device kind: %s", d, coordinator.DeviceKinds())
				}
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return psbtInspectRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Wallet, "wallet", "", "the wallet the PSBT spends from (default: detected)")
	cmd.Flags().StringArrayVar(&o.Devices, "device", nil, "warn when the PSBT is over this device kind's size limit (coldcard, coldcard-mk3, jade, ...; repeatable)")
	cmd.Flags().BoolVar(&o.AllowHighFee, "allow-high-fee", false, "do not count a fee above 1,000 sat/vB or 5% of the amount sent as a refusal")
	return withJSONFields(cmd, inspectJSON{})
}

type inspectJSON struct {
	Wallet      *string `json:"wallet"` // null: no stored wallet recognises it
	Network     string  `json:"network"`
	PSBTVersion uint32  `json:"psbt_version"`
	// Refused is set when the steps would refuse the PSBT (exit 4).
	Refused *refusalJSON `json:"refused"`
	// ToSuccessor names the outputs paying the wallet's successor (a key
	// rotation's sweep); omitted when none does.
	ToSuccessor *toSuccessorJSON `json:"to_successor,omitempty"`
	// Labels are the wallet's labels (BIP-329) of the transaction and of
	// each input and output; null for a PSBT of no stored wallet.
	Labels *labelsJSON `json:"labels"`
	*psbt.Report
}

// toSuccessorJSON names the successor wallet a PSBT's outputs pay.
type toSuccessorJSON struct {
	Wallet     string   `json:"wallet"`
	Outputs    []int    `json:"outputs"`
	RotatedOut []string `json:"rotated_out"`
}

type labelsJSON struct {
	Tx      string   `json:"tx"`
	Inputs  []string `json:"inputs"`
	Outputs []string `json:"outputs"`
}

// refusalJSON is a refusal by the gate: the rule and why.
type refusalJSON struct {
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
}

func newRefusalJSON(err error) *refusalJSON {
	var g *psbt.GateError
	if errors.As(err, &g) {
		return &refusalJSON{Rule: g.Rule, Reason: g.Err.Error()}
	}
	return &refusalJSON{Rule: psbt.RuleWallet, Reason: err.Error()}
}

func psbtInspectRun(ctx context.Context, o *PSBTInspectOptions) error {
	p, version, err := readPSBT(o.IO, o.File)
	if err != nil {
		return err
	}
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	var net *chaincfg.Params
	if o.Network != "" {
		if net, err = descriptor.NetworkParams(o.Network); err != nil {
			return usagef("--network: %v", err)
		}
	}
	in, err := co.Inspect(ctx, o.Wallet, p, net, coordinator.GateOptions{AllowHighFee: o.AllowHighFee, Devices: o.Devices})
	if err != nil {
		return err
	}
	w, rep := in.Wallet, in.Report
	j := inspectJSON{PSBTVersion: version, Report: rep}
	if in.Refusal != nil {
		j.Refused = newRefusalJSON(in.Refusal)
	}
	if in.ToSuccessor != nil {
		j.ToSuccessor = &toSuccessorJSON{Wallet: in.ToSuccessor.Successor, Outputs: in.ToSuccessor.Outputs, RotatedOut: append([]string{}, in.ToSuccessor.RotatedOut...)}
	}
	if l := in.Labels; l != nil {
		j.Labels = &labelsJSON{Tx: l.Tx, Inputs: l.Inputs, Outputs: l.Outputs}
	}
	name := ""
	switch {
	case w != nil:
		name, j.Wallet, j.Network = w.Name, &w.Name, descriptor.NetworkName(w.Network)
	case net != nil:
		j.Network = descriptor.NetworkName(net)
	default:
		j.Network = descriptor.NetworkName(psbt.GuessNetwork(p))
	}
	if o.JSON {
		if err := writeJSON(o.IO.Out, j); err != nil {
			return err
		}
		return in.Refusal
	}
	if w == nil {
		fmt.Fprintf(o.IO.Out, "No stored wallet recognises this PSBT: shown as a plain PSBT (addresses on %s); nothing in it is checked against a wallet.\n", j.Network)
	}
	renderReportTo(o.IO.Out, name, rep, in.ToSuccessor)
	renderLabels(o.IO.Out, in.Labels)
	if in.Refusal != nil {
		fmt.Fprintf(o.IO.Out, "REFUSED: every step (sign, combine, finalize, broadcast) would refuse this PSBT, by the %s rule.\n", j.Refused.Rule)
	}
	// The reason follows on stderr, with exit 4.
	return in.Refusal
}

// renderLabels prints the labels a PSBT's parts carry, when any.
func renderLabels(w io.Writer, l *coordinator.Labels) {
	if l == nil {
		return
	}
	if l.Tx != "" {
		fmt.Fprintf(w, "Label: %s\n", safe(l.Tx))
	}
	for i, s := range l.Inputs {
		if s != "" {
			fmt.Fprintf(w, "  input #%d: %s\n", i, safe(s))
		}
	}
	for i, s := range l.Outputs {
		if s != "" {
			fmt.Fprintf(w, "  output #%d: %s\n", i, safe(s))
		}
	}
}
