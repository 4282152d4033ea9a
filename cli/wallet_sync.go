package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
	"github.com/spf13/cobra"

	"github.com/countersign/countersign/wallet/scan"
)

// WalletSyncOptions are the inputs of `wallet sync`.
type WalletSyncOptions struct {
	IO   *Streams
	F    *Factory
	JSON bool
	Name string
	Gap  uint32
	Full bool
}

func newCmdWalletSync(f *Factory, runF func(context.Context, *WalletSyncOptions) error) *cobra.Command {
	o := &WalletSyncOptions{IO: f.IO, F: f}
	cmd := &cobra.Command{
		Use:   "sync NAME",
		Short: "Scan the chain backend for the wallet's coins and transactions",
		Long: `Scan both the receive and change branches on the chain backend, continuing
until --gap consecutive addresses are unused, and store the wallet's coins
and transactions. Later runs fetch only what is new. The store is written in
one transaction at the end: an interrupted sync changes nothing.`,
		Example: `  countersign wallet sync treasury
  countersign wallet sync treasury --gap 100 --backend btcd://user:pass@127.0.0.1:18334`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Name = args[0]
			if o.Gap == 0 || o.Gap > 10000 {
				return usagef("--gap must be between 1 and 10000")
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return walletSyncRun(c.Context(), o)
		},
	}
	cmd.Flags().Uint32Var(&o.Gap, "gap", scan.DefaultGap, "stop a branch after this many unused addresses in a row")
	cmd.Flags().BoolVar(&o.Full, "full", false, "ask about every address again instead of reading only the blocks since the last sync")
	return cmd
}

type syncJSON struct {
	Wallet      string `json:"wallet"`
	Height      int32  `json:"height"`
	Tip         string `json:"tip"`
	Addresses   int    `json:"addresses_scanned"`
	UTXOs       int    `json:"utxos"`
	NewTxs      int    `json:"new_transactions"`
	Confirmed   int64  `json:"confirmed_sat"`
	Unconfirmed int64  `json:"unconfirmed_sat"`
	NextReceive uint32 `json:"next_receive_index"`
	NextChange  uint32 `json:"next_change_index"`
	RoundTrips  int64  `json:"round_trips,omitempty"`
	Incremental bool   `json:"incremental"`
}

func walletSyncRun(ctx context.Context, o *WalletSyncOptions) error {
	s, err := o.F.Store()
	if err != nil {
		return err
	}
	l, err := loadWallet(ctx, s, o.Name)
	if err != nil {
		return err
	}
	b, err := o.F.Backend(ctx, l)
	if err != nil {
		return err
	}
	p := newProgress(o.IO)
	defer p.Done()
	res, err := scan.Sync(ctx, s, o.Name, l.D, l.Net, b, scan.Options{Gap: o.Gap, Full: o.Full, Progress: func(n int) {
		p.Update(fmt.Sprintf("Scanning %s: %d addresses checked", o.Name, n))
	}})
	if err != nil {
		return err
	}
	p.Done()
	conf, unconf, err := s.Balance(ctx, o.Name)
	if err != nil {
		return err
	}
	w, err := s.Wallet(ctx, o.Name)
	if err != nil {
		return err
	}
	out := syncJSON{Wallet: o.Name, Height: res.Height, Tip: res.Hash.String(), Addresses: res.Addresses, UTXOs: res.UTXOs, NewTxs: res.NewTxs, Confirmed: conf, Unconfirmed: unconf, NextReceive: w.NextReceive, NextChange: w.NextChange, Incremental: res.Incremental}
	if c, ok := b.(interface{ RoundTrips() int64 }); ok {
		out.RoundTrips = c.RoundTrips()
	}
	if o.JSON {
		return writeJSON(o.IO.Out, out)
	}
	fmt.Fprintf(o.IO.Out, "Synced %s at height %d: %s checked, %s, %s.\n", o.Name, res.Height,
		plural(res.Addresses, "address", "addresses"), plural(res.UTXOs, "coin", "coins"), plural(res.NewTxs, "new transaction", "new transactions"))
	fmt.Fprintf(o.IO.Out, "Balance: %s confirmed, %s unconfirmed.\n", btcString(conf), btcString(unconf))
	return nil
}

// btcString prints satoshis as BTC with 8 decimals.
func btcString(sat int64) string {
	return fmt.Sprintf("%.8f BTC", btcutil.Amount(sat).ToBTC())
}

func newCmdWalletBalance(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "balance NAME",
		Short: "Show the wallet's balance as of the last sync",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			s, err := f.Store()
			if err != nil {
				return err
			}
			if _, err := s.Wallet(ctx, args[0]); err != nil {
				return err
			}
			conf, unconf, err := s.Balance(ctx, args[0])
			if err != nil {
				return err
			}
			st, err := s.ScanState(ctx, args[0])
			if err != nil {
				return err
			}
			if f.Global.JSON {
				out := map[string]any{"wallet": args[0], "confirmed_sat": conf, "unconfirmed_sat": unconf, "total_sat": conf + unconf, "synced_height": st.Height}
				if !st.SyncedAt.IsZero() {
					out["synced_at"] = st.SyncedAt.UTC().Format(time.RFC3339)
				}
				return writeJSON(f.IO.Out, out)
			}
			if st.SyncedAt.IsZero() {
				fmt.Fprintf(f.IO.ErrOut, "warning: wallet %q has never been synced; run `countersign wallet sync %s`\n", args[0], args[0])
			}
			fmt.Fprintf(f.IO.Out, "Confirmed:   %s\nUnconfirmed: %s\nTotal:       %s\n", btcString(conf), btcString(unconf), btcString(conf+unconf))
			if !st.SyncedAt.IsZero() {
				fmt.Fprintf(f.IO.ErrOut, "(as of height %d, synced %s)\n", st.Height, st.SyncedAt.Local().Format("2006-01-02 15:04"))
			}
			return nil
		},
	}
}

type utxoJSON struct {
	OutPoint      string `json:"outpoint"`
	Amount        int64  `json:"amount_sat"`
	Address       string `json:"address"`
	Branch        uint32 `json:"branch"`
	Index         uint32 `json:"index"`
	Height        int32  `json:"height"`
	Confirmations int32  `json:"confirmations"`
	SpentBy       string `json:"spent_by,omitempty"`
}

func newCmdWalletUTXOs(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "utxos NAME",
		Short: "List the wallet's unspent coins as of the last sync",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			s, err := f.Store()
			if err != nil {
				return err
			}
			l, err := loadWallet(ctx, s, args[0])
			if err != nil {
				return err
			}
			us, err := s.UTXOs(ctx, args[0])
			if err != nil {
				return err
			}
			st, err := s.ScanState(ctx, args[0])
			if err != nil {
				return err
			}
			out := make([]utxoJSON, 0, len(us))
			for _, u := range us {
				j := utxoJSON{OutPoint: u.OutPoint.String(), Amount: u.Value, Branch: u.Branch, Index: u.Index, Height: u.Height, Address: scriptAddress(u.PkScript, l)}
				if u.Height > 0 {
					j.Confirmations = st.Height - u.Height + 1
				}
				if u.SpentBy != nil {
					j.SpentBy = u.SpentBy.String()
				}
				out = append(out, j)
			}
			if f.Global.JSON {
				return writeJSON(f.IO.Out, out)
			}
			tw := tabwriter.NewWriter(f.IO.Out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "OUTPOINT\tAMOUNT (BTC)\tADDRESS\tPATH\tCONF")
			for _, u := range out {
				path := fmt.Sprintf("%d/%d", u.Branch, u.Index)
				conf := fmt.Sprint(u.Confirmations)
				if u.SpentBy != "" {
					conf += " (spending)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.OutPoint, btcNum(u.Amount), u.Address, path, conf)
			}
			return tw.Flush()
		},
	}
}

func scriptAddress(script []byte, l *loaded) string {
	_, addrs, _, err := txscript.ExtractPkScriptAddrs(script, l.Net)
	if err != nil || len(addrs) != 1 {
		return ""
	}
	return addrs[0].EncodeAddress()
}

type historyJSON struct {
	TxID   string `json:"txid"`
	Height int32  `json:"height"`
	Net    int64  `json:"net_sat"`
	Fee    *int64 `json:"fee_sat"`
}

func newCmdWalletHistory(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "history NAME",
		Short: "List the wallet's transactions as of the last sync",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			s, err := f.Store()
			if err != nil {
				return err
			}
			if _, err := s.Wallet(ctx, args[0]); err != nil {
				return err
			}
			txs, err := s.Transactions(ctx, args[0])
			if err != nil {
				return err
			}
			out := make([]historyJSON, 0, len(txs))
			for _, t := range txs {
				out = append(out, historyJSON{TxID: t.TxID.String(), Height: t.Height, Net: t.Net, Fee: t.Fee})
			}
			if f.Global.JSON {
				return writeJSON(f.IO.Out, out)
			}
			tw := tabwriter.NewWriter(f.IO.Out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TXID\tHEIGHT\tNET (BTC)\tFEE (BTC)")
			for _, t := range out {
				h, fee := fmt.Sprint(t.Height), "-"
				if t.Height == 0 {
					h = "mempool"
				}
				if t.Fee != nil {
					fee = btcNum(*t.Fee)
				}
				fmt.Fprintf(tw, "%s\t%s\t%+.8f\t%s\n", t.TxID, h, btcutil.Amount(t.Net).ToBTC(), fee)
			}
			return tw.Flush()
		},
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
