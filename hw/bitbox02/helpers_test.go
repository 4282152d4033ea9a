package bitbox02

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
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
	emu "github.com/countersign/countersign/hw/emulator/bitbox02"
	"github.com/countersign/countersign/hw/transport"
	"github.com/countersign/countersign/psbt"
)

// Seeds from the BIP-39 test vectors. The first is the emulated BitBox02.
var mnemonics = []string{
	"abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
	"legal winner thank year wave sausage worth useful legal winner thank yellow",
	"letter advice cage absurd amount doctor acoustic avoid letter advice cage above",
}

const h = hdkeychain.HardenedKeyStart

var scriptIndex = map[descriptor.ScriptType]uint32{
	descriptor.ScriptSh: 0, descriptor.ScriptShWsh: 1, descriptor.ScriptWsh: 2,
}

func accountPath(st descriptor.ScriptType) []uint32 {
	return []uint32{48 + h, 1 + h, 0 + h, scriptIndex[st] + h}
}

// cosigner is one key of the test wallet, derived with hdkeychain,
// independently of the emulator and the driver.
type cosigner struct {
	fp      [4]byte
	account *hdkeychain.ExtendedKey // neutered
}

func newCosigner(t testing.TB, mnemonic string, path []uint32, net *chaincfg.Params) cosigner {
	t.Helper()
	master, err := hdkeychain.NewMaster(bip39.NewSeed(mnemonic, ""), net)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := master.ECPubKey()
	var c cosigner
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
	net  *chaincfg.Params
	desc *descriptor.Descriptor
	name string
}

func newTestWallet(t testing.TB, st descriptor.ScriptType, sorted bool, net *chaincfg.Params) *testWallet {
	t.Helper()
	w := &testWallet{st: st, net: net, name: fmt.Sprintf("%s-%v", st, sorted)}
	var exprs []string
	path := accountPath(st)
	for _, m := range mnemonics {
		c := newCosigner(t, m, path, net)
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

func (w *testWallet) hw() *hw.Wallet {
	return &hw.Wallet{Name: w.name, Descriptor: w.desc, Network: w.net}
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
		der, err := w.desc.Derive(0, uint32(i), w.net)
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
		Wallet:       psbt.WalletInfo{Descriptor: w.desc, Network: w.net},
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

// rig is an emulator listening on a loopback TCP port, as the vendor's
// simulator does.
type rig struct {
	emu  *emu.Emulator
	addr string
}

func newRig(t testing.TB, cfg emu.Config) *rig {
	t.Helper()
	if cfg.Mnemonic == "" && !cfg.Uninitialized {
		cfg.Mnemonic = mnemonics[0]
	}
	e, err := emu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.ListenTCPReports("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); ln.Close(); <-done })
	return &rig{emu: e, addr: ln.Addr()}
}

// open connects the driver to the rig the way the registry does.
func (r *rig) open(t testing.TB, opts Options) (*BitBox02, error) {
	t.Helper()
	return r.openWrapped(t, opts, nil)
}

// openWrapped is open with the transport passed through wrap first (nil:
// as it is).
func (r *rig) openWrapped(t testing.TB, opts Options, wrap func(transport.Transport) transport.Transport) (*BitBox02, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts.Endpoint = hw.Endpoint{Transport: "tcp", Path: r.addr, Emulator: true}
	tr, err := openEndpoint(ctx, opts.Endpoint)
	if err != nil {
		return nil, err
	}
	if wrap != nil {
		tr = wrap(tr)
	}
	b, err := Open(ctx, tr, opts)
	if err == nil {
		t.Cleanup(func() { b.Close() })
	}
	return b, err
}

// mustOpen opens with pairing allowed and a fresh memory store.
func (r *rig) mustOpen(t testing.TB) *BitBox02 {
	t.Helper()
	b, err := r.open(t, Options{AllowPairing: true, Pairings: &MemoryStore{}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// prompts records what the driver tells the user.
type prompts struct {
	mu   sync.Mutex
	msgs []string
}

func (p *prompts) fn() hw.Prompter {
	return func(m string) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.msgs = append(p.msgs, m)
	}
}

func (p *prompts) all() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.msgs, "\n")
}

// writeHook calls before and after (when set) around each report
// written; the driver is its only writer.
type writeHook struct {
	transport.Transport
	before, after func(report []byte)
}

func (w *writeHook) Write(ctx context.Context, report []byte) error {
	if w.before != nil {
		w.before(report)
	}
	err := w.Transport.Write(ctx, report)
	if err == nil && w.after != nil {
		w.after(report)
	}
	return err
}

// isHWW reports whether a report is the first of an HWW message whose
// first payload byte is req and which is n bytes long.
func isHWW(report []byte, req byte, n int) bool {
	return len(report) > 7 && report[4] == cmdHWW && int(report[5])<<8|int(report[6]) == n && report[7] == req
}
