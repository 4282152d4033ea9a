package descriptor

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
)

// Taproot descriptors (BIP-386 tr() and rawtr(), BIP-387 multi_a() and
// sortedmulti_a(), BIP-390 musig()).
//
// A taproot Descriptor keeps every distinct key expression once in
// Descriptor.Keys (so derivation, network checks and caching work as for
// the other script types) and describes the structure in Descriptor.Tap,
// whose TapKeys point into Keys by index. The same cosigner may appear
// twice in Keys: once bare as a musig() participant ([fp/48h/0h/0h/2h]xpub)
// and once derived in a leaf ([fp/48h/0h/0h/2h]xpub/<0;1>/*); Signers
// groups those back into cosigners.

// maxMultiAKeys is BIP-387's limit on keys in one multi_a().
const maxMultiAKeys = 999

// maxTapTreeDepth is BIP-341's limit on the depth of the script tree
// (control blocks hold at most 128 hashes).
const maxTapTreeDepth = 128

// NUMSKey is BIP-341's provably unspendable point H, x-only: lift_x of the
// SHA-256 of the uncompressed generator G. A tr() whose internal key is H
// (or an xpub whose key is H) has no key path.
const NUMSKey = "50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0"

// numsXOnlyKey returns NUMSKey as bytes.
func numsXOnlyKey() []byte {
	b, _ := hex.DecodeString(NUMSKey)
	return b
}

// TapKey is a key expression inside tr(): one key (Key indexes
// Descriptor.Keys) or musig() of several participants (BIP-390) with
// optional unhardened steps after it.
type TapKey struct {
	Key int // index into Descriptor.Keys when MuSig is nil

	MuSig    []int      // musig() participants in written order, indexes into Descriptor.Keys
	Path     []PathElem // steps after musig(...), e.g. /<0;1>
	Wildcard bool       // musig(...)/.../*
}

// IsMuSig reports whether the key is a musig() aggregate.
func (t TapKey) IsMuSig() bool { return t.MuSig != nil }

// LeafKind is the script of one tapscript leaf.
type LeafKind int

const (
	LeafPk           LeafKind = iota + 1 // pk(KEY): <key> OP_CHECKSIG
	LeafMultiA                           // multi_a(k,KEY,...) (BIP-387)
	LeafSortedMultiA                     // sortedmulti_a(k,KEY,...): keys sorted by x-only encoding
)

// TapLeaf is one script leaf of the tree.
type TapLeaf struct {
	Kind      LeafKind
	Threshold int // 1 for pk()
	Keys      []TapKey
}

// TapTree is a node of the script tree: a leaf, or a branch {Left,Right}.
type TapTree struct {
	Leaf        *TapLeaf
	Left, Right *TapTree
}

// Taproot is the structure of a tr() or rawtr() descriptor.
type Taproot struct {
	Raw      bool     // rawtr(KEY): Internal is the output key itself, no tweak
	Internal TapKey   // the internal key (tr) or the output key (rawtr)
	Tree     *TapTree // nil: key path only
}

// Leaves returns the leaves in depth-first, left-to-right order (the order
// they are written in), with their depths.
func (t *Taproot) Leaves() ([]*TapLeaf, []int) {
	var leaves []*TapLeaf
	var depths []int
	var walk func(n *TapTree, depth int)
	walk = func(n *TapTree, depth int) {
		if n == nil {
			return
		}
		if n.Leaf != nil {
			leaves = append(leaves, n.Leaf)
			depths = append(depths, depth)
			return
		}
		walk(n.Left, depth+1)
		walk(n.Right, depth+1)
	}
	walk(t.Tree, 0)
	return leaves, depths
}

// Unspendable reports whether the internal key is BIP-341's NUMS point H
// (as a plain key), or an xpub holding H, with or without derivation steps
// below it, so that the output can only be spent by a script leaf. A child
// of H is H + t·G for a public t: its discrete logarithm is as unknown as
// H's. The ranged form (an xpub of H ending in /<0;1>/*) is what Coldcard's
// EDGE firmware (6.3.5X on refuses the plain H) and the Ledger Bitcoin
// app (which labels such a key "unspendable") take, and it gives every
// address its own internal key.
func (d *Descriptor) Unspendable() bool {
	if d == nil || d.Tap == nil || d.Tap.Raw || d.Tap.Internal.IsMuSig() {
		return false
	}
	k := &d.Keys[d.Tap.Internal.Key]
	switch {
	case k.PubKey != nil:
		return bytes.Equal(k.PubKey.SerializeCompressed()[1:], numsXOnlyKey())
	case k.XPub != nil && !k.HardenedWildcard && !hasHardenedStep(k):
		pk, err := k.XPub.ECPubKey()
		return err == nil && bytes.Equal(pk.SerializeCompressed()[1:], numsXOnlyKey())
	}
	return false
}

// hasHardenedStep reports whether a key's steps after the xpub hold a
// hardened one (which only a private key could take).
func hasHardenedStep(k *Key) bool {
	for _, s := range k.Path {
		for _, v := range append([]uint32{s.Index}, s.Multi...) {
			if v >= hdkeychain.HardenedKeyStart {
				return true
			}
		}
	}
	return false
}

// UnspendableXPub returns an xpub whose key is BIP-341's NUMS point H, for
// a ranged internal key of a wallet without key path (tr(XPUB/<0;1>/*,
// ...)). The chain code is SHA-256 of a tag and the cosigners' keys (each
// xpub's compressed key and chain code, in the order given), so that the
// same keys always give the same wallet, and the key does not repeat
// across wallets. version is the extended key version of the network
// (the cosigners' own).
func UnspendableXPub(version []byte, cosigners []*hdkeychain.ExtendedKey) (*hdkeychain.ExtendedKey, error) {
	h := sha256.New()
	h.Write([]byte("countersign/unspendable-internal-key"))
	for _, x := range cosigners {
		pk, err := x.ECPubKey()
		if err != nil {
			return nil, err
		}
		h.Write(pk.SerializeCompressed())
		h.Write(x.ChainCode())
	}
	key := append([]byte{0x02}, numsXOnlyKey()...)
	return hdkeychain.NewExtendedKey(version, key, h.Sum(nil), []byte{0, 0, 0, 0}, 0, 0, false), nil
}

// tapThreshold is the smallest number of signatures any path needs: 1 for
// a single-key key path, n for musig of n, m for a multi_a(m) leaf. An
// unspendable key path does not count.
func (d *Descriptor) tapThreshold() int {
	best := 0
	consider := func(v int) {
		if v > 0 && (best == 0 || v < best) {
			best = v
		}
	}
	if !d.Unspendable() {
		consider(tapKeySigners(d.Tap.Internal))
	}
	leaves, _ := d.Tap.Leaves()
	for _, l := range leaves {
		if l.Kind == LeafPk {
			consider(tapKeySigners(l.Keys[0]))
			continue
		}
		consider(l.Threshold)
	}
	return best
}

// tapKeySigners is how many distinct signers a key needs.
func tapKeySigners(t TapKey) int {
	if !t.IsMuSig() {
		return 1
	}
	seen := map[int]bool{}
	for _, i := range t.MuSig {
		seen[i] = true
	}
	return len(seen)
}

// writeTr prints a taproot descriptor without checksum.
func (d *Descriptor) writeTr(b *strings.Builder) {
	if d.Tap.Raw {
		b.WriteString("rawtr(")
	} else {
		b.WriteString("tr(")
	}
	d.writeTapKey(b, d.Tap.Internal)
	if d.Tap.Tree != nil {
		b.WriteByte(',')
		d.writeTree(b, d.Tap.Tree)
	}
	b.WriteByte(')')
}

func (d *Descriptor) writeTapKey(b *strings.Builder, t TapKey) {
	if !t.IsMuSig() {
		d.Keys[t.Key].write(b)
		return
	}
	b.WriteString("musig(")
	for i, p := range t.MuSig {
		if i > 0 {
			b.WriteByte(',')
		}
		d.Keys[p].write(b)
	}
	b.WriteByte(')')
	formatPath(b, &Key{Path: t.Path, Wildcard: t.Wildcard})
}

func (d *Descriptor) writeTree(b *strings.Builder, n *TapTree) {
	if n.Leaf == nil {
		b.WriteByte('{')
		d.writeTree(b, n.Left)
		b.WriteByte(',')
		d.writeTree(b, n.Right)
		b.WriteByte('}')
		return
	}
	l := n.Leaf
	switch l.Kind {
	case LeafPk:
		b.WriteString("pk(")
		d.writeTapKey(b, l.Keys[0])
		b.WriteByte(')')
		return
	case LeafMultiA:
		b.WriteString("multi_a(")
	case LeafSortedMultiA:
		b.WriteString("sortedmulti_a(")
	}
	fmt.Fprintf(b, "%d", l.Threshold)
	for _, k := range l.Keys {
		b.WriteByte(',')
		d.writeTapKey(b, k)
	}
	b.WriteByte(')')
}

// cloneTap deep-copies the structure (the keys it points to are cloned by
// Descriptor.clone).
func (t *Taproot) clone() *Taproot {
	if t == nil {
		return nil
	}
	c := &Taproot{Raw: t.Raw, Internal: t.Internal.clone(), Tree: t.Tree.clone()}
	return c
}

func (t TapKey) clone() TapKey {
	c := TapKey{Key: t.Key, Wildcard: t.Wildcard}
	if t.MuSig != nil {
		c.MuSig = append([]int(nil), t.MuSig...)
	}
	if t.Path != nil {
		c.Path = make([]PathElem, len(t.Path))
		for i, e := range t.Path {
			c.Path[i] = PathElem{Index: e.Index}
			if e.Multi != nil {
				c.Path[i].Multi = append([]uint32(nil), e.Multi...)
			}
		}
	}
	return c
}

func (n *TapTree) clone() *TapTree {
	if n == nil {
		return nil
	}
	c := &TapTree{Left: n.Left.clone(), Right: n.Right.clone()}
	if n.Leaf != nil {
		l := &TapLeaf{Kind: n.Leaf.Kind, Threshold: n.Leaf.Threshold, Keys: make([]TapKey, len(n.Leaf.Keys))}
		for i, k := range n.Leaf.Keys {
			l.Keys[i] = k.clone()
		}
		c.Leaf = l
	}
	return c
}

// tapKeys calls f on every TapKey of the descriptor (internal key first,
// then the leaves in written order).
func (t *Taproot) tapKeys(f func(*TapKey)) {
	f(&t.Internal)
	var walk func(n *TapTree)
	walk = func(n *TapTree) {
		if n == nil {
			return
		}
		if n.Leaf != nil {
			for i := range n.Leaf.Keys {
				f(&n.Leaf.Keys[i])
			}
			return
		}
		walk(n.Left)
		walk(n.Right)
	}
	walk(t.Tree)
}

// validateTr enforces the rules of BIP-386, 387 and 390 on a parsed (or
// hand-built) taproot descriptor and sets Threshold.
func validateTr(d *Descriptor, fams []family) error {
	t := d.Tap
	if t == nil {
		return invalid(errors.New("tr descriptor without its taproot structure"))
	}
	if len(d.Keys) == 0 {
		return invalid(errors.New("tr() has no keys"))
	}
	for i := range d.Keys {
		k := &d.Keys[i]
		if (k.XPub == nil) == (k.PubKey == nil) {
			if k.XPub == nil {
				return invalidKey(i, errNoKeyMaterial)
			}
			return invalidKey(i, errors.New("has both an extended key and a public key; set one"))
		}
		if k.Uncompressed {
			return invalidKey(i, errors.New("uncompressed public key in tr(): taproot keys are x-only"))
		}
	}
	if t.Raw && t.Tree != nil {
		return invalid(errors.New("rawtr() has no script tree"))
	}
	var err error
	check := func(tk *TapKey) {
		if err != nil {
			return
		}
		refs := tk.MuSig
		if !tk.IsMuSig() {
			refs = []int{tk.Key}
			if len(tk.Path) > 0 || tk.Wildcard {
				err = invalid(errors.New("derivation steps on a TapKey that is not musig()"))
				return
			}
		} else if len(refs) == 0 {
			err = invalid(errors.New("musig() has no participants"))
			return
		}
		for _, r := range refs {
			if r < 0 || r >= len(d.Keys) {
				err = invalid(fmt.Errorf("key reference %d is outside the %d keys", r, len(d.Keys)))
				return
			}
		}
	}
	t.tapKeys(check)
	if err != nil {
		return err
	}
	leaves, depths := t.Leaves()
	for i, l := range leaves {
		if depths[i] > maxTapTreeDepth {
			return invalid(fmt.Errorf("script tree is deeper than %d levels, the BIP-341 limit", maxTapTreeDepth))
		}
		if err := checkLeaf(d, l, i); err != nil {
			return err
		}
	}
	if err := checkTree(t.Tree); err != nil {
		return err
	}
	if err := checkNetworks(d, fams); err != nil {
		return err
	}
	if err := checkMultipath(d); err != nil {
		return err
	}
	// The aggregate's own multipath step must match the keys' (BIP-389).
	want := 0
	for i := range d.Keys {
		if n := d.Keys[i].multipathLen(); n > 0 {
			want = n
			break
		}
	}
	t.tapKeys(func(tk *TapKey) {
		n := (&Key{Path: tk.Path}).multipathLen()
		switch {
		case err != nil || n == 0:
		case want == 0:
			want = n
		case n != want:
			err = invalid(fmt.Errorf("musig() has %d multipath alternatives but another key has %d: BIP-389 requires the same number everywhere", n, want))
		}
	})
	if err != nil {
		return err
	}
	d.Threshold = d.tapThreshold()
	if d.Threshold == 0 {
		return invalid(errors.New("tr() has no spending path: the internal key is unspendable and there is no script leaf"))
	}
	return nil
}

// checkTree refuses a branch without two children.
func checkTree(n *TapTree) error {
	if n == nil || n.Leaf != nil {
		return nil
	}
	if n.Left == nil || n.Right == nil {
		return invalid(errors.New("script tree branch without two children"))
	}
	if err := checkTree(n.Left); err != nil {
		return err
	}
	return checkTree(n.Right)
}

// checkLeaf enforces BIP-387's threshold rules and refuses a key repeated
// within one leaf (it would let one cosigner sign twice).
func checkLeaf(d *Descriptor, l *TapLeaf, n int) error {
	where := fmt.Sprintf("leaf %d", n+1)
	switch l.Kind {
	case LeafPk:
		if len(l.Keys) != 1 {
			return invalid(fmt.Errorf("%s: pk() takes exactly one key", where))
		}
		return nil
	case LeafMultiA, LeafSortedMultiA:
	default:
		return invalid(fmt.Errorf("%s: unknown leaf kind %d", where, int(l.Kind)))
	}
	k, m := len(l.Keys), l.Threshold
	switch {
	case k == 0:
		return invalid(fmt.Errorf("%s: multi_a() has no keys", where))
	case k > maxMultiAKeys:
		return invalid(fmt.Errorf("%s: %d keys, more than BIP-387's %d", where, k, maxMultiAKeys))
	case m < 1:
		return invalid(fmt.Errorf("%s: threshold %d: at least 1 signature must be required", where, m))
	case m > k:
		return invalid(fmt.Errorf("%s: threshold %d is more than the %d keys: a %d-of-%d leaf could never be spent", where, m, k, m, k))
	}
	seen := map[string]int{}
	for j, tk := range l.Keys {
		var b strings.Builder
		if tk.IsMuSig() {
			d.writeTapKey(&b, tk)
		} else {
			id, err := keyIdentity(&d.Keys[tk.Key])
			if err != nil {
				return invalid(fmt.Errorf("%s: key %d: %w", where, j+1, err))
			}
			b.WriteString(id)
		}
		if i, ok := seen[b.String()]; ok {
			return invalid(fmt.Errorf("%s: key %d duplicates key %d: each key may appear once in a multi_a() (a repeated key lets one cosigner sign twice)", where, j+1, i+1))
		}
		seen[b.String()] = j
	}
	return nil
}

// tapPolicy describes the spending paths in a few words, e.g.
// "musig of 3 or 2 of 3".
func (d *Descriptor) tapPolicy() string {
	var parts []string
	if !d.Unspendable() {
		if d.Tap.Internal.IsMuSig() {
			parts = append(parts, fmt.Sprintf("musig of %d", tapKeySigners(d.Tap.Internal)))
		} else {
			parts = append(parts, "1 key")
		}
	}
	leaves, _ := d.Tap.Leaves()
	for _, l := range leaves {
		if l.Kind == LeafPk {
			if l.Keys[0].IsMuSig() {
				parts = append(parts, fmt.Sprintf("musig of %d", tapKeySigners(l.Keys[0])))
			} else {
				parts = append(parts, "1 key")
			}
			continue
		}
		parts = append(parts, fmt.Sprintf("%d of %d", l.Threshold, len(l.Keys)))
	}
	return strings.Join(parts, " or ")
}

// TaprootOptions shapes the wallet NewTaproot builds.
type TaprootOptions struct {
	// NoKeyPath uses a ranged xpub of BIP-341's NUMS point as internal
	// key (UnspendableXPub): no MuSig2 key path, script leaves only (for
	// signers without MuSig2).
	NoKeyPath bool
	// Unsorted writes multi_a instead of sortedmulti_a (key order fixed by
	// the descriptor rather than sorted per address).
	Unsorted bool
	// LeafPerSubset writes one m-of-m leaf per m-key subset (C(n,m)
	// leaves in a balanced tree) instead of one m-of-n leaf: each script
	// spend reveals only its m keys and carries no empty signature slots,
	// at the cost of a longer control block. At most maxSubsetLeaves.
	LeafPerSubset bool
}

// maxSubsetLeaves bounds LeafPerSubset: 1,024 leaves is a tree 10 deep.
const maxSubsetLeaves = 1024

// NewTaproot builds an m-of-n taproot wallet from the cosigners' keys
// (each with its origin and its steps, e.g. [fp/48h/1h/0h/3h]tpub/<0;1>/*):
//
//	tr(musig(K1,...,Kn)/<0;1>/*, sortedmulti_a(m, K1/<0;1>/*, ..., Kn/<0;1>/*))
//
// The key path is a MuSig2 aggregate of all n keys (BIP-327, BIP-390): when
// every cosigner signs, the spend looks like a single-key payment and is the
// cheapest. The one script leaf is m of the n keys, the fallback when some
// cosigners are absent. With NoKeyPath the internal key is an xpub of the
// NUMS point H with the keys' steps (UnspendableXPub) and only the leaf
// can spend.
func NewTaproot(threshold int, keys []Key, opt TaprootOptions) (*Descriptor, error) {
	if len(keys) == 0 {
		return nil, invalid(errors.New("a taproot wallet needs at least one key"))
	}
	var b strings.Builder
	b.WriteString("tr(")
	var suffix strings.Builder
	if opt.NoKeyPath {
		// A ranged xpub of H, with the cosigners' steps (/<0;1>/*), not
		// the plain H: devices take only the ranged form, and each address
		// gets its own internal key instead of one H that marks every
		// output of the wallet as script-only on chain.
		xs := make([]*hdkeychain.ExtendedKey, len(keys))
		for i := range keys {
			if keys[i].XPub == nil {
				return nil, invalid(fmt.Errorf("key %d is not an extended key: a taproot wallet's keys are xpubs", i+1))
			}
			xs[i] = keys[i].XPub
		}
		x, err := UnspendableXPub(keys[0].XPub.Version(), xs)
		if err != nil {
			return nil, invalid(err)
		}
		b.WriteString(x.String())
		formatPath(&b, &keys[0])
	} else {
		b.WriteString("musig(")
		for i := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			k := keys[i].clone()
			suffix.Reset()
			formatPath(&suffix, &k)
			k.Path, k.Wildcard, k.HardenedWildcard = nil, false, false
			k.write(&b)
		}
		b.WriteByte(')')
		// The aggregate takes the steps the keys had (the same for all of
		// them in a wallet; validation below refuses anything else).
		b.WriteString(suffix.String())
	}
	b.WriteByte(',')
	leaf := func(idx []int) string {
		var l strings.Builder
		if opt.Unsorted {
			l.WriteString("multi_a(")
		} else {
			l.WriteString("sortedmulti_a(")
		}
		fmt.Fprintf(&l, "%d", threshold)
		for _, i := range idx {
			l.WriteByte(',')
			k := keys[i].clone()
			k.write(&l)
		}
		l.WriteByte(')')
		return l.String()
	}
	all := make([]int, len(keys))
	for i := range all {
		all[i] = i
	}
	if !opt.LeafPerSubset || threshold < 1 || threshold >= len(keys) {
		b.WriteString(leaf(all))
	} else {
		subsets := combinations(len(keys), threshold, maxSubsetLeaves+1)
		if len(subsets) > maxSubsetLeaves {
			return nil, invalid(fmt.Errorf("%d-of-%d has more than %d key subsets: one leaf per subset would make too large a tree; use the single m-of-n leaf", threshold, len(keys), maxSubsetLeaves))
		}
		leaves := make([]string, len(subsets))
		for i, s := range subsets {
			leaves[i] = leaf(s)
		}
		b.WriteString(balancedTree(leaves))
	}
	b.WriteString(")")
	if !opt.NoKeyPath {
		var first strings.Builder
		formatPath(&first, &keys[0])
		for i := range keys {
			var s strings.Builder
			formatPath(&s, &keys[i])
			if s.String() != first.String() {
				return nil, invalidKey(i, fmt.Errorf("has steps %q but key 1 has %q: a MuSig2 key path needs the same steps on every key", s.String(), first.String()))
			}
		}
	}
	return Parse(b.String())
}

// Signer is one cosigner of a taproot wallet: the key expressions in
// Descriptor.Keys that share one extended (or plain) key, e.g. the bare
// musig() participant and the same xpub with /<0;1>/* in a leaf.
type Signer struct {
	Keys []int // indexes into Descriptor.Keys, in order
}

// Signers groups Keys by cosigner. For non-taproot descriptors every key is
// its own signer.
func (d *Descriptor) Signers() []Signer {
	var out []Signer
	seen := map[string]int{}
	for i := range d.Keys {
		k := &d.Keys[i]
		var id string
		switch {
		case d.Tap == nil:
			id = fmt.Sprint(i)
		case k.XPub != nil:
			id = k.XPub.String()
		case k.PubKey != nil:
			id = hex.EncodeToString(k.PubKey.SerializeCompressed()[1:])
		}
		if j, ok := seen[id]; ok {
			out[j].Keys = append(out[j].Keys, i)
			continue
		}
		seen[id] = len(out)
		out = append(out, Signer{Keys: []int{i}})
	}
	return out
}

// Cosigners returns one key per cosigner in order: Keys itself for sh/wsh
// multisig; for taproot the first expression of each Signer (the bare
// musig() participant in countersign's default shape, which carries the
// cosigner's origin), leaving out BIP-341's unspendable internal key. Len
// is N().
func (d *Descriptor) Cosigners() []Key {
	if d.Tap == nil {
		return d.Keys
	}
	var out []Key
	nums := -1
	if d.Unspendable() {
		nums = d.Tap.Internal.Key
	}
	for _, s := range d.Signers() {
		if s.Keys[0] == nums {
			continue
		}
		out = append(out, d.Keys[s.Keys[0]])
	}
	return out
}

// SpendingPaths explains a taproot descriptor's ways to spend in plain
// words, cheapest first; nil for other script types.
func (d *Descriptor) SpendingPaths() []string {
	if d == nil || d.Tap == nil {
		return nil
	}
	var out []string
	switch {
	case d.Tap.Raw:
		out = append(out, "Key path only (rawtr): the output key itself signs; there is no script.")
	case d.Unspendable():
		out = append(out, "Key path: none. The internal key is BIP-341's unspendable point H (or a key derived from it, which no one can sign for either), so every spend uses a script leaf below.")
	case d.Tap.Internal.IsMuSig():
		n := tapKeySigners(d.Tap.Internal)
		out = append(out, fmt.Sprintf("Key path: all %d cosigners together as one MuSig2 key. On chain it looks like a single-key payment and costs the least; every cosigner must take part in two rounds (a nonce, then a partial signature).", n))
	default:
		out = append(out, "Key path: one key signs alone (a single Schnorr signature, the cheapest spend).")
	}
	leaves, _ := d.Tap.Leaves()
	for i, l := range leaves {
		var what string
		switch {
		case l.Kind == LeafPk && l.Keys[0].IsMuSig():
			what = fmt.Sprintf("all %d keys of a MuSig2 key together", tapKeySigners(l.Keys[0]))
		case l.Kind == LeafPk:
			what = "one key alone"
		case l.Threshold == len(l.Keys):
			what = fmt.Sprintf("all %d keys, one signature each", len(l.Keys))
		default:
			what = fmt.Sprintf("any %d of %d keys, one signature each", l.Threshold, len(l.Keys))
		}
		out = append(out, fmt.Sprintf("Script leaf %d: %s. The fallback when the key path cannot be used; it reveals this leaf on chain and costs more.", i+1, what))
	}
	return out
}

// combinations lists the k-element subsets of 0..n-1 in lexicographic
// order, stopping after limit of them.
func combinations(n, k, limit int) [][]int {
	var out [][]int
	cur := make([]int, 0, k)
	var rec func(start int)
	rec = func(start int) {
		if len(out) >= limit {
			return
		}
		if len(cur) == k {
			out = append(out, append([]int(nil), cur...))
			return
		}
		for i := start; i <= n-(k-len(cur)); i++ {
			cur = append(cur, i)
			rec(i + 1)
			cur = cur[:len(cur)-1]
		}
	}
	rec(0)
	return out
}

// balancedTree writes leaves as a tree whose depths differ by at most one
// (every leaf is equally likely to be used).
func balancedTree(leaves []string) string {
	if len(leaves) == 1 {
		return leaves[0]
	}
	mid := (len(leaves) + 1) / 2
	return "{" + balancedTree(leaves[:mid]) + "," + balancedTree(leaves[mid:]) + "}"
}
