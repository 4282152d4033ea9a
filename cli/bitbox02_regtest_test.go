package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"

	bbemu "github.com/countersign/countersign/hw/emulator/bitbox02"
	"github.com/countersign/countersign/hw/transport"
	"github.com/countersign/countersign/internal/regtest"
)

// startBitBox02 serves an emulated BitBox02 on a loopback TCP port, as the
// vendor's simulator does.
func startBitBox02(t *testing.T, mnemonic string) (addr, fp string, e *bbemu.Emulator) {
	t.Helper()
	e, err := bbemu.New(bbemu.Config{Mnemonic: mnemonic})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.ListenTCPReports("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); ln.Close(); <-done })
	x := e.Fingerprint()
	return ln.Addr(), fmt.Sprintf("%x", x[:]), e
}

// runCLIAtTerminal is runCLI with stdin and stderr taken for terminals,
// the way a person runs countersign.
func runCLIAtTerminal(t testing.TB, dataDir string, args ...string) result {
	t.Helper()
	io, _, out, errOut := TestStreams()
	io.StdinTTY, io.StderrTTY = true, true
	env := map[string]string{"COUNTERSIGN_DATA_DIR": dataDir, "HOME": dataDir, "COUNTERSIGN_PASSPHRASE": testPassphrase}
	for k, v := range extraEnv {
		env[k] = v
	}
	f := NewFactory(io, func(k string) string { return env[k] })
	cheapKeys(f)
	defer f.Close()
	code := Run(context.Background(), f, args)
	return result{Out: out.String(), Err: errOut.String(), Code: code}
}

// TestBitBox02Regtest: a 2-of-3 wallet of an emulated BitBox02, an emulated
// Coldcard and a software key, created from the devices, registered on
// both, an address verified on the BitBox02, funded, spent, signed on the
// BitBox02 and the Coldcard, combined, finalized, broadcast and mined.
func TestBitBox02Regtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	ctx := context.Background()
	bb, fpB, bbe := startBitBox02(t, mnemonicB)
	cc, fpC := startColdcard(t, mnemonicA, node.Params(), nil)
	extraEnv = map[string]string{"COUNTERSIGN_EMULATORS": "1", "COUNTERSIGN_COLDCARD_SOCKET": cc, "COUNTERSIGN_BITBOX02_SIMULATOR": bb}
	t.Cleanup(func() { extraEnv = nil })
	dir := t.TempDir()

	// Not paired yet and no terminal: the BitBox02 is listed as unusable,
	// with how to pair it.
	r := runCLI(t, dir, "", "device", "xpub", "--with", "bitbox02", "--path", "m/48h/1h/0h/2h")
	if r.Code != 3 || !strings.Contains(r.Err, "pair it once interactively") {
		t.Fatalf("unpaired without a terminal: exit %d: %s", r.Code, r.Err)
	}
	// At a terminal it is listed as not paired yet, and the first command
	// that uses it shows the pairing code, confirmed on the device.
	r = runCLIAtTerminal(t, dir, "device", "list")
	if r.Code != 0 || !strings.Contains(r.Out, "not paired yet") {
		t.Fatalf("device list at a terminal: exit %d: %s%s", r.Code, r.Out, r.Err)
	}
	r = runCLIAtTerminal(t, dir, "device", "xpub", "--with", "bitbox02:"+fpB, "--path", "m/48h/1h/0h/2h")
	if r.Code != 0 || !strings.Contains(r.Err, "BitBox02 pairing code") || !strings.Contains(r.Out, "tpub") {
		t.Fatalf("pairing at a terminal: exit %d: %s%s", r.Code, r.Out, r.Err)
	}
	if bbe.Stats().Pairings != 1 {
		t.Fatalf("%d pairings, want 1", bbe.Stats().Pairings)
	}
	// From now on no terminal is needed.
	var devs []map[string]any
	mustJSON(t, mustRun(t, dir, "--json", "device", "list"), &devs)
	found := false
	for _, d := range devs {
		if d["type"] == "bitbox02" && d["fingerprint"] == fpB && d["transport"] == "tcp" {
			found = true
		}
	}
	if !found {
		t.Fatalf("device list: %v", devs)
	}

	cs := newTestCosigner(t, 7, 2)
	importTestKeys(t, dir, []testCosigner{cs}) // as k1
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "trio", "--threshold", "2",
		"--device", "bitbox02:"+fpB, "--device", "coldcard:"+fpC, "--device", "key:k1")
	mustRun(t, dir, "backend", "set", node.RPCURL())

	// Not registered yet: showing an address is refused with the fix.
	if r := runCLI(t, dir, "", "address", "trio", "--verify-on", "bitbox02:"+fpB); r.Code != 5 || !strings.Contains(r.Err, "device register trio") {
		t.Fatalf("unregistered BitBox02: exit %d: %s", r.Code, r.Err)
	}
	mustRun(t, dir, "device", "register", "trio", "--with", "bitbox02:"+fpB)
	mustRun(t, dir, "device", "register", "trio", "--with", "coldcard:"+fpC)
	if got := bbe.Registrations(); len(got) != 1 || got[0] != "trio" {
		t.Fatalf("BitBox02 registrations %v", got)
	}

	var a addressJSON
	mustJSON(t, mustRun(t, dir, "--json", "address", "trio", "--verify-on", "bitbox02:"+fpB), &a)
	if a.VerifiedOn == "" {
		t.Fatalf("address not verified: %+v", a)
	}
	shown := false
	for _, s := range bbe.Screens() {
		shown = shown || s.Kind == "address" && s.Address == a.Address
	}
	if !shown {
		t.Fatalf("the BitBox02 never showed %s", a.Address)
	}
	addr, err := btcutil.DecodeAddress(a.Address, node.Params())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Fund(ctx, addr, 25_000_000); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, "wallet", "sync", "trio")

	work := t.TempDir()
	unsigned := filepath.Join(work, "u.psbt")
	mustRun(t, dir, "spend", "trio", "--to", node.Address().EncodeAddress()+":0.05", "--fee-rate", "2", "-o", unsigned)
	sB, sC, c := filepath.Join(work, "b.psbt"), filepath.Join(work, "c.psbt"), filepath.Join(work, "comb.psbt")
	mustRun(t, dir, "sign", unsigned, "--with", "bitbox02:"+fpB, "-o", sB)
	mustRun(t, dir, "sign", unsigned, "--with", "coldcard:"+fpC, "-o", sC)
	mustRun(t, dir, "psbt", "combine", sB, sC, "-o", c)
	ins := inspectFile(t, dir, c)
	if !ins.ReadyToFinalize {
		t.Fatalf("not ready: %+v", ins)
	}
	tx := filepath.Join(work, "tx")
	mustRun(t, dir, "psbt", "finalize", c, "-o", tx)
	mustRun(t, dir, "psbt", "broadcast", tx)
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s := syncWallet(t, dir, node.RPCURL(), "trio")
	if want := int64(20_000_000 - ins.Fee); s.Confirmed != want {
		t.Fatalf("balance %d, want %d", s.Confirmed, want)
	}
	// The pairing lives in the data directory, private to the user.
	pf := filepath.Join(dir, "bitbox02", "pairings.json")
	fi, err := os.Stat(pf)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("pairings file: %v %v", fi, err)
	}
	raw, err := os.ReadFile(pf)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	if keys, _ := p["deviceNoiseStaticPubkeys"].([]any); len(keys) != 1 {
		t.Fatalf("pairings file %v", p)
	}
}
