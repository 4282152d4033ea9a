package psbt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2/schnorr/musig2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/descriptor"
)

// newTapWallet is an m-of-n taproot wallet of the default shape
// (descriptor.NewTaproot) with keys at m/48h/1h/0h/3h.
func newTapWallet(t testing.TB, m, n int) *testWallet {
	return newTapWalletWith(t, m, n, descriptor.TaprootOptions{})
}

func newTapWalletWith(t testing.TB, m, n int, opt descriptor.TaprootOptions) *testWallet {
	t.Helper()
	tw := &testWallet{}
	var keys []descriptor.Key
	for k := 0; k < n; k++ {
		seed := sha256.Sum256([]byte(fmt.Sprintf("countersign psbt taproot cosigner %d", k)))
		master, err := hdkeychain.NewMaster(seed[:], testNet)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := master.ECPubKey()
		var fp [4]byte
		copy(fp[:], btcutil.Hash160(pub.SerializeCompressed()))
		acct := master
		for _, s := range []uint32{48, 1, 0, 3} {
			if acct, err = acct.Derive(s + hdkeychain.HardenedKeyStart); err != nil {
				t.Fatal(err)
			}
		}
		xpub, _ := acct.Neuter()
		key, err := descriptor.ParseKey(fmt.Sprintf("[%s/48h/1h/0h/3h]%s/<0;1>/*", hex.EncodeToString(fp[:]), xpub))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
		tw.masters = append(tw.masters, master)
		tw.fps = append(tw.fps, fp)
		tw.info.Labels = append(tw.info.Labels, fmt.Sprintf("cosigner-%c", 'A'+k))
	}
	d, err := descriptor.NewTaproot(m, keys, opt)
	if err != nil {
		t.Fatal(err)
	}
	tw.info.Descriptor, tw.info.Network = d, testNet
	return tw
}

// memNonces is an in-memory NonceStore with the same erase-on-take rule as
// the software key's.
type memNonces struct {
	mu sync.Mutex
	m  map[[32]byte][musig2.SecNonceSize]byte
}

func (s *memNonces) Save(_ context.Context, id [32]byte, sec [musig2.SecNonceSize]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[[32]byte][musig2.SecNonceSize]byte{}
	}
	s.m[id] = sec
	return nil
}

func (s *memNonces) Take(_ context.Context, id [32]byte) ([musig2.SecNonceSize]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.m[id]
	if !ok {
		return sec, ErrNonceUsed
	}
	delete(s.m, id)
	return sec, nil
}

func buildTap(t *testing.T, tw *testWallet) *bpsbt.Packet {
	t.Helper()
	p, _, err := Build(BuildRequest{
		Wallet:       tw.info,
		UTXOs:        []UTXO{tw.utxo(t, 0, 3, 40_000_000, 1), tw.utxo(t, 0, 5, 30_000_000, 2)},
		Outputs:      []Output{{Script: externalScript(7), Value: 50_000_000}},
		FeeRate:      4,
		ChangeBranch: 1, ChangeIndex: 2,
		Rand: seeded(1),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTaprootScriptPath(t *testing.T) {
	tw := newTapWallet(t, 2, 3)
	p := buildTap(t, tw)
	in := &p.Inputs[0]
	if in.TaprootInternalKey == nil || in.TaprootMerkleRoot == nil || len(in.TaprootLeafScript) != 1 || len(in.TaprootBip32Derivation) < 4 || in.WitnessUtxo == nil || in.NonWitnessUtxo == nil {
		t.Fatalf("BIP-371 input fields missing: %+v", in)
	}
	parts := 0
	for _, u := range in.Unknowns {
		if u.Key[0] == inMuSigParticipants && len(u.Key) == 34 && len(u.Value) == 3*33 {
			parts++
		}
	}
	if parts != 1 {
		t.Fatalf("%d BIP-373 participants records, want 1 (the key path's 3 keys)", parts)
	}
	rep, err := Gate(p, tw.info, GateRules{VerifySignatures: true})
	if err != nil {
		t.Fatal(err)
	}
	change := 0
	for _, o := range rep.Outputs {
		if o.Kind == KindChange {
			change++
		}
	}
	if change != 1 || !rep.Inputs[0].Ours || rep.Inputs[0].Missing != 2 {
		t.Fatalf("report: %+v", rep)
	}
	// A PSBT another tool made with only the tap derivations is completed
	// by Update from the wallet, and then passes the gate.
	bare := clone(t, p)
	for i := range bare.Inputs {
		in := &bare.Inputs[i]
		in.TaprootInternalKey, in.TaprootMerkleRoot, in.TaprootLeafScript, in.Unknowns = nil, nil, nil, nil
	}
	up, err := Update(bare, tw.info, UpdateSource{})
	if err != nil || up.Inputs != 2 || len(up.Changes) == 0 {
		t.Fatalf("update: %v %+v", err, up)
	}
	if _, err := Gate(bare, tw.info, GateRules{}); err != nil {
		t.Fatalf("updated PSBT refused: %v", err)
	}
	if !bytes.Equal(mustSerialize(t, bare), mustSerialize(t, p)) {
		t.Fatal("Update does not restore the records Build wrote")
	}
	// Fee estimate: the worst path (the 2-of-3 leaf) is paid for.
	tw.sign(t, p, 0, 2)
	q := clone(t, p)
	tx, err := Finalize(q, tw.info)
	if err != nil {
		t.Fatal(err)
	}
	if len(tx.TxIn[0].Witness) != 5 {
		t.Fatalf("leaf witness of %d items", len(tx.TxIn[0].Witness))
	}
	if vs := actualVSize(tx); float64(rep.Fee)/float64(vs) < 4 {
		t.Fatalf("fee %d for vsize %d is below 4 sat/vB", rep.Fee, vs)
	}

	// A leaf swapped for another script is refused by the wallet rule.
	bad := clone(t, p)
	bad.Inputs[0].TaprootLeafScript[0].Script = append([]byte(nil), bad.Inputs[0].TaprootLeafScript[0].Script...)
	bad.Inputs[0].TaprootLeafScript[0].Script[1] ^= 1
	if _, err := Gate(bad, tw.info, GateRules{}); err == nil || !errors.Is(err, ErrRefused) {
		t.Fatalf("tampered leaf: %v", err)
	}
	// Change whose taproot tree is swapped is refused.
	bad = clone(t, p)
	for j := range bad.Outputs {
		if bad.Outputs[j].TaprootTapTree != nil {
			bad.Outputs[j].TaprootTapTree[len(bad.Outputs[j].TaprootTapTree)-2] ^= 1
		}
	}
	if _, err := Gate(bad, tw.info, GateRules{}); err == nil || !strings.Contains(err.Error(), "claims to be change") {
		t.Fatalf("tampered change tree: %v", err)
	}
	// A corrupted Schnorr signature is named and refused.
	bad = clone(t, p)
	bad.Inputs[0].TaprootScriptSpendSig[0].Signature[5] ^= 1
	if _, err := Gate(bad, tw.info, GateRules{VerifySignatures: true}); err == nil {
		t.Fatal("corrupted taproot signature accepted")
	}
	// One signature is not enough.
	one := buildTap(t, tw)
	tw.sign(t, one, 1)
	if err := FinalizePacket(one, tw.info); err == nil || !strings.Contains(err.Error(), "not yet signed by") {
		t.Fatalf("one signature: %v", err)
	}
}

func TestTaprootMuSig2(t *testing.T) {
	tw := newTapWallet(t, 2, 3)
	p := buildTap(t, tw)
	stores := []*memNonces{{}, {}, {}}
	ctx := context.Background()
	step := func(k int) MuSig2Result {
		t.Helper()
		r, err := SignMuSig2(ctx, p, tw.masters[k], stores[k])
		if err != nil {
			t.Fatalf("cosigner %d: %v", k, err)
		}
		return r
	}
	for k := range 3 {
		if r := step(k); r.Nonces != 2 || r.PartialSigs != 0 {
			t.Fatalf("round 1, cosigner %d: %+v", k, r)
		}
	}
	if r := muSigReport(p, analyze(p, nil), 0); r == nil || r.Nonces != 3 {
		t.Fatalf("after round 1: %+v", r)
	}
	// PSBT v2 (BIP-370) carries the BIP-371 and BIP-373 records: round 2
	// continues on a v2 round trip.
	v2, err := SerializeVersion(p, 2)
	if err != nil {
		t.Fatal(err)
	}
	back, ver, err := DecodeVersion(v2)
	if err != nil || ver != 2 {
		t.Fatalf("v2 round trip: version %d, %v", ver, err)
	}
	if r := muSigReport(back, analyze(back, nil), 1); r == nil || r.Nonces != 3 || len(back.Inputs[1].TaprootLeafScript) != 1 {
		t.Fatalf("after a v2 round trip: %+v", r)
	}
	p = back
	allNonces := clone(t, p)
	for k := range 3 {
		if r := step(k); r.PartialSigs != 2 {
			t.Fatalf("round 2, cosigner %d: %+v", k, r)
		}
	}
	// The same state again: the secret nonce is gone, the sign refused.
	if _, err := SignMuSig2(ctx, allNonces, tw.masters[0], stores[0]); err == nil || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "never reused") {
		t.Fatalf("second sign with the same nonce state: %v", err)
	}
	rep, err := Gate(p, tw.info, GateRules{VerifySignatures: true})
	if err != nil || !rep.ReadyToFinalize {
		t.Fatalf("gate: %v %+v", err, rep)
	}
	// A broken partial signature is named.
	bad := clone(t, p)
	for _, u := range bad.Inputs[0].Unknowns {
		if u.Key[0] == inMuSigPartialSig {
			u.Value[3] ^= 1
			break
		}
	}
	if err := FinalizePacket(bad, tw.info); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("broken partial signature: %v", err)
	}
	tx, err := Finalize(p, tw.info)
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range tx.TxIn {
		if len(in.Witness) != 1 || len(in.Witness[0]) != 64 {
			t.Fatalf("input %d: witness %d items, want the key path", i, len(in.Witness))
		}
	}
	if bytes.Equal(tx.TxIn[0].Witness[0], tx.TxIn[1].Witness[0]) {
		t.Fatal("two inputs share a signature")
	}
}

// TestTaprootLeafPerSubset: with one leaf per pair, two cosigners' spend
// uses their own 2-of-2 leaf: two signatures, no empty slot.
func TestTaprootLeafPerSubset(t *testing.T) {
	tw := newTapWalletWith(t, 2, 3, descriptor.TaprootOptions{LeafPerSubset: true})
	p := buildTap(t, tw)
	if len(p.Inputs[0].TaprootLeafScript) != 3 {
		t.Fatalf("%d leaves", len(p.Inputs[0].TaprootLeafScript))
	}
	tw.sign(t, p, 0, 2)
	tx, err := Finalize(p, tw.info)
	if err != nil {
		t.Fatal(err)
	}
	w := tx.TxIn[0].Witness
	if len(w) != 4 || len(w[0]) != 64 || len(w[1]) != 64 {
		t.Fatalf("witness of %d items, want two signatures, script, control block", len(w))
	}
}
