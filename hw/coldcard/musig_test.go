package coldcard

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	emu "github.com/countersign/countersign/hw/emulator/coldcard"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/psbt"
)

// muSigRig is the default taproot wallet (MuSig2 key path of the three
// keys, one sortedmulti_a leaf) enrolled on an emulated Coldcard at
// 6.5.0X, with the two software cosigners' nonce stores.
type muSigRig struct {
	r      *rig
	desc   *descriptor.Descriptor
	stores []*hwtest.MemNonces
}

func newMuSigRig(t *testing.T) *muSigRig {
	t.Helper()
	r := newRig(t, emu.Config{Firmware: "6.5.0X"}, Options{})
	d, err := descriptor.NewTaproot(2, r.w.desc.Keys, descriptor.TaprootOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Tap.Internal.IsMuSig() {
		t.Fatalf("not a MuSig2 key path: %s", d)
	}
	if _, err := r.cc.Register(testCtx(t), hwtest.Wallet(d, testNet, "vault")); err != nil {
		t.Fatal(err)
	}
	return &muSigRig{r: r, desc: d, stores: []*hwtest.MemNonces{nil, {}, {}}}
}

// spend builds a PSBT spending the wallet's first nIn receive addresses.
func (m *muSigRig) spend(t *testing.T, nIn int) *bpsbt.Packet {
	t.Helper()
	var utxos []psbt.UTXO
	var pre []wire.OutPoint
	var total int64
	for i := 0; i < nIn; i++ {
		der, err := m.desc.Derive(0, uint32(i), testNet)
		if err != nil {
			t.Fatal(err)
		}
		prev := wire.NewMsgTx(2)
		prev.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash{byte(i), 7}, Index: uint32(i)}, SignatureScript: []byte{0x51}, Sequence: wire.MaxTxInSequenceNum})
		value := int64(200000 + 1000*i)
		prev.AddTxOut(wire.NewTxOut(value, der.ScriptPubKey))
		op := wire.OutPoint{Hash: prev.TxHash(), Index: 0}
		utxos = append(utxos, psbt.UTXO{OutPoint: op, Value: value, Branch: 0, Index: uint32(i), PrevTx: prev, Confirmations: 6})
		pre = append(pre, op)
		total += value
	}
	p, _, err := psbt.Build(psbt.BuildRequest{
		Wallet:       psbt.WalletInfo{Descriptor: m.desc, Network: testNet},
		UTXOs:        utxos,
		Outputs:      []psbt.Output{{Script: append([]byte{txscript.OP_0, 20}, bytes.Repeat([]byte{0xab}, 20)...), Value: total / 2}},
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

func (m *muSigRig) soft(t *testing.T, p *bpsbt.Packet, k int) psbt.MuSig2Result {
	t.Helper()
	res, err := psbt.SignMuSig2(context.Background(), p, m.r.w.keys[k].master, m.stores[k])
	if err != nil {
		t.Fatalf("cosigner %d: %v", k, err)
	}
	return res
}

func (m *muSigRig) coldcard(t *testing.T, p *bpsbt.Packet) (*hw.SignResult, error) {
	t.Helper()
	return hw.NewSigner(m.r.cc).Sign(testCtx(t), p, hwtest.Wallet(m.desc, testNet, "vault"))
}

// records counts input i's BIP-373 records of keyType by the Coldcard.
func (m *muSigRig) records(p *bpsbt.Packet, i int, keyType byte) int {
	fp := binary.LittleEndian.Uint32(m.r.w.keys[0].fp[:])
	n := 0
	for _, u := range p.Inputs[i].Unknowns {
		if len(u.Key) == 67 && u.Key[0] == keyType && slices.ContainsFunc(p.Inputs[i].TaprootBip32Derivation, func(d *bpsbt.TaprootBip32Derivation) bool {
			return d.MasterKeyFingerprint == fp && bytes.Equal(d.XOnlyPubKey, u.Key[2:34])
		}) {
			n++
		}
	}
	return n
}

// TestMuSig2KeyPathWithColdcard: the emulated 6.5.0X Coldcard takes both
// MuSig2 rounds of the default taproot wallet's key path over USB with two
// software cosigners (psbt.SignMuSig2); its records come back under
// BIP-373's plain aggregate key (the firmware's are under the output key),
// verified by the adapter; the spend is finalized by the key path and
// btcd's script engine accepts it. A second round 2 on the PSBT it signed
// before (its session is gone) is refused with what to do.
func TestMuSig2KeyPathWithColdcard(t *testing.T) {
	m := newMuSigRig(t)
	// The device shows the wallet's addresses (BIP-390 aggregate, BIP-328
	// derivation, BIP-341 tweak), and knows the wallet when registered again.
	w := hwtest.Wallet(m.desc, testNet, "vault")
	for _, pos := range [][2]uint32{{0, 0}, {1, 7}} {
		der, err := m.desc.Derive(pos[0], pos[1], testNet)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := m.r.cc.DisplayAddress(testCtx(t), w, pos[0], pos[1]); err != nil || got != der.Address {
			t.Fatalf("address %v: %s, %v; want %s", pos, got, err, der.Address)
		}
	}
	if _, err := m.r.cc.Register(testCtx(t), w); err != nil {
		t.Fatalf("registered again: %v", err)
	}
	p := m.spend(t, 2)
	if r := m.soft(t, p, 1); r.Nonces != 2 {
		t.Fatalf("cosigner 1, round 1: %+v", r)
	}
	res, err := m.coldcard(t, p)
	if err != nil {
		t.Fatal(err)
	}
	p = res.PSBT
	if res.Added != 4 {
		t.Fatalf("Coldcard round 1: added %d, want 2 nonces and 2 leaf signatures", res.Added)
	}
	for i := range p.Inputs {
		if m.records(p, i, hw.MuSigPubNonceType) != 1 {
			t.Fatalf("input %d: no nonce of the Coldcard under BIP-373's key", i)
		}
	}
	// Cosigner 2's nonces are missing: the adapter does not ask.
	if res, err := m.coldcard(t, p); err != nil || !res.AlreadySigned || !res.WaitingMuSig2 {
		t.Fatalf("before every nonce is in: %+v, %v", res, err)
	}
	m.soft(t, p, 2)
	if r := m.soft(t, p, 1); r.PartialSigs != 2 {
		t.Fatalf("cosigner 1, round 2: %+v", r)
	}
	before, err := psbt.Clone(p)
	if err != nil {
		t.Fatal(err)
	}
	res, err = m.coldcard(t, p)
	if err != nil {
		t.Fatal(err)
	}
	p = res.PSBT
	if res.Added != 2 {
		t.Fatalf("Coldcard round 2: added %d, want 2 partial signatures", res.Added)
	}
	for i := range p.Inputs {
		if m.records(p, i, hw.MuSigPartialSigType) != 1 {
			t.Fatalf("input %d: no partial signature of the Coldcard", i)
		}
	}
	if res, err := m.coldcard(t, p); err != nil || !res.AlreadySigned || res.WaitingMuSig2 {
		t.Fatalf("after round 2: %+v, %v", res, err)
	}
	if r := m.soft(t, p, 2); r.PartialSigs != 2 {
		t.Fatalf("cosigner 2, round 2: %+v", r)
	}
	tx, err := psbt.Finalize(p, psbt.WalletInfo{Descriptor: m.desc, Network: testNet})
	if err != nil {
		t.Fatal(err)
	}
	fetch := txscript.NewMultiPrevOutFetcher(nil)
	for i, in := range tx.TxIn {
		fetch.AddPrevOut(in.PreviousOutPoint, p.Inputs[i].WitnessUtxo)
	}
	hashes := txscript.NewTxSigHashes(tx, fetch)
	for i, in := range tx.TxIn {
		if len(in.Witness) != 1 || len(in.Witness[0]) != 64 {
			t.Fatalf("input %d: witness %x, want one 64-byte key-path signature", i, in.Witness)
		}
		prev := p.Inputs[i].WitnessUtxo
		vm, err := txscript.NewEngine(prev.PkScript, tx, i, txscript.StandardVerifyFlags, nil, hashes, prev.Value, fetch)
		if err != nil {
			t.Fatal(err)
		}
		if err := vm.Execute(); err != nil {
			t.Fatalf("input %d: btcd's script engine: %v", i, err)
		}
	}
	// The PSBT before its round 2, again: the device's session is gone.
	_, err = m.coldcard(t, before)
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "no MuSig2 session for this transaction") {
		t.Fatalf("second round 2: %v", err)
	}
	t.Logf("second round 2: %v", err)
}

// TestMuSig2MixedRounds: a PSBT with the Coldcard's nonce in one input and
// not in the other, and one asking for a second partial-signature pass,
// get a clear refusal before the device is asked.
func TestMuSig2MixedRounds(t *testing.T) {
	m := newMuSigRig(t)
	p := m.spend(t, 2)
	res, err := m.coldcard(t, p)
	if err != nil {
		t.Fatal(err)
	}
	mixed, _ := psbt.Clone(res.PSBT)
	mixed.Inputs[1].Unknowns = dropType(mixed.Inputs[1].Unknowns, hw.MuSigPubNonceType)
	mixed.Inputs[1].TaprootScriptSpendSig = nil
	before := m.r.cc.Stats().RoundTrips
	_, err = m.coldcard(t, mixed) // behind the adapter, as `sign` does
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "two signing rounds") || !strings.Contains(err.Error(), "input(s) 1") {
		t.Fatalf("mixed rounds: %v", err)
	}
	t.Logf("mixed rounds: %v", err)
	if n := m.r.cc.Stats().RoundTrips - before; n > 4 {
		t.Errorf("%d round trips before the refusal", n)
	}
	// Its partial signatures in: the driver (asked directly, past the
	// adapter's own check) refuses a second partial-signature pass.
	p = res.PSBT
	m.soft(t, p, 1)
	m.soft(t, p, 2)
	res, err = m.coldcard(t, p)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.r.cc.SignPSBT(testCtx(t), res.PSBT, hwtest.Wallet(m.desc, testNet, "vault"))
	if err == nil || !strings.Contains(err.Error(), "already in the PSBT") {
		t.Fatalf("second partial-signature pass: %v", err)
	}
}

// Firmware before 6.5.0X refuses a musig() wallet, naming 6.5.0X.
func TestMuSig2NeedsFirmware(t *testing.T) {
	r := newRig(t, emu.Config{Firmware: "6.4.1X"}, Options{})
	d, err := descriptor.NewTaproot(2, r.w.desc.Keys, descriptor.TaprootOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.cc.Register(testCtx(t), hwtest.Wallet(d, testNet, "vault"))
	if !errors.Is(err, hw.ErrUnsupported) || !strings.Contains(err.Error(), "6.5.0X") || !strings.Contains(err.Error(), "--no-key-path") {
		t.Fatalf("6.4.1X: %v", err)
	}
}

func dropType(us []*bpsbt.Unknown, keyType byte) []*bpsbt.Unknown {
	var out []*bpsbt.Unknown
	for _, u := range us {
		if u != nil && len(u.Key) > 0 && u.Key[0] == keyType {
			continue
		}
		out = append(out, u)
	}
	return out
}

// The Coldcard last in round 2: the firmware then also writes the
// aggregate key-path signature, which the driver leaves out (the adapter
// takes key-path signatures only from the internal key's holder); its
// partial signatures are taken and the finalizer aggregates them.
func TestMuSig2ColdcardLast(t *testing.T) {
	m := newMuSigRig(t)
	res, err := m.coldcard(t, m.spend(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	p := res.PSBT
	for _, k := range []int{1, 2, 1, 2} {
		m.soft(t, p, k)
	}
	res, err = m.coldcard(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 2 {
		t.Fatalf("added %d, want 2 partial signatures", res.Added)
	}
	for i := range res.PSBT.Inputs {
		if len(res.PSBT.Inputs[i].TaprootKeySpendSig) != 0 {
			t.Fatalf("input %d: the device's key-path signature was kept", i)
		}
	}
	tx, err := psbt.Finalize(res.PSBT, psbt.WalletInfo{Descriptor: m.desc, Network: testNet})
	if err != nil {
		t.Fatal(err)
	}
	if w := tx.TxIn[0].Witness; len(w) != 1 || len(w[0]) != 64 {
		t.Fatalf("witness %x, want one key-path signature", w)
	}
}

// The unsigned PSBT signed twice on the Coldcard: the second pass finds
// the first's session without its nonce in the PSBT and the firmware
// refuses ("resign"), spending the session; the driver says what
// happened, and a third pass is a new round 1 with a new nonce.
func TestMuSig2SignedTwice(t *testing.T) {
	m := newMuSigRig(t)
	p := m.spend(t, 1)
	first, err := m.coldcard(t, p)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.coldcard(t, p)
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "resign") || !strings.Contains(err.Error(), "new round 1") {
		t.Fatalf("second round 1: %v", err)
	}
	third, err := m.coldcard(t, p)
	if err != nil {
		t.Fatal(err)
	}
	nonce := func(q *bpsbt.Packet) []byte {
		for _, u := range q.Inputs[0].Unknowns {
			if len(u.Key) == 67 && u.Key[0] == hw.MuSigPubNonceType {
				return u.Value
			}
		}
		return nil
	}
	if a, b := nonce(first.PSBT), nonce(third.PSBT); a == nil || b == nil || bytes.Equal(a, b) {
		t.Fatalf("nonces %x and %x, want two different ones", a, b)
	}
}
