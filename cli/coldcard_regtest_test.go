package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"

	emu "github.com/countersign/countersign/hw/emulator/coldcard"
	"github.com/countersign/countersign/hw/transport"
	"github.com/countersign/countersign/internal/regtest"
)

// Published BIP-39 test mnemonics (the "abandon" and "legal winner" vectors
// of the BIP-39 reference list), used as the emulated devices' seeds.
const (
	mnemonicA = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
	mnemonicB = "legal winner thank year wave sausage worth useful legal winner thank yellow"
)

// startColdcard serves an emulated Coldcard on a unix socket until the test ends.
func startColdcard(t *testing.T, mnemonic string, net *chaincfg.Params, approve func(context.Context, emu.Request) bool) (socket string, fp string) {
	t.Helper()
	e, err := emu.New(emu.Config{Mnemonic: mnemonic, Network: net, Approve: approve})
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

// TestColdcardRegtest is the end-to-end: a 2-of-3 wallet of two
// emulated Coldcards and one software key, created from the devices,
// registered, an address verified on a device, funded, spent, signed on
// both Coldcards, combined, finalized, broadcast and mined.
func TestColdcardRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	ctx := context.Background()
	sockA, fpA := startColdcard(t, mnemonicA, node.Params(), nil)
	sockB, fpB := startColdcard(t, mnemonicB, node.Params(), nil)
	dir := t.TempDir()
	extraEnv = map[string]string{"COUNTERSIGN_EMULATORS": "1", "COUNTERSIGN_COLDCARD_SOCKET": sockA + "," + sockB}
	t.Cleanup(func() { extraEnv = nil })

	// The devices are listed with their fingerprints.
	var devs []map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "device", "list")), &devs); err != nil {
		t.Fatal(err)
	}
	if len(devs) != 2 {
		t.Fatalf("device list: %v", devs)
	}
	// An ambiguous selector is bad usage and lists the choices.
	if r := runCLI(t, dir, "", "device", "xpub", "--with", "coldcard", "--path", "m/48h/1h/0h/2h"); r.Code != 2 || !strings.Contains(r.Err, fpA) {
		t.Fatalf("ambiguous selector: exit %d: %s", r.Code, r.Err)
	}

	cs := newTestCosigner(t, 7, 2)
	importTestKeys(t, dir, []testCosigner{cs}) // as k1
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "vault", "--threshold", "2",
		"--device", "coldcard:"+fpA, "--device", "coldcard:"+fpB, "--device", "key:k1")
	mustRun(t, dir, "backend", "set", node.RPCURL())
	// A second wallet in the store: PSBT commands must pick the right one.
	other, _ := testDescriptor(t, "wsh", 2, 3)
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "other", "--descriptor", other)

	mustRun(t, dir, "device", "register", "vault", "--with", "coldcard:"+fpA)
	var show walletJSON
	json.Unmarshal([]byte(mustRun(t, dir, "--json", "wallet", "show", "vault")), &show)
	registered := 0
	for _, c := range show.Cosigners {
		registered += len(c.Registered)
	}
	if registered != 1 {
		t.Fatalf("registrations not recorded: %+v", show.Cosigners)
	}

	var addr addressJSON
	if err := json.Unmarshal([]byte(mustRun(t, dir, "--json", "address", "vault", "--verify-on", "coldcard:"+fpA)), &addr); err != nil {
		t.Fatal(err)
	}
	if addr.VerifiedOn == "" || addr.Index != 0 {
		t.Fatalf("address not verified: %+v", addr)
	}
	a, err := btcutil.DecodeAddress(addr.Address, node.Params())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Fund(ctx, a, 40_000_000); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, "wallet", "sync", "vault")

	work := t.TempDir()
	unsigned := filepath.Join(work, "pay.psbt")
	mustRun(t, dir, "spend", "vault", "--to", node.Address().EncodeAddress()+":0.1", "--fee-rate", "3", "-o", unsigned)
	sA, sB := filepath.Join(work, "a.psbt"), filepath.Join(work, "b.psbt")
	mustRun(t, dir, "sign", unsigned, "--with", "coldcard:"+fpA, "-o", sA)
	// B has not enrolled the wallet: signing is refused with the fix.
	if r := runCLI(t, dir, "", "sign", unsigned, "--with", "coldcard:"+fpB, "-o", sB); r.Code != 5 || !strings.Contains(r.Err, "countersign device register vault") {
		t.Fatalf("unregistered device: exit %d: %s", r.Code, r.Err)
	}
	mustRun(t, dir, "device", "register", "vault", "--with", "coldcard:"+fpB)
	// finalize given copies combines them first; with one signature of
	// two it refuses (exit 4), and says where the combined PSBT is.
	r1 := runCLI(t, dir, "", "psbt", "finalize", sA, unsigned, "-o", filepath.Join(work, "early.hex"))
	if r1.Code != 4 || !strings.Contains(r1.Err, "has 1 of the 2 signatures") || !strings.Contains(r1.Err, "countersign psbt show ") {
		t.Fatalf("finalize of A's copy and the unsigned one: exit %d: %s", r1.Code, r1.Err)
	}
	mustRun(t, dir, "sign", unsigned, "--with", "coldcard:"+fpB, "-o", sB)
	combined := filepath.Join(work, "c.psbt")
	mustRun(t, dir, "psbt", "combine", sA, sB, "-o", combined)
	r := inspectFile(t, dir, combined)
	if !r.ReadyToFinalize || r.Wallet != "vault" {
		t.Fatalf("not ready after two Coldcards signed: %+v", r)
	}
	txFile := filepath.Join(work, "tx.hex")
	mustRun(t, dir, "psbt", "finalize", combined, "-o", txFile)
	// The same in one step, from the two signed copies.
	txOne := filepath.Join(work, "one.hex")
	mustRun(t, dir, "psbt", "finalize", sA, sB, "-o", txOne)
	if a, b := readFile(t, txFile), readFile(t, txOne); a != b {
		t.Fatalf("finalize of both copies wrote\n%s\nnot what combine, then finalize wrote\n%s", b, a)
	}
	mustRun(t, dir, "psbt", "broadcast", txFile)
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s := syncWallet(t, dir, node.RPCURL(), "vault")
	if want := int64(30_000_000 - r.Fee); s.Confirmed != want {
		t.Fatalf("final balance %d, want %d", s.Confirmed, want)
	}
}
