package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

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
	WarnDays    int
}

func newCmdWalletStatus(f *Factory, runF func(context.Context, *WalletStatusOptions) error) *cobra.Command {
	o := &WalletStatusOptions{IO: f.IO, Coordinator: f.Coordinator}
	cmd := &cobra.Command{
		Use:   "status NAME [--warn-blocks N] [--warn-days N]",
		Short: "Show when each coin's recovery path opens, warning for those close to it",
		Long: `For a wallet with time-locked paths (wallet create --recovery/--decay), list
each confirmed coin, as of the last wallet sync, with the first locked path
that opens for it and the block at which it opens. Coins within
--warn-blocks of that block (or past it) get a warning on stderr: until
they move, the recovery keys can spend them. "wallet refresh" sends them
back to the wallet by the primary path, which restarts a relative lock.

A lock counted in time (after N days, or a descriptor's after(UNIX TIME))
opens at a date: the chain's median time past (BIP-113, the median of the
last 11 block times, about an hour behind the clock) must reach it. Such
coins warn within --warn-days (default: --warn-blocks at ten minutes a
block); reading the median times needs the backend.`,
		Example: `  countersign wallet sync family && countersign wallet status family --warn-blocks 4320`,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Name = args[0]
			if o.WarnBlocks < 0 {
				return usagef("--warn-blocks must be 0 or more")
			}
			if o.WarnDays < 0 || o.WarnDays > 10000 {
				return usagef("--warn-days must be 0 to 10000")
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return walletStatusRun(c.Context(), o)
		},
	}
	cmd.Flags().Int32Var(&o.WarnBlocks, "warn-blocks", coordinator.DefaultWarnBlocks, "warn for coins within this many blocks of a recovery path opening (4320 is about 30 days)")
	cmd.Flags().IntVar(&o.WarnDays, "warn-days", 0, "for locks counted in time: warn within this many days of the opening (default: --warn-blocks at ten minutes a block)")
	return withJSONFields(cmd, walletStatusJSON{})
}

type walletStatusJSON struct {
	Wallet       string           `json:"wallet"`
	SyncedHeight int32            `json:"synced_height"`
	WarnBlocks   int32            `json:"warn_blocks"`
	WarnSeconds  int64            `json:"warn_seconds"`
	Warnings     int              `json:"warnings"`
	Coins        []lockStatusJSON `json:"coins"`
}

type lockStatusJSON struct {
	Outpoint    string     `json:"outpoint"`
	Value       int64      `json:"value_sat"`
	Height      int32      `json:"height"`
	Path        string     `json:"path"`
	OpensAt     int32      `json:"opens_at"`
	BlocksLeft  int32      `json:"blocks_left"`
	OpensTime   *time.Time `json:"opens_time,omitempty"`
	SecondsLeft *int64     `json:"seconds_left,omitempty"`
	Warn        bool       `json:"warn"`
	Refreshable bool       `json:"refreshable"`
}

func walletStatusRun(ctx context.Context, o *WalletStatusOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	st, err := co.TimelockStatus(ctx, o.Name, o.WarnBlocks, time.Duration(o.WarnDays)*24*time.Hour)
	if err != nil {
		return err
	}
	v := walletStatusJSON{Wallet: st.Wallet, SyncedHeight: st.SyncedHeight, WarnBlocks: st.WarnBlocks, WarnSeconds: int64(st.WarnTime / time.Second), Coins: []lockStatusJSON{}}
	for _, c := range st.Coins {
		cj := lockStatusJSON{Outpoint: c.OutPoint.String(), Value: c.Value, Height: c.Height, Path: c.Path,
			OpensAt: c.OpensAt, BlocksLeft: c.BlocksLeft, Warn: c.Warn, Refreshable: c.Refreshable}
		if !c.OpensTime.IsZero() {
			at, left := c.OpensTime.UTC(), c.SecondsLeft
			cj.OpensTime, cj.SecondsLeft = &at, &left
		}
		v.Coins = append(v.Coins, cj)
		if c.Warn {
			v.Warnings++
		}
	}
	for _, c := range v.Coins {
		if !c.Warn {
			continue
		}
		what := fmt.Sprintf("opens in %d blocks (block %d)", c.BlocksLeft, c.OpensAt)
		switch {
		case c.OpensTime != nil && *c.SecondsLeft <= 0 && c.BlocksLeft <= 0:
			what = fmt.Sprintf("is open since the chain's median time past reached %s", c.OpensTime.Format(timeLockLayout))
		case c.OpensTime != nil:
			what = fmt.Sprintf("opens once the chain's median time past reaches %s, in about %s", c.OpensTime.Format(timeLockLayout), daysText(max(*c.SecondsLeft, int64(c.BlocksLeft)*600)))
		case c.BlocksLeft <= 0:
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
	fmt.Fprintf(w, "Wallet %s, synced at block %d; warning within %d blocks (%s for locks counted in time).\n", safe(v.Wallet), v.SyncedHeight, v.WarnBlocks, daysText(v.WarnSeconds))
	if len(v.Coins) == 0 {
		fmt.Fprintln(w, "No confirmed coins.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COIN\tVALUE\tCONFIRMED\tPATH\tOPENS AT\tLEFT\t")
	for _, c := range v.Coins {
		mark := ""
		if c.Warn {
			mark = "WARNING"
		}
		at, left := fmt.Sprintf("block %d", c.OpensAt), fmt.Sprintf("%d blocks", c.BlocksLeft)
		if c.OpensTime != nil {
			// The date the median time past must reach; a path that also
			// waits for a block shows the later of the two.
			at, left = c.OpensTime.Format(timeLockLayout), daysText(*c.SecondsLeft)
			if c.OpensAt != 0 {
				at += fmt.Sprintf(" and block %d", c.OpensAt)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", c.Outpoint, btcString(c.Value), c.Height, safe(c.Path), at, left, mark)
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
	WarnDays      int
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
		Use:   "refresh NAME [--warn-blocks N] [--warn-days N] [-o FILE.psbt]",
		Short: "Build a self-send of the coins near a recovery opening, for the primary signers",
		Long: `Build a PSBT that sends every coin "wallet status" warns about (within
--warn-blocks, or --warn-days for a lock counted in time, of a relative
recovery lock opening, or past it) to the
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
			if o.WarnDays < 0 || o.WarnDays > 10000 {
				return usagef("--warn-days must be 0 to 10000")
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
	fl.IntVar(&o.WarnDays, "warn-days", 0, "for locks counted in time: refresh coins within this many days of the opening (default: --warn-blocks at ten minutes a block)")
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
	res, err := co.Refresh(ctx, coordinator.RefreshRequest{Wallet: o.Name, WarnBlocks: o.WarnBlocks, WarnTime: time.Duration(o.WarnDays) * 24 * time.Hour, FeeRate: rate, TargetBlocks: o.TargetBlocks,
		Note: o.Note, AllowConflict: o.AllowConflict, AllowHighFee: o.AllowHighFee})
	if err != nil {
		return err
	}
	return writeSpendResult(spendOut{IO: o.IO, JSON: o.JSON, Name: o.Name, Output: o.Output, Encoding: o.Encoding}, res)
}

// daysText says a number of seconds in days and hours ("open" at 0 or
// less), for the status table.
func daysText(secs int64) string {
	if secs <= 0 {
		return "open"
	}
	d, h := secs/86400, (secs%86400)/3600
	switch {
	case d > 0:
		return fmt.Sprintf("%dd %dh", d, h)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, (secs%3600)/60)
	}
	return fmt.Sprintf("%dm %ds", secs/60, secs%60)
}
