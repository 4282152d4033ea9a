package descriptor

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcec/v2/schnorr/musig2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
)

// TapLeafVersion is the BIP-342 tapscript leaf version.
const TapLeafVersion = 0xc0

// DerivedTap is the taproot part of a Derived position.
type DerivedTap struct {
	// InternalKey is the 32-byte x-only internal key (BIP-341 P). For rawtr
	// it equals OutputKey: there is no tweak.
	InternalKey []byte
	OutputKey   []byte // 32-byte x-only output key Q
	OutputOdd   bool   // Q has an odd Y (the control block's parity bit)
	MerkleRoot  []byte // 32 bytes; nil without a script tree
	Leaves      []DerivedLeaf
	// MuSig lists every musig() key at this position; KeyPath indexes the
	// internal key's entry, or is -1 when the key path is a single key.
	MuSig   []DerivedMuSig
	KeyPath int
	// Unspendable is set when the internal key is BIP-341's NUMS point.
	Unspendable bool
}

// DerivedLeaf is one script leaf at a derived position.
type DerivedLeaf struct {
	Script       []byte
	ControlBlock []byte   // leaf version|parity, internal key, sibling hashes
	LeafHash     [32]byte // BIP-341 tapleaf hash
	Depth        int
	Kind         LeafKind
	Threshold    int
	XOnlyKeys    [][]byte // the keys in script order
	// MuSig maps a key of XOnlyKeys to its DerivedTap.MuSig entry, -1 for a
	// plain key.
	MuSig []int
}

// DerivedMuSig is one musig() aggregate at a derived position (BIP-390).
type DerivedMuSig struct {
	// Participants are the 33-byte participant keys in written order;
	// ParticipantKeys their indexes in Derived.Keys.
	Participants    [][]byte
	ParticipantKeys []int
	// AggregateKey is the 33-byte plain KeyAgg result of the sorted
	// participants (BIP-327), before any steps after musig(...).
	AggregateKey []byte
	// PubKey is the 33-byte key after the steps (BIP-328), equal to
	// AggregateKey when there are none.
	PubKey []byte
	// Fingerprint and Path locate PubKey under the BIP-328 synthetic xpub
	// of AggregateKey (Path empty when there are no steps).
	Fingerprint [4]byte
	Path        []uint32
}

// MuSigChainCode is the BIP-328 chain code of a synthetic xpub made from a
// MuSig2 aggregate key: SHA-256 of "MuSig2MuSig2MuSig2".
func MuSigChainCode() []byte {
	h := sha256.Sum256([]byte("MuSig2MuSig2MuSig2"))
	return h[:]
}

// assembleTr builds a taproot output from the keys' public keys at one
// position (pubs in Keys order).
func (d *Descriptor) assembleTr(nodes []keyNode, pubs [][]byte, branch, index uint32, net *chaincfg.Params) (*Derived, error) {
	out := &Derived{Branch: branch, Index: index, Keys: make([]DerivedKey, len(nodes))}
	for i := range nodes {
		out.Keys[i] = DerivedKey{PubKey: pubs[i], Fingerprint: nodes[i].fingerprint, Path: nodes[i].appendPath(nil, index)}
	}
	tap := &DerivedTap{KeyPath: -1, Unspendable: d.Unspendable()}
	out.Tap = tap
	musigs := map[string]int{}
	// resolve returns the 33-byte key of a TapKey and its MuSig entry.
	resolve := func(t TapKey) ([]byte, int, error) {
		if !t.IsMuSig() {
			return pubs[t.Key], -1, nil
		}
		var b bytes.Buffer
		for _, p := range t.MuSig {
			fmt.Fprintf(&b, "%d,", p)
		}
		fmt.Fprintf(&b, "%v%v", t.Path, t.Wildcard)
		if i, ok := musigs[b.String()]; ok {
			return tap.MuSig[i].PubKey, i, nil
		}
		m, err := deriveMuSig(t, pubs, branch, index)
		if err != nil {
			return nil, 0, err
		}
		tap.MuSig = append(tap.MuSig, *m)
		musigs[b.String()] = len(tap.MuSig) - 1
		return m.PubKey, len(tap.MuSig) - 1, nil
	}

	internal, mi, err := resolve(d.Tap.Internal)
	if err != nil {
		return nil, err
	}
	tap.KeyPath = mi
	internalKey, err := btcec.ParsePubKey(internal)
	if err != nil {
		return nil, invalid(fmt.Errorf("internal key: %w", err))
	}
	tap.InternalKey = schnorr.SerializePubKey(internalKey)

	var outputKey *btcec.PublicKey
	if d.Tap.Raw {
		outputKey, _ = schnorr.ParsePubKey(tap.InternalKey)
	} else {
		var siblings [][][]byte
		var root []byte
		if d.Tap.Tree != nil {
			h, _, err := hashTree(d.Tap.Tree, 0, resolve, tap, &siblings)
			if err != nil {
				return nil, err
			}
			root = h[:]
			tap.MerkleRoot = root
		}
		outputKey = txscript.ComputeTaprootOutputKey(internalKey, root)
		tap.OutputOdd = outputKey.SerializeCompressed()[0] == 0x03
		for i := range tap.Leaves {
			l := &tap.Leaves[i]
			cb := make([]byte, 0, 33+32*len(siblings[i]))
			v := byte(TapLeafVersion)
			if tap.OutputOdd {
				v |= 1
			}
			cb = append(cb, v)
			cb = append(cb, tap.InternalKey...)
			for _, s := range siblings[i] {
				cb = append(cb, s...)
			}
			l.ControlBlock = cb
		}
	}
	tap.OutputKey = schnorr.SerializePubKey(outputKey)
	tap.OutputOdd = outputKey.SerializeCompressed()[0] == 0x03
	addr, err := btcutil.NewAddressTaproot(tap.OutputKey, net)
	if err != nil {
		return nil, invalid(fmt.Errorf("encoding the address for %s: %w", NetworkName(net), err))
	}
	out.Address = addr.EncodeAddress()
	out.ScriptPubKey = append([]byte{txscript.OP_1, txscript.OP_DATA_32}, tap.OutputKey...)
	return out, nil
}

// hashTree computes the BIP-341 hash of a (sub)tree, appending its leaves
// to tap.Leaves and, for each, the sibling hashes from the leaf upwards.
func hashTree(n *TapTree, depth int, resolve func(TapKey) ([]byte, int, error), tap *DerivedTap, siblings *[][][]byte) (chainhash.Hash, []int, error) {
	if n.Leaf != nil {
		l, err := leafScript(n.Leaf, resolve)
		if err != nil {
			return chainhash.Hash{}, nil, err
		}
		l.Depth = depth
		h := txscript.NewBaseTapLeaf(l.Script).TapHash()
		l.LeafHash = h
		tap.Leaves = append(tap.Leaves, *l)
		*siblings = append(*siblings, nil)
		return h, []int{len(tap.Leaves) - 1}, nil
	}
	lh, lm, err := hashTree(n.Left, depth+1, resolve, tap, siblings)
	if err != nil {
		return chainhash.Hash{}, nil, err
	}
	rh, rm, err := hashTree(n.Right, depth+1, resolve, tap, siblings)
	if err != nil {
		return chainhash.Hash{}, nil, err
	}
	for _, i := range lm {
		(*siblings)[i] = append((*siblings)[i], slices.Clone(rh[:]))
	}
	for _, i := range rm {
		(*siblings)[i] = append((*siblings)[i], slices.Clone(lh[:]))
	}
	a, b := lh[:], rh[:]
	if bytes.Compare(a, b) > 0 {
		a, b = b, a
	}
	return *chainhash.TaggedHash(chainhash.TagTapBranch, a, b), append(lm, rm...), nil
}

// leafScript builds a leaf's tapscript (BIP-386 pk, BIP-387 multi_a).
func leafScript(l *TapLeaf, resolve func(TapKey) ([]byte, int, error)) (*DerivedLeaf, error) {
	out := &DerivedLeaf{Kind: l.Kind, Threshold: l.Threshold}
	type key struct {
		x  []byte
		mu int
	}
	keys := make([]key, len(l.Keys))
	for i, t := range l.Keys {
		pub, mi, err := resolve(t)
		if err != nil {
			return nil, err
		}
		keys[i] = key{x: pub[1:33], mu: mi}
	}
	if l.Kind == LeafSortedMultiA {
		slices.SortStableFunc(keys, func(a, b key) int { return bytes.Compare(a.x, b.x) })
	}
	for i := range keys {
		for j := range i {
			if bytes.Equal(keys[i].x, keys[j].x) {
				return nil, invalid(errors.New("two keys of one multi_a() leaf derive the same x-only key: each cosigner key may appear once"))
			}
		}
	}
	var s []byte
	for i, k := range keys {
		s = append(s, txscript.OP_DATA_32)
		s = append(s, k.x...)
		switch {
		case l.Kind == LeafPk:
			s = append(s, txscript.OP_CHECKSIG)
		case i == 0:
			s = append(s, txscript.OP_CHECKSIG)
		default:
			s = append(s, txscript.OP_CHECKSIGADD)
		}
		out.XOnlyKeys = append(out.XOnlyKeys, slices.Clone(k.x))
		out.MuSig = append(out.MuSig, k.mu)
	}
	if l.Kind != LeafPk {
		s = appendScriptNum(s, l.Threshold)
		s = append(s, txscript.OP_NUMEQUAL)
	}
	out.Script = s
	return out, nil
}

// appendScriptNum pushes v minimally: OP_1..OP_16, else a script number.
func appendScriptNum(s []byte, v int) []byte {
	if v >= 1 && v <= 16 {
		return append(s, byte(txscript.OP_1-1+v))
	}
	var num []byte
	for x := v; x > 0; x >>= 8 {
		num = append(num, byte(x))
	}
	if num[len(num)-1]&0x80 != 0 {
		num = append(num, 0)
	}
	s = append(s, byte(len(num)))
	return append(s, num...)
}

// deriveMuSig aggregates the participants' keys (sorted, BIP-327 KeySort
// then KeyAgg, as BIP-390 requires) and applies the steps after musig(...)
// to the BIP-328 synthetic xpub.
func deriveMuSig(t TapKey, pubs [][]byte, branch, index uint32) (*DerivedMuSig, error) {
	m := &DerivedMuSig{ParticipantKeys: slices.Clone(t.MuSig)}
	keys := make([]*btcec.PublicKey, len(t.MuSig))
	for i, p := range t.MuSig {
		pk, err := btcec.ParsePubKey(pubs[p])
		if err != nil {
			return nil, invalidKey(p, err)
		}
		keys[i] = pk
		m.Participants = append(m.Participants, pubs[p])
	}
	agg, _, _, err := musig2.AggregateKeys(keys, true)
	if err != nil {
		return nil, invalid(fmt.Errorf("musig(): aggregating keys: %w", err))
	}
	m.AggregateKey = agg.FinalKey.SerializeCompressed()
	m.PubKey = m.AggregateKey
	if len(t.Path) == 0 && !t.Wildcard {
		return m, nil
	}
	copy(m.Fingerprint[:], btcutil.Hash160(m.AggregateKey))
	x := hdkeychain.NewExtendedKey(chaincfg.MainNetParams.HDPublicKeyID[:], m.AggregateKey, MuSigChainCode(), []byte{0, 0, 0, 0}, 0, 0, false)
	steps := make([]uint32, 0, len(t.Path)+1)
	for _, e := range t.Path {
		v := e.Index
		if e.Multi != nil {
			if int(branch) >= len(e.Multi) {
				return nil, invalid(fmt.Errorf("branch %d does not exist: musig()'s multipath step has %d alternatives", branch, len(e.Multi)))
			}
			v = e.Multi[branch]
		}
		steps = append(steps, v)
	}
	if t.Wildcard {
		steps = append(steps, index)
	}
	for _, s := range steps {
		if x, err = x.Derive(s); err != nil {
			return nil, invalid(fmt.Errorf("musig(): deriving step %d: %w", s, err))
		}
	}
	pk, err := x.ECPubKey()
	if err != nil {
		return nil, invalid(err)
	}
	m.PubKey = pk.SerializeCompressed()
	m.Path = steps
	return m, nil
}
