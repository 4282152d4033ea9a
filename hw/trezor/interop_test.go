package trezor

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"

	"github.com/countersign/countersign/descriptor"
	emu "github.com/countersign/countersign/hw/emulator/trezor"
	"github.com/countersign/countersign/hw/hwtest"
)

// The interop test checks countersign's emulator (and through it the
// driver) against the vendor's host library: Debian's python3-trezor
// (trezorlib 0.12.4) and its trezorctl, from the Debian package "trezor".
// Without them it skips, unless COUNTERSIGN_REQUIRE_INTEROP=1.

// trezorlib finds trezorctl and the Python interpreter it runs on.
func trezorlib(t *testing.T) (trezorctl, python string) {
	t.Helper()
	ctl, err := exec.LookPath("trezorctl")
	if err != nil {
		msg := "trezorctl not installed (Debian: apt-get install -y trezor python3-trezor); skipping the trezorlib interop test"
		if os.Getenv("COUNTERSIGN_REQUIRE_INTEROP") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	python = "/usr/bin/python3"
	if f, err := os.Open(ctl); err == nil {
		line, _ := bufio.NewReader(f).ReadString('\n')
		f.Close()
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "#!"); ok {
			if fields := strings.Fields(rest); len(fields) == 1 {
				python = fields[0]
			}
		}
	}
	return ctl, python
}

// runPy runs a command with a clean trezorlib environment: only the UDP
// path given, no TREZOR_PATH from the caller, warnings off.
func runPy(t *testing.T, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	ctx := testCtx(t)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "PYTHONWARNINGS=ignore", "TREZOR_PATH=", "HOME="+t.TempDir())
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	t.Logf("%s %s (%s)", filepath.Base(name), strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return stdout.Bytes()
}

func TestTrezorlibInterop(t *testing.T) {
	ctl, python := trezorlib(t)
	const deviceID = "C0FFEE0123456789ABCDEF01"
	r := newRig(t, emu.Config{Label: "interop", DeviceID: deviceID}, Options{})
	path := "udp:" + r.addr

	t.Run("get-features", func(t *testing.T) {
		var wrapped struct {
			Features map[string]any `json:"Features"` // trezorctl -j prints {"Features": {...}}
		}
		out := runPy(t, nil, ctl, "-j", "-p", path, "get-features")
		if err := json.Unmarshal(out, &wrapped); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		f := wrapped.Features
		for k, want := range map[string]any{"vendor": "trezor.io", "model": "T", "device_id": deviceID, "label": "interop", "initialized": true, "major_version": 2.0} {
			if f[k] != want {
				t.Errorf("features[%s] = %v, want %v", k, f[k], want)
			}
		}
	})

	t.Run("get-public-node", func(t *testing.T) {
		var pn struct {
			Node struct {
				Depth       int    `json:"depth"`
				Fingerprint string `json:"fingerprint"`
				ChildNum    uint32 `json:"child_num"`
				ChainCode   string `json:"chain_code"`
				PublicKey   string `json:"public_key"`
			} `json:"node"`
			Xpub string `json:"xpub"`
		}
		out := runPy(t, nil, ctl, "-j", "-p", path, "btc", "get-public-node", "-n", "m/48h/1h/0h/2h")
		if err := json.Unmarshal(out, &pn); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		acct := newCosigner(t, mnemonics[0], accountPath(descriptor.ScriptWsh)).account
		want, _ := acct.CloneWithVersion(chaincfg.MainNetParams.HDPublicKeyID[:]) // trezorctl's default coin is Bitcoin
		if pn.Xpub != want.String() {
			t.Errorf("xpub %s, want %s", pn.Xpub, want)
		}
		pub, _ := acct.ECPubKey()
		if pn.Node.Depth != 4 || pn.Node.ChildNum != 2+h || pn.Node.PublicKey != hex.EncodeToString(pub.SerializeCompressed()) || pn.Node.ChainCode != hex.EncodeToString(acct.ChainCode()) {
			t.Errorf("node %+v", pn.Node)
		}
	})

	t.Run("sign_tx", func(t *testing.T) {
		w := newTestWallet(t, descriptor.ScriptWsh, true)
		p := w.buildPSBT(t, 3, 2)
		req := trezorlibRequest(t, w, p)
		req["path"] = path
		body, _ := json.Marshal(req)
		s0 := r.emu.Stats()
		out := runPy(t, body, python, filepath.Join("testdata", "trezorlib_sign.py"))
		var res struct {
			Signatures []string `json:"signatures"`
		}
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		s1 := r.emu.Stats()
		t.Logf("trezorlib sign_tx: %d messages to the emulator, %d back", s1.MessagesIn-s0.MessagesIn, s1.MessagesOut-s0.MessagesOut)
		if len(res.Signatures) != len(p.Inputs) {
			t.Fatalf("trezorlib returned %d signatures for %d inputs", len(res.Signatures), len(p.Inputs))
		}
		signed, err := hwtest.Sign(testCtx(t), r.z, p, w.desc, testNet, "interop")
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range res.Signatures {
			der, err := hex.DecodeString(s)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := ecdsa.ParseDERSignature(der)
			if err != nil {
				t.Fatalf("input %d: %v", i, err)
			}
			ps := signed.Inputs[i].PartialSigs[0]
			key, _ := btcec.ParsePubKey(ps.PubKey)
			if !sig.Verify(sighash(t, signed, i), key) {
				t.Errorf("input %d: trezorlib's signature does not verify", i)
			}
			if got := hex.EncodeToString(ps.Signature[:len(ps.Signature)-1]); got != s {
				t.Errorf("input %d: driver signature %s, trezorlib signature %s", i, got, s)
			}
		}
	})
}

// trezorlibRequest describes p for trezorlib, built from the test wallet's
// keys with hdkeychain (not from the driver's code).
func trezorlibRequest(t *testing.T, w *testWallet, pk *bpsbt.Packet) map[string]any {
	t.Helper()
	own := w.keys[0]
	multisig := func(branch, index uint32) map[string]any {
		type entry struct {
			pub []byte
			js  map[string]any
		}
		var es []entry
		for _, c := range w.keys {
			child, err := c.account.Derive(branch)
			if err == nil {
				child, err = child.Derive(index)
			}
			if err != nil {
				t.Fatal(err)
			}
			pub, _ := child.ECPubKey()
			apub, _ := c.account.ECPubKey()
			es = append(es, entry{pub.SerializeCompressed(), map[string]any{
				"node": map[string]any{
					"depth": c.account.Depth(), "fingerprint": c.account.ParentFingerprint(), "child_num": c.account.ChildIndex(),
					"chain_code": hex.EncodeToString(c.account.ChainCode()), "public_key": hex.EncodeToString(apub.SerializeCompressed()),
				},
				"address_n": []uint32{branch, index},
			}})
		}
		sort.Slice(es, func(i, j int) bool { return bytes.Compare(es[i].pub, es[j].pub) < 0 })
		var pubkeys []any
		for _, e := range es {
			pubkeys = append(pubkeys, e.js)
		}
		return map[string]any{"pubkeys": pubkeys, "m": 2}
	}
	ownPath := func(ders []*bpsbt.Bip32Derivation) []uint32 {
		for _, d := range ders {
			if d.MasterKeyFingerprint == fpUint(own.fp) {
				return d.Bip32Path
			}
		}
		t.Fatal("no derivation of the device's key")
		return nil
	}
	var inputs, outputs []any
	prev := map[string]any{}
	for i, txIn := range pk.UnsignedTx.TxIn {
		in := pk.Inputs[i]
		path := ownPath(in.Bip32Derivation)
		n := len(path)
		prevTx := in.NonWitnessUtxo
		inputs = append(inputs, map[string]any{
			"address_n": path, "prev_hash": txIn.PreviousOutPoint.Hash.String(), "prev_index": txIn.PreviousOutPoint.Index,
			"amount": prevTx.TxOut[txIn.PreviousOutPoint.Index].Value, "sequence": txIn.Sequence,
			"script_type": 3, // SPENDWITNESS
			"multisig":    multisig(path[n-2], path[n-1]),
		})
		var pins, pouts []any
		for _, pi := range prevTx.TxIn {
			pins = append(pins, map[string]any{
				"prev_hash": pi.PreviousOutPoint.Hash.String(), "prev_index": pi.PreviousOutPoint.Index,
				"script_sig": hex.EncodeToString(pi.SignatureScript), "sequence": pi.Sequence,
			})
		}
		for _, po := range prevTx.TxOut {
			pouts = append(pouts, map[string]any{"amount": po.Value, "script_pubkey": hex.EncodeToString(po.PkScript)})
		}
		prev[prevTx.TxHash().String()] = map[string]any{"version": prevTx.Version, "lock_time": prevTx.LockTime, "inputs": pins, "bin_outputs": pouts}
	}
	for o, txOut := range pk.UnsignedTx.TxOut {
		if ders := pk.Outputs[o].Bip32Derivation; len(ders) > 0 {
			path := ownPath(ders)
			n := len(path)
			outputs = append(outputs, map[string]any{
				"address_n": path, "amount": txOut.Value, "script_type": 4, // PAYTOWITNESS
				"multisig": multisig(path[n-2], path[n-1]),
			})
			continue
		}
		_, addrs, _, err := txscript.ExtractPkScriptAddrs(txOut.PkScript, testNet)
		if err != nil || len(addrs) != 1 {
			t.Fatalf("output %d: %v", o, err)
		}
		outputs = append(outputs, map[string]any{"address": addrs[0].EncodeAddress(), "amount": txOut.Value, "script_type": 0})
	}
	return map[string]any{
		"coin": "Testnet", "version": pk.UnsignedTx.Version, "lock_time": pk.UnsignedTx.LockTime,
		"inputs": inputs, "outputs": outputs, "prev_txes": prev,
	}
}
