package ledger_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/tyler-smith/go-bip39"

	"github.com/countersign/countersign/descriptor"
	emu "github.com/countersign/countersign/hw/emulator/ledger"
	"github.com/countersign/countersign/hw/hwtest"
	driver "github.com/countersign/countersign/hw/ledger"
	"github.com/countersign/countersign/hw/transport"
	"github.com/countersign/countersign/psbt"
)

// EnvRequireInterop makes the interop test fail, instead of skipping, when
// Node.js or the npm packages are missing (CI sets it).
const EnvRequireInterop = "COUNTERSIGN_REQUIRE_INTEROP"

const interopMnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

type jsResult struct {
	App struct {
		Name, Version string
	} `json:"app"`
	Fingerprint string `json:"fingerprint"`
	Xpub        string `json:"xpub"`
	PolicyID    string `json:"policyId"`
	ID          string `json:"id"`
	HMAC        string `json:"hmac"`
	Receive0    string `json:"receive0"`
	Change3     string `json:"change3"`
	Sigs        []struct {
		Input     int    `json:"input"`
		Pubkey    string `json:"pubkey"`
		Signature string `json:"signature"`
	} `json:"sigs"`
}

// TestLedgerJSClientInterop runs Ledger's own JS client (npm ledger-bitcoin
// over @ledgerhq/hw-transport-node-speculos) against the emulator and
// compares everything it gets with what countersign's driver gets from the
// same emulator: fingerprint, xpub, wallet id and HMAC, addresses (which
// the JS client also re-derives with @bitcoinerlab/descriptors), and the
// signatures, which RFC 6979 makes byte for byte equal.
func TestLedgerJSClientInterop(t *testing.T) {

	h := newJSHarness(t, emu.Config{Mnemonic: interopMnemonic})
	addr := h.addr()

	net3 := &chaincfg.TestNet3Params
	desc := interopWallet(t)
	const name = "Interop 2of3"
	pol, err := driver.PolicyFromDescriptor(desc, name)
	if err != nil {
		t.Fatal(err)
	}
	p := interopPSBT(t, desc, 2)
	b64, err := psbt.Encode(p)
	if err != nil {
		t.Fatal(err)
	}

	// Ledger's client first.
	in, _ := json.Marshal(map[string]any{
		"port": addr.Port, "path": "m/48'/1'/0'/2'", "name": name,
		"template": pol.Template, "keys": pol.Keys, "psbt": b64,
	})
	cmd := exec.CommandContext(h.ctx, h.node, filepath.Join(h.dir, "interop.js"))
	cmd.Dir = h.dir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node interop.js: %v\n%s", err, stderr.String())
	}
	var js jsResult
	if err := json.Unmarshal(out, &js); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}

	// Then countersign's driver, on the same emulator.
	s, err := transport.DialTCP(h.ctx, addr.String(), driver.SpeculosOptions)
	if err != nil {
		t.Fatal(err)
	}
	d, err := driver.Open(h.ctx, driver.SpeculosLink(s), driver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	fp, _ := d.Fingerprint(h.ctx)
	xpub, err := d.Xpub(h.ctx, []uint32{48 + hdkeychain.HardenedKeyStart, 1 + hdkeychain.HardenedKeyStart, hdkeychain.HardenedKeyStart, 2 + hdkeychain.HardenedKeyStart})
	if err != nil {
		t.Fatal(err)
	}
	token, err := d.Register(h.ctx, hwtest.Wallet(desc, net3, name))
	if err != nil {
		t.Fatal(err)
	}
	receive0, err := d.DisplayAddress(h.ctx, hwtest.Wallet(desc, net3, name), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	change3, err := d.DisplayAddress(h.ctx, hwtest.Wallet(desc, net3, name), 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := hwtest.Sign(h.ctx, d, p, desc, net3, name)
	if err != nil {
		t.Fatal(err)
	}

	appName, appVersion := h.e.App()
	id := pol.ID()
	efp := h.e.Fingerprint()
	for what, c := range map[string][2]string{
		"app name":    {js.App.Name, appName},
		"app version": {js.App.Version, appVersion},
		"fingerprint": {js.Fingerprint, hex.EncodeToString(fp[:])},
		"emulator":    {js.Fingerprint, hex.EncodeToString(efp[:])},
		"xpub":        {js.Xpub, xpub.String()},
		"policy id":   {js.PolicyID, hex.EncodeToString(id[:])},
		"wallet id":   {js.ID, hex.EncodeToString(id[:])},
		"hmac":        {js.HMAC, hex.EncodeToString(token)},
		"receive 0":   {js.Receive0, receive0},
		"change 3":    {js.Change3, change3},
	} {
		if c[0] != c[1] {
			t.Errorf("%s: Ledger's client %q, countersign %q", what, c[0], c[1])
		}
	}
	if len(js.Sigs) != len(p.Inputs) {
		t.Fatalf("Ledger's client got %d signatures for %d inputs", len(js.Sigs), len(p.Inputs))
	}
	for _, sig := range js.Sigs {
		ps := signed.Inputs[sig.Input].PartialSigs
		if len(ps) != 1 || hex.EncodeToString(ps[0].PubKey) != sig.Pubkey || hex.EncodeToString(ps[0].Signature) != sig.Signature {
			t.Errorf("input %d: Ledger's client got %s/%s, countersign %v", sig.Input, sig.Pubkey, sig.Signature, ps)
		}
	}
	t.Logf("Ledger JS client and countersign agree: %s, wallet id %x, %d signatures", js.Fingerprint, id, len(js.Sigs))
}

// interopWallet is a 2-of-3 wsh(sortedmulti) wallet: the emulator's key
// and two software cosigners.
func interopWallet(t *testing.T) *descriptor.Descriptor {
	t.Helper()
	path := []uint32{48 + hdkeychain.HardenedKeyStart, 1 + hdkeychain.HardenedKeyStart, hdkeychain.HardenedKeyStart, 2 + hdkeychain.HardenedKeyStart}
	seeds := [][]byte{bip39.NewSeed(interopMnemonic, "")}
	for k := 1; k < 3; k++ {
		s := sha256.Sum256([]byte(fmt.Sprintf("interop cosigner %d", k)))
		seeds = append(seeds, s[:])
	}
	var keys []string
	for _, seed := range seeds {
		m, err := hdkeychain.NewMaster(seed, &chaincfg.TestNet3Params)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := m.ECPubKey()
		k := m
		for _, s := range path {
			if k, err = k.Derive(s); err != nil {
				t.Fatal(err)
			}
		}
		x, _ := k.Neuter()
		keys = append(keys, fmt.Sprintf("[%x/48h/1h/0h/2h]%s/<0;1>/*", btcutil.Hash160(pub.SerializeCompressed())[:4], x))
	}
	d, err := descriptor.Parse("wsh(sortedmulti(2," + strings.Join(keys, ",") + "))")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// interopPSBT spends n coins of the wallet with countersign's builder.
func interopPSBT(t *testing.T, d *descriptor.Descriptor, n int) *bpsbt.Packet {
	t.Helper()
	net3 := &chaincfg.TestNet3Params
	var utxos []psbt.UTXO
	var pre []wire.OutPoint
	for i := 0; i < n; i++ {
		der, err := d.Derive(0, uint32(i), net3)
		if err != nil {
			t.Fatal(err)
		}
		prev := wire.NewMsgTx(2)
		prev.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash{byte(i + 1)}}, SignatureScript: []byte{0x51}, Sequence: wire.MaxTxInSequenceNum})
		prev.AddTxOut(wire.NewTxOut(150000, der.ScriptPubKey))
		op := wire.OutPoint{Hash: prev.TxHash(), Index: 0}
		utxos = append(utxos, psbt.UTXO{OutPoint: op, Value: 150000, Index: uint32(i), PrevTx: prev, Confirmations: 3})
		pre = append(pre, op)
	}
	p, _, err := psbt.Build(psbt.BuildRequest{
		Wallet:       psbt.WalletInfo{Descriptor: d, Network: net3},
		UTXOs:        utxos,
		Outputs:      []psbt.Output{{Script: append([]byte{0, 20}, bytes.Repeat([]byte{7}, 20)...), Value: 120000}},
		Preselected:  pre,
		FeeRate:      3,
		ChangeBranch: 1,
		ChangeIndex:  3,
		Rand:         rand.New(rand.NewPCG(7, 8)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
