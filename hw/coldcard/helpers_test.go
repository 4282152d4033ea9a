package coldcard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/tyler-smith/go-bip39"

	"github.com/countersign/countersign/descriptor"
	emu "github.com/countersign/countersign/hw/emulator/coldcard"
	"github.com/countersign/countersign/hw/transport"
)

// Seeds from the BIP-39 test vectors. The first is the emulated Coldcard.
var mnemonics = []string{
	"abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
	"legal winner thank year wave sausage worth useful legal winner thank yellow",
	"letter advice cage absurd amount doctor acoustic avoid letter advice cage above",
}

var testNet = &chaincfg.TestNet3Params

const h = hdkeychain.HardenedKeyStart

// accountPath is BIP-48's testnet P2WSH multisig account 0.
var accountPath = []uint32{48 + h, 1 + h, 0 + h, 2 + h}

// cosigner is one key of the test wallet, derived here from its mnemonic
// with hdkeychain, independently of the emulator and the driver.
type cosigner struct {
	master  *hdkeychain.ExtendedKey
	fp      [4]byte
	account *hdkeychain.ExtendedKey // neutered, at accountPath
}

func newCosigner(t testing.TB, mnemonic string) cosigner {
	t.Helper()
	master, err := hdkeychain.NewMaster(bip39.NewSeed(mnemonic, ""), testNet)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := master.ECPubKey()
	var c cosigner
	c.master = master
	copy(c.fp[:], btcutil.Hash160(pub.SerializeCompressed())[:4])
	k := master
	for _, i := range accountPath {
		if k, err = k.Derive(i); err != nil {
			t.Fatal(err)
		}
	}
	if c.account, err = k.Neuter(); err != nil {
		t.Fatal(err)
	}
	return c
}

// testWallet is a 2-of-n sortedmulti wallet of the seeds.
type testWallet struct {
	st   descriptor.ScriptType
	keys []cosigner
	desc *descriptor.Descriptor
}

// newTestWallet makes a wsh(sortedmulti(2, ...)) wallet.
func newTestWallet(t testing.TB, seeds ...string) *testWallet {
	return newTestWalletOf(t, descriptor.ScriptWsh, seeds...)
}

func newTestWalletOf(t testing.TB, st descriptor.ScriptType, seeds ...string) *testWallet {
	t.Helper()
	w := &testWallet{st: st}
	var exprs []string
	for _, m := range seeds {
		c := newCosigner(t, m)
		w.keys = append(w.keys, c)
		exprs = append(exprs, fmt.Sprintf("[%x/48h/1h/0h/2h]%s/<0;1>/*", c.fp, c.account))
	}
	inner := "sortedmulti(2," + strings.Join(exprs, ",") + ")"
	d, err := descriptor.Parse(map[descriptor.ScriptType]string{
		descriptor.ScriptWsh:   "wsh(" + inner + ")",
		descriptor.ScriptShWsh: "sh(wsh(" + inner + "))",
		descriptor.ScriptSh:    "sh(" + inner + ")",
	}[st])
	if err != nil {
		t.Fatal(err)
	}
	w.desc = d
	return w
}

// derivedKey is one cosigner's key at a wallet position.
type derivedKey struct {
	pub  []byte
	fp   [4]byte
	path []uint32
}

// script builds the wallet's multisig script at (branch, index) by hand:
// each account xpub derived at branch/index, keys sorted (BIP-67),
// OP_2 <keys> OP_n OP_CHECKMULTISIG. It returns the keys in script order.
func (w *testWallet) script(t testing.TB, branch, index uint32) ([]byte, []derivedKey) {
	t.Helper()
	var keys []derivedKey
	for _, c := range w.keys {
		k, err := c.account.Derive(branch)
		if err == nil {
			k, err = k.Derive(index)
		}
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := k.ECPubKey()
		keys = append(keys, derivedKey{pub: pub.SerializeCompressed(), fp: c.fp, path: append(append([]uint32{}, accountPath...), branch, index)})
	}
	sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i].pub, keys[j].pub) < 0 })
	b := txscript.NewScriptBuilder().AddOp(txscript.OP_2)
	for _, k := range keys {
		b.AddData(k.pub)
	}
	s, err := b.AddOp(byte(txscript.OP_1 - 1 + len(keys))).AddOp(txscript.OP_CHECKMULTISIG).Script()
	if err != nil {
		t.Fatal(err)
	}
	return s, keys
}

// address is the wallet's address for a multisig script, its output
// script, and the P2SH redeem script where there is one.
func (w *testWallet) address(t testing.TB, ms []byte) (string, []byte, []byte) {
	t.Helper()
	h := sha256.Sum256(ms)
	var a btcutil.Address
	var redeem []byte
	var err error
	switch w.st {
	case descriptor.ScriptWsh:
		a, err = btcutil.NewAddressWitnessScriptHash(h[:], testNet)
	case descriptor.ScriptShWsh:
		redeem = append([]byte{0, 32}, h[:]...)
		a, err = btcutil.NewAddressScriptHash(redeem, testNet)
	case descriptor.ScriptSh:
		redeem = ms
		a, err = btcutil.NewAddressScriptHash(ms, testNet)
	}
	if err != nil {
		t.Fatal(err)
	}
	spk, _ := txscript.PayToAddrScript(a)
	return a.EncodeAddress(), spk, redeem
}

func fpUint(fp [4]byte) uint32 {
	return uint32(fp[0]) | uint32(fp[1])<<8 | uint32(fp[2])<<16 | uint32(fp[3])<<24
}

// psbtSpec describes a spend from the test wallet.
type psbtSpec struct {
	inputs      int
	changeIndex uint32      // change output at (1, changeIndex)
	changeFrom  *testWallet // wallet whose script the change output pays; nil = w
	external    []byte      // pkScript of the payment; a P2WPKH when nil
}

// buildPSBT makes an unsigned PSBT spending spec.inputs wallet outputs at
// (0, i) to one external output and one change output, with
// non_witness_utxo, witness_utxo, witness scripts and every cosigner's
// derivation, built with btcd's Creator and Updater.
func (w *testWallet) buildPSBT(t testing.TB, spec psbtSpec) *bpsbt.Packet {
	t.Helper()
	type in struct {
		prev *wire.MsgTx
		ws   []byte
		keys []derivedKey
	}
	var ins []in
	var ops []*wire.OutPoint
	var seqs []uint32
	var total int64
	for i := range spec.inputs {
		ws, keys := w.script(t, 0, uint32(i))
		_, spk, _ := w.address(t, ws)
		prev := wire.NewMsgTx(2)
		prev.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash{byte(i), byte(i >> 8), 7}, Index: uint32(i)}})
		prev.AddTxOut(&wire.TxOut{Value: 100_000 + int64(i), PkScript: spk})
		total += 100_000 + int64(i)
		ins = append(ins, in{prev: prev, ws: ws, keys: keys})
		h := prev.TxHash()
		ops = append(ops, &wire.OutPoint{Hash: h, Index: 0})
		seqs = append(seqs, wire.MaxTxInSequenceNum-2)
	}
	cw := w
	if spec.changeFrom != nil {
		cw = spec.changeFrom
	}
	cws, _ := cw.script(t, 1, spec.changeIndex)
	_, cspk, credeem := cw.address(t, cws)
	_, ckeys := w.script(t, 1, spec.changeIndex) // what the derivations claim
	ext := spec.external
	if ext == nil {
		priv, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{9}, 32))
		ext = append([]byte{0, 20}, btcutil.Hash160(priv.PubKey().SerializeCompressed())...)
	}
	pay := total / 2
	fee := int64(200 * spec.inputs)
	outs := []*wire.TxOut{{Value: pay, PkScript: ext}, {Value: total - pay - fee, PkScript: cspk}}
	p, err := bpsbt.New(ops, outs, 2, 0, seqs)
	if err != nil {
		t.Fatal(err)
	}
	u, err := bpsbt.NewUpdater(p)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range ins {
		if err := u.AddInNonWitnessUtxo(x.prev, i); err != nil {
			t.Fatal(err)
		}
		_, _, redeem := w.address(t, x.ws)
		if redeem != nil {
			if err := u.AddInRedeemScript(redeem, i); err != nil {
				t.Fatal(err)
			}
		}
		if w.st != descriptor.ScriptSh {
			if err := u.AddInWitnessUtxo(x.prev.TxOut[0], i); err != nil {
				t.Fatal(err)
			}
			if err := u.AddInWitnessScript(x.ws, i); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range x.keys {
			if err := u.AddInBip32Derivation(fpUint(k.fp), k.path, k.pub, i); err != nil {
				t.Fatal(err)
			}
		}
	}
	if credeem != nil {
		if err := u.AddOutRedeemScript(credeem, 1); err != nil {
			t.Fatal(err)
		}
	}
	if cw.st != descriptor.ScriptSh {
		if err := u.AddOutWitnessScript(cws, 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range ckeys {
		if err := u.AddOutBip32Derivation(fpUint(k.fp), k.path, k.pub, 1); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// rig is a driver connected to an emulator over the in-memory pipe.
type rig struct {
	emu    *emu.Emulator
	cc     *Coldcard
	served chan error
	w      *testWallet
}

func newRig(t testing.TB, cfg emu.Config, opts Options) *rig {
	t.Helper()
	if cfg.Mnemonic == "" {
		cfg.Mnemonic = mnemonics[0]
	}
	e, err := emu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	host, dev := transport.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{emu: e, served: make(chan error, 1), w: newTestWallet(t, mnemonics...)}
	go func() { r.served <- e.Serve(ctx, dev) }()
	octx, ocancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ocancel()
	if opts.PollInterval == 0 {
		opts.PollInterval = time.Millisecond
	}
	cc, err := Open(octx, host, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r.cc = cc
	t.Cleanup(func() {
		cc.Close()
		cancel()
		<-r.served
	})
	return r
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
