package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
)

func newCmdPolicy(f *Factory) *cobra.Command {
	cmd := groupCmd(&cobra.Command{
		Use:   "policy",
		Short: "Set and show a wallet's spending policy",
		Long: `A spending policy is a set of rules countersign keeps whenever it builds,
signs or finalizes a spend of the wallet: a per-transaction limit, a
rolling 24-hour limit, an allow-list of destination addresses, and a
number of signatures countersign must collect before it finalizes a spend
above an amount. A breach is refused with exit 4 and the rule named
(policy.per_tx_limit, policy.daily_limit, policy.allow_list,
policy.min_signatures); --override-policy "REASON" on spend, sign, psbt
finalize, psbt bump, psbt cancel goes through and journals the reason.

What it does NOT bind: the policy lives in this countersign's store. A
cosigner who signs with another tool (a hardware wallet's own app,
Electrum, Sparrow, Bitcoin Core), or a countersign with another data
directory, never asks it, and enough such cosigners can spend anything.
It is a guard rail and a record for the people who use this store, not a
lock on the coins; only the wallet's threshold is enforced by Bitcoin.`,
	})
	cmd.AddCommand(newCmdPolicySet(f, nil), newCmdPolicyShow(f, nil))
	return cmd
}

// PolicySetOptions are the inputs of `policy set`.
type PolicySetOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Name        string
	Clear       bool
	PerTx       string
	Daily       string
	Allow       []string
	AllowFile   string
	NoAllowList bool
	MinSigs     int
	Above       string
	minSigsSet  bool
}

func newCmdPolicySet(f *Factory, runF func(context.Context, *PolicySetOptions) error) *cobra.Command {
	o := &PolicySetOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "set WALLET [--per-tx-limit AMOUNT] [--daily-limit AMOUNT] [--allow ADDR...] [--allow-file FILE] [--min-signatures N --above AMOUNT]",
		Short: "Set the rules countersign keeps for a wallet's spends",
		Long: `Change the wallet's spending policy: the rules named by flags change, the
others stay (--clear starts from no rule). AMOUNT is BTC (0.5) or satoshis
(150000sat); "none" removes a limit.

  --per-tx-limit     the most one spend may send out of the wallet
  --daily-limit      the most the wallet may send in any 24 hours (what it
                     sent in the 24 hours before, by countersign or seen by
                     a sync, plus spends drafted then and not yet sent or
                     abandoned, plus this spend)
  --allow ADDR       only these addresses may be paid (repeat, or
  --allow-file FILE  one address a line, # comments); change and the
                     wallet's own addresses are always allowed;
                     --no-allow-list removes the list
  --min-signatures N finalize a spend above --above only with N signatures
                     collected here (more than the wallet's threshold: a
                     third pair of eyes on large payments); 0 removes it

Every change is journaled. See countersign policy --help for what a policy
cannot bind.`,
		Example: `  countersign policy set treasury --per-tx-limit 0.5 --daily-limit 1
  countersign policy set treasury --allow-file suppliers.txt
  countersign policy set treasury --min-signatures 3 --above 0.25
  countersign policy set treasury --clear`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Name = args[0]
			o.minSigsSet = c.Flags().Changed("min-signatures")
			if o.NoAllowList && (len(o.Allow) > 0 || o.AllowFile != "") {
				return usagef("--no-allow-list removes the list: drop --allow and --allow-file")
			}
			if c.Flags().Changed("above") && !o.minSigsSet {
				return usagef("--above goes with --min-signatures")
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return policySetRun(c.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.Clear, "clear", false, "start from an empty policy (no flag: remove the policy)")
	fl.StringVar(&o.PerTx, "per-tx-limit", "", "the most one spend may send (AMOUNT, or none)")
	fl.StringVar(&o.Daily, "daily-limit", "", "the most the wallet may send in 24 hours (AMOUNT, or none)")
	fl.StringArrayVar(&o.Allow, "allow", nil, "an address spends may pay (repeatable)")
	fl.StringVar(&o.AllowFile, "allow-file", "", "a file of addresses spends may pay, one a line")
	fl.BoolVar(&o.NoAllowList, "no-allow-list", false, "remove the allow-list")
	fl.IntVar(&o.MinSigs, "min-signatures", 0, "signatures to collect before finalizing a spend above --above (0: no rule)")
	fl.StringVar(&o.Above, "above", "0", "with --min-signatures: the amount sent above which it applies")
	return withJSONFields(cmd, policyJSON{})
}

type policyJSON struct {
	Wallet             string   `json:"wallet"`
	PerTxLimit         int64    `json:"per_tx_limit_sat"`
	DailyLimit         int64    `json:"daily_limit_sat"`
	AllowList          []string `json:"allow_list"`
	MinSignatures      int      `json:"min_signatures"`
	MinSignaturesAbove int64    `json:"min_signatures_above_sat"`
	UpdatedAt          string   `json:"updated_at,omitempty"`
	SentLast24h        int64    `json:"sent_last_24h_sat"`
	InFlightLast24h    int64    `json:"in_flight_last_24h_sat"`
}

// limit reads a limit flag: "" keeps old, "none" removes it.
func limit(flag, v string, old int64) (int64, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "":
		return old, nil
	case "none", "0":
		return 0, nil
	}
	n, err := parseAmount(v)
	if err != nil {
		return 0, usagef("%s %q: give an amount (0.5, 150000sat) or none", flag, v)
	}
	return n, nil
}

func policySetRun(ctx context.Context, o *PolicySetOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	cur, _, err := co.Policy(ctx, o.Name)
	if err != nil {
		return err
	}
	p := *cur
	if o.Clear {
		p = coordinator.Policy{}
	}
	if p.PerTxLimit, err = limit("--per-tx-limit", o.PerTx, p.PerTxLimit); err != nil {
		return err
	}
	if p.DailyLimit, err = limit("--daily-limit", o.Daily, p.DailyLimit); err != nil {
		return err
	}
	if o.NoAllowList {
		p.AllowList = nil
	}
	if len(o.Allow) > 0 || o.AllowFile != "" {
		list := append([]string(nil), o.Allow...)
		if o.AllowFile != "" {
			data, err := readInput(o.IO, o.AllowFile)
			if err != nil {
				return err
			}
			sc := bufio.NewScanner(bytes.NewReader(data))
			for sc.Scan() {
				line, _, _ := strings.Cut(sc.Text(), "#")
				if line = strings.TrimSpace(line); line != "" {
					list = append(list, line)
				}
			}
			if err := sc.Err(); err != nil {
				return usagef("--allow-file %s: %v", o.AllowFile, err)
			}
		}
		p.AllowList = list
	}
	if o.minSigsSet {
		p.MinSignatures = o.MinSigs
		if p.MinSignaturesAbove, err = limit("--above", o.Above, 0); err != nil {
			return err
		}
		if o.MinSigs == 0 {
			p.MinSignaturesAbove = 0
		}
	}
	if err := co.SetPolicy(ctx, o.Name, p); err != nil {
		return err
	}
	return showPolicy(ctx, o.IO, co, o.JSON, o.Name)
}

// PolicyShowOptions are the inputs of `policy show`.
type PolicyShowOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Name        string
}

func newCmdPolicyShow(f *Factory, runF func(context.Context, *PolicyShowOptions) error) *cobra.Command {
	o := &PolicyShowOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "show WALLET",
		Short: "Show a wallet's spending policy and what it sent in the last 24 hours",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Name = args[0]
			if runF != nil {
				return runF(c.Context(), o)
			}
			co, err := o.Coordinator()
			if err != nil {
				return err
			}
			return showPolicy(c.Context(), o.IO, co, o.JSON, o.Name)
		},
	}
	return withJSONFields(cmd, policyJSON{})
}

func showPolicy(ctx context.Context, s *Streams, co *coordinator.Coordinator, asJSON bool, name string) error {
	p, at, err := co.Policy(ctx, name)
	if err != nil {
		return err
	}
	sent, inFlight, err := co.SentLast24h(ctx, name)
	if err != nil {
		return err
	}
	j := policyJSON{Wallet: name, PerTxLimit: p.PerTxLimit, DailyLimit: p.DailyLimit, AllowList: p.AllowList,
		MinSignatures: p.MinSignatures, MinSignaturesAbove: p.MinSignaturesAbove, SentLast24h: sent, InFlightLast24h: inFlight}
	if j.AllowList == nil {
		j.AllowList = []string{}
	}
	if !at.IsZero() {
		j.UpdatedAt = at.UTC().Format(time.RFC3339)
	}
	if asJSON {
		return writeJSON(s.Out, j)
	}
	w := s.Out
	if p.Empty() {
		fmt.Fprintf(w, "Wallet %q has no spending policy.\n", safe(name))
	} else {
		fmt.Fprintf(w, "Spending policy of wallet %q (set %s):\n", safe(name), at.Local().Format("2006-01-02 15:04"))
		line := func(label, v string) { fmt.Fprintf(w, "  %-26s %s\n", label, v) }
		or := func(sat int64) string {
			if sat == 0 {
				return "none"
			}
			return btcString(sat)
		}
		line("per-transaction limit:", or(p.PerTxLimit))
		line("24-hour limit:", or(p.DailyLimit))
		if len(p.AllowList) == 0 {
			line("destinations:", "any")
		} else {
			line("destinations:", fmt.Sprintf("only %d allowed addresses", len(p.AllowList)))
			for _, a := range p.AllowList {
				fmt.Fprintf(w, "    %s\n", a)
			}
		}
		if p.MinSignatures == 0 {
			line("signatures to finalize:", "the wallet's threshold")
		} else {
			line("signatures to finalize:", fmt.Sprintf("%d above %s", p.MinSignatures, btcString(p.MinSignaturesAbove)))
		}
	}
	fmt.Fprintf(w, "Sent in the last 24 hours: %s.\n", btcString(sent))
	if inFlight > 0 {
		fmt.Fprintf(w, "Drafted in those hours, not yet sent: %s (the 24-hour limit counts it; psbt abandon frees it).\n", btcString(inFlight))
	}
	fmt.Fprintln(s.ErrOut, "A policy binds countersign only: a cosigner signing with another tool is not bound by it.")
	return nil
}
