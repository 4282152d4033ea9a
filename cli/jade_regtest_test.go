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

	jadeemu "github.com/countersign/countersign/hw/emulator/jade"
	"github.com/countersign/countersign/internal/regtest"
)

// startJade serves an emulated Jade on a loopback TCP port until the test
// ends, its wallet tied to the test networks as a Jade used on regtest is.
func startJade(t *testing.T, mnemonic string, params *chaincfg.Params) (*jadeemu.Emulator, string, string) {
	t.Helper()
	networks := jadeemu.NetworksTest
	if params.Bech32HRPSegwit == "bc" {
		networks = jadeemu.NetworksMain
	}
	e, err := jadeemu.New(jadeemu.Config{Mnemonic: mnemonic, Networks: networks})
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
	t.Cleanup(func() { cancel(); <-done })
	fp := e.Fingerprint()
	return e, ln.Addr().String(), fmt.Sprintf("%x", fp[:])
}

// TestJadeRegtest: a 2-of-3 of an emulated Jade, an emulated Coldcard and
// a software key, created from the devices, registered on both devices, an
// address verified on the Jade, funded, spent, signed on the Jade and the
// Coldcard, combined, finalized, broadcast and mined.
func TestJadeRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	ctx := context.Background()
	jd, jAddr, fpJ := startJade(t, mnemonicB, node.Params())
	cc, fpC := startColdcard(t, mnemonicA, node.Params(), nil)
	extraEnv = map[string]string{"COUNTERSIGN_EMULATORS": "1", "COUNTERSIGN_COLDCARD_SOCKET": cc, "COUNTERSIGN_JADE_EMULATOR": jAddr}
	t.Cleanup(func() { extraEnv = nil })
	dir := t.TempDir()

	// The Jade is listed with its fingerprint.
	var devs []map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "device", "list")), &devs); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range devs {
		if d["type"] == "jade" && d["fingerprint"] == fpJ && d["transport"] == "tcp" && d["emulator"] == true {
			found = true
		}
	}
	if !found {
		t.Fatalf("device list: %v", devs)
	}
	if out := mustRun(t, dir, "device", "xpub", "--with", "jade:"+fpJ, "--path", "m/48h/1h/0h/2h"); !strings.Contains(out, "tpub") {
		t.Fatalf("device xpub: %q", out)
	}

	cs := newTestCosigner(t, 9, 2)
	importTestKeys(t, dir, []testCosigner{cs}) // as k1
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "trio", "--threshold", "2",
		"--device", "jade:"+fpJ, "--device", "coldcard:"+fpC, "--device", "key:k1")
	mustRun(t, dir, "backend", "set", node.RPCURL())

	// Not yet registered on the Jade: refused with the fix, before the
	// device sees a PSBT.
	if r := runCLI(t, dir, "", "device", "address", "trio", "--with", "jade:"+fpJ, "--index", "0"); r.Code != 5 || !strings.Contains(r.Err, "not registered") {
		t.Fatalf("unregistered Jade: exit %d: %s", r.Code, r.Err)
	}
	mustRun(t, dir, "device", "register", "trio", "--with", "jade:"+fpJ)
	mustRun(t, dir, "device", "register", "trio", "--with", "coldcard:"+fpC)
	if regs := jd.Registrations(); len(regs) != 1 || regs[0] != "trio" {
		t.Fatalf("Jade registrations %v", regs)
	}

	var addr addressJSON
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "address", "trio", "--verify-on", "jade:"+fpJ)), &addr); err != nil {
		t.Fatal(err)
	}
	if addr.VerifiedOn == "" || addr.Index != 0 {
		t.Fatalf("address not verified: %+v", addr)
	}
	screens := jd.Screens()
	if last := screens[len(screens)-1]; last.Kind != "address" || last.Address != addr.Address {
		t.Fatalf("Jade showed %+v, wallet derives %s", last, addr.Address)
	}
	a, err := btcutil.DecodeAddress(addr.Address, node.Params())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Fund(ctx, a, 25_000_000); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, "wallet", "sync", "trio")

	work := t.TempDir()
	unsigned := filepath.Join(work, "pay.psbt")
	mustRun(t, dir, "spend", "trio", "--to", node.Address().EncodeAddress()+":0.05", "--fee-rate", "3", "-o", unsigned)
	sJ, sC := filepath.Join(work, "j.psbt"), filepath.Join(work, "c.psbt")
	mustRun(t, dir, "sign", unsigned, "--with", "jade:"+fpJ, "-o", sJ)
	// The Jade recognised the change as the registered wallet's.
	screens = jd.Screens()
	last := screens[len(screens)-1]
	change := 0
	for _, o := range last.Outputs {
		if o.Change {
			change++
		}
	}
	if last.Kind != "sign" || last.Wallet != "trio" || change != 1 || len(last.Outputs) != 2 {
		t.Fatalf("Jade's signing screen %+v", last)
	}
	mustRun(t, dir, "sign", unsigned, "--with", "coldcard:"+fpC, "-o", sC)
	combined := filepath.Join(work, "both.psbt")
	mustRun(t, dir, "psbt", "combine", sJ, sC, "-o", combined)
	r := inspectFile(t, dir, combined)
	if !r.ReadyToFinalize || r.Wallet != "trio" {
		t.Fatalf("not ready after the Jade and the Coldcard signed: %+v", r)
	}
	txFile := filepath.Join(work, "tx.hex")
	mustRun(t, dir, "psbt", "finalize", combined, "-o", txFile)
	mustRun(t, dir, "psbt", "broadcast", txFile)
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s := syncWallet(t, dir, node.RPCURL(), "trio")
	if want := int64(20_000_000 - r.Fee); s.Confirmed != want {
		t.Fatalf("final balance %d, want %d", s.Confirmed, want)
	}
}
