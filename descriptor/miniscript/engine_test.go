package miniscript

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// spendCtx is a one-input transaction spending a miniscript output, with
// everything btcd's script engine needs to verify the input.
type spendCtx struct {
	ctx      Context
	script   []byte
	pkScript []byte
	leaf     txscript.TapLeaf
	control  []byte
	amount   int64
}

func newSpendCtx(t *testing.T, n *Node, kb KeyBytes) *spendCtx {
	t.Helper()
	script, err := n.Script(kb)
	if err != nil {
		t.Fatal(err)
	}
	s := &spendCtx{ctx: n.Context(), script: script, amount: 100000}
	if s.ctx == P2WSH {
		h := sha256.Sum256(script)
		s.pkScript = append([]byte{txscript.OP_0, 32}, h[:]...)
		return s
	}
	var sk [32]byte
	sk[31] = 0x77
	internal, _ := btcec.PrivKeyFromBytes(sk[:])
	s.leaf = txscript.NewBaseTapLeaf(script)
	tree := txscript.AssembleTaprootScriptTree(s.leaf)
	root := tree.RootNode.TapHash()
	out := txscript.ComputeTaprootOutputKey(internal.PubKey(), root[:])
	s.pkScript = append([]byte{txscript.OP_1, 32}, schnorr.SerializePubKey(out)...)
	cb := tree.LeafMerkleProofs[0].ToControlBlock(internal.PubKey())
	if s.control, err = cb.ToBytes(); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *spendCtx) tx(l LockState) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash{1}, Index: 0}, Sequence: l.Sequence})
	tx.AddTxOut(wire.NewTxOut(s.amount-1000, []byte{txscript.OP_1}))
	tx.LockTime = l.LockTime
	return tx
}

// sign makes a real signature by the letter key name over tx.
func (s *spendCtx) sign(t *testing.T, tx *wire.MsgTx, name string) []byte {
	t.Helper()
	var sk [32]byte
	sk[31] = byte(name[0]-'A') + 1
	priv, _ := btcec.PrivKeyFromBytes(sk[:])
	fetcher := txscript.NewCannedPrevOutputFetcher(s.pkScript, s.amount)
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	var sig []byte
	var err error
	if s.ctx == P2WSH {
		sig, err = txscript.RawTxInWitnessSignature(tx, hashes, 0, s.amount, s.script, txscript.SigHashAll, priv)
	} else {
		sig, err = txscript.RawTxInTapscriptSignature(tx, hashes, 0, s.amount, s.pkScript, s.leaf, txscript.SigHashDefault, priv)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// verify runs the witness through btcd's script engine with the standard
// verification flags.
func (s *spendCtx) verify(tx *wire.MsgTx, stack [][]byte) error {
	w := append(wire.TxWitness{}, stack...)
	w = append(w, s.script)
	if s.ctx == Tapscript {
		w = append(w, s.control)
	}
	tx.TxIn[0].Witness = w
	fetcher := txscript.NewCannedPrevOutputFetcher(s.pkScript, s.amount)
	vm, err := txscript.NewEngine(s.pkScript, tx, 0, txscript.StandardVerifyFlags, nil,
		txscript.NewTxSigHashes(tx, fetcher), s.amount, fetcher)
	if err != nil {
		return err
	}
	return vm.Execute()
}

// TestSatisfyVerifiesInScriptEngine spends every non-malleable path of
// every sane expression of the cross-check table with real signatures and
// checks btcd's script engine accepts the witness; a signature short, the
// satisfier must refuse.
func TestSatisfyVerifiesInScriptEngine(t *testing.T) {
	keys := letterKeys(t)
	kb := letterBytes(keys)
	spent := 0
	for _, c := range jsCases {
		ctx := P2WSH
		if c.tap {
			ctx = Tapscript
		}
		name := fmt.Sprintf("%s[%s]", c.expr, ctx)
		n, err := Parse(expandDigests(c.expr), ctx, letterParser(keys))
		if err != nil || n.IsSane() != nil {
			continue
		}
		sc := newSpendCtx(t, n, kb)
		paths, err := n.Paths(kb, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, p := range paths {
			if !p.NonMalleable {
				continue
			}
			locks := pathLocks(p)
			tx := sc.tx(locks)
			sat := &Satisfier{Keys: kb, Signatures: map[string][]byte{}, Preimages: map[string][]byte{}, Locks: locks}
			for i, k := range p.Keys {
				sat.Signatures[hex.EncodeToString(p.PubKeys[i])] = sc.sign(t, tx, k.String())
			}
			for _, h := range p.Hashes {
				sat.Preimages[hex.EncodeToString(h)] = testPreimage
			}
			w, err := n.Satisfy(sat)
			if err != nil {
				t.Errorf("%s: path %v: %v", name, p.Keys, err)
				continue
			}
			if err := sc.verify(tx, w); err != nil {
				t.Errorf("%s: path %v: script engine: %v", name, p.Keys, err)
				continue
			}
			if sz := witnessBytes(w); sz > p.WitnessSize {
				t.Errorf("%s: witness %d bytes, over the path's %d", name, sz, p.WitnessSize)
			}
			if max, _ := n.MaxWitnessSize(); witnessBytes(w) > max {
				t.Errorf("%s: witness %d bytes, over MaxWitnessSize %d", name, witnessBytes(w), max)
			}
			spent++
			// One signature short, the path is not available; the
			// satisfier must either find another available path or
			// say what is missing.
			if len(p.Keys) > 0 {
				delete(sat.Signatures, hex.EncodeToString(p.PubKeys[0]))
				w2, err := n.Satisfy(sat)
				switch {
				case err == nil:
					if err := sc.verify(tx, w2); err != nil {
						t.Errorf("%s: fallback witness fails: %v", name, err)
					}
				case !errors.Is(err, ErrCannotSatisfy) && !errors.Is(err, ErrMalleableOnly):
					t.Errorf("%s: unexpected error %v", name, err)
				}
			}
		}
	}
	t.Logf("%d spending paths verified by btcd's script engine", spent)
	if spent < 150 {
		t.Errorf("only %d paths spent", spent)
	}
}
