package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"

	emu "github.com/countersign/countersign/hw/emulator/qrsigner"
	"github.com/countersign/countersign/internal/regtest"
)

// TestQRRegtest is the camera-signer end to end: a 2-of-3 wallet of the
// QR signer emulator (its key from its own crypto-account export, read by
// `wallet import`), an emulated Coldcard and a software key; the QR signer
// enrols the wallet from countersign's crypto-output, and signs the spend
// by QR parts as text (countersign's --qr-out parts.txt piped into the
// emulator, the emulator's answer piped into countersign's stdin); the
// Coldcard signs by USB; combine, finalize, broadcast, confirmed. A
// refusing QR signer leaves `sign` with a device error.
func TestQRRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	node := regtest.Start(t)
	ctx := context.Background()
	sock, fpCC := startColdcard(t, mnemonicB, node.Params(), nil)
	extraEnv = map[string]string{"COUNTERSIGN_EMULATORS": "1", "COUNTERSIGN_COLDCARD_SOCKET": sock}
	t.Cleanup(func() { extraEnv = nil })
	dir, work := t.TempDir(), t.TempDir()

	var screen bytes.Buffer // what the QR signer's screen shows
	qr, err := emu.New(emu.Config{Mnemonic: mnemonicA, Network: node.Params(), Log: &screen})
	if err != nil {
		t.Fatal(err)
	}

	// The QR signer's cosigner export is not a wallet: import says so and
	// gives its key for --cosigner.
	acct, err := qr.AccountUR()
	if err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, dir, strings.ToUpper(acct)+"\n", "wallet", "import", "qr-key", "--file", "-")
	m := regexp.MustCompile(`wsh wallet: .*--cosigner '([^']+)'`).FindStringSubmatch(r.Err)
	if r.Code != 2 || m == nil {
		t.Fatalf("crypto-account import: exit %d\n%s", r.Code, r.Err)
	}
	qrKey := m[1]

	cs := newTestCosigner(t, 7, 2)
	importTestKeys(t, dir, []testCosigner{cs}) // as k1
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "vault", "--threshold", "2",
		"--cosigner", "qr="+qrKey, "--device", "coldcard:"+fpCC, "--device", "key:k1")
	mustRun(t, dir, "backend", "set", node.RPCURL())
	mustRun(t, dir, "device", "register", "vault", "--with", "coldcard:"+fpCC)
	reg := filepath.Join(work, "register")
	mustRun(t, dir, "device", "register", "vault", "--with", "qr", "--qr-out", reg)
	enrol := readParts(t, filepath.Join(reg, "parts.txt"))

	var addr addressJSON
	mustJSON(t, mustRun(t, dir, "--json", "address", "vault"), &addr)
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

	unsigned := filepath.Join(work, "pay.psbt")
	mustRun(t, dir, "spend", "vault", "--to", node.Address().EncodeAddress()+":0.1", "--fee-rate", "3", "-o", unsigned)
	sCC := filepath.Join(work, "cc.psbt")
	mustRun(t, dir, "sign", unsigned, "--with", "coldcard:"+fpCC, "-o", sCC)

	// Hand the PSBT over as QR codes: no terminal here, so it is pending.
	qrDir := filepath.Join(work, "qr")
	var pending signJSON
	mustJSON(t, mustRun(t, dir, "--json", "sign", unsigned, "--with", "qr", "--qr-out", qrDir), &pending)
	if !pending.Pending || !strings.Contains(pending.Message, qrDir) {
		t.Fatalf("not pending: %+v", pending)
	}
	psbtParts := readParts(t, filepath.Join(qrDir, "parts.txt"))

	// A QR signer that refuses shows nothing back: sign fails (exit 5).
	refusing, _ := emu.New(emu.Config{Mnemonic: mnemonicA, Network: node.Params(), Reject: true, Log: &bytes.Buffer{}})
	var none bytes.Buffer
	if err := refusing.Run(ctx, strings.NewReader(enrol+psbtParts), &none); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, dir, none.String(), "sign", unsigned, "--with", "qr", "-o", filepath.Join(work, "none.psbt")); r.Code != 5 || !strings.Contains(r.Err, "no answer came") {
		t.Fatalf("refused: exit %d\n%s", r.Code, r.Err)
	}

	// The QR signer scans the wallet, then the PSBT, and shows its answer.
	var answer bytes.Buffer
	if err := qr.Run(ctx, strings.NewReader(enrol+psbtParts), &answer); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(screen.String(), "registered wallet 2-of-3 wsh") || !strings.Contains(screen.String(), "change") || answer.Len() == 0 {
		t.Fatalf("QR signer screen:\n%s", screen.String())
	}
	sQR := filepath.Join(work, "qr.psbt")
	var signed signJSON
	r = runCLI(t, dir, answer.String(), "--json", "sign", unsigned, "--with", "qr", "-o", sQR)
	if r.Code != 0 {
		t.Fatalf("reading the QR answer: exit %d\n%s", r.Code, r.Err)
	}
	if err := json.Unmarshal([]byte(r.Out), &signed); err != nil || signed.Added != 1 {
		t.Fatalf("QR signer added %+v (%v)", signed, err)
	}

	combined := filepath.Join(work, "c.psbt")
	mustRun(t, dir, "psbt", "combine", sCC, sQR, "-o", combined)
	rep := inspectFile(t, dir, combined)
	if !rep.ReadyToFinalize || rep.Wallet != "vault" {
		t.Fatalf("not ready after the Coldcard and the QR signer signed: %+v", rep)
	}
	txFile := filepath.Join(work, "tx.hex")
	mustRun(t, dir, "psbt", "finalize", combined, "-o", txFile)
	mustRun(t, dir, "psbt", "broadcast", txFile)
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s := syncWallet(t, dir, node.RPCURL(), "vault")
	if want := int64(30_000_000 - rep.Fee); s.Confirmed != want {
		t.Fatalf("final balance %d, want %d", s.Confirmed, want)
	}
}

// readParts reads a parts.txt countersign wrote.
func readParts(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
