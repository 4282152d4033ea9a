package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/base58"

	"github.com/countersign/countersign/internal/regtest"
)

// These tests meet Electrum as its users set it up: each Electrum cosigner
// has its own seed and the other cosigners' master public keys as typed in
// (SLIP-132 Vpub strings, no key origins), so the PSBTs Electrum writes
// name the other cosigners' keys as [fingerprint of the xpub]/0/5. With a
// hardware signer as one cosigner, that is exactly where countersign and
// Electrum disagree: the device needs, and countersign writes, the full
// origin [device fingerprint/48h/1h/0h/2h/0/5].

// vpub re-encodes a BIP-32 extended public key with the SLIP-132 version
// bytes of a testnet P2WSH multisig key (Vpub), as Electrum users paste it.
func vpub(t *testing.T, xpub string) string {
	t.Helper()
	raw := base58.Decode(xpub)
	if len(raw) != 82 {
		t.Fatalf("not an extended key: %s", xpub)
	}
	payload := append([]byte{0x02, 0x57, 0x54, 0x83}, raw[4:78]...)
	sum := sha256.Sum256(payload)
	sum = sha256.Sum256(sum[:])
	return base58.Encode(append(payload, sum[:4]...))
}

// keyOnly is the extended key of a key expression [fp/path]xpub.
func keyOnly(expr string) string {
	if i := strings.IndexByte(expr, ']'); i >= 0 {
		return expr[i+1:]
	}
	return expr
}

// electrumReportDefault is what testdata/electrum/cosigner.py writes.
type electrumReportDefault struct {
	Version string   `json:"electrum_version"`
	Problem []string `json:"problems"`
	TxID    string   `json:"txid"`
	Fee     int64    `json:"fee"`
	Inputs  []struct {
		PrevOut       string            `json:"prevout"`
		Derivations   map[string]string `json:"derivations"`
		HasUTXO       bool              `json:"has_utxo"`
		NewSignatures []struct {
			PubKey string `json:"pubkey"`
			Origin string `json:"origin"`
		} `json:"new_signatures"`
	} `json:"inputs"`
	Outputs []struct {
		Address  string `json:"address"`
		Value    int64  `json:"value"`
		IsChange bool   `json:"is_change"`
	} `json:"outputs"`
	Receive []string `json:"receive_addresses"`
}

// electrumCosigner runs cosigner.py: own is this cosigner's seed key,
// typed the other cosigners' key expressions (only their xpubs are typed).
func electrumCosigner(t *testing.T, command string, own testCosigner, typed []string, threshold int, arg, out string) electrumReportDefault {
	t.Helper()
	work := t.TempDir()
	xprv := filepath.Join(work, "xprv")
	if err := os.WriteFile(xprv, []byte(accountXprv(t, own)), 0o600); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "electrum", "cosigner.py"))
	if err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(work, "report.json")
	args := []string{script, command, "--threshold", strconv.Itoa(threshold), "--script", "wsh", "--own-xprv-file", xprv,
		"--out", out, "--report", report, "--wallet-dir", work}
	if command == "sign" {
		args = append(args, "--in", arg)
	} else {
		args = append(args, "--spec", arg)
	}
	for _, k := range typed {
		args = append(args, "--xpub", vpub(t, keyOnly(k)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, electrumPython, args...)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "HOME="+work, "PYTHONDONTWRITEBYTECODE=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	var rep electrumReportDefault
	if data, err := os.ReadFile(report); err == nil {
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatalf("electrum report: %v\n%s", err, data)
		}
	}
	if runErr != nil {
		t.Fatalf("Electrum %s: %v\nproblems: %v\nstderr: %s", command, runErr, rep.Problem, stderr.String())
	}
	return rep
}

// deviceUnderTest is one of the three emulated hardware signers.
type deviceUnderTest struct {
	name string
	env  map[string]string
	fp   string
}

func startDevice(t *testing.T, name string, node *regtest.Node) deviceUnderTest {
	t.Helper()
	switch name {
	case "coldcard":
		sock, fp := startColdcard(t, mnemonicA, node.Params(), nil)
		return deviceUnderTest{name, map[string]string{"COUNTERSIGN_COLDCARD_SOCKET": sock}, fp}
	case "ledger":
		addr, fp := startLedger(t, mnemonicC, node.Params())
		return deviceUnderTest{name, map[string]string{"COUNTERSIGN_LEDGER_SPECULOS": addr}, fp}
	case "trezor":
		addr, fp := startTrezor(t, mnemonicB)
		return deviceUnderTest{name, map[string]string{"COUNTERSIGN_TREZOR_EMULATOR": addr}, fp}
	}
	t.Fatalf("no device %s", name)
	return deviceUnderTest{}
}

// electrumWallet sets up a 2-of-3 of a hardware signer and two Electrum
// cosigners, funded with two coins, and returns the data dir, the device,
// the two Electrum cosigners and the device's key expression.
func electrumWallet(t *testing.T, node *regtest.Node, device string) (dir string, dev deviceUnderTest, e1, e2 testCosigner, devKey string) {
	t.Helper()
	ctx := context.Background()
	dev = startDevice(t, device, node)
	extraEnv = map[string]string{"COUNTERSIGN_EMULATORS": "1"}
	for k, v := range dev.env {
		extraEnv[k] = v
	}
	t.Cleanup(func() { extraEnv = nil })
	dir = t.TempDir()
	e1, e2 = newTestCosigner(t, 21, 2), newTestCosigner(t, 22, 2)
	var x xpubJSON
	mustJSON(t, mustRun(t, dir, "--json", "device", "xpub", "--with", device+":"+dev.fp, "--path", "m/48h/1h/0h/2h"), &x)
	devKey = x.Key
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "w", "--threshold", "2",
		"--cosigner", device+"="+devKey, "--cosigner", "electrum1="+e1.Expr, "--cosigner", "electrum2="+e2.Expr)
	mustRun(t, dir, "backend", "set", node.RPCURL())
	if device != "trezor" {
		mustRun(t, dir, "device", "register", "w", "--with", device+":"+dev.fp)
	}
	for _, amt := range []int64{40_000_000, 25_000_000} {
		var a addressJSON
		mustJSON(t, mustRun(t, dir, "--json", "address", "w"), &a)
		addr, err := btcutil.DecodeAddress(a.Address, node.Params())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := node.Fund(ctx, addr, amt); err != nil {
			t.Fatal(err)
		}
	}
	node.Mine(ctx, 1)
	mustRun(t, dir, "wallet", "sync", "w")
	return dir, dev, e1, e2, devKey
}

// TestElectrumDefaultSetupCosigner: countersign builds the spend, the
// device signs it, an Electrum cosigner in its default setup signs it (and
// writes the device key's derivation in its own form), and the two copies
// combine in either order, finalize and pay on regtest. For each device.
func TestElectrumDefaultSetupCosigner(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	requireElectrum(t)
	for _, device := range []string{"coldcard", "ledger", "trezor"} {
		t.Run(device, func(t *testing.T) {
			node := regtest.Start(t)
			ctx := context.Background()
			dir, dev, e1, e2, devKey := electrumWallet(t, node, device)
			work := t.TempDir()
			unsigned := filepath.Join(work, "u.psbt")
			mustRun(t, dir, "spend", "w", "--to", node.Address().EncodeAddress()+":0.5", "--fee-rate", "3", "-o", unsigned)

			devSigned := filepath.Join(work, "dev.psbt")
			mustRun(t, dir, "sign", unsigned, "--with", device+":"+dev.fp, "-o", devSigned)
			eSigned := filepath.Join(work, "electrum.psbt")
			rep := electrumCosigner(t, "sign", e1, []string{devKey, e2.Expr}, 2, unsigned, eSigned)
			// Electrum wrote the device key's derivation in its own form:
			// the disagreement this test is about is really there.
			conflicts := 0
			for _, in := range rep.Inputs {
				if len(in.NewSignatures) != 1 || !strings.HasPrefix(in.NewSignatures[0].Origin, e1.FP+"/48h/1h/0h/2h/") {
					t.Fatalf("Electrum's signatures: %+v", in.NewSignatures)
				}
				for _, origin := range in.Derivations {
					if !strings.HasPrefix(origin, dev.fp+"/") && !strings.HasPrefix(origin, e1.FP+"/") && !strings.HasPrefix(origin, e2.FP+"/") {
						conflicts++
					}
				}
			}
			if conflicts == 0 {
				t.Fatal("Electrum wrote every derivation with its full origin: not its default setup")
			}

			var finals []string
			for _, order := range [][2]string{{devSigned, eSigned}, {eSigned, devSigned}} {
				combined := filepath.Join(work, "combined.psbt")
				var cj struct {
					Resolved []string `json:"resolved"`
					Ready    bool     `json:"ready_to_finalize"`
				}
				mustJSON(t, mustRun(t, dir, "--json", "psbt", "combine", order[0], order[1], "-o", combined), &cj)
				if !cj.Ready || len(cj.Resolved) == 0 || !strings.Contains(strings.Join(cj.Resolved, "\n"), "the wallet's is ["+dev.fp+"/48h/1h/0h/2h/") {
					t.Fatalf("combine %v: ready %v, resolved %q", order, cj.Ready, cj.Resolved)
				}
				var fj finalizeJSON
				mustJSON(t, mustRun(t, dir, "--json", "psbt", "finalize", combined, "-o", filepath.Join(work, "tx.hex")), &fj)
				finals = append(finals, fj.Hex)
			}
			if finals[0] != finals[1] {
				t.Fatal("the two combine orders finalize to different transactions")
			}
			txid := strings.TrimSpace(mustRun(t, dir, "psbt", "broadcast", filepath.Join(work, "tx.hex")))
			node.Mine(ctx, 1)
			var s syncJSON
			mustJSON(t, mustRun(t, dir, "--json", "wallet", "sync", "w"), &s)
			if s.Confirmed >= 65_000_000-50_000_000 || s.Confirmed < 65_000_000-50_000_000-100_000 || s.Unconfirmed != 0 {
				t.Fatalf("after %s: %+v", txid, s)
			}
		})
	}
}

// TestElectrumCreatesPSBT: an Electrum cosigner in its default setup makes
// the PSBT (its coin choice, its change address, BIP-69 order, no previous
// transactions, the device key in its own form); countersign updates it,
// the device and a software key sign it, countersign finalizes and it pays.
func TestElectrumCreatesPSBT(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	requireElectrum(t)
	node := regtest.Start(t)
	ctx := context.Background()
	dir, dev, e1, e2, devKey := electrumWallet(t, node, "coldcard")
	importTestKeys(t, dir, []testCosigner{e2}) // countersign holds cosigner e2's key as key:k1
	var coins []utxoJSON
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "utxos", "w"), &coins)
	type coin struct {
		TxID    string `json:"txid"`
		Vout    int    `json:"vout"`
		Value   int64  `json:"value"`
		Address string `json:"address"`
	}
	spec := map[string]any{"fee": 2000, "outputs": []map[string]any{{"address": node.Address().EncodeAddress(), "value": 30_000_000}}}
	var ins []coin
	for _, c := range coins {
		txid, vout, _ := strings.Cut(c.OutPoint, ":")
		n := 0
		for _, ch := range vout {
			n = n*10 + int(ch-'0')
		}
		ins = append(ins, coin{txid, n, c.Amount, c.Address})
	}
	spec["inputs"] = ins
	work := t.TempDir()
	specFile := filepath.Join(work, "spec.json")
	b, _ := json.Marshal(spec)
	os.WriteFile(specFile, b, 0o600)
	fromElectrum := filepath.Join(work, "electrum.psbt")
	rep := electrumCosigner(t, "create", e1, []string{devKey, e2.Expr}, 2, specFile, fromElectrum)
	for _, in := range rep.Inputs {
		if in.HasUTXO {
			t.Fatalf("Electrum offline added a previous transaction: %+v", in)
		}
	}

	// The PSBT as Electrum wrote it is not enough for the device; psbt
	// update completes it from the wallet.
	updated := filepath.Join(work, "updated.psbt")
	var uj struct {
		Changes []string `json:"changes"`
		Next    string   `json:"next"`
	}
	mustJSON(t, mustRun(t, dir, "--json", "psbt", "update", fromElectrum, "-o", updated), &uj)
	all := strings.Join(uj.Changes, "\n")
	if !strings.Contains(all, "added non_witness_utxo") || !strings.Contains(all, "the wallet's is ["+dev.fp+"/48h/1h/0h/2h/") || uj.Next != "signer" {
		t.Fatalf("update: next %s, changes:\n%s", uj.Next, all)
	}
	// Electrum's change output is recognised as change.
	r := inspectFile(t, dir, updated)
	changes := 0
	for _, o := range r.Outputs {
		if o.Kind == "change" {
			changes++
		}
	}
	if changes != 1 || r.Sent != 30_000_000 {
		t.Fatalf("the updated PSBT: %d change outputs, sent %d", changes, r.Sent)
	}

	// The device signs the updated PSBT; the software key signs Electrum's
	// own PSBT directly (sign completes it itself).
	devSigned, keySigned := filepath.Join(work, "dev.psbt"), filepath.Join(work, "key.psbt")
	mustRun(t, dir, "sign", updated, "--with", "coldcard:"+dev.fp, "-o", devSigned)
	var sj struct {
		Added   int      `json:"added"`
		Updated []string `json:"updated"`
	}
	mustJSON(t, mustRun(t, dir, "--json", "sign", fromElectrum, "--with", "key:k1", "--yes", "-o", keySigned), &sj)
	if sj.Added != len(rep.Inputs) || len(sj.Updated) == 0 {
		t.Fatalf("sign of Electrum's PSBT: %+v", sj)
	}
	combined := filepath.Join(work, "c.psbt")
	mustRun(t, dir, "psbt", "combine", devSigned, keySigned, "-o", combined)
	mustRun(t, dir, "psbt", "finalize", combined, "-o", filepath.Join(work, "tx.hex"))
	mustRun(t, dir, "psbt", "broadcast", filepath.Join(work, "tx.hex"))
	node.Mine(ctx, 1)
	var s syncJSON
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "sync", "w"), &s)
	if s.Confirmed != 65_000_000-30_000_000-2000 {
		t.Fatalf("after Electrum's payment: %+v", s)
	}
}
