package jade

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
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
	emu "github.com/countersign/countersign/hw/emulator/jade"
	"github.com/countersign/countersign/psbt"
)

// Seeds from the BIP-39 reference vectors; the first is the emulated Jade.
var mnemonics = []string{
	"abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
	"legal winner thank year wave sausage worth useful legal winner thank yellow",
	"letter advice cage absurd amount doctor acoustic avoid letter advice cage above",
}

var testNet = &chaincfg.TestNet3Params

const h = hdkeychain.HardenedKeyStart

var scriptIndex = map[descriptor.ScriptType]uint32{descriptor.ScriptSh: 0, descriptor.ScriptShWsh: 1, descriptor.ScriptWsh: 2}

// cosigner is a key of the test wallet, derived with hdkeychain.
type cosigner struct {
	fp      [4]byte
	account *hdkeychain.ExtendedKey
}

func newCosigner(t testing.TB, mnemonic string, path []uint32) cosigner {
	t.Helper()
	master, err := hdkeychain.NewMaster(bip39.NewSeed(mnemonic, ""), testNet)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := master.ECPubKey()
	var c cosigner
	copy(c.fp[:], btcutil.Hash160(pub.SerializeCompressed()))
	k := master
	for _, i := range path {
		if k, err = k.Derive(i); err != nil {
			t.Fatal(err)
		}
	}
	c.account, _ = k.Neuter()
	return c
}

// newDescriptor is a 2-of-3 of the three seeds at BIP-48 paths.
func newDescriptor(t testing.TB, st descriptor.ScriptType, sorted bool) *descriptor.Descriptor {
	t.Helper()
	var exprs []string
	for _, m := range mnemonics {
		path := []uint32{48 + h, 1 + h, 0 + h, scriptIndex[st] + h}
		c := newCosigner(t, m, path)
		exprs = append(exprs, fmt.Sprintf("[%x/48h/1h/0h/%dh]%s/<0;1>/*", c.fp, scriptIndex[st], c.account))
	}
	fn := "multi"
	if sorted {
		fn = "sortedmulti"
	}
	inner := fn + "(2," + strings.Join(exprs, ",") + ")"
	d, err := descriptor.Parse(map[descriptor.ScriptType]string{
		descriptor.ScriptWsh: "wsh(" + inner + ")", descriptor.ScriptShWsh: "sh(wsh(" + inner + "))", descriptor.ScriptSh: "sh(" + inner + ")",
	}[st])
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func wallet(d *descriptor.Descriptor, name string) *hw.Wallet {
	return &hw.Wallet{Name: name, Descriptor: d, Network: testNet}
}

func externalScript() []byte {
	priv, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{9}, 32))
	return append([]byte{0, 20}, btcutil.Hash160(priv.PubKey().SerializeCompressed())...)
}

// buildPSBT spends n coins of d at (0, i) to an outside payment and change
// at (1, 4), with countersign's own Creator and Updater.
func buildPSBT(t testing.TB, d *descriptor.Descriptor, n int) *bpsbt.Packet {
	t.Helper()
	var utxos []psbt.UTXO
	var ops []wire.OutPoint
	var total int64
	for i := 0; i < n; i++ {
		der, err := d.Derive(0, uint32(i), testNet)
		if err != nil {
			t.Fatal(err)
		}
		prev := wire.NewMsgTx(2)
		prev.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash{byte(i), byte(i >> 8), 9}, Index: 1}, SignatureScript: []byte{0x51}, Sequence: 0xfffffffe})
		value := int64(200_000 + i)
		prev.AddTxOut(&wire.TxOut{Value: value, PkScript: der.ScriptPubKey})
		op := wire.OutPoint{Hash: prev.TxHash(), Index: 0}
		utxos = append(utxos, psbt.UTXO{OutPoint: op, Value: value, Branch: 0, Index: uint32(i), PrevTx: prev, Confirmations: 6})
		ops = append(ops, op)
		total += value
	}
	p, _, err := psbt.Build(psbt.BuildRequest{
		Wallet:       psbt.WalletInfo{Descriptor: d, Network: testNet},
		UTXOs:        utxos,
		Outputs:      []psbt.Output{{Script: externalScript(), Value: total / 2}},
		Preselected:  ops,
		FeeRate:      2,
		ChangeBranch: 1, ChangeIndex: 4,
		LockTime: 2_500_000,
		Rand:     rand.New(rand.NewPCG(3, 4)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// rig is the driver connected to an emulator, over TCP as to the vendor's
// QEMU image, or over an in-memory pipe.
type rig struct {
	emu *emu.Emulator
	dev *Jade
}

func startEmulator(t testing.TB, cfg emu.Config) *emu.Emulator {
	t.Helper()
	if cfg.Mnemonic == "" {
		cfg.Mnemonic = mnemonics[0]
	}
	e, err := emu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// serveTCP serves e on a loopback port until the test ends.
func serveTCP(t testing.TB, e *emu.Emulator) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

func newRig(t testing.TB, cfg emu.Config, opts Options, over string) *rig {
	t.Helper()
	e := startEmulator(t, cfg)
	r := &rig{emu: e}
	ctx := testCtx(t)
	var err error
	switch over {
	case "tcp":
		addr := serveTCP(t, e)
		opts.Endpoint = hw.Endpoint{Transport: "tcp", Path: addr, Emulator: true}
		conn, derr := openEndpoint(ctx, opts.Endpoint)
		if derr != nil {
			t.Fatal(derr)
		}
		r.dev, err = Open(ctx, conn, opts)
	default:
		a, b := net.Pipe()
		sctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); e.ServeConn(sctx, b) }()
		t.Cleanup(func() { cancel(); a.Close(); <-done })
		opts.Endpoint = hw.Endpoint{Transport: "pipe", Path: "pipe"}
		r.dev, err = Open(ctx, a, opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.dev.Close() })
	return r
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// transports are the two ways the tests reach the emulator.
var transports = []string{"tcp", "pipe"}
