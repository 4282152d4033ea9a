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

	ledgeremu "github.com/countersign/countersign/hw/emulator/ledger"
	"github.com/countersign/countersign/internal/regtest"
)

// Published BIP-39 vectors again: two more seeds for the Ledgers.
const (
	mnemonicC = "letter advice cage absurd amount doctor acoustic avoid letter advice cage above"
	mnemonicD = "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong"
)

// startLedger serves an emulated Ledger (Bitcoin Test app) on loopback TCP.
func startLedger(t *testing.T, mnemonic string, net_ *chaincfg.Params) (addr, fp string) {
	t.Helper()
	e, err := ledgeremu.New(ledgeremu.Config{Mnemonic: mnemonic, Network: net_})
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
	x := e.Fingerprint()
	return ln.Addr().String(), fmt.Sprintf("%x", x[:])
}

// TestLedgerRegtest: a 3-of-5 wallet of two emulated Ledgers, one emulated
// Coldcard and two software keys, spending with a Ledger, the Coldcard and
// a software key.
func TestLedgerRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	ctx := context.Background()
	l1, fpL1 := startLedger(t, mnemonicC, node.Params())
	l2, fpL2 := startLedger(t, mnemonicD, node.Params())
	cc, fpC := startColdcard(t, mnemonicA, node.Params(), nil)
	extraEnv = map[string]string{"COUNTERSIGN_EMULATORS": "1", "COUNTERSIGN_COLDCARD_SOCKET": cc, "COUNTERSIGN_LEDGER_SPECULOS": l1 + "," + l2}
	t.Cleanup(func() { extraEnv = nil })
	dir := t.TempDir()
	importTestKeys(t, dir, []testCosigner{newTestCosigner(t, 11, 2), newTestCosigner(t, 12, 2)})

	mustRun(t, dir, "--network", "regtest", "wallet", "create", "board", "--threshold", "3",
		"--device", "ledger:"+fpL1, "--device", "ledger:"+fpL2, "--device", "coldcard:"+fpC,
		"--device", "key:k1", "--device", "key:k2")
	mustRun(t, dir, "backend", "set", node.RPCURL())

	// Before registration the Ledger refuses, and countersign says what to do.
	if r := runCLI(t, dir, "", "address", "board", "--index", "0", "--verify-on", "ledger:"+fpL1); r.Code != 5 || !strings.Contains(r.Err, "device register board") {
		t.Fatalf("unregistered Ledger: exit %d: %s", r.Code, r.Err)
	}
	for _, dev := range []string{"ledger:" + fpL1, "ledger:" + fpL2, "coldcard:" + fpC} {
		mustRun(t, dir, "device", "register", "board", "--with", dev)
	}
	// The stored HMAC lets a fresh session show an address.
	var a addressJSON
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "address", "board", "--verify-on", "ledger:"+fpL1)), &a); err != nil {
		t.Fatal(err)
	}
	addr, err := btcutil.DecodeAddress(a.Address, node.Params())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Fund(ctx, addr, 25_000_000); err != nil {
		t.Fatal(err)
	}
	node.Mine(ctx, 1)
	mustRun(t, dir, "wallet", "sync", "board")

	work := t.TempDir()
	unsigned := filepath.Join(work, "u.psbt")
	mustRun(t, dir, "spend", "board", "--to", node.Address().EncodeAddress()+":0.05", "--fee-rate", "4", "-o", unsigned)
	var parts []string
	for i, with := range []string{"ledger:" + fpL2, "coldcard:" + fpC, "key:k2"} {
		out := filepath.Join(work, fmt.Sprintf("s%d.psbt", i))
		mustRun(t, dir, "sign", unsigned, "--with", with, "--yes", "-o", out)
		parts = append(parts, out)
	}
	combined := filepath.Join(work, "c.psbt")
	mustRun(t, dir, append(append([]string{"psbt", "combine"}, parts...), "-o", combined)...)
	r := inspectFile(t, dir, combined)
	if !r.ReadyToFinalize {
		t.Fatalf("3 of 5 signed but not ready: %+v", r)
	}
	tx := filepath.Join(work, "tx")
	mustRun(t, dir, "psbt", "finalize", combined, "-o", tx)
	mustRun(t, dir, "psbt", "broadcast", tx)
	node.Mine(ctx, 1)
	s := syncWallet(t, dir, node.RPCURL(), "board")
	if want := int64(20_000_000 - r.Fee); s.Confirmed != want {
		t.Fatalf("balance %d, want %d", s.Confirmed, want)
	}
}
