package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/countersign/countersign/internal/regtest"
)

// TestJadeBitBox02ColdcardRegtest is issue 20's end to end: a 2-of-3 of an
// emulated Jade, an emulated BitBox02 and a Coldcard emulator, created from
// the devices, registered on each, an address verified on each, funded,
// spent, signed on the Jade and the BitBox02, combined, finalized,
// broadcast and mined; then spent again signed on the BitBox02 and the
// Coldcard.
func TestJadeBitBox02ColdcardRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	ctx := context.Background()
	_, jAddr, fpJ := startJade(t, mnemonicC, node.Params())
	bb, fpB, _ := startBitBox02(t, mnemonicB)
	cc, fpC := startColdcard(t, mnemonicA, node.Params(), nil)
	extraEnv = map[string]string{"COUNTERSIGN_EMULATORS": "1", "COUNTERSIGN_COLDCARD_SOCKET": cc,
		"COUNTERSIGN_JADE_EMULATOR": jAddr, "COUNTERSIGN_BITBOX02_SIMULATOR": bb}
	t.Cleanup(func() { extraEnv = nil })
	dir := t.TempDir()

	// The BitBox02 tells its fingerprint only over a paired channel: it
	// pairs once, at a terminal; then all three are listed.
	if r := runCLIAtTerminal(t, dir, "device", "xpub", "--with", "bitbox02", "--path", "m/48h/1h/0h/2h"); r.Code != 0 {
		t.Fatalf("pair the BitBox02: exit %d: %s", r.Code, r.Err)
	}
	list := mustRun(t, dir, "device", "list")
	for _, fp := range []string{fpJ, fpB, fpC} {
		if !strings.Contains(list, fp) {
			t.Fatalf("device list lacks %s:\n%s", fp, list)
		}
	}
	devices := []string{"jade:" + fpJ, "bitbox02:" + fpB, "coldcard:" + fpC}
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "trio", "--threshold", "2",
		"--device", devices[0], "--device", devices[1], "--device", devices[2])
	mustRun(t, dir, "backend", "set", node.RPCURL())
	for _, d := range devices {
		mustRun(t, dir, "device", "register", "trio", "--with", d)
	}
	// Each device shows receive address 0, compared with the wallet's.
	first := ""
	for _, d := range devices {
		var as []addressJSON
		mustJSON(t, mustRun(t, dir, "--json", "address", "trio", "--index", "0", "--verify-on", d), &as)
		if len(as) != 1 {
			t.Fatalf("%s: %d addresses", d, len(as))
		}
		a := as[0]
		if first == "" {
			first = a.Address
		}
		if a.Address != first {
			t.Fatalf("%s verified %s, the others %s", d, a.Address, first)
		}
	}
	addr, err := btcutil.DecodeAddress(first, node.Params())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Fund(ctx, addr, 30_000_000); err != nil {
		t.Fatal(err)
	}
	node.Mine(ctx, 1)
	mustRun(t, dir, "wallet", "sync", "trio")

	work := t.TempDir()
	spend := func(round string, a, b string) {
		t.Helper()
		unsigned := filepath.Join(work, round+".psbt")
		mustRun(t, dir, "spend", "trio", "--to", node.Address().EncodeAddress()+":0.04", "--fee-rate", "3", "-o", unsigned)
		sa, sb := filepath.Join(work, round+"-a.psbt"), filepath.Join(work, round+"-b.psbt")
		mustRun(t, dir, "sign", unsigned, "--with", a, "-o", sa)
		mustRun(t, dir, "sign", unsigned, "--with", b, "-o", sb)
		combined := filepath.Join(work, round+"-c.psbt")
		mustRun(t, dir, "psbt", "combine", sa, sb, "-o", combined)
		if r := inspectFile(t, dir, combined); !r.ReadyToFinalize {
			t.Fatalf("%s: not ready after %s and %s signed: %+v", round, a, b, r)
		}
		tx := filepath.Join(work, round+".tx")
		mustRun(t, dir, "psbt", "finalize", combined, "-o", tx)
		mustRun(t, dir, "psbt", "broadcast", tx)
		node.Mine(ctx, 1)
		mustRun(t, dir, "wallet", "sync", "trio")
	}
	spend("first", devices[0], devices[1])
	spend("second", devices[1], devices[2])

	var bal struct {
		Confirmed int64 `json:"confirmed_sat"`
	}
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "balance", "trio"), &bal)
	// 0.3 BTC in, 2 × 0.04 out, two fees of a few hundred sat.
	if bal.Confirmed >= 22_000_000 || bal.Confirmed < 21_990_000 {
		t.Fatalf("balance after two spends: %d sat", bal.Confirmed)
	}
}
