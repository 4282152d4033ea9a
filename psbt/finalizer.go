package psbt

import (
	"bytes"
	"fmt"
	"strings"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/internal/secp"
)

// finalInput is the finished spend of one input.
type finalInput struct {
	scriptSig []byte
	witness   wire.TxWitness
	// engine: run btcd's script engine on this input once built (a
	// miniscript's satisfaction; spendCheck knows multisig only).
	engine bool
}

// FinalizePacket is the BIP-174 Input Finalizer. For every input it checks
// every partial signature (SIGHASH_ALL, strict DER, low S, a key of the
// script, valid for the input's sighash; one that fails is refused, never
// skipped), takes the first m of them in the order of the keys in the
// script, and builds the final scriptSig and witness: for sh "OP_0 <sigs>
// <redeemScript>", for sh-wsh the redeem script push and the witness
// [empty, sigs, witnessScript], for wsh that witness alone. Each input so
// built is then checked for everything else btcd's script engine, with
// the standard verification flags, would check of it (spendCheck; the
// engine itself would try each signature against keys it does not belong
// to, a full ECDSA verification each time, about 1.5 per 3-of-5 input):
// finalizer_engine_test.go runs both on thousands of random inputs, valid
// and broken, and requires the same verdict. Inputs that were already
// finalized are executed with btcd's engine. Only when every input passes
// is p changed: final_scriptsig and final_scriptwitness are set and, as
// BIP-174 says, every other input record except the UTXOs and unknown
// records is cleared. (Extract, which broadcast runs, executes every
// input with btcd's engine again before a transaction leaves.)
//
// An input with too few signatures is refused (ErrRefused) naming the
// cosigners who have not signed, by fingerprint and label from w; an
// invalid signature is refused naming its cosigner.
func FinalizePacket(p *bpsbt.Packet, w WalletInfo) error {
	if err := checkShape(p); err != nil {
		return err
	}
	if len(p.Inputs) == 0 {
		return fmt.Errorf("%w: the PSBT has no inputs to finalize", ErrRefused)
	}
	w = w.withMemo()
	v := newWalletView(w)
	a := analyze(p, w.Memo)
	if err := w.Memo.checkKeys(p); err != nil {
		return err
	}
	a.computeSighashes(func(i int) bool { return !a.in[i].finalized })

	finals := make([]finalInput, len(p.Inputs))
	errs := make([]error, len(p.Inputs))
	parallelFor(len(p.Inputs), func(i int) {
		finals[i], errs[i] = finalizeInput(p, a, v, i)
	})
	if err := joinInputs(errs); err != nil {
		return err
	}

	tx := p.UnsignedTx.Copy()
	for i, f := range finals {
		tx.TxIn[i].SignatureScript = f.scriptSig
		tx.TxIn[i].Witness = f.witness
	}
	// The multisig inputs built here were checked by spendCheck; those
	// that came finalized, and miniscript satisfactions, run through
	// btcd's engine.
	if err := executeScripts(tx, a, func(i int) bool { return a.in[i].finalized || finals[i].engine }, nil); err != nil {
		return err
	}

	for i, f := range finals {
		in := &p.Inputs[i]
		if a.in[i].finalized {
			continue
		}
		var wit []byte
		if len(f.witness) > 0 {
			var b bytes.Buffer
			if err := bpsbt.WriteTxWitness(&b, f.witness); err != nil {
				return fmt.Errorf("input %d: serializing the witness: %w", i, err)
			}
			wit = b.Bytes()
		}
		*in = bpsbt.PInput{
			NonWitnessUtxo:     in.NonWitnessUtxo,
			WitnessUtxo:        in.WitnessUtxo,
			FinalScriptSig:     f.scriptSig,
			FinalScriptWitness: wit,
			Unknowns:           in.Unknowns,
		}
	}
	return nil
}

// Finalize runs FinalizePacket on p (changing it) and returns the network
// transaction, ready to broadcast.
func Finalize(p *bpsbt.Packet, w WalletInfo) (*wire.MsgTx, error) {
	if err := FinalizePacket(p, w); err != nil {
		return nil, err
	}
	// FinalizePacket has just executed every script; extracting does not
	// need to again.
	return extractTx(p)
}

// finalizeInput builds one input's final scripts.
func finalizeInput(p *bpsbt.Packet, a *analysis, v *walletView, i int) (finalInput, error) {
	in, st := &p.Inputs[i], &a.in[i]
	if st.finalized {
		return existingFinal(in, i)
	}
	if st.spend != nil && st.spend.kind == kindTr {
		// spendCheck knows multisig only: btcd's engine runs the taproot
		// witness built here (FinalizePacket).
		f, err := finalizeTapInput(p, a, v, i)
		f.engine = true
		return f, err
	}
	// Every signature is verified, also those left out: an invalid one
	// means a cosigner's copy is broken.
	bySlot, err := inputSigs(p, a, v, i, true)
	if err != nil {
		return finalInput{}, err
	}
	if st.spend.mini != nil {
		return finalizeMiniscript(p, a, v, i, bySlot)
	}
	if len(bySlot) < st.spend.ms.m {
		return finalInput{}, missingSigners(p, v, i, st.spend.ms, bySlot)
	}
	f, used, err := assemble(in, st.spend, bySlot)
	if err != nil {
		return finalInput{}, fmt.Errorf("%w: input %d: %v", ErrRefused, i, err)
	}
	if err := spendCheck(st.spend, used); err != nil {
		return finalInput{}, refuse(RuleSignature, fmt.Errorf("input %d (%s) does not validate: %v", i, p.UnsignedTx.TxIn[i].PreviousOutPoint, err))
	}
	return f, nil
}

// assemble builds the final scriptSig and witness of a multisig input
// from signatures by key position, with the first m of them in script
// order (CHECKMULTISIG walks keys and signatures in the same order, so the
// first m signers make a valid set), and returns the positions used.
func assemble(in *bpsbt.PInput, s *spend, bySlot map[int][]byte) (finalInput, []int, error) {
	var f finalInput
	sigs := make([][]byte, 0, s.ms.m)
	var used []int
	for slot := range s.ms.keys {
		if sig, ok := bySlot[slot]; ok && len(sigs) < s.ms.m {
			sigs = append(sigs, sig)
			used = append(used, slot)
		}
	}
	witness := make(wire.TxWitness, 0, len(sigs)+2)
	witness = append(witness, nil) // the extra item CHECKMULTISIG pops
	witness = append(witness, sigs...)
	witness = append(witness, s.script)

	switch s.kind {
	case kindSh:
		b := txscript.NewScriptBuilder().AddOp(txscript.OP_0)
		for _, sig := range sigs {
			b.AddData(sig)
		}
		script, err := b.AddData(s.script).Script()
		if err != nil {
			return finalInput{}, nil, fmt.Errorf("building the scriptSig: %v", err)
		}
		f.scriptSig = script
	case kindShWsh:
		script, err := txscript.NewScriptBuilder().AddData(in.RedeemScript).Script()
		if err != nil {
			return finalInput{}, nil, fmt.Errorf("building the scriptSig: %v", err)
		}
		f.scriptSig, f.witness = script, witness
	default:
		f.witness = witness
	}
	return f, used, nil
}

// finalizeMiniscript builds a miniscript input's witness with the
// satisfier. Every signature present was verified by inputSigs; the
// witness is run through btcd's engine by FinalizePacket.
func finalizeMiniscript(p *bpsbt.Packet, a *analysis, v *walletView, i int, bySlot map[int][]byte) (finalInput, error) {
	st := &a.in[i]
	locks := inputLocks(a.tx, i)
	witness, err := satisfyMiniscript(st.spend, bySlot, locks)
	if err != nil {
		if len(bySlot) < st.spend.ms.m {
			return finalInput{}, fmt.Errorf("%w; %v", missingSigners(p, v, i, st.spend.ms, bySlot), err)
		}
		return finalInput{}, fmt.Errorf("%w: input %d (%s) cannot be satisfied with the signatures present (nSequence 0x%08x, nLockTime %d): %v",
			ErrRefused, i, p.UnsignedTx.TxIn[i].PreviousOutPoint, locks.Sequence, locks.LockTime, err)
	}
	return finalInput{witness: witness, engine: true}, nil
}

// existingFinal reads an input a finalizer has already completed.
func existingFinal(in *bpsbt.PInput, i int) (finalInput, error) {
	f := finalInput{scriptSig: in.FinalScriptSig}
	if in.FinalScriptWitness != nil {
		wit, err := parseWitness(in.FinalScriptWitness)
		if err != nil {
			return finalInput{}, malformed("input %d: final scriptWitness: %v", i, err)
		}
		f.witness = wit
	}
	return f, nil
}

// missingSigners names, for the refusal, the cosigners whose keys in the
// input's script have not signed.
func missingSigners(p *bpsbt.Packet, v *walletView, i int, ms *multisig, bySlot map[int][]byte) error {
	in := &p.Inputs[i]
	var names []string
	for slot, pub := range ms.keys {
		if _, ok := bySlot[slot]; ok {
			continue
		}
		fp, label := v.cosigner(pub, nil, in.Bip32Derivation)
		names = append(names, describeCosigner(fp, label, pub))
	}
	return fmt.Errorf("%w: input %d (%s) has %d of the %d signatures it needs; not yet signed by: %s",
		ErrRefused, i, p.UnsignedTx.TxIn[i].PreviousOutPoint, len(bySlot), ms.m, strings.Join(names, ", "))
}

// executeScripts runs the scriptSig and witness of every input (every one
// which selects, when it is not nil) against its prevout with btcd's
// script engine and the standard flags; the transaction is relayable only
// if all pass. diagnose, when given, explains a failing input better than
// the engine can.
func executeScripts(tx *wire.MsgTx, a *analysis, which func(i int) bool, diagnose func(i int) error) error {
	errs := make([]error, len(tx.TxIn))
	parallelFor(len(tx.TxIn), func(i int) {
		if which != nil && !which(i) {
			return
		}
		st := &a.in[i]
		if st.prevOut == nil {
			errs[i] = fmt.Errorf("cannot check input %d: %w", i, st.prevErr)
			return
		}
		vm, err := txscript.NewEngine(st.prevOut.PkScript, tx, i, txscript.StandardVerifyFlags, nil, a.sigHashes, st.prevOut.Value, a.fetcher)
		if err == nil {
			err = vm.Execute()
		}
		if err == nil {
			return
		}
		if diagnose != nil {
			if d := diagnose(i); d != nil {
				errs[i] = d
				return
			}
		}
		errs[i] = refuse(RuleSignature, fmt.Errorf("input %d (%s) does not validate: %v", i, tx.TxIn[i].PreviousOutPoint, err))
	})
	return joinInputs(errs)
}

// Limits btcd's script engine enforces on the spends the finalizer builds
// (txscript's MaxScriptElementSize and MaxScriptSize, as in Bitcoin Core's
// script/script.h).
const (
	maxPushBytes     = 520   // one data push, so a P2SH redeem script
	maxWitnessScript = 10000 // a P2WSH witness script
)

// spendCheck is what btcd's script engine, with the standard verification
// flags, checks of a multisig spend assemble built beyond the signatures
// themselves: each one used (at the key positions used, in order) has been
// verified against the key at its position, for this input's sighash,
// with strict DER, low S and SIGHASH_ALL, before this is called; the
// dummy item is empty, the pushes minimal and the scripts hash to the
// prevout by construction.
//
// The engine's CHECKMULTISIG (txscript opcodeCheckMultiSig, after Bitcoin
// Core's EvalScript) takes keys from the last one in the script down and
// signatures from the last one down, trying the current signature on each
// key until one verifies; it stops when every signature has found a key,
// and fails when fewer keys are left than signatures. Every key it looks
// at must be a valid encoding and, in a segwit script, compressed
// (SCRIPT_VERIFY_WITNESS_PUBKEYTYPE); keys below the last one it reaches
// are never looked at. A signature verifies on the key at its position,
// and so on every key that is the same point (the same bytes, or the same
// key in the other encoding); walking the keys the same way with that as
// the match tells which keys the engine looks at. (Only a key made to
// verify another's signature, which no cosigner can sign with, could
// match sooner; the engine then looks at fewer keys than this walk and
// accepts whatever it accepts.) A P2SH redeem script is pushed, so it must
// fit one push; a witness script has its own limit.
func spendCheck(s *spend, used []int) error {
	switch {
	case s.kind == kindSh && len(s.script) > maxPushBytes:
		return fmt.Errorf("its redeem script is %d bytes, more than the %d bytes a scriptSig push can carry", len(s.script), maxPushBytes)
	case s.kind.segwit() && len(s.script) > maxWitnessScript:
		return fmt.Errorf("its witness script is %d bytes, more than the %d allowed", len(s.script), maxWitnessScript)
	case len(used) != s.ms.m:
		return fmt.Errorf("%d signatures for a %d-of-%d script", len(used), s.ms.m, len(s.ms.keys))
	}
	keys := s.ms.keys
	sig := len(used) - 1
	for k := len(keys) - 1; sig >= 0; k-- {
		if sig+1 > k+1 {
			return fmt.Errorf("the signatures are not in the order of the script's keys")
		}
		if !pubKeyEncoding(keys[k]) {
			return fmt.Errorf("key %d of its script (%x) is not a public key encoding", k, keys[k])
		}
		if s.kind.segwit() && len(keys[k]) != 33 {
			return fmt.Errorf("key %d of its script is uncompressed, which a segwit script may not use", k)
		}
		if samePoint(keys[k], keys[used[sig]]) {
			sig--
		}
	}
	return nil
}

// samePoint reports whether two public key encodings name the same point:
// equal bytes, or one compressed and one uncompressed (on the curve) with
// the same x and the y the compressed prefix says.
func samePoint(a, b []byte) bool {
	if len(a) == len(b) {
		return bytes.Equal(a, b)
	}
	if len(a) == 65 {
		a, b = b, a
	}
	if len(a) != 33 || len(b) != 65 || !bytes.Equal(a[1:33], b[1:33]) || a[0] != 0x02|b[64]&1 {
		return false
	}
	return secp.ValidPubKey(b)
}
