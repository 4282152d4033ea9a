package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	ledgeremu "github.com/countersign/countersign/hw/emulator/ledger"
	"github.com/countersign/countersign/internal/regtest"
)

// startLedgerApp serves an emulated Ledger running the given Bitcoin Test
// app version on loopback TCP and points countersign at it.
func startLedgerApp(t *testing.T, mnemonic string, params *chaincfg.Params, version string) (fp string) {
	t.Helper()
	e, err := ledgeremu.New(ledgeremu.Config{Mnemonic: mnemonic, Network: params, AppVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); ln.Close(); <-done })
	extraEnv = map[string]string{"COUNTERSIGN_EMULATORS": "1", "COUNTERSIGN_LEDGER_SPECULOS": ln.Addr().String()}
	t.Cleanup(func() { extraEnv = nil })
	x := e.Fingerprint()
	return fmt.Sprintf("%x", x[:])
}

// TestLedgerTaprootRegtest: countersign's default 2-of-3 taproot wallet
// (MuSig2 key path of all three keys, one sortedmulti_a leaf) with an
// emulated Ledger (Bitcoin Test app 2.4.1) and two software keys. The
// Ledger registers the wallet policy (HMAC stored), shows a receive
// address, and signs the spend's script leaf with a software key; the
// finalizer falls back to the leaf (not every nonce is in) and btcd
// validates and mines it. A third spend goes by the MuSig2 key path: the
// Ledger gives its nonce and then its partial signature between the two
// software keys, and the finalizer aggregates them. A --no-key-path
// wallet is registered and spent by its leaf the same way. An app older
// than 2.4.0 is refused, naming the version that added musig().
func TestLedgerTaprootRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	ctx := context.Background()
	fpL := startLedgerApp(t, mnemonicC, node.Params(), "2.4.1")
	dir := t.TempDir()
	cs := tapCosigners(t, 2)
	importTestKeys(t, dir, cs)
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "tap", "--script", "tr", "-m", "2",
		"--device", "ledger:"+fpL, "--cosigner", cs[0].Expr, "--cosigner", cs[1].Expr)
	mustRun(t, dir, "backend", "set", node.RPCURL())
	mustRun(t, dir, "device", "register", "tap", "--with", "ledger:"+fpL)

	var a addressJSON
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "address", "tap", "--verify-on", "ledger:"+fpL)), &a); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.Address, "bcrt1p") {
		t.Fatalf("the Ledger showed %s, not a taproot address", a.Address)
	}
	addr, err := btcutil.DecodeAddress(a.Address, node.Params())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Fund(ctx, addr, 30_000_000); err != nil {
		t.Fatal(err)
	}
	fundWallet(t, node, dir, "tap", 20_000_000)

	work := t.TempDir()
	unsigned := filepath.Join(work, "u.psbt")
	mustRun(t, dir, "spend", "tap", "--to", node.Address().EncodeAddress()+":0.4", "--fee-rate", "3", "-o", unsigned)
	var parts []string
	for i, with := range []string{"key:k1", "ledger:" + fpL} {
		out := filepath.Join(work, fmt.Sprintf("s%d.psbt", i))
		mustRun(t, dir, "sign", unsigned, "--with", with, "--yes", "-o", out)
		parts = append(parts, out)
	}
	r := inspectFile(t, dir, parts[1])
	if len(r.Inputs) != 2 || r.Inputs[0].Missing != 1 || len(r.Inputs[0].Signatures) != 1 || r.Inputs[0].Signatures[0].Fingerprint != fpL {
		t.Fatalf("signed by the Ledger alone: %+v", r.Inputs)
	}
	combined := filepath.Join(work, "c.psbt")
	mustRun(t, dir, append(append([]string{"psbt", "combine"}, parts...), "-o", combined)...)
	if r = inspectFile(t, dir, combined); !r.ReadyToFinalize {
		t.Fatalf("2 of 3 signed but not ready: %+v", r)
	}
	txFile := filepath.Join(work, "tx")
	mustRun(t, dir, "psbt", "finalize", combined, "-o", txFile)
	txid := strings.TrimSpace(mustRun(t, dir, "psbt", "broadcast", txFile))
	h, _ := chainhash.NewHashFromStr(txid)
	tx, err := node.Client().GetRawTransaction(h)
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range tx.MsgTx().TxIn {
		if len(in.Witness) != 5 { // 3 key slots (2 signatures, 1 empty), script, control block
			t.Fatalf("input %d witness has %d items, want a sortedmulti_a leaf spend", i, len(in.Witness))
		}
	}
	mineN(t, node, 1)
	s := syncWallet(t, dir, node.RPCURL(), "tap")
	if want := int64(50_000_000 - 40_000_000 - r.Fee); s.Confirmed != want {
		t.Fatalf("balance %d, want %d", s.Confirmed, want)
	}

	// Now in turn: the software key first (its MuSig2 nonce and the
	// participants go into the PSBT), then the Ledger on that PSBT, whose
	// copy drops the other nonces (its round 1: its own nonce and its leaf
	// signature); finalize uses the leaf again.
	unsigned2 := filepath.Join(work, "u2.psbt")
	mustRun(t, dir, "spend", "tap", "--to", node.Address().EncodeAddress()+":0.02", "--fee-rate", "3", "-o", unsigned2)
	k1 := filepath.Join(work, "k1.psbt")
	mustRun(t, dir, "sign", unsigned2, "--with", "key:k2", "--yes", "-o", k1)
	var mu struct {
		Inputs []struct {
			MuSig2 *struct {
				Nonces int `json:"nonces"`
			} `json:"musig2"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "psbt", "inspect", k1)), &mu); err != nil {
		t.Fatal(err)
	}
	if len(mu.Inputs) == 0 || mu.Inputs[0].MuSig2 == nil || mu.Inputs[0].MuSig2.Nonces != 1 {
		t.Fatalf("after the software key: %+v, want its MuSig2 nonce", mu.Inputs)
	}
	both := filepath.Join(work, "both.psbt")
	mustRun(t, dir, "sign", k1, "--with", "ledger:"+fpL, "--yes", "-o", both)
	if r2 := inspectFile(t, dir, both); !r2.ReadyToFinalize {
		t.Fatalf("signed by k2 then the Ledger, not ready: %+v", r2)
	}
	tx2 := filepath.Join(work, "tx2")
	mustRun(t, dir, "psbt", "finalize", both, "-o", tx2)
	mustRun(t, dir, "psbt", "broadcast", tx2)
	mineN(t, node, 1)
	syncWallet(t, dir, node.RPCURL(), "tap")

	// Third, by the MuSig2 key path: k1, the Ledger and k2 each give their
	// nonces in turn (the Ledger's round 1, which also signs its leaf),
	// then each its partial signature (the Ledger's round 2); the
	// finalizer aggregates one 64-byte signature per input.
	unsigned4 := filepath.Join(work, "u4.psbt")
	mustRun(t, dir, "spend", "tap", "--to", node.Address().EncodeAddress()+":0.03", "--fee-rate", "3", "-o", unsigned4)
	cur := unsigned4
	for round, want := range []struct{ nonces, sigs int }{{3, 0}, {3, 3}} {
		for _, with := range []string{"key:k1", "ledger:" + fpL, "key:k2"} {
			next := filepath.Join(work, fmt.Sprintf("m%d-%s.psbt", round+1, strings.ReplaceAll(with, ":", "_")))
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
	// The Ledger's round 2 again, on the PSBT it signed then: its session
	// is gone, and it says so (exit 5), never signing with that nonce again.
	again := runCLI(t, dir, "", "sign", filepath.Join(work, "m2-key_k1.psbt"), "--with", "ledger:"+fpL, "--yes", "-o", filepath.Join(work, "again.psbt"))
	if again.Code != 5 || !strings.Contains(again.Err, "no MuSig2 session for this transaction") {
		t.Fatalf("a second round 2 on the Ledger: exit %d: %s", again.Code, again.Err)
	}
	tx4 := filepath.Join(work, "tx4")
	mustRun(t, dir, "psbt", "finalize", cur, "-o", tx4)
	txid4 := strings.TrimSpace(mustRun(t, dir, "psbt", "broadcast", tx4))
	h4, _ := chainhash.NewHashFromStr(txid4)
	mtx, err := node.Client().GetRawTransaction(h4)
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range mtx.MsgTx().TxIn {
		if len(in.Witness) != 1 || len(in.Witness[0]) != 64 {
			t.Fatalf("input %d witness %x, want one 64-byte MuSig2 key-path signature", i, in.Witness)
		}
	}
	mineN(t, node, 1)
	if v, err := node.Client().GetRawTransactionVerbose(h4); err != nil || v.Confirmations == 0 {
		t.Fatalf("the key-path spend is not mined: %v", err)
	}
	syncWallet(t, dir, node.RPCURL(), "tap")

	// A --no-key-path wallet (its internal key a ranged xpub of the NUMS
	// point, @0 of the policy, labelled unspendable by the app) registers
	// and is spent by its leaf with the Ledger and a software key.
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "nokp", "--script", "tr", "-m", "2", "--no-key-path",
		"--device", "ledger:"+fpL, "--cosigner", cs[0].Expr, "--cosigner", cs[1].Expr)
	mustRun(t, dir, "device", "register", "nokp", "--with", "ledger:"+fpL)
	mustRun(t, dir, "address", "nokp", "--verify-on", "ledger:"+fpL)
	fundWallet(t, node, dir, "nokp", 10_000_000)
	unsigned3 := filepath.Join(work, "u3.psbt")
	mustRun(t, dir, "spend", "nokp", "--to", node.Address().EncodeAddress()+":0.05", "--fee-rate", "3", "-o", unsigned3)
	var parts3 []string
	for i, with := range []string{"key:k1", "ledger:" + fpL} {
		out := filepath.Join(work, fmt.Sprintf("n%d.psbt", i))
		mustRun(t, dir, "sign", unsigned3, "--with", with, "--yes", "-o", out)
		parts3 = append(parts3, out)
	}
	combined3 := filepath.Join(work, "c3.psbt")
	mustRun(t, dir, append(append([]string{"psbt", "combine"}, parts3...), "-o", combined3)...)
	tx3 := filepath.Join(work, "tx3")
	mustRun(t, dir, "psbt", "finalize", combined3, "-o", tx3)
	mustRun(t, dir, "psbt", "broadcast", tx3)
	mineN(t, node, 1)
	syncWallet(t, dir, node.RPCURL(), "nokp")

	// --leaf-per-subset uses each key in several leaves with the same
	// steps, which BIP-388 forbids: refused with the reason.
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "subsets", "--script", "tr", "-m", "2", "--leaf-per-subset",
		"--device", "ledger:"+fpL, "--cosigner", cs[0].Expr, "--cosigner", cs[1].Expr)
	if res := runCLI(t, dir, "", "device", "register", "subsets", "--with", "ledger:"+fpL); res.Code == 0 || !strings.Contains(res.Err, "--leaf-per-subset") {
		t.Fatalf("--leaf-per-subset wallet on the Ledger: exit %d: %s", res.Code, res.Err)
	}

	// The same wallet on an app without musig(): refused before anything
	// is shown, naming the version.
	fpOld := startLedgerApp(t, mnemonicC, node.Params(), "2.3.0")
	res := runCLI(t, dir, "", "device", "register", "tap", "--with", "ledger:"+fpOld)
	if res.Code == 0 || !strings.Contains(res.Err, "version 2.3.0") || !strings.Contains(res.Err, "since version 2.4.0") {
		t.Fatalf("app 2.3.0: exit %d: %s", res.Code, res.Err)
	}
	t.Logf("app 2.3.0: exit %d: %s", res.Code, strings.TrimSpace(res.Err))
}

// TestLedgerMiniscriptRegtest: an inheritance wallet (2 of the Ledger and
// two software keys, or after 100 blocks the lawyer alone) registered on
// an emulated Ledger as a wsh(miniscript) policy, an address shown on it,
// and a spend by the primary path signed by the Ledger and a software key
// that btcd accepts.
func TestLedgerMiniscriptRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	ctx := context.Background()
	fpL := startLedgerApp(t, mnemonicC, node.Params(), "2.1.3")
	dir := t.TempDir()
	cs := []testCosigner{newTestCosigner(t, 21, 2), newTestCosigner(t, 22, 2)}
	importTestKeys(t, dir, cs)
	lawyer := newTestCosigner(t, 23, 2)
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "heirs", "--threshold", "2",
		"--device", "ledger:"+fpL, "--cosigner", "bob="+cs[0].Expr, "--cosigner", "carol="+cs[1].Expr,
		"--recovery-cosigner", "lawyer="+lawyer.Expr, "--recovery", "after 100 blocks: 1 of lawyer")
	mustRun(t, dir, "backend", "set", node.RPCURL())
	mustRun(t, dir, "device", "register", "heirs", "--with", "ledger:"+fpL)
	var a addressJSON
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "address", "heirs", "--verify-on", "ledger:"+fpL)), &a); err != nil {
		t.Fatal(err)
	}
	addr, err := btcutil.DecodeAddress(a.Address, node.Params())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Fund(ctx, addr, 30_000_000); err != nil {
		t.Fatal(err)
	}
	mineN(t, node, 1)
	syncWallet(t, dir, node.RPCURL(), "heirs")

	work := t.TempDir()
	unsigned := filepath.Join(work, "u.psbt")
	mustRun(t, dir, "spend", "heirs", "--to", node.Address().EncodeAddress()+":0.1", "--fee-rate", "3", "-o", unsigned)
	ledgerSigned := filepath.Join(work, "l.psbt")
	mustRun(t, dir, "sign", unsigned, "--with", "ledger:"+fpL, "--yes", "-o", ledgerSigned)
	r := inspectFile(t, dir, ledgerSigned)
	if len(r.Inputs) != 1 || len(r.Inputs[0].Signatures) != 1 || r.Inputs[0].Signatures[0].Fingerprint != fpL {
		t.Fatalf("signed by the Ledger: %+v", r.Inputs)
	}
	signSend(t, node, dir, "heirs", ledgerSigned, "k1")
	s := syncWallet(t, dir, node.RPCURL(), "heirs")
	if want := int64(30_000_000 - 10_000_000 - r.Fee); s.Confirmed != want {
		t.Fatalf("balance %d, want %d", s.Confirmed, want)
	}
}
