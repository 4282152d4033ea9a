package cli

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"text/tabwriter"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/wallet"
)

// tabwriterHistory is how `wallet history` wrote its table before
// writeHistoryTable (text/tabwriter and fmt), kept here as the reference
// the fast writer must match byte for byte.
func tabwriterHistory(txs []coordinator.HistoryEntry) []byte {
	var out bytes.Buffer
	tw := tabwriter.NewWriter(&out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TXID\tHEIGHT\tNET (BTC)\tFEE (BTC)\tBALANCE (BTC)\tLABEL")
	for _, t := range txs {
		h, fee := fmt.Sprint(t.Height), "-"
		if t.Height == 0 {
			h = "mempool"
		}
		if t.Fee != nil {
			fee = btcNum(*t.Fee)
		}
		fmt.Fprintf(tw, "%s\t%s\t%+.8f\t%s\t%s\t%s\n", t.TxID, h, btcutil.Amount(t.Net).ToBTC(), fee, btcNum(t.Balance), safe(t.Label))
	}
	tw.Flush()
	return out.Bytes()
}

func TestHistoryTableMatchesTabwriter(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	amount := func() int64 {
		switch r.IntN(4) {
		case 0:
			return 0
		case 1:
			return r.Int64N(1000)
		case 2:
			return -r.Int64N(21e14)
		}
		return r.Int64N(21e14)
	}
	for _, n := range []int{0, 1, 7, 300} {
		var txs []coordinator.HistoryEntry
		for i := 0; i < n; i++ {
			var id chainhash.Hash
			for j := range id {
				id[j] = byte(r.UintN(256))
			}
			e := coordinator.HistoryEntry{Tx: &wallet.Tx{TxID: id, Height: int32(r.IntN(3) * r.IntN(900_000)), Net: amount()}, Balance: amount()}
			if r.IntN(2) == 0 {
				f := amount()
				if f < 0 {
					f = -f
				}
				e.Fee = &f
			}
			switch r.IntN(3) {
			case 0:
				e.Label = "rent \u00e9t\u00e9"
			case 1:
				e.Label = "evil\x1b[31m"
			}
			txs = append(txs, e)
		}
		var got bytes.Buffer
		if err := writeHistoryTable(&got, txs); err != nil {
			t.Fatal(err)
		}
		if want := tabwriterHistory(txs); !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("%d rows: the table differs from tabwriter's:\n got %q\nwant %q", n, got.Bytes(), want)
		}
	}
}
