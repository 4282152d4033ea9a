package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcec/v2/schnorr/musig2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
)

// wallet is a parsed, checked wallet policy.
type wallet struct {
	id       [32]byte
	name     string
	template string
	pol      *policy
	keys     []keyInfo
	// branches caches xpub/step per (key expression, step).
	branches map[[2]uint32]*hdkeychain.ExtendedKey
	// aggregates caches each musig expression's BIP-328 synthetic xpub.
	aggregates map[int]*hdkeychain.ExtendedKey
}

// numsKey is BIP-341's provably unspendable point H, compressed: the app
// (register_wallet.c, BIP0341_NUMS_PUBKEY) labels an xpub with this key as
// a dummy key that nobody can sign for.
var numsKey, _ = hex.DecodeString("0250929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0")

// musigChainCode is BIP-328's chain code of an aggregate key's synthetic
// xpub: SHA256("MuSig2MuSig2MuSig2").
var musigChainCode = sha256.Sum256([]byte("MuSig2MuSig2MuSig2"))

// checkSane makes the checks of the app's is_policy_sane
// (src/handler/lib/policy.c) that the parser does not: a miniscript's top
// is of type B, it is non-malleable, needs a signature on every path and
// mixes no time and height locks, no two keys share a public key, a musig
// has no repeated key, the same key in two expressions has disjoint
// derivations, older() is a meaningful relative lock, and the P2WSH limits
// on script size, opcodes and witness elements hold (applied to tapscript
// too, as the app does). A failure is SW_NOT_SUPPORTED with
// EC_REGISTER_WALLET_POLICY_NOT_SANE.
func (w *wallet) checkSane() error {
	notSane := func(why string, args ...any) error {
		return failCode(swNotSupported, ecRegisterNotSane, "template %q: "+why, append([]any{w.template}, args...)...)
	}
	var scripts []*node
	if w.pol.script != nil {
		scripts = append(scripts, w.pol.script)
	}
	scripts = w.pol.tree.leaves(scripts)
	for _, s := range scripts {
		if s.t.base != 0 && s.t.base != 'B' {
			return notSane("a script of type %s, not B", s.t)
		}
		// is_miniscript_sane: non-malleable, a signature on every
		// path, no timelock mixing (BIP-379).
		if s.t.base == 'B' {
			r := resources(s)
			switch sf := safety(s); {
			case !sf.m:
				return notSane("the miniscript cannot always be satisfied non-malleably")
			case !sf.s:
				return notSane("the miniscript does not always require a signature")
			case !sf.k:
				return notSane("the miniscript mixes time and height locks")
			case r.stack.sat < 0 || r.stack.sat > maxStandardP2WSHStk:
				return notSane("satisfying the miniscript takes more than %d witness elements", maxStandardP2WSHStk)
			case r.ops.sat < 0 || opCount(compileSize(s))+r.ops.sat > maxOpsPerScript:
				return notSane("the miniscript executes more than %d opcodes", maxOpsPerScript)
			}
		}
		var bad error
		walk(s, func(n *node) {
			if n.frag == "older" && !(n.k <= 0xffff || n.k > 1<<22 && n.k <= 0xffff+1<<22) && bad == nil {
				bad = notSane("older(%d) has no consensus meaning", n.k)
			}
		})
		if bad != nil {
			return bad
		}
		if w.pol.kind == kindWsh && len(compileSize(s)) > maxStandardP2WSHScript {
			return notSane("script larger than %d bytes", maxStandardP2WSHScript)
		}
	}
	for i := range w.keys {
		for j := i + 1; j < len(w.keys); j++ {
			pi, _ := w.keys[i].xpub.ECPubKey()
			pj, _ := w.keys[j].xpub.ECPubKey()
			if pi != nil && pj != nil && pi.IsEqual(pj) {
				return notSane("keys @%d and @%d are the same key", i, j)
			}
		}
	}
	ex := w.pol.exprs
	for i, a := range ex {
		seen := map[int]bool{}
		for _, k := range a.musig {
			if seen[k] {
				return notSane("musig repeats key @%d", k)
			}
			seen[k] = true
		}
		for _, b := range ex[i+1:] {
			if sameKeys(a, b) && (a.num[0] == b.num[0] || a.num[0] == b.num[1] || a.num[1] == b.num[0] || a.num[1] == b.num[1]) {
				return notSane("key expressions %d and %d derive the same keys", a.pos, b.pos)
			}
		}
	}
	return nil
}

// maxStandardP2WSHScript is Bitcoin Core's MAX_STANDARD_P2WSH_SCRIPT_SIZE.
const maxStandardP2WSHScript = 3600

// compileSize compiles s with placeholder keys of the right size, to
// measure it.
func compileSize(s *node) []byte {
	out, err := compile(s, func(*keyExpr) ([]byte, error) { return make([]byte, 33), nil })
	if err != nil {
		return nil
	}
	return out.b
}

func walk(n *node, f func(*node)) {
	f(n)
	for _, c := range n.subs {
		walk(c, f)
	}
}

// sameKeys reports whether two key expressions name the same key or
// musigs of the same set of keys (are_key_placeholders_identical).
func sameKeys(a, b *keyExpr) bool {
	if a.key != b.key || len(a.musig) != len(b.musig) {
		return false
	}
	as, bs := slices.Clone(a.musig), slices.Clone(b.musig)
	slices.Sort(as)
	slices.Sort(bs)
	return slices.Equal(as, bs)
}

// internalExpr reports whether key expression e is one of this device's
// plain keys (a musig() with one of them is musigSigner's).
func (w *wallet) internalExpr(e *keyExpr) bool {
	return e.key >= 0 && w.keys[e.key].internal
}

// pubAt derives key expression e at (change, index): the key's xpub, then
// /num[change]/index; for musig, BIP-327 KeyAgg of the participants'
// sorted keys (BIP-390), made an xpub with BIP-328's chain code, then the
// same two steps.
func (w *wallet) pubAt(e *keyExpr, change, index uint32) (*btcec.PublicKey, error) {
	base, err := w.exprXpub(e)
	if err != nil {
		return nil, err
	}
	step := e.num[change]
	ck := [2]uint32{uint32(e.pos), step}
	br := w.branches[ck]
	if br == nil {
		if br, err = base.Derive(step); err != nil {
			return nil, fail(swBadState, "derive: %v", err)
		}
		w.branches[ck] = br
	}
	child, err := br.Derive(index)
	if err != nil {
		return nil, fail(swBadState, "derive: %v", err)
	}
	pk, err := child.ECPubKey()
	if err != nil {
		return nil, fail(swBadState, "derive: %v", err)
	}
	return pk, nil
}

func (w *wallet) exprXpub(e *keyExpr) (*hdkeychain.ExtendedKey, error) {
	if e.key >= 0 {
		return w.keys[e.key].xpub, nil
	}
	if x := w.aggregates[e.pos]; x != nil {
		return x, nil
	}
	var pubs []*btcec.PublicKey
	for _, k := range e.musig {
		pk, err := w.keys[k].xpub.ECPubKey()
		if err != nil {
			return nil, fail(swBadState, "musig: %v", err)
		}
		pubs = append(pubs, pk)
	}
	x, err := musigXpub(pubs)
	if err != nil {
		return nil, fail(swBadState, "musig: %v", err)
	}
	w.aggregates[e.pos] = x
	return x, nil
}

// musigXpub is BIP-328's synthetic xpub of a MuSig2 aggregate: BIP-327
// KeyAgg of the keys after KeySort (BIP-390; the app sorts them too,
// policy.c get_derived_pubkey), the aggregate compressed, chain code
// SHA256("MuSig2MuSig2MuSig2"), depth 0.
func musigXpub(pubs []*btcec.PublicKey) (*hdkeychain.ExtendedKey, error) {
	agg, _, _, err := musig2.AggregateKeys(pubs, true)
	if err != nil {
		return nil, err
	}
	return hdkeychain.NewExtendedKey(chaincfg.TestNet3Params.HDPublicKeyID[:], agg.FinalKey.SerializeCompressed(), musigChainCode[:], []byte{0, 0, 0, 0}, 0, 0, false), nil
}

// derived is the wallet at one position.
type derived struct {
	scriptPubKey, redeemScript, witnessScript []byte
	address                                   btcutil.Address
	tap                                       *tapDerived
}

// tapDerived is a taproot wallet at one position: the internal key, the
// leaves and the tweak.
type tapDerived struct {
	internal   [32]byte // x-only internal key
	leaves     []tapLeaf
	merkleRoot []byte // nil without a tree
	tweak      [32]byte
	output     [32]byte
}

type tapLeaf struct {
	n      *node
	script []byte
	hash   [32]byte
}

// derive computes the wallet's scripts at (change, index).
func (w *wallet) derive(e *Emulator, change, index uint32) (*derived, error) {
	if change > 1 || index >= hdkeychain.HardenedKeyStart {
		return nil, fail(swIncorrectData, "position %d/%d", change, index)
	}
	if w.pol.kind == kindTr {
		return w.deriveTr(e, change, index)
	}
	s, err := compile(w.pol.script, func(k *keyExpr) ([]byte, error) {
		pk, err := w.pubAt(k, change, index)
		if err != nil {
			return nil, err
		}
		return pk.SerializeCompressed(), nil
	})
	if err != nil {
		return nil, err
	}
	ms := s.b
	d := &derived{}
	switch w.pol.kind {
	case kindWsh:
		h := sha256.Sum256(ms)
		d.witnessScript = ms
		d.scriptPubKey = p2wshScript(h)
		d.address, err = btcutil.NewAddressWitnessScriptHash(h[:], e.params)
	case kindShWsh:
		h := sha256.Sum256(ms)
		d.witnessScript = ms
		d.redeemScript = p2wshScript(h)
		d.scriptPubKey = p2shScript(d.redeemScript)
		d.address, err = btcutil.NewAddressScriptHashFromHash(btcutil.Hash160(d.redeemScript), e.params)
	case kindSh:
		if len(ms) > maxScriptElementSize {
			return nil, fail(swIncorrectData, "redeem script too long")
		}
		d.redeemScript = ms
		d.scriptPubKey = p2shScript(ms)
		d.address, err = btcutil.NewAddressScriptHashFromHash(btcutil.Hash160(ms), e.params)
	}
	if err != nil {
		return nil, fail(swBadState, "address: %v", err)
	}
	return d, nil
}

// deriveTr computes a taproot wallet's output at (change, index).
func (w *wallet) deriveTr(e *Emulator, change, index uint32) (*derived, error) {
	td, err := taprootOutput(w.pol, func(k *keyExpr) (*btcec.PublicKey, error) { return w.pubAt(k, change, index) })
	if err != nil {
		return nil, err
	}
	d := &derived{tap: td, scriptPubKey: append([]byte{op1, 32}, td.output[:]...)}
	if d.address, err = btcutil.NewAddressTaproot(td.output[:], e.params); err != nil {
		return nil, fail(swBadState, "address: %v", err)
	}
	return d, nil
}

// taprootOutput computes a tr() policy's output (BIP-341, BIP-386) with
// the keys key gives: each leaf's tapscript with x-only keys, the tree's
// Merkle root, and the internal key tweaked by it.
func taprootOutput(pol *policy, key func(*keyExpr) (*btcec.PublicKey, error)) (*tapDerived, error) {
	xonly := func(k *keyExpr) ([]byte, error) {
		pk, err := key(k)
		if err != nil {
			return nil, err
		}
		return schnorr.SerializePubKey(pk), nil
	}
	ik, err := xonly(pol.internal)
	if err != nil {
		return nil, err
	}
	td := &tapDerived{}
	copy(td.internal[:], ik)
	var root func(t *tapTree) ([32]byte, error)
	root = func(t *tapTree) ([32]byte, error) {
		if t.leaf != nil {
			s, err := compile(t.leaf, xonly)
			if err != nil {
				return [32]byte{}, err
			}
			l := tapLeaf{n: t.leaf, script: s.b, hash: leafHash(tapLeafVersion, s.b)}
			td.leaves = append(td.leaves, l)
			return l.hash, nil
		}
		a, err := root(t.left)
		if err != nil {
			return a, err
		}
		b, err := root(t.right)
		if err != nil {
			return b, err
		}
		return branchHash(a, b), nil
	}
	if pol.tree != nil {
		r, err := root(pol.tree)
		if err != nil {
			return nil, err
		}
		td.merkleRoot = r[:]
	}
	q, tweak, err := tweakKey(td.internal[:], td.merkleRoot)
	if err != nil {
		return nil, fail(swBadState, "taproot tweak: %v", err)
	}
	td.tweak = tweak
	copy(td.output[:], schnorr.SerializePubKey(q))
	return td, nil
}

// branchHash is BIP-341's TapBranch of two children, sorted.
func branchHash(a, b [32]byte) [32]byte {
	if bytes.Compare(a[:], b[:]) > 0 {
		a, b = b, a
	}
	return taggedHash("TapBranch", a[:], b[:])
}

// tweakKey is BIP-341's taproot_tweak_pubkey: t = TapTweak(P || root), Q =
// lift_x(P) + tG.
func tweakKey(internal, root []byte) (*btcec.PublicKey, [32]byte, error) {
	p, err := schnorr.ParsePubKey(internal)
	if err != nil {
		return nil, [32]byte{}, err
	}
	t := taggedHash("TapTweak", internal, root)
	var ts btcec.ModNScalar
	if ts.SetBytes(&t) != 0 {
		return nil, t, errTweakOverflow
	}
	var pj, tg, qj btcec.JacobianPoint
	p.AsJacobian(&pj)
	btcec.ScalarBaseMultNonConst(&ts, &tg)
	btcec.AddNonConst(&pj, &tg, &qj)
	if (qj.X.IsZero() && qj.Y.IsZero()) || qj.Z.IsZero() {
		return nil, t, errTweakOverflow
	}
	qj.ToAffine()
	return btcec.NewPublicKey(&qj.X, &qj.Y), t, nil
}

// errTweakOverflow is BIP-341's failure of a tweak at or above the group
// order, or a tweaked key at infinity: with SHA-256 it does not happen.
var errTweakOverflow = errors.New("taproot tweak out of range")
