package psbt

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
)

// Taproot inputs and outputs (BIP-341 key and script paths, BIP-342
// tapscript, BIP-371 PSBT fields). A taproot input of a countersign wallet
// is spent either by its key path (a MuSig2 aggregate signature, see
// musig.go) or by one of its script leaves: pk(K) or multi_a(m, K...)
// (BIP-387), which the signer signs with BIP-340 Schnorr signatures over
// the BIP-342 sighash (SIGHASH_DEFAULT) and the finalizer satisfies with
// the cheapest leaf that has enough signatures.

// tapSpend is what a taproot input's records say: the output key it pays,
// the internal key and merkle root when given, and every leaf the input
// carries (each proven against the output key by its control block).
type tapSpend struct {
	outputKey []byte // 32-byte x-only
	internal  []byte // 32-byte x-only; nil when the input does not say
	leaves    []tapLeaf
}

// tapLeaf is one script leaf an input can be spent by.
type tapLeaf struct {
	script       []byte
	controlBlock []byte
	hash         chainhash.Hash
	m            int      // signatures needed
	keys         [][]byte // x-only keys in script order
}

// witnessSize is the leaf's witness when satisfied: one signature per
// needed key (64 bytes, SIGHASH_DEFAULT), an empty push per other key, the
// script and the control block, each with its length, and the item count.
func (l *tapLeaf) witnessSize() int {
	n := len(l.keys)
	size := compactSizeLen(n + 2)
	size += l.m * (1 + 64)
	size += n - l.m
	size += compactSizeLen(len(l.script)) + len(l.script)
	size += compactSizeLen(len(l.controlBlock)) + len(l.controlBlock)
	return size
}

func (l *tapLeaf) indexOf(x []byte) int {
	for i, k := range l.keys {
		if bytes.Equal(k, x) {
			return i
		}
	}
	return -1
}

// isP2TR reports whether pk is a segwit v1 (taproot) output script.
func isP2TR(pk []byte) bool {
	return len(pk) == 34 && pk[0] == txscript.OP_1 && pk[1] == txscript.OP_DATA_32
}

// resolveTapSpend checks a taproot input's BIP-371 records against the
// output it spends: the internal key and merkle root must tweak to the
// output key, and every leaf's control block must prove the leaf. A leaf
// that is not pk() or multi_a() is refused: countersign could neither sign
// nor satisfy it.
func resolveTapSpend(in *bpsbt.PInput, pk []byte, i int) (*spend, error) {
	ts := &tapSpend{outputKey: slices.Clone(pk[2:])}
	if in.RedeemScript != nil || in.WitnessScript != nil {
		return nil, fmt.Errorf("%w: input %d: carries a redeem or witness script but spends a taproot output", ErrRefused, i)
	}
	if in.TaprootInternalKey != nil {
		internal, err := schnorr.ParsePubKey(in.TaprootInternalKey)
		if err != nil {
			return nil, fmt.Errorf("%w: input %d: taproot internal key: %v", ErrRefused, i, err)
		}
		q := txscript.ComputeTaprootOutputKey(internal, in.TaprootMerkleRoot)
		if !bytes.Equal(schnorr.SerializePubKey(q), ts.outputKey) {
			return nil, fmt.Errorf("%w: input %d: the taproot internal key and merkle root do not make the output key it spends", ErrRefused, i)
		}
		ts.internal = slices.Clone(in.TaprootInternalKey)
	}
	for j, ls := range in.TaprootLeafScript {
		if ls == nil {
			continue
		}
		if ls.LeafVersion != txscript.BaseLeafVersion {
			return nil, fmt.Errorf("%w: input %d: leaf %d has leaf version 0x%x; only tapscript (0xc0) is spent", ErrRefused, i, j, byte(ls.LeafVersion))
		}
		cb, err := txscript.ParseControlBlock(ls.ControlBlock)
		if err != nil {
			return nil, fmt.Errorf("%w: input %d: leaf %d: control block: %v", ErrRefused, i, j, err)
		}
		if err := txscript.VerifyTaprootLeafCommitment(cb, ts.outputKey, ls.Script); err != nil {
			return nil, fmt.Errorf("%w: input %d: leaf %d is not committed to by the output it spends: %v", ErrRefused, i, j, err)
		}
		if ts.internal != nil && !bytes.Equal(schnorr.SerializePubKey(cb.InternalKey), ts.internal) {
			return nil, fmt.Errorf("%w: input %d: leaf %d's control block names another internal key", ErrRefused, i, j)
		}
		m, keys, err := parseTapscript(ls.Script)
		if err != nil {
			return nil, fmt.Errorf("%w: input %d: leaf %d: %v", ErrRefused, i, j, err)
		}
		ts.leaves = append(ts.leaves, tapLeaf{
			script: ls.Script, controlBlock: ls.ControlBlock, m: m, keys: keys,
			hash: txscript.NewBaseTapLeaf(ls.Script).TapHash(),
		})
	}
	return &spend{kind: kindTr, tap: ts}, nil
}

// parseTapscript reads "<K> OP_CHECKSIG" (pk) or "<K1> OP_CHECKSIG <K2>
// OP_CHECKSIGADD ... <m> OP_NUMEQUAL" (multi_a, BIP-387).
func parseTapscript(script []byte) (int, [][]byte, error) {
	tok := txscript.MakeScriptTokenizer(0, script)
	var keys [][]byte
	for tok.Next() {
		if tok.Opcode() != txscript.OP_DATA_32 {
			break
		}
		keys = append(keys, tok.Data())
		if !tok.Next() {
			return 0, nil, errors.New("leaf script ends after a key")
		}
		want := byte(txscript.OP_CHECKSIGADD)
		if len(keys) == 1 {
			want = txscript.OP_CHECKSIG
		}
		if tok.Opcode() != want {
			return 0, nil, errors.New("leaf script is not pk() or multi_a(): countersign spends only those")
		}
	}
	if tok.Err() != nil || len(keys) == 0 {
		return 0, nil, errors.New("leaf script is not pk() or multi_a(): countersign spends only those")
	}
	if tok.Done() {
		if len(keys) != 1 {
			return 0, nil, errors.New("leaf script has several keys but no threshold")
		}
		return 1, keys, nil
	}
	// The token the loop stopped on is the threshold.
	m, ok := tapThreshold(tok.Opcode(), tok.Data())
	if !ok || m < 1 || m > len(keys) {
		return 0, nil, errors.New("leaf script has no valid multi_a threshold")
	}
	if !tok.Next() || tok.Opcode() != txscript.OP_NUMEQUAL || tok.Next() || tok.Err() != nil {
		return 0, nil, errors.New("leaf script must end with the threshold and OP_NUMEQUAL")
	}
	return m, keys, nil
}

// tapThreshold reads a minimal script number push (OP_1..OP_16 or up to 2
// bytes, enough for BIP-387's 999 keys).
func tapThreshold(op byte, data []byte) (int, bool) {
	switch {
	case op >= txscript.OP_1 && op <= txscript.OP_16:
		return int(op-txscript.OP_1) + 1, true
	case (op == txscript.OP_DATA_1 || op == txscript.OP_DATA_2) && len(data) > 0 && data[len(data)-1]&0x80 == 0:
		v := 0
		for i := len(data) - 1; i >= 0; i-- {
			v = v<<8 | int(data[i])
		}
		return v, v > 16
	}
	return 0, false
}

// updateTapInput fills a taproot input's records (BIP-371): both UTXO
// records, the internal key and merkle root, every leaf with its control
// block, and each key's BIP-32 derivation with the leaves it appears in
// (BIP-373's MuSig2 participants are added by addMuSigParticipants).
func updateTapInput(in *bpsbt.PInput, prevTx *wire.MsgTx, vout uint32, d *descriptor.Derived) {
	in.NonWitnessUtxo = prevTx
	prev := prevTx.TxOut[vout]
	in.WitnessUtxo = wire.NewTxOut(prev.Value, bytes.Clone(prev.PkScript))
	t := d.Tap
	in.TaprootInternalKey = bytes.Clone(t.InternalKey)
	in.TaprootMerkleRoot = bytes.Clone(t.MerkleRoot)
	in.TaprootLeafScript = nil
	for _, l := range t.Leaves {
		in.TaprootLeafScript = append(in.TaprootLeafScript, &bpsbt.TaprootTapLeafScript{
			ControlBlock: bytes.Clone(l.ControlBlock), Script: bytes.Clone(l.Script), LeafVersion: txscript.BaseLeafVersion,
		})
	}
	in.TaprootBip32Derivation = tapDerivations(d)
	in.Unknowns = append(removeMuSigRecords(in.Unknowns, inMuSigParticipants), muSigParticipantRecords(inMuSigParticipants, d)...)
}

// updateTapOutput marks taproot change (BIP-371): internal key, tree and
// derivations, so that signers can verify the change is theirs.
func updateTapOutput(out *bpsbt.POutput, d *descriptor.Derived) {
	out.TaprootInternalKey = bytes.Clone(d.Tap.InternalKey)
	out.TaprootTapTree = tapTree(d.Tap)
	out.TaprootBip32Derivation = tapDerivations(d)
	out.Unknowns = append(removeMuSigRecords(out.Unknowns, outMuSigParticipants), muSigParticipantRecords(outMuSigParticipants, d)...)
}

// tapTree serializes PSBT_OUT_TAP_TREE: per leaf in depth-first order its
// depth, leaf version and script.
func tapTree(t *descriptor.DerivedTap) []byte {
	if len(t.Leaves) == 0 {
		return nil
	}
	var b bytes.Buffer
	for _, l := range t.Leaves {
		b.WriteByte(byte(l.Depth))
		b.WriteByte(descriptor.TapLeafVersion)
		_ = wire.WriteVarBytes(&b, 0, l.Script)
	}
	return b.Bytes()
}

// tapDerivations lists, per x-only key of the output, its BIP-32 origin
// and the leaves it appears in: the wallet's keys (a key on the key path
// only has no leaf hashes), and each MuSig2 aggregate under its BIP-328
// synthetic xpub. Sorted by key as BIP-371 serializes them.
func tapDerivations(d *descriptor.Derived) []*bpsbt.TaprootBip32Derivation {
	byKey := map[string]*bpsbt.TaprootBip32Derivation{}
	add := func(x []byte, fp [4]byte, path []uint32) *bpsbt.TaprootBip32Derivation {
		if e, ok := byKey[string(x)]; ok {
			return e
		}
		e := &bpsbt.TaprootBip32Derivation{XOnlyPubKey: bytes.Clone(x), MasterKeyFingerprint: fingerprintValue(fp), Bip32Path: slices.Clone(path)}
		byKey[string(x)] = e
		return e
	}
	for _, k := range d.Keys {
		add(k.PubKey[1:33], k.Fingerprint, k.Path)
	}
	for _, m := range d.Tap.MuSig {
		if len(m.Path) > 0 {
			add(m.PubKey[1:33], m.Fingerprint, m.Path)
		}
	}
	for _, l := range d.Tap.Leaves {
		h := l.LeafHash
		for _, x := range l.XOnlyKeys {
			if e, ok := byKey[string(x)]; ok && !slices.ContainsFunc(e.LeafHashes, func(b []byte) bool { return bytes.Equal(b, h[:]) }) {
				e.LeafHashes = append(e.LeafHashes, slices.Clone(h[:]))
			}
		}
	}
	out := make([]*bpsbt.TaprootBip32Derivation, 0, len(byKey))
	for _, e := range byKey {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *bpsbt.TaprootBip32Derivation) int { return bytes.Compare(a.XOnlyPubKey, b.XOnlyPubKey) })
	return out
}

// tapAsBip32 presents taproot derivations as plain ones so that locating
// wallet positions works the same for every script type.
func tapAsBip32(ds []*bpsbt.TaprootBip32Derivation) []*bpsbt.Bip32Derivation {
	out := make([]*bpsbt.Bip32Derivation, 0, len(ds))
	for _, d := range ds {
		if d != nil {
			out = append(out, &bpsbt.Bip32Derivation{PubKey: d.XOnlyPubKey, MasterKeyFingerprint: d.MasterKeyFingerprint, Bip32Path: d.Bip32Path})
		}
	}
	return out
}

// inputDerivations are all of an input's BIP-32 derivations, plain and
// taproot.
func inputDerivations(in *bpsbt.PInput) []*bpsbt.Bip32Derivation {
	if len(in.TaprootBip32Derivation) == 0 {
		return in.Bip32Derivation
	}
	return append(slices.Clip(in.Bip32Derivation), tapAsBip32(in.TaprootBip32Derivation)...)
}

// outputDerivations are all of an output's BIP-32 derivations.
func outputDerivations(out *bpsbt.POutput) []*bpsbt.Bip32Derivation {
	if len(out.TaprootBip32Derivation) == 0 {
		return out.Bip32Derivation
	}
	return append(slices.Clip(out.Bip32Derivation), tapAsBip32(out.TaprootBip32Derivation)...)
}

// matchTap compares a taproot input with the wallet's derivation: same
// output, same internal key and merkle root when given, and only leaves
// the wallet derives.
func matchTap(in *bpsbt.PInput, ts *tapSpend, d *descriptor.Derived) bool {
	if d.Tap == nil || !bytes.Equal(d.Tap.OutputKey, ts.outputKey) {
		return false
	}
	if ts.internal != nil && !bytes.Equal(ts.internal, d.Tap.InternalKey) {
		return false
	}
	if in.TaprootMerkleRoot != nil && !bytes.Equal(in.TaprootMerkleRoot, d.Tap.MerkleRoot) {
		return false
	}
	for _, l := range ts.leaves {
		if !slices.ContainsFunc(d.Tap.Leaves, func(dl descriptor.DerivedLeaf) bool {
			return bytes.Equal(dl.Script, l.script) && bytes.Equal(dl.ControlBlock, l.controlBlock)
		}) {
			return false
		}
	}
	return true
}

// matchTapOutput checks claimed taproot change against the wallet's
// derivation: the output key, and the internal key and tree when given.
func matchTapOutput(out *bpsbt.POutput, d *descriptor.Derived) bool {
	if d.Tap == nil {
		return out.TaprootInternalKey == nil && out.TaprootTapTree == nil
	}
	if out.TaprootInternalKey != nil && !bytes.Equal(out.TaprootInternalKey, d.Tap.InternalKey) {
		return false
	}
	return out.TaprootTapTree == nil || bytes.Equal(out.TaprootTapTree, tapTree(d.Tap))
}

// tapSighash is the BIP-341/342 SIGHASH_DEFAULT digest of input i for a
// leaf, or for the key path when leaf is nil.
func (a *analysis) tapSighash(i int, leaf *tapLeaf) ([]byte, error) {
	if leaf == nil {
		return txscript.CalcTaprootSignatureHash(a.sigHashes, txscript.SigHashDefault, a.tx, i, a.fetcher)
	}
	return txscript.CalcTapscriptSignaturehash(a.sigHashes, txscript.SigHashDefault, a.tx, i, a.fetcher, txscript.NewBaseTapLeaf(leaf.script))
}

// tapScriptSigs checks input i's script-path signatures (BIP-371
// PSBT_IN_TAP_SCRIPT_SIG) and returns them per leaf (index into
// ts.leaves) and key slot. A signature for a leaf the input does not carry,
// for a key not in its leaf, with a sighash other than DEFAULT (64 bytes)
// or, when verify is set, not valid, is refused.
func tapScriptSigs(p *bpsbt.Packet, a *analysis, v *walletView, i int, verify bool) (map[int]map[int][]byte, error) {
	in, st := &p.Inputs[i], &a.in[i]
	ts := st.spend.tap
	out := map[int]map[int][]byte{}
	for _, s := range in.TaprootScriptSpendSig {
		if s == nil {
			continue
		}
		li := slices.IndexFunc(ts.leaves, func(l tapLeaf) bool { return bytes.Equal(l.hash[:], s.LeafHash) })
		if li < 0 {
			return nil, fmt.Errorf("%w: input %d: a taproot signature is for leaf %x, which the input does not carry", ErrRefused, i, s.LeafHash)
		}
		slot := ts.leaves[li].indexOf(s.XOnlyPubKey)
		if slot < 0 {
			fp, label := v.cosigner(s.XOnlyPubKey, nil, inputDerivations(in))
			return nil, fmt.Errorf("%w: input %d: a taproot signature from %s is for key %x, which is not in its leaf; the signature is refused",
				ErrRefused, i, describeCosigner(fp, label, s.XOnlyPubKey), s.XOnlyPubKey)
		}
		if len(s.Signature) != 64 || s.SigHash != txscript.SigHashDefault {
			return nil, fmt.Errorf("%w: input %d: a taproot signature is %d bytes with sighash 0x%x; only 64-byte SIGHASH_DEFAULT signatures are accepted", ErrRefused, i, len(s.Signature), uint32(s.SigHash))
		}
		if verify {
			if err := verifySchnorr(a, i, &ts.leaves[li], s.XOnlyPubKey, s.Signature); err != nil {
				fp, label := v.cosigner(s.XOnlyPubKey, nil, inputDerivations(in))
				return nil, fmt.Errorf("%w: input %d: invalid taproot signature from %s: %v; ask that cosigner to sign the PSBT again",
					ErrRefused, i, describeCosigner(fp, label, s.XOnlyPubKey), err)
			}
		}
		if out[li] == nil {
			out[li] = map[int][]byte{}
		}
		out[li][slot] = s.Signature
	}
	return out, nil
}

// verifySchnorr checks a BIP-340 signature of input i's leaf (or key path
// when leaf is nil) by the x-only key x.
func verifySchnorr(a *analysis, i int, leaf *tapLeaf, x, sig []byte) error {
	h, err := a.tapSighash(i, leaf)
	if err != nil {
		return fmt.Errorf("sighash: %v", err)
	}
	pub, err := schnorr.ParsePubKey(x)
	if err != nil {
		return err
	}
	s, err := schnorr.ParseSignature(sig)
	if err != nil {
		return err
	}
	if !s.Verify(h, pub) {
		return errors.New("the Schnorr signature does not verify")
	}
	return nil
}

// finalizeTapInput builds a taproot input's witness: the key path when a
// key-path signature is present (the smallest witness), else the cheapest
// leaf (by witness size) with enough signatures. For multi_a, exactly m
// signatures go in (OP_NUMEQUAL wants the exact count), in reverse key
// order as the script consumes them, with empty pushes for the other keys.
func finalizeTapInput(p *bpsbt.Packet, a *analysis, v *walletView, i int) (finalInput, error) {
	in, st := &p.Inputs[i], &a.in[i]
	ts := st.spend.tap
	if len(in.TaprootKeySpendSig) == 0 {
		// Every MuSig2 partial signature present: the key path, the
		// smallest witness.
		sig, err := aggregateMuSig(p, a, v, i)
		if err != nil {
			return finalInput{}, err
		}
		if sig != nil {
			return finalInput{witness: wire.TxWitness{sig}}, nil
		}
	}
	if len(in.TaprootKeySpendSig) > 0 {
		sig := in.TaprootKeySpendSig
		if len(sig) != 64 {
			return finalInput{}, fmt.Errorf("%w: input %d: key-path signature of %d bytes; only 64-byte SIGHASH_DEFAULT signatures are accepted", ErrRefused, i, len(sig))
		}
		if err := verifySchnorr(a, i, nil, ts.outputKey, sig); err != nil {
			return finalInput{}, fmt.Errorf("%w: input %d: the key-path signature is invalid: %v", ErrRefused, i, err)
		}
		return finalInput{witness: wire.TxWitness{bytes.Clone(sig)}}, nil
	}
	sigs, err := tapScriptSigs(p, a, v, i, true)
	if err != nil {
		return finalInput{}, err
	}
	best := -1
	for li := range ts.leaves {
		l := &ts.leaves[li]
		if len(sigs[li]) < l.m {
			continue
		}
		if best < 0 || l.witnessSize() < ts.leaves[best].witnessSize() {
			best = li
		}
	}
	if best < 0 {
		return finalInput{}, missingTapSigners(p, v, i, ts, sigs)
	}
	l := &ts.leaves[best]
	w := make(wire.TxWitness, 0, len(l.keys)+2)
	used := 0
	items := make([][]byte, len(l.keys))
	for slot := range l.keys {
		if sig, ok := sigs[best][slot]; ok && used < l.m {
			items[slot] = sig
			used++
		} else {
			items[slot] = nil
		}
	}
	for slot := len(l.keys) - 1; slot >= 0; slot-- {
		w = append(w, items[slot])
	}
	w = append(w, l.script, l.controlBlock)
	return finalInput{witness: w}, nil
}

// missingTapSigners explains why no leaf can be satisfied yet.
func missingTapSigners(p *bpsbt.Packet, v *walletView, i int, ts *tapSpend, sigs map[int]map[int][]byte) error {
	if len(ts.leaves) == 0 {
		return fmt.Errorf("%w: input %d (%s) has no key-path signature and carries no script leaf", ErrRefused, i, p.UnsignedTx.TxIn[i].PreviousOutPoint)
	}
	// Name the leaf closest to complete.
	best := 0
	for li := range ts.leaves {
		if ts.leaves[li].m-len(sigs[li]) < ts.leaves[best].m-len(sigs[best]) {
			best = li
		}
	}
	l := &ts.leaves[best]
	var names []string
	for slot, x := range l.keys {
		if _, ok := sigs[best][slot]; ok {
			continue
		}
		fp, label := v.cosigner(x, nil, inputDerivations(&p.Inputs[i]))
		names = append(names, describeCosigner(fp, label, x))
	}
	return fmt.Errorf("%w: input %d (%s) has %d of the %d signatures its best script leaf needs and no MuSig2 key-path signature; not yet signed by: %s",
		ErrRefused, i, p.UnsignedTx.TxIn[i].PreviousOutPoint, len(sigs[best]), l.m, joinNames(names))
}

func joinNames(names []string) string {
	var b bytes.Buffer
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n)
	}
	return b.String()
}

// tapInputSize is the worst case of a taproot input's finalized size over
// the paths it may take: the largest leaf witness (the key path's 64-byte
// signature is always smaller), so a fee estimate is never too low.
func tapInputSize(ts *tapSpend) inputSize {
	w := 1 + 1 + 64 // key path: item count, length, signature
	for li := range ts.leaves {
		w = max(w, ts.leaves[li].witnessSize())
	}
	return inputSize{base: outPointSize + 1 + sequenceSize, witness: w}
}

// tapJob is one script-path signature to make.
type tapJob struct {
	input int
	leaf  *tapLeaf
	priv  *btcec.PrivateKey
	x     []byte
}

// signTap is the Signer role for taproot inputs: for each taproot BIP-32
// derivation carrying fp it derives the private key, checks that it gives
// the recorded x-only key, and signs every leaf of the input that holds
// the key (BIP-340 Schnorr over the BIP-342 SIGHASH_DEFAULT digest; the
// finalizer then picks the cheapest satisfiable leaf). MuSig2 key-path
// signing is separate (musig.go): it needs two rounds.
func signTap(p *bpsbt.Packet, a *analysis, fp [4]byte, keys keySource, requireNonWitnessUtxo bool) (int, error) {
	var jobs []tapJob
	for i := range p.Inputs {
		in, st := &p.Inputs[i], &a.in[i]
		if st.finalized || st.spend == nil || st.spend.kind != kindTr {
			if st.spendErr != nil && len(in.TaprootBip32Derivation) > 0 && !st.finalized {
				return 0, st.spendErr
			}
			continue
		}
		var mine []*bpsbt.TaprootBip32Derivation
		for _, d := range in.TaprootBip32Derivation {
			if d != nil && fingerprintOf(&bpsbt.Bip32Derivation{MasterKeyFingerprint: d.MasterKeyFingerprint}) == fp {
				mine = append(mine, d)
			}
		}
		if len(mine) == 0 {
			continue
		}
		if err := signerChecks(in, st, i, requireNonWitnessUtxo); err != nil {
			return 0, err
		}
		for _, d := range mine {
			priv, err := keys(d.Bip32Path)
			if err != nil {
				return 0, fmt.Errorf("input %d: %w", i, err)
			}
			if priv == nil {
				continue
			}
			x := schnorr.SerializePubKey(priv.PubKey())
			if !bytes.Equal(x, d.XOnlyPubKey) {
				return 0, fmt.Errorf("%w: input %d: the taproot derivation records key %x at %s, but this key derives %x there: the PSBT's derivations are wrong; do not sign it",
					ErrRefused, i, d.XOnlyPubKey, descriptor.Path(d.Bip32Path), x)
			}
			for li := range st.spend.tap.leaves {
				l := &st.spend.tap.leaves[li]
				if l.indexOf(x) < 0 || hasTapSig(in, x, l.hash[:]) {
					continue
				}
				jobs = append(jobs, tapJob{input: i, leaf: l, priv: priv, x: x})
			}
		}
	}
	sigs := make([][]byte, len(jobs))
	errs := make([]error, len(jobs))
	parallelFor(len(jobs), func(k int) {
		j := jobs[k]
		h, err := a.tapSighash(j.input, j.leaf)
		if err != nil {
			errs[k] = fmt.Errorf("input %d: computing the taproot sighash: %v", j.input, err)
			return
		}
		s, err := schnorr.Sign(j.priv, h)
		if err != nil {
			errs[k] = fmt.Errorf("input %d: signing: %v", j.input, err)
			return
		}
		sigs[k] = s.Serialize()
	})
	if err := joinInputs(errs); err != nil {
		return 0, err
	}
	for k, j := range jobs {
		in := &p.Inputs[j.input]
		in.TaprootScriptSpendSig = append(in.TaprootScriptSpendSig, &bpsbt.TaprootScriptSpendSig{
			XOnlyPubKey: bytes.Clone(j.x), LeafHash: slices.Clone(j.leaf.hash[:]), Signature: sigs[k], SigHash: txscript.SigHashDefault,
		})
	}
	return len(jobs), nil
}

func hasTapSig(in *bpsbt.PInput, x, leafHash []byte) bool {
	return slices.ContainsFunc(in.TaprootScriptSpendSig, func(s *bpsbt.TaprootScriptSpendSig) bool {
		return s != nil && bytes.Equal(s.XOnlyPubKey, x) && bytes.Equal(s.LeafHash, leafHash)
	})
}

// tapInputReport fills the inspect report of a taproot input: signatures
// per leaf, and what is missing for the leaf closest to complete (nothing
// once a key-path signature is present).
func tapInputReport(p *bpsbt.Packet, a *analysis, v *walletView, i int, ir InputReport, warns []string, verify bool) (InputReport, []string) {
	in, st := &p.Inputs[i], &a.in[i]
	ts := st.spend.tap
	var derived *descriptor.Derived
	if v != nil {
		d, err := v.matchInput(in, st)
		if err == nil {
			ir.Ours = true
			ir.Branch, ir.Index = ptr(d.Branch), ptr(d.Index)
			derived = d
		} else {
			warns = append(warns, fmt.Sprintf("input %d (%s) is not the wallet's: %v", i, ir.OutPoint, err))
		}
	}
	name := func(x []byte) Cosigner {
		fp, label := v.cosigner(x, derived, inputDerivations(in))
		return Cosigner{Fingerprint: fp, Label: label, PubKey: hex.EncodeToString(x)}
	}
	sigs, err := tapScriptSigs(p, a, v, i, verify)
	if err != nil {
		warns = append(warns, err.Error())
		sigs = nil
	}
	// One entry per valid signature (a key in two leaves signs twice), so
	// the gate can compare the count with the records.
	for li := range ts.leaves {
		for slot, x := range ts.leaves[li].keys {
			if _, ok := sigs[li][slot]; ok {
				c := name(x)
				c.Sighash = "DEFAULT"
				ir.Signatures = append(ir.Signatures, c)
			}
		}
	}
	if ir.MuSig2 = muSigReport(p, a, i); ir.MuSig2 != nil && ir.MuSig2.PartialSigs == ir.MuSig2.Participants {
		// The finalizer aggregates them into the key-path signature (and
		// refuses, naming the cosigner, if one does not verify).
		ir.Required, ir.Missing = ir.MuSig2.Participants, 0
		return ir, warns
	}
	if len(in.TaprootKeySpendSig) > 0 {
		if err := verifySchnorr(a, i, nil, ts.outputKey, in.TaprootKeySpendSig); verify && err != nil {
			warns = append(warns, fmt.Sprintf("input %d: the key-path signature is invalid: %v", i, err))
		} else {
			ir.Required, ir.Missing = 1, 0
			ir.Signatures = append(ir.Signatures, Cosigner{Label: "MuSig2 key path", PubKey: hex.EncodeToString(ts.outputKey), Sighash: "DEFAULT"})
			return ir, warns
		}
	}
	if len(ts.leaves) == 0 {
		ir.Required, ir.Missing = 1, 1
		warns = append(warns, fmt.Sprintf("input %d: taproot input without script leaves: only a key-path signature can spend it", i))
		return ir, warns
	}
	best := 0
	for li := range ts.leaves {
		if ts.leaves[li].m-len(sigs[li]) < ts.leaves[best].m-len(sigs[best]) {
			best = li
		}
	}
	l := &ts.leaves[best]
	ir.Required = l.m
	ir.Missing = max(0, l.m-len(sigs[best]))
	for slot, x := range l.keys {
		if _, ok := sigs[best][slot]; !ok {
			ir.NotSigned = append(ir.NotSigned, name(x))
		}
	}
	return ir, warns
}

// tapWalletInputSize is the worst case of a taproot wallet input over its
// paths (the fee must cover the largest leaf the spend may end up using):
// each leaf's witness from its shape, or the key path's one signature.
func tapWalletInputSize(d *descriptor.Descriptor) inputSize {
	worst := tapInputSize(&tapSpend{})
	leaves, depths := d.Tap.Leaves()
	for i, l := range leaves {
		n := len(l.Keys)
		script := 34*n + 1 // <32-byte key> OP_CHECKSIG(ADD) per key; OP_NUMEQUAL
		if l.Kind == descriptor.LeafPk {
			script = 34
		} else if l.Threshold > 16 {
			script += 1 + (l.Threshold+127)/128 // a minimal push of at most 2 bytes
		} else {
			script++
		}
		tl := tapLeaf{script: make([]byte, script), controlBlock: make([]byte, 33+32*depths[i]), m: l.Threshold, keys: make([][]byte, n)}
		if s := tapInputSize(&tapSpend{leaves: []tapLeaf{tl}}); s.witness > worst.witness {
			worst = s
		}
	}
	return worst
}

// VerifyTap checks that x is a key of input i's leaf with hash leafHash and
// that sig is x's valid BIP-340 signature (64 bytes, SIGHASH_DEFAULT) of
// that leaf: what the signer adapter checks before taking a taproot
// script-path signature back from a signer.
func (v *SigVerifier) VerifyTap(i int, x, leafHash, sig []byte) error {
	if i < 0 || i >= len(v.a.in) {
		return fmt.Errorf("input %d: the PSBT has %d inputs", i, len(v.a.in))
	}
	st := &v.a.in[i]
	switch {
	case st.prevErr != nil:
		return st.prevErr
	case st.spendErr != nil:
		return st.spendErr
	case st.spend == nil:
		return errors.New("the input is already finalized")
	case st.spend.kind != kindTr:
		return errors.New("the input is not taproot")
	case len(sig) != 64:
		return fmt.Errorf("signature of %d bytes: only 64-byte SIGHASH_DEFAULT signatures are accepted", len(sig))
	}
	ts := st.spend.tap
	li := slices.IndexFunc(ts.leaves, func(l tapLeaf) bool { return bytes.Equal(l.hash[:], leafHash) })
	if li < 0 {
		return fmt.Errorf("leaf %x is not one of the input's leaves", leafHash)
	}
	if ts.leaves[li].indexOf(x) < 0 {
		return fmt.Errorf("key %x is not in the leaf", x)
	}
	return verifySchnorr(v.a, i, &ts.leaves[li], x, sig)
}

// VerifyTapKey checks that sig is a valid BIP-340 key-path signature
// (64 bytes, SIGHASH_DEFAULT) of taproot input i by its output key: what
// the signer adapter checks before taking a key-path signature back from a
// signer whose key is the input's internal key.
func (v *SigVerifier) VerifyTapKey(i int, sig []byte) error {
	if i < 0 || i >= len(v.a.in) {
		return fmt.Errorf("input %d: the PSBT has %d inputs", i, len(v.a.in))
	}
	st := &v.a.in[i]
	switch {
	case st.prevErr != nil:
		return st.prevErr
	case st.spendErr != nil:
		return st.spendErr
	case st.spend == nil:
		return errors.New("the input is already finalized")
	case st.spend.kind != kindTr:
		return errors.New("the input is not taproot")
	case len(sig) != 64:
		return fmt.Errorf("signature of %d bytes: only 64-byte SIGHASH_DEFAULT signatures are accepted", len(sig))
	}
	return verifySchnorr(v.a, i, nil, st.spend.tap.outputKey, sig)
}

// signatureCount is how many signatures an input's records hold: ECDSA
// partial signatures, taproot script-path signatures and a key-path one.
func signatureCount(in *bpsbt.PInput) int {
	n := len(in.PartialSigs) + len(in.TaprootScriptSpendSig)
	if len(in.TaprootKeySpendSig) > 0 {
		n++
	}
	return n
}

// checkTapFinal checks the signatures of a finalized taproot input: a
// 64-byte signature is SIGHASH_DEFAULT, a 65-byte one must end in
// SIGHASH_ALL (the key path is the single item; a script path ends with the
// script and the control block).
func checkTapFinal(in *bpsbt.PInput, i int, op wire.OutPoint) error {
	if len(in.TaprootScriptSpendSig) > 0 || len(in.TaprootKeySpendSig) > 0 {
		return refuse(RuleSignature, fmt.Errorf("input %d (%s) is finalized but carries taproot signatures a finalizer would have cleared: they were added afterwards", i, op))
	}
	w, err := parseWitness(in.FinalScriptWitness)
	if err != nil || len(w) == 0 {
		return fmt.Errorf("%w: input %d (%s) is a finalized taproot input without a valid witness", ErrRefused, i, op)
	}
	items := w
	if len(w) > 1 && len(w[len(w)-1]) > 0 && w[len(w)-1][0] == txscript.TaprootAnnexTag {
		return fmt.Errorf("%w: input %d (%s) carries a taproot annex, which countersign does not write", ErrRefused, i, op)
	}
	if len(w) >= 2 {
		items = w[:len(w)-2]
	}
	for _, sig := range items {
		switch {
		case len(sig) == 0, len(sig) == 64:
		case len(sig) == 65 && txscript.SigHashType(sig[64]) == txscript.SigHashAll:
		case len(sig) == 65:
			return fmt.Errorf("%w: input %d (%s) is finalized with a taproot signature of sighash type %s; only DEFAULT and ALL are accepted", ErrRefused, i, op, SighashName(txscript.SigHashType(sig[64])))
		default:
			return fmt.Errorf("%w: input %d (%s) is finalized with a witness item of %d bytes where a signature belongs", ErrRefused, i, op, len(sig))
		}
	}
	return nil
}

// updateTapRecords is Update for a taproot input of the wallet: the
// witness_utxo and every BIP-371 record (and the BIP-373 participants)
// re-derived from the wallet, replacing what the PSBT said; signatures,
// nonces and partial signatures are kept (the gate verifies them).
func updateTapRecords(in *bpsbt.PInput, prevOut *wire.TxOut, d *descriptor.Derived, where string, change func(string, ...any)) {
	if in.WitnessUtxo == nil {
		in.WitnessUtxo = wire.NewTxOut(prevOut.Value, bytes.Clone(prevOut.PkScript))
		change("%s: added witness_utxo", where)
	}
	before := fmt.Sprintf("%x|%x|%d|%d", in.TaprootInternalKey, in.TaprootMerkleRoot, len(in.TaprootLeafScript), len(in.TaprootBip32Derivation))
	prevTx := in.NonWitnessUtxo
	witness := in.WitnessUtxo
	// updateTapInput needs the previous transaction only for the UTXO
	// records, which are already settled here.
	in.TaprootInternalKey = bytes.Clone(d.Tap.InternalKey)
	in.TaprootMerkleRoot = bytes.Clone(d.Tap.MerkleRoot)
	in.TaprootLeafScript = nil
	for _, l := range d.Tap.Leaves {
		in.TaprootLeafScript = append(in.TaprootLeafScript, &bpsbt.TaprootTapLeafScript{
			ControlBlock: bytes.Clone(l.ControlBlock), Script: bytes.Clone(l.Script), LeafVersion: txscript.BaseLeafVersion,
		})
	}
	in.TaprootBip32Derivation = tapDerivations(d)
	in.Unknowns = append(removeMuSigRecords(in.Unknowns, inMuSigParticipants), muSigParticipantRecords(inMuSigParticipants, d)...)
	in.NonWitnessUtxo, in.WitnessUtxo = prevTx, witness
	if after := fmt.Sprintf("%x|%x|%d|%d", in.TaprootInternalKey, in.TaprootMerkleRoot, len(in.TaprootLeafScript), len(in.TaprootBip32Derivation)); after != before {
		change("%s: set the taproot internal key, merkle root, leaf scripts and key derivations from the wallet", where)
	}
}
