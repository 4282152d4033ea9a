package ur

import (
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"
)

// fountainPart is one multi-part UR fragment (BCR-2024-001 "Part
// Serialization"): the CBOR array [seqNum, seqLen, messageLen, checksum,
// data].
type fountainPart struct {
	_          struct{} `cbor:",toarray"`
	SeqNum     uint32
	SeqLen     uint64
	MessageLen uint64
	Checksum   uint32
	Data       []byte
}

func (p *fountainPart) cbor() []byte {
	b, err := encMode.Marshal(p)
	if err != nil {
		panic(err) // a struct of integers and bytes always encodes
	}
	return b
}

func decodeFountainPart(b []byte) (*fountainPart, error) {
	var p fountainPart
	if err := decMode.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%w: multi-part fragment is not [seqNum, seqLen, messageLen, checksum, data]: %v", ErrInvalid, err)
	}
	return &p, nil
}

// nominalFragmentLen finds the fragment length that splits messageLen into
// the fewest fragments no longer than maxFragmentLen, trying fragment
// counts up to messageLen/minFragmentLen (reference
// find_nominal_fragment_length).
func nominalFragmentLen(messageLen, minFragmentLen, maxFragmentLen int) int {
	maxCount := max(messageLen/minFragmentLen, 1)
	fragLen := messageLen
	for count := 1; count <= maxCount; count++ {
		fragLen = (messageLen + count - 1) / count
		if fragLen <= maxFragmentLen {
			break
		}
	}
	return fragLen
}

// partition splits message into fragments of fragLen bytes, zero-padding
// the last.
func partition(message []byte, fragLen int) [][]byte {
	var out [][]byte
	for off := 0; off < len(message); off += fragLen {
		f := make([]byte, fragLen)
		copy(f, message[off:])
		out = append(out, f)
	}
	return out
}

func xorInto(dst, src []byte) {
	for i := range dst {
		dst[i] ^= src[i]
	}
}

// fountainEncoder produces fragments 1..seqLen, then mixed fragments.
type fountainEncoder struct {
	messageLen int
	checksum   uint32
	fragLen    int
	fragments  [][]byte
	seqNum     uint32
	chooser    *fragmentChooser
	last       []int
}

func newFountainEncoder(message []byte, maxFragmentLen, minFragmentLen int, firstSeqNum uint32) (*fountainEncoder, error) {
	if len(message) == 0 {
		return nil, fmt.Errorf("%w: empty message", ErrInvalid)
	}
	if minFragmentLen < 1 || maxFragmentLen < minFragmentLen {
		return nil, fmt.Errorf("%w: fragment lengths %d..%d", ErrInvalid, minFragmentLen, maxFragmentLen)
	}
	e := &fountainEncoder{
		messageLen: len(message),
		checksum:   crc32.ChecksumIEEE(message),
		seqNum:     firstSeqNum,
	}
	e.fragLen = nominalFragmentLen(len(message), minFragmentLen, maxFragmentLen)
	e.fragments = partition(message, e.fragLen)
	e.chooser = newFragmentChooser(len(e.fragments), e.checksum)
	return e, nil
}

func (e *fountainEncoder) seqLen() int { return len(e.fragments) }

func (e *fountainEncoder) nextPart() *fountainPart {
	e.seqNum++ // wraps at 2^32 like the reference
	e.last = e.chooser.choose(e.seqNum)
	var data []byte
	if len(e.last) == 1 {
		data = slices.Clone(e.fragments[e.last[0]])
	} else {
		data = make([]byte, e.fragLen)
		for _, i := range e.last {
			xorInto(data, e.fragments[i])
		}
	}
	return &fountainPart{
		SeqNum: e.seqNum, SeqLen: uint64(len(e.fragments)), MessageLen: uint64(e.messageLen),
		Checksum: e.checksum, Data: data,
	}
}

// mixed is a received or reduced part: the XOR of the fragments listed.
type mixed struct {
	indexes []int // sorted
	data    []byte
}

func (m mixed) key() string {
	var b strings.Builder
	for i, v := range m.indexes {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(v))
	}
	return b.String()
}

// isStrictSubset reports whether a's indexes are a proper subset of b's
// (both sorted).
func isStrictSubset(a, b []int) bool {
	if len(a) >= len(b) {
		return false
	}
	j := 0
	for _, v := range a {
		for j < len(b) && b[j] < v {
			j++
		}
		if j == len(b) || b[j] != v {
			return false
		}
		j++
	}
	return true
}

// reduce removes b from a when b's fragments are a strict subset of a's.
func reduce(a, b mixed) mixed {
	if !isStrictSubset(b.indexes, a.indexes) {
		return a
	}
	idx := make([]int, 0, len(a.indexes)-len(b.indexes))
	for _, v := range a.indexes {
		if _, found := slices.BinarySearch(b.indexes, v); !found {
			idx = append(idx, v)
		}
	}
	data := slices.Clone(a.data)
	xorInto(data, b.data)
	return mixed{indexes: idx, data: data}
}

// fountainDecoder reassembles a message from parts in any order, reducing
// mixed parts by XOR (BCR-2024-001 section 6).
type fountainDecoder struct {
	maxMessageLen int

	started    bool
	seqLen     int
	messageLen int
	checksum   uint32
	fragLen    int
	chooser    *fragmentChooser

	simple    map[int][]byte
	mixedPart map[string]mixed
	queue     []mixed
	processed int
	message   []byte
	failed    error
}

// validate checks a part against the first one seen and against the
// arithmetic every reference encoder satisfies, before any allocation that
// depends on it.
func (d *fountainDecoder) validate(p *fountainPart) error {
	if p.SeqNum == 0 {
		return fmt.Errorf("%w: sequence number 0", ErrInvalid)
	}
	if p.SeqLen == 0 || p.MessageLen == 0 || len(p.Data) == 0 {
		return fmt.Errorf("%w: empty multi-part fragment", ErrInvalid)
	}
	if p.MessageLen > uint64(d.maxMessageLen) {
		return fmt.Errorf("%w: message of %d bytes exceeds the %d-byte limit", ErrTooLarge, p.MessageLen, d.maxMessageLen)
	}
	fragLen := uint64(len(p.Data))
	if want := (p.MessageLen + fragLen - 1) / fragLen; p.SeqLen != want {
		return fmt.Errorf("%w: %d fragments of %d bytes cannot carry a %d-byte message", ErrInvalid, p.SeqLen, fragLen, p.MessageLen)
	}
	if !d.started {
		return nil
	}
	if int(p.SeqLen) != d.seqLen || int(p.MessageLen) != d.messageLen || p.Checksum != d.checksum || len(p.Data) != d.fragLen {
		return fmt.Errorf("%w: fragment of another message (checksum %08x, %d parts; expected %08x, %d parts)", ErrMixed, p.Checksum, p.SeqLen, d.checksum, d.seqLen)
	}
	return nil
}

// receive processes one part. It returns false for a duplicate or a part
// received after the message was complete.
func (d *fountainDecoder) receive(p *fountainPart) (bool, error) {
	if d.message != nil || d.failed != nil {
		return false, d.failed
	}
	if err := d.validate(p); err != nil {
		return false, err
	}
	if !d.started {
		d.started = true
		d.seqLen, d.messageLen, d.checksum, d.fragLen = int(p.SeqLen), int(p.MessageLen), p.Checksum, len(p.Data)
		d.chooser = newFragmentChooser(d.seqLen, d.checksum)
		d.simple = map[int][]byte{}
		d.mixedPart = map[string]mixed{}
	}
	idx := d.chooser.choose(p.SeqNum)
	slices.Sort(idx)
	m := mixed{indexes: idx, data: slices.Clone(p.Data)}
	fresh := !d.known(m)
	d.queue = append(d.queue, m)
	for d.message == nil && d.failed == nil && len(d.queue) > 0 {
		part := d.queue[0]
		d.queue = d.queue[1:]
		if len(part.indexes) == 1 {
			d.processSimple(part)
		} else {
			d.processMixed(part)
		}
	}
	d.processed++
	return fresh, d.failed
}

func (d *fountainDecoder) known(m mixed) bool {
	if len(m.indexes) == 1 {
		_, ok := d.simple[m.indexes[0]]
		return ok
	}
	_, ok := d.mixedPart[m.key()]
	return ok
}

func (d *fountainDecoder) processSimple(p mixed) {
	i := p.indexes[0]
	if _, ok := d.simple[i]; ok {
		return
	}
	d.simple[i] = p.data
	if len(d.simple) == d.seqLen {
		msg := make([]byte, 0, d.seqLen*d.fragLen)
		for k := 0; k < d.seqLen; k++ {
			msg = append(msg, d.simple[k]...)
		}
		msg = msg[:d.messageLen]
		if crc32.ChecksumIEEE(msg) != d.checksum {
			d.failed = fmt.Errorf("%w: reassembled message does not match its CRC-32", ErrChecksum)
			return
		}
		d.message = msg
		d.mixedPart, d.queue = nil, nil
		return
	}
	d.reduceMixed(p)
}

func (d *fountainDecoder) processMixed(p mixed) {
	if _, ok := d.mixedPart[p.key()]; ok {
		return
	}
	for _, i := range p.indexes {
		if s, ok := d.simple[i]; ok {
			p = reduce(p, mixed{indexes: []int{i}, data: s})
		}
	}
	for _, m := range d.mixedPart {
		p = reduce(p, m)
	}
	if len(p.indexes) == 1 {
		d.queue = append(d.queue, p)
		return
	}
	d.reduceMixed(p)
	d.mixedPart[p.key()] = p
}

// reduceMixed reduces every held mixed part by p; those that become simple
// are queued.
func (d *fountainDecoder) reduceMixed(p mixed) {
	next := make(map[string]mixed, len(d.mixedPart))
	for _, m := range d.mixedPart {
		r := reduce(m, p)
		if len(r.indexes) == 1 {
			d.queue = append(d.queue, r)
		} else {
			next[r.key()] = r
		}
	}
	d.mixedPart = next
}
