package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// SpendOptions are the inputs of `spend`.
type SpendOptions struct {
	IO             *Streams
	Coordinator    func() (*coordinator.Coordinator, error)
	JSON           bool
	Name           string
	To             []string
	SendAll        string
	UTXOs          []string
	FeeRate        string
	TargetBlocks   int
	Output         string
	AllowHighFee   bool
	NoRBF          bool
	MinConf        int32
	Note           string
	Encoding       string
	AllowConflict  bool
	OverridePolicy string
	CPFP           string
	Path           string
	// MaxPSBTSize is --max-psbt-size: BYTES, a device kind, or "none".
	MaxPSBTSize string
}

func newCmdSpend(f *Factory, runF func(context.Context, *SpendOptions) error) *cobra.Command {
	o := &SpendOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "spend NAME (--to ADDR:AMOUNT... | --send-all ADDR | --cpfp TXID) [-o FILE.psbt]",
		Short: "Build an unsigned PSBT that spends from the wallet",
		Long: `Build a PSBT paying the given outputs from the wallet's coins (as of the last
wallet sync), with change to the wallet's next change address. The PSBT
carries everything cosigners' devices need to verify it: every cosigner's
key derivations, the previous transactions, the scripts and the global xpubs.
It is saved as a draft in the store and written to -o FILE (binary PSBT) or,
without -o, printed as base64.

AMOUNT is BTC (0.5 or 0.5btc) or satoshis (150000sat). The fee rate is
--fee-rate in sat/vB or the backend's estimate for --target-blocks. Coins are
chosen by branch-and-bound (no change when possible); --utxo TXID:VOUT picks
them by hand. Transactions signal replace-by-fee unless --no-rbf.

A fee rate above 1,000 sat/vB or a fee above 5% of the amount sent is refused
(exit 4) unless --allow-high-fee.

Coins that a live draft (built, not yet broadcast, not abandoned) already
spends are left out, and the summary says which; --allow-conflict uses
them anyway (the two drafts then cannot both be sent). --note labels the
transaction (BIP-329). The wallet's spending policy is checked (exit 4 with
the rule named) unless --override-policy "REASON", which is journaled.

A miniscript wallet (wallet create --recovery/--decay) is spent by its
primary path unless --path NAME picks another (wallet show lists them):
a locked path spends only the coins whose lock has opened, with the
nSequence (after N blocks) or nLockTime (at block H) the path needs, and
is refused (exit 4) with the height it opens at while still locked.

Each PSBT, with every signature it needs, is kept within what the
signers take: --max-psbt-size BYTES, or a device kind (coldcard: 2 MiB,
Mk4/Q; coldcard-mk3: 384 KiB; jade: 401 KiB; ledger, trezor, bitbox02
stream and have no limit), or none. By default the limit is the smallest of
the kinds registered for the wallet (device register). A PSBT carries each
coin's whole previous transaction, so 500 coins from one 500-output
transaction make a 14 MB PSBT: a --send-all sweep over the limit is split
into several transactions, oldest coins first, each saved as its own draft
and written to FILE-1.psbt, FILE-2.psbt, ... (coins worth less than the fee
to spend them are left out and listed); a payment over the limit is
refused. A sweep larger than one standard transaction (100,000 vB, which
nodes would not relay) is split the same way, with or without a limit.

--cpfp TXID builds a child that pays for a stuck transaction instead: it
spends the wallet's outputs of TXID (adding confirmed coins if those are
too small) back to the wallet's next change address, with the fee that
brings the package ((parent fee + child fee) / (parent vsize + child
vsize)) to --fee-rate. When the parent spends the wallet's own unconfirmed
transactions that pay less than --fee-rate themselves (a chain of stuck
spends), the package counts them too: a miner takes the child only with
them. Unconfirmed ancestors outside the wallet are not seen.`,
		Example: `  countersign spend treasury --to bc1q...:0.25 --fee-rate 12 -o pay-supplier.psbt
  countersign spend treasury --to bc1q...:150000sat --to 3J98...:0.01 --target-blocks 6 -o batch.psbt
  countersign spend treasury --send-all bc1q... --utxo 5e2a...:1 --fee-rate 5 -o sweep.psbt
  countersign spend treasury --cpfp 5e2a...d41 --fee-rate 15 -o child.psbt
  countersign spend family --path recovery --send-all bcrt1q... --fee-rate 2 -o heir.psbt`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Name = args[0]
			if o.CPFP != "" {
				if o.Path != "" {
					return usagef("--cpfp spends by the primary path: drop --path")
				}
				if len(o.To) > 0 || o.SendAll != "" || len(o.UTXOs) > 0 {
					return usagef("--cpfp pays back to the wallet from the stuck transaction's outputs: drop --to, --send-all and --utxo")
				}
				if o.FeeRate == "" {
					return usagef("--cpfp needs --fee-rate: the package rate to reach")
				}
			} else if len(o.To) == 0 && o.SendAll == "" {
				return usagef("say where the money goes: --to ADDR:AMOUNT (repeatable) or --send-all ADDR")
			}
			if len(o.To) > 0 && o.SendAll != "" {
				return usagef("--send-all sends everything to one address: drop --to")
			}
			if o.TargetBlocks < 1 || o.TargetBlocks > 1008 {
				return usagef("--target-blocks must be between 1 and 1008")
			}
			if err := checkEncoding(o.Encoding); err != nil {
				return err
			}
			if _, _, err := parseMaxPSBTSize(o.MaxPSBTSize); err != nil {
				return err
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return spendRun(c.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&o.To, "to", nil, "pay ADDR:AMOUNT (repeatable)")
	fl.StringVar(&o.SendAll, "send-all", "", "send every selected coin, minus the fee, to this address")
	fl.StringArrayVar(&o.UTXOs, "utxo", nil, "spend exactly this coin TXID:VOUT (repeatable; coin control)")
	fl.StringVar(&o.FeeRate, "fee-rate", "", "fee rate in sat/vB (default: the backend's estimate)")
	fl.IntVar(&o.TargetBlocks, "target-blocks", 6, "confirmation target for the fee estimate")
	fl.StringVarP(&o.Output, "output", "o", "", "write the PSBT to this file (binary); default: base64 on stdout")
	fl.BoolVar(&o.AllowHighFee, "allow-high-fee", false, "allow a fee above 1,000 sat/vB or 5% of the amount sent")
	fl.BoolVar(&o.NoRBF, "no-rbf", false, "do not signal replace-by-fee (BIP-125)")
	fl.Int32Var(&o.MinConf, "min-conf", 0, "spend only coins with at least this many confirmations")
	fl.StringVar(&o.Note, "note", "", "a note stored with the draft; it labels the transaction (BIP-329)")
	fl.BoolVar(&o.AllowConflict, "allow-conflict", false, "also use coins a draft not yet broadcast already spends")
	fl.StringVar(&o.OverridePolicy, "override-policy", "", "go through a breach of the wallet's spending policy, for this REASON (journaled)")
	fl.StringVar(&o.MaxPSBTSize, "max-psbt-size", "", "keep each PSBT within BYTES, a device kind's limit (coldcard, jade, ...) or none; default: the wallet's registered devices")
	fl.StringVar(&o.CPFP, "cpfp", "", "build a child that pays for this stuck transaction (child pays for parent)")
	fl.StringVar(&o.Path, "path", "", "spending path of a miniscript wallet: primary (default), recovery, ... (see wallet show)")
	addEncodingFlag(cmd, &o.Encoding)
	return withJSONFields(cmd, spendJSON{})
}

type spendJSON struct {
	Draft     string             `json:"draft_id"`
	File      string             `json:"file,omitempty"`
	PSBT      string             `json:"psbt"`
	Algorithm string             `json:"coin_selection"`
	Dropped   int64              `json:"dropped_change_sat"`
	FeeSource string             `json:"fee_source"`
	Report    *psbt.Report       `json:"summary"`
	LeftOut   []coinConflictJSON `json:"left_out"`
	Conflicts []coinConflictJSON `json:"conflicts"`
	CPFP      *cpfpJSON          `json:"cpfp,omitempty"`
	// MaxPSBTSize is the limit each PSBT was kept within (0: none), and
	// MaxPSBTSource why.
	MaxPSBTSize   int    `json:"max_psbt_size"`
	MaxPSBTSource string `json:"max_psbt_size_source"`
	// Parts lists every transaction built: one, or a split sweep's.
	Parts []spendPartJSON `json:"parts"`
	// TooSmall are coins a split sweep left out.
	TooSmall []string `json:"too_small"`
}

type spendPartJSON struct {
	Draft      string `json:"draft_id"`
	File       string `json:"file,omitempty"`
	PSBT       string `json:"psbt"`
	TxID       string `json:"txid"`
	Inputs     int    `json:"inputs"`
	Amount     int64  `json:"amount"`
	Fee        int64  `json:"fee"`
	Size       int    `json:"psbt_bytes"`
	SignedSize int    `json:"signed_bytes"`
}

// parseMaxPSBTSize reads --max-psbt-size: "" (the default: 0), "none"
// (-1), a device kind (its limit, named as the source) or a byte count.
func parseMaxPSBTSize(s string) (int, string, error) {
	switch s = strings.TrimSpace(s); {
	case s == "":
		return 0, "", nil
	case strings.EqualFold(s, "none"):
		return -1, "", nil
	}
	if d, ok := coordinator.DevicePSBTLimit(s); ok {
		if d.Bytes == 0 {
			return -1, "", nil
		}
		return d.Bytes, "--max-psbt-size " + d.Kind + ": " + d.Source, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1000 {
		return 0, "", usagef("--max-psbt-size %q: expected a size in bytes (at least 1000), a device kind (%s) or none", s, coordinator.DeviceKinds())
	}
	return n, "", nil
}

// partFile names part i (from 1) of n of a split sweep written to path:
// sweep.psbt becomes sweep-1.psbt, sweep-2.psbt, ...
func partFile(path string, i, n int) string {
	if n == 1 || path == "" || path == "-" {
		return path
	}
	ext := filepath.Ext(path)
	return fmt.Sprintf("%s-%d%s", strings.TrimSuffix(path, ext), i, ext)
}

type coinConflictJSON struct {
	OutPoint string `json:"outpoint"`
	Draft    string `json:"draft_id"`
}

type cpfpJSON struct {
	Parent        string   `json:"parent_txid"`
	ParentFee     int64    `json:"parent_fee"`
	ParentVSize   int64    `json:"parent_vsize"`
	Ancestors     []string `json:"ancestors"`
	AncestorFee   int64    `json:"ancestor_fee"`
	AncestorVSize int64    `json:"ancestor_vsize"`
	PackageRate   float64  `json:"package_fee_rate"`
	Added         []string `json:"added_inputs"`
}

func conflictsJSON(cs []coordinator.CoinConflict) []coinConflictJSON {
	out := make([]coinConflictJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, coinConflictJSON{OutPoint: c.OutPoint.String(), Draft: c.Draft})
	}
	return out
}

func spendRun(ctx context.Context, o *SpendOptions) error {
	if o.CPFP != "" {
		return cpfpRun(ctx, o)
	}
	outputs, err := parseOutputs(o.To, o.SendAll)
	if err != nil {
		return err
	}
	pre, err := parseOutPoints(o.UTXOs)
	if err != nil {
		return err
	}
	var feeRate float64
	if o.FeeRate != "" {
		if feeRate, err = parseFeeRate(o.FeeRate); err != nil {
			return err
		}
	}
	maxSize, maxSource, err := parseMaxPSBTSize(o.MaxPSBTSize)
	if err != nil {
		return err
	}
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	res, err := co.Spend(ctx, coordinator.SpendRequest{
		MaxPSBTSize:    maxSize,
		MaxPSBTSource:  maxSource,
		Wallet:         o.Name,
		Outputs:        outputs,
		SendAll:        o.SendAll != "",
		UTXOs:          pre,
		FeeRate:        feeRate,
		TargetBlocks:   o.TargetBlocks,
		MinConf:        o.MinConf,
		NoRBF:          o.NoRBF,
		AllowHighFee:   o.AllowHighFee,
		Note:           o.Note,
		AllowConflict:  o.AllowConflict,
		OverridePolicy: o.OverridePolicy,
		Path:           o.Path,
	})
	switch {
	case errors.Is(err, psbt.ErrInsufficientFunds) && strings.Contains(err.Error(), "--allow-conflict"):
		return withHint(err, "see them with `countersign psbt list "+o.Name+"`")
	case errors.Is(err, coordinator.ErrNoCoins):
		return withHint(err, "run `countersign wallet sync "+o.Name+"` first")
	case errors.Is(err, psbt.ErrRefused) && strings.Contains(err.Error(), "fee"):
		return withHint(err, "check --fee-rate and the amounts; if this fee is intended, pass --allow-high-fee")
	case errors.Is(err, coordinator.ErrPSBTTooLarge):
		return withHint(err, "--max-psbt-size none lifts the limit, if every signer streams (Ledger, Trezor, BitBox02)")
	case err != nil:
		return err
	}
	return writeSpendResult(spendOut{IO: o.IO, JSON: o.JSON, Name: o.Name, Output: o.Output, Encoding: o.Encoding, SendAll: o.SendAll}, res)
}

// spendOut is where and how a new draft is written: spend's and wallet
// refresh's options.
type spendOut struct {
	IO                              *Streams
	JSON                            bool
	Name, Output, Encoding, SendAll string
}

// writeSpendResult writes a new draft's PSBT (to FILE or stdout; a split
// sweep's parts to FILE-1, FILE-2, ...) and its report, as spend and
// wallet refresh print them.
func writeSpendResult(so spendOut, res *coordinator.SpendResult) error {
	parts := res.Parts
	if parts == nil {
		raw, err := psbt.Serialize(res.PSBT)
		if err != nil {
			return err
		}
		parts = []coordinator.SpendPart{{Draft: res.Draft, PSBT: res.PSBT, Summary: res.Summary, Report: res.Report, Size: len(raw), SignedSize: res.SignedSize}}
	}
	j := spendJSON{Draft: res.Draft.ID, File: partFile(so.Output, 1, len(parts)), Algorithm: res.Summary.Algorithm, Dropped: res.Summary.DroppedChange, FeeSource: res.FeeSource, Report: res.Report,
		LeftOut: conflictsJSON(res.LeftOut), Conflicts: conflictsJSON(res.Conflicts),
		MaxPSBTSize: res.Limit.Bytes, MaxPSBTSource: res.Limit.Source, Parts: []spendPartJSON{}, TooSmall: []string{}}
	for i, pt := range parts {
		b64, err := psbt.Encode(pt.PSBT)
		if err != nil {
			return err
		}
		file := partFile(so.Output, i+1, len(parts))
		if file != "" && file != "-" {
			if err := writePSBT(so.IO, psbtOut{Path: file, Encoding: so.Encoding}, pt.PSBT); err != nil {
				return err
			}
		}
		j.Parts = append(j.Parts, spendPartJSON{Draft: pt.Draft.ID, File: file, PSBT: b64, TxID: pt.Draft.TxID.String(), Inputs: len(pt.PSBT.Inputs),
			Amount: pt.Summary.Sent, Fee: pt.Summary.Fee, Size: pt.Size, SignedSize: pt.SignedSize})
	}
	j.PSBT = j.Parts[0].PSBT
	for _, u := range res.TooSmall {
		j.TooSmall = append(j.TooSmall, u.OutPoint.String())
	}
	if so.JSON {
		return writeJSON(so.IO.Out, j)
	}
	if len(parts) > 1 {
		return renderSplit(so, res, parts, j)
	}
	renderReport(so.IO.ErrOut, so.Name, res.Report)
	if len(res.LeftOut) > 0 {
		fmt.Fprintf(so.IO.ErrOut, "Left out %d coin(s) that drafts not yet broadcast already spend (%s); --allow-conflict uses them, psbt abandon frees them.\n",
			len(res.LeftOut), conflictList(res.LeftOut))
	}
	if len(res.Conflicts) > 0 {
		fmt.Fprintf(so.IO.ErrOut, "WARNING: this spend shares %d coin(s) with drafts not yet broadcast (%s): only one of them can be sent.\n",
			len(res.Conflicts), conflictList(res.Conflicts))
	}
	if res.Summary.DroppedChange > 0 {
		fmt.Fprintf(so.IO.ErrOut, "Change of %d sat was below the dust limit and was added to the fee.\n", res.Summary.DroppedChange)
	}
	fmt.Fprintf(so.IO.ErrOut, "Fee rate from %s. Draft %s saved.\n", res.FeeSource, res.Draft.ID[:12])
	if so.Output == "" || so.Output == "-" {
		if err := writePSBT(so.IO, psbtOut{Encoding: so.Encoding}, res.PSBT); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(so.IO.ErrOut, "Wrote %s. Next: countersign sign %s --with SIGNER\n", so.Output, so.Output)
	}
	return nil
}

// renderSplit tells what a split sweep did and why, and writes its PSBTs.
func renderSplit(so spendOut, res *coordinator.SpendResult, parts []coordinator.SpendPart, j spendJSON) error {
	e := so.IO.ErrOut
	var amount, fee int64
	inputs := 0
	for _, p := range j.Parts {
		amount, fee, inputs = amount+p.Amount, fee+p.Fee, inputs+p.Inputs
	}
	if j.MaxPSBTSize > 0 {
		fmt.Fprintf(e, "Split: the sweep of %d coins does not fit one PSBT of at most %d bytes (the limit of %s):\n", inputs, j.MaxPSBTSize, safe(j.MaxPSBTSource))
		fmt.Fprintln(e, "every PSBT carries each coin's whole previous transaction and, once signed, the cosigners' signatures.")
	} else {
		fmt.Fprintf(e, "Split: the sweep of %d coins is larger than one standard transaction (100,000 vB), which nodes would not relay.\n", inputs)
	}
	fmt.Fprintf(e, "It is %d transactions, each saved as a draft and signed, finalized and broadcast on its own:\n", len(j.Parts))
	for i, p := range j.Parts {
		where := ""
		if p.File != "" && p.File != "-" {
			where = ", " + p.File
		}
		fmt.Fprintf(e, "  %d of %d: draft %s, %d coins, %s BTC after a %d sat fee, PSBT %d bytes (%d signed)%s\n",
			i+1, len(j.Parts), p.Draft[:12], p.Inputs, btcNum(p.Amount), p.Fee, p.Size, p.SignedSize, safe(where))
	}
	fmt.Fprintf(e, "Together: %s BTC to %s, %d sat in fees. Fee rate from %s.\n", btcNum(amount), safe(so.SendAll), fee, res.FeeSource)
	if len(j.TooSmall) > 0 {
		fmt.Fprintf(e, "Left out %d coin(s) worth no more than the fee to spend them: %s\n", len(j.TooSmall), strings.Join(j.TooSmall, ", "))
	}
	if len(res.LeftOut) > 0 {
		fmt.Fprintf(e, "Left out %d coin(s) that drafts not yet broadcast already spend (%s).\n", len(res.LeftOut), conflictList(res.LeftOut))
	}
	if so.Output == "" || so.Output == "-" {
		if so.Encoding == encodingBinary {
			return fmt.Errorf("the %d drafts are saved, but binary PSBTs cannot share stdout: write each with `countersign psbt show DRAFT -o FILE`, or pass -o FILE: %w",
				len(parts), wallet.ErrInvalid)
		}
		for _, p := range parts {
			if err := writePSBT(so.IO, psbtOut{Encoding: so.Encoding}, p.PSBT); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(e, "Next: countersign sign FILE --with SIGNER, for each file.\n")
	return nil
}

func parseOutputs(to []string, sendAll string) ([]psbt.Output, error) {
	if sendAll != "" {
		addr := strings.TrimSpace(sendAll)
		if addr == "" {
			return nil, usagef("--send-all %q: expected an address", sendAll)
		}
		return []psbt.Output{{Address: addr}}, nil
	}
	out := make([]psbt.Output, 0, len(to))
	for _, t := range to {
		addr, amt, ok := strings.Cut(t, ":")
		addr = strings.TrimSpace(addr) // checked after trimming: " :1" has no address
		if !ok || addr == "" || amt == "" {
			return nil, usagef("--to %q: expected ADDRESS:AMOUNT, e.g. bc1q...:0.01 or bc1q...:150000sat", t)
		}
		v, err := parseAmount(amt)
		if err != nil {
			return nil, err
		}
		out = append(out, psbt.Output{Address: addr, Value: v})
	}
	return out, nil
}

func parseOutPoints(ss []string) ([]wire.OutPoint, error) {
	var out []wire.OutPoint
	for _, s := range ss {
		id, vout, ok := strings.Cut(s, ":")
		h, err := chainhash.NewHashFromStr(id)
		n, err2 := strconv.ParseUint(vout, 10, 32)
		if !ok || err != nil || err2 != nil || len(id) != 64 {
			return nil, usagef("--utxo %q: expected TXID:VOUT", s)
		}
		out = append(out, wire.OutPoint{Hash: *h, Index: uint32(n)})
	}
	return out, nil
}

// A few coins are named one by one; more are counted per draft (a sweep's
// draft can hold hundreds, which made one unreadable line; --json lists
// every coin).
func conflictList(cs []coordinator.CoinConflict) string {
	const named = 5
	var parts []string
	if len(cs) <= named {
		for _, c := range cs {
			parts = append(parts, c.OutPoint.String()+" by draft "+c.Draft[:12])
		}
		return strings.Join(parts, ", ")
	}
	count := map[string]int{}
	var drafts []string
	for _, c := range cs {
		if count[c.Draft] == 0 {
			drafts = append(drafts, c.Draft)
		}
		count[c.Draft]++
	}
	for _, d := range drafts {
		parts = append(parts, fmt.Sprintf("%d by draft %s", count[d], d[:12]))
	}
	return strings.Join(parts, ", ")
}

// cpfpRun builds a child that pays for a stuck transaction.
func cpfpRun(ctx context.Context, o *SpendOptions) error {
	rate, err := parseFeeRate(o.FeeRate)
	if err != nil {
		return err
	}
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	res, err := co.ChildPaysForParent(ctx, coordinator.CPFPRequest{Wallet: o.Name, Parent: o.CPFP, FeeRate: rate, Note: o.Note,
		AllowHighFee: o.AllowHighFee, OverridePolicy: o.OverridePolicy})
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
	added := []string{}
	for _, op := range res.Added {
		added = append(added, op.String())
	}
	ancestors := []string{}
	for _, id := range res.Ancestors {
		ancestors = append(ancestors, id.String())
	}
	if o.JSON {
		return writeJSON(o.IO.Out, spendJSON{Draft: res.Draft.ID, File: o.Output, PSBT: b64, Algorithm: res.Summary.Algorithm, FeeSource: "--fee-rate (package)",
			Report: res.Report, LeftOut: []coinConflictJSON{}, Conflicts: []coinConflictJSON{}, Parts: []spendPartJSON{}, TooSmall: []string{},
			CPFP: &cpfpJSON{Parent: res.Parent.String(), ParentFee: res.ParentFee, ParentVSize: res.ParentVSize, Ancestors: ancestors,
				AncestorFee: res.AncestorFee, AncestorVSize: res.AncestorVSize, PackageRate: res.PackageRate, Added: added}})
	}
	renderReport(o.IO.ErrOut, o.Name, res.Report)
	if len(ancestors) == 0 {
		fmt.Fprintf(o.IO.ErrOut, "Child of %s: the parent pays %d sat for %d vB (%.2f sat/vB); with this child the pair pays %.2f sat/vB.\n",
			res.Parent, res.ParentFee, res.ParentVSize, float64(res.ParentFee)/float64(res.ParentVSize), res.PackageRate)
	} else {
		fmt.Fprintf(o.IO.ErrOut, "Child of %s: the parent pays %d sat for %d vB (%.2f sat/vB) and waits on %s of the wallet's paying %d sat for %d vB (%s); with this child the package pays %.2f sat/vB.\n",
			res.Parent, res.ParentFee, res.ParentVSize, float64(res.ParentFee)/float64(res.ParentVSize),
			plural(len(ancestors), "unconfirmed transaction", "unconfirmed transactions"), res.AncestorFee, res.AncestorVSize, strings.Join(ancestors, ", "), res.PackageRate)
	}
	if len(added) > 0 {
		fmt.Fprintf(o.IO.ErrOut, "Added coin(s) %s: the parent's outputs could not pay the child's fee.\n", strings.Join(added, ", "))
	}
	fmt.Fprintf(o.IO.ErrOut, "Draft %s saved.\n", res.Draft.ID[:12])
	if o.Output == "" || o.Output == "-" {
		return writePSBT(o.IO, psbtOut{Encoding: o.Encoding}, res.PSBT)
	}
	fmt.Fprintf(o.IO.ErrOut, "Wrote %s. Next: countersign sign %s --with SIGNER\n", o.Output, o.Output)
	return nil
}
