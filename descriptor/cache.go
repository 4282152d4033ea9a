package descriptor

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/countersign/countersign/internal/secp"
)

// nodeCache keeps, per branch, every key's node just above the wildcard
// (e.g. xpub/<branch> for xpub/<0;1>/*). Building it costs a few
// derivations per key; afterwards an address costs one child per key.
type nodeCache struct {
	mu       sync.Mutex
	branches map[uint32][]keyNode // immutable once stored

	// fallbacks counts batch rounds that failed verifyRound and were redone
	// the slow way; it stays 0 unless the fast arithmetic is wrong.
	fallbacks atomic.Int64
}

// baseTable returns the fixed-base table DeriveRange uses (see batch.go):
// one per process, read from the binary.
func (c *nodeCache) baseTable() *secp.BaseTable {
	return secp.SharedBaseTable()
}

func newNodeCache() *nodeCache {
	return &nodeCache{branches: make(map[uint32][]keyNode)}
}

// keyNode is one key prepared for a branch. Exactly one of final, parent and
// privParent is set.
type keyNode struct {
	final      []byte                  // the key itself when it has no wildcard
	parent     *pubNode                // the node the unhardened wildcard /* enumerates
	privParent *hdkeychain.ExtendedKey // the node a hardened wildcard /*h enumerates (private keys only)

	fingerprint [4]byte
	path        []uint32 // from the master (or the key itself) to final/parent
}

// nodes returns the prepared keys for a branch, building them once.
func (c *nodeCache) nodes(d *Descriptor, branch uint32) ([]keyNode, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.branches[branch]; ok {
		return n, nil
	}
	n, err := buildNodes(d, branch)
	if err != nil {
		return nil, err
	}
	c.branches[branch] = n
	return n, nil
}

// buildNodes prepares every key for one branch and refuses keys that would
// always derive the same public key (e.g. xpub/0/* next to the xpub at /0
// with /*), which a textual duplicate check cannot see.
func buildNodes(d *Descriptor, branch uint32) ([]keyNode, error) {
	out := make([]keyNode, len(d.Keys))
	for i := range d.Keys {
		n, err := buildNode(&d.Keys[i], branch)
		if err != nil {
			return nil, invalidKey(i, err)
		}
		out[i] = n
	}
	if d.Tap != nil {
		// Taproot may use one key in several places (the internal key and
		// a leaf); repeats inside one leaf are refused in assembleTr.
		return out, nil
	}
	for i := range out {
		for j := range i {
			if sameNode(&out[i], &out[j]) {
				return nil, invalidKey(i, fmt.Errorf("derives the same public keys as key %d (same key and chain code at branch %d): each cosigner key may appear once", j+1, branch))
			}
		}
	}
	return out, nil
}

func sameNode(a, b *keyNode) bool {
	switch {
	case a.final != nil && b.final != nil:
		return bytes.Equal(a.final, b.final)
	case a.parent != nil && b.parent != nil:
		return a.parent.pubKey == b.parent.pubKey && a.parent.chainCode == b.parent.chainCode
	}
	return false
}

// buildNode walks a key's fixed steps (with the branch's multipath choice).
func buildNode(k *Key, branch uint32) (keyNode, error) {
	var n keyNode
	if k.Origin != nil {
		n.fingerprint = k.Origin.Fingerprint
		n.path = slices.Clone(k.Origin.Path)
	}
	if k.XPub == nil {
		if k.PubKey == nil {
			return keyNode{}, errNoKeyMaterial
		}
		n.final = k.serializedPubKey()
		if k.Origin == nil {
			// Without an origin the key is its own root, as Bitcoin Core
			// reports it: fingerprint = first 4 bytes of its hash160.
			copy(n.fingerprint[:], btcutil.Hash160(n.final))
		}
		return n, nil
	}
	if k.Origin == nil {
		pk, err := k.XPub.ECPubKey()
		if err != nil {
			return keyNode{}, fmt.Errorf("extended key holds an invalid public key: %w", err)
		}
		copy(n.fingerprint[:], btcutil.Hash160(pk.SerializeCompressed()))
	}
	steps := make([]uint32, len(k.Path))
	for j, e := range k.Path {
		steps[j] = e.Index
		if e.Multi != nil {
			if int(branch) >= len(e.Multi) {
				return keyNode{}, fmt.Errorf("branch %d does not exist: the key's multipath step has %d alternatives", branch, len(e.Multi))
			}
			steps[j] = e.Multi[branch]
		}
	}
	n.path = append(n.path, steps...)
	if k.xprv != nil {
		return buildPrivateNode(n, k, steps)
	}
	if k.HardenedWildcard {
		return keyNode{}, errHardenedFromPublic
	}
	node, err := nodeFromExtendedKey(k.XPub)
	if err != nil {
		return keyNode{}, err
	}
	for _, s := range steps {
		if s >= HardenedKeyStart {
			return keyNode{}, errHardenedFromPublic
		}
		if node, err = node.child(s); err != nil {
			return keyNode{}, err
		}
	}
	if k.Wildcard {
		n.parent = node
	} else {
		n.final = node.pubKey[:]
	}
	return n, nil
}

// buildPrivateNode walks the steps with the private key, which may be
// hardened, as BIP-380 allows for xprv expressions.
func buildPrivateNode(n keyNode, k *Key, steps []uint32) (keyNode, error) {
	node := k.xprv
	for _, s := range steps {
		var err error
		if node, err = node.Derive(s); err != nil {
			return keyNode{}, fmt.Errorf("deriving step %d of the private key: %w", s, err)
		}
	}
	switch {
	case k.HardenedWildcard:
		n.privParent = node
	case k.Wildcard:
		p, err := nodeFromExtendedKey(node)
		if err != nil {
			return keyNode{}, err
		}
		n.parent = p
	default:
		pk, err := node.ECPubKey()
		if err != nil {
			return keyNode{}, err
		}
		n.final = pk.SerializeCompressed()
	}
	return n, nil
}

// pubKeyAt is the key's public key at a wildcard index.
func (n *keyNode) pubKeyAt(index uint32) ([]byte, error) {
	switch {
	case n.parent != nil:
		pub, _, err := n.parent.ckd(index)
		if err != nil {
			return nil, err
		}
		return pub[:], nil
	case n.privParent != nil:
		child, err := n.privParent.Derive(index + HardenedKeyStart)
		if err != nil {
			return nil, err
		}
		pk, err := child.ECPubKey()
		if err != nil {
			return nil, err
		}
		return pk.SerializeCompressed(), nil
	}
	return slices.Clone(n.final), nil
}

// pathLen is the length of the key's full path at an index.
func (n *keyNode) pathLen() int {
	if n.parent != nil || n.privParent != nil {
		return len(n.path) + 1
	}
	return len(n.path)
}

// appendPath appends the key's path from the master at a wildcard index.
func (n *keyNode) appendPath(dst []uint32, index uint32) []uint32 {
	dst = append(dst, n.path...)
	switch {
	case n.parent != nil:
		dst = append(dst, index)
	case n.privParent != nil:
		dst = append(dst, index+HardenedKeyStart)
	}
	return dst
}
