package cli

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/internal/regtest"
	"github.com/countersign/countersign/psbt"
)

// miniscriptFamily is a regtest data directory with software keys alice,
// bob, carol and lawyer (seeds 1..4) and the node as backend.
func miniscriptFamily(t *testing.T, node *regtest.Node) (string, map[string]testCosigner) {
	t.Helper()
	dir := t.TempDir()
	mustRun(t, dir, "backend", "set", node.RPCURL())
	cs := map[string]testCosigner{}
	for i, name := range []string{"alice", "bob", "carol", "lawyer"} {
		c := newTestCosigner(t, byte(i+1), 2)
		cs[name] = c
		f := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(f, []byte(c.Master.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		mustRun(t, dir, "--network", "regtest", "key", "import", name, "--secret-file", f)
	}
	return dir, cs
}

// fundWallet pays the wallet's next receive addresses and mines them in.
func fundWallet(t *testing.T, node *regtest.Node, dir, name string, amounts ...int64) {
	t.Helper()
	ctx := context.Background()
	for _, amt := range amounts {
		addr := strings.TrimSpace(mustRun(t, dir, "address", name))
		a, err := btcutil.DecodeAddress(addr, node.Params())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := node.Fund(ctx, a, amt); err != nil {
			t.Fatal(err)
		}
	}
	mineN(t, node, 1)
	syncWallet(t, dir, node.RPCURL(), name)
}

func mineN(t *testing.T, node *regtest.Node, n int) {
	t.Helper()
	if _, err := node.Mine(context.Background(), n); err != nil {
		t.Fatal(err)
	}
}

// signSend signs unsigned with each key in turn, finalizes, broadcasts,
// mines the transaction in and syncs the wallet.
func signSend(t *testing.T, node *regtest.Node, dir, wallet, unsigned string, keys ...string) {
	t.Helper()
	work := filepath.Dir(unsigned)
	cur := unsigned
	for _, k := range keys {
		out := filepath.Join(work, fmt.Sprintf("%s-%s.psbt", filepath.Base(unsigned), k))
		mustRun(t, dir, "sign", cur, "--with", "key:"+k, "--yes", "-o", out)
		cur = out
	}
	txFile := cur + ".tx"
	mustRun(t, dir, "psbt", "finalize", cur, "-o", txFile)
	mustRun(t, dir, "psbt", "broadcast", txFile)
	mineN(t, node, 1)
	syncWallet(t, dir, node.RPCURL(), wallet)
}

type pathsJSON struct {
	SyncedHeight int32 `json:"synced_height"`
	Paths        []struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Coins       []struct {
			Height  int32 `json:"height"`
			OpensAt int32 `json:"opens_at"`
			Open    bool  `json:"open"`
		} `json:"coins"`
	} `json:"paths"`
}

// TestMiniscriptRecoveryRegtest: an inheritance wallet (2 of alice, bob,
// carol; after 10 blocks 1 of lawyer, alice) on a real node. The primary
// path spends at once; the recovery path is refused with exit 4 and the
// opening height while its lock holds; after the blocks are mined the
// lawyer alone spends every coin, and the node accepts the nSequence.
func TestMiniscriptRecoveryRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	dir, cs := miniscriptFamily(t, node)
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "family", "--threshold", "2",
		"--cosigner", "alice="+cs["alice"].Expr, "--cosigner", "bob="+cs["bob"].Expr, "--cosigner", "carol="+cs["carol"].Expr,
		"--recovery-cosigner", "lawyer="+cs["lawyer"].Expr, "--recovery", "after 10 blocks: 1 of lawyer,alice")
	fundWallet(t, node, dir, "family", 50_000_000, 30_000_000)
	ext := node.Address().EncodeAddress()
	work := t.TempDir()

	// Primary path: bob and carol pay 0.2 BTC.
	primary := filepath.Join(work, "primary.psbt")
	mustRun(t, dir, "spend", "family", "--to", ext+":0.2", "--fee-rate", "2", "-o", primary)
	signSend(t, node, dir, "family", primary, "bob", "carol")

	// The recovery path is locked for every coin: exit 4, opening height.
	var show pathsJSON
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "show", "family"), &show)
	if len(show.Paths) != 2 || show.Paths[1].Name != "recovery" || len(show.Paths[1].Coins) == 0 {
		t.Fatalf("wallet show paths: %+v", show)
	}
	latest := int32(0)
	for _, c := range show.Paths[1].Coins {
		if c.Open || c.OpensAt != c.Height+10 {
			t.Fatalf("coin %+v at synced height %d", c, show.SyncedHeight)
		}
		latest = max(latest, c.OpensAt)
	}
	heir := filepath.Join(work, "heir.psbt")
	r := runCLI(t, dir, "", "spend", "family", "--path", "recovery", "--send-all", ext, "--fee-rate", "2", "-o", heir)
	if r.Code != 4 || !strings.Contains(r.Err, "timelock rule") || !strings.Contains(r.Err, "opens at block") {
		t.Fatalf("recovery while locked: exit %d: %s", r.Code, r.Err)
	}

	// The lock is the node's rule, not only countersign's: the same spend
	// built around the refusal, signed by the lawyer and valid for the
	// script engine, is rejected by btcd: its sequence locks (BIP-68) are not met.
	prematureRejected(t, node, dir, cs["lawyer"], ext)

	// Mine until every coin's lock has opened for the next block.
	tip, _, err := node.Tip(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mineN(t, node, int(latest-tip-1))
	syncWallet(t, dir, node.RPCURL(), "family")
	mustRun(t, dir, "spend", "family", "--path", "recovery", "--send-all", ext, "--fee-rate", "2", "-o", heir)
	signSend(t, node, dir, "family", heir, "lawyer")
	var bal map[string]any
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "balance", "family"), &bal)
	if bal["confirmed_sat"].(float64) != 0 || bal["unconfirmed_sat"].(float64) != 0 {
		t.Fatalf("balance after the recovery sweep: %v", bal)
	}
	mustDoctor(t, dir)
}

// TestMiniscriptDecayRegtest: 3 of alice, bob, carol, lawyer; after 5
// blocks 2 of them. Two signatures are refused before the lock, and spend
// after it.
func TestMiniscriptDecayRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	dir, cs := miniscriptFamily(t, node)
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "vault", "--threshold", "3",
		"--cosigner", "alice="+cs["alice"].Expr, "--cosigner", "bob="+cs["bob"].Expr,
		"--cosigner", "carol="+cs["carol"].Expr, "--cosigner", "lawyer="+cs["lawyer"].Expr,
		"--decay", "after 5 blocks: threshold 2")
	fundWallet(t, node, dir, "vault", 40_000_000)
	ext := node.Address().EncodeAddress()
	work := t.TempDir()

	// Two signatures on the primary path are not enough.
	early := filepath.Join(work, "early.psbt")
	mustRun(t, dir, "spend", "vault", "--send-all", ext, "--fee-rate", "2", "-o", early)
	two := filepath.Join(work, "early-2.psbt")
	mustRun(t, dir, "sign", early, "--with", "key:alice", "--yes", "-o", two)
	mustRun(t, dir, "sign", two, "--with", "key:carol", "--yes", "-o", two)
	if r := runCLI(t, dir, "", "psbt", "finalize", two); r.Code != 4 {
		t.Fatalf("finalize with 2 of 3 before the lock: exit %d: %s", r.Code, r.Err)
	}
	if r := runCLI(t, dir, "", "spend", "vault", "--path", "recovery", "--send-all", ext, "--fee-rate", "2", "--allow-conflict"); r.Code != 4 || !strings.Contains(r.Err, "opens at block") {
		t.Fatalf("recovery while locked: exit %d: %s", r.Code, r.Err)
	}

	mineN(t, node, 4)
	syncWallet(t, dir, node.RPCURL(), "vault")
	late := filepath.Join(work, "late.psbt")
	mustRun(t, dir, "spend", "vault", "--path", "recovery", "--send-all", ext, "--fee-rate", "2", "--allow-conflict", "-o", late)
	signSend(t, node, dir, "vault", late, "alice", "carol")
	var bal map[string]any
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "balance", "vault"), &bal)
	if bal["confirmed_sat"].(float64) != 0 {
		t.Fatalf("balance after the decayed spend: %v", bal)
	}
}

type statusJSON struct {
	SyncedHeight int32 `json:"synced_height"`
	Warnings     int   `json:"warnings"`
	Coins        []struct {
		Height     int32 `json:"height"`
		OpensAt    int32 `json:"opens_at"`
		BlocksLeft int32 `json:"blocks_left"`
		Warn       bool  `json:"warn"`
	} `json:"coins"`
}

// TestMiniscriptRefreshRegtest: a coin 3 blocks from its recovery opening
// makes wallet status warn; wallet refresh moves it by the primary path;
// once mined, the new coin's lock starts again: when the old coin's lock
// would have opened, the recovery path is still refused, and status is
// quiet.
func TestMiniscriptRefreshRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	dir, cs := miniscriptFamily(t, node)
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "family", "--threshold", "2",
		"--cosigner", "alice="+cs["alice"].Expr, "--cosigner", "bob="+cs["bob"].Expr, "--cosigner", "carol="+cs["carol"].Expr,
		"--recovery-cosigner", "lawyer="+cs["lawyer"].Expr, "--recovery", "after 10 blocks: 1 of lawyer")
	fundWallet(t, node, dir, "family", 20_000_000)
	mineN(t, node, 6)
	syncWallet(t, dir, node.RPCURL(), "family")

	var st statusJSON
	r := runCLI(t, dir, "", "--json", "wallet", "status", "family", "--warn-blocks", "3")
	mustJSON(t, r.Out, &st)
	if r.Code != 0 || st.Warnings != 1 || len(st.Coins) != 1 || st.Coins[0].BlocksLeft != 3 || !strings.Contains(r.Err, "wallet refresh family") {
		t.Fatalf("status near the opening: exit %d %+v\n%s", r.Code, st, r.Err)
	}
	old := st.Coins[0]

	// Nothing is near with a smaller warning distance.
	if r := runCLI(t, dir, "", "wallet", "refresh", "family", "--warn-blocks", "2", "--fee-rate", "2"); r.Code != 2 || !strings.Contains(r.Err, "nothing to refresh") {
		t.Fatalf("refresh with nothing near: exit %d: %s", r.Code, r.Err)
	}
	refresh := filepath.Join(t.TempDir(), "refresh.psbt")
	mustRun(t, dir, "wallet", "refresh", "family", "--warn-blocks", "3", "--fee-rate", "2", "-o", refresh)
	signSend(t, node, dir, "family", refresh, "alice", "bob")

	// Mine until the old coin's lock would have opened.
	tip, _, err := node.Tip(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mineN(t, node, int(old.OpensAt-1-tip))
	syncWallet(t, dir, node.RPCURL(), "family")
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "status", "family", "--warn-blocks", "3"), &st)
	if len(st.Coins) != 1 || st.Warnings != 0 || st.Coins[0].OpensAt != st.Coins[0].Height+10 || st.Coins[0].Height <= old.Height {
		t.Fatalf("status after the refresh: %+v", st)
	}
	ext := node.Address().EncodeAddress()
	r = runCLI(t, dir, "", "spend", "family", "--path", "recovery", "--send-all", ext, "--fee-rate", "2")
	if r.Code != 4 || !strings.Contains(r.Err, fmt.Sprintf("opens at block %d", st.Coins[0].OpensAt)) {
		t.Fatalf("recovery after the refresh: exit %d: %s", r.Code, r.Err)
	}
}

// prematureRejected builds a recovery spend of the wallet's first coin with
// nSequence 10 directly with the psbt package (no coordinator, so no
// refusal), signs it with the lawyer's master key, finalizes it (the
// script engine accepts: nSequence meets older(10)) and requires the node
// to refuse it: the coin is younger than 10 blocks.
func prematureRejected(t *testing.T, node *regtest.Node, dir string, lawyer testCosigner, ext string) {
	t.Helper()
	ctx := context.Background()
	var show struct {
		Descriptor string `json:"descriptor"`
	}
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "show", "family"), &show)
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
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "utxos", "family"), &coins)
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
	tip, _, err := node.Tip(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u := psbt.UTXO{OutPoint: wire.OutPoint{Hash: *h, Index: uint32(n)}, Value: c.Amount, Branch: c.Branch, Index: c.Index, PrevTx: prev.MsgTx(), Confirmations: 1}
	p, _, err := psbt.Build(psbt.BuildRequest{Wallet: w, UTXOs: []psbt.UTXO{u}, Preselected: []wire.OutPoint{u.OutPoint}, SendAll: true,
		Outputs: []psbt.Output{{Address: ext}}, FeeRate: 2, ChangeBranch: 1, LockTime: uint32(tip), Sequence: 10})
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
	// countersign's broadcast refuses it first, naming the opening block.
	var raw strings.Builder
	if err := tx.Serialize(hexWriter{&raw}); err != nil {
		t.Fatal(err)
	}
	txFile := filepath.Join(t.TempDir(), "premature.tx")
	if err := os.WriteFile(txFile, []byte(raw.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, dir, "", "psbt", "broadcast", txFile, "--wallet", "family"); r.Code != 4 || !strings.Contains(r.Err, "timelock rule") || !strings.Contains(r.Err, "with a relative lock of 10 blocks: it opens at block") {
		t.Fatalf("countersign broadcast of the premature spend: exit %d: %s", r.Code, r.Err)
	}
	if _, err := node.SendRaw(ctx, tx); err == nil || !strings.Contains(err.Error(), "sequence locks") {
		t.Fatalf("the node accepted a recovery spend before its lock opened: %v", err)
	}
}

// hexWriter writes bytes as lower-case hex into a strings.Builder.
type hexWriter struct{ b *strings.Builder }

func (w hexWriter) Write(p []byte) (int, error) {
	w.b.WriteString(hex.EncodeToString(p))
	return len(p), nil
}
