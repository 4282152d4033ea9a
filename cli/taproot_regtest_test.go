package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/countersign/countersign/internal/regtest"
)

// tapCosigners (used by taproot_test.go too) makes n cosigners at the taproot multisig path m/48h/1h/0h/3h.
func tapCosigners(t *testing.T, n int) []testCosigner {
	t.Helper()
	var cs []testCosigner
	for i := range n {
		cs = append(cs, newTestCosigner(t, byte(0x40+i), 3))
	}
	return cs
}

// TestTaprootReceiveRegtest: `wallet create --script tr` builds the default
// taproot wallet (MuSig2 key path of all keys, one sortedmulti_a leaf),
// `wallet show` explains both paths, and coins sent by btcd (which
// validates taproot) to its addresses show up after a sync.
func TestTaprootReceiveRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	ctx := context.Background()
	dir := t.TempDir()
	cs := tapCosigners(t, 3)
	args := []string{"--network", "regtest", "wallet", "create", "tap", "--script", "tr", "-m", "2"}
	for _, c := range cs {
		args = append(args, "--cosigner", c.Expr)
	}
	mustRun(t, dir, args...)
	mustRun(t, dir, "backend", "set", node.RPCURL())

	show := mustRun(t, dir, "wallet", "show", "tap")
	for _, want := range []string{"P2TR taproot", "musig of 3 or 2 of 3", "Key path: all 3 cosigners together as one MuSig2 key", "Script leaf 1: any 2 of 3 keys"} {
		if !strings.Contains(show, want) {
			t.Fatalf("wallet show lacks %q:\n%s", want, show)
		}
	}
	var v struct {
		Script    string   `json:"script"`
		N         int      `json:"n"`
		Threshold int      `json:"threshold"`
		Paths     []string `json:"spending_paths"`
		Cosigners []struct {
			Fingerprint string `json:"fingerprint"`
		} `json:"cosigners"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "wallet", "show", "tap")), &v); err != nil {
		t.Fatal(err)
	}
	if v.Script != "tr" || v.N != 3 || v.Threshold != 2 || len(v.Paths) != 2 || len(v.Cosigners) != 3 || v.Cosigners[1].Fingerprint != cs[1].FP {
		t.Fatalf("wallet show --json: %+v", v)
	}

	var total int64
	for _, amt := range []int64{40_000_000, 25_000_000} {
		addr := strings.TrimSpace(mustRun(t, dir, "address", "tap"))
		if !strings.HasPrefix(addr, "bcrt1p") {
			t.Fatalf("receive address %s is not a taproot address", addr)
		}
		a, err := btcutil.DecodeAddress(addr, node.Params())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := node.Fund(ctx, a, amt); err != nil {
			t.Fatal(err)
		}
		total += amt
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, "wallet", "sync", "tap")
	var bal struct {
		Confirmed int64 `json:"confirmed_sat"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "wallet", "balance", "tap")), &bal); err != nil {
		t.Fatal(err)
	}
	if bal.Confirmed != total {
		t.Fatalf("balance %d, want %d", bal.Confirmed, total)
	}
}

// TestTaprootScriptSpendRegtest: a 2-of-3 taproot wallet spends by its
// sortedmulti_a leaf with two software keys (BIP-340 signatures over the
// BIP-342 sighash); btcd accepts and mines the transaction, and the change
// comes back to the wallet's taproot change branch.
func TestTaprootScriptSpendRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	ctx := context.Background()
	dir := t.TempDir()
	cs := tapCosigners(t, 3)
	args := []string{"--network", "regtest", "wallet", "create", "tap", "--script", "tr", "-m", "2"}
	for _, c := range cs {
		args = append(args, "--cosigner", c.Expr)
	}
	mustRun(t, dir, args...)
	mustRun(t, dir, "backend", "set", node.RPCURL())
	importTestKeys(t, dir, cs)
	for _, amt := range []int64{50_000_000, 30_000_000} {
		addr := strings.TrimSpace(mustRun(t, dir, "address", "tap"))
		a, err := btcutil.DecodeAddress(addr, node.Params())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := node.Fund(ctx, a, amt); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, "wallet", "sync", "tap")

	ext := node.Address().EncodeAddress()
	work := t.TempDir()
	unsigned := filepath.Join(work, "unsigned.psbt")
	mustRun(t, dir, "spend", "tap", "--to", ext+":0.6", "--fee-rate", "5", "-o", unsigned)
	r := inspectFile(t, dir, unsigned)
	if r.ReadyToFinalize || len(r.Inputs) != 2 || !r.Inputs[0].Ours || r.Inputs[0].Missing != 2 {
		t.Fatalf("unsigned PSBT: %+v", r)
	}
	change := 0
	for _, o := range r.Outputs {
		if o.Kind == "change" {
			change++
		}
	}
	if change != 1 {
		t.Fatalf("want one change output: %+v", r.Outputs)
	}
	var signed []string
	for i := 1; i <= 2; i++ {
		out := filepath.Join(work, fmt.Sprintf("signed-%d.psbt", i))
		mustRun(t, dir, "sign", unsigned, "--with", fmt.Sprintf("key:k%d", i), "--yes", "-o", out)
		signed = append(signed, out)
	}
	r = inspectFile(t, dir, signed[0])
	if r.Inputs[0].Missing != 1 || len(r.Inputs[0].Signatures) != 1 || r.Inputs[0].Signatures[0].Fingerprint != cs[0].FP {
		t.Fatalf("after one signature: %+v", r.Inputs[0])
	}
	if res := runCLI(t, dir, "", "psbt", "finalize", signed[0]); res.Code != 4 {
		t.Fatalf("finalize with one signature: exit %d: %s", res.Code, res.Err)
	}
	combined := filepath.Join(work, "combined.psbt")
	mustRun(t, dir, append(append([]string{"psbt", "combine"}, signed...), "-o", combined)...)
	if r = inspectFile(t, dir, combined); !r.ReadyToFinalize {
		t.Fatalf("combined PSBT not ready: %+v", r)
	}
	txFile := filepath.Join(work, "tx.hex")
	mustRun(t, dir, "psbt", "finalize", combined, "-o", txFile)
	txid := strings.TrimSpace(mustRun(t, dir, "psbt", "broadcast", txFile))
	h, _ := chainhash.NewHashFromStr(txid)
	tx, err := node.Client().GetRawTransaction(h)
	if err != nil {
		t.Fatal(err)
	}
	msg := tx.MsgTx()
	for i, in := range msg.TxIn {
		if len(in.Witness) != 5 { // 3 key slots (2 signatures, 1 empty), script, control block
			t.Fatalf("input %d witness has %d items, want a sortedmulti_a leaf spend", i, len(in.Witness))
		}
	}
	vsize := (int64(msg.SerializeSizeStripped())*3 + int64(msg.SerializeSize()) + 3) / 4
	if paid := float64(r.Fee) / float64(vsize); paid < 5 {
		t.Fatalf("paid %.3f sat/vB (fee %d, vsize %d), asked 5", paid, r.Fee, vsize)
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s := syncWallet(t, dir, node.RPCURL(), "tap")
	if want := int64(80_000_000 - 60_000_000 - r.Fee); s.Confirmed != want || s.UTXOs != 1 {
		t.Fatalf("after the spend: %+v, want %d in one change coin", s, want)
	}
	mustDoctor(t, dir)
}

// TestTaprootMuSig2Regtest: a 2-of-3 taproot wallet spent by its MuSig2
// key path with three software keys (BIP-327 via btcec, BIP-373 records):
// each key's first sign adds its public nonce, its second (once every
// nonce is in) its partial signature; finalize aggregates them into one
// 64-byte key-path signature that btcd accepts. Signing again from the
// state before the partial signature is refused: the secret nonce was
// erased when it was used.
func TestTaprootMuSig2Regtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	ctx := context.Background()
	dir := t.TempDir()
	cs := tapCosigners(t, 3)
	args := []string{"--network", "regtest", "wallet", "create", "tap", "--script", "tr", "-m", "2"}
	for _, c := range cs {
		args = append(args, "--cosigner", c.Expr)
	}
	mustRun(t, dir, args...)
	mustRun(t, dir, "backend", "set", node.RPCURL())
	importTestKeys(t, dir, cs)
	addr := strings.TrimSpace(mustRun(t, dir, "address", "tap"))
	a, err := btcutil.DecodeAddress(addr, node.Params())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Fund(ctx, a, 70_000_000); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, "wallet", "sync", "tap")
	work := t.TempDir()
	cur := filepath.Join(work, "unsigned.psbt")
	mustRun(t, dir, "spend", "tap", "--to", node.Address().EncodeAddress()+":0.5", "--fee-rate", "3", "-o", cur)

	step := 0
	sign := func(k int) string {
		step++
		out := filepath.Join(work, fmt.Sprintf("step-%d.psbt", step))
		mustRun(t, dir, "sign", cur, "--with", fmt.Sprintf("key:k%d", k), "--yes", "-o", out)
		cur = out
		return out
	}
	// Round 1: nonces. k1 asked again before the others: it waits.
	sign(1)
	if res := runCLI(t, dir, "", "sign", cur, "--with", "key:k1", "--yes", "-o", filepath.Join(work, "early.psbt")); res.Code != 0 || !strings.Contains(res.Err, "has given its MuSig2 nonce") {
		t.Fatalf("k1 before the other nonces: exit %d: %s", res.Code, res.Err)
	}
	for k := 2; k <= 3; k++ {
		sign(k)
	}
	var r struct {
		Inputs []struct {
			MuSig2 *struct {
				Participants int `json:"participants"`
				Nonces       int `json:"nonces"`
				PartialSigs  int `json:"partial_signatures"`
			} `json:"musig2"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "psbt", "inspect", cur)), &r); err != nil {
		t.Fatal(err)
	}
	if m := r.Inputs[0].MuSig2; m == nil || m.Participants != 3 || m.Nonces != 3 || m.PartialSigs != 0 {
		t.Fatalf("after round 1: %+v", r.Inputs[0].MuSig2)
	}
	allNonces := cur
	// Round 2: partial signatures.
	for k := 1; k <= 3; k++ {
		sign(k)
	}
	// k1 again from the state with all nonces: its secret nonce is gone.
	res := runCLI(t, dir, "", "sign", allNonces, "--with", "key:k1", "--yes", "-o", filepath.Join(work, "again.psbt"))
	if res.Code == 0 || !strings.Contains(res.Err, "never reused") {
		t.Fatalf("second sign with the same nonce state: exit %d: %s", res.Code, res.Err)
	}
	txFile := filepath.Join(work, "tx.hex")
	mustRun(t, dir, "psbt", "finalize", cur, "-o", txFile)
	txid := strings.TrimSpace(mustRun(t, dir, "psbt", "broadcast", txFile))
	h, _ := chainhash.NewHashFromStr(txid)
	tx, err := node.Client().GetRawTransaction(h)
	if err != nil {
		t.Fatal(err)
	}
	if w := tx.MsgTx().TxIn[0].Witness; len(w) != 1 || len(w[0]) != 64 {
		t.Fatalf("witness %d items: want the MuSig2 key path (one 64-byte signature)", len(w))
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if s := syncWallet(t, dir, node.RPCURL(), "tap"); s.UTXOs != 1 {
		t.Fatalf("after the key-path spend: %+v", s)
	}
	mustDoctor(t, dir)
}
