package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/countersign/countersign/internal/regtest"
)

// TestBitBox02MiniscriptRegtest: a --recovery wallet (2 of the BitBox02,
// bob and carol; after 10 blocks 1 of the lawyer and bob) with an emulated BitBox02 is
// registered as a wallet policy, shows an address (as testnet: the
// firmware takes policies on Bitcoin and testnet only, and the driver
// compares the same witness program), and is spent by the primary path
// with the BitBox02's and bob's signatures; btcd mines it.
func TestBitBox02MiniscriptRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	dir, cs := miniscriptFamily(t, node)
	bb, fp, bbe := startBitBox02(t, mnemonicB)
	extraEnv = map[string]string{"COUNTERSIGN_EMULATORS": "1", "COUNTERSIGN_BITBOX02_SIMULATOR": bb}
	t.Cleanup(func() { extraEnv = nil })
	// Pair once at a terminal; afterwards no terminal is needed.
	if r := runCLIAtTerminal(t, dir, "device", "xpub", "--with", "bitbox02:"+fp, "--path", "m/48h/1h/0h/2h"); r.Code != 0 {
		t.Fatalf("pairing: exit %d: %s%s", r.Code, r.Out, r.Err)
	}

	mustRun(t, dir, "--network", "regtest", "wallet", "create", "family", "--threshold", "2",
		"--cosigner", "bb="+coldcardExpr(t, mnemonicB, node.Params(), 2), "--cosigner", "bob="+cs["bob"].Expr, "--cosigner", "carol="+cs["carol"].Expr,
		"--recovery-cosigner", "lawyer="+cs["lawyer"].Expr, "--recovery", "after 10 blocks: 1 of lawyer,bob")
	mustRun(t, dir, "device", "register", "family", "--with", "bitbox02:"+fp)
	if got := bbe.Registrations(); len(got) != 1 || got[0] != "family" {
		t.Fatalf("BitBox02 registrations %v", got)
	}
	var a addressJSON
	mustJSON(t, mustRun(t, dir, "--json", "address", "family", "--verify-on", "bitbox02:"+fp), &a)
	if a.VerifiedOn == "" || !strings.HasPrefix(a.Address, "bcrt1q") {
		t.Fatalf("address not verified: %+v", a)
	}
	// The device showed the testnet form of the same witness program.
	ra, err := btcutil.DecodeAddress(a.Address, node.Params())
	if err != nil {
		t.Fatal(err)
	}
	ta, _ := btcutil.NewAddressWitnessScriptHash(ra.ScriptAddress(), &chaincfg.TestNet3Params)
	shown := false
	for _, s := range bbe.Screens() {
		shown = shown || s.Kind == "address" && s.Address == ta.EncodeAddress()
	}
	if !shown {
		t.Fatalf("the BitBox02 never showed %s (%s)", ta.EncodeAddress(), a.Address)
	}

	fundWallet(t, node, dir, "family", 40_000_000)
	work := t.TempDir()
	unsigned := filepath.Join(work, "pay.psbt")
	mustRun(t, dir, "spend", "family", "--to", node.Address().EncodeAddress()+":0.2", "--fee-rate", "3", "-o", unsigned)
	signed := filepath.Join(work, "bb.psbt")
	mustRun(t, dir, "sign", unsigned, "--with", "bitbox02:"+fp, "-o", signed)
	if r := inspectFile(t, dir, signed); r.ReadyToFinalize || len(r.Inputs) == 0 || r.Inputs[0].Missing != 1 {
		t.Fatalf("after the BitBox02 signed: %+v", r)
	}
	both := filepath.Join(work, "both.psbt")
	mustRun(t, dir, "sign", signed, "--with", "key:bob", "--yes", "-o", both)
	txFile := filepath.Join(work, "tx.hex")
	mustRun(t, dir, "psbt", "finalize", both, "-o", txFile)
	txid := strings.TrimSpace(mustRun(t, dir, "psbt", "broadcast", txFile))
	h, err := chainhash.NewHashFromStr(txid)
	if err != nil {
		t.Fatal(err)
	}
	mineN(t, node, 1)
	syncWallet(t, dir, node.RPCURL(), "family")
	tx, err := node.Client().GetRawTransaction(h)
	if err != nil {
		t.Fatal(err)
	}
	// Primary path of or_d(multi(2,...),...): OP_0, two signatures, script.
	if w := tx.MsgTx().TxIn[0].Witness; len(w) != 4 {
		t.Fatalf("witness of %d items, want a multi(2) primary-path spend", len(w))
	}
	mustDoctor(t, dir)
}
