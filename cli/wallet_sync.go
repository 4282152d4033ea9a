package cli

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/wallet/scan"
)

// WalletSyncOptions are the inputs of `wallet sync`.
type WalletSyncOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Name        string
	Gap         uint32
	Full        bool
}

func newCmdWalletSync(f *Factory, runF func(context.Context, *WalletSyncOptions) error) *cobra.Command {
	o := &WalletSyncOptions{IO: f.IO, Coordinator: f.Coordinator}
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
	return withJSONFields(cmd, syncJSON{})
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
	// Rotation is set for a wallet in a key rotation (see wallet rotate).
	Rotation *syncRotationJSON `json:"rotation,omitempty"`
}

// syncRotationJSON is where a synced wallet stands in a key rotation.
type syncRotationJSON struct {
	Successor   *string `json:"successor"`
	Predecessor *string `json:"predecessor"`
	// Status is "rotating" (coins still to sweep or a sweep not yet
	// confirmed), "retired", or "active" for a successor.
	Status      string `json:"status"`
	JustRetired bool   `json:"just_retired"`
	// Unconfirmed counts the wallet's unconfirmed transactions (a sweep
	// waiting for a block).
	Unconfirmed int `json:"unconfirmed_transactions"`
	// Coins and Value are what a rotated wallet still holds: to sweep, or
	// for a retired wallet, coins that arrived late.
	Coins int   `json:"coins"`
	Value int64 `json:"value_sat"`
}

func walletSyncRun(ctx context.Context, o *WalletSyncOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	p := newProgress(o.IO)
	defer p.Done()
	res, err := co.Sync(ctx, o.Name, scan.Options{Gap: o.Gap, Full: o.Full, Progress: func(n int) {
		p.Update(fmt.Sprintf("Scanning %s: %d addresses checked", safe(o.Name), n))
	}})
	if err != nil {
		return err
	}
	p.Done()
	out := syncJSON{Wallet: o.Name, Height: res.Height, Tip: res.Hash.String(), Addresses: res.Addresses, UTXOs: res.UTXOs, NewTxs: res.NewTxs,
		Confirmed: res.Confirmed, Unconfirmed: res.Unconfirmed, NextReceive: res.NextReceive, NextChange: res.NextChange, Incremental: res.Incremental, RoundTrips: res.RoundTrips}
	if r := res.Rotation; r != nil && (r.Successor != "" || r.Predecessor != "") {
		j := &syncRotationJSON{Status: "active", JustRetired: r.JustRetired, Coins: len(r.Coins), Value: r.Value, Unconfirmed: r.Unconfirmed}
		if r.Successor != "" {
			j.Successor, j.Status = &r.Successor, "rotating"
			if r.Retired {
				j.Status = "retired"
			}
		}
		if r.Predecessor != "" {
			j.Predecessor = &r.Predecessor
		}
		out.Rotation = j
	}
	if o.JSON {
		return writeJSON(o.IO.Out, out)
	}
	fmt.Fprintf(o.IO.Out, "Synced %s at height %d: %s checked, %s, %s.\n", safe(o.Name), res.Height,
		plural(res.Addresses, "address", "addresses"), plural(res.UTXOs, "coin", "coins"), plural(res.NewTxs, "new transaction", "new transactions"))
	fmt.Fprintf(o.IO.Out, "Balance: %s confirmed, %s unconfirmed.\n", btcString(res.Confirmed), btcString(res.Unconfirmed))
	renderSyncRotation(o, res.Rotation)
	return nil
}

// renderSyncRotation says where a rotated wallet stands: retired now,
// still sweeping, or (retired) holding coins that arrived late.
func renderSyncRotation(o *WalletSyncOptions, r *coordinator.RotationStatus) {
	if r == nil || r.Successor == "" {
		return
	}
	name, succ := safe(o.Name), safe(r.Successor)
	switch {
	case r.JustRetired:
		fmt.Fprintf(o.IO.Out, "The sweep to successor wallet %q has confirmed: %q is now retired.\n", succ, name)
	case r.Retired && len(r.Coins) > 0:
		fmt.Fprintf(o.IO.Out, "LATE PAYMENT: retired wallet %q received %s in %s after its rotation; sweep it to %q: countersign wallet rotate %s -o FILE\n",
			name, btcString(r.Value), plural(len(r.Coins), "coin", "coins"), succ, shellQuote(o.Name))
		for _, c := range r.Coins {
			fmt.Fprintf(o.IO.Out, "  %s\t%s\t%s\n", c.OutPoint, btcString(c.Value), confirmations(c.Confirmations))
		}
	case r.Retired:
		fmt.Fprintf(o.IO.Out, "Retired: its coins moved to successor wallet %q.\n", succ)
	case len(r.Coins) == 0:
		fmt.Fprintf(o.IO.Out, "Rotating to successor wallet %q: waiting for %s to confirm; %q retires then.\n",
			succ, plural(r.Unconfirmed, "transaction", "transactions"), name)
	default:
		fmt.Fprintf(o.IO.Out, "Rotating to successor wallet %q: %s (%s) still to sweep or being swept; %q retires once they have left in a confirmed transaction.\n",
			succ, plural(len(r.Coins), "coin", "coins"), btcString(r.Value), name)
	}
}

// confirmations describes a coin's confirmations.
func confirmations(n int32) string {
	if n <= 0 {
		return "unconfirmed"
	}
	return plural(int(n), "confirmation", "confirmations")
}

// btcString prints satoshis as BTC with 8 decimals.
func btcString(sat int64) string {
	return fmt.Sprintf("%.8f BTC", btcutil.Amount(sat).ToBTC())
}

// WalletReadOptions are the inputs of `wallet balance`, `utxos` and
// `history`: a wallet to read as of its last sync.
type WalletReadOptions struct {
	IO          *Streams
	Coordinator func() (*coordinator.Coordinator, error)
	JSON        bool
	Name        string
}

func newCmdWalletRead(f *Factory, use, short string, shape any, run func(context.Context, *WalletReadOptions) error, runF func(context.Context, *WalletReadOptions) error) *cobra.Command {
	o := &WalletReadOptions{IO: f.IO, Coordinator: f.Coordinator}
	return withJSONFields(&cobra.Command{
		Use:   use + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.JSON = f.Global.JSON
			o.Name = args[0]
			if runF != nil {
				return runF(c.Context(), o)
			}
			return run(c.Context(), o)
		},
	}, shape)
}

type balanceJSON struct {
	Wallet       string `json:"wallet"`
	Confirmed    int64  `json:"confirmed_sat"`
	Unconfirmed  int64  `json:"unconfirmed_sat"`
	Total        int64  `json:"total_sat"`
	SyncedHeight int32  `json:"synced_height"`
	SyncedAt     string `json:"synced_at,omitempty"`
}

func newCmdWalletBalance(f *Factory, runF func(context.Context, *WalletReadOptions) error) *cobra.Command {
	return newCmdWalletRead(f, "balance", "Show the wallet's balance as of the last sync", balanceJSON{}, walletBalanceRun, runF)
}

func walletBalanceRun(ctx context.Context, o *WalletReadOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	b, err := co.Balance(ctx, o.Name)
	if err != nil {
		return err
	}
	if o.JSON {
		out := balanceJSON{Wallet: o.Name, Confirmed: b.Confirmed, Unconfirmed: b.Unconfirmed, Total: b.Confirmed + b.Unconfirmed, SyncedHeight: b.SyncedHeight}
		if !b.SyncedAt.IsZero() {
			out.SyncedAt = b.SyncedAt.UTC().Format(time.RFC3339)
		}
		return writeJSON(o.IO.Out, out)
	}
	if b.SyncedAt.IsZero() {
		fmt.Fprintf(o.IO.ErrOut, "warning: wallet %q has never been synced; run `countersign wallet sync %s`\n", o.Name, safe(o.Name))
	}
	fmt.Fprintf(o.IO.Out, "Confirmed:   %s\nUnconfirmed: %s\nTotal:       %s\n", btcString(b.Confirmed), btcString(b.Unconfirmed), btcString(b.Confirmed+b.Unconfirmed))
	if !b.SyncedAt.IsZero() {
		fmt.Fprintf(o.IO.ErrOut, "(as of height %d, synced %s)\n", b.SyncedHeight, b.SyncedAt.Local().Format("2006-01-02 15:04"))
	}
	return nil
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
	Label         string `json:"label"`
}

func newCmdWalletUTXOs(f *Factory, runF func(context.Context, *WalletReadOptions) error) *cobra.Command {
	return newCmdWalletRead(f, "utxos", "List the wallet's unspent coins as of the last sync", utxoJSON{}, walletUTXOsRun, runF)
}

func walletUTXOsRun(ctx context.Context, o *WalletReadOptions) error {
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	coins, err := co.Coins(ctx, o.Name)
	if err != nil {
		return err
	}
	out := make([]utxoJSON, 0, len(coins))
	for _, u := range coins {
		j := utxoJSON{OutPoint: u.OutPoint.String(), Amount: u.Value, Branch: u.Branch, Index: u.Index, Height: u.Height, Address: u.Address, Confirmations: u.Confirmations, Label: u.Label}
		if u.SpentBy != nil {
			j.SpentBy = u.SpentBy.String()
		}
		out = append(out, j)
	}
	if o.JSON {
		return writeJSON(o.IO.Out, out)
	}
	tw := tabwriter.NewWriter(o.IO.Out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OUTPOINT\tAMOUNT (BTC)\tADDRESS\tPATH\tCONF\tLABEL")
	for _, u := range out {
		path := fmt.Sprintf("%d/%d", u.Branch, u.Index)
		conf := fmt.Sprint(u.Confirmations)
		if u.SpentBy != "" {
			conf += " (spending)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.OutPoint, btcNum(u.Amount), u.Address, path, conf, safe(u.Label))
	}
	return tw.Flush()
}

type historyJSON struct {
	TxID   string `json:"txid"`
	Height int32  `json:"height"`
	Net    int64  `json:"net_sat"`
	Fee    *int64 `json:"fee_sat"`
	SeenAt string `json:"seen_at"`
	// BlockTime is the confirming block's timestamp, when the backend
	// reported it; absent while unconfirmed.
	BlockTime string `json:"block_time,omitempty"`
	Label     string `json:"label"`
	Balance   int64  `json:"balance_sat"`
}

func newCmdWalletHistory(f *Factory, runF func(context.Context, *WalletReadOptions) error) *cobra.Command {
	var csvOut bool
	cmd := newCmdWalletRead(f, "history", "List the wallet's transactions as of the last sync", historyJSON{}, func(ctx context.Context, o *WalletReadOptions) error {
		if csvOut {
			return walletHistoryCSV(ctx, o)
		}
		return walletHistoryRun(ctx, o)
	}, runF)
	cmd.Flags().BoolVar(&csvOut, "csv", false, "write CSV for a spreadsheet: date, txid, label, amount, fee, running balance (BTC)")
	cmd.Long = `List the wallet's transactions as of the last sync, oldest first (confirmed
by height, then unconfirmed by when a sync first saw them), with labels and
the balance after each.

--csv writes them for an accountant's spreadsheet: date (UTC: the time of
the block that confirmed the transaction; for one still unconfirmed, or
stored before countersign recorded block times and not synced with --full
since, when countersign first saw it), txid, label, amount (the net change of the
balance, BTC, negative for a payment out; it includes the fee), fee (BTC,
when the wallet paid it; informational), running balance (BTC). A cell a
spreadsheet would take for a formula (starting with =, +, -, @) is written
with a leading apostrophe.`
	return cmd
}

func historyRows(ctx context.Context, o *WalletReadOptions) ([]historyJSON, error) {
	co, err := o.Coordinator()
	if err != nil {
		return nil, err
	}
	txs, err := co.LabelledHistory(ctx, o.Name)
	if err != nil {
		return nil, err
	}
	out := make([]historyJSON, 0, len(txs))
	for _, t := range txs {
		h := historyJSON{TxID: t.TxID.String(), Height: t.Height, Net: t.Net, Fee: t.Fee, SeenAt: t.SeenAt.UTC().Format(time.RFC3339),
			Label: t.Label, Balance: t.Balance}
		if !t.BlockTime.IsZero() {
			h.BlockTime = t.BlockTime.UTC().Format(time.RFC3339)
		}
		out = append(out, h)
	}
	return out, nil
}

func walletHistoryRun(ctx context.Context, o *WalletReadOptions) error {
	if o.JSON {
		out, err := historyRows(ctx, o)
		if err != nil {
			return err
		}
		return writeJSON(o.IO.Out, out)
	}
	co, err := o.Coordinator()
	if err != nil {
		return err
	}
	txs, err := co.LabelledHistory(ctx, o.Name)
	if err != nil {
		return err
	}
	return writeHistoryTable(o.IO.Out, txs)
}

// writeHistoryTable writes the history as a table with columns two spaces
// apart (what text/tabwriter made of it before), building every line in
// one buffer once the column widths are known: at 30,000 transactions
// tabwriter's cell copies and fmt's formatting were half of `wallet
// history`'s time (issue 15). Amounts are formatted from whole satoshis,
// exactly.
func writeHistoryTable(w io.Writer, txs []coordinator.HistoryEntry) error {
	header := [...]string{"TXID", "HEIGHT", "NET (BTC)", "FEE (BTC)", "BALANCE (BTC)", "LABEL"}
	var width [5]int
	for i := range width {
		width[i] = len(header[i])
	}
	// Widths first: the numbers are formatted twice rather than kept, so
	// the table needs no per-cell strings.
	scratch := make([]byte, 0, 2*chainhash.HashSize) // the widest cell: a txid
	grow := func(i int, b []byte) {
		width[i] = max(width[i], len(b))
	}
	for _, t := range txs {
		grow(1, historyHeight(scratch[:0], t.Height))
		grow(2, appendBTC(scratch[:0], t.Net, true))
		if t.Fee != nil {
			grow(3, appendBTC(scratch[:0], *t.Fee, false))
		}
		grow(4, appendBTC(scratch[:0], t.Balance, false))
	}
	if len(txs) > 0 {
		width[0] = 2 * chainhash.HashSize // every txid is 64 hex digits
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	line := make([]byte, 0, 256)
	cell := func(i int, b []byte) {
		line = append(line, b...)
		for n := len(b); n < width[i]+2; n++ {
			line = append(line, ' ')
		}
	}
	for i := 0; i < 5; i++ {
		cell(i, []byte(header[i]))
	}
	line = append(line, header[5]...)
	line = append(line, '\n')
	if _, err := bw.Write(line); err != nil {
		return err
	}
	for _, t := range txs {
		line = line[:0]
		cell(0, appendTxID(scratch[:0], &t.TxID))
		cell(1, historyHeight(scratch[:0], t.Height))
		cell(2, appendBTC(scratch[:0], t.Net, true))
		if t.Fee != nil {
			cell(3, appendBTC(scratch[:0], *t.Fee, false))
		} else {
			cell(3, []byte("-"))
		}
		cell(4, appendBTC(scratch[:0], t.Balance, false))
		line = append(line, safe(t.Label)...)
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// appendTxID appends id in display order (chainhash.Hash.String without
// its allocations).
func appendTxID(dst []byte, id *chainhash.Hash) []byte {
	const digits = "0123456789abcdef"
	for i := chainhash.HashSize - 1; i >= 0; i-- {
		dst = append(dst, digits[id[i]>>4], digits[id[i]&0x0f])
	}
	return dst
}

// historyHeight is a transaction's height, or "mempool" when unconfirmed.
func historyHeight(dst []byte, h int32) []byte {
	if h == 0 {
		return append(dst, "mempool"...)
	}
	return strconv.AppendInt(dst, int64(h), 10)
}

// appendBTC appends sat as BTC with eight decimals ("%.8f" of the amount;
// with plus, a + before amounts that are not negative, as "%+.8f").
func appendBTC(dst []byte, sat int64, plus bool) []byte {
	u := uint64(sat)
	switch {
	case sat < 0:
		dst = append(dst, '-')
		u = uint64(-sat)
	case plus:
		dst = append(dst, '+')
	}
	dst = strconv.AppendUint(dst, u/1e8, 10)
	dst = append(dst, '.')
	frac := u % 1e8
	for d := uint64(1e7); d > 0; d /= 10 {
		dst = append(dst, byte('0'+frac/d%10))
	}
	return dst
}

// walletHistoryCSV writes the history as CSV (RFC 4180).
func walletHistoryCSV(ctx context.Context, o *WalletReadOptions) error {
	if o.JSON {
		return usagef("--csv and --json: pick one")
	}
	out, err := historyRows(ctx, o)
	if err != nil {
		return err
	}
	w := csv.NewWriter(o.IO.Out) // buffered itself
	w.Write([]string{"date", "txid", "label", "amount_btc", "fee_btc", "balance_btc"})
	for _, t := range out {
		fee := ""
		if t.Fee != nil {
			fee = btcNum(*t.Fee)
		}
		date := t.SeenAt
		if t.BlockTime != "" {
			date = t.BlockTime
		}
		w.Write([]string{date, t.TxID, spreadsheetSafe(t.Label), fmt.Sprintf("%.8f", btcutil.Amount(t.Net).ToBTC()), fee, btcNum(t.Balance)})
	}
	w.Flush()
	return w.Error()
}

// spreadsheetSafe keeps a label from being read as a formula by a
// spreadsheet (CSV injection): a leading =, +, -, @, tab or carriage
// return gets an apostrophe before it.
func spreadsheetSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
