package bitbox02_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/tyler-smith/go-bip39"

	"github.com/countersign/countersign/descriptor"
	driver "github.com/countersign/countersign/hw/bitbox02"
	emu "github.com/countersign/countersign/hw/emulator/bitbox02"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/hw/transport"
)

// EnvRequireInterop makes the interop test fail, instead of skipping, when
// Node.js or the npm packages are missing (CI sets it).
const EnvRequireInterop = "COUNTERSIGN_REQUIRE_INTEROP"

const interopMnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

const h = hdkeychain.HardenedKeyStart

// interopAccount is the BIP-48 p2wsh account on testnet: m/48'/1'/0'/2'.
var interopAccount = []uint32{48 + h, 1 + h, 0 + h, 2 + h}

// interopKey is one cosigner of the 2-of-3 wallet.
type interopKey struct {
	fp      [4]byte
	account *hdkeychain.ExtendedKey // neutered, testnet (tpub)
	priv    *hdkeychain.ExtendedKey // the account's private key
}

func interopKeys(t *testing.T) []interopKey {
	t.Helper()
	seeds := [][]byte{}
	for k := 1; k < 3; k++ {
		s := sha256.Sum256(fmt.Appendf(nil, "bitbox02 interop cosigner %d", k))
		seeds = append(seeds, s[:])
	}
	// The emulator's key goes in the middle, so ourXPubIndex is not 0.
	seeds = slices.Insert(seeds, 1, bip39.NewSeed(interopMnemonic, ""))
	var keys []interopKey
	for _, seed := range seeds {
		m, err := hdkeychain.NewMaster(seed, &chaincfg.TestNet3Params)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := m.ECPubKey()
		var k interopKey
		copy(k.fp[:], btcutil.Hash160(pub.SerializeCompressed()))
		k.priv = m
		for _, c := range interopAccount {
			if k.priv, err = k.priv.Derive(c); err != nil {
				t.Fatal(err)
			}
		}
		if k.account, err = k.priv.Neuter(); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

// witnessScript is the wallet's sortedmulti(2, …) script at branch/index,
// built here with btcd alone.
func witnessScript(t *testing.T, keys []interopKey, branch, index uint32) []byte {
	t.Helper()
	var pubs [][]byte
	for _, k := range keys {
		c, err := k.account.Derive(branch)
		if err == nil {
			c, err = c.Derive(index)
		}
		if err != nil {
			t.Fatal(err)
		}
		p, _ := c.ECPubKey()
		pubs = append(pubs, p.SerializeCompressed())
	}
	slices.SortFunc(pubs, bytes.Compare)
	b := txscript.NewScriptBuilder().AddInt64(2)
	for _, p := range pubs {
		b.AddData(p)
	}
	s, err := b.AddInt64(int64(len(pubs))).AddOp(txscript.OP_CHECKMULTISIG).Script()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func p2wsh(t *testing.T, ws []byte) (pkScript []byte, addr string) {
	t.Helper()
	h := sha256.Sum256(ws)
	a, err := btcutil.NewAddressWitnessScriptHash(h[:], &chaincfg.TestNet3Params)
	if err != nil {
		t.Fatal(err)
	}
	s, err := txscript.PayToAddrScript(a)
	if err != nil {
		t.Fatal(err)
	}
	return s, a.EncodeAddress()
}

// The job crosscheck.js runs.
type jsJob struct {
	Addr           string   `json:"addr"`
	Transport      string   `json:"transport"`
	Coin           string   `json:"coin"`
	KeypathAccount []uint32 `json:"keypathAccount"`
	Threshold      int      `json:"threshold"`
	XPubs          []string `json:"xpubs"`
	OurXPubIndex   int      `json:"ourXPubIndex"`
	Name           string   `json:"name"`
	ReceiveKeypath []uint32 `json:"receiveKeypath"`
	RefusedKeypath []uint32 `json:"refusedKeypath"`
	Sign           jsSign   `json:"sign"`
}

type jsSign struct {
	Version  uint32     `json:"version"`
	Locktime uint32     `json:"locktime"`
	Inputs   []jsInput  `json:"inputs"`
	Outputs  []jsOutput `json:"outputs"`
}

type jsInput struct {
	PrevOutHash  string   `json:"prevOutHash"`
	PrevOutIndex uint32   `json:"prevOutIndex"`
	PrevOutValue string   `json:"prevOutValue"`
	Sequence     uint32   `json:"sequence"`
	Keypath      []uint32 `json:"keypath"`
	PrevTx       jsPrevTx `json:"prevTx"`
}

type jsPrevTx struct {
	Version  int32  `json:"version"`
	Locktime uint32 `json:"locktime"`
	Inputs   []struct {
		PrevOutHash     string `json:"prevOutHash"`
		PrevOutIndex    uint32 `json:"prevOutIndex"`
		SignatureScript string `json:"signatureScript"`
		Sequence        uint32 `json:"sequence"`
	} `json:"inputs"`
	Outputs []struct {
		Value        string `json:"value"`
		PubkeyScript string `json:"pubkeyScript"`
	} `json:"outputs"`
}

type jsOutput struct {
	Ours    bool     `json:"ours"`
	Type    int      `json:"type,omitempty"`
	Payload string   `json:"payload,omitempty"`
	Keypath []uint32 `json:"keypath,omitempty"`
	Value   string   `json:"value"`
}

type jsResult struct {
	Statuses    []string `json:"statuses"`
	PairingCode string   `json:"pairingCode"`
	Attestation bool     `json:"attestation"`
	Version     string   `json:"version"`
	Product     string   `json:"product"`
	Xpub        string   `json:"xpub"`
	NamesAsked  int      `json:"namesAsked"`
	Address     string   `json:"address"`
	Refused     string   `json:"refused"`
	Signatures  []string `json:"signatures"`
}

// btcOutputTypeP2WSH is BTCOutputType.P2WSH (btc.proto).
const btcOutputTypeP2WSH = 4

// interopTx is a spend of the wallet's receive address 0 to an outside
// P2WSH, with change to change address 0, and the transaction it spends.
func interopTx(t *testing.T, keys []interopKey) (prev, spend *wire.MsgTx, job jsSign, external string) {
	t.Helper()
	recvScript, _ := p2wsh(t, witnessScript(t, keys, 0, 0))
	changeScript, _ := p2wsh(t, witnessScript(t, keys, 1, 0))
	prev = wire.NewMsgTx(2)
	prev.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash(sha256.Sum256([]byte("funding"))), Index: 3}, SignatureScript: []byte{0x51}, Sequence: 0xfffffffe})
	prev.AddTxOut(wire.NewTxOut(777_000, []byte{0x00, 0x14, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}))
	prev.AddTxOut(wire.NewTxOut(100_000, recvScript))
	prev.LockTime = 2_500_000

	payload := sha256.Sum256([]byte("somebody else"))
	extScript := append([]byte{0x00, 0x20}, payload[:]...)
	_, extAddr := p2wshFromHash(t, payload[:])
	spend = wire.NewMsgTx(2)
	spend.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: prev.TxHash(), Index: 1}, Sequence: 0xfffffffd})
	spend.AddTxOut(wire.NewTxOut(60_000, extScript))
	spend.AddTxOut(wire.NewTxOut(39_000, changeScript))

	var pt jsPrevTx
	pt.Version, pt.Locktime = prev.Version, prev.LockTime
	for _, in := range prev.TxIn {
		pt.Inputs = append(pt.Inputs, struct {
			PrevOutHash     string `json:"prevOutHash"`
			PrevOutIndex    uint32 `json:"prevOutIndex"`
			SignatureScript string `json:"signatureScript"`
			Sequence        uint32 `json:"sequence"`
		}{hex.EncodeToString(in.PreviousOutPoint.Hash[:]), in.PreviousOutPoint.Index, hex.EncodeToString(in.SignatureScript), in.Sequence})
	}
	for _, o := range prev.TxOut {
		pt.Outputs = append(pt.Outputs, struct {
			Value        string `json:"value"`
			PubkeyScript string `json:"pubkeyScript"`
		}{fmt.Sprint(o.Value), hex.EncodeToString(o.PkScript)})
	}
	ph := prev.TxHash()
	job = jsSign{Version: 2, Locktime: 0,
		Inputs: []jsInput{{PrevOutHash: hex.EncodeToString(ph[:]), PrevOutIndex: 1, PrevOutValue: "100000", Sequence: 0xfffffffd,
			Keypath: append(slices.Clone(interopAccount), 0, 0), PrevTx: pt}},
		Outputs: []jsOutput{
			{Type: btcOutputTypeP2WSH, Payload: hex.EncodeToString(payload[:]), Value: "60000"},
			{Ours: true, Keypath: append(slices.Clone(interopAccount), 1, 0), Value: "39000"},
		}}
	return prev, spend, job, extAddr
}

func p2wshFromHash(t *testing.T, h []byte) ([]byte, string) {
	t.Helper()
	a, err := btcutil.NewAddressWitnessScriptHash(h, &chaincfg.TestNet3Params)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := txscript.PayToAddrScript(a)
	return s, a.EncodeAddress()
}

// TestBitBox02JSLibraryInterop runs the vendor's JS library (npm
// bitbox02-api 0.15.1, whose protocol code is bitbox02-api-go compiled to
// JavaScript) against the emulator, once through a WebHID stand-in (the
// library frames the USB reports itself) and once through a BitBoxBridge
// stand-in (the bridge frames them). The library pairs (Noise XX, pairing
// code), reads the account xpub, registers a 2-of-3 multisig, shows an
// address, has one address refused, and signs a transaction with the
// anti-klepto protocol, which the library itself verifies. Every answer is
// checked here against values computed with btcd alone, and then against
// countersign's own driver on the same emulator.
func TestBitBox02JSLibraryInterop(t *testing.T) {
	skip := func(why string) {
		if os.Getenv(EnvRequireInterop) == "1" {
			t.Fatalf("%s (%s=1 requires this test)", why, EnvRequireInterop)
		}
		t.Skip(why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skip("node is not installed: install Node.js 18 or later to run the BitBox02 JS library cross-check")
	}
	jsDir, _ := filepath.Abs(filepath.Join("testdata", "js"))
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "bitbox02-api", "package.json")); err != nil {
		skip("the BitBox02 JS library is not installed: run (cd hw/emulator/bitbox02/testdata/js && npm ci)")
	}
	for _, tr := range []string{"webhid", "bridge"} {
		t.Run(tr, func(t *testing.T) { runJSInterop(t, node, jsDir, tr) })
	}
}

func runJSInterop(t *testing.T, node, jsDir, transportName string) {
	keys := interopKeys(t)
	_, refusedAddr := p2wsh(t, witnessScript(t, keys, 0, 1))
	e, err := emu.New(emu.Config{Mnemonic: interopMnemonic, Approve: func(_ context.Context, s emu.Screen) bool {
		return !(s.Kind == "address" && s.Address == refusedAddr)
	}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.ListenTCPReports("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- e.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("emulator: %v", err)
		}
	}()

	prev, spend, sign, extAddr := interopTx(t, keys)
	const name = "JS interop 2of3"
	job := jsJob{
		Addr: ln.Addr(), Transport: transportName, Coin: "TBTC",
		KeypathAccount: interopAccount, Threshold: 2, OurXPubIndex: 1, Name: name,
		ReceiveKeypath: append(slices.Clone(interopAccount), 0, 0),
		RefusedKeypath: append(slices.Clone(interopAccount), 0, 1),
		Sign:           sign,
	}
	for _, k := range keys {
		job.XPubs = append(job.XPubs, k.account.String())
	}
	in, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, filepath.Join(jsDir, "crosscheck.js"))
	cmd.Dir = jsDir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node crosscheck.js: %v\n%s", err, stderr.String())
	}
	var js jsResult
	if err := json.Unmarshal(out, &js); err != nil {
		t.Fatalf("node output %q: %v\n%s", out, err, stderr.String())
	}

	// The device side of what the library did.
	var pairing, outputs []emu.Screen
	var total *emu.Screen
	for _, s := range e.Screens() {
		switch s.Kind {
		case "pairing":
			pairing = append(pairing, s)
		case "output":
			outputs = append(outputs, s)
		case "total":
			total = &s
		}
	}
	if len(pairing) != 1 || pairing[0].Body != js.PairingCode {
		t.Errorf("pairing code: the library showed %q, the device %+v", js.PairingCode, pairing)
	}
	if !slices.Contains(js.Statuses, "unpaired") || js.Statuses[len(js.Statuses)-1] != "initialized" {
		t.Errorf("status changes %q, want unpaired … initialized", js.Statuses)
	}
	if js.Version != "9.21.0" || js.Product != "bitbox02-multi" {
		t.Errorf("the library read version %q, product %q", js.Version, js.Product)
	}
	if js.Attestation {
		t.Error("attestation passed, but the emulator has no attestation key")
	}
	if js.Xpub != keys[1].account.String() {
		t.Errorf("xpub %s, want %s", js.Xpub, keys[1].account)
	}
	if js.NamesAsked != 1 || !slices.Contains(e.Registrations(), name) {
		t.Errorf("registration: %d names asked, device has %q", js.NamesAsked, e.Registrations())
	}
	_, recvAddr := p2wsh(t, witnessScript(t, keys, 0, 0))
	if js.Address != recvAddr {
		t.Errorf("address %s, want %s", js.Address, recvAddr)
	}
	if js.Refused != "abort" {
		t.Errorf("refused address: %s, want a user abort", js.Refused)
	}
	if len(outputs) != 1 || outputs[0].Address != extAddr || outputs[0].Amount != 60_000 || total == nil || total.Amount != 61_000 || total.Fee != 1_000 {
		t.Errorf("the device showed outputs %+v and total %+v", outputs, total)
	}

	// The signature, checked with btcd's BIP-143 hash.
	if len(js.Signatures) != 1 {
		t.Fatalf("%d signatures, want 1", len(js.Signatures))
	}
	raw, err := hex.DecodeString(js.Signatures[0])
	if err != nil || len(raw) != 64 {
		t.Fatalf("signature %q", js.Signatures[0])
	}
	var r, s btcec.ModNScalar
	r.SetByteSlice(raw[:32])
	s.SetByteSlice(raw[32:])
	fetcher := txscript.NewCannedPrevOutputFetcher(prev.TxOut[1].PkScript, prev.TxOut[1].Value)
	digest, err := txscript.CalcWitnessSigHash(witnessScript(t, keys, 0, 0), txscript.NewTxSigHashes(spend, fetcher), txscript.SigHashAll, spend, 0, prev.TxOut[1].Value)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := keys[1].priv.Derive(0)
	if err == nil {
		ours, err = ours.Derive(0)
	}
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := ours.ECPubKey()
	if !ecdsa.NewSignature(&r, &s).Verify(digest, pub) {
		t.Fatalf("the signature does not verify for BIP-143 hash %x", digest)
	}

	// countersign's driver on the same device: it must find the wallet the
	// library registered (the same registration) and show the same address.
	d := interopDescriptor(t, keys)
	tr, err := transport.DialTCPReports(ctx, ln.Addr())
	if err != nil {
		t.Fatal(err)
	}
	b, err := driver.Open(ctx, tr, driver.Options{AllowPairing: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	before := len(e.Screens())
	w := hwtest.Wallet(d, &chaincfg.TestNet3Params, name)
	if _, err := b.Register(ctx, w); err != nil {
		t.Fatal(err)
	}
	for _, s := range e.Screens()[before:] {
		if s.Kind == "register" {
			t.Errorf("the driver registered the wallet again (%+v): its registration differs from the library's", s)
		}
	}
	addr, err := b.DisplayAddress(ctx, w, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if addr != js.Address {
		t.Errorf("driver address %s, library address %s", addr, js.Address)
	}
	t.Logf("%s: pairing code %q, xpub, registration %q, address %s and an anti-klepto signature agree", transportName, strings.ReplaceAll(js.PairingCode, "\n", " "), name, js.Address)
}

// interopDescriptor is the wallet as countersign writes it.
func interopDescriptor(t *testing.T, keys []interopKey) *descriptor.Descriptor {
	t.Helper()
	var ks []string
	for _, k := range keys {
		ks = append(ks, fmt.Sprintf("[%x/48h/1h/0h/2h]%s/<0;1>/*", k.fp, k.account))
	}
	d, err := descriptor.Parse("wsh(sortedmulti(2," + strings.Join(ks, ",") + "))")
	if err != nil {
		t.Fatal(err)
	}
	return d
}
