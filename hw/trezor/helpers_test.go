package trezor

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/tyler-smith/go-bip39"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	emu "github.com/countersign/countersign/hw/emulator/trezor"
	"github.com/countersign/countersign/hw/transport"
	"github.com/countersign/countersign/psbt"
)

// Seeds from the BIP-39 test vectors. The first is the emulated Trezor.
var mnemonics = []string{
	"abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
	"legal winner thank year wave sausage worth useful legal winner thank yellow",
	"letter advice cage absurd amount doctor acoustic avoid letter advice cage above",
}

var testNet = &chaincfg.TestNet3Params

const h = hdkeychain.HardenedKeyStart

// scriptIndex is BIP-48's script type level for each wallet type, the path
// a Trezor's strict safety checks accept.
var scriptIndex = map[descriptor.ScriptType]uint32{
	descriptor.ScriptSh: 0, descriptor.ScriptShWsh: 1, descriptor.ScriptWsh: 2,
}

func accountPath(st descriptor.ScriptType) []uint32 {
	return []uint32{48 + h, 1 + h, 0 + h, scriptIndex[st] + h}
}

// cosigner is one key of the test wallet, derived with hdkeychain,
// independently of the emulator and the driver.
type cosigner struct {
	master  *hdkeychain.ExtendedKey
	fp      [4]byte
	account *hdkeychain.ExtendedKey // neutered
}

func newCosigner(t testing.TB, mnemonic string, path []uint32) cosigner {
	t.Helper()
	master, err := hdkeychain.NewMaster(bip39.NewSeed(mnemonic, ""), testNet)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := master.ECPubKey()
	c := cosigner{master: master}
	copy(c.fp[:], btcutil.Hash160(pub.SerializeCompressed())[:4])
	k := master
	for _, i := range path {
		if k, err = k.Derive(i); err != nil {
			t.Fatal(err)
		}
	}
	if c.account, err = k.Neuter(); err != nil {
		t.Fatal(err)
	}
	return c
}

// testWallet is a 2-of-3 wallet of the seeds.
type testWallet struct {
	st   descriptor.ScriptType
	keys []cosigner
	desc *descriptor.Descriptor
}

func newTestWallet(t testing.TB, st descriptor.ScriptType, sorted bool) *testWallet {
	t.Helper()
	w := &testWallet{st: st}
	var exprs []string
	path := accountPath(st)
	for _, m := range mnemonics {
		c := newCosigner(t, m, path)
		w.keys = append(w.keys, c)
		exprs = append(exprs, fmt.Sprintf("[%x/48h/1h/0h/%dh]%s/<0;1>/*", c.fp, scriptIndex[st], c.account))
	}
	fn := "multi"
	if sorted {
		fn = "sortedmulti"
	}
	inner := fn + "(2," + strings.Join(exprs, ",") + ")"
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

// externalScript is a P2WPKH output nobody in the wallet owns.
func externalScript() []byte {
	priv, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{9}, 32))
	return append([]byte{0, 20}, btcutil.Hash160(priv.PubKey().SerializeCompressed())...)
}

// buildPSBT spends n wallet coins at (0, i), each from its own previous
// transaction, to one external payment and change at (1, changeIndex),
// with countersign's own Creator/Updater.
func (w *testWallet) buildPSBT(t testing.TB, n int, changeIndex uint32) *bpsbt.Packet {
	t.Helper()
	var utxos []psbt.UTXO
	var ops []wire.OutPoint
	var total int64
	for i := 0; i < n; i++ {
		der, err := w.desc.Derive(0, uint32(i), testNet)
		if err != nil {
			t.Fatal(err)
		}
		prev := wire.NewMsgTx(2)
		prev.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash{byte(i), byte(i >> 8), 7}, Index: 1}, SignatureScript: []byte{0x51}, Sequence: 0xfffffffe})
		prev.AddTxOut(&wire.TxOut{Value: 5_000, PkScript: externalScript()})
		value := int64(100_000 + i)
		prev.AddTxOut(&wire.TxOut{Value: value, PkScript: der.ScriptPubKey})
		prev.LockTime = uint32(800_000 + i)
		op := wire.OutPoint{Hash: prev.TxHash(), Index: 1}
		utxos = append(utxos, psbt.UTXO{OutPoint: op, Value: value, Branch: 0, Index: uint32(i), PrevTx: prev, Confirmations: 6})
		ops = append(ops, op)
		total += value
	}
	p, _, err := psbt.Build(psbt.BuildRequest{
		Wallet:       psbt.WalletInfo{Descriptor: w.desc, Network: testNet},
		UTXOs:        utxos,
		Outputs:      []psbt.Output{{Script: externalScript(), Value: total / 2}},
		Preselected:  ops,
		FeeRate:      2,
		ChangeBranch: 1, ChangeIndex: changeIndex,
		LockTime: 2_500_000,
		Rand:     rand.New(rand.NewPCG(1, 2)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// rig is a driver connected to an emulator over UDP, the transport the
// vendor's emulator uses.
type rig struct {
	emu    *emu.Emulator
	z      *Trezor
	addr   string
	served chan error
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
	srv, err := transport.ListenUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{emu: e, addr: srv.Addr(), served: make(chan error, 1)}
	go func() { r.served <- e.Serve(ctx, srv) }()
	t.Cleanup(func() {
		cancel()
		<-r.served
		srv.Close()
	})
	z, err := dialRig(t, r.addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	r.z = z
	t.Cleanup(func() { z.Close() })
	return r
}

// dialRig opens the driver the way the registry does for the emulator
// endpoint.
func dialRig(t testing.TB, addr string, opts Options) (*Trezor, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if opts.Endpoint.Path == "" {
		opts.Endpoint = hwEndpoint(addr)
	}
	u, err := openEndpoint(ctx, opts.Endpoint)
	if err != nil {
		return nil, err
	}
	return Open(ctx, u, opts)
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// pinFor answers the emulator's PIN matrix with pin, reading the matrix the
// way the vendor's debug link lets tests do.
func pinFor(e *emu.Emulator, pin string) PINFunc {
	return func(ctx context.Context, kind PINKind) (string, error) {
		m := e.PinMatrix()
		if len(m) != 9 {
			return "", fmt.Errorf("no PIN matrix on screen (%q)", m)
		}
		var out []byte
		for _, d := range []byte(pin) {
			p := bytes.IndexByte([]byte(m), d)
			if p < 0 {
				return "", fmt.Errorf("digit %c not on the matrix", d)
			}
			out = append(out, byte('1'+p))
		}
		return string(out), nil
	}
}

func hwEndpoint(addr string) hw.Endpoint {
	return hw.Endpoint{Transport: "udp", Path: addr, Emulator: true}
}
