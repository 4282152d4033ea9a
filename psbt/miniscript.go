package psbt

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor/miniscript"
)

// Inputs of wsh(MINISCRIPT) wallets (issue 18). The witness script is
// decoded back into its miniscript (descriptor/miniscript.Decode), which
// lists every key the script checks: those are the input's keys for the
// signer, combiner and inspector, exactly as a multisig's are. What differs
// is how many signatures are needed, which depends on the spending path
// the transaction's nSequence and nLockTime open, and how the final witness
// is built: by the miniscript satisfier, which picks the cheapest
// non-malleable satisfaction from the signatures present.

// decodeMiniscript decodes a P2WSH witness script that is not a plain
// multisig. A pk_h key is not in the script, only its HASH160: it is found
// among the input's BIP-32 derivation keys.
func decodeMiniscript(in *bpsbt.PInput, script []byte) (*miniscript.Node, [][]byte, error) {
	byHash := map[string][]byte{}
	for _, d := range in.Bip32Derivation {
		if d != nil && len(d.PubKey) == 33 {
			byHash[string(btcutil.Hash160(d.PubKey))] = d.PubKey
		}
	}
	node, err := miniscript.Decode(script, miniscript.P2WSH, miniscript.DecodeOptions{
		KeyByHash: func(h []byte) (miniscript.Key, []byte, error) {
			pub, ok := byHash[string(h)]
			if !ok {
				return nil, nil, fmt.Errorf("the script checks a key by its hash %x and no BIP-32 derivation of the input has that key", h)
			}
			return miniscript.PubKey(pub), pub, nil
		},
	})
	if err != nil {
		return nil, nil, err
	}
	if err := node.IsSane(); err != nil {
		return nil, nil, err
	}
	var keys [][]byte
	for _, k := range node.AllKeys() {
		pub, err := miniscript.PubKeyBytes(k)
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, pub)
	}
	return node, keys, nil
}

// inputLocks is the lock state input i of tx offers the script.
func inputLocks(tx *wire.MsgTx, i int) miniscript.LockState {
	return miniscript.LockState{Sequence: tx.TxIn[i].Sequence, LockTime: tx.LockTime}
}

// miniscriptRequired is how many signatures the cheapest spending path
// open under locks needs; when no path is open (the transaction does not
// meet a locked path's lock and there is no unlocked one), what the
// cheapest path of all needs, so the count is never 0 for an unspendable
// input. It asks the satisfier with a stand-in signature for every key
// (it places signatures without verifying them), which stays linear in the
// script where listing every key combination would not.
func miniscriptRequired(n *miniscript.Node, keys [][]byte, locks miniscript.LockState) int {
	count := func(l miniscript.LockState) (int, bool) {
		sigs := make(map[string][]byte, len(keys))
		stand := make(map[string]bool, len(keys))
		for i, k := range keys {
			sig := make([]byte, 72)
			sig[0], sig[1], sig[2], sig[71] = 0x30, byte(i>>8), byte(i), 0x01
			sigs[hex.EncodeToString(k)] = sig
			stand[string(sig)] = true
		}
		stack, err := n.Satisfy(&miniscript.Satisfier{Keys: miniscript.PubKeyBytes, Signatures: sigs, Locks: l})
		if err != nil {
			return 0, false
		}
		c := 0
		for _, item := range stack {
			if stand[string(item)] {
				c++
			}
		}
		return c, true
	}
	if c, ok := count(locks); ok {
		return max(c, 1)
	}
	// Every lock met: the cheapest path of all. Height and time locks
	// never satisfy each other (BIP-65, BIP-68), so both kinds are tried:
	// the largest height lock, then the largest time lock (type flag,
	// nLockTime 0xfffffffe with a non-final input).
	best := 0
	for _, l := range []miniscript.LockState{{Sequence: 0x0000ffff, LockTime: 0x1dcd64ff}, {Sequence: 1<<22 | 0xffff, LockTime: 0xfffffffe}} {
		if c, ok := count(l); ok && (best == 0 || c < best) {
			best = c
		}
	}
	return max(best, 1)
}

// satisfyMiniscript builds the witness of a miniscript input from the
// verified signatures (by slot of ms.keys) and the transaction's locks.
func satisfyMiniscript(s *spend, bySlot map[int][]byte, locks miniscript.LockState) (wire.TxWitness, error) {
	sigs := make(map[string][]byte, len(bySlot))
	for slot, sig := range bySlot {
		sigs[hex.EncodeToString(s.ms.keys[slot])] = sig
	}
	stack, err := s.mini.Satisfy(&miniscript.Satisfier{Keys: miniscript.PubKeyBytes, Signatures: sigs, Locks: locks})
	if err != nil {
		return nil, err
	}
	witness := make(wire.TxWitness, 0, len(stack)+1)
	witness = append(witness, stack...)
	return append(witness, s.script), nil
}

// miniscriptInputSize is the worst-case size of a P2WSH input whose
// witness script is the miniscript n: its largest satisfaction and the
// script.
func miniscriptInputSize(n *miniscript.Node) (inputSize, error) {
	wit, ok := n.MaxWitnessSize()
	elems, ok2 := n.MaxWitnessElements()
	if !ok || !ok2 {
		return inputSize{}, errors.New("the miniscript has no satisfaction")
	}
	script := n.ScriptSize()
	w := compactSizeLen(elems+1) + wit + compactSizeLen(script) + script
	return inputSize{base: outPointSize + 1 + sequenceSize, witness: w}, nil
}

// signedSigs maps the hex of each key that signed (slots in signed) to its
// signature, for the satisfier.
func signedSigs(in *bpsbt.PInput, ms *multisig, signed map[int]bool) map[string][]byte {
	out := map[string][]byte{}
	for _, ps := range in.PartialSigs {
		if ps == nil {
			continue
		}
		if slot := ms.indexOf(ps.PubKey); slot >= 0 && signed[slot] {
			out[hex.EncodeToString(ps.PubKey)] = ps.Signature
		}
	}
	return out
}

// usableKeys are the keys of the spending paths the transaction's locks
// open: the cosigners whose signature can still help. A key only on a path
// still locked is not asked for.
func usableKeys(n *miniscript.Node, locks miniscript.LockState) map[string]bool {
	plan, _ := n.Plan(miniscript.PubKeyBytes, miniscript.PlanAssets{Locks: locks})
	if plan == nil {
		return nil
	}
	out := map[string]bool{}
	for _, p := range plan.Paths {
		if !p.Available || !p.NonMalleable {
			continue
		}
		for _, pub := range p.PubKeys {
			out[string(pub)] = true
		}
	}
	return out
}
