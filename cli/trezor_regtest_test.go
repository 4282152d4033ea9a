package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/btcutil"

	trezoremu "github.com/countersign/countersign/hw/emulator/trezor"
	"github.com/countersign/countersign/hw/transport"
	"github.com/countersign/countersign/internal/regtest"
)

// startTrezor serves an emulated Trezor on a loopback UDP port.
func startTrezor(t *testing.T, mnemonic string) (addr, fp string) {
	t.Helper()
	e, err := trezoremu.New(trezoremu.Config{Mnemonic: mnemonic})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := transport.ListenUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Serve(ctx, srv) }()
	t.Cleanup(func() { cancel(); srv.Close(); <-done })
	x, err := e.Fingerprint("")
	if err != nil {
		t.Fatal(err)
	}
	return srv.Addr(), fmt.Sprintf("%x", x[:])
}

// TestTrezorRegtest: a 2-of-3 wallet of an emulated Trezor, an emulated
// Coldcard and an emulated Ledger; the Trezor and the Ledger sign.
func TestTrezorRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	ctx := context.Background()
	tz, fpT := startTrezor(t, mnemonicB)
	cc, fpC := startColdcard(t, mnemonicA, node.Params(), nil)
	lg, fpL := startLedger(t, mnemonicC, node.Params())
	extraEnv = map[string]string{"COUNTERSIGN_EMULATORS": "1", "COUNTERSIGN_COLDCARD_SOCKET": cc, "COUNTERSIGN_LEDGER_SPECULOS": lg, "COUNTERSIGN_TREZOR_EMULATOR": tz}
	t.Cleanup(func() { extraEnv = nil })
	dir := t.TempDir()

	mustRun(t, dir, "--network", "regtest", "wallet", "create", "trio", "--threshold", "2",
		"--device", "trezor:"+fpT, "--device", "coldcard:"+fpC, "--device", "ledger:"+fpL)
	mustRun(t, dir, "backend", "set", node.RPCURL())
	mustRun(t, dir, "device", "register", "trio", "--with", "ledger:"+fpL)
	// The Trezor needs no registration: it checks the full multisig
	// description that comes with every request.
	mustRun(t, dir, "device", "address", "trio", "--with", "trezor:"+fpT, "--index", "0")
	var a addressJSON
	mustJSON(t, mustRun(t, dir, "--json", "address", "trio"), &a)
	addr, err := btcutil.DecodeAddress(a.Address, node.Params())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Fund(ctx, addr, 12_000_000); err != nil {
		t.Fatal(err)
	}
	node.Mine(ctx, 1)
	mustRun(t, dir, "wallet", "sync", "trio")

	work := t.TempDir()
	unsigned := filepath.Join(work, "u.psbt")
	mustRun(t, dir, "spend", "trio", "--to", node.Address().EncodeAddress()+":0.02", "--fee-rate", "2", "-o", unsigned)
	sT, sL, c := filepath.Join(work, "t.psbt"), filepath.Join(work, "l.psbt"), filepath.Join(work, "c.psbt")
	mustRun(t, dir, "sign", unsigned, "--with", "trezor:"+fpT, "-o", sT)
	mustRun(t, dir, "sign", unsigned, "--with", "ledger:"+fpL, "-o", sL)
	mustRun(t, dir, "psbt", "combine", sT, sL, "-o", c)
	r := inspectFile(t, dir, c)
	if !r.ReadyToFinalize {
		t.Fatalf("not ready: %+v", r)
	}
	tx := filepath.Join(work, "tx")
	mustRun(t, dir, "psbt", "finalize", c, "-o", tx)
	mustRun(t, dir, "psbt", "broadcast", tx)
	node.Mine(ctx, 1)
	s := syncWallet(t, dir, node.RPCURL(), "trio")
	if want := int64(10_000_000 - r.Fee); s.Confirmed != want {
		t.Fatalf("balance %d, want %d", s.Confirmed, want)
	}
}
