package ledger

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"sort"
)

// The app's Merkle trees (doc/merkle.md): RFC 6962 trees over SHA-256 with
// domain separation, and the hash of the empty list defined as 32 zeros.
//
//	leaf:      sha256(0x00 || element)
//	node:      sha256(0x01 || left || right)
//	MTH(D[n]): the left subtree holds the largest power of two < n leaves
//
// A proof for a leaf lists the hashes of the siblings of the nodes on its
// path, from the leaf up to the root's child.

// leafHash is the hash of one element as a leaf.
func leafHash(element []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{0x00})
	h.Write(element)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// nodeHash combines two child hashes.
func nodeHash(left, right [32]byte) [32]byte {
	var buf [65]byte
	buf[0] = 0x01
	copy(buf[1:], left[:])
	copy(buf[33:], right[:])
	return sha256.Sum256(buf[:])
}

// merkleTree is a complete tree kept in memory so that every proof is a
// walk up parent links: built once, queried many times.
type merkleTree struct {
	nodes   [][32]byte // leaves first (0..n-1), then internal nodes
	parent  []int32    // -1 for the root
	sibling []int32    // -1 for the root
	root    [32]byte
	n       int
	index   map[[32]byte]int // first leaf index of each leaf hash
}

// newMerkleTree builds the tree over the given leaf hashes.
func newMerkleTree(leaves [][32]byte) *merkleTree {
	n := len(leaves)
	t := &merkleTree{
		nodes:   make([][32]byte, n, max(2*n-1, 0)),
		parent:  make([]int32, n, max(2*n-1, 0)),
		sibling: make([]int32, n, max(2*n-1, 0)),
		n:       n,
		index:   make(map[[32]byte]int, n),
	}
	copy(t.nodes, leaves)
	for i := n - 1; i >= 0; i-- {
		t.index[leaves[i]] = i
	}
	if n == 0 {
		return t // root stays all zeros
	}
	r := t.build(0, n)
	t.parent[r], t.sibling[r] = -1, -1
	t.root = t.nodes[r]
	return t
}

// build returns the node id of the subtree over leaves [lo, hi).
func (t *merkleTree) build(lo, hi int) int32 {
	if hi-lo == 1 {
		return int32(lo)
	}
	k := largestPowerOfTwoBelow(hi - lo)
	l, r := t.build(lo, lo+k), t.build(lo+k, hi)
	id := int32(len(t.nodes))
	t.nodes = append(t.nodes, nodeHash(t.nodes[l], t.nodes[r]))
	t.parent = append(t.parent, -1)
	t.sibling = append(t.sibling, -1)
	t.parent[l], t.parent[r] = id, id
	t.sibling[l], t.sibling[r] = r, l
	return id
}

// largestPowerOfTwoBelow returns the largest power of two strictly below n
// (n >= 2).
func largestPowerOfTwoBelow(n int) int {
	k := 1
	for k*2 < n {
		k *= 2
	}
	return k
}

// leaf returns the hash of leaf i.
func (t *merkleTree) leaf(i int) [32]byte { return t.nodes[i] }

// proof returns the sibling hashes from leaf i up to the root.
func (t *merkleTree) proof(i int) [][32]byte {
	var out [][32]byte
	for cur := int32(i); t.parent[cur] >= 0; cur = t.parent[cur] {
		out = append(out, t.nodes[t.sibling[cur]])
	}
	return out
}

// merkleList is a list of elements with its tree: what the host reveals
// element by element.
type merkleList struct {
	elements [][]byte
	tree     *merkleTree
}

func newMerkleList(elements [][]byte) *merkleList {
	leaves := make([][32]byte, len(elements))
	for i, e := range elements {
		leaves[i] = leafHash(e)
	}
	return &merkleList{elements: elements, tree: newMerkleTree(leaves)}
}

// merkleMap is a merkleized map: the sorted keys and their values, each as
// a merkleList (doc/merkle.md, "Merkleized maps").
type merkleMap struct {
	keys, values *merkleList
}

// newMerkleMap sorts the entries by key. Keys must be distinct.
func newMerkleMap(entries []kv) (*merkleMap, error) {
	sorted := append([]kv(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool { return bytes.Compare(sorted[i].key, sorted[j].key) < 0 })
	keys := make([][]byte, len(sorted))
	values := make([][]byte, len(sorted))
	for i, e := range sorted {
		if i > 0 && bytes.Equal(sorted[i-1].key, e.key) {
			return nil, fmt.Errorf("duplicate key %x", e.key)
		}
		keys[i], values[i] = e.key, e.value
	}
	return &merkleMap{keys: newMerkleList(keys), values: newMerkleList(values)}, nil
}

func (m *merkleMap) commitment() mapCommitment {
	return mapCommitment{size: uint64(len(m.keys.elements)), keysRoot: m.keys.tree.root, valuesRoot: m.values.tree.root}
}

// kv is one key-value pair of a PSBT map, key type byte included.
type kv struct {
	key, value []byte
}
