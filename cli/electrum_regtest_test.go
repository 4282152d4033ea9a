package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/internal/regtest"
)

// electrumPython is the interpreter Debian's python3-electrum installs into.
const electrumPython = "/usr/bin/python3"

// electrumInstallHint is how .ci/run installs the external cosigner.
const electrumInstallHint = "apt-get install -y --no-install-recommends electrum"

// requireElectrum returns Electrum's version, or skips the test when
// Debian's electrum is not installed (fails instead when
// COUNTERSIGN_REQUIRE_INTEROP=1, as CI sets it).
func requireElectrum(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(electrumPython, "-c",
		"import sys, electrum.version; sys.stdout.write(electrum.version.ELECTRUM_VERSION)").CombinedOutput()
	if err != nil {
		msg := "Electrum interop: " + electrumPython + " cannot import electrum (" + err.Error() + ": " +
			strings.TrimSpace(string(out)) + "); install Debian's electrum: " + electrumInstallHint
		if os.Getenv("COUNTERSIGN_REQUIRE_INTEROP") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return strings.TrimSpace(string(out))
}

// electrumReport is what testdata/electrum/sign.py writes.
type electrumReport struct {
	Version          string   `json:"electrum_version"`
	WalletType       string   `json:"wallet_type"`
	TxinType         string   `json:"txin_type"`
	ReceiveAddresses []string `json:"receive_addresses"`
	ChangeAddresses  []string `json:"change_addresses"`
	Fee              int64    `json:"fee"`
	Problems         []string `json:"problems"`
	SigningProblems  []string `json:"signing_problems"`
	Complete         bool     `json:"complete"`
	SignerGapLimit   int      `json:"signer_gap_limit"`
	SignerReceive    int      `json:"signer_receive_addresses"`
	Inputs           []struct {
		PrevOut       string `json:"prevout"`
		Address       string `json:"address"`
		Known         bool   `json:"known_before_signing"`
		NewSignatures []struct {
			PubKey string `json:"pubkey"`
			Origin string `json:"origin"`
		} `json:"new_signatures"`
	} `json:"inputs"`
	Outputs []struct {
		Address  string `json:"address"`
		Value    int64  `json:"value"`
		IsMine   bool   `json:"is_mine"`
		IsChange bool   `json:"is_change"`
	} `json:"outputs"`
}

// accountXprv is c's BIP-48 account key m/48'/1'/0'/2' as [fp/path]tprv.
func accountXprv(t *testing.T, c testCosigner) string {
	t.Helper()
	k := c.Master
	var err error
	for _, i := range []uint32{48, 1, 0, 2} {
		if k, err = k.Derive(hdkeychain.HardenedKeyStart + i); err != nil {
			t.Fatal(err)
		}
	}
	return "[" + c.FP + "/48h/1h/0h/2h]" + k.String()
}

// electrumSign has Electrum, as cosigner signer of cs, sign in (a PSBT
// file) into out, and returns Electrum's report.
func electrumSign(t *testing.T, cs []testCosigner, signer, threshold int, in, out string) electrumReport {
	t.Helper()
	work := t.TempDir()
	xprvFile := filepath.Join(work, "xprv")
	if err := os.WriteFile(xprvFile, []byte(accountXprv(t, cs[signer])), 0o600); err != nil {
		t.Fatal(err)
	}
	reportFile := filepath.Join(work, "report.json")
	script, err := filepath.Abs(filepath.Join("testdata", "electrum", "sign.py"))
	if err != nil {
		t.Fatal(err)
	}
	// Gap limit 1: Electrum's wallet derives receive address 0 only, so it
	// must recognise inputs on later addresses from the PSBT's BIP-32
	// derivations, as a cosigner whose wallet is behind does.
	args := []string{script, "--strict", "--gap-limit", "1", "--threshold", strconv.Itoa(threshold), "--script", "wsh",
		"--xprv-file", xprvFile, "--in", in, "--out", out, "--report", reportFile,
		"--wallet-dir", work}
	for i, c := range cs {
		if i != signer {
			args = append(args, "--xpub", c.Expr)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, electrumPython, args...)
	cmd.Dir = work
	// Electrum must not touch the user's ~/.electrum or write bytecode.
	cmd.Env = append(os.Environ(), "HOME="+work, "PYTHONDONTWRITEBYTECODE=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var rep electrumReport
	data, readErr := os.ReadFile(reportFile)
	if readErr == nil {
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatalf("electrum report: %v\n%s", err, data)
		}
	}
	if runErr != nil {
		t.Fatalf("Electrum refused to sign countersign's PSBT: %v\nproblems: %s\nsigning problems: %s\nstderr: %s",
			runErr, strings.Join(rep.Problems, "\n  "), strings.Join(rep.SigningProblems, "\n  "), stderr.String())
	}
	if readErr != nil {
		t.Fatal(readErr)
	}
	return rep
}

// TestElectrumCosigner has a real external wallet take part in a spend:
// Debian's Electrum holds cosigner 2 of a 2-of-3 wsh wallet, reads the PSBT
// countersign built, finds its key from the PSBT's global xpubs and BIP-32
// derivations, and signs; countersign signs with cosigner 1, combines
// (verifying Electrum's signature), finalizes and broadcasts on the real
// regtest node.
func TestElectrumCosigner(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest end-to-end test")
	}
	version := requireElectrum(t)
	t.Logf("Electrum %s", version)
	node := regtest.Start(t)
	ctx := context.Background()
	dir := t.TempDir()
	desc, cs := testDescriptor(t, "wsh", 2, 3)
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "w", "--descriptor", desc)
	mustRun(t, dir, "backend", "set", node.RPCURL())
	importTestKeys(t, dir, cs[:1]) // countersign holds cosigner 1 only

	for _, amt := range []int64{50_000_000, 30_000_000} {
		addr := strings.TrimSpace(mustRun(t, dir, "address", "w"))
		a, err := btcutil.DecodeAddress(addr, node.Params())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := node.Fund(ctx, a, amt); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, "wallet", "sync", "w")

	ext := node.Address().EncodeAddress()
	work := t.TempDir()
	unsigned := filepath.Join(work, "unsigned.psbt")
	mustRun(t, dir, "spend", "w", "--to", ext+":0.6", "--fee-rate", "5", "-o", unsigned)
	r := inspectFile(t, dir, unsigned)
	if len(r.Inputs) != 2 || r.Sent != 60_000_000 {
		t.Fatalf("unsigned PSBT: %+v", r)
	}

	// Electrum signs as cosigner 2.
	electrumSigned := filepath.Join(work, "electrum.psbt")
	rep := electrumSign(t, cs, 1, 2, unsigned, electrumSigned)
	if len(rep.Problems) != 0 {
		t.Fatalf("Electrum found gaps in countersign's PSBT:\n  %s", strings.Join(rep.Problems, "\n  "))
	}
	if rep.WalletType != "2of3" || rep.TxinType != "p2wsh" || rep.Complete {
		t.Fatalf("Electrum wallet %s/%s, complete %v", rep.WalletType, rep.TxinType, rep.Complete)
	}
	// Electrum's wallet is the same wallet: same addresses on both branches.
	wantRecv := addressList(t, dir, "--index", "0", "--count", "5")
	wantChange := addressList(t, dir, "--change", "--index", "0", "--count", "5")
	if !slices.Equal(rep.ReceiveAddresses, wantRecv) || !slices.Equal(rep.ChangeAddresses, wantChange) {
		t.Fatalf("Electrum derives other addresses:\nelectrum receive %v\ncountersign      %v\nelectrum change  %v\ncountersign      %v",
			rep.ReceiveAddresses, wantRecv, rep.ChangeAddresses, wantChange)
	}
	// It sees the same payment: fee, external output, change output.
	if rep.Fee != r.Fee {
		t.Fatalf("Electrum computes fee %d, countersign %d", rep.Fee, r.Fee)
	}
	for i, o := range rep.Outputs {
		isChange := r.Outputs[i].Kind == "change"
		if o.Value != r.Outputs[i].Amount || o.IsMine != isChange || o.IsChange != isChange {
			t.Fatalf("output %d: Electrum sees %+v, countersign %+v", i, o, r.Outputs[i])
		}
	}
	learnt := 0
	for i, in := range rep.Inputs {
		if len(in.NewSignatures) != 1 || !strings.HasPrefix(in.NewSignatures[0].Origin, cs[1].FP+"/48h/1h/0h/2h/") {
			t.Fatalf("input %d: Electrum signed %+v, want one signature by %s", i, in.NewSignatures, cs[1].FP)
		}
		if !in.Known {
			learnt++
		}
	}
	// Receive 0 is in Electrum's wallet, receive 1 only in the PSBT.
	if rep.SignerReceive != 1 || learnt != 1 {
		t.Fatalf("Electrum's signing wallet knew %d receive addresses and learnt %d inputs from the PSBT; want 1 and 1: %+v",
			rep.SignerReceive, learnt, rep.Inputs)
	}
	er := inspectFile(t, dir, electrumSigned)
	for i, in := range er.Inputs {
		if in.Missing != 1 || len(in.Signatures) != 1 || in.Signatures[0].Fingerprint != cs[1].FP {
			t.Fatalf("input %d of Electrum's PSBT as countersign reads it: %+v", i, in)
		}
	}

	// countersign signs the original with cosigner 1 and combines.
	k1Signed := filepath.Join(work, "k1.psbt")
	mustRun(t, dir, "sign", unsigned, "--with", "key:k1", "--yes", "-o", k1Signed)

	// Combine verifies Electrum's signatures: a corrupted one is refused.
	bad := corruptFirstSignature(t, electrumSigned, filepath.Join(work, "bad.psbt"))
	if res := runCLI(t, dir, "", "psbt", "combine", bad, k1Signed, "-o", filepath.Join(work, "x.psbt")); res.Code != 4 || !strings.Contains(res.Err, cs[1].FP) {
		t.Fatalf("combine with a corrupted Electrum signature: exit %d, want 4 naming %s: %s", res.Code, cs[1].FP, res.Err)
	}

	combined := filepath.Join(work, "combined.psbt")
	mustRun(t, dir, "psbt", "combine", electrumSigned, k1Signed, "-o", combined)
	r = inspectFile(t, dir, combined)
	if !r.ReadyToFinalize {
		t.Fatalf("combined PSBT not ready: %+v", r)
	}
	for i, in := range r.Inputs {
		var fps []string
		for _, s := range in.Signatures {
			fps = append(fps, s.Fingerprint)
		}
		slices.Sort(fps)
		want := []string{cs[0].FP, cs[1].FP}
		slices.Sort(want)
		if !slices.Equal(fps, want) || in.Missing != 0 {
			t.Fatalf("input %d signed by %v (missing %d), want %v", i, fps, in.Missing, want)
		}
	}

	txFile := filepath.Join(work, "tx.hex")
	mustRun(t, dir, "psbt", "finalize", combined, "-o", txFile)
	txid := strings.TrimSpace(mustRun(t, dir, "psbt", "broadcast", txFile))
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s := syncJSONOf(t, dir, node.RPCURL())
	want := int64(80_000_000 - 60_000_000 - r.Fee)
	if s.Confirmed != want || s.UTXOs != 1 {
		t.Fatalf("after the spend %s: %+v, want confirmed %d in one change coin", txid, s, want)
	}
}

// addressList shows wallet w's addresses (address w --json ARGS...).
func addressList(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	var as []addressJSON
	out := mustRun(t, dir, append([]string{"--json", "address", "w"}, args...)...)
	if err := json.Unmarshal([]byte(out), &as); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var addrs []string
	for _, a := range as {
		addrs = append(addrs, a.Address)
	}
	return addrs
}

// corruptFirstSignature writes a copy of the PSBT in src whose first
// partial signature has one bit of r flipped (still valid DER).
func corruptFirstSignature(t *testing.T, src, dst string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	p, err := bpsbt.NewFromRawBytes(bytes.NewReader(bytes.TrimSpace(data)), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Inputs) == 0 || len(p.Inputs[0].PartialSigs) == 0 {
		t.Fatal("no partial signature to corrupt")
	}
	sig := slices.Clone(p.Inputs[0].PartialSigs[0].Signature)
	sig[8] ^= 0x01 // inside r: 0x30 len 0x02 rlen [r...]
	p.Inputs[0].PartialSigs[0].Signature = sig
	b64, err := p.B64Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, []byte(b64), 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}
