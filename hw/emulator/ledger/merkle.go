package ledger

import (
	"bytes"
	"crypto/sha256"

	"github.com/btcsuite/btcd/wire"
)

// The device side of the client commands: every answer the host gives is
// checked against what the command committed to (doc/merkle.md). Failures
// end the command with SW_INCORRECT_DATA, as in the app.

// elementHash is sha256(0x00 || x), a leaf of the app's Merkle trees.
func elementHash(x []byte) [32]byte {
	return sha256.Sum256(append([]byte{0}, x...))
}

// combine is sha256(0x01 || l || r), an inner node.
func combine(l, r [32]byte) [32]byte {
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

// directions returns, from the root down, whether the path to leaf index
// of a size-leaf tree goes right at each inner node (merkle.c,
// merkle_get_ith_direction). Its length is the proof's.
func directions(size, index uint64) []bool {
	var dirs []bool
	for size > 1 {
		k := uint64(1)
		for k*2 < size {
			k *= 2
		}
		if index >= k {
			dirs = append(dirs, true)
			size, index = size-k, index-k
		} else {
			dirs = append(dirs, false)
			size = k
		}
	}
	return dirs
}

// rootFromProof folds a proof (siblings from the leaf up) into a root.
func rootFromProof(size, index uint64, leaf [32]byte, proof [][32]byte) ([32]byte, bool) {
	dirs := directions(size, index)
	if len(dirs) != len(proof) {
		return [32]byte{}, false
	}
	h := leaf
	for i, sib := range proof {
		if dirs[len(dirs)-1-i] {
			h = combine(sib, h)
		} else {
			h = combine(h, sib)
		}
	}
	return h, true
}

func varint(n uint64) []byte {
	var b bytes.Buffer
	_ = wire.WriteVarInt(&b, 0, n)
	return b.Bytes()
}

// getMoreElements reads queued elements of size bytes, at most max of them.
func (s *session) getMoreElements(size, max int) ([]byte, error) {
	resp, err := s.ask([]byte{ccGetMoreElements})
	if err != nil {
		return nil, err
	}
	if len(resp) < 2 {
		return nil, fail(swIncorrectData, "short GET_MORE_ELEMENTS answer")
	}
	n, sz := int(resp[0]), int(resp[1])
	if sz != size || n == 0 || n > max || len(resp) != 2+n*sz {
		return nil, fail(swIncorrectData, "GET_MORE_ELEMENTS answered %d elements of %d bytes", n, sz)
	}
	return resp[2:], nil
}

// getPreimage asks for the preimage of hash, at most maxLen bytes long,
// and checks it.
func (s *session) getPreimage(hash [32]byte, maxLen int) ([]byte, error) {
	resp, err := s.ask(append([]byte{ccGetPreimage, 0}, hash[:]...))
	if err != nil {
		return nil, err
	}
	r := bytes.NewReader(resp)
	n, err := wire.ReadVarInt(r, 0)
	if err != nil || n > uint64(maxLen) {
		return nil, fail(swIncorrectData, "preimage length")
	}
	b, err := r.ReadByte()
	if err != nil || uint64(b) > n || r.Len() != int(b) {
		return nil, fail(swIncorrectData, "malformed GET_PREIMAGE answer")
	}
	out := make([]byte, 0, n)
	out = append(out, resp[len(resp)-int(b):]...)
	for uint64(len(out)) < n {
		more, err := s.getMoreElements(1, int(n)-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	if sha256.Sum256(out) != hash {
		return nil, fail(swIncorrectData, "the preimage does not hash to %x", hash)
	}
	return out, nil
}

// getLeafHash asks for leaf index of the tree (root, size) with its proof
// and verifies the proof.
func (s *session) getLeafHash(root [32]byte, size, index uint64) ([32]byte, error) {
	if index >= size {
		return [32]byte{}, fail(swIncorrectData, "leaf %d of %d", index, size)
	}
	req := append([]byte{ccGetMerkleLeafProof}, root[:]...)
	req = append(req, varint(size)...)
	req = append(req, varint(index)...)
	resp, err := s.ask(req)
	if err != nil {
		return [32]byte{}, err
	}
	want := len(directions(size, index))
	if len(resp) < 34 || int(resp[32]) != want || int(resp[33]) > want || len(resp) != 34+32*int(resp[33]) {
		return [32]byte{}, fail(swIncorrectData, "malformed GET_MERKLE_LEAF_PROOF answer")
	}
	var leaf [32]byte
	copy(leaf[:], resp)
	flat := append([]byte(nil), resp[34:]...)
	for len(flat) < 32*want {
		more, err := s.getMoreElements(32, want-len(flat)/32)
		if err != nil {
			return [32]byte{}, err
		}
		flat = append(flat, more...)
	}
	proof := make([][32]byte, want)
	for i := range proof {
		copy(proof[i][:], flat[32*i:])
	}
	if got, ok := rootFromProof(size, index, leaf, proof); !ok || got != root {
		return [32]byte{}, fail(swIncorrectData, "the Merkle proof for leaf %d does not lead to root %x", index, root)
	}
	return leaf, nil
}

// getLeafElement reads element index of a Merkle list: its proven leaf
// hash, then the preimage 0x00 || element.
func (s *session) getLeafElement(root [32]byte, size, index uint64, maxLen int) ([]byte, error) {
	leaf, err := s.getLeafHash(root, size, index)
	if err != nil {
		return nil, err
	}
	pre, err := s.getPreimage(leaf, maxLen+1)
	if err != nil {
		return nil, err
	}
	if len(pre) == 0 || pre[0] != 0 {
		return nil, fail(swIncorrectData, "a list element without the 0x00 leaf prefix")
	}
	return pre[1:], nil
}

// getLeafIndex asks where the leaf with hash leaf sits in the tree, and
// proves the answer.
func (s *session) getLeafIndex(root [32]byte, size uint64, leaf [32]byte) (uint64, bool, error) {
	resp, err := s.ask(append(append([]byte{ccGetMerkleLeafIndex}, root[:]...), leaf[:]...))
	if err != nil {
		return 0, false, err
	}
	r := bytes.NewReader(resp)
	found, err1 := r.ReadByte()
	idx, err2 := wire.ReadVarInt(r, 0)
	if err1 != nil || err2 != nil || r.Len() != 0 || found > 1 {
		return 0, false, fail(swIncorrectData, "malformed GET_MERKLE_LEAF_INDEX answer")
	}
	if found == 0 {
		return 0, false, nil
	}
	got, err := s.getLeafHash(root, size, idx)
	if err != nil {
		return 0, false, err
	}
	if got != leaf {
		return 0, false, fail(swIncorrectData, "GET_MERKLE_LEAF_INDEX pointed at another leaf")
	}
	return idx, true, nil
}

// mapCommitment is a merkleized map commitment.
type mapCommitment struct {
	size               uint64
	keysRoot, valsRoot [32]byte
}

// parseCommitment decodes varint(size) | keys_root | values_root.
func parseCommitment(b []byte) (mapCommitment, error) {
	r := bytes.NewReader(b)
	n, err := wire.ReadVarInt(r, 0)
	if err != nil || r.Len() != 64 {
		return mapCommitment{}, fail(swIncorrectData, "malformed map commitment")
	}
	c := mapCommitment{size: n}
	copy(c.keysRoot[:], b[len(b)-64:])
	copy(c.valsRoot[:], b[len(b)-32:])
	return c, nil
}

// Limits on what the host may make the emulator read.
const (
	maxMapEntries = 256
	maxKeyLen     = 1024
	maxValueLen   = 400000 // a standard transaction's maximum size, for non_witness_utxo
)

// psbtMap is a merkleized map whose keys have been read and checked.
type psbtMap struct {
	c    mapCommitment
	keys [][]byte // strictly increasing
}

// readMapKeys reads every key in order, checking that they strictly
// increase: otherwise the host could commit to two values for one key
// (doc/merkle.md, "Validate the tree of keys").
func (s *session) readMapKeys(c mapCommitment) (*psbtMap, error) {
	if c.size == 0 || c.size > maxMapEntries {
		return nil, fail(swIncorrectData, "a map of %d entries", c.size)
	}
	m := &psbtMap{c: c}
	for i := uint64(0); i < c.size; i++ {
		k, err := s.getLeafElement(c.keysRoot, c.size, i, maxKeyLen)
		if err != nil {
			return nil, err
		}
		if len(k) == 0 || i > 0 && bytes.Compare(m.keys[i-1], k) >= 0 {
			return nil, fail(swIncorrectData, "map keys not in strictly increasing order")
		}
		m.keys = append(m.keys, k)
	}
	return m, nil
}

// value reads the value of key i by key, the way the app does: the index
// of sha256(0x00||key) in the keys tree (which must be i: the keys were
// read and proven), then the value's leaf and preimage.
func (s *session) value(m *psbtMap, i int) ([]byte, error) {
	idx, found, err := s.getLeafIndex(m.c.keysRoot, m.c.size, elementHash(m.keys[i]))
	if err != nil {
		return nil, err
	}
	if !found || idx != uint64(i) {
		return nil, fail(swIncorrectData, "the host hides or moves key %x", m.keys[i])
	}
	return s.getLeafElement(m.c.valsRoot, m.c.size, idx, maxValueLen)
}

// readMap reads a whole merkleized map.
func (s *session) readMap(c mapCommitment) ([]kv, error) {
	m, err := s.readMapKeys(c)
	if err != nil {
		return nil, err
	}
	out := make([]kv, len(m.keys))
	for i, k := range m.keys {
		v, err := s.value(m, i)
		if err != nil {
			return nil, err
		}
		out[i] = kv{key: k, value: v}
	}
	return out, nil
}

// kv is one map entry.
type kv struct{ key, value []byte }
