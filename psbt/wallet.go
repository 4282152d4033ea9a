package psbt

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
)

// WalletInfo is the wallet a PSBT is checked against: its descriptor (the
// multipath wallet form, or a single-branch one), its network, and a label
// per key in descriptor order ("" when unknown) used to name cosigners.
type WalletInfo struct {
	Descriptor *descriptor.Descriptor
	Network    *chaincfg.Params
	Labels     []string
	// Memo, when set, remembers signatures verified, keys checked and
	// scripts derived across the calls of one process (see Memo); nil:
	// each call works them out for itself.
	Memo *Memo
}

// position is a (branch, index) of the wallet's descriptor.
type position struct{ branch, index uint32 }

// walletView answers "does this script derive from the wallet?" for one
// operation. Derivations are cached: inputs and outputs often share an
// address, and each derivation costs one child key derivation per cosigner.
type walletView struct {
	w    WalletInfo
	d    *descriptor.Descriptor
	fps  map[[4]byte]bool // fingerprints the wallet's keys are known by
	keys []keyInfo

	// signer maps a key of d.Keys to its cosigner (Labels index): a
	// taproot descriptor lists a cosigner's key more than once.
	signer []int

	memo  *Memo
	cache *derivationCache // shared through the memo by every view of this wallet
}

// cosignerOf is the cosigner (Labels index) of descriptor key k.
func (v *walletView) cosignerOf(k int) int {
	if v == nil || k < 0 || k >= len(v.signer) {
		return k
	}
	return v.signer[k]
}

type derivation struct {
	d   *descriptor.Derived
	err error
}

// keyInfo is what locating a BIP-32 path needs about one descriptor key.
type keyInfo struct {
	fp     [4]byte
	prefix []uint32 // the origin path; nil without origin
	steps  []descriptor.PathElem
	wild   bool
	hwild  bool
	// selfFP is the fingerprint of the extended key itself. A cosigner
	// whose wallet holds this key without its origin (Electrum, when the
	// xpub was typed in) writes derivations rooted at the xpub:
	// [selfFP]/branch/index.
	selfFP  [4]byte
	hasSelf bool
}

// newWalletView returns nil when w has no descriptor: every input and
// output is then external.
func newWalletView(w WalletInfo) *walletView {
	if w.Descriptor == nil || w.Network == nil {
		return nil
	}
	d := walletForm(w.Descriptor)
	v := &walletView{
		w:     w,
		d:     d,
		fps:   make(map[[4]byte]bool),
		memo:  w.Memo,
		cache: w.Memo.derivations(d.String() + "\x00" + w.Network.Name),
	}
	for _, k := range d.Keys {
		ki := keyInfo{steps: k.Path, wild: k.Wildcard, hwild: k.HardenedWildcard}
		switch {
		case k.Origin != nil:
			ki.fp, ki.prefix = k.Origin.Fingerprint, k.Origin.Path
		case k.XPub != nil:
			// A key without origin is its own root: its fingerprint is the
			// first 4 bytes of its hash160, as the descriptor reports it.
			if pk, err := k.XPub.ECPubKey(); err == nil {
				copy(ki.fp[:], btcutil.Hash160(pk.SerializeCompressed()))
			}
		case k.PubKey != nil:
			ser := k.PubKey.SerializeCompressed()
			if k.Uncompressed {
				ser = k.PubKey.SerializeUncompressed()
			}
			copy(ki.fp[:], btcutil.Hash160(ser))
		}
		if k.XPub != nil {
			if pk, err := k.XPub.ECPubKey(); err == nil {
				copy(ki.selfFP[:], btcutil.Hash160(pk.SerializeCompressed()))
				ki.hasSelf = true
				v.fps[ki.selfFP] = true
			}
		}
		v.fps[ki.fp] = true
		v.keys = append(v.keys, ki)
	}
	v.signer = make([]int, len(d.Keys))
	pos := 0
	for _, s := range d.Signers() {
		if d.Unspendable() && s.Keys[0] == d.Tap.Internal.Key {
			for _, k := range s.Keys {
				v.signer[k] = -1
			}
			continue
		}
		for _, k := range s.Keys {
			v.signer[k] = pos
		}
		pos++
	}
	return v
}

// walletForm returns the descriptor that stands for the whole wallet: a
// Core-style receive (/0/*) or change (/1/*) descriptor becomes its
// /<0;1>/* form, so that branch 0 is receive and branch 1 change whichever
// half the caller holds.
func walletForm(d *descriptor.Descriptor) *descriptor.Descriptor {
	if d.Branches() == 1 {
		return d.Multipath()
	}
	return d
}

// derive returns the wallet's scripts at pos, from the cache when it can.
// It is safe for concurrent use.
func (v *walletView) derive(pos position) (*descriptor.Derived, error) {
	v.cache.mu.Lock()
	c, ok := v.cache.m[pos]
	v.cache.mu.Unlock()
	if ok {
		return c.d, c.err
	}
	d, err := v.d.Derive(pos.branch, pos.index, v.w.Network)
	v.remember(derivation{d, err}, pos)
	return d, err
}

// remember caches a derivation and records its keys as points (they come
// out of curve arithmetic).
func (v *walletView) remember(c derivation, pos position) {
	v.cache.mu.Lock()
	v.cache.m[pos] = c
	v.cache.mu.Unlock()
	if c.d != nil {
		for _, k := range c.d.Keys {
			v.memo.knowValid(k.PubKey)
		}
	}
}

// prefetch derives, before per-input work starts, every position the
// PSBT's derivations claim. Dense runs of indexes (a wallet's addresses are
// mostly consecutive) go through DeriveRange, whose batched arithmetic is
// several times faster per address than one Derive at a time; the rest are
// derived in parallel. Errors are left for derive to report.
func (v *walletView) prefetch(ps []position) {
	byBranch := make(map[uint32][]uint32)
	v.cache.mu.Lock()
	for _, p := range ps {
		if _, ok := v.cache.m[p]; !ok {
			byBranch[p.branch] = append(byBranch[p.branch], p.index)
		}
	}
	v.cache.mu.Unlock()
	var rest []position
	for branch, idx := range byBranch {
		slices.Sort(idx)
		idx = slices.Compact(idx)
		for i := 0; i < len(idx); {
			// Grow the run while about half of its span is wanted, so that
			// batching derives at most twice what is needed (plus one
			// batch's worth).
			j := i
			for j+1 < len(idx) && int64(idx[j+1]-idx[i])+1 <= 2*int64(j+2-i)+minPrefetchRun {
				j++
			}
			if j+1-i >= minPrefetchRun {
				if ds, err := v.d.DeriveRange(branch, idx[i], idx[j]-idx[i]+1, v.w.Network); err == nil {
					for _, d := range ds {
						v.remember(derivation{d: d}, position{branch, d.Index})
					}
					i = j + 1
					continue
				}
			}
			for ; i <= j; i++ {
				rest = append(rest, position{branch, idx[i]})
			}
		}
	}
	parallelFor(len(rest), func(k int) { _, _ = v.derive(rest[k]) })
}

// minPrefetchRun is the shortest run of indexes worth a DeriveRange call;
// the descriptor package batches from 64 addresses on.
const minPrefetchRun = 64

// prefetchPacket derives every position the packet's inputs and outputs
// claim.
func (v *walletView) prefetchPacket(p *bpsbt.Packet, a *analysis) {
	var ps []position
	for i := range p.Inputs {
		if a.in[i].spend != nil {
			ps = append(ps, v.candidates(inputDerivations(&p.Inputs[i]))...)
		}
	}
	for j := range p.Outputs {
		ps = append(ps, v.candidates(outputDerivations(&p.Outputs[j]))...)
	}
	v.prefetch(ps)
}

// prefetchClaims derives every position the derivations of the packet's
// inputs (not finalized) and outputs claim, before any of them is
// checked: an updater or combiner then finds them all derived.
func (v *walletView) prefetchClaims(p *bpsbt.Packet) {
	var ps []position
	for i := range p.Inputs {
		if !isFinalized(&p.Inputs[i]) {
			ps = append(ps, v.candidates(p.Inputs[i].Bip32Derivation)...)
		}
	}
	for j := range p.Outputs {
		ps = append(ps, v.candidates(p.Outputs[j].Bip32Derivation)...)
	}
	v.prefetch(ps)
}

// locate turns a BIP-32 derivation into the wallet positions it claims:
// the path must be some key's origin path followed by that key's steps,
// with the multipath step choosing the branch and the wildcard the index.
// The claim is only a hint; callers re-derive and compare scripts.
func (v *walletView) locate(fp [4]byte, path []uint32) []position {
	var out []position
	for _, k := range v.keys {
		prefix := k.prefix
		switch {
		case k.fp == fp:
		case k.hasSelf && k.selfFP == fp:
			prefix = nil // rooted at the xpub itself (see keyInfo.selfFP)
		default:
			continue
		}
		n := len(k.steps)
		if k.wild {
			n++
		}
		if len(path) != len(prefix)+n || !slices.Equal(path[:len(prefix)], prefix) {
			continue
		}
		rest := path[len(prefix):]
		pos, ok := position{}, true
		for j, e := range k.steps {
			if e.Multi == nil {
				ok = ok && rest[j] == e.Index
				continue
			}
			if b := slices.Index(e.Multi, rest[j]); b >= 0 {
				pos.branch = uint32(b)
			} else {
				ok = false
			}
		}
		if !ok {
			continue
		}
		if k.wild {
			idx := rest[len(rest)-1]
			switch {
			case k.hwild && idx >= descriptor.HardenedKeyStart:
				idx -= descriptor.HardenedKeyStart
			case k.hwild || idx >= descriptor.HardenedKeyStart:
				continue
			}
			pos.index = idx
		}
		if !slices.Contains(out, pos) {
			out = append(out, pos)
		}
	}
	return out
}

// candidates lists the distinct positions a set of derivations claims, at
// most one per cosigner so that a PSBT stuffed with bogus derivations
// cannot make the wallet derive without end.
func (v *walletView) candidates(ds []*bpsbt.Bip32Derivation) []position {
	var out []position
	for _, d := range ds {
		if d == nil {
			continue
		}
		for _, pos := range v.locate(fingerprintOf(d), d.Bip32Path) {
			if !slices.Contains(out, pos) {
				out = append(out, pos)
			}
		}
		if len(out) >= len(v.keys) {
			break
		}
	}
	return out
}

// claims reports whether some derivation carries one of the wallet's
// fingerprints: the record says "this is ours".
func (v *walletView) claims(ds []*bpsbt.Bip32Derivation) bool {
	for _, d := range ds {
		if d != nil && v.fps[fingerprintOf(d)] {
			return true
		}
	}
	return false
}

// matchInput finds the position whose derived scripts are exactly the
// input's: the scriptPubKey it spends and the multisig script (and, for
// sh-wsh, the P2WSH redeem script). It never trusts the derivations alone.
func (v *walletView) matchInput(in *bpsbt.PInput, st *inputState) (*descriptor.Derived, error) {
	if st.spend == nil || st.prevOut == nil {
		return nil, errors.New("its scripts or UTXO are missing or inconsistent")
	}
	cands := v.candidates(inputDerivations(in))
	if len(cands) == 0 {
		return nil, errors.New("none of its BIP-32 derivations is a path of this wallet's keys")
	}
	for _, pos := range cands {
		d, err := v.derive(pos)
		if err != nil {
			continue
		}
		if !bytes.Equal(d.ScriptPubKey, st.prevOut.PkScript) {
			continue
		}
		switch st.spend.kind {
		case kindSh:
			if bytes.Equal(d.RedeemScript, in.RedeemScript) {
				return d, nil
			}
		case kindShWsh:
			if bytes.Equal(d.RedeemScript, in.RedeemScript) && bytes.Equal(d.WitnessScript, in.WitnessScript) {
				return d, nil
			}
		case kindWsh:
			if bytes.Equal(d.WitnessScript, in.WitnessScript) {
				return d, nil
			}
		case kindTr:
			if matchTap(in, st.spend.tap, d) {
				return d, nil
			}
		}
	}
	return nil, fmt.Errorf("its scripts do not match what the wallet derives at %s", positionsString(cands))
}

// matchOutput reports whether output j pays to the wallet at a position its
// derivations claim, with matching redeem and witness scripts when the
// PSBT carries them.
func (v *walletView) matchOutput(out *bpsbt.POutput, pkScript []byte) *descriptor.Derived {
	for _, pos := range v.candidates(outputDerivations(out)) {
		d, err := v.derive(pos)
		if err != nil || !bytes.Equal(d.ScriptPubKey, pkScript) {
			continue
		}
		if !matchTapOutput(out, d) {
			continue
		}
		if out.RedeemScript != nil && !bytes.Equal(out.RedeemScript, d.RedeemScript) {
			continue
		}
		if out.WitnessScript != nil && !bytes.Equal(out.WitnessScript, d.WitnessScript) {
			continue
		}
		return d
	}
	return nil
}

// cosigner names the owner of pub for messages and reports: fingerprint and
// label. d, when known, is the wallet's derivation at the input; otherwise
// the input's BIP-32 derivations are consulted.
func (v *walletView) cosigner(pub []byte, d *descriptor.Derived, ds []*bpsbt.Bip32Derivation) (fp, label string) {
	if d != nil {
		for k, dk := range d.Keys {
			if bytes.Equal(dk.PubKey, pub) || len(pub) == 32 && len(dk.PubKey) == 33 && bytes.Equal(dk.PubKey[1:], pub) {
				return hex.EncodeToString(dk.Fingerprint[:]), v.label(v.cosignerOf(k))
			}
		}
	}
	for _, der := range ds {
		if der != nil && bytes.Equal(der.PubKey, pub) {
			f := fingerprintOf(der)
			fp = hex.EncodeToString(f[:])
			if v != nil {
				for k := range v.keys {
					if v.keys[k].fp == f || v.keys[k].hasSelf && v.keys[k].selfFP == f {
						return hex.EncodeToString(v.keys[k].fp[:]), v.label(v.cosignerOf(k))
					}
				}
			}
			return fp, ""
		}
	}
	return "", ""
}

func (v *walletView) label(k int) string {
	if v == nil || k < 0 || k >= len(v.w.Labels) {
		return ""
	}
	return v.w.Labels[k]
}

// describeCosigner formats a cosigner for an error message.
func describeCosigner(fp, label string, pub []byte) string {
	switch {
	case fp != "" && label != "":
		return fmt.Sprintf("cosigner %s (%s)", fp, label)
	case fp != "":
		return "cosigner " + fp
	}
	return fmt.Sprintf("the cosigner with pubkey %x", pub)
}

func positionsString(ps []position) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprintf("branch %d index %d", p.branch, p.index)
	}
	return strings.Join(s, ", ")
}

// fingerprintOf returns a derivation's master fingerprint as the 4 bytes
// BIP-174 serializes (btcd holds them as a little-endian uint32).
func fingerprintOf(d *bpsbt.Bip32Derivation) [4]byte {
	var fp [4]byte
	binary.LittleEndian.PutUint32(fp[:], d.MasterKeyFingerprint)
	return fp
}

// fingerprintValue is the inverse of fingerprintOf.
func fingerprintValue(fp [4]byte) uint32 {
	return binary.LittleEndian.Uint32(fp[:])
}

// CheckWallet is the gate's wallet rule alone, for a signer about to sign
// (hw.Signer runs it again right before a device sees the PSBT): it
// refuses (ErrRefused) any PSBT the wallet cannot fully explain. Every
// input must carry a non_witness_utxo that hashes to the txid it spends
// (and, for segwit, a witness_utxo that agrees with it; a legacy sh input
// must not carry one), its scripts must be the ones its prevout commits to
// and the ones the wallet derives at the position its BIP-32 derivations
// name, and a sighash type, if present, must be SIGHASH_ALL. No outpoint
// may be spent twice. Every output whose derivations carry a wallet
// fingerprint must re-derive from the wallet (else an attacker has swapped
// the change). Finalized inputs are refused: there is nothing left to sign.
func CheckWallet(p *bpsbt.Packet, w WalletInfo) error {
	if err := checkShape(p); err != nil {
		return err
	}
	w = w.withMemo()
	v := newWalletView(w)
	if v == nil {
		return fmt.Errorf("%w: no wallet descriptor or network to check the PSBT against", ErrRefused)
	}
	a := analyze(p, w.Memo)
	v.prefetchPacket(p, a)
	if err := w.Memo.checkKeys(p); err != nil {
		return err
	}
	return v.walletRule(p, a, nil)
}

// walletRule is the wallet rule of the gate (see Gate and CheckWallet, its
// only callers): inputs, then the outputs that claim to be the wallet's.
// locate finds the scripts of finalized inputs; nil refuses them. A
// refusal already naming its rule is returned as is.
func (v *walletView) walletRule(p *bpsbt.Packet, a *analysis, locate func([]byte) (uint32, uint32, bool)) error {
	if len(p.Inputs) == 0 {
		return fmt.Errorf("%w: the PSBT spends nothing (no inputs)", ErrRefused)
	}
	if err := checkDuplicateInputs(p); err != nil {
		return err
	}
	errs := make([]error, len(p.Inputs))
	parallelFor(len(p.Inputs), func(i int) {
		if a.in[i].finalized {
			errs[i] = finalizedInput(p, a, i, locate)
			return
		}
		errs[i] = v.checkInput(p, a, i)
	})
	for _, err := range errs {
		var g *GateError
		if errors.As(err, &g) {
			return g
		}
	}
	if err := joinInputs(errs); err != nil {
		return err
	}
	for j := range p.Outputs {
		out := &p.Outputs[j]
		if v.claims(outputDerivations(out)) && v.matchOutput(out, p.UnsignedTx.TxOut[j].PkScript) == nil {
			return fmt.Errorf("%w: output %d claims to be change (its BIP-32 derivations carry this wallet's fingerprints) but its script %x does not derive from the wallet: the change may have been swapped by an attacker; do not sign",
				ErrRefused, j, p.UnsignedTx.TxOut[j].PkScript)
		}
	}
	return nil
}

// checkInput is CheckWallet's test of one input.
func (v *walletView) checkInput(p *bpsbt.Packet, a *analysis, i int) error {
	in, st := &p.Inputs[i], &a.in[i]
	op := p.UnsignedTx.TxIn[i].PreviousOutPoint
	if err := inputPolicy(in, st, i, op); err != nil {
		return err
	}
	if _, err := v.matchInput(in, st); err != nil {
		return fmt.Errorf("%w: input %d (%s) does not belong to this wallet: %v", ErrRefused, i, op, err)
	}
	return nil
}

// inputPolicy is what countersign requires of an input before anyone signs
// it, beyond BIP-174's rules: both UTXO records for segwit (so the amount
// is proven), only the non-witness one for sh, scripts that match the
// prevout, and SIGHASH_ALL. Inspect reports the same failures as warnings.
func inputPolicy(in *bpsbt.PInput, st *inputState, i int, op wire.OutPoint) error {
	switch {
	case st.prevErr != nil:
		return st.prevErr
	case in.NonWitnessUtxo == nil:
		return fmt.Errorf("%w: input %d (%s) has no non_witness_utxo: without the previous transaction its amount cannot be proven; rebuild the PSBT with `countersign spend`", ErrRefused, i, op)
	case st.spendErr != nil:
		return st.spendErr
	case st.spend.kind.segwit() && in.WitnessUtxo == nil:
		return fmt.Errorf("%w: input %d (%s) is segwit but has no witness_utxo; rebuild the PSBT with `countersign spend`", ErrRefused, i, op)
	case !st.spend.kind.segwit() && in.WitnessUtxo != nil:
		return fmt.Errorf("%w: input %d (%s) carries a witness_utxo but spends a legacy P2SH output (BIP-174: no non-witness signature may be made then)", ErrRefused, i, op)
	case in.SighashType != 0 && in.SighashType != txscript.SigHashAll:
		return fmt.Errorf("%w: input %d (%s) asks for sighash type 0x%x; countersign signs only SIGHASH_ALL, other types let others change the transaction", ErrRefused, i, op, uint32(in.SighashType))
	}
	return nil
}

// checkDuplicateInputs refuses a transaction that spends one outpoint
// twice: consensus rejects it, and it would double-count the input amount.
func checkDuplicateInputs(p *bpsbt.Packet) error {
	seen := make(map[wire.OutPoint]int, len(p.UnsignedTx.TxIn))
	for i, in := range p.UnsignedTx.TxIn {
		if j, ok := seen[in.PreviousOutPoint]; ok {
			return fmt.Errorf("%w: inputs %d and %d both spend %s", ErrRefused, j, i, in.PreviousOutPoint)
		}
		seen[in.PreviousOutPoint] = i
	}
	return nil
}

// Recognises reports whether some input of p spends from the wallet w: its
// scripts are the ones the wallet derives at the position its BIP-32
// derivations claim. It verifies no signature and refuses nothing; use it to
// find which stored wallet a PSBT belongs to.
func Recognises(p *bpsbt.Packet, w WalletInfo) bool {
	if checkShape(p) != nil {
		return false
	}
	v := newWalletView(w)
	if v == nil {
		return false
	}
	a := analyze(p, w.Memo)
	for i := range p.Inputs {
		if a.in[i].spend == nil || !v.claims(inputDerivations(&p.Inputs[i])) {
			continue
		}
		if _, err := v.matchInput(&p.Inputs[i], &a.in[i]); err == nil {
			return true
		}
	}
	return false
}
