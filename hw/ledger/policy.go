package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
)

// policyVersion is the first byte of a serialized wallet policy: version 2
// of the policy language (descriptor templates with @i/**), the one the app
// speaks since 2.1.0.
const policyVersion = 0x02

// maxNameLen is the app's MAX_WALLET_NAME_LENGTH.
const maxNameLen = 64

// WalletPolicy is a multisig wallet as the Ledger Bitcoin app knows it
// (doc/wallet.md, BIP-388): a name shown on the device, a descriptor
// template with key placeholders, and the keys.
//
//	Name:     "treasury"
//	Template: "wsh(sortedmulti(2,@0/**,@1/**,@2/**))"
//	Keys:     ["[f5acc2fd/48'/1'/0'/2']tpubDF...", ...]
type WalletPolicy struct {
	Name     string
	Template string
	Keys     []string

	needs []appNeed // app versions the template's features need
}

// PolicyFromDescriptor expresses d as the wallet policy named name
// (BIP-388; doc/wallet.md of LedgerHQ/app-bitcoin-new): m-of-n multisig
// under sh, sh(wsh()) and wsh; wsh(MINISCRIPT); and tr() with
// pk/multi_a/sortedmulti_a leaves and musig() key expressions. Every key
// must be an xpub ending in /<0;1>/* (or /0/* and /1/*, the Core
// receive/change pair), a musig() participant a bare xpub under a
// musig(...)/<0;1>/*: the app has no other form. Key placeholders are
// numbered in the order the keys first appear, as BIP-388 asks. A wallet
// the app cannot express is refused with hw.ErrUnsupported naming why.
//
// The policy records which app version it needs (AppVersionNeeded); the
// driver checks that against the app it talks to.
func PolicyFromDescriptor(d *descriptor.Descriptor, name string) (*WalletPolicy, error) {
	if d == nil {
		return nil, errors.New("no wallet descriptor")
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	m := d.Multipath()
	b := &policyBuilder{index: map[string]int{}}
	var tmpl string
	var err error
	switch {
	case m.Script == descriptor.ScriptTr:
		tmpl, err = b.taproot(m)
	case m.IsMiniscript():
		tmpl, err = b.miniscript(m)
	default:
		tmpl, err = b.multisig(m)
	}
	if err != nil {
		return nil, err
	}
	if len(b.keys) > maxPolicyKeys {
		return nil, unsupported("the wallet has %d distinct keys; the Ledger Bitcoin app takes at most %d in one wallet policy", len(b.keys), maxPolicyKeys)
	}
	return &WalletPolicy{Name: name, Template: tmpl, Keys: b.keys, needs: b.needs}, nil
}

// maxPolicyKeys is the app's MAX_N_KEYS_IN_WALLET_POLICY (src/common/wallet.h
// at app-bitcoin-new fc8d7ab6; 15 since 2.4.0).
const maxPolicyKeys = 15

// maxMuSigKeys is the app's MAX_PUBKEYS_PER_MUSIG (src/common/wallet.h at
// app-bitcoin-new fc8d7ab6): the most keys one musig() aggregates.
const maxMuSigKeys = 5

// App versions that added what a policy may use (CHANGELOG.md of
// app-bitcoin-new at fc8d7ab6).
var (
	// 2.1.0: miniscript under wsh. 2.1.2 fixed the addresses of miniscript
	// with an a: wrapper, which 2.1.0 and 2.1.1 derived wrongly.
	verMiniscriptA = semver{2, 1, 2}
	// 2.1.2: tr() with pk, multi_a and sortedmulti_a leaves.
	verTaproot = semver{2, 1, 2}
	// 2.2.1 fixed the leaf hashes of taproot keys not ending in /**.
	verTapSteps = semver{2, 2, 1}
	// 2.4.0: musig() key expressions; 2.4.1 fixed signing for policies
	// with both musig() and script paths.
	verMuSig        = semver{2, 4, 0}
	verMuSigScripts = semver{2, 4, 1}
)

// appNeed is one feature of a policy and the first app version that has it.
type appNeed struct {
	version semver
	what    string
}

// unsupported is an hw.ErrUnsupported refusal.
func unsupported(format string, args ...any) error {
	return &hw.Error{Kind: hw.ErrUnsupported, Err: fmt.Errorf(format, args...)}
}

// policyBuilder collects the key information vector while a template is
// written: each distinct key (origin and xpub) gets the next placeholder
// the first time it appears.
type policyBuilder struct {
	keys  []string
	index map[string]int
	needs []appNeed
	// steps records, per key expression (@i, or musig() of a set of
	// keys), the receive/change steps it is used with so far.
	steps map[string][][2]uint32
}

// use records one key expression with its steps. The app refuses a
// policy that uses the same key expression twice with a step in common
// (is_policy_sane in src/handler/lib/policy.c: "Key expressions with
// repeated derivations"; BIP-388's disjoint-paths rule), which a
// descriptor allows: the same xpub/<0;1>/* in two leaves.
func (b *policyBuilder) use(expr string, m, n uint32) error {
	if b.steps == nil {
		b.steps = map[string][][2]uint32{}
	}
	for _, s := range b.steps[expr] {
		if s[0] == m || s[0] == n || s[1] == m || s[1] == n {
			return unsupported("the wallet uses the key %s with the same receive/change steps in more than one place (as a wallet made with --leaf-per-subset does: each key in several leaves); a Ledger wallet policy may use a key once per pair of steps (BIP-388), so the Ledger cannot hold this wallet: use the single m-of-n leaf (the default) with a Ledger", expr)
		}
	}
	b.steps[expr] = append(b.steps[expr], [2]uint32{m, n})
	return nil
}

func (b *policyBuilder) need(v semver, what string) {
	b.needs = append(b.needs, appNeed{version: v, what: what})
}

// placeholder returns @i for k's key information, adding it on first use.
func (b *policyBuilder) placeholder(info string) string {
	i, ok := b.index[info]
	if !ok {
		i = len(b.keys)
		b.index[info] = i
		b.keys = append(b.keys, info)
	}
	return "@" + strconv.Itoa(i)
}

// derived returns @i/** for a key that ends in /<0;1>/*, @i/<M;N>/* for
// one that ends in another pair of unhardened steps (the app parses both
// since 2.1.0: src/common/wallet.c, parse_keyexpr).
func (b *policyBuilder) derived(k descriptor.Key) (string, error) {
	if k.XPub == nil {
		return "", fmt.Errorf("%s is a plain public key; the Ledger needs an extended key (xpub/tpub)", k)
	}
	suffix, ok := keySuffix(k.Path, k.Wildcard, k.HardenedWildcard)
	if !ok {
		return "", fmt.Errorf("%s: the Ledger only takes keys that end in /<0;1>/* (receive /0/*, change /1/*) or another /<M;N>/* pair", k)
	}
	info, err := keyText(k)
	if err != nil {
		return "", err
	}
	ph := b.placeholder(info)
	if err := b.use(ph, k.Path[0].Multi[0], k.Path[0].Multi[1]); err != nil {
		return "", err
	}
	return ph + suffix, nil
}

// keySuffix writes the steps after a key as a placeholder's: /** for
// /<0;1>/*, /<M;N>/* for another pair of distinct unhardened steps.
func keySuffix(path []descriptor.PathElem, wildcard, hardened bool) (string, bool) {
	if len(path) != 1 || len(path[0].Multi) != 2 || !wildcard || hardened {
		return "", false
	}
	m, n := path[0].Multi[0], path[0].Multi[1]
	switch {
	case m >= descriptor.HardenedKeyStart || n >= descriptor.HardenedKeyStart || m == n:
		return "", false
	case m == 0 && n == 1:
		return "/**", true
	}
	return fmt.Sprintf("/<%d;%d>/*", m, n), true
}

// multisig writes sh/sh(wsh)/wsh multi and sortedmulti.
func (b *policyBuilder) multisig(m *descriptor.Descriptor) (string, error) {
	args := []string{strconv.Itoa(m.Threshold)}
	for i, k := range m.Keys {
		kp, err := b.derived(k)
		if err != nil {
			return "", fmt.Errorf("key %d of the wallet: %w", i+1, err)
		}
		args = append(args, kp)
	}
	fn := "multi"
	if m.Sorted {
		fn = "sortedmulti"
	}
	inner := fn + "(" + strings.Join(args, ",") + ")"
	switch m.Script {
	case descriptor.ScriptWsh:
		return "wsh(" + inner + ")", nil
	case descriptor.ScriptShWsh:
		return "sh(wsh(" + inner + "))", nil
	case descriptor.ScriptSh:
		return "sh(" + inner + ")", nil
	}
	return "", fmt.Errorf("script type %v is not one the Ledger registers", m.Script)
}

// miniscript writes wsh(MINISCRIPT) as descriptor.MiniscriptPolicy
// writes it (BIP-388: placeholders numbered in the order the keys are
// written), with each key as the app's key information.
func (b *policyBuilder) miniscript(m *descriptor.Descriptor) (string, error) {
	tmpl, keys, err := m.MiniscriptPolicy()
	if err != nil {
		return "", err
	}
	for _, k := range keys {
		info, err := keyText(k)
		if err != nil {
			return "", err
		}
		b.placeholder(info)
	}
	if hasWrapperA(tmpl) {
		b.need(verMiniscriptA, "a miniscript with an a: wrapper (versions 2.1.0 and 2.1.1 derive wrong addresses for it)")
	}
	return tmpl, nil
}

// hasWrapperA reports whether a miniscript text uses the a: wrapper: a run
// of wrapper letters before a colon that holds an a.
func hasWrapperA(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != ':' {
			continue
		}
		for j := i - 1; j >= 0 && strings.IndexByte("asctdvjnlu", s[j]) >= 0; j-- {
			if s[j] == 'a' {
				return true
			}
		}
	}
	return false
}

// taproot writes tr(KP) and tr(KP,TREE).
func (b *policyBuilder) taproot(m *descriptor.Descriptor) (string, error) {
	t := m.Tap
	if t.Raw {
		return "", unsupported("a rawtr() wallet has no internal key to derive; the Ledger's wallet policies take tr() only")
	}
	b.need(verTaproot, "a taproot (tr) wallet policy")
	if !t.Internal.IsMuSig() {
		k := m.Keys[t.Internal.Key]
		if k.XPub == nil && m.Unspendable() {
			return "", unsupported("%s", NUMSLimit)
		}
	}
	internal, err := b.tapKey(m, t.Internal)
	if err != nil {
		return "", fmt.Errorf("the internal key: %w", err)
	}
	if t.Tree == nil {
		return "tr(" + internal + ")", nil
	}
	if t.Internal.IsMuSig() {
		b.need(verMuSigScripts, "a musig() key path next to script leaves (2.4.0 fails to sign some of these)")
	}
	tree, err := b.tapTree(m, t.Tree, 0)
	if err != nil {
		return "", err
	}
	if strings.Contains(tree, "/<") {
		b.need(verTapSteps, "taproot leaf keys with steps other than /<0;1>/* (2.1.2 to 2.2.0 return wrong leaf hashes for them)")
	}
	return "tr(" + internal + "," + tree + ")", nil
}

// maxTapTreeDepth is the app's MAX_TAPTREE_POLICY_DEPTH (src/common/wallet.h
// at app-bitcoin-new fc8d7ab6) less one: the depth counts the root.
const maxTapTreeDepth = 8

func (b *policyBuilder) tapTree(m *descriptor.Descriptor, n *descriptor.TapTree, depth int) (string, error) {
	if depth > maxTapTreeDepth {
		return "", unsupported("the wallet's script tree is deeper than %d levels, more than the Ledger Bitcoin app takes", maxTapTreeDepth)
	}
	if n.Leaf == nil {
		l, err := b.tapTree(m, n.Left, depth+1)
		if err != nil {
			return "", err
		}
		r, err := b.tapTree(m, n.Right, depth+1)
		if err != nil {
			return "", err
		}
		return "{" + l + "," + r + "}", nil
	}
	leaf := n.Leaf
	args := make([]string, 0, len(leaf.Keys)+1)
	var fn string
	switch leaf.Kind {
	case descriptor.LeafPk:
		fn = "pk"
	case descriptor.LeafMultiA:
		fn = "multi_a"
		args = append(args, strconv.Itoa(leaf.Threshold))
	case descriptor.LeafSortedMultiA:
		fn = "sortedmulti_a"
		args = append(args, strconv.Itoa(leaf.Threshold))
	default:
		return "", unsupported("a script leaf of kind %d has no wallet policy form", leaf.Kind)
	}
	for _, k := range leaf.Keys {
		kp, err := b.tapKey(m, k)
		if err != nil {
			return "", fmt.Errorf("a %s leaf: %w", fn, err)
		}
		args = append(args, kp)
	}
	return fn + "(" + strings.Join(args, ",") + ")", nil
}

// tapKey writes one key expression inside tr(): @i/** or
// musig(@i,@j,...)/** (BIP-388 1.1.0: the participants are bare xpubs,
// aggregated, then derived; derivation before aggregation is not allowed).
func (b *policyBuilder) tapKey(m *descriptor.Descriptor, t descriptor.TapKey) (string, error) {
	if !t.IsMuSig() {
		return b.derived(m.Keys[t.Key])
	}
	b.need(verMuSig, "musig() key expressions (MuSig2)")
	if len(t.MuSig) > maxMuSigKeys {
		return "", unsupported("musig() of %d keys: the Ledger Bitcoin app aggregates at most %d keys in one musig()", len(t.MuSig), maxMuSigKeys)
	}
	suffix, ok := keySuffix(t.Path, t.Wildcard, false)
	if !ok {
		return "", unsupported("the Ledger takes musig(...) only followed by /<0;1>/* (receive /0/*, change /1/*) or another /<M;N>/* pair")
	}
	parts := make([]string, len(t.MuSig))
	for i, ki := range t.MuSig {
		k := m.Keys[ki]
		if k.XPub == nil || len(k.Path) != 0 || k.Wildcard {
			return "", unsupported("musig() participant %s: the Ledger takes only xpubs with no steps after them inside musig()", k)
		}
		info, err := keyText(k)
		if err != nil {
			return "", err
		}
		parts[i] = b.placeholder(info)
	}
	set := slices.Clone(parts)
	slices.Sort(set)
	if err := b.use("musig("+strings.Join(set, ",")+")", t.Path[0].Multi[0], t.Path[0].Multi[1]); err != nil {
		return "", err
	}
	return "musig(" + strings.Join(parts, ",") + ")" + suffix, nil
}

// keyText writes one key as the app's key information: the origin in
// brackets with ' for hardened steps, then the xpub, without the steps
// after it (those are in the template).
func keyText(k descriptor.Key) (string, error) {
	var b strings.Builder
	if k.Origin != nil {
		b.WriteByte('[')
		b.WriteString(hex.EncodeToString(k.Origin.Fingerprint[:]))
		// The app reads hardened steps as ' only ("h is not supported":
		// buffer_read_derivation_step in src/common/wallet.c).
		b.WriteString(strings.TrimPrefix(descriptor.Path(k.Origin.Path).Apostrophe(), "m"))
		b.WriteByte(']')
	}
	pub, err := k.XPub.Neuter()
	if err != nil {
		return "", err
	}
	b.WriteString(pub.String())
	return b.String(), nil
}

// hasMuSig reports whether the template has a musig() key expression.
func (p *WalletPolicy) hasMuSig() bool { return strings.Contains(p.Template, "musig(") }

// AppVersionNeeded returns the first Bitcoin app version that takes the
// policy and what needs it ("" for the oldest version countersign speaks).
func (p *WalletPolicy) AppVersionNeeded() (version, what string) {
	best := appNeed{version: minAppVersion}
	for _, n := range p.needs {
		if best.version.Less(n.version) {
			best = n
		}
	}
	return best.version.String(), best.what
}

// checkApp refuses a policy the app version v cannot take, naming the
// version that added what it needs.
func (p *WalletPolicy) checkApp(v semver, running string) error {
	for _, n := range p.needs {
		if v.Less(n.version) {
			return unsupported("the Ledger's Bitcoin app is version %s, but this wallet uses %s, which the app has since version %s: update the Bitcoin app with Ledger Live", running, n.what, n.version)
		}
	}
	return nil
}

// checkName applies the app's rules for wallet names.
func checkName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("wallet name %q: the Ledger takes names of 1 to %d characters", name, maxNameLen)
	}
	for _, c := range []byte(name) {
		if c < 0x20 || c > 0x7e {
			return fmt.Errorf("wallet name %q: the Ledger takes only printable ASCII characters", name)
		}
	}
	if name[0] == ' ' || name[len(name)-1] == ' ' {
		return fmt.Errorf("wallet name %q: the Ledger refuses names that start or end with a space", name)
	}
	return nil
}

// Serialize returns the policy as the app hashes it:
//
//	0x02 | len(name)(1) | name | varint(len(template)) | sha256(template) |
//	varint(len(keys)) | Merkle root of the keys
func (p *WalletPolicy) Serialize() []byte {
	tmplHash := sha256.Sum256([]byte(p.Template))
	root := p.keyList().tree.root
	out := make([]byte, 0, 2+len(p.Name)+9+32+9+32)
	out = append(out, policyVersion, byte(len(p.Name)))
	out = append(out, p.Name...)
	out = appendVarint(out, uint64(len(p.Template)))
	out = append(out, tmplHash[:]...)
	out = appendVarint(out, uint64(len(p.Keys)))
	return append(out, root[:]...)
}

// ID is the wallet id: sha256 of the serialized policy. The device's HMAC
// is over this id.
func (p *WalletPolicy) ID() [32]byte { return sha256.Sum256(p.Serialize()) }

// keyList is the Merkle list of the key information strings.
func (p *WalletPolicy) keyList() *merkleList {
	keys := make([][]byte, len(p.Keys))
	for i, k := range p.Keys {
		keys[i] = []byte(k)
	}
	return newMerkleList(keys)
}

// addTo makes the policy available to the app's requests: the serialized
// policy, the template and the list of keys.
func (p *WalletPolicy) addTo(it *interpreter) {
	it.addPreimage(p.Serialize())
	it.addPreimage([]byte(p.Template))
	it.addList(p.keyList())
}

// String prints the policy for messages.
func (p *WalletPolicy) String() string {
	return fmt.Sprintf("%q %s with keys %s", p.Name, p.Template, strings.Join(p.Keys, ", "))
}

// NUMSLimit is why a taproot wallet whose internal key is the bare NUMS
// point cannot be a Ledger wallet policy.
const NUMSLimit = "the wallet's internal key is BIP-341's bare NUMS point (as countersign's --no-key-path wrote it before it wrote a ranged xpub of the point, and other tools write it), and a Ledger wallet policy holds only extended keys (xpub/tpub) with /<0;1>/* after them: the Ledger writes an unspendable key path as an xpub whose key is the NUMS point (labelled \"dummy\" since app 2.2.2), which derives other addresses than the bare point; sign this wallet with another cosigner (software key, file), or move its coins to a wallet made with today's --no-key-path or with its MuSig2 key path (the default, Bitcoin app 2.4.1 or later)"
