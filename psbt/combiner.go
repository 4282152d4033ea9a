package psbt

import (
	"bytes"
	"fmt"
	"slices"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Combine is CombineReport without the report.
func Combine(ps []*bpsbt.Packet, w WalletInfo) (*bpsbt.Packet, error) {
	p, _, err := CombineReport(ps, w)
	return p, err
}

// CombineReport is the BIP-174 Combiner: it merges copies of one PSBT
// (each typically signed by a different cosigner, with another tool) into
// a new packet; the inputs are not changed. All must have the same
// unsigned transaction.
//
// Copies made by different tools disagree about records that are not
// signatures; the wallet decides. Before merging, each copy's BIP-32
// derivations of the wallet's keys and its global xpub records of them
// are corrected to the wallet's (Electrum, for a cosigner whose key origin
// it was never told, writes [fingerprint of the xpub]/0/5 where a hardware
// signer writes the full origin). Unknown and proprietary records on which
// copies disagree are dropped: the wallet cannot tell which is right and
// countersign uses neither. Every correction and drop is returned as a line
// naming the copy and the record. What still disagrees is refused
// (ErrRefused): scripts, UTXO records, sighash types, derivations of keys
// the wallet does not know. Unknown and proprietary records are sorted by
// key, as BIP-174's combiner vector expects.
//
// Every partial signature in the result is then verified before it is kept:
// it must be SIGHASH_ALL, strict DER with low S, made by one of the keys of
// the input's script, and valid for the input's sighash. An invalid one is
// refused (ErrRefused, naming input and cosigner); none is ever dropped.
// w supplies the cosigners' labels; with no descriptor, cosigners are named
// by the fingerprints in the BIP-32 derivations and nothing is corrected.
func CombineReport(ps []*bpsbt.Packet, w WalletInfo) (*bpsbt.Packet, []string, error) {
	if len(ps) == 0 {
		return nil, nil, malformed("nothing to combine: give at least one PSBT")
	}
	w = w.withMemo()
	v := newWalletView(w)
	for k, p := range ps {
		// PSBTs to combine come from signers and files: hold each to the
		// BIP-174 rules before reading it. Keys the wallet derives (derived
		// here first) or a signature verified against are known points.
		if err := checkShape(p); err != nil {
			return nil, nil, fmt.Errorf("PSBT %d: %w", k+1, err)
		}
		if v != nil {
			v.prefetchClaims(p)
		}
		if err := w.Memo.checkKeys(p); err != nil {
			return nil, nil, fmt.Errorf("PSBT %d: %w", k+1, err)
		}
		if err := validate(p, curveLater); err != nil {
			return nil, nil, fmt.Errorf("PSBT %d: %w", k+1, err)
		}
	}
	ref, err := unsignedTxBytes(ps[0].UnsignedTx)
	if err != nil {
		return nil, nil, err
	}
	for k, p := range ps[1:] {
		b, err := unsignedTxBytes(p.UnsignedTx)
		if err != nil {
			return nil, nil, err
		}
		if !bytes.Equal(b, ref) {
			return nil, nil, fmt.Errorf("%w: PSBT %d of %d is for a different transaction (txid %s) than PSBT 1 (txid %s): only copies of the same PSBT can be combined",
				ErrRefused, k+2, len(ps), txid(p), txid(ps[0]))
		}
	}

	var notes []string
	copies := make([]*bpsbt.Packet, len(ps))
	for k, p := range ps {
		copies[k] = clonePacket(p)
		if v == nil {
			continue
		}
		note := func(format string, args ...any) {
			notes = append(notes, fmt.Sprintf("PSBT %d, ", k+1)+fmt.Sprintf(format, args...))
		}
		if err := v.toWalletTruth(copies[k], note); err != nil {
			return nil, nil, fmt.Errorf("PSBT %d: %w", k+1, err)
		}
	}
	out := copies[0]
	m := &merger{drop: func(where string, key []byte) {
		notes = append(notes, fmt.Sprintf("%s: dropped record %x: the copies hold different values and the wallet cannot tell which is right; countersign does not use it", where, key))
	}}
	for k, p := range copies[1:] {
		if err := m.mergePacket(out, p); err != nil {
			return nil, nil, fmt.Errorf("combining PSBT %d into the earlier ones: %w", k+2, err)
		}
	}
	m.dropConflicts(out)
	sortUnknowns(out)
	if err := verifyPartialSigs(out, v, w.Memo); err != nil {
		return nil, nil, err
	}
	return out, notes, nil
}

func unsignedTxBytes(tx *wire.MsgTx) ([]byte, error) {
	var b bytes.Buffer
	if err := tx.SerializeNoWitness(&b); err != nil {
		return nil, malformed("cannot serialize the unsigned transaction: %v", err)
	}
	return b.Bytes(), nil
}

// conflict is the error for two values under one key.
func conflict(where, what string, key []byte) error {
	if key != nil {
		return fmt.Errorf("%w: %s: two different values for %s (key %x): the PSBTs disagree; find out which copy was altered before combining",
			ErrRefused, where, what, key)
	}
	return fmt.Errorf("%w: %s: two different values for %s: the PSBTs disagree; find out which copy was altered before combining",
		ErrRefused, where, what)
}

// mergeBytes merges a key whose value is a byte string.
func mergeBytes(dst *[]byte, src []byte, where, what string) error {
	switch {
	case src == nil:
	case *dst == nil:
		*dst = bytes.Clone(src)
	case !bytes.Equal(*dst, src):
		return conflict(where, what, nil)
	}
	return nil
}

// merger merges copies record by record. Unknown and proprietary records
// on which copies disagree are remembered and dropped at the end (a third
// copy must not bring one back).
type merger struct {
	drop      func(where string, key []byte)
	conflicts map[string]bool // where + "\x00" + key
}

func (m *merger) mergePacket(dst, src *bpsbt.Packet) error {
	dst.Unknowns = m.mergeUnknowns(dst.Unknowns, src.Unknowns, "global map")
	for i := range dst.Inputs {
		if err := m.mergeInput(&dst.Inputs[i], &src.Inputs[i], fmt.Sprintf("input %d", i)); err != nil {
			return err
		}
	}
	for j := range dst.Outputs {
		if err := m.mergeOutput(&dst.Outputs[j], &src.Outputs[j], fmt.Sprintf("output %d", j)); err != nil {
			return err
		}
	}
	return nil
}

// dropConflicts removes every unknown record copies disagreed on.
func (m *merger) dropConflicts(p *bpsbt.Packet) {
	if len(m.conflicts) == 0 {
		return
	}
	keep := func(where string, us []*bpsbt.Unknown) []*bpsbt.Unknown {
		return slices.DeleteFunc(us, func(u *bpsbt.Unknown) bool { return m.conflicts[where+"\x00"+string(u.Key)] })
	}
	p.Unknowns = keep("global map", p.Unknowns)
	for i := range p.Inputs {
		p.Inputs[i].Unknowns = keep(fmt.Sprintf("input %d", i), p.Inputs[i].Unknowns)
	}
	for j := range p.Outputs {
		p.Outputs[j].Unknowns = keep(fmt.Sprintf("output %d", j), p.Outputs[j].Unknowns)
	}
}

func (m *merger) mergeInput(dst, src *bpsbt.PInput, where string) error {
	if src.NonWitnessUtxo != nil {
		if dst.NonWitnessUtxo == nil {
			dst.NonWitnessUtxo = src.NonWitnessUtxo.Copy()
		} else if !sameTx(dst.NonWitnessUtxo, src.NonWitnessUtxo) {
			return conflict(where, "non_witness_utxo", nil)
		}
	}
	if src.WitnessUtxo != nil {
		if dst.WitnessUtxo == nil {
			dst.WitnessUtxo = wire.NewTxOut(src.WitnessUtxo.Value, bytes.Clone(src.WitnessUtxo.PkScript))
		} else if !bpsbt.TxOutsEqual(dst.WitnessUtxo, src.WitnessUtxo) {
			return conflict(where, "witness_utxo", nil)
		}
	}
	for _, ps := range src.PartialSigs {
		if ps == nil {
			continue
		}
		i := slices.IndexFunc(dst.PartialSigs, func(d *bpsbt.PartialSig) bool { return bytes.Equal(d.PubKey, ps.PubKey) })
		switch {
		case i < 0:
			dst.PartialSigs = append(dst.PartialSigs, &bpsbt.PartialSig{PubKey: bytes.Clone(ps.PubKey), Signature: bytes.Clone(ps.Signature)})
		case !bytes.Equal(dst.PartialSigs[i].Signature, ps.Signature):
			return conflict(where, fmt.Sprintf("the partial signature of pubkey %x", ps.PubKey), append([]byte{inPartialSig}, ps.PubKey...))
		}
	}
	switch {
	case src.SighashType == 0:
	case dst.SighashType == 0:
		dst.SighashType = src.SighashType
	case dst.SighashType != src.SighashType:
		return conflict(where, "sighash type", []byte{inSighashType})
	}
	for _, f := range []struct {
		dst  *[]byte
		src  []byte
		what string
	}{
		{&dst.RedeemScript, src.RedeemScript, "redeem script"},
		{&dst.WitnessScript, src.WitnessScript, "witness script"},
		{&dst.FinalScriptSig, src.FinalScriptSig, "final scriptSig"},
		{&dst.FinalScriptWitness, src.FinalScriptWitness, "final scriptWitness"},
		{&dst.TaprootKeySpendSig, src.TaprootKeySpendSig, "taproot key signature"},
		{&dst.TaprootInternalKey, src.TaprootInternalKey, "taproot internal key"},
		{&dst.TaprootMerkleRoot, src.TaprootMerkleRoot, "taproot merkle root"},
	} {
		if err := mergeBytes(f.dst, f.src, where, f.what); err != nil {
			return err
		}
	}
	var err error
	if dst.Bip32Derivation, err = mergeDerivations(dst.Bip32Derivation, src.Bip32Derivation, where); err != nil {
		return err
	}
	if dst.TaprootBip32Derivation, err = mergeTapDerivations(dst.TaprootBip32Derivation, src.TaprootBip32Derivation, where); err != nil {
		return err
	}
	for _, s := range src.TaprootScriptSpendSig {
		if s == nil {
			continue
		}
		i := slices.IndexFunc(dst.TaprootScriptSpendSig, func(d *bpsbt.TaprootScriptSpendSig) bool { return d.EqualKey(s) })
		switch {
		case i < 0:
			c := *s
			c.XOnlyPubKey, c.LeafHash, c.Signature = bytes.Clone(s.XOnlyPubKey), bytes.Clone(s.LeafHash), bytes.Clone(s.Signature)
			dst.TaprootScriptSpendSig = append(dst.TaprootScriptSpendSig, &c)
		case !bytes.Equal(dst.TaprootScriptSpendSig[i].Signature, s.Signature) || dst.TaprootScriptSpendSig[i].SigHash != s.SigHash:
			return conflict(where, "a taproot script signature", append(bytes.Clone(s.XOnlyPubKey), s.LeafHash...))
		}
	}
	for _, l := range src.TaprootLeafScript {
		if l == nil {
			continue
		}
		i := slices.IndexFunc(dst.TaprootLeafScript, func(d *bpsbt.TaprootTapLeafScript) bool { return bytes.Equal(d.ControlBlock, l.ControlBlock) })
		switch {
		case i < 0:
			c := *l
			c.ControlBlock, c.Script = bytes.Clone(l.ControlBlock), bytes.Clone(l.Script)
			dst.TaprootLeafScript = append(dst.TaprootLeafScript, &c)
		case !bytes.Equal(dst.TaprootLeafScript[i].Script, l.Script) || dst.TaprootLeafScript[i].LeafVersion != l.LeafVersion:
			return conflict(where, "a taproot leaf script", l.ControlBlock)
		}
	}
	dst.Unknowns = m.mergeUnknowns(dst.Unknowns, src.Unknowns, where)
	return nil
}

func (m *merger) mergeOutput(dst, src *bpsbt.POutput, where string) error {
	for _, f := range []struct {
		dst  *[]byte
		src  []byte
		what string
	}{
		{&dst.RedeemScript, src.RedeemScript, "redeem script"},
		{&dst.WitnessScript, src.WitnessScript, "witness script"},
		{&dst.TaprootInternalKey, src.TaprootInternalKey, "taproot internal key"},
		{&dst.TaprootTapTree, src.TaprootTapTree, "taproot tree"},
	} {
		if err := mergeBytes(f.dst, f.src, where, f.what); err != nil {
			return err
		}
	}
	var err error
	if dst.Bip32Derivation, err = mergeDerivations(dst.Bip32Derivation, src.Bip32Derivation, where); err != nil {
		return err
	}
	if dst.TaprootBip32Derivation, err = mergeTapDerivations(dst.TaprootBip32Derivation, src.TaprootBip32Derivation, where); err != nil {
		return err
	}
	dst.Unknowns = m.mergeUnknowns(dst.Unknowns, src.Unknowns, where)
	return nil
}

func sameTx(a, b *wire.MsgTx) bool {
	var x, y bytes.Buffer
	return a.Serialize(&x) == nil && b.Serialize(&y) == nil && bytes.Equal(x.Bytes(), y.Bytes())
}

func mergeDerivations(dst, src []*bpsbt.Bip32Derivation, where string) ([]*bpsbt.Bip32Derivation, error) {
	for _, d := range src {
		if d == nil {
			continue
		}
		i := slices.IndexFunc(dst, func(e *bpsbt.Bip32Derivation) bool { return bytes.Equal(e.PubKey, d.PubKey) })
		switch {
		case i < 0:
			dst = append(dst, cloneDerivations([]*bpsbt.Bip32Derivation{d})...)
		case dst[i].MasterKeyFingerprint != d.MasterKeyFingerprint || !slices.Equal(dst[i].Bip32Path, d.Bip32Path):
			return nil, conflict(where, fmt.Sprintf("the BIP-32 derivation of pubkey %x", d.PubKey), d.PubKey)
		}
	}
	return dst, nil
}

func mergeTapDerivations(dst, src []*bpsbt.TaprootBip32Derivation, where string) ([]*bpsbt.TaprootBip32Derivation, error) {
	for _, d := range src {
		if d == nil {
			continue
		}
		i := slices.IndexFunc(dst, func(e *bpsbt.TaprootBip32Derivation) bool { return bytes.Equal(e.XOnlyPubKey, d.XOnlyPubKey) })
		switch {
		case i < 0:
			dst = append(dst, cloneTapDerivations([]*bpsbt.TaprootBip32Derivation{d})...)
		case dst[i].MasterKeyFingerprint != d.MasterKeyFingerprint || !slices.Equal(dst[i].Bip32Path, d.Bip32Path) ||
			!slices.EqualFunc(dst[i].LeafHashes, d.LeafHashes, bytes.Equal):
			return nil, conflict(where, fmt.Sprintf("the taproot BIP-32 derivation of %x", d.XOnlyPubKey), d.XOnlyPubKey)
		}
	}
	return dst, nil
}

func (m *merger) mergeUnknowns(dst, src []*bpsbt.Unknown, where string) []*bpsbt.Unknown {
	for _, u := range src {
		if u == nil {
			continue
		}
		i := slices.IndexFunc(dst, func(e *bpsbt.Unknown) bool { return bytes.Equal(e.Key, u.Key) })
		switch {
		case i < 0:
			dst = append(dst, &bpsbt.Unknown{Key: bytes.Clone(u.Key), Value: bytes.Clone(u.Value)})
		case !bytes.Equal(dst[i].Value, u.Value):
			id := where + "\x00" + string(u.Key)
			if m.conflicts == nil {
				m.conflicts = map[string]bool{}
			}
			if !m.conflicts[id] {
				m.conflicts[id] = true
				if m.drop != nil {
					m.drop(where, u.Key)
				}
			}
		}
	}
	return dst
}

// sortUnknowns orders unknown and proprietary records by key, the order
// BIP-174's combiner vector uses; btcd writes them as held.
func sortUnknowns(p *bpsbt.Packet) {
	byKey := func(a, b *bpsbt.Unknown) int { return bytes.Compare(a.Key, b.Key) }
	slices.SortFunc(p.Unknowns, byKey)
	for i := range p.Inputs {
		slices.SortFunc(p.Inputs[i].Unknowns, byKey)
	}
	for j := range p.Outputs {
		slices.SortFunc(p.Outputs[j].Unknowns, byKey)
	}
}

// verifyPartialSigs checks every partial signature of every input that is
// not finalized, computing each input's sighash once.
func verifyPartialSigs(p *bpsbt.Packet, v *walletView, memo *Memo) error {
	a := analyze(p, memo)
	hasSigs := func(i int) bool { return len(p.Inputs[i].PartialSigs) > 0 && !a.in[i].finalized }
	a.computeSighashes(hasSigs)
	errs := make([]error, len(p.Inputs))
	parallelFor(len(p.Inputs), func(i int) {
		if st := &a.in[i]; !st.finalized && st.spend != nil && st.spend.kind == kindTr && len(p.Inputs[i].TaprootScriptSpendSig) > 0 {
			_, errs[i] = tapScriptSigs(p, a, v, i, true)
			return
		}
		if hasSigs(i) {
			_, errs[i] = inputSigs(p, a, v, i, true)
		}
	})
	return joinInputs(errs)
}

// inputSigs checks the partial signatures of input i and returns them by
// the position of their key in the script. The rules that need no curve
// arithmetic (SIGHASH_ALL, strict DER, low S, a key of the script) are
// always checked; verify adds the ECDSA verification against the sighash.
// The finalizer leaves that to the script engine, which verifies the
// signatures it uses anyway.
func inputSigs(p *bpsbt.Packet, a *analysis, v *walletView, i int, verify bool) (map[int][]byte, error) {
	in, st := &p.Inputs[i], &a.in[i]
	switch {
	case st.prevErr != nil:
		return nil, fmt.Errorf("cannot verify the signatures of input %d: %w", i, st.prevErr)
	case st.spendErr != nil:
		return nil, fmt.Errorf("cannot verify the signatures of input %d: %w", i, st.spendErr)
	case in.SighashType != 0 && in.SighashType != txscript.SigHashAll:
		return nil, fmt.Errorf("%w: input %d asks for sighash type 0x%x; only SIGHASH_ALL is accepted", ErrRefused, i, uint32(in.SighashType))
	case verify && st.sighashErr != nil:
		return nil, fmt.Errorf("%w: input %d: computing the sighash: %v", ErrRefused, i, st.sighashErr)
	}
	bySlot := make(map[int][]byte, len(in.PartialSigs))
	for _, ps := range in.PartialSigs {
		if ps == nil {
			continue
		}
		slot := st.spend.ms.indexOf(ps.PubKey)
		if slot < 0 {
			fp, label := v.cosigner(ps.PubKey, nil, in.Bip32Derivation)
			return nil, fmt.Errorf("%w: input %d: a signature from %s is for pubkey %x, which is not a key of the input's script; the signature is refused",
				ErrRefused, i, describeCosigner(fp, label, ps.PubKey), ps.PubKey)
		}
		err := checkSigEncoding(ps.Signature)
		if err == nil && verify {
			err = a.memo.verify(st.sighash, ps.PubKey, ps.Signature)
		}
		if err != nil {
			return nil, invalidSig(v, in, i, ps.PubKey, err)
		}
		bySlot[slot] = ps.Signature
	}
	return bySlot, nil
}

// invalidSig is the refusal of one cosigner's signature.
func invalidSig(v *walletView, in *bpsbt.PInput, i int, pub []byte, err error) error {
	fp, label := v.cosigner(pub, nil, in.Bip32Derivation)
	return fmt.Errorf("%w: input %d: invalid signature from %s: %v; ask that cosigner to sign the PSBT again",
		ErrRefused, i, describeCosigner(fp, label, pub), err)
}
