package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/tyler-smith/go-bip39"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw/hwtest"
	driver "github.com/countersign/countersign/hw/ledger"
	"github.com/countersign/countersign/hw/transport"
	"github.com/countersign/countersign/psbt"
)

// The tests here drive the emulator with countersign's Ledger driver as
// the host, record what the emulator YIELDs, and check the signatures
// with btcd (txscript's digests, ecdsa.Verify): none of the emulator's
// signing code takes part in the check.

// recordingPort passes APDUs through, keeps every YIELD payload, and can
// rewrite SIGN_PSBT's P2 (the protocol version).
type recordingPort struct {
	port
	mu     sync.Mutex
	yields [][]byte
	p2     int // -1: leave as sent
}

func (p *recordingPort) read(ctx context.Context) ([]byte, error) {
	b, err := p.port.read(ctx)
	if err == nil && p.p2 >= 0 && len(b) >= 4 && b[0] == claBitcoin && b[1] == insSignPSBT {
		b[3] = byte(p.p2)
	}
	return b, err
}

func (p *recordingPort) write(ctx context.Context, data []byte, sw uint16) error {
	if sw == swInterrupted && len(data) > 0 && data[0] == ccYield {
		p.mu.Lock()
		p.yields = append(p.yields, bytes.Clone(data[1:]))
		p.mu.Unlock()
	}
	return p.port.write(ctx, data, sw)
}

func (p *recordingPort) take() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	y := p.yields
	p.yields = nil
	return y
}

// signSetup is an emulator with a recording port, a driver session on it
// and a registered 2-of-3 wallet.
type signSetup struct {
	e    *Emulator
	rec  *recordingPort
	d    *driver.Ledger
	desc *descriptor.Descriptor
	seen []Request
	mu   sync.Mutex
}

const signWalletName = "independent"

func newSignSetup(t *testing.T, script string) *signSetup {
	t.Helper()
	st := &signSetup{}
	e, err := New(Config{Mnemonic: testMnemonic, Approve: func(_ context.Context, r Request) bool {
		st.mu.Lock()
		st.seen = append(st.seen, r)
		st.mu.Unlock()
		return true
	}})
	if err != nil {
		t.Fatal(err)
	}
	st.e = e
	c1, c2 := net.Pipe()
	st.rec = &recordingPort{port: &speculosPort{conn: c1}, p2: -1}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.serve(ctx, st.rec) }()
	t.Cleanup(func() { cancel(); c1.Close(); c2.Close(); <-done })
	st.d, err = driver.Open(ctx, driver.SpeculosLink(transport.NewStream(c2, driver.SpeculosOptions)), driver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.desc = signWallet(t, script)
	if _, err := st.d.Register(ctx, hwtest.Wallet(st.desc, &chaincfg.TestNet3Params, signWalletName)); err != nil {
		t.Fatal(err)
	}
	st.take()
	return st
}

func (st *signSetup) take() []Request {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.seen
	st.seen = nil
	return s
}

// signWallet is a 2-of-3 wallet of the emulator's key and two others,
// script being "wsh(sortedmulti(%s))" or the like.
func signWallet(t *testing.T, script string) *descriptor.Descriptor {
	t.Helper()
	const h = uint32(hdkeychain.HardenedKeyStart)
	path := []uint32{48 + h, 1 + h, h, 2 + h}
	seeds := [][]byte{bip39.NewSeed(testMnemonic, "")}
	for k := 1; k < 3; k++ {
		s := sha256.Sum256([]byte(fmt.Sprintf("emulator sign test cosigner %d", k)))
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
			k, _ = k.Derive(s)
		}
		x, _ := k.Neuter()
		keys = append(keys, fmt.Sprintf("[%x/48h/1h/0h/2h]%s/<0;1>/*", btcutil.Hash160(pub.SerializeCompressed())[:4], x))
	}
	d, err := descriptor.Parse(fmt.Sprintf(script, "2,"+strings.Join(keys, ",")))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// spendPSBT spends n coins of the wallet (receive indexes 0..n-1) to an
// external P2WPKH output with change at 1/5, built by countersign's
// builder.
func spendPSBT(t *testing.T, d *descriptor.Descriptor, n int) *bpsbt.Packet {
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
		prev.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash{byte(i + 9)}}, SignatureScript: []byte{0x51}, Sequence: wire.MaxTxInSequenceNum})
		prev.AddTxOut(wire.NewTxOut(170000+int64(i), der.ScriptPubKey))
		op := wire.OutPoint{Hash: prev.TxHash(), Index: 0}
		utxos = append(utxos, psbt.UTXO{OutPoint: op, Value: 170000 + int64(i), Index: uint32(i), PrevTx: prev, Confirmations: 3})
		pre = append(pre, op)
	}
	p, _, err := psbt.Build(psbt.BuildRequest{
		Wallet:       psbt.WalletInfo{Descriptor: d, Network: net3},
		UTXOs:        utxos,
		Outputs:      []psbt.Output{{Script: append([]byte{0, 20}, bytes.Repeat([]byte{5}, 20)...), Value: 100000}},
		Preselected:  pre,
		FeeRate:      2,
		ChangeBranch: 1,
		ChangeIndex:  5,
		Rand:         rand.New(rand.NewPCG(3, 4)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// yielded is one decoded YIELD payload.
type yielded struct {
	input  int
	pubKey []byte // nil under protocol version 0
	sig    []byte
}

func decodeYield(t *testing.T, y []byte, withKey bool) yielded {
	t.Helper()
	r := bytes.NewReader(y)
	idx, err := wire.ReadVarInt(r, 0)
	if err != nil {
		t.Fatalf("yield %x: %v", y, err)
	}
	out := yielded{input: int(idx)}
	if withKey {
		n, _ := r.ReadByte()
		out.pubKey = make([]byte, n)
		if _, err := r.Read(out.pubKey); err != nil || n != 33 {
			t.Fatalf("yield %x: key", y)
		}
	}
	out.sig = y[len(y)-r.Len():]
	return out
}

// txscriptDigest is input i's SIGHASH_ALL digest by btcd's txscript.
func txscriptDigest(t *testing.T, p *bpsbt.Packet, i int) []byte {
	t.Helper()
	in := &p.Inputs[i]
	if in.WitnessScript == nil {
		h, err := txscript.CalcSignatureHash(in.RedeemScript, txscript.SigHashAll, p.UnsignedTx, i)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	prevs := txscript.NewMultiPrevOutFetcher(nil)
	for j, txIn := range p.UnsignedTx.TxIn {
		prevs.AddPrevOut(txIn.PreviousOutPoint, p.Inputs[j].WitnessUtxo)
	}
	h, err := txscript.CalcWitnessSigHash(in.WitnessScript, txscript.NewTxSigHashes(p.UnsignedTx, prevs), txscript.SigHashAll, p.UnsignedTx, i, in.WitnessUtxo.Value)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// checkYields verifies every signature against txscript's digest and the
// device key the input's derivations name, and that each input got one.
func checkYields(t *testing.T, e *Emulator, p *bpsbt.Packet, ys []yielded) {
	t.Helper()
	xfp := e.Fingerprint()
	if len(ys) != len(p.Inputs) {
		t.Fatalf("%d signatures for %d inputs", len(ys), len(p.Inputs))
	}
	for k, y := range ys {
		if y.input != k {
			t.Fatalf("yield %d is for input %d", k, y.input)
		}
		var own []byte
		for _, d := range p.Inputs[k].Bip32Derivation {
			if binary.LittleEndian.Uint32(xfp[:]) == d.MasterKeyFingerprint {
				own = d.PubKey
			}
		}
		if !bytes.Equal(y.pubKey, own) {
			t.Fatalf("input %d: signed with %x, the device's key is %x", k, y.pubKey, own)
		}
		if y.sig[len(y.sig)-1] != byte(txscript.SigHashAll) {
			t.Fatalf("input %d: sighash byte %#x", k, y.sig[len(y.sig)-1])
		}
		sig, err := ecdsa.ParseDERSignature(y.sig[:len(y.sig)-1])
		if err != nil {
			t.Fatalf("input %d: %v", k, err)
		}
		pub, err := btcec.ParsePubKey(own)
		if err != nil {
			t.Fatal(err)
		}
		if !sig.Verify(txscriptDigest(t, p, k), pub) {
			t.Fatalf("input %d: the signature does not verify against txscript's digest", k)
		}
		if !bytes.Equal(sig.Serialize(), y.sig[:len(y.sig)-1]) {
			t.Fatalf("input %d: not canonical low-S DER", k)
		}
	}
}

func decodeAll(t *testing.T, raw [][]byte, withKey bool) []yielded {
	var out []yielded
	for _, y := range raw {
		out = append(out, decodeYield(t, y, withKey))
	}
	return out
}

func TestSignaturesVerifyIndependently(t *testing.T) {
	for _, script := range []string{"wsh(sortedmulti(%s))", "sh(wsh(multi(%s)))", "sh(sortedmulti(%s))", "wsh(multi(%s))"} {
		t.Run(script, func(t *testing.T) {
			st := newSignSetup(t, script)
			p := spendPSBT(t, st.desc, 3)
			signed, err := st.sign(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			ys := decodeAll(t, st.rec.take(), true)
			checkYields(t, st.e, p, ys)
			for _, y := range ys {
				if ps := signed.Inputs[y.input].PartialSigs; len(ps) != 1 || !bytes.Equal(ps[0].Signature, y.sig) {
					t.Fatalf("input %d: the driver kept %v", y.input, ps)
				}
			}
			reqs := st.take()
			if len(reqs) != 1 || !strings.Contains(reqs[0].Text, "(3 of 3 inputs)") || !strings.Contains(reqs[0].Text, "Change outputs: 1\n") || strings.Contains(reqs[0].Text, "Warning") {
				t.Fatalf("the screen: %+v", reqs)
			}
		})
	}
}

// TestSignLikeTheApp covers where the emulator follows the app rather than
// countersign's signer: it re-signs inputs that already carry its
// signature, signs a segwit input without its previous transaction after a
// warning, leaves the key out of a protocol version 0 YIELD, and shows a
// payment to the wallet's own receive address instead of counting it as
// change.
func TestSignLikeTheApp(t *testing.T) {
	ctx := context.Background()
	net3 := &chaincfg.TestNet3Params
	st := newSignSetup(t, "wsh(sortedmulti(%s))")
	p := spendPSBT(t, st.desc, 2)
	signed, err := st.sign(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	first := st.rec.take()
	st.take()

	// Signed again: the app ignores PSBT_IN_PARTIAL_SIG and yields the
	// same (RFC 6979) signatures; the driver has nothing to add.
	if _, err := st.sign(ctx, signed); err == nil || !strings.Contains(err.Error(), "no signature") {
		t.Fatalf("signing a signed PSBT: %v", err)
	}
	if again := st.rec.take(); len(again) != 2 || !bytes.Equal(again[0], first[0]) || !bytes.Equal(again[1], first[1]) {
		t.Fatalf("re-signed yields %x, first %x", again, first)
	}
	st.take()

	// No previous transaction on input 0: signed after a warning.
	noTx := spendPSBT(t, st.desc, 2)
	noTx.Inputs[0].NonWitnessUtxo = nil
	if _, err := st.sign(ctx, noTx); err != nil {
		t.Fatal(err)
	}
	checkYields(t, st.e, noTx, decodeAll(t, st.rec.take(), true))
	if reqs := st.take(); len(reqs) != 1 || !strings.Contains(reqs[0].Text, "Warning: 1 input(s) without the previous transaction") {
		t.Fatalf("the screen: %+v", reqs)
	}

	// A payment to the wallet's receive address 7, with its derivations:
	// shown, not counted as change.
	self := spendPSBT(t, st.desc, 2)
	der, err := st.desc.Derive(0, 7, net3)
	if err != nil {
		t.Fatal(err)
	}
	for j, out := range self.UnsignedTx.TxOut {
		if len(self.Outputs[j].Bip32Derivation) > 0 {
			continue // the change
		}
		out.PkScript = der.ScriptPubKey
		for _, k := range der.Keys {
			self.Outputs[j].Bip32Derivation = append(self.Outputs[j].Bip32Derivation, &bpsbt.Bip32Derivation{
				PubKey: k.PubKey, MasterKeyFingerprint: binary.LittleEndian.Uint32(k.Fingerprint[:]), Bip32Path: k.Path})
		}
		self.Outputs[j].WitnessScript = der.WitnessScript
	}
	if _, err := st.sign(ctx, self); err != nil {
		t.Fatal(err)
	}
	st.rec.take()
	if reqs := st.take(); len(reqs) != 1 || !strings.Contains(reqs[0].Text, "to "+der.Address+"\n") || !strings.Contains(reqs[0].Text, "Change outputs: 1\n") {
		t.Fatalf("the screen: %+v", reqs)
	}

	// Protocol version 0: input index and signature only. The driver,
	// which speaks version 1, refuses what it gets.
	st.rec.p2 = 0
	if _, err := st.sign(ctx, p); err == nil {
		t.Fatal("the driver accepted version 0 yields")
	}
	st.rec.p2 = -1
	v0 := st.rec.take()
	if len(v0) != 2 {
		t.Fatalf("%d version 0 yields", len(v0))
	}
	for k, y := range v0 {
		want := decodeYield(t, first[k], true)
		if got := decodeYield(t, y, false); got.input != want.input || !bytes.Equal(got.sig, want.sig) {
			t.Fatalf("version 0 yield %x, version 1 %x", y, first[k])
		}
	}
}

// TestSignRefusals checks the refusals the emulator makes before the user
// is asked, on PSBTs the driver passes through.
func TestSignRefusals(t *testing.T) {
	ctx := context.Background()
	st := newSignSetup(t, "wsh(sortedmulti(%s))")
	for name, c := range map[string]struct {
		edit func(p *bpsbt.Packet)
		want string
	}{
		"no witness script": {func(p *bpsbt.Packet) { p.Inputs[1].WitnessScript = nil }, "0x6a80"},
		"no witness utxo":   {func(p *bpsbt.Packet) { p.Inputs[0].WitnessUtxo = nil }, "error code 0x0007"},
		"sighash type 4":    {func(p *bpsbt.Packet) { p.Inputs[0].SighashType = 4 }, "0x6a82"},
		"SIGHASH_SINGLE without its output": {func(p *bpsbt.Packet) {
			p.Inputs[2].SighashType = txscript.SigHashSingle
			p.UnsignedTx.TxOut = p.UnsignedTx.TxOut[:2]
			p.Outputs = p.Outputs[:2]
		}, "error code 0x0008"},
		"wrong amount in witness utxo": {func(p *bpsbt.Packet) {
			p.Inputs[0].WitnessUtxo = wire.NewTxOut(p.Inputs[0].WitnessUtxo.Value+1, p.Inputs[0].WitnessUtxo.PkScript)
		}, "error code 0x0005"},
	} {
		p := spendPSBT(t, st.desc, 3)
		c.edit(p)
		_, err := st.sign(ctx, p)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
		if y := st.rec.take(); len(y) != 0 {
			t.Errorf("%s: %d signatures", name, len(y))
		}
		if reqs := st.take(); len(reqs) != 0 {
			t.Errorf("%s: the user was asked", name)
		}
	}
}

// sign has the driver sign a copy of p directly, without the hw.Signer
// adapter: these tests look at what the emulated app itself does, including
// with PSBTs the adapter would refuse before the device saw them.
func (st *signSetup) sign(ctx context.Context, p *bpsbt.Packet) (*bpsbt.Packet, error) {
	c, err := psbt.Clone(p)
	if err != nil {
		return nil, err
	}
	return st.d.SignPSBT(ctx, c, hwtest.Wallet(st.desc, &chaincfg.TestNet3Params, signWalletName))
}

// TestSignNonDefaultSighash signs an input whose PSBT asks for
// SIGHASH_NONE|ANYONECANPAY, as the app does after a warning: the
// signature carries that type and verifies against txscript's digest for
// it; the other input is signed with SIGHASH_ALL.
func TestSignNonDefaultSighash(t *testing.T) {
	ctx := context.Background()
	st := newSignSetup(t, "wsh(sortedmulti(%s))")
	p := spendPSBT(t, st.desc, 2)
	ht := txscript.SigHashNone | txscript.SigHashAnyOneCanPay
	p.Inputs[0].SighashType = ht
	// countersign's driver refuses to take back a signature of another
	// type; the emulator's YIELDs are what this test looks at.
	if _, err := st.sign(ctx, p); err == nil || !strings.Contains(err.Error(), "sighash type 0x82") {
		t.Fatalf("driver: %v", err)
	}
	reqs := st.take()
	if len(reqs) != 1 || !strings.Contains(reqs[0].Text, "non-default sighash") {
		t.Errorf("requests %+v, want one sign request with the warning", reqs)
	}
	ys := decodeAll(t, st.rec.take(), true)
	if len(ys) != 2 {
		t.Fatalf("%d signatures", len(ys))
	}
	prevs := txscript.NewMultiPrevOutFetcher(nil)
	for i, in := range p.Inputs {
		prevs.AddPrevOut(p.UnsignedTx.TxIn[i].PreviousOutPoint, in.WitnessUtxo)
	}
	for _, y := range ys {
		want := txscript.SigHashAll
		if y.input == 0 {
			want = ht
		}
		in := &p.Inputs[y.input]
		if y.sig[len(y.sig)-1] != byte(want) {
			t.Fatalf("input %d: sighash byte %#x, want %#x", y.input, y.sig[len(y.sig)-1], want)
		}
		d, err := txscript.CalcWitnessSigHash(in.WitnessScript, txscript.NewTxSigHashes(p.UnsignedTx, prevs), want, p.UnsignedTx, y.input, in.WitnessUtxo.Value)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := ecdsa.ParseDERSignature(y.sig[:len(y.sig)-1])
		if err != nil {
			t.Fatal(err)
		}
		pub, err := btcec.ParsePubKey(y.pubKey)
		if err != nil {
			t.Fatal(err)
		}
		if !sig.Verify(d, pub) {
			t.Errorf("input %d: signature does not verify for type %#x", y.input, want)
		}
	}
}
