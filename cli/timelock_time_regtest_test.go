package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/chain"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/internal/regtest"
	"github.com/countersign/countersign/psbt"
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
//     wallet show/status give its opening date; wallet refresh
//     --warn-days moves the coin and the new one opens later;
//   - older(4194305), one unit of 512 s written by hand: submitted blocks
//     with chosen timestamps set the median time past to one second
//     before the coin opens: countersign refuses, and so does btcd's
//     block validation (sequence locks); one block later the median time
//     past is exactly at the opening, the spend is built, signed by the
//     lawyer alone and mined (BIP-68 time lock met).
//   - the BIP-113 finality boundary for after(T): nLockTime equal to the
//     tip's median time past is refused by countersign's broadcast and in
//     a block by btcd; one second lower both take it.
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
	fundWallet(t, node, dir, "past", 20_000_000, 10_000_000)
	for _, w := range []string{"future", "soon", "days"} {
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

	// The finality boundary, against btcd's consensus rules: the lawyer's
	// recovery spend of one coin with nLockTime equal to the tip's median
	// time past is not final (BIP-113 wants nLockTime < MTP): countersign's
	// broadcast refuses it, and btcd refuses a block holding it; one
	// second lower, countersign broadcasts it and btcd takes the block.
	tipHeight, _, err := node.Tip(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now, err := chain.MedianTimePast(ctx, b, tipHeight)
	if err != nil {
		t.Fatal(err)
	}
	stamp := time.Unix(max(time.Now().Unix(), now.Unix()+1), 0)
	edge, edgeFile := lawyerSpend(t, node, dir, "past", cs["lawyer"], ext, uint32(now.Unix()), wire.MaxTxInSequenceNum-1)
	if r := runCLI(t, dir, "", "psbt", "broadcast", edgeFile, "--wallet", "past"); r.Code != 4 || !strings.Contains(r.Err, "timelock rule") || !strings.Contains(r.Err, "about 1 second from now (the median time past is") {
		t.Fatalf("countersign broadcast with nLockTime = MTP: exit %d: %s", r.Code, r.Err)
	}
	if err := submitBlock(t, node, stamp, edge); err == nil || !strings.Contains(err.Error(), "unfinalized") {
		t.Fatalf("btcd took a block with a transaction whose nLockTime = MTP: %v", err)
	}
	open, openFile := lawyerSpend(t, node, dir, "past", cs["lawyer"], ext, uint32(now.Unix()-1), wire.MaxTxInSequenceNum-1)
	mustRun(t, dir, "psbt", "broadcast", openFile, "--wallet", "past")
	if err := submitBlock(t, node, stamp, open); err != nil {
		t.Fatalf("btcd refused a block with a transaction whose nLockTime = MTP - 1: %v", err)
	}
	syncWallet(t, dir, node.RPCURL(), "past")

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
	var days pathsTimeJSON
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

	// Move the median time past to exactly one second before the soon
	// wallet's coin opens: eleven blocks stamped X-5 .. X+5 make it X
	// (the median), X = the median time past of the block before the
	// coin's + 512 - 1 (BIP-68: one 512-second unit). countersign refuses
	// by one second, and btcd refuses a block with the lawyer's spend
	// (sequence locks); one more block stamped X+6 makes it X+1: the
	// spend is built, and btcd takes the block.
	var soonShow struct {
		Paths []struct {
			Coins []struct {
				Height    int32      `json:"height"`
				OpensTime *time.Time `json:"opens_time"`
			} `json:"coins"`
		} `json:"paths"`
	}
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "show", "soon"), &soonShow)
	soonCoin := soonShow.Paths[1].Coins[0]
	soonBase, err := chain.MedianTimePast(ctx, b, soonCoin.Height-1)
	if err != nil {
		t.Fatal(err)
	}
	if soonCoin.OpensTime == nil || soonCoin.OpensTime.Unix() != soonBase.Unix()+512 {
		t.Fatalf("the soon coin opens at %v, want %s + 512 s", soonCoin.OpensTime, soonBase)
	}
	x := soonBase.Unix() + 511
	for i := int64(-5); i <= 5; i++ {
		submitBlockAt(t, node, time.Unix(x+i, 0))
	}
	tipHeight, _, err = node.Tip(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := chain.MedianTimePast(ctx, b, tipHeight); err != nil || m.Unix() != x {
		t.Fatalf("the median time past after eleven blocks is %v, want %d: %v", m.Unix(), x, err)
	}
	syncWallet(t, dir, node.RPCURL(), "soon")
	r = runCLI(t, dir, "", "spend", "soon", "--path", "recovery", "--send-all", ext, "--fee-rate", "2")
	if r.Code != 4 || !strings.Contains(r.Err, ", about 1 second from now (the chain's median time past") {
		t.Fatalf("soon locked by one second: exit %d: %s", r.Code, r.Err)
	}
	early, _ := lawyerSpend(t, node, dir, "soon", cs["lawyer"], ext, uint32(tipHeight), 1<<22|1)
	if err := submitBlock(t, node, time.Unix(x+6, 0), early); err == nil || !strings.Contains(err.Error(), "sequence lock") {
		t.Fatalf("btcd took a block with the spend one second early: %v", err)
	}
	submitBlockAt(t, node, time.Unix(x+6, 0))
	syncWallet(t, dir, node.RPCURL(), "soon")
	soon := filepath.Join(work, "soon.psbt")
	mustRun(t, dir, "spend", "soon", "--path", "recovery", "--send-all", ext, "--fee-rate", "2", "-o", soon)
	signSend(t, node, dir, "soon", soon, "lawyer")
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "balance", "soon"), &bal)
	if bal["confirmed_sat"].(float64) != 0 || bal["unconfirmed_sat"].(float64) != 0 {
		t.Fatalf("balance after the older(512 s) recovery: %v", bal)
	}
	// A day's lock is still closed.
	syncWallet(t, dir, node.RPCURL(), "days")
	if r := runCLI(t, dir, "", "spend", "days", "--path", "recovery", "--send-all", ext, "--fee-rate", "2"); r.Code != 4 {
		t.Fatalf("after 1 days, minutes on: exit %d: %s", r.Code, r.Err)
	}
	// wallet refresh --warn-days moves the coin by the primary path; the
	// new coin's lock counts from its own block, later than before.
	refresh := filepath.Join(work, "refresh.psbt")
	mustRun(t, dir, "wallet", "refresh", "days", "--warn-days", "2", "--fee-rate", "2", "-o", refresh)
	signSend(t, node, dir, "days", refresh, "alice", "bob")
	oldOpens, oldHeight := *coin.OpensTime, coin.Height
	var after pathsTimeJSON
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "show", "days"), &after)
	if c := after.Paths[1].Coins; len(c) != 1 || c[0].OpensTime == nil || !c[0].OpensTime.After(oldOpens) || c[0].Height <= oldHeight {
		t.Fatalf("after the refresh: %+v (the old coin, confirmed at %d, opened at %s)", after.Paths[1], oldHeight, oldOpens)
	}
	mustDoctor(t, dir)
}

// submitBlockAt mines a block of only a coinbase (paying nothing) on the
// tip with the given timestamp and submits it: the only way to move a
// regtest chain's median time past ahead of the clock, within the two
// hours btcd accepts.
func submitBlockAt(t *testing.T, node *regtest.Node, ts time.Time) {
	t.Helper()
	if err := submitBlock(t, node, ts); err != nil {
		t.Fatalf("btcd refused a block stamped %s: %v", ts.UTC(), err)
	}
}

// submitBlock mines a block holding txs on the tip with the given
// timestamp (a coinbase paying nothing, with the BIP-141 witness
// commitment) and submits it, returning btcd's refusal: a block is judged
// by consensus rules alone, where btcd's regtest mempool accepts
// non-final transactions (it skips its standardness checks there).
func submitBlock(t *testing.T, node *regtest.Node, ts time.Time, txs ...*wire.MsgTx) error {
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
	all := append([]*wire.MsgTx{cb}, txs...)
	if len(txs) > 0 {
		// BIP-141: the coinbase commits to the witness merkle root (the
		// coinbase's wtxid counted as zero) with a 32-byte nonce.
		var nonce [32]byte
		cb.TxIn[0].Witness = wire.TxWitness{nonce[:]}
		var btxs []*btcutil.Tx
		for _, tx := range all {
			btxs = append(btxs, btcutil.NewTx(tx))
		}
		root := blockchain.CalcMerkleRoot(btxs, true)
		commitment := chainhash.DoubleHashB(append(root[:], nonce[:]...))
		cb.AddTxOut(wire.NewTxOut(0, append([]byte{txscript.OP_RETURN, 36, 0xaa, 0x21, 0xa9, 0xed}, commitment...)))
	}
	var btxs []*btcutil.Tx
	for _, tx := range all {
		btxs = append(btxs, btcutil.NewTx(tx))
	}
	bits := node.Params().PowLimitBits
	blk := &wire.MsgBlock{Header: wire.BlockHeader{Version: 0x20000000, PrevBlock: tip, MerkleRoot: blockchain.CalcMerkleRoot(btxs, false),
		Timestamp: time.Unix(ts.Unix(), 0), Bits: bits}, Transactions: all}
	target := blockchain.CompactToBig(bits)
	for {
		h := blk.Header.BlockHash()
		if blockchain.HashToBig(&h).Cmp(target) <= 0 {
			break
		}
		blk.Header.Nonce++
	}
	if err := node.Client().SubmitBlock(btcutil.NewBlock(blk), nil); err != nil {
		return err
	}
	if h, hash, err := node.Tip(ctx); err != nil || h != height+1 || hash != blk.BlockHash() {
		t.Fatalf("tip after submitting %s: %d %s %v", blk.BlockHash(), h, hash, err)
	}
	return nil
}

// lawyerSpend builds, outside countersign's spend (which would refuse or
// choose other values), the lawyer's recovery spend of wallet's first coin
// with the given nLockTime and nSequence, finalized by the satisfier, and
// writes it as hex to a file.
func lawyerSpend(t *testing.T, node *regtest.Node, dir, name string, lawyer testCosigner, ext string, lockTime, sequence uint32) (*wire.MsgTx, string) {
	t.Helper()
	var show struct {
		Descriptor string `json:"descriptor"`
	}
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "show", name), &show)
	d, err := descriptor.Parse(show.Descriptor)
	if err != nil {
		t.Fatal(err)
	}
	var coins []struct {
		Outpoint string `json:"outpoint"`
		Amount   int64  `json:"amount_sat"`
		Branch   uint32 `json:"branch"`
		Index    uint32 `json:"index"`
	}
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "utxos", name), &coins)
	if len(coins) == 0 {
		t.Fatal("no coin to spend")
	}
	c := coins[0]
	txid, vout, _ := strings.Cut(c.Outpoint, ":")
	h, err := chainhash.NewHashFromStr(txid)
	if err != nil {
		t.Fatal(err)
	}
	prev, err := node.Client().GetRawTransaction(h)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(vout)
	w := psbt.WalletInfo{Descriptor: d, Network: node.Params()}
	u := psbt.UTXO{OutPoint: wire.OutPoint{Hash: *h, Index: uint32(n)}, Value: c.Amount, Branch: c.Branch, Index: c.Index, PrevTx: prev.MsgTx(), Confirmations: 1}
	p, _, err := psbt.Build(psbt.BuildRequest{Wallet: w, UTXOs: []psbt.UTXO{u}, Preselected: []wire.OutPoint{u.OutPoint}, SendAll: true,
		Outputs: []psbt.Output{{Address: ext}}, FeeRate: 2, ChangeBranch: 1, LockTime: lockTime, Sequence: sequence})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := psbt.Sign(p, lawyer.Master); err != nil {
		t.Fatal(err)
	}
	tx, err := psbt.Finalize(p, w)
	if err != nil {
		t.Fatalf("the script engine refused the recovery witness: %v", err)
	}
	var raw strings.Builder
	if err := tx.Serialize(hexWriter{&raw}); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), fmt.Sprintf("lawyer-%d.tx", lockTime))
	if err := os.WriteFile(f, []byte(raw.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return tx, f
}

// pathsTimeJSON is the part of wallet show --json the time-lock tests read.
type pathsTimeJSON struct {
	Paths []struct {
		Name  string `json:"name"`
		Coins []struct {
			Height    int32      `json:"height"`
			Open      bool       `json:"open"`
			OpensTime *time.Time `json:"opens_time"`
		} `json:"coins"`
	} `json:"paths"`
}
