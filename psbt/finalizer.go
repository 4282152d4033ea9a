package psbt

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// finalInput is the finished spend of one input.
type finalInput struct {
	scriptSig []byte
	witness   wire.TxWitness
	// used are the signatures put in, by key, for diagnosing a failure.
	used []usedSig
}

type usedSig struct{ pub, sig []byte }

// FinalizePacket is the BIP-174 Input Finalizer. For every input it checks
// the partial signatures (SIGHASH_ALL, strict DER, low S, a key of the
// script; one that fails is refused, never skipped), takes the first m of
// them in the order of the keys in the script, and builds the final
// scriptSig and witness: for sh "OP_0 <sigs> <redeemScript>", for sh-wsh
// the redeem script push and the witness [empty, sigs, witnessScript], for
// wsh that witness alone. Then it executes every input's script against
// its prevout with btcd's script engine and the standard verification
// flags, which verifies each signature used; signatures beyond the m used
// are verified separately. Only when every input passes is p changed:
// final_scriptsig and final_scriptwitness are set and, as BIP-174 says,
// every other input record except the UTXOs and unknown records is
// cleared. Inputs that are already finalized are kept and executed too.
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
	v := newWalletView(w)
	a := analyze(p)
	a.computeSighashes(func(i int) bool { return !a.in[i].finalized })

	finals := make([]finalInput, len(p.Inputs))
	errs := make([]error, len(p.Inputs))
	parallelFor(len(p.Inputs), func(i int) {
		finals[i], errs[i] = finalizeInput(p, a, v, i)
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}

	tx := p.UnsignedTx.Copy()
	for i, f := range finals {
		tx.TxIn[i].SignatureScript = f.scriptSig
		tx.TxIn[i].Witness = f.witness
	}
	// When an input fails, name the cosigner whose signature does not
	// verify rather than repeat the engine's opcode-level reason.
	diagnose := func(i int) error {
		for _, u := range finals[i].used {
			if err := verifySignature(a.in[i].sighash, u.pub, u.sig); err != nil {
				return invalidSig(v, &p.Inputs[i], i, u.pub, err)
			}
		}
		return nil
	}
	if err := executeScripts(tx, a, diagnose); err != nil {
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
		return finalizeTapInput(p, a, v, i)
	}
	bySlot, err := inputSigs(p, a, v, i, false)
	if err != nil {
		return finalInput{}, err
	}
	ms := st.spend.ms
	if len(bySlot) < ms.m {
		return finalInput{}, missingSigners(p, v, i, ms, bySlot)
	}
	// CHECKMULTISIG walks keys and signatures in script order; the first m
	// signers by key position make a valid set. Signatures left out are
	// still verified: an invalid one means a cosigner's copy is broken.
	f := finalInput{}
	sigs := make([][]byte, 0, ms.m)
	for slot, pub := range ms.keys {
		sig, ok := bySlot[slot]
		switch {
		case !ok:
		case len(sigs) < ms.m:
			sigs = append(sigs, sig)
			f.used = append(f.used, usedSig{pub: pub, sig: sig})
		default:
			if err := verifySignature(st.sighash, pub, sig); err != nil {
				return finalInput{}, invalidSig(v, in, i, pub, err)
			}
		}
	}
	witness := make(wire.TxWitness, 0, ms.m+2)
	witness = append(witness, nil) // the extra item CHECKMULTISIG pops
	witness = append(witness, sigs...)
	witness = append(witness, st.spend.script)

	switch st.spend.kind {
	case kindSh:
		b := txscript.NewScriptBuilder().AddOp(txscript.OP_0)
		for _, s := range sigs {
			b.AddData(s)
		}
		script, err := b.AddData(st.spend.script).Script()
		if err != nil {
			return finalInput{}, fmt.Errorf("%w: input %d: building the scriptSig: %v", ErrRefused, i, err)
		}
		f.scriptSig = script
	case kindShWsh:
		script, err := txscript.NewScriptBuilder().AddData(in.RedeemScript).Script()
		if err != nil {
			return finalInput{}, fmt.Errorf("%w: input %d: building the scriptSig: %v", ErrRefused, i, err)
		}
		f.scriptSig, f.witness = script, witness
	default:
		f.witness = witness
	}
	return f, nil
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

// executeScripts runs every input's scriptSig and witness against its
// prevout with the standard flags; the transaction is relayable only if
// all pass. diagnose, when given, explains a failing input better than the
// engine can.
func executeScripts(tx *wire.MsgTx, a *analysis, diagnose func(i int) error) error {
	errs := make([]error, len(tx.TxIn))
	parallelFor(len(tx.TxIn), func(i int) {
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
	return errors.Join(errs...)
}
