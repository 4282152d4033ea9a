package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/chain"
	"github.com/countersign/countersign/internal/regtest"
)

// TestMiniscriptTimeLocksRegtest: locks counted in time, on btcd.
//
//   - countersign's median time past of the tip (from 11 headers) equals
//     btcd's own getblockchaininfo mediantime;
//   - after(T) with T two hours before the median time past: the lawyer
//     alone spends by the recovery path and btcd accepts the transaction
//     (nLockTime T is final and meets CHECKLOCKTIMEVERIFY);
//   - after(T) thirty days ahead: refused with exit 4 naming the date;
//   - --recovery "after 1 days: ...": refused with exit 4 while locked;
//   - older(4194305), one unit of 512 s written by hand: refused while
//     locked; then eleven blocks with timestamps up to 110 minutes ahead
//     (btcd accepts up to two hours) move the median time past forward,
//     and the recovery spend is accepted by btcd (BIP-68 time lock met).
func TestMiniscriptTimeLocksRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	ctx := context.Background()
	node := regtest.Start(t)
	dir, cs := miniscriptFamily(t, node)
	ext := node.Address().EncodeAddress()
	work := t.TempDir()

	desc := func(lock string) string {
		k := func(name string) string { return cs[name].Expr + "/<0;1>/*" }
		return fmt.Sprintf("wsh(or_d(multi(2,%s,%s,%s),and_v(v:pkh(%s),%s)))", k("alice"), k("bob"), k("carol"), k("lawyer"), lock)
	}
	// The chain is fresh (the genesis block is from 2011): the locks are
	// set by the clock, which the blocks mined below follow.
	past := time.Now().Unix() - 2*3600
	future := time.Now().Unix() + 30*86400
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "past", "--descriptor", desc(fmt.Sprintf("after(%d)", past)))
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "future", "--descriptor", desc(fmt.Sprintf("after(%d)", future)))
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "soon", "--descriptor", desc(fmt.Sprintf("older(%d)", 1<<22|1)))
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "days", "--threshold", "2",
		"--cosigner", "alice="+cs["alice"].Expr, "--cosigner", "bob="+cs["bob"].Expr, "--cosigner", "carol="+cs["carol"].Expr,
		"--recovery-cosigner", "lawyer="+cs["lawyer"].Expr, "--recovery", "after 1 days: 1 of lawyer")
	var show struct {
		Descriptor string `json:"descriptor"`
	}
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "show", "days"), &show)
	if !strings.Contains(show.Descriptor, fmt.Sprintf("older(%d)", 1<<22|169)) {
		t.Fatalf("after 1 days wrote %s", show.Descriptor)
	}
	for _, w := range []string{"past", "future", "soon", "days"} {
		fundWallet(t, node, dir, w, 20_000_000)
	}

	info, err := node.Client().GetBlockChainInfo()
	if err != nil {
		t.Fatal(err)
	}
	b, err := chain.Open(node.RPCURL())
	if err != nil {
		t.Fatal(err)
	}
	mtp, err := chain.MedianTimePast(ctx, b, info.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	if mtp.Unix() != info.MedianTime || mtp.Unix() <= past {
		t.Fatalf("countersign's median time past of block %d is %d, btcd's %d (the lock in the past: %d)", info.Blocks, mtp.Unix(), info.MedianTime, past)
	}

	// after(T), T in the past: spent by the lawyer alone, accepted.
	heir := filepath.Join(work, "past.psbt")
	mustRun(t, dir, "spend", "past", "--path", "recovery", "--send-all", ext, "--fee-rate", "2", "-o", heir)
	signSend(t, node, dir, "past", heir, "lawyer")
	var bal map[string]any
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "balance", "past"), &bal)
	if bal["confirmed_sat"].(float64) != 0 || bal["unconfirmed_sat"].(float64) != 0 {
		t.Fatalf("balance after the after(T) recovery: %v", bal)
	}

	// after(T), T thirty days ahead: refused with the date.
	date := time.Unix(future, 0).UTC().Format("2006-01-02 15:04:05 UTC")
	r := runCLI(t, dir, "", "spend", "future", "--path", "recovery", "--send-all", ext, "--fee-rate", "2")
	if r.Code != 4 || !strings.Contains(r.Err, "timelock rule") || !strings.Contains(r.Err, "opens at "+date) || !strings.Contains(r.Err, " days ") {
		t.Fatalf("after(T) in the future: exit %d: %s", r.Code, r.Err)
	}

	// Relative locks counted in time, still locked.
	for _, w := range []string{"days", "soon"} {
		r := runCLI(t, dir, "", "spend", w, "--path", "recovery", "--send-all", ext, "--fee-rate", "2")
		if r.Code != 4 || !strings.Contains(r.Err, "timelock rule") || !strings.Contains(r.Err, "still locked for every coin: the first opens at") {
			t.Fatalf("%s while locked: exit %d: %s", w, r.Code, r.Err)
		}
	}

	// wallet show and wallet status give the date the days lock opens:
	// the median time past of the block before the coin's plus 169 units
	// of 512 s.
	var days struct {
		Paths []struct {
			Name  string `json:"name"`
			Coins []struct {
				Height    int32      `json:"height"`
				Open      bool       `json:"open"`
				OpensTime *time.Time `json:"opens_time"`
			} `json:"coins"`
		} `json:"paths"`
	}
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "show", "days"), &days)
	if len(days.Paths) != 2 || len(days.Paths[1].Coins) != 1 || days.Paths[1].Coins[0].OpensTime == nil || days.Paths[1].Coins[0].Open {
		t.Fatalf("wallet show days: %+v", days)
	}
	coin := days.Paths[1].Coins[0]
	base, err := chain.MedianTimePast(ctx, b, coin.Height-1)
	if err != nil {
		t.Fatal(err)
	}
	if coin.OpensTime.Unix() != base.Unix()+169*512 {
		t.Fatalf("the days lock opens at %s, want the median time past of block %d (%s) + 86528 s", coin.OpensTime, coin.Height-1, base)
	}
	var status struct {
		WarnSeconds int64 `json:"warn_seconds"`
		Coins       []struct {
			OpensTime   *time.Time `json:"opens_time"`
			SecondsLeft *int64     `json:"seconds_left"`
			Warn        bool       `json:"warn"`
		} `json:"coins"`
	}
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "status", "days", "--warn-days", "2"), &status)
	if status.WarnSeconds != 2*86400 || len(status.Coins) != 1 || status.Coins[0].OpensTime == nil || !status.Coins[0].OpensTime.Equal(*coin.OpensTime) ||
		*status.Coins[0].SecondsLeft <= 0 || *status.Coins[0].SecondsLeft > 86528 || !status.Coins[0].Warn {
		t.Fatalf("wallet status days --warn-days 2: %+v", status)
	}
	if r := runCLI(t, dir, "", "wallet", "status", "days", "--warn-days", "0", "--warn-blocks", "1"); r.Code != 0 || strings.Contains(r.Err, "warning") || !strings.Contains(r.Out, coin.OpensTime.UTC().Format("2006-01-02 15:04:05 UTC")) {
		t.Fatalf("wallet status days: exit %d: %s%s", r.Code, r.Out, r.Err)
	}

	// Move the median time past forward: eleven blocks stamped 10 to
	// 110 minutes ahead.
	now := time.Now()
	for i := 1; i <= 11; i++ {
		submitBlockAt(t, node, now.Add(time.Duration(i)*10*time.Minute))
	}
	syncWallet(t, dir, node.RPCURL(), "soon")
	soon := filepath.Join(work, "soon.psbt")
	mustRun(t, dir, "spend", "soon", "--path", "recovery", "--send-all", ext, "--fee-rate", "2", "-o", soon)
	signSend(t, node, dir, "soon", soon, "lawyer")
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "balance", "soon"), &bal)
	if bal["confirmed_sat"].(float64) != 0 || bal["unconfirmed_sat"].(float64) != 0 {
		t.Fatalf("balance after the older(512 s) recovery: %v", bal)
	}
	// A day's lock is still closed an hour and a half later.
	syncWallet(t, dir, node.RPCURL(), "days")
	if r := runCLI(t, dir, "", "spend", "days", "--path", "recovery", "--send-all", ext, "--fee-rate", "2"); r.Code != 4 {
		t.Fatalf("after 1 days, 2 hours on: exit %d: %s", r.Code, r.Err)
	}
	mustDoctor(t, dir)
}

// submitBlockAt mines a block of only a coinbase (paying nothing) on the
// tip with the given timestamp and submits it: the only way to move a
// regtest chain's median time past ahead of the clock, within the two
// hours btcd accepts.
func submitBlockAt(t *testing.T, node *regtest.Node, ts time.Time) {
	t.Helper()
	ctx := context.Background()
	height, tip, err := node.Tip(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := txscript.NewScriptBuilder().AddInt64(int64(height + 1)).AddData([]byte("countersign mtp")).Script()
	if err != nil {
		t.Fatal(err)
	}
	cb := wire.NewMsgTx(1)
	cb.AddTxIn(wire.NewTxIn(&wire.OutPoint{Index: wire.MaxPrevOutIndex}, sig, nil))
	cb.AddTxOut(wire.NewTxOut(0, []byte{txscript.OP_TRUE}))
	bits := node.Params().PowLimitBits
	blk := &wire.MsgBlock{Header: wire.BlockHeader{Version: 0x20000000, PrevBlock: tip, MerkleRoot: cb.TxHash(),
		Timestamp: time.Unix(ts.Unix(), 0), Bits: bits}, Transactions: []*wire.MsgTx{cb}}
	target := blockchain.CompactToBig(bits)
	for {
		h := blk.Header.BlockHash()
		if blockchain.HashToBig(&h).Cmp(target) <= 0 {
			break
		}
		blk.Header.Nonce++
	}
	if err := node.Client().SubmitBlock(btcutil.NewBlock(blk), nil); err != nil {
		t.Fatalf("btcd refused a block stamped %s: %v", ts.UTC(), err)
	}
	if h, hash, err := node.Tip(ctx); err != nil || h != height+1 || hash != blk.BlockHash() {
		t.Fatalf("tip after submitting %s: %d %s %v", blk.BlockHash(), h, hash, err)
	}
}
