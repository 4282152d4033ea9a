package cli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/internal/regtest"
	"github.com/countersign/countersign/wallet"
)

// afterWallet is a funded, synced 2-of-3 wsh wallet "w" of software keys
// k1, k2, k3 on the node, for the days after a spend.
type afterWallet struct {
	t    *testing.T
	node *regtest.Node
	dir  string
	work string
}

// Each test passes its own seed: wallets on one node must not share
// addresses.
func newAfterWallet(t *testing.T, node *regtest.Node, seed byte, amounts ...int64) *afterWallet {
	t.Helper()
	a := &afterWallet{t: t, node: node, dir: t.TempDir(), work: t.TempDir()}
	var cs []testCosigner
	var keys []string
	for i := byte(1); i <= 3; i++ {
		c := newTestCosigner(t, seed+i, 2)
		cs = append(cs, c)
		keys = append(keys, c.Expr+"/<0;1>/*")
	}
	desc := "wsh(sortedmulti(2," + strings.Join(keys, ",") + "))"
	a.run("--network", "regtest", "wallet", "create", "w", "--descriptor", desc)
	a.run("backend", "set", node.RPCURL())
	importTestKeys(t, a.dir, cs)
	ctx := context.Background()
	for _, amt := range amounts {
		addr, err := btcutil.DecodeAddress(strings.TrimSpace(a.run("address", "w")), node.Params())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := node.Fund(ctx, addr, amt); err != nil {
			t.Fatal(err)
		}
	}
	a.mine()
	return a
}

func (a *afterWallet) run(args ...string) string {
	a.t.Helper()
	return mustRun(a.t, a.dir, args...)
}

// fails runs a command that must exit code with want in its error.
func (a *afterWallet) fails(code int, want string, args ...string) result {
	a.t.Helper()
	r := runCLI(a.t, a.dir, "", args...)
	if r.Code != code || !strings.Contains(r.Err, want) {
		a.t.Fatalf("countersign %s: exit %d, want %d with %q\n%s", strings.Join(args, " "), r.Code, code, want, r.Err)
	}
	return r
}

func (a *afterWallet) file(name string) string { return filepath.Join(a.work, name) }

// mine mines a block and syncs the wallet.
func (a *afterWallet) mine() {
	a.t.Helper()
	if _, err := a.node.Mine(context.Background(), 1); err != nil {
		a.t.Fatal(err)
	}
	a.run("wallet", "sync", "w")
}

// spend builds a draft and returns its id.
func (a *afterWallet) spend(file string, args ...string) string {
	a.t.Helper()
	var s struct {
		Draft string `json:"draft_id"`
	}
	mustJSON(a.t, a.run(append([]string{"--json", "spend", "w", "-o", file}, args...)...), &s)
	return s.Draft
}

// signApart has k1 and k2 sign their own copies of file, as cosigners do.
func (a *afterWallet) signApart(file string, extra ...string) {
	a.t.Helper()
	for i, k := range []string{"k1", "k2"} {
		a.run(append([]string{"sign", file, "--with", "key:" + k, "--yes", "-o", a.file(fmt.Sprintf("%s.%d", filepath.Base(file), i))}, extra...)...)
	}
}

// send finalizes the spend id's current version (from psbt show) and
// broadcasts it; it returns the txid.
func (a *afterWallet) send(id string) string {
	a.t.Helper()
	full := a.file(id[:8] + "-full.psbt")
	a.run("psbt", "show", id, "-o", full)
	tx := a.file(id[:8] + ".tx")
	a.run("psbt", "finalize", full, "-o", tx)
	return strings.TrimSpace(a.run("psbt", "broadcast", tx))
}

type listedSpend struct {
	ID            string  `json:"id"`
	State         string  `json:"state"`
	Kind          string  `json:"kind"`
	BroadcastTxID string  `json:"broadcast_txid"`
	Replaces      string  `json:"replaces"`
	Parent        string  `json:"parent"`
	ReplacedBy    string  `json:"replaced_by"`
	Signatures    int     `json:"signatures"`
	Required      int     `json:"required"`
	Amount        int64   `json:"amount"`
	Fee           int64   `json:"fee"`
	FeeRate       float64 `json:"fee_rate"`
	Label         string  `json:"label"`
	SignedBy      []struct {
		Fingerprint string `json:"fingerprint"`
	} `json:"signed_by"`
	Destinations []struct {
		Address string `json:"address"`
		Label   string `json:"label"`
	} `json:"destinations"`
}

// listed is the spend id as psbt list --all shows it.
func (a *afterWallet) listed(id string) listedSpend {
	a.t.Helper()
	var ls []listedSpend
	mustJSON(a.t, a.run("--json", "psbt", "list", "w", "--all"), &ls)
	for _, l := range ls {
		if l.ID == id {
			return l
		}
	}
	a.t.Fatalf("psbt list has no spend %s: %+v", id, ls)
	return listedSpend{}
}

// nodeTx is a transaction as the node has it.
func (a *afterWallet) nodeTx(txid string) *wire.MsgTx {
	a.t.Helper()
	h, err := chainhash.NewHashFromStr(txid)
	if err != nil {
		a.t.Fatal(err)
	}
	tx, err := a.node.Client().GetRawTransaction(h)
	if err != nil {
		a.t.Fatalf("the node does not have %s: %v", txid, err)
	}
	return tx.MsgTx()
}

// inMempool reports whether the node's mempool holds txid.
func (a *afterWallet) inMempool(txid string) bool {
	a.t.Helper()
	ids, err := a.node.Client().GetRawMempool()
	if err != nil {
		a.t.Fatal(err)
	}
	for _, id := range ids {
		if id.String() == txid {
			return true
		}
	}
	return false
}

func vsizeOf(tx *wire.MsgTx) int64 {
	return (int64(tx.SerializeSizeStripped())*3 + int64(tx.SerializeSize()) + 3) / 4
}

// TestAfterTheSpendRegtest runs the days after a spend on one btcd node:
// pending spends through their states, a stuck payment bumped and its
// replacement confirmed, a cancel, a CPFP child, the spending policy, and
// BIP-329 labels.
func TestAfterTheSpendRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	t.Run("bump", func(t *testing.T) { bumpRegtest(t, node) })
	t.Run("cancel", func(t *testing.T) { cancelRegtest(t, node) })
	t.Run("cpfp", func(t *testing.T) { cpfpRegtest(t, node) })
	t.Run("cpfp-chain", func(t *testing.T) { cpfpChainRegtest(t, node) })
	t.Run("policy", func(t *testing.T) { policyRegtest(t, node) })
	t.Run("labels", func(t *testing.T) { labelsRegtest(t, node) })
}

// bumpRegtest: a payment at 1 sat/vB goes draft -> ready -> broadcast in
// psbt list, is bumped to 10 sat/vB, btcd takes the replacement (the
// original leaves its mempool), the replacement goes draft -> ready ->
// broadcast -> confirmed and the original shows replaced.
func bumpRegtest(t *testing.T, node *regtest.Node) {
	a := newAfterWallet(t, node, 110, 30_000_000)
	dest := node.Address().EncodeAddress()
	id := a.spend(a.file("pay.psbt"), "--to", dest+":0.1", "--fee-rate", "1", "--note", "supplier invoice 7")
	if l := a.listed(id); l.State != "draft" || l.Signatures != 0 || l.Required != 2 || l.Label != "supplier invoice 7" {
		t.Fatalf("new spend: %+v", l)
	}
	a.run("sign", a.file("pay.psbt"), "--with", "key:k1", "--yes", "-o", a.file("pay-k1.psbt"))
	if l := a.listed(id); l.State != "draft" || l.Signatures != 1 || len(l.SignedBy) != 1 {
		t.Fatalf("after k1: %+v", l)
	}
	a.run("sign", a.file("pay.psbt"), "--with", "key:k2", "--yes", "-o", a.file("pay-k2.psbt"))
	if l := a.listed(id); l.State != "ready" || l.Signatures != 2 {
		t.Fatalf("after k2 signed its own copy: %+v", l)
	}
	orig := a.send(id)
	l := a.listed(id)
	if l.State != "broadcast" || l.BroadcastTxID != orig || l.FeeRate > 1.5 {
		t.Fatalf("after broadcast: %+v", l)
	}
	if !a.inMempool(orig) {
		t.Fatal("the payment is not in the node's mempool")
	}
	// Too little for the replacement rules: refused with the least rate.
	a.fails(2, "ask for --fee-rate", "psbt", "bump", orig, "--fee-rate", "1.5", "-o", a.file("nope.psbt"))

	var b struct {
		Draft    string `json:"draft_id"`
		Replaces string `json:"replaces"`
		OldFee   int64  `json:"old_fee"`
		OldVSize int64  `json:"old_vsize"`
		MinFee   int64  `json:"min_fee"`
		Needs    int    `json:"needs_signatures"`
		Estimate bool   `json:"old_vsize_estimated"`
		Summary  struct {
			Fee     int64   `json:"fee"`
			FeeRate float64 `json:"fee_rate"`
			Sent    int64   `json:"sent"`
		} `json:"summary"`
	}
	mustJSON(t, a.run("--json", "psbt", "bump", orig, "--fee-rate", "10", "-o", a.file("bump.psbt")), &b)
	origTx := a.nodeTx(orig)
	if b.Needs != 2 || b.Summary.Sent != 10_000_000 || b.Summary.FeeRate < 10 || b.Summary.Fee < b.MinFee || b.Estimate || b.OldVSize != vsizeOf(origTx) {
		t.Fatalf("bump: %+v (original %d vB)", b, vsizeOf(origTx))
	}
	if nl := a.listed(b.Draft); nl.State != "draft" || nl.Kind != "bump" || nl.Replaces == "" || nl.Label != "supplier invoice 7" {
		t.Fatalf("the bump in the list: %+v", nl)
	}
	a.signApart(a.file("bump.psbt"))
	if nl := a.listed(b.Draft); nl.State != "ready" {
		t.Fatalf("bump signed: %+v", nl)
	}
	bumped := a.send(b.Draft)
	// btcd accepted the replacement and evicted the original.
	if !a.inMempool(bumped) || a.inMempool(orig) {
		t.Fatalf("mempool after the replacement: bump %v, original %v", a.inMempool(bumped), a.inMempool(orig))
	}
	bt := a.nodeTx(bumped)
	if paid := float64(b.Summary.Fee) / float64(vsizeOf(bt)); paid < 10 {
		t.Fatalf("the replacement pays %.2f sat/vB on the node, asked 10", paid)
	}
	if nl := a.listed(b.Draft); nl.State != "broadcast" {
		t.Fatalf("bump sent: %+v", nl)
	}
	if ol := a.listed(id); ol.State != "replaced" || ol.ReplacedBy != bumped {
		t.Fatalf("original after the replacement was sent: %+v", ol)
	}
	a.mine()
	if nl := a.listed(b.Draft); nl.State != "confirmed" {
		t.Fatalf("bump after a block: %+v", nl)
	}
	if ol := a.listed(id); ol.State != "replaced" {
		t.Fatalf("original after the bump confirmed: %+v", ol)
	}
	// The finished spends leave the default list.
	var open []listedSpend
	mustJSON(t, a.run("--json", "psbt", "list"), &open)
	if len(open) != 0 {
		t.Fatalf("psbt list without --all: %+v", open)
	}
	mustDoctor(t, a.dir)
}

// cancelRegtest: a stuck payment is replaced by one back to the wallet,
// which confirms; the payee got nothing.
func cancelRegtest(t *testing.T, node *regtest.Node) {
	a := newAfterWallet(t, node, 120, 20_000_000)
	stranger := strangerAddress(t, 1)
	id := a.spend(a.file("pay.psbt"), "--to", stranger+":0.05", "--fee-rate", "1")
	a.signApart(a.file("pay.psbt"))
	orig := a.send(id)
	var c struct {
		Draft   string `json:"draft_id"`
		MinFee  int64  `json:"min_fee"`
		Summary struct {
			Fee     int64 `json:"fee"`
			Sent    int64 `json:"sent"`
			Outputs []struct {
				Kind string `json:"kind"`
			} `json:"outputs"`
		} `json:"summary"`
	}
	mustJSON(t, a.run("--json", "psbt", "cancel", orig, "-o", a.file("cancel.psbt")), &c)
	if c.Summary.Sent != 0 || len(c.Summary.Outputs) != 1 || c.Summary.Outputs[0].Kind != "change" || c.Summary.Fee < c.MinFee {
		t.Fatalf("cancel: %+v", c)
	}
	a.signApart(a.file("cancel.psbt"))
	cancelled := a.send(c.Draft)
	if !a.inMempool(cancelled) || a.inMempool(orig) {
		t.Fatal("btcd did not take the cancel in place of the payment")
	}
	a.mine()
	var bal struct {
		Confirmed int64 `json:"confirmed_sat"`
	}
	mustJSON(t, a.run("--json", "wallet", "balance", "w"), &bal)
	if bal.Confirmed != 20_000_000-c.Summary.Fee {
		t.Fatalf("balance %d after the cancel, want %d", bal.Confirmed, 20_000_000-c.Summary.Fee)
	}
	if l := a.listed(id); l.State != "replaced" {
		t.Fatalf("cancelled payment: %+v", l)
	}
	if l := a.listed(c.Draft); l.State != "confirmed" || l.Kind != "cancel" {
		t.Fatalf("cancel: %+v", l)
	}
	mustDoctor(t, a.dir)
}

// strangerAddress is a P2WSH address nobody here holds a key of: "someone
// else" to pay.
func strangerAddress(t *testing.T, tag byte) string {
	t.Helper()
	a, err := btcutil.NewAddressWitnessScriptHash(bytes.Repeat([]byte{tag}, 32), &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	return a.EncodeAddress()
}

// cpfpSpendJSON is what the CPFP tests read of `spend --cpfp --json`.
type cpfpSpendJSON struct {
	Draft string `json:"draft_id"`
	CPFP  struct {
		Parent        string   `json:"parent_txid"`
		ParentFee     int64    `json:"parent_fee"`
		Ancestors     []string `json:"ancestors"`
		AncestorFee   int64    `json:"ancestor_fee"`
		AncestorVSize int64    `json:"ancestor_vsize"`
		PackageRate   float64  `json:"package_fee_rate"`
	} `json:"cpfp"`
	Summary struct {
		Fee  int64 `json:"fee"`
		Sent int64 `json:"sent"`
	} `json:"summary"`
}

// cpfpRegtest: a payment whose change is stuck at 1 sat/vB gets a child
// spending that change; the pair's rate on the node meets the target and
// both confirm.
func cpfpRegtest(t *testing.T, node *regtest.Node) {
	a := newAfterWallet(t, node, 130, 20_000_000)
	id := a.spend(a.file("pay.psbt"), "--to", node.Address().EncodeAddress()+":0.05", "--fee-rate", "1")
	a.signApart(a.file("pay.psbt"))
	parent := a.send(id)
	var s cpfpSpendJSON
	mustJSON(t, a.run("--json", "spend", "w", "--cpfp", parent, "--fee-rate", "10", "-o", a.file("child.psbt")), &s)
	if s.CPFP.Parent != parent || s.CPFP.PackageRate < 10 || s.Summary.Sent != 0 || len(s.CPFP.Ancestors) != 0 {
		t.Fatalf("child: %+v", s)
	}
	if l := a.listed(s.Draft); l.Kind != "cpfp" || l.Parent != parent {
		t.Fatalf("child in the list: %+v", l)
	}
	a.signApart(a.file("child.psbt"))
	child := a.send(s.Draft)
	pt, ct := a.nodeTx(parent), a.nodeTx(child)
	if ct.TxIn[0].PreviousOutPoint.Hash.String() != parent {
		t.Fatalf("the child does not spend the parent")
	}
	pkg := float64(s.CPFP.ParentFee+s.Summary.Fee) / float64(vsizeOf(pt)+vsizeOf(ct))
	if pkg < 10 {
		t.Fatalf("package rate on the node %.2f sat/vB (parent fee %d, %d vB; child fee %d, %d vB), asked 10",
			pkg, s.CPFP.ParentFee, vsizeOf(pt), s.Summary.Fee, vsizeOf(ct))
	}
	if !a.inMempool(parent) || !a.inMempool(child) {
		t.Fatal("parent and child are not both in the mempool")
	}
	a.mine()
	if l := a.listed(s.Draft); l.State != "confirmed" {
		t.Fatalf("child after a block: %+v", l)
	}
	if l := a.listed(id); l.State != "confirmed" {
		t.Fatalf("parent after a block: %+v", l)
	}
	mustDoctor(t, a.dir)
}

// cpfpChainRegtest: a stuck payment B spends the change of another stuck
// payment A (both 1 sat/vB, A synced into the history, B only broadcast).
// A child of B must pay for A too, since a miner takes the child only
// with both: the package of all three on the node meets the target, and
// the ancestor's fee countersign counted is A's real one.
func cpfpChainRegtest(t *testing.T, node *regtest.Node) {
	const funded = 20_000_000
	a := newAfterWallet(t, node, 180, funded)
	idA := a.spend(a.file("a.psbt"), "--to", strangerAddress(t, 0xa1)+":0.05", "--fee-rate", "1")
	a.signApart(a.file("a.psbt"))
	txA := a.send(idA)
	a.run("wallet", "sync", "w") // A's change is the only coin now, unconfirmed
	idB := a.spend(a.file("b.psbt"), "--to", strangerAddress(t, 0xb1)+":0.01", "--fee-rate", "1")
	a.signApart(a.file("b.psbt"))
	txB := a.send(idB)
	var s cpfpSpendJSON
	mustJSON(t, a.run("--json", "spend", "w", "--cpfp", txB, "--fee-rate", "10", "-o", a.file("child.psbt")), &s)
	ta, tb := a.nodeTx(txA), a.nodeTx(txB)
	var outA int64
	for _, o := range ta.TxOut {
		outA += o.Value
	}
	if len(s.CPFP.Ancestors) != 1 || s.CPFP.Ancestors[0] != txA || s.CPFP.AncestorFee != funded-outA || s.CPFP.AncestorVSize != vsizeOf(ta) || s.CPFP.PackageRate < 10 {
		t.Fatalf("child of B: %+v; A %s pays %d sat for %d vB", s.CPFP, txA, funded-outA, vsizeOf(ta))
	}
	a.signApart(a.file("child.psbt"))
	child := a.send(s.Draft)
	tc := a.nodeTx(child)
	pkg := float64(s.CPFP.AncestorFee+s.CPFP.ParentFee+s.Summary.Fee) / float64(vsizeOf(ta)+vsizeOf(tb)+vsizeOf(tc))
	if pkg < 10 {
		t.Fatalf("package of A, B and the child on the node: %.2f sat/vB, asked 10", pkg)
	}
	if pair := float64(s.CPFP.ParentFee+s.Summary.Fee) / float64(vsizeOf(tb)+vsizeOf(tc)); pair < 10 {
		t.Fatalf("B and the child alone pay %.2f sat/vB", pair)
	}
	for _, id := range []string{txA, txB, child} {
		if !a.inMempool(id) {
			t.Fatalf("%s is not in the mempool", id)
		}
	}
	a.mine()
	for _, id := range []string{idA, idB, s.Draft} {
		if l := a.listed(id); l.State != "confirmed" {
			t.Fatalf("%s after a block: %+v", id, l)
		}
	}
	mustDoctor(t, a.dir)
}

// policyRegtest: each rule refuses at spend, sign and finalize with exit 4
// and its name; overrides go through and are journaled with the reason.
func policyRegtest(t *testing.T, node *regtest.Node) {
	a := newAfterWallet(t, node, 140, 30_000_000)
	dest := node.Address().EncodeAddress()
	a.run("policy", "set", "w", "--per-tx-limit", "0.1", "--daily-limit", "0.25")
	a.fails(4, "policy.per_tx_limit", "spend", "w", "--to", dest+":0.2", "--fee-rate", "2", "-o", a.file("big.psbt"))
	a.spend(a.file("big.psbt"), "--to", dest+":0.2", "--fee-rate", "2", "--override-policy", "board approved, minutes 12")
	a.fails(4, "policy.per_tx_limit", "sign", a.file("big.psbt"), "--with", "key:k1", "--yes", "-o", a.file("x.psbt"))
	a.signApart(a.file("big.psbt"), "--override-policy", "board approved, minutes 12")
	var ls []listedSpend
	mustJSON(t, a.run("--json", "psbt", "list", "w"), &ls)
	full := a.file("big-full.psbt")
	a.run("psbt", "show", ls[0].ID, "-o", full)
	a.fails(4, "policy.per_tx_limit", "psbt", "finalize", full, "-o", a.file("big.tx"))
	a.run("psbt", "finalize", full, "-o", a.file("big.tx"), "--override-policy", "board approved, minutes 12")
	a.run("psbt", "broadcast", a.file("big.tx"))
	a.mine()
	// 0.2 sent today: 0.08 more breaks the 0.25 a day.
	a.fails(4, "policy.daily_limit", "spend", "w", "--to", dest+":0.08", "--fee-rate", "2", "-o", a.file("more.psbt"))
	a.spend(a.file("small.psbt"), "--to", dest+":0.04", "--fee-rate", "2")

	allowed := strangerAddress(t, 2) // the supplier
	list := a.file("allow.txt")
	os.WriteFile(list, []byte("# suppliers\n"+allowed+"\n"), 0o600)
	a.run("policy", "set", "w", "--clear", "--allow-file", list, "--min-signatures", "3", "--above", "0.01")
	var pol struct {
		Allow   []string `json:"allow_list"`
		MinSigs int      `json:"min_signatures"`
		Sent    int64    `json:"sent_last_24h_sat"`
	}
	mustJSON(t, a.run("--json", "policy", "show", "w"), &pol)
	if len(pol.Allow) != 1 || pol.MinSigs != 3 || pol.Sent != 20_000_000 {
		t.Fatalf("policy show: %+v", pol)
	}
	a.fails(4, "policy.allow_list", "spend", "w", "--to", dest+":0.02", "--fee-rate", "2", "--allow-conflict", "-o", a.file("off.psbt"))
	id := a.spend(a.file("ok.psbt"), "--to", allowed+":0.02", "--fee-rate", "2", "--allow-conflict")
	a.signApart(a.file("ok.psbt"))
	a.run("psbt", "show", id, "-o", a.file("ok-full.psbt"))
	a.fails(4, "policy.min_signatures", "psbt", "finalize", a.file("ok-full.psbt"))
	a.run("sign", a.file("ok-full.psbt"), "--with", "key:k3", "--yes")
	a.run("psbt", "finalize", a.file("ok-full.psbt"), "-o", a.file("ok.tx"))

	var es []struct {
		Action   string         `json:"action"`
		Operator string         `json:"operator"`
		Detail   map[string]any `json:"detail"`
	}
	mustJSON(t, a.run("--json", "journal", "w"), &es)
	overrides, sets := 0, 0
	for _, e := range es {
		switch e.Action {
		case wallet.ActionPolicyOverride:
			if e.Detail["reason"] != "board approved, minutes 12" || e.Detail["rule"] != "policy.per_tx_limit" || e.Operator == "" {
				t.Fatalf("override entry %+v", e)
			}
			overrides++
		case wallet.ActionPolicySet:
			sets++
		}
	}
	// spend, two signatures and finalize were overridden.
	if overrides != 4 || sets != 2 {
		t.Fatalf("%d override entries, %d policy changes", overrides, sets)
	}
	mustDoctor(t, a.dir)
}

// labelsRegtest: BIP-329's examples round-trip through label import and
// export; labels from address --label, spend --note and label set show in
// history (and its CSV with the running balance), utxos, inspect and list.
func labelsRegtest(t *testing.T, node *regtest.Node) {
	a := newAfterWallet(t, node, 150)
	vectors, err := filepath.Abs(filepath.Join("..", "internal", "bip329", "testdata", "bip-0329-examples.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(vectors)
	if err != nil {
		t.Fatalf("BIP-329 vectors: %v (see internal/bip329/testdata/README.md)", err)
	}
	var imp struct {
		Imported int `json:"imported"`
	}
	mustJSON(t, a.run("--json", "label", "import", vectors), &imp)
	a.run("label", "export", "-o", a.file("labels.jsonl"))
	got, _ := os.ReadFile(a.file("labels.jsonl"))
	if imp.Imported != 7 || !reflect.DeepEqual(jsonObjects(t, got), jsonObjects(t, want)) {
		t.Fatalf("BIP-329 examples did not round-trip (%d imported):\n%s", imp.Imported, got)
	}

	var ad struct {
		Address string `json:"address"`
	}
	mustJSON(t, a.run("--json", "address", "w", "--label", "deposit from the sale"), &ad)
	addr, _ := btcutil.DecodeAddress(ad.Address, node.Params())
	fund, err := node.Fund(context.Background(), addr, 5_000_000)
	if err != nil {
		t.Fatal(err)
	}
	a.mine()
	a.run("label", "set", fund.String(), "=SUM(A1) from the sale")
	dest := node.Address().EncodeAddress()
	a.run("label", "set", dest, "Acme GmbH", "--wallet", "w")
	id := a.spend(a.file("pay.psbt"), "--to", dest+":0.01", "--fee-rate", "2", "--note", "invoice 2025-117")
	var in struct {
		Labels struct {
			Tx      string   `json:"tx"`
			Inputs  []string `json:"inputs"`
			Outputs []string `json:"outputs"`
		} `json:"labels"`
	}
	mustJSON(t, a.run("--json", "psbt", "inspect", a.file("pay.psbt")), &in)
	if in.Labels.Tx != "invoice 2025-117" || in.Labels.Inputs[0] != "deposit from the sale" || !contains(in.Labels.Outputs, "Acme GmbH") {
		t.Fatalf("inspect labels %+v", in.Labels)
	}
	if l := a.listed(id); l.Label != "invoice 2025-117" || len(l.Destinations) != 1 || l.Destinations[0].Label != "Acme GmbH" {
		t.Fatalf("list: %+v", l)
	}
	a.signApart(a.file("pay.psbt"))
	paid := a.send(id)
	a.mine()
	csvOut := a.run("wallet", "history", "w", "--csv")
	lines := strings.Split(strings.TrimSpace(csvOut), "\n")
	if len(lines) != 3 || lines[0] != "date,txid,label,amount_btc,fee_btc,balance_btc" ||
		!strings.Contains(lines[1], fund.String()+",'=SUM(A1) from the sale,") || !strings.HasSuffix(lines[1], ",0.05000000,,0.05000000") ||
		!strings.Contains(lines[2], paid+",invoice 2025-117,-0.01") {
		t.Fatalf("history CSV:\n%s", csvOut)
	}
	var hist []struct {
		Label   string `json:"label"`
		Balance int64  `json:"balance_sat"`
		Net     int64  `json:"net_sat"`
	}
	mustJSON(t, a.run("--json", "wallet", "history", "w"), &hist)
	if hist[1].Balance != 5_000_000+hist[1].Net || hist[1].Label != "invoice 2025-117" {
		t.Fatalf("history %+v", hist)
	}
	var us []struct {
		Label string `json:"label"`
	}
	mustJSON(t, a.run("--json", "wallet", "utxos", "w"), &us)
	if len(us) != 1 {
		t.Fatalf("utxos %+v", us)
	}
	mustDoctor(t, a.dir)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func jsonObjects(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestJournalRegtest: after a real spend, the journal chains and names
// who did what; its head signed with a cosigner's key verifies in
// Electrum's verifymessage and in journal verify --signature; a row edited
// by hand (triggers dropped and put back) is named by journal verify
// (exit 4) and by doctor, and the signature no longer matches.
func TestJournalRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	electrumVersion := requireElectrum(t)
	electrum, err := exec.LookPath("electrum")
	if err != nil {
		if os.Getenv("COUNTERSIGN_REQUIRE_INTEROP") == "1" {
			t.Fatalf("the electrum command is not installed: %s", electrumInstallHint)
		}
		t.Skipf("the electrum command is not installed: %s", electrumInstallHint)
	}
	node := regtest.Start(t)
	a := newAfterWallet(t, node, 160, 10_000_000)
	a.run("--operator", "alice", "label", "set", "wallet", "operating account")
	id := a.spend(a.file("pay.psbt"), "--to", node.Address().EncodeAddress()+":0.02", "--fee-rate", "2")
	extraEnv = map[string]string{"COUNTERSIGN_OPERATOR": "bob"}
	a.signApart(a.file("pay.psbt"))
	extraEnv = nil
	txid := a.send(id)

	var es []struct {
		ID       int64          `json:"id"`
		Action   string         `json:"action"`
		Operator string         `json:"operator"`
		Hash     string         `json:"hash"`
		Detail   map[string]any `json:"detail"`
	}
	mustJSON(t, a.run("--json", "journal"), &es)
	var signedBy, broadcast, labelled bool
	for _, e := range es {
		if len(e.Hash) != 64 {
			t.Fatalf("entry %d has no hash", e.ID)
		}
		switch {
		case e.Action == wallet.ActionDraftSave && e.Detail["signed_by"] != nil:
			signedBy = signedBy || e.Operator == "bob"
		case e.Action == wallet.ActionDraftBroadcast:
			broadcast = e.Detail["txid"] == txid
		case e.Action == wallet.ActionLabelSet:
			labelled = e.Operator == "alice"
		}
	}
	if !signedBy || !broadcast || !labelled {
		t.Fatalf("journal: signed by %v, broadcast %v, labelled %v\n%+v", signedBy, broadcast, labelled, es)
	}
	a.run("journal", "verify")

	var sig struct {
		Address, Message, Signature string
		Entry                       int64
	}
	sigFile := a.file("head.sig.json")
	mustJSON(t, a.run("--json", "journal", "sign", "--with", "key:k1", "--yes", "-o", sigFile), &sig)
	if sig.Entry != int64(len(es)) {
		t.Fatalf("signed entry %d of %d", sig.Entry, len(es))
	}
	verify := func(msg string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		home := t.TempDir()
		cmd := exec.CommandContext(ctx, electrum, "--regtest", "--offline", "verifymessage", sig.Address, sig.Signature, msg)
		cmd.Env = append(os.Environ(), "HOME="+home, "PYTHONDONTWRITEBYTECODE=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("electrum %s verifymessage: %v\n%s", electrumVersion, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := verify(sig.Message); got != "true" {
		t.Fatalf("Electrum %s verifymessage of the signed head: %s", electrumVersion, got)
	}
	if got := verify(sig.Message + " "); got != "false" {
		t.Fatalf("Electrum verifymessage of another message: %s", got)
	}
	var chk struct {
		OK     bool `json:"ok"`
		Signed struct {
			Signer string `json:"signer"`
			Later  int    `json:"later_entries"`
		} `json:"signed"`
	}
	a.run("address", "w") // one entry after the signed head
	mustJSON(t, a.run("--json", "journal", "verify", "--signature", sigFile), &chk)
	if !chk.OK || chk.Signed.Later != 1 {
		t.Fatalf("verify with the signature: %+v", chk)
	}
	a.run("journal", "export", "-o", a.file("journal.jsonl"))

	// Someone edits the broadcast entry's txid in the database file.
	db, err := sql.Open("sqlite", filepath.Join(a.dir, wallet.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	var edited int64
	for _, e := range es {
		if e.Action == wallet.ActionDraftBroadcast {
			edited = e.ID
		}
	}
	for _, q := range []string{
		"DROP TRIGGER journal_no_update",
		fmt.Sprintf(`UPDATE journal SET operator = 'mallory' WHERE id = %d`, edited),
		"CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal BEGIN SELECT RAISE(ABORT, 'the audit journal is append-only'); END",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	a.fails(4, fmt.Sprintf("entry %d does not chain", edited), "journal", "verify")
	a.fails(4, fmt.Sprintf("entry %d does not chain", edited), "journal", "verify", "--signature", sigFile)
	d := runCLI(t, a.dir, "", "--json", "doctor")
	var rep doctorReport
	mustJSON(t, d.Out, &rep)
	if d.Code != 1 || !strings.Contains(rep.failedChecks(), "journal.hash_chain") || !strings.Contains(rep.failedChecks(), fmt.Sprintf("entry %d does not chain", edited)) {
		t.Fatalf("doctor after the edit: exit %d\n%s", d.Code, rep.failedChecks())
	}
}
