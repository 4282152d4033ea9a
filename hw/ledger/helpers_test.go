package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/tyler-smith/go-bip39"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	emu "github.com/countersign/countersign/hw/emulator/ledger"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/hw/transport"
	"github.com/countersign/countersign/psbt"
)

const testMnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

var testNet = &chaincfg.TestNet3Params

// requests records what the emulated user was asked, and answers with
// approve (true unless set).
type user struct {
	mu     sync.Mutex
	seen   []emu.Request
	refuse bool
}

func (u *user) approve(_ context.Context, r emu.Request) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.seen = append(u.seen, r)
	return !u.refuse
}

func (u *user) setRefuse(b bool) {
	u.mu.Lock()
	u.refuse = b
	u.mu.Unlock()
}

func (u *user) kinds() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for _, r := range u.seen {
		out = append(out, r.Kind)
	}
	return out
}

// startEmulator serves an emulator on a loopback port until the test ends.
func startEmulator(t testing.TB, cfg emu.Config) (*emu.Emulator, string) {
	t.Helper()
	if cfg.Mnemonic == "" {
		cfg.Mnemonic = testMnemonic
	}
	e, err := emu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("emulator: %v", err)
		}
	})
	return e, ln.Addr().String()
}

// dial opens the driver on an emulator's port.
func dial(t testing.TB, addr string, opts Options) (*session, error) {
	t.Helper()
	s, err := transport.DialTCP(context.Background(), addr, SpeculosOptions)
	if err != nil {
		t.Fatal(err)
	}
	opts.Endpoint = endpointFor(addr)
	d, err := Open(context.Background(), SpeculosLink(s), opts)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { d.Close() })
	return &session{Ledger: d}, nil
}

// session is a Ledger as the coordinator uses it: the registration token it
// keeps in the store goes with every call that needs one, and signing goes
// through the hw.Signer adapter.
type session struct {
	*Ledger
	token []byte
}

func (s *session) UseToken(token []byte) { s.token = token }

func (s *session) wallet(d *descriptor.Descriptor, net *chaincfg.Params, name string) *hw.Wallet {
	w := hwtest.Wallet(d, net, name)
	w.Token = s.token
	return w
}

func (s *session) Register(ctx context.Context, d *descriptor.Descriptor, net *chaincfg.Params, name string) ([]byte, error) {
	return s.Ledger.Register(ctx, s.wallet(d, net, name))
}

func (s *session) DisplayAddress(ctx context.Context, d *descriptor.Descriptor, net *chaincfg.Params, name string, branch, index uint32) (string, error) {
	return s.Ledger.DisplayAddress(ctx, s.wallet(d, net, name), branch, index)
}

func (s *session) Sign(ctx context.Context, p *bpsbt.Packet, d *descriptor.Descriptor, net *chaincfg.Params, name string) (*bpsbt.Packet, error) {
	return hwtest.SignWithToken(ctx, s.Ledger, p, d, net, name, s.token)
}

func mustDial(t testing.TB, addr string) *session {
	t.Helper()
	d, err := dial(t, addr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// deviceMaster is the emulator's master key, computed here from the
// mnemonic independently of the emulator.
func deviceMaster(t testing.TB) *hdkeychain.ExtendedKey {
	t.Helper()
	m, err := hdkeychain.NewMaster(bip39.NewSeed(testMnemonic, ""), testNet)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func fingerprintOf(t testing.TB, k *hdkeychain.ExtendedKey) [4]byte {
	t.Helper()
	pub, err := k.ECPubKey()
	if err != nil {
		t.Fatal(err)
	}
	var fp [4]byte
	copy(fp[:], btcutil.Hash160(pub.SerializeCompressed()))
	return fp
}

func derivePath(t testing.TB, k *hdkeychain.ExtendedKey, path []uint32) *hdkeychain.ExtendedKey {
	t.Helper()
	for _, s := range path {
		var err error
		if k, err = k.Derive(s); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// testWallet is an m-of-3 wallet: key 0 is the device's, keys 1 and 2
// software cosigners.
type testWallet struct {
	desc    *descriptor.Descriptor
	masters []*hdkeychain.ExtendedKey
}

func newTestWallet(t testing.TB, script descriptor.ScriptType, m int, sorted bool) *testWallet {
	t.Helper()
	scriptIdx := map[descriptor.ScriptType]uint32{descriptor.ScriptSh: 0, descriptor.ScriptShWsh: 1, descriptor.ScriptWsh: 2}[script]
	// BIP-48 has no script type for plain sh: use 0' as most coordinators do.
	path := []uint32{48 + hardened, 1 + hardened, hardened, scriptIdx + hardened}
	w := &testWallet{masters: []*hdkeychain.ExtendedKey{deviceMaster(t)}}
	for k := 1; k < 3; k++ {
		seed := sha256.Sum256([]byte(fmt.Sprintf("countersign ledger test cosigner %d", k)))
		master, err := hdkeychain.NewMaster(seed[:], testNet)
		if err != nil {
			t.Fatal(err)
		}
		w.masters = append(w.masters, master)
	}
	var keys []string
	for _, master := range w.masters {
		fp := fingerprintOf(t, master)
		xpub, err := derivePath(t, master, path).Neuter()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, fmt.Sprintf("[%s/48h/1h/0h/%dh]%s/<0;1>/*", hex.EncodeToString(fp[:]), scriptIdx, xpub))
	}
	fn := "multi"
	if sorted {
		fn = "sortedmulti"
	}
	body := fmt.Sprintf("%s(%d,%s)", fn, m, strings.Join(keys, ","))
	switch script {
	case descriptor.ScriptSh:
		body = "sh(" + body + ")"
	case descriptor.ScriptShWsh:
		body = "sh(wsh(" + body + "))"
	case descriptor.ScriptWsh:
		body = "wsh(" + body + ")"
	}
	d, err := descriptor.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	w.desc = d
	return w
}

// externalScript is a P2WPKH script to someone else.
func externalScript(tag byte) []byte {
	s := []byte{0x00, 0x14}
	for i := 0; i < 20; i++ {
		s = append(s, tag)
	}
	return s
}

// spend builds a PSBT spending nIn coins of the wallet (receive indexes
// 0..nIn-1) to an external output, with change, through countersign's own
// PSBT builder.
func (w *testWallet) spend(t testing.TB, nIn int) *bpsbt.Packet {
	t.Helper()
	var utxos []psbt.UTXO
	var pre []wire.OutPoint
	var total int64
	for i := 0; i < nIn; i++ {
		der, err := w.desc.Derive(0, uint32(i), testNet)
		if err != nil {
			t.Fatal(err)
		}
		prev := wire.NewMsgTx(2)
		var h chainhash.Hash
		h[0], h[1] = byte(i), byte(i>>8)
		prev.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: h, Index: uint32(i)}, SignatureScript: []byte{0x51}, Sequence: wire.MaxTxInSequenceNum})
		prev.AddTxOut(wire.NewTxOut(1000+int64(i), []byte{0x51}))
		value := int64(200000 + 1000*i)
		prev.AddTxOut(wire.NewTxOut(value, der.ScriptPubKey))
		op := wire.OutPoint{Hash: prev.TxHash(), Index: 1}
		utxos = append(utxos, psbt.UTXO{OutPoint: op, Value: value, Branch: 0, Index: uint32(i), PrevTx: prev, Confirmations: 6})
		pre = append(pre, op)
		total += value
	}
	p, _, err := psbt.Build(psbt.BuildRequest{
		Wallet:       psbt.WalletInfo{Descriptor: w.desc, Network: testNet},
		UTXOs:        utxos,
		Outputs:      []psbt.Output{{Script: externalScript(0xab), Value: total / 2}},
		Preselected:  pre,
		FeeRate:      2,
		ChangeBranch: 1,
		ChangeIndex:  4,
		Rand:         rand.New(rand.NewPCG(1, 2)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
