package ledger

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Client commands: what the app asks the host in the data of a 0xE000
// (SW_INTERRUPTED_EXECUTION) reply. The host answers with CONTINUE
// (CLA 0xF8, INS 0x01) carrying the response described for each.
const (
	// YIELD: data = the yielded value. Response: empty.
	ccYield = 0x10
	// GET_PREIMAGE: data = 0x00 | sha256(32). Response: varint(len) |
	// b(1) | the first b bytes; the rest is queued as 1-byte elements.
	ccGetPreimage = 0x40
	// GET_MERKLE_LEAF_PROOF: data = root(32) | varint(size) | varint(index).
	// Response: leaf hash(32) | proof length(1) | p(1) | p hashes; the rest
	// of the proof is queued as 32-byte elements.
	ccGetMerkleLeafProof = 0x41
	// GET_MERKLE_LEAF_INDEX: data = root(32) | leaf hash(32). Response:
	// found(1) | varint(index).
	ccGetMerkleLeafIndex = 0x42
	// GET_MORE_ELEMENTS: data = empty. Response: n(1) | size(1) | n*size
	// bytes from the queue.
	ccGetMoreElements = 0xA0
)

// maxResponse is the most data a CONTINUE carries.
const maxResponse = 255

// errUnanswerable marks a client command the host cannot answer: the app
// asked for something this command did not commit to.
var errUnanswerable = errors.New("the Ledger asked for data this command did not send")

// interpreter answers client commands from what the host committed to. All
// trees are built when the data is added, once per command; requests only
// look things up.
type interpreter struct {
	trees     map[[32]byte]*merkleTree
	preimages map[[32]byte][]byte
	queue     elementQueue
	yields    [][]byte
	counts    map[byte]int // client commands answered, by code
}

func newInterpreter() *interpreter {
	return &interpreter{
		trees:     make(map[[32]byte]*merkleTree),
		preimages: make(map[[32]byte][]byte),
		counts:    make(map[byte]int),
	}
}

// addPreimage makes b available to GET_PREIMAGE under sha256(b).
func (it *interpreter) addPreimage(b []byte) {
	it.preimages[sha256.Sum256(b)] = b
}

// addList makes a list's tree available to the Merkle commands and each
// element, as 0x00 | element, to GET_PREIMAGE under its leaf hash.
func (it *interpreter) addList(l *merkleList) {
	it.trees[l.tree.root] = l.tree
	for i, e := range l.elements {
		pre := make([]byte, 1+len(e))
		copy(pre[1:], e)
		it.preimages[l.tree.leaf(i)] = pre
	}
}

// addMap adds a merkleized map's key and value lists.
func (it *interpreter) addMap(m *merkleMap) {
	it.addList(m.keys)
	it.addList(m.values)
}

// execute answers one client command.
func (it *interpreter) execute(req []byte) ([]byte, error) {
	if len(req) == 0 {
		return nil, errors.New("the Ledger sent an empty client command")
	}
	code, body := req[0], req[1:]
	it.counts[code]++
	var resp []byte
	var err error
	switch code {
	case ccYield:
		it.yields = append(it.yields, append([]byte(nil), body...))
	case ccGetPreimage:
		resp, err = it.getPreimage(body)
	case ccGetMerkleLeafProof:
		resp, err = it.getMerkleLeafProof(body)
	case ccGetMerkleLeafIndex:
		resp, err = it.getMerkleLeafIndex(body)
	case ccGetMoreElements:
		resp, err = it.getMoreElements(body)
	default:
		err = fmt.Errorf("the Ledger sent unknown client command %#02x", code)
	}
	if err == nil && len(resp) > maxResponse {
		err = fmt.Errorf("client command %#02x: response of %d bytes", code, len(resp))
	}
	return resp, err
}

func (it *interpreter) getPreimage(body []byte) ([]byte, error) {
	if len(body) != 33 || body[0] != 0 {
		return nil, fmt.Errorf("malformed GET_PREIMAGE request (%d bytes)", len(body))
	}
	var h [32]byte
	copy(h[:], body[1:])
	pre, ok := it.preimages[h]
	if !ok {
		return nil, fmt.Errorf("%w: preimage of %x", errUnanswerable, h)
	}
	resp := appendVarint(nil, uint64(len(pre)))
	b := min(maxResponse-len(resp)-1, len(pre))
	resp = append(resp, byte(b))
	resp = append(resp, pre[:b]...)
	if b < len(pre) {
		if err := it.queue.push(1, pre[b:]); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

func (it *interpreter) getMerkleLeafProof(body []byte) ([]byte, error) {
	if len(body) < 34 {
		return nil, fmt.Errorf("malformed GET_MERKLE_LEAF_PROOF request (%d bytes)", len(body))
	}
	var root [32]byte
	copy(root[:], body)
	r := bytes.NewReader(body[32:])
	size, err1 := readVarint(r)
	index, err2 := readVarint(r)
	if err1 != nil || err2 != nil || r.Len() != 0 {
		return nil, errors.New("malformed GET_MERKLE_LEAF_PROOF request")
	}
	t, ok := it.trees[root]
	if !ok {
		return nil, fmt.Errorf("%w: Merkle tree %x", errUnanswerable, root)
	}
	if size != uint64(t.n) || index >= size {
		return nil, fmt.Errorf("%w: leaf %d of a %d-leaf tree (the tree has %d)", errUnanswerable, index, size, t.n)
	}
	if it.queue.count() != 0 {
		return nil, errors.New("the Ledger asked for a Merkle proof before reading the queued elements")
	}
	proof := t.proof(int(index))
	p := min((maxResponse-32-1-1)/32, len(proof))
	leaf := t.leaf(int(index))
	resp := make([]byte, 0, 34+32*p)
	resp = append(resp, leaf[:]...)
	resp = append(resp, byte(len(proof)), byte(p))
	for _, h := range proof[:p] {
		resp = append(resp, h[:]...)
	}
	for _, h := range proof[p:] {
		if err := it.queue.push(32, h[:]); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

func (it *interpreter) getMerkleLeafIndex(body []byte) ([]byte, error) {
	if len(body) != 64 {
		return nil, fmt.Errorf("malformed GET_MERKLE_LEAF_INDEX request (%d bytes)", len(body))
	}
	var root, leaf [32]byte
	copy(root[:], body)
	copy(leaf[:], body[32:])
	t, ok := it.trees[root]
	if !ok {
		return nil, fmt.Errorf("%w: Merkle tree %x", errUnanswerable, root)
	}
	i, found := t.index[leaf]
	if !found {
		return appendVarint([]byte{0}, 0), nil
	}
	return appendVarint([]byte{1}, uint64(i)), nil
}

func (it *interpreter) getMoreElements(body []byte) ([]byte, error) {
	if len(body) != 0 {
		return nil, fmt.Errorf("malformed GET_MORE_ELEMENTS request (%d bytes)", len(body))
	}
	if it.queue.count() == 0 {
		return nil, errors.New("the Ledger asked for more elements but none are queued")
	}
	size := it.queue.size
	n := min((maxResponse-2)/size, it.queue.count())
	resp := make([]byte, 0, 2+n*size)
	resp = append(resp, byte(n), byte(size))
	return append(resp, it.queue.pop(n)...), nil
}

// elementQueue holds equal-size elements waiting for GET_MORE_ELEMENTS,
// stored back to back.
type elementQueue struct {
	size int
	buf  []byte
}

func (q *elementQueue) count() int {
	if q.size == 0 {
		return 0
	}
	return len(q.buf) / q.size
}

// push queues len(data)/size elements of size bytes.
func (q *elementQueue) push(size int, data []byte) error {
	if q.count() > 0 && q.size != size {
		return fmt.Errorf("cannot queue %d-byte elements behind %d-byte ones", size, q.size)
	}
	q.size = size
	q.buf = append(q.buf, data...)
	return nil
}

// pop removes the first n elements.
func (q *elementQueue) pop(n int) []byte {
	out := q.buf[:n*q.size]
	q.buf = q.buf[n*q.size:]
	if len(q.buf) == 0 {
		q.buf = nil
	}
	return out
}
