package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/tyler-smith/go-bip39"

	"github.com/countersign/countersign/descriptor"
	emu "github.com/countersign/countersign/hw/emulator/coldcard"
	"github.com/countersign/countersign/hw/transport"
	"github.com/countersign/countersign/internal/regtest"
)

// startColdcardFirmware serves an emulated Coldcard modelling the given
// firmware version until the test ends.
func startColdcardFirmware(t *testing.T, mnemonic, firmware string, net *chaincfg.Params) (socket, fp string) {
	t.Helper()
	e, err := emu.New(emu.Config{Mnemonic: mnemonic, Network: net, Firmware: firmware})
	if err != nil {
		t.Fatal(err)
	}
	socket = filepath.Join(shortTempDir(t), "cc.sock")
	srv, err := transport.ListenUnixgram(socket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Serve(ctx, srv) }()
	t.Cleanup(func() { cancel(); srv.Close(); <-done })
	x := e.Fingerprint()
	return socket, fmt.Sprintf("%x", x[:])
}

// coldcardExpr is the key expression of the seed's BIP-48 account
// m/48h/1h/0h/<script>h, derived here independently of the device.
func coldcardExpr(t *testing.T, mnemonic string, net *chaincfg.Params, script uint32) string {
	t.Helper()
	k, err := hdkeychain.NewMaster(bip39.NewSeed(mnemonic, ""), net)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := k.ECPubKey()
	fp := btcutil.Hash160(pub.SerializeCompressed())[:4]
	for _, i := range []uint32{48, 1, 0, script} {
		if k, err = k.Derive(hdkeychain.HardenedKeyStart + i); err != nil {
			t.Fatal(err)
		}
	}
	n, _ := k.Neuter()
	return fmt.Sprintf("[%x/48h/1h/0h/%dh]%s", fp, script, n.String())
}

// spendWithColdcard builds a spend of wallet, signs it on the Coldcard and
// with the software key, finalizes and broadcasts it, and returns the
// transaction id.
func spendWithColdcard(t *testing.T, node *regtest.Node, dir, wallet, fp, key string) *chainhash.Hash {
	t.Helper()
	work := t.TempDir()
	unsigned := filepath.Join(work, "pay.psbt")
	mustRun(t, dir, "spend", wallet, "--to", node.Address().EncodeAddress()+":0.2", "--fee-rate", "3", "-o", unsigned)
	cc := filepath.Join(work, "cc.psbt")
	mustRun(t, dir, "sign", unsigned, "--with", "coldcard:"+fp, "-o", cc)
	if r := inspectFile(t, dir, cc); r.ReadyToFinalize || len(r.Inputs) == 0 || r.Inputs[0].Missing != 1 {
		t.Fatalf("after the Coldcard signed: %+v", r)
	}
	both := filepath.Join(work, "both.psbt")
	mustRun(t, dir, "sign", cc, "--with", "key:"+key, "--yes", "-o", both)
	txFile := filepath.Join(work, "tx.hex")
	mustRun(t, dir, "psbt", "finalize", both, "-o", txFile)
	txid := strings.TrimSpace(mustRun(t, dir, "psbt", "broadcast", txFile))
	h, err := chainhash.NewHashFromStr(txid)
	if err != nil {
		t.Fatal(err)
	}
	mineN(t, node, 1)
	syncWallet(t, dir, node.RPCURL(), wallet)
	return h
}

// registerAndVerify enrols wallet on the Coldcard and checks an address on
// it.
func registerAndVerify(t *testing.T, dir, wallet, fp string) {
	t.Helper()
	mustRun(t, dir, "device", "register", wallet, "--with", "coldcard:"+fp)
	var addr addressJSON
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "address", wallet, "--verify-on", "coldcard:"+fp)), &addr); err != nil {
		t.Fatal(err)
	}
	if addr.VerifiedOn == "" {
		t.Fatalf("address not verified on the Coldcard: %+v", addr)
	}
}

// TestColdcardMiniscriptRegtest: an inheritance wallet (2 of the Coldcard,
// bob and carol; after 10 blocks 1 of lawyer, bob) is enrolled on an
// emulated Coldcard (EDGE 6.3.5X), shows an address, and is spent by the
// primary path with the Coldcard's and bob's signatures; btcd accepts it.
// The same wallet on mainline firmware is refused, naming the release.
func TestColdcardMiniscriptRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	dir, cs := miniscriptFamily(t, node)
	sock, fp := startColdcardFirmware(t, mnemonicA, "6.3.5X", node.Params())
	sockOld, fpOld := startColdcardFirmware(t, mnemonicB, "5.4.1", node.Params())
	extraEnv = map[string]string{"COUNTERSIGN_EMULATORS": "1", "COUNTERSIGN_COLDCARD_SOCKET": sock + "," + sockOld}
	t.Cleanup(func() { extraEnv = nil })

	mustRun(t, dir, "--network", "regtest", "wallet", "create", "family", "--threshold", "2",
		"--cosigner", "cc="+coldcardExpr(t, mnemonicA, node.Params(), 2), "--cosigner", "bob="+cs["bob"].Expr, "--cosigner", "carol="+cs["carol"].Expr,
		"--recovery-cosigner", "lawyer="+cs["lawyer"].Expr, "--recovery", "after 10 blocks: 1 of lawyer,bob")
	registerAndVerify(t, dir, "family", fp)

	mustRun(t, dir, "--network", "regtest", "wallet", "create", "old", "--threshold", "2",
		"--cosigner", "cc="+coldcardExpr(t, mnemonicB, node.Params(), 2), "--cosigner", "bob="+cs["bob"].Expr,
		"--recovery-cosigner", "lawyer="+cs["lawyer"].Expr, "--recovery", "after 10 blocks: 1 of lawyer")
	if r := runCLI(t, dir, "", "device", "register", "old", "--with", "coldcard:"+fpOld); r.Code == 0 || !strings.Contains(r.Err, "6.2.2X") {
		t.Fatalf("mainline firmware: exit %d: %s", r.Code, r.Err)
	}

	fundWallet(t, node, dir, "family", 40_000_000)
	h := spendWithColdcard(t, node, dir, "family", fp, "bob")
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

// TestColdcardTaprootRegtest: a 2-of-3 taproot wallet without a key path
// (`--script tr --no-key-path`: a ranged xpub of BIP-341's NUMS point as
// internal key, one sortedmulti_a leaf) with an emulated Coldcard on EDGE
// 6.3.5X (which takes only ranged internal keys) as one signer: enrolled,
// an address shown, and a coin spent by the leaf with the Coldcard's
// BIP-340 signature and a software key's; btcd validates the script path.
// A MuSig2 wallet (before 6.5.0X), and a static internal key (the plain H)
// on 6.3.5X, are refused by name; 6.3.4X still takes the static key.
func TestColdcardTaprootRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	dir := t.TempDir()
	sockOld, fpOld := startColdcardFirmware(t, mnemonicA, "6.3.4X", node.Params())
	sock, fp := startColdcardFirmware(t, mnemonicB, "6.3.5X", node.Params())
	extraEnv = map[string]string{"COUNTERSIGN_EMULATORS": "1", "COUNTERSIGN_COLDCARD_SOCKET": sockOld + "," + sock}
	t.Cleanup(func() { extraEnv = nil })
	cs := tapCosigners(t, 2)
	importTestKeys(t, dir, cs)
	mustRun(t, dir, "backend", "set", node.RPCURL())
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "tap", "--script", "tr", "-m", "2", "--no-key-path",
		"--cosigner", coldcardExpr(t, mnemonicB, node.Params(), 3), "--cosigner", cs[0].Expr, "--cosigner", cs[1].Expr)
	registerAndVerify(t, dir, "tap", fp)

	// The plain H as internal key (what --no-key-path made before, and
	// other tools write): 6.3.5X refuses it, named, not a protocol error;
	// 6.3.4X takes it.
	static := "tr(" + descriptor.NUMSKey + ",sortedmulti_a(2," + coldcardExpr(t, mnemonicB, node.Params(), 3) + "/<0;1>/*," + cs[0].Expr + "/<0;1>/*))"
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "tap2", "--descriptor", static)
	if r := runCLI(t, dir, "", "device", "register", "tap2", "--with", "coldcard:"+fp); r.Code == 0 || !strings.Contains(r.Err, "static") {
		t.Fatalf("6.3.5X and a static internal key: exit %d: %s", r.Code, r.Err)
	}
	staticOld := "tr(" + descriptor.NUMSKey + ",sortedmulti_a(2," + coldcardExpr(t, mnemonicA, node.Params(), 3) + "/<0;1>/*," + cs[0].Expr + "/<0;1>/*))"
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "tap3", "--descriptor", staticOld)
	registerAndVerify(t, dir, "tap3", fpOld)

	// The default taproot wallet has a MuSig2 key path: refused before
	// 6.5.0X (TestColdcardMuSig2Regtest spends one), naming the release
	// and the way out.
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "musig", "--script", "tr", "-m", "2",
		"--cosigner", coldcardExpr(t, mnemonicB, node.Params(), 3), "--cosigner", cs[1].Expr)
	if r := runCLI(t, dir, "", "device", "register", "musig", "--with", "coldcard:"+fp); r.Code == 0 || !strings.Contains(r.Err, "MuSig2") || !strings.Contains(r.Err, "6.5.0X") || !strings.Contains(r.Err, "--no-key-path") {
		t.Fatalf("MuSig2 wallet: exit %d: %s", r.Code, r.Err)
	}

	fundWallet(t, node, dir, "tap", 40_000_000)
	h := spendWithColdcard(t, node, dir, "tap", fp, "k1")
	tx, err := node.Client().GetRawTransaction(h)
	if err != nil {
		t.Fatal(err)
	}
	if w := tx.MsgTx().TxIn[0].Witness; len(w) != 5 { // 3 key slots, script, control block
		t.Fatalf("witness of %d items, want a sortedmulti_a leaf spend", len(w))
	}
	mustDoctor(t, dir)
}

// TestColdcardMuSig2Regtest: the default taproot wallet (`--script tr`: a
// MuSig2 key path of the three keys and a sortedmulti_a(2) leaf) with an
// emulated Coldcard on EDGE 6.5.0X and two software keys: enrolled, an
// address shown on the device, and a coin spent by the KEY PATH, each
// signer signing twice (its nonce, then its partial signature); the
// finalized inputs carry one 64-byte signature and btcd mines the spend.
// A second round 2 on the Coldcard is refused with what to do.
func TestColdcardMuSig2Regtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	dir := t.TempDir()
	sock, fp := startColdcardFirmware(t, mnemonicB, "6.5.0X", node.Params())
	extraEnv = map[string]string{"COUNTERSIGN_EMULATORS": "1", "COUNTERSIGN_COLDCARD_SOCKET": sock}
	t.Cleanup(func() { extraEnv = nil })
	cs := tapCosigners(t, 2)
	importTestKeys(t, dir, cs)
	mustRun(t, dir, "backend", "set", node.RPCURL())
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "vault", "--script", "tr", "-m", "2",
		"--cosigner", coldcardExpr(t, mnemonicB, node.Params(), 3), "--cosigner", cs[0].Expr, "--cosigner", cs[1].Expr)
	registerAndVerify(t, dir, "vault", fp)
	fundWallet(t, node, dir, "vault", 40_000_000)

	work := t.TempDir()
	cur := filepath.Join(work, "unsigned.psbt")
	mustRun(t, dir, "spend", "vault", "--to", node.Address().EncodeAddress()+":0.2", "--fee-rate", "3", "-o", cur)
	for round, want := range []struct{ nonces, sigs int }{{3, 0}, {3, 3}} {
		for _, with := range []string{"coldcard:" + fp, "key:k1", "key:k2"} {
			next := filepath.Join(work, fmt.Sprintf("r%d-%s.psbt", round+1, strings.ReplaceAll(with, ":", "_")))
			mustRun(t, dir, "sign", cur, "--with", with, "--yes", "-o", next)
			cur = next
		}
		var ms struct {
			Inputs []struct {
				MuSig2 *struct {
					Nonces      int `json:"nonces"`
					PartialSigs int `json:"partial_signatures"`
				} `json:"musig2"`
			} `json:"inputs"`
		}
		if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "psbt", "inspect", cur)), &ms); err != nil {
			t.Fatal(err)
		}
		for i, in := range ms.Inputs {
			if in.MuSig2 == nil || in.MuSig2.Nonces != want.nonces || in.MuSig2.PartialSigs != want.sigs {
				t.Fatalf("after round %d, input %d: %+v, want %d nonces and %d partial signatures", round+1, i, in.MuSig2, want.nonces, want.sigs)
			}
		}
	}
	// The Coldcard's round 2 again, on the PSBT it signed then: its
	// session is gone, and it says so, never signing with that nonce again.
	again := runCLI(t, dir, "", "sign", filepath.Join(work, "r1-key_k2.psbt"), "--with", "coldcard:"+fp, "--yes", "-o", filepath.Join(work, "again.psbt"))
	if again.Code == 0 || !strings.Contains(again.Err, "no MuSig2 session for this transaction") {
		t.Fatalf("a second round 2 on the Coldcard: exit %d: %s", again.Code, again.Err)
	}
	txFile := filepath.Join(work, "tx.hex")
	mustRun(t, dir, "psbt", "finalize", cur, "-o", txFile)
	txid := strings.TrimSpace(mustRun(t, dir, "psbt", "broadcast", txFile))
	h, err := chainhash.NewHashFromStr(txid)
	if err != nil {
		t.Fatal(err)
	}
	mtx, err := node.Client().GetRawTransaction(h)
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range mtx.MsgTx().TxIn {
		if len(in.Witness) != 1 || len(in.Witness[0]) != 64 {
			t.Fatalf("input %d witness %x, want one 64-byte MuSig2 key-path signature", i, in.Witness)
		}
	}
	mineN(t, node, 1)
	if v, err := node.Client().GetRawTransactionVerbose(h); err != nil || v.Confirmations == 0 {
		t.Fatalf("the key-path spend is not mined: %v", err)
	}
	syncWallet(t, dir, node.RPCURL(), "vault")
	mustDoctor(t, dir)
}
