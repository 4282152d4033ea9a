package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/countersign/countersign/internal/regtest"
)

// rotateResult is the part of `wallet rotate --json` the tests read.
type rotateResult struct {
	Wallet     string `json:"wallet"`
	Successor  string `json:"successor"`
	Policy     string `json:"policy"`
	Descriptor string `json:"descriptor"`
	Replaced   struct {
		Fingerprint string `json:"fingerprint"`
	} `json:"replaced"`
	Sweep struct {
		PSBTs []struct {
			File   string `json:"file"`
			Inputs int    `json:"inputs"`
			Amount int64  `json:"amount_sat"`
			Fee    int64  `json:"fee_sat"`
			Index  uint32 `json:"index"`
		} `json:"psbts"`
		Amount int64 `json:"amount_sat"`
		Fee    int64 `json:"fee_sat"`
	} `json:"sweep"`
	Registrations []enrolmentJSON `json:"registrations"`
}

// fundAddress pays addr amount sat from the node.
func fundAddress(t *testing.T, node *regtest.Node, addr string, amount int64) {
	t.Helper()
	a, err := btcutil.DecodeAddress(strings.TrimSpace(addr), node.Params())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Fund(context.Background(), a, amount); err != nil {
		t.Fatal(err)
	}
}

func mine(t *testing.T, node *regtest.Node) {
	t.Helper()
	if _, err := node.Mine(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
}

// signAndSend signs a PSBT with each software key, combines, finalizes and
// broadcasts it.
func signAndSend(t *testing.T, dir, file string, keys ...string) {
	t.Helper()
	var signed []string
	for _, k := range keys {
		out := strings.TrimSuffix(file, ".psbt") + "-" + k + ".psbt"
		mustRun(t, dir, "sign", file, "--with", "key:"+k, "--yes", "-o", out)
		signed = append(signed, out)
	}
	comb := strings.TrimSuffix(file, ".psbt") + "-signed.psbt"
	mustRun(t, dir, append(append([]string{"psbt", "combine"}, signed...), "-o", comb)...)
	tx := strings.TrimSuffix(file, ".psbt") + ".tx"
	mustRun(t, dir, "psbt", "finalize", comb, "-o", tx)
	mustRun(t, dir, "psbt", "broadcast", tx)
}

// TestRotateLostKeyRegtest: the key of cosigner 3 of a 2-of-3 is lost.
// The wallet is rotated into a new 2-of-3 with a fresh software key in
// its place; the sweep is signed by the two remaining keys; the old wallet
// is retired once it confirms, the balance is in the successor, and a
// payment that reaches the old wallet afterwards is reported and swept.
func TestRotateLostKeyRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	dir, work := t.TempDir(), t.TempDir()
	desc, cs := testDescriptor(t, "wsh", 2, 3)
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "w", "--descriptor", desc)
	mustRun(t, dir, "backend", "set", node.RPCURL())
	// Keys 1 and 2 are on this computer; key 3 is lost. Key 4, new, is
	// given as its xpub.
	importTestKeys(t, dir, cs[:2])
	k4 := newTestCosigner(t, 4, 2)
	first := strings.TrimSpace(mustRun(t, dir, "address", "w"))
	fundAddress(t, node, first, 40_000_000)
	fundAddress(t, node, strings.TrimSpace(mustRun(t, dir, "address", "w")), 25_000_000)
	mine(t, node)

	sweep := filepath.Join(work, "sweep.psbt")
	var rot rotateResult
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "rotate", "w", "--replace", cs[2].FP, "--cosigner", "new="+k4.Expr, "--fee-rate", "2", "-o", sweep), &rot)
	if rot.Successor != "w-2" || rot.Policy != "2 of 3" || rot.Replaced.Fingerprint != cs[2].FP || len(rot.Sweep.PSBTs) != 1 {
		t.Fatalf("rotate: %+v", rot)
	}
	if p := rot.Sweep.PSBTs[0]; p.File != sweep || p.Inputs != 2 || p.Amount+p.Fee != 65_000_000 || p.Index != 0 {
		t.Fatalf("sweep PSBT: %+v", p)
	}
	if !strings.Contains(rot.Descriptor, k4.FP) || strings.Contains(rot.Descriptor, cs[2].FP) {
		t.Fatalf("successor descriptor: %s", rot.Descriptor)
	}
	for _, e := range rot.Registrations {
		if e.Fingerprint == cs[0].FP && e.Status != "software key" {
			t.Fatalf("registration of key 1: %+v", e)
		}
	}

	// The old wallet hands out no address; inspect names the successor.
	if r := runCLI(t, dir, "", "address", "w"); r.Code != ExitBadInput || !strings.Contains(r.Err, `"w-2"`) {
		t.Fatalf("address from the rotated wallet: exit %d: %s", r.Code, r.Err)
	}
	var in struct {
		ToSuccessor struct {
			Wallet     string   `json:"wallet"`
			Outputs    []int    `json:"outputs"`
			RotatedOut []string `json:"rotated_out"`
		} `json:"to_successor"`
		Refused any `json:"refused"`
	}
	mustJSON(t, mustRun(t, dir, "--json", "psbt", "inspect", sweep), &in)
	if in.ToSuccessor.Wallet != "w-2" || len(in.ToSuccessor.Outputs) != 1 || in.Refused != nil ||
		len(in.ToSuccessor.RotatedOut) != 1 || in.ToSuccessor.RotatedOut[0] != cs[2].FP {
		t.Fatalf("inspect of the sweep: %+v", in)
	}
	if out := mustRun(t, dir, "psbt", "inspect", sweep); !strings.Contains(out, `to successor wallet "w-2"`) || !strings.Contains(out, cs[2].FP+"] (rotated out)") {
		t.Fatalf("inspect text does not name the successor and the key rotated out:\n%s", out)
	}
	// wallet show says the same.
	var show struct {
		Cosigners []struct {
			Fingerprint string `json:"fingerprint"`
			Replaced    bool   `json:"replaced"`
		} `json:"cosigners"`
		Rotation *struct {
			Status    string  `json:"status"`
			Successor *string `json:"successor"`
		} `json:"rotation"`
	}
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "show", "w"), &show)
	if show.Rotation == nil || show.Rotation.Status != "rotating" || show.Rotation.Successor == nil || *show.Rotation.Successor != "w-2" {
		t.Fatalf("wallet show of the rotated wallet: %+v", show.Rotation)
	}
	for _, c := range show.Cosigners {
		if c.Replaced != (c.Fingerprint == cs[2].FP) {
			t.Fatalf("wallet show: cosigner %s replaced=%v", c.Fingerprint, c.Replaced)
		}
	}
	if out := mustRun(t, dir, "wallet", "show", "w"); !strings.Contains(out, "Rotation:    rotating to w-2") || !strings.Contains(out, "(rotated out)") {
		t.Fatalf("wallet show text:\n%s", out)
	}

	// Keys 1 and 2 sign; the lost key 3 is not needed.
	signAndSend(t, dir, sweep, "k1", "k2")
	if out := mustRun(t, dir, "wallet", "sync", "w"); !strings.Contains(out, "waiting for 1 transaction to confirm") {
		t.Fatalf("sync before the sweep confirms:\n%s", out)
	}
	mine(t, node)
	s := syncWallet(t, dir, node.RPCURL(), "w")
	if s.Rotation == nil || s.Rotation.Status != "retired" || !s.Rotation.JustRetired || s.Confirmed != 0 {
		t.Fatalf("old wallet after the sweep confirmed: %+v %+v", s, s.Rotation)
	}
	s2 := syncWallet(t, dir, node.RPCURL(), "w-2")
	if s2.Confirmed != rot.Sweep.Amount || s2.Rotation == nil || *s2.Rotation.Predecessor != "w" {
		t.Fatalf("successor after the sweep: %+v, want %d confirmed", s2, rot.Sweep.Amount)
	}
	var list []walletListItem
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "list"), &list)
	if len(list) != 2 || list[0].Name != "w" || list[0].Status != "retired" || *list[0].Successor != "w-2" || list[1].Status != "active" || *list[1].Predecessor != "w" {
		t.Fatalf("wallet list: %+v", list)
	}
	if out := mustRun(t, dir, "wallet", "list"); !strings.Contains(out, "retired -> w-2") {
		t.Fatalf("wallet list text:\n%s", out)
	}

	// Someone pays the old wallet's first address after the rotation.
	fundAddress(t, node, first, 5_000_000)
	mine(t, node)
	if out := mustRun(t, dir, "wallet", "sync", "w"); !strings.Contains(out, "LATE PAYMENT") || !strings.Contains(out, "0.05000000 BTC") {
		t.Fatalf("late payment not reported:\n%s", out)
	}
	s = syncWallet(t, dir, node.RPCURL(), "w")
	if s.Rotation.Status != "retired" || s.Rotation.Coins != 1 || s.Rotation.Value != 5_000_000 {
		t.Fatalf("late coin in JSON: %+v", s.Rotation)
	}
	late := filepath.Join(work, "late.psbt")
	var again rotateResult
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "rotate", "w", "--fee-rate", "2", "-o", late), &again)
	if again.Successor != "w-2" || len(again.Sweep.PSBTs) != 1 || again.Sweep.PSBTs[0].Index != 1 {
		t.Fatalf("sweep of the late coin: %+v", again)
	}
	signAndSend(t, dir, late, "k1", "k2")
	mine(t, node)
	if s = syncWallet(t, dir, node.RPCURL(), "w"); s.Rotation.Coins != 0 || s.Confirmed != 0 {
		t.Fatalf("old wallet after the late sweep: %+v", s.Rotation)
	}
	if s2 = syncWallet(t, dir, node.RPCURL(), "w-2"); s2.Confirmed != rot.Sweep.Amount+again.Sweep.Amount {
		t.Fatalf("successor balance %d, want %d", s2.Confirmed, rot.Sweep.Amount+again.Sweep.Amount)
	}
	mustDoctor(t, dir)
}

// TestRotateGrowRegtest turns a 2-of-3 into a 3-of-5: cosigner 3 is
// replaced by a software key, a second software key and an emulated
// Coldcard are added, and the threshold becomes 3. The Coldcard is
// attached, so the successor is registered on it; the successor then
// spends with three of its five keys.
func TestRotateGrowRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	sock, ccFP := startColdcard(t, mnemonicA, node.Params(), nil)
	extraEnv = map[string]string{"COUNTERSIGN_EMULATORS": "1", "COUNTERSIGN_COLDCARD_SOCKET": sock}
	t.Cleanup(func() { extraEnv = nil })
	dir, work := t.TempDir(), t.TempDir()
	desc, cs := testDescriptor(t, "wsh", 2, 3)
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "w", "--descriptor", desc)
	mustRun(t, dir, "backend", "set", node.RPCURL())
	// k1, k2 are the remaining cosigners; k3 is the new key, k4 the added one.
	importTestKeys(t, dir, []testCosigner{cs[0], cs[1], newTestCosigner(t, 7, 2), newTestCosigner(t, 8, 2)})
	fundAddress(t, node, mustRun(t, dir, "address", "w"), 30_000_000)
	mine(t, node)

	sweep := filepath.Join(work, "grow.psbt")
	var rot rotateResult
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "rotate", "w", "--replace", cs[2].FP, "--key", "k3",
		"--add-key", "k4", "--add-device", "coldcard:"+ccFP, "--threshold", "3", "--name", "w-3of5", "--fee-rate", "2", "-o", sweep), &rot)
	if rot.Successor != "w-3of5" || rot.Policy != "3 of 5" || len(rot.Sweep.PSBTs) != 1 {
		t.Fatalf("rotate: %+v", rot)
	}
	registered := false
	for _, e := range rot.Registrations {
		if e.Fingerprint == ccFP {
			registered = e.Status == "registered" && e.Device == "coldcard:"+ccFP
		}
	}
	if !registered {
		t.Fatalf("the successor was not registered on the attached Coldcard: %+v", rot.Registrations)
	}
	var show walletJSON
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "show", "w-3of5"), &show)
	if show.N != 5 || show.Threshold != 3 {
		t.Fatalf("successor: %+v", show)
	}
	signAndSend(t, dir, sweep, "k1", "k2")
	mine(t, node)
	if s := syncWallet(t, dir, node.RPCURL(), "w"); s.Rotation == nil || s.Rotation.Status != "retired" {
		t.Fatalf("old wallet: %+v", s)
	}
	if s := syncWallet(t, dir, node.RPCURL(), "w-3of5"); s.Confirmed != rot.Sweep.Amount {
		t.Fatalf("successor: %+v", s)
	}
	// Three of the five keys spend from the successor.
	pay := filepath.Join(work, "pay.psbt")
	mustRun(t, dir, "spend", "w-3of5", "--to", node.Address().EncodeAddress()+":0.1", "--fee-rate", "2", "-o", pay)
	signAndSend(t, dir, pay, "k1", "k3", "k4")
	mine(t, node)
	s := syncWallet(t, dir, node.RPCURL(), "w-3of5")
	if s.Confirmed <= 0 || s.Confirmed >= rot.Sweep.Amount-10_000_000 {
		t.Fatalf("successor after spending 0.1 BTC: %+v", s)
	}
	mustDoctor(t, dir)
}
