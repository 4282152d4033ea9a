package coordinator_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/chain"
	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/soft"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

var regtest = &chaincfg.RegressionNetParams

// fakeBackend is a plainly fake chain: a fixed tip and fee rate, and a
// record of what was broadcast. The regtest tests in cli are the real-node
// proof of these workflows.
type fakeBackend struct {
	mu        sync.Mutex
	height    int32
	feeRate   float64
	broadcast []*wire.MsgTx
	txs       map[chainhash.Hash]*wire.MsgTx // what Tx answers
}

func (b *fakeBackend) Network(context.Context) (*chaincfg.Params, error) { return regtest, nil }
func (b *fakeBackend) Tip(context.Context) (int32, chainhash.Hash, error) {
	return b.height, chainhash.Hash{1}, nil
}
func (b *fakeBackend) ListUnspent(context.Context, [][]byte) ([]chain.UTXO, error) { return nil, nil }
func (b *fakeBackend) History(context.Context, [][]byte) ([]chain.TxRef, error)    { return nil, nil }
func (b *fakeBackend) Tx(_ context.Context, id chainhash.Hash) (*wire.MsgTx, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if tx, ok := b.txs[id]; ok {
		return tx, nil
	}
	return nil, chain.ErrNotFound
}
func (b *fakeBackend) FeeRate(context.Context, int) (float64, error) { return b.feeRate, nil }
func (b *fakeBackend) Broadcast(_ context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.broadcast = append(b.broadcast, tx)
	return tx.TxHash(), nil
}

// rig is a coordinator over a fresh store, three software keys and a
// 2-of-3 wsh wallet "family" holding coins as a sync would have stored them.
type rig struct {
	c      *coordinator.Coordinator
	b      *fakeBackend
	keys   map[string]*soft.Signer
	wallet *coordinator.Wallet
}

const pass = "correct horse battery staple"

func newRig(t testing.TB, coins ...int64) *rig {
	t.Helper()
	return newRigScript(t, descriptor.ScriptWsh, coins...)
}

// newRigScript is newRig with the wallet's script type (tr: countersign's
// default taproot wallet).
func newRigScript(t testing.TB, script descriptor.ScriptType, coins ...int64) *rig {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := wallet.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := &fakeBackend{height: 200, feeRate: 2}
	r := &rig{b: b, keys: map[string]*soft.Signer{}}
	r.c = &coordinator.Coordinator{Store: st, BackendDefault: "fake://", OpenBackend: func(string, chain.OpenOptions) (chain.Backend, error) { return b, nil }}
	ks := soft.NewStore(dir + "/keys")
	if err := ks.SetWorkFactor(10); err != nil {
		t.Fatal(err)
	}
	var cos []coordinator.Cosigner
	for _, name := range []string{"alice", "bob", "carol"} {
		if _, _, err := ks.Generate(name, 12, regtest, []byte(pass)); err != nil {
			t.Fatal(err)
		}
		k, err := ks.Open(name, []byte(pass))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { k.Close() })
		r.keys[name] = k
		co, _, err := r.c.CosignerFromSigner(ctx, hw.NewSigner(k), script, regtest, 0)
		if err != nil {
			t.Fatal(err)
		}
		if co.Label != name {
			t.Fatalf("a software key's cosigner is labelled %q, want its name", co.Label)
		}
		cos = append(cos, co)
	}
	res, err := r.c.CreateWallet(ctx, coordinator.CreateRequest{Name: "family", Script: script, Threshold: 2, Cosigners: cos, Sorted: true, Network: regtest})
	if err != nil {
		t.Fatal(err)
	}
	r.wallet = res.Wallet
	r.fund(t, coins...)
	return r
}

// fund stores one funding transaction paying the wallet's receive
// addresses 0, 1, ... the given amounts, confirmed at height 100, as a sync
// would have stored it.
func (r *rig) fund(t testing.TB, amounts ...int64) {
	t.Helper()
	if len(amounts) == 0 {
		return
	}
	ctx := context.Background()
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{9}, Index: uint32(len(amounts))}, nil, nil))
	var us []wallet.UTXO
	for i, v := range amounts {
		d, err := r.wallet.Descriptor.Derive(0, uint32(i), regtest)
		if err != nil {
			t.Fatal(err)
		}
		tx.AddTxOut(wire.NewTxOut(v, d.ScriptPubKey))
		us = append(us, wallet.UTXO{OutPoint: wire.OutPoint{Index: uint32(i)}, Value: v, PkScript: d.ScriptPubKey, Branch: 0, Index: uint32(i), Height: 100})
	}
	var raw bytes.Buffer
	if err := tx.Serialize(&raw); err != nil {
		t.Fatal(err)
	}
	for i := range us {
		us[i].OutPoint.Hash = tx.TxHash()
	}
	var sum int64
	for _, v := range amounts {
		sum += v
	}
	err := r.c.Store.ApplySync(ctx, "family", wallet.SyncUpdate{Height: 200, Hash: chainhash.Hash{1}, UTXOs: us,
		Txs: []wallet.Tx{{TxID: tx.TxHash(), Height: 100, Raw: raw.Bytes(), Net: sum}}, ReceiveHighWater: uint32(len(amounts))})
	if err != nil {
		t.Fatal(err)
	}
}

func outside(t testing.TB, v int64) psbt.Output {
	t.Helper()
	a, err := btcutil.NewAddressWitnessScriptHash(bytes.Repeat([]byte{7}, 32), regtest)
	if err != nil {
		t.Fatal(err)
	}
	return psbt.Output{Address: a.EncodeAddress(), Value: v}
}

// TestSpendSignCombineFinalizeBroadcast walks one payment through every
// workflow without a node: the draft versions, the change index, every
// signature verified, the final transaction executed and recorded.
func TestSpendSignCombineFinalizeBroadcast(t *testing.T) {
	r := newRig(t, 300_000, 200_000)
	ctx := context.Background()
	sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 250_000)}, TargetBlocks: 6, Note: "supplier"})
	if err != nil {
		t.Fatal(err)
	}
	if sp.FeeSource == "--fee-rate" || sp.Report.FeeRate < 2 {
		t.Fatalf("fee from %q at %.2f sat/vB; want the backend's 2 sat/vB estimate", sp.FeeSource, sp.Report.FeeRate)
	}
	if !sp.Summary.ChangeUsed {
		t.Fatal("no change")
	}
	w, _ := r.c.Wallet(ctx, "family")
	if w.NextChange != 1 {
		t.Fatalf("next change index %d after a spend with change, want 1", w.NextChange)
	}

	var copies []*coordinator.SignOutcome
	for _, name := range []string{"alice", "carol"} {
		plan, err := r.c.PrepareSign(ctx, "", sp.PSBT, coordinator.GateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out, err := r.c.Sign(ctx, plan, hw.NewSigner(r.keys[name]))
		if err != nil {
			t.Fatalf("%s signs: %v", name, err)
		}
		if out.Added != len(sp.PSBT.Inputs) || out.Draft == nil || out.Draft.State != wallet.StateSigned {
			t.Fatalf("%s added %d, draft %+v", name, out.Added, out.Draft)
		}
		copies = append(copies, out)
	}
	comb, err := r.c.Combine(ctx, "", []*bpsbt.Packet{copies[0].PSBT, copies[1].PSBT}, coordinator.GateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !comb.Report.ReadyToFinalize {
		t.Fatal("two of three signatures are not enough?")
	}
	fin, err := r.c.Finalize(ctx, "", comb.PSBT, coordinator.GateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := psbt.Serialize(fin.PSBT)
	bc, err := r.c.Broadcast(ctx, "", raw, coordinator.GateOptions{})
	if err != nil || bc.TxID != fin.Tx.TxHash() || len(r.b.broadcast) != 1 {
		t.Fatalf("broadcast %v, %v (%d sent)", bc, err, len(r.b.broadcast))
	}
	drafts, err := r.c.Store.Drafts(ctx, "family")
	if err != nil {
		t.Fatal(err)
	}
	states := map[wallet.DraftState]int{}
	for _, d := range drafts {
		states[d.State]++
	}
	if states[wallet.StateBroadcast] != len(drafts) || len(drafts) < 4 {
		t.Fatalf("draft states after broadcast: %v", states)
	}
	bal, err := r.c.Balance(ctx, "family")
	if err != nil || bal.Confirmed != 0 {
		t.Fatalf("balance after spending every coin: %+v, %v", bal, err)
	}
}

// TestConcurrentSpendsGetDistinctChangeIndexes: 20 spends at once, each
// with its own change address; the counter ends at 20.
func TestConcurrentSpendsGetDistinctChangeIndexes(t *testing.T) {
	amounts := make([]int64, 20)
	for i := range amounts {
		amounts[i] = 100_000
	}
	r := newRig(t, amounts...)
	ctx := context.Background()
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			coin := r.coinAt(t, i)
			sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 40_000)}, UTXOs: []wire.OutPoint{coin}, FeeRate: 3})
			if err != nil {
				errs <- err
				return
			}
			for _, o := range sp.Report.Outputs {
				if o.Kind == psbt.KindChange {
					mu.Lock()
					if seen[o.Address] {
						errs <- fmt.Errorf("change address %s handed to two spends", o.Address)
					}
					seen[o.Address] = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	w, _ := r.c.Wallet(ctx, "family")
	if len(seen) != 20 || w.NextChange != 20 {
		t.Fatalf("%d distinct change addresses, next change index %d; want 20 and 20", len(seen), w.NextChange)
	}
}

// TestConcurrentSpendsNeverShareACoin: 20 spends at once, each choosing
// its own coins: no coin is in two drafts (a spend whose view of the live
// drafts went stale while it was built is built again).
func TestConcurrentSpendsNeverShareACoin(t *testing.T) {
	amounts := make([]int64, 20)
	for i := range amounts {
		amounts[i] = 100_000
	}
	r := newRig(t, amounts...)
	ctx := context.Background()
	var mu sync.Mutex
	spentBy := map[wire.OutPoint]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 40_000)}, FeeRate: 3})
			if err != nil {
				errs <- fmt.Errorf("spend %d: %w", i, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, in := range sp.PSBT.UnsignedTx.TxIn {
				if j, dup := spentBy[in.PreviousOutPoint]; dup {
					errs <- fmt.Errorf("coin %s is in spend %d and spend %d", in.PreviousOutPoint, j, i)
				}
				spentBy[in.PreviousOutPoint] = i
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	drafts, _ := r.c.Store.Drafts(ctx, "family")
	if len(drafts) != 20 {
		t.Fatalf("%d drafts, want 20", len(drafts))
	}
}

// TestCreateDraftRefusesAStaleView: a draft built before another was saved
// is refused with wallet.ErrStale, and nothing of it is stored.
func TestCreateDraftRefusesAStaleView(t *testing.T) {
	r := newRig(t, 100_000, 100_000)
	ctx := context.Background()
	seen, err := r.c.Store.NewestDraftSeq(ctx, "family")
	if err != nil || seen != 0 {
		t.Fatalf("newest draft of a wallet without drafts: %d, %v", seen, err)
	}
	if _, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 40_000)}, FeeRate: 3}); err != nil {
		t.Fatal(err)
	}
	_, err = r.c.Store.CreateDraft(ctx, "family", func(uint32) (*wallet.Draft, bool, error) {
		return &wallet.Draft{TxID: chainhash.Hash{1}, PSBT: []byte("stale view"), SeenUpTo: &seen}, true, nil
	})
	if !errors.Is(err, wallet.ErrStale) {
		t.Fatalf("a draft built from a stale view: %v, want wallet.ErrStale", err)
	}
	drafts, _ := r.c.Store.Drafts(ctx, "family")
	w, _ := r.c.Wallet(ctx, "family")
	if len(drafts) != 1 || w.NextChange != 1 {
		t.Fatalf("after the refusal: %d drafts, next change %d; want 1 and 1", len(drafts), w.NextChange)
	}
}

func (r *rig) coinAt(t *testing.T, i int) wire.OutPoint {
	us, err := r.c.Store.UTXOs(context.Background(), "family")
	if err != nil {
		t.Error(err)
		return wire.OutPoint{}
	}
	sort.Slice(us, func(a, b int) bool { return us[a].Index < us[b].Index })
	return us[i].OutPoint
}

// TestSpendRefusalsChangeNothing: a refused spend leaves no draft and the
// change counter where it was.
func TestSpendRefusalsChangeNothing(t *testing.T) {
	r := newRig(t, 100_000)
	ctx := context.Background()
	for name, req := range map[string]coordinator.SpendRequest{
		"absurd fee":   {Wallet: "family", Outputs: []psbt.Output{outside(t, 10_000)}, FeeRate: 5000},
		"not enough":   {Wallet: "family", Outputs: []psbt.Output{outside(t, 500_000)}, FeeRate: 2},
		"dust payment": {Wallet: "family", Outputs: []psbt.Output{outside(t, 10)}, FeeRate: 2},
	} {
		if _, err := r.c.Spend(ctx, req); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	drafts, _ := r.c.Store.Drafts(ctx, "family")
	w, _ := r.c.Wallet(ctx, "family")
	if len(drafts) != 0 || w.NextChange != 0 {
		t.Fatalf("refused spends left %d drafts, next change %d", len(drafts), w.NextChange)
	}
	if _, err := newRig(t).c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 1000)}, FeeRate: 2}); !errors.Is(err, coordinator.ErrNoCoins) {
		t.Fatalf("spend from an empty wallet: %v, want ErrNoCoins", err)
	}
}

// TestSignRefusesBeforeTheSigner: PrepareSign refuses what the wallet
// cannot explain, so no signer is ever opened for it.
func TestSignRefusesBeforeTheSigner(t *testing.T) {
	r := newRig(t, 100_000)
	ctx := context.Background()
	sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 50_000)}, FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := psbt.Clone(sp.PSBT)
	for j, o := range p.UnsignedTx.TxOut {
		if len(p.Outputs[j].Bip32Derivation) > 0 {
			o.PkScript = append([]byte{txscript.OP_0, 32}, bytes.Repeat([]byte{0xee}, 32)...)
		}
	}
	if _, err := r.c.PrepareSign(ctx, "", p, coordinator.GateOptions{}); !errors.Is(err, psbt.ErrRefused) || !strings.Contains(err.Error(), "swapped") {
		t.Fatalf("swapped change: %v", err)
	}
}

// TestWalletFor finds the wallet of a PSBT among several, by fingerprints
// and then by deriving, and says when it cannot.
func TestWalletFor(t *testing.T) {
	r := newRig(t, 100_000)
	ctx := context.Background()
	// A second wallet of two of the same keys and one other.
	other, err := descriptor.Parse(strings.Replace(r.wallet.Descriptor.String()[:strings.Index(r.wallet.Descriptor.String(), "#")], "sortedmulti(2", "sortedmulti(1", 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.CreateWallet(ctx, coordinator.CreateRequest{Name: "other", Descriptor: other, Network: regtest}); err != nil {
		t.Fatal(err)
	}
	sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 50_000)}, FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	w, err := r.c.WalletFor(ctx, "", sp.PSBT)
	if err != nil || w.Name != "family" {
		t.Fatalf("detected %v, %v; want family", w, err)
	}
	// Naming a wallet the PSBT does not spend from is refused: its draft
	// would be saved under the wrong wallet.
	if _, err := r.c.WalletFor(ctx, "other", sp.PSBT); !errors.Is(err, coordinator.ErrNotThisWallet) {
		t.Fatalf("named wallet of another PSBT: %v", err)
	}
	if w, err := r.c.WalletFor(ctx, "family", sp.PSBT); err != nil || w.Name != "family" {
		t.Fatalf("named wallet: %v, %v", w, err)
	}
	stranger := newRig(t, 100_000)
	sp2, err := stranger.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 50_000)}, FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.WalletFor(ctx, "", sp2.PSBT); !errors.Is(err, coordinator.ErrNoWallet) {
		t.Fatalf("a stranger's PSBT: %v, want ErrNoWallet", err)
	}
}

// TestImportRefusalStoresNothing: a file whose wallet cannot derive is
// refused before anything is stored.
func TestImportRefusalStoresNothing(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	k := r.wallet.Descriptor.Keys[0]
	bad := fmt.Sprintf("wsh(sortedmulti(1,%s/1h/<0;1>/*))", strings.SplitN(k.String(), "/<", 2)[0])
	if _, err := r.c.ImportWallet(ctx, coordinator.ImportRequest{Name: "hardened", Data: []byte(bad), Network: regtest}); !errors.Is(err, descriptor.ErrInvalid) {
		t.Fatalf("import of a descriptor with a hardened step after the xpub: %v", err)
	}
	if _, err := r.c.Wallet(ctx, "hardened"); !errors.Is(err, wallet.ErrNotFound) {
		t.Fatalf("the refused wallet was stored: %v", err)
	}
}
