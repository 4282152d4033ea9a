package ur

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"math/bits"
)

// The "consensus stack" of multi-part URs (BCR-2024-001 section 4, and the
// C++ reference github.com/BlockchainCommons/bc-ur at commit 4479fb8:
// src/xoshiro256.cpp, random-sampler.cpp, fountain-utils.cpp). Encoder and
// decoder must pick exactly the same fragments for every sequence number,
// so this follows the reference step for step, floating point included
// (IEEE-754 doubles, as the spec requires).

// xoshiro256 is the Xoshiro256** generator.
type xoshiro256 struct {
	s [4]uint64
}

// newXoshiro seeds the state with the SHA-256 digest of seed, read as four
// big-endian 64-bit words.
func newXoshiro(seed []byte) *xoshiro256 {
	d := sha256.Sum256(seed)
	var x xoshiro256
	for i := range x.s {
		x.s[i] = binary.BigEndian.Uint64(d[i*8:])
	}
	return &x
}

func (x *xoshiro256) next() uint64 {
	s := &x.s
	result := bits.RotateLeft64(s[1]*5, 7) * 9
	t := s[1] << 17
	s[2] ^= s[0]
	s[3] ^= s[1]
	s[1] ^= s[2]
	s[0] ^= s[3]
	s[2] ^= t
	s[3] = bits.RotateLeft64(s[3], 45)
	return result
}

// nextDouble is next() / 2^64 in double precision, as the reference
// computes it (the uint64 is first rounded to the nearest double).
func (x *xoshiro256) nextDouble() float64 {
	return float64(x.next()) / (float64(math.MaxUint64) + 1)
}

// nextInt returns an integer in [low, high].
func (x *xoshiro256) nextInt(low, high int) int {
	return int(x.nextDouble()*float64(high-low+1)) + low
}

func (x *xoshiro256) nextByte() byte {
	return byte(x.nextInt(0, 255))
}

func (x *xoshiro256) nextData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = x.nextByte()
	}
	return b
}

// randomSampler is the Walker-Vose alias method as in the reference
// (index lists built from the highest index down, "at variance from
// Schwarz").
type randomSampler struct {
	probs   []float64
	aliases []int
}

func newRandomSampler(weights []float64) *randomSampler {
	n := len(weights)
	sum := 0.0
	for _, w := range weights {
		sum += w
	}
	p := make([]float64, n)
	for i, w := range weights {
		p[i] = w * float64(n) / sum
	}
	var small, large []int
	for i := n - 1; i >= 0; i-- {
		if p[i] < 1 {
			small = append(small, i)
		} else {
			large = append(large, i)
		}
	}
	r := &randomSampler{probs: make([]float64, n), aliases: make([]int, n)}
	for len(small) > 0 && len(large) > 0 {
		a := small[len(small)-1]
		small = small[:len(small)-1]
		g := large[len(large)-1]
		large = large[:len(large)-1]
		r.probs[a] = p[a]
		r.aliases[a] = g
		p[g] += p[a] - 1
		if p[g] < 1 {
			small = append(small, g)
		} else {
			large = append(large, g)
		}
	}
	for _, i := range large {
		r.probs[i] = 1
	}
	for _, i := range small { // only through numeric instability
		r.probs[i] = 1
	}
	return r
}

func (r *randomSampler) next(x *xoshiro256) int {
	r1, r2 := x.nextDouble(), x.nextDouble()
	i := int(float64(len(r.probs)) * r1)
	if r2 < r.probs[i] {
		return i
	}
	return r.aliases[i]
}

// shuffled returns the first count items of a Fisher-Yates shuffle driven
// by x: each step removes a random remaining item.
func shuffled(items []int, x *xoshiro256, count int) []int {
	remaining := append([]int{}, items...)
	out := make([]int, 0, count)
	for len(out) < count {
		i := x.nextInt(0, len(remaining)-1)
		out = append(out, remaining[i])
		remaining = append(remaining[:i], remaining[i+1:]...)
	}
	return out
}

// fragmentChooser decides which fragments are XORed into the part with a
// given sequence number.
type fragmentChooser struct {
	seqLen   int
	checksum uint32
	degrees  *randomSampler // degree d+1 with weight 1/(d+1)
	indexes  []int
}

func newFragmentChooser(seqLen int, checksum uint32) *fragmentChooser {
	w := make([]float64, seqLen)
	idx := make([]int, seqLen)
	for i := range w {
		w[i] = 1 / float64(i+1)
		idx[i] = i
	}
	return &fragmentChooser{seqLen: seqLen, checksum: checksum, degrees: newRandomSampler(w), indexes: idx}
}

// choose returns the fragment indexes of part seqNum: the single fragment
// seqNum-1 for the first seqLen parts, afterwards a pseudo-random set
// seeded by SHA-256(seqNum || checksum), both big-endian.
func (c *fragmentChooser) choose(seqNum uint32) []int {
	if int64(seqNum) <= int64(c.seqLen) && seqNum > 0 {
		return []int{int(seqNum) - 1}
	}
	var seed [8]byte
	binary.BigEndian.PutUint32(seed[:4], seqNum)
	binary.BigEndian.PutUint32(seed[4:], c.checksum)
	x := newXoshiro(seed[:])
	degree := c.degrees.next(x) + 1
	return shuffled(c.indexes, x, degree)
}
