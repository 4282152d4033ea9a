package psbt

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// The finalizer checks the inputs it builds with spendCheck and verified
// signatures instead of running btcd's script engine on them (see
// FinalizePacket). This file is the proof that the two agree: thousands
// of random multisig inputs, valid and broken, each assembled as the
// finalizer assembles it, judged by both.

// engineCase is one random multisig input in a transaction of a few.
type engineCase struct {
	desc string
	p    *bpsbt.Packet
	i    int // the input under test
}

// multisigScript writes "m <keys> n OP_CHECKMULTISIG" with counts above 16
// as one-byte pushes, as descriptors do.
func multisigScript(m int, keys [][]byte) []byte {
	b := txscript.NewScriptBuilder()
	count := func(v int) {
		if v <= 16 {
			b.AddOp(byte(txscript.OP_1 - 1 + v))
		} else {
			b.AddData([]byte{byte(v)})
		}
	}
	count(m)
	for _, k := range keys {
		b.AddData(k)
	}
	count(len(keys))
	script, err := b.AddOp(txscript.OP_CHECKMULTISIG).Script()
	if err != nil {
		panic(err)
	}
	return script
}

// randomEngineCase builds a PSBT whose input i spends an m-of-n multisig
// of a random script type, with keys sometimes uncompressed or repeated,
// signed by a random set of cosigners; some signatures are then broken
// (made for another amount, by another key, for another input, or for
// another sighash type).
func randomEngineCase(t *testing.T, rng *rand.Rand) engineCase {
	t.Helper()
	kind := []scriptKind{kindWsh, kindShWsh, kindSh}[rng.IntN(3)]
	n := 1 + rng.IntN(20)
	m := 1 + rng.IntN(n)
	privs := make([]*btcec.PrivateKey, n)
	keys := make([][]byte, n)
	for k := range privs {
		if k > 0 && rng.IntN(12) == 0 {
			privs[k] = privs[rng.IntN(k)] // the same key twice
		} else {
			var err error
			if privs[k], err = btcec.NewPrivateKey(); err != nil {
				t.Fatal(err)
			}
		}
		keys[k] = privs[k].PubKey().SerializeCompressed()
		if rng.IntN(40) == 0 {
			keys[k] = privs[k].PubKey().SerializeUncompressed()
		}
	}
	script := multisigScript(m, keys)
	var pkScript, redeem []byte
	switch kind {
	case kindWsh:
		h := sha256.Sum256(script)
		pkScript = append([]byte{txscript.OP_0, txscript.OP_DATA_32}, h[:]...)
	case kindShWsh:
		h := sha256.Sum256(script)
		redeem = append([]byte{txscript.OP_0, txscript.OP_DATA_32}, h[:]...)
		pkScript = append(append([]byte{txscript.OP_HASH160, txscript.OP_DATA_20}, btcutil.Hash160(redeem)...), txscript.OP_EQUAL)
	case kindSh:
		redeem = script
		pkScript = append(append([]byte{txscript.OP_HASH160, txscript.OP_DATA_20}, btcutil.Hash160(redeem)...), txscript.OP_EQUAL)
	}
	nIn := 1 + rng.IntN(3)
	i := rng.IntN(nIn)
	tx := wire.NewMsgTx(2)
	prevs := make([]*wire.MsgTx, nIn)
	for k := range prevs {
		prev := wire.NewMsgTx(2)
		prev.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{byte(rng.Uint32()), byte(k)}}, nil, nil))
		out := pkScript
		if k != i {
			out = append([]byte{txscript.OP_0, txscript.OP_DATA_20}, make([]byte, 20)...)
		}
		prev.AddTxOut(wire.NewTxOut(10_000+rng.Int64N(1_000_000), out))
		prevs[k] = prev
		tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: prev.TxHash()}, nil, nil))
	}
	tx.AddTxOut(wire.NewTxOut(5_000, append([]byte{txscript.OP_0, txscript.OP_DATA_20}, make([]byte, 20)...)))
	p, err := bpsbt.NewFromUnsignedTx(tx)
	if err != nil {
		t.Fatal(err)
	}
	in := &p.Inputs[i]
	in.NonWitnessUtxo = prevs[i]
	if kind.segwit() {
		in.WitnessUtxo = prevs[i].TxOut[0]
		in.WitnessScript = script
	}
	in.RedeemScript = redeem
	amount := prevs[i].TxOut[0].Value
	sighash := func(forAmount int64, idx int, ht txscript.SigHashType) []byte {
		fetcher := txscript.NewCannedPrevOutputFetcher(pkScript, forAmount)
		if kind.segwit() {
			h, err := txscript.CalcWitnessSigHash(script, txscript.NewTxSigHashes(tx, fetcher), ht, tx, idx, forAmount)
			if err != nil {
				t.Fatal(err)
			}
			return h
		}
		h, err := txscript.CalcSignatureHash(script, ht, tx, idx)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	sign := func(priv *btcec.PrivateKey, h []byte, ht txscript.SigHashType) []byte {
		return append(ecdsa.Sign(priv, h).Serialize(), byte(ht))
	}
	// Signers: usually at least m of them, sometimes every one.
	order := rng.Perm(n)
	signers := order[:min(n, m+rng.IntN(3))]
	var broke []string
	for _, k := range signers {
		if hasSigFor(in, keys[k]) {
			continue // a repeated key signs once
		}
		sig := sign(privs[k], sighash(amount, i, txscript.SigHashAll), txscript.SigHashAll)
		if rng.IntN(10) == 0 {
			switch rng.IntN(4) {
			case 0:
				sig = sign(privs[k], sighash(amount+1, i, txscript.SigHashAll), txscript.SigHashAll)
				broke = append(broke, "another amount")
			case 1:
				other, _ := btcec.NewPrivateKey()
				sig = sign(other, sighash(amount, i, txscript.SigHashAll), txscript.SigHashAll)
				broke = append(broke, "another key")
			case 2:
				if nIn > 1 {
					sig = sign(privs[k], sighash(amount, (i+1)%nIn, txscript.SigHashAll), txscript.SigHashAll)
					broke = append(broke, "another input")
				}
			case 3:
				sig = sign(privs[k], sighash(amount, i, txscript.SigHashNone), txscript.SigHashNone)
				broke = append(broke, "SIGHASH_NONE")
			}
		}
		in.PartialSigs = append(in.PartialSigs, &bpsbt.PartialSig{PubKey: keys[k], Signature: sig})
	}
	desc := fmt.Sprintf("%s %d-of-%d, input %d of %d, %d signers, broken: %v", kind, m, n, i, nIn, len(in.PartialSigs), broke)
	return engineCase{desc: desc, p: p, i: i}
}

// engineVerdict runs btcd's script engine, standard flags, on input i of
// tx as the finalizer would finalize it.
func engineVerdict(a *analysis, tx *wire.MsgTx, i int) error {
	st := &a.in[i]
	vm, err := txscript.NewEngine(st.prevOut.PkScript, tx, i, txscript.StandardVerifyFlags, nil, a.sigHashes, st.prevOut.Value, a.fetcher)
	if err != nil {
		return err
	}
	return vm.Execute()
}

// TestSpendCheckAgreesWithEngine assembles every random input the way the
// finalizer does, from the signatures present that pass the encoding
// rules, and requires: the finalizer's verdict (every signature used
// verifies for its key, and spendCheck passes) is btcd's script engine's
// verdict on the same transaction. Inputs with fewer signatures than they
// need are skipped (nothing to assemble). Then the finalizer's step for
// the input (finalizeInput, what FinalizePacket runs on each) must succeed
// exactly when the engine accepts and no partial signature is invalid.
func TestSpendCheckAgreesWithEngine(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	cases := 4000
	if testing.Short() {
		cases = 600
	}
	var accepted, refused int
	// The engine's reasons for refusing: ErrNullFail is a signature that
	// does not verify (CHECKMULTISIG failed with signatures present).
	why := map[string]int{}
	for c := 0; c < cases; c++ {
		ec := randomEngineCase(t, rng)
		p, i := ec.p, ec.i
		a := analyze(p, nil)
		a.computeSighashes(func(int) bool { return true })
		st := &a.in[i]
		if st.spend == nil {
			t.Fatalf("%s: scripts do not resolve: %v %v", ec.desc, st.prevErr, st.spendErr)
		}
		// What the finalizer checks, and the signatures it would put in.
		bySlot := map[int][]byte{}
		sigsOK := true
		for _, ps := range p.Inputs[i].PartialSigs {
			if checkSigEncoding(ps.Signature) != nil {
				sigsOK = false // refused before anything is assembled
				continue
			}
			bySlot[st.spend.ms.indexOf(ps.PubKey)] = ps.Signature
		}
		if len(bySlot) < st.spend.ms.m {
			continue
		}
		f, used, ours := assemble(&p.Inputs[i], st.spend, bySlot)
		if ours != nil {
			// btcd's script builder will not push more than 520 bytes: a
			// P2SH redeem script that large cannot be spent. Build the
			// scriptSig without the builder's check, for the engine.
			if st.spend.kind != kindSh || len(st.spend.script) <= maxPushBytes {
				t.Fatalf("%s: %v", ec.desc, ours)
			}
			b := txscript.NewScriptBuilder().AddOp(txscript.OP_0)
			for slot := range st.spend.ms.keys {
				if sig, ok := bySlot[slot]; ok && len(used) < st.spend.ms.m {
					b.AddData(sig)
					used = append(used, slot)
				}
			}
			f.scriptSig, _ = b.AddFullData(st.spend.script).Script()
		} else {
			ours = spendCheck(st.spend, used)
		}
		for _, slot := range used {
			if err := verifySignature(st.sighash, st.spend.ms.keys[slot], bySlot[slot]); err != nil && ours == nil {
				ours = err
			}
		}
		tx := p.UnsignedTx.Copy()
		tx.TxIn[i].SignatureScript, tx.TxIn[i].Witness = f.scriptSig, f.witness
		engine := engineVerdict(a, tx, i)
		if (ours == nil) != (engine == nil) {
			t.Fatalf("%s: the finalizer says %v, btcd's engine says %v", ec.desc, ours, engine)
		}
		if engine == nil {
			accepted++
		} else {
			refused++
			if e, ok := engine.(txscript.Error); ok {
				why[e.ErrorCode.String()]++
			} else {
				why[engine.Error()]++
			}
		}
		// The whole finalizer: accepted exactly when the engine accepts the
		// assembled input and every partial signature, used or not, is
		// valid.
		allValid := sigsOK
		for slot, sig := range bySlot {
			if verifySignature(st.sighash, st.spend.ms.keys[slot], sig) != nil {
				allValid = false
			}
		}
		_, err := finalizeInput(p, a, nil, i)
		if (err == nil) != (engine == nil && allValid) {
			t.Fatalf("%s: the finalizer says %v; engine %v, every signature valid: %v", ec.desc, err, engine, allValid)
		}
	}
	if accepted < cases/5 || refused < cases/20 {
		t.Fatalf("%d accepted and %d refused of %d: the cases do not exercise both verdicts", accepted, refused, cases)
	}
	t.Logf("%d inputs: %d accepted and %d refused by both; the engine's reasons: %v", accepted+refused, accepted, refused, why)
	for _, code := range []string{"ErrNullFail", "ErrWitnessPubKeyType", "ErrElementTooBig"} {
		if why[code] == 0 && !testing.Short() {
			t.Errorf("no case was refused with %s", code)
		}
	}
}
