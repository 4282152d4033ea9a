package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
)

// WalletStatusOptions are the inputs of `wallet status`.
type WalletStatusOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Name        string
	WarnBlocks  int32
}

func newCmdWalletStatus(f *Factory, runF func(context.Context, *WalletStatusOptions) error) *cobra.Command {
	o := &WalletStatusOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "status NAME [--warn-blocks N]",
		Short: "Show when each coin's recovery path opens, warning for those close to it",
		Long: `For a wallet with time-locked paths (wallet create --recovery/--decay), list
each confirmed coin, as of the last wallet sync, with the first locked path
that opens for it and the block at which it opens. Coins within
--warn-blocks of that block (or past it) get a warning on stderr: until
they move, the recovery keys can spend them. "wallet refresh" sends them
back to the wallet by the primary path, which restarts a relative lock.`,
		Example: `  countersign wallet sync family && countersign wallet status family --warn-blocks 4320`,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Name = args[0]
			if o.WarnBlocks < 0 {
				return usagef("--warn-blocks must be 0 or more")
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return walletStatusRun(c.Context(), o)
		},
	}
	cmd.Flags().Int32Var(&o.WarnBlocks, "warn-blocks", coordinator.DefaultWarnBlocks, "warn for coins within this many blocks of a recovery path opening (4320 is about 30 days)")
	return withJSONFields(cmd, walletStatusJSON{})
}

type walletStatusJSON struct {
	Wallet       string           `json:"wallet"`
	SyncedHeight int32            `json:"synced_height"`
	WarnBlocks   int32            `json:"warn_blocks"`
	Warnings     int              `json:"warnings"`
	Coins        []lockStatusJSON `json:"coins"`
}

type lockStatusJSON struct {
	Outpoint    string `json:"outpoint"`
	Value       int64  `json:"value_sat"`
	Height      int32  `json:"height"`
	Path        string `json:"path"`
	OpensAt     int32  `json:"opens_at"`
	BlocksLeft  int32  `json:"blocks_left"`
	Warn        bool   `json:"warn"`
	Refreshable bool   `json:"refreshable"`
}

func walletStatusRun(ctx context.Context, o *WalletStatusOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	st, err := co.TimelockStatus(ctx, o.Name, o.WarnBlocks, 0)
	if err != nil {
		return err
	}
	v := walletStatusJSON{Wallet: st.Wallet, SyncedHeight: st.SyncedHeight, WarnBlocks: st.WarnBlocks, Coins: []lockStatusJSON{}}
	for _, c := range st.Coins {
		v.Coins = append(v.Coins, lockStatusJSON{Outpoint: c.OutPoint.String(), Value: c.Value, Height: c.Height, Path: c.Path,
			OpensAt: c.OpensAt, BlocksLeft: c.BlocksLeft, Warn: c.Warn, Refreshable: c.Refreshable})
		if c.Warn {
			v.Warnings++
		}
	}
	for _, c := range v.Coins {
		if !c.Warn {
			continue
		}
		what := fmt.Sprintf("opens in %d blocks (block %d)", c.BlocksLeft, c.OpensAt)
		if c.BlocksLeft <= 0 {
			what = fmt.Sprintf("is open since block %d", c.OpensAt)
		}
		hint := fmt.Sprintf("run `countersign wallet refresh %s` to move it by the primary path", safe(o.Name))
		if !c.Refreshable {
			hint = "its lock is absolute: moving the coin does not reset it"
		}
		fmt.Fprintf(o.IO.ErrOut, "warning: coin %s (%s): the %s path %s; %s\n", c.Outpoint, btcString(c.Value), safe(c.Path), what, hint)
	}
	if o.JSON {
		return writeJSON(o.IO.Out, v)
	}
	w := o.IO.Out
	fmt.Fprintf(w, "Wallet %s, synced at block %d; warning within %d blocks.\n", safe(v.Wallet), v.SyncedHeight, v.WarnBlocks)
	if len(v.Coins) == 0 {
		fmt.Fprintln(w, "No confirmed coins.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COIN\tVALUE\tCONFIRMED\tPATH\tOPENS AT\tBLOCKS LEFT\t")
	for _, c := range v.Coins {
		mark := ""
		if c.Warn {
			mark = "WARNING"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%s\n", c.Outpoint, btcString(c.Value), c.Height, safe(c.Path), c.OpensAt, c.BlocksLeft, mark)
	}
	return tw.Flush()
}

// WalletRefreshOptions are the inputs of `wallet refresh`.
type WalletRefreshOptions struct {
	IO            *Streams
	Coordinator   func() (*coordinator.Coordinator, error)
	JSON          bool
	Name          string
	WarnBlocks    int32
	FeeRate       string
	TargetBlocks  int
	Output        string
	Encoding      string
	Note          string
	AllowConflict bool
	AllowHighFee  bool
}

func newCmdWalletRefresh(f *Factory, runF func(context.Context, *WalletRefreshOptions) error) *cobra.Command {
	o := &WalletRefreshOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "refresh NAME [--warn-blocks N] [-o FILE.psbt]",
		Short: "Build a self-send of the coins near a recovery opening, for the primary signers",
		Long: `Build a PSBT that sends every coin "wallet status" warns about (within
--warn-blocks of a relative recovery lock opening, or past it) to the
wallet's next change address, by the primary path. Once it confirms, the
new coin's recovery path opens a whole lock later. The primary signers sign
it as any spend (countersign sign FILE --with SIGNER); the draft is saved
like one. Coins behind an absolute lock (at block H) are left alone:
moving them does not reset it.`,
		Example: `  countersign wallet refresh family --warn-blocks 4320 --fee-rate 3 -o refresh.psbt`,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Name = args[0]
			if o.WarnBlocks < 0 {
				return usagef("--warn-blocks must be 0 or more")
			}
			if o.TargetBlocks < 1 || o.TargetBlocks > 1008 {
				return usagef("--target-blocks must be between 1 and 1008")
			}
			if err := checkEncoding(o.Encoding); err != nil {
				return err
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return walletRefreshRun(c.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.Int32Var(&o.WarnBlocks, "warn-blocks", coordinator.DefaultWarnBlocks, "refresh coins within this many blocks of a recovery path opening")
	fl.StringVar(&o.FeeRate, "fee-rate", "", "fee rate in sat/vB (default: the backend's estimate)")
	fl.IntVar(&o.TargetBlocks, "target-blocks", 6, "confirmation target for the fee estimate")
	fl.StringVarP(&o.Output, "output", "o", "", "write the PSBT to this file (binary); default: base64 on stdout")
	fl.StringVar(&o.Note, "note", "", "a note stored with the draft (default: refresh of time-locked recovery paths)")
	fl.BoolVar(&o.AllowConflict, "allow-conflict", false, "also use coins a draft not yet broadcast already spends")
	fl.BoolVar(&o.AllowHighFee, "allow-high-fee", false, "allow a fee above 1,000 sat/vB or 5% of the amount moved")
	addEncodingFlag(cmd, &o.Encoding)
	return withJSONFields(cmd, spendJSON{})
}

func walletRefreshRun(ctx context.Context, o *WalletRefreshOptions) error {
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
	res, err := co.Refresh(ctx, coordinator.RefreshRequest{Wallet: o.Name, WarnBlocks: o.WarnBlocks, FeeRate: rate, TargetBlocks: o.TargetBlocks,
		Note: o.Note, AllowConflict: o.AllowConflict, AllowHighFee: o.AllowHighFee})
	if err != nil {
		return err
	}
	return writeSpendResult(spendOut{IO: o.IO, JSON: o.JSON, Name: o.Name, Output: o.Output, Encoding: o.Encoding}, res)
}
