package bbqr

import "sort"

// deflate compresses data as a raw RFC 1951 stream whose back-references
// reach at most 1024 bytes, the window that zlib's wbits=10 gives a
// decoder. BBQr fixes wbits=10 so that an embedded receiver (a Coldcard)
// needs only 1 KiB of history; Go's compress/flate always uses a 32 KiB
// window, so its output could be refused by such a receiver ("invalid
// distance too far back"). This is a small LZ77 + Huffman encoder written
// from RFC 1951: hash chains limited to the window, zlib-style lazy
// matching, and per block the smallest of stored, fixed and dynamic codes.
func deflate(data []byte) []byte {
	c := compressor{data: data}
	c.run()
	return c.w.out
}

const (
	windowSize   = 1 << 10 // wbits=10
	minMatch     = 3
	maxMatch     = 258
	maxChain     = 256 // candidates tried per position
	niceMatch    = 258 // stop searching once a match this long is found
	blockTokens  = 1 << 14
	maxStoredLen = 65535
	hashBits     = 15
)

// token is a literal byte (dist == 0) or a back-reference of length
// lit (3..258) at distance dist (1..1024).
type token struct {
	lit  uint16
	dist uint16
}

type compressor struct {
	data []byte
	head []int32 // most recent position with each 3-byte hash, -1 if none
	prev []int32 // previous position with the same hash as position i
	w    bitWriter
}

func hash3(b []byte) uint32 {
	v := uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2])
	return (v * 2654435761) >> (32 - hashBits)
}

func (c *compressor) insert(i int) {
	if i+minMatch > len(c.data) {
		return
	}
	h := hash3(c.data[i:])
	c.prev[i] = c.head[h]
	c.head[h] = int32(i)
}

// find returns the longest match for position i among earlier positions
// within the window (positions already inserted).
func (c *compressor) find(i int) (length, dist int) {
	if i+minMatch > len(c.data) {
		return 0, 0
	}
	limit := min(maxMatch, len(c.data)-i)
	cur := c.data[i : i+limit]
	j := c.head[hash3(c.data[i:])]
	for chain := 0; j >= 0 && chain < maxChain; chain++ {
		d := i - int(j)
		if d > windowSize {
			break
		}
		if d > 0 {
			cand := c.data[j:]
			if length < limit && cand[length] == cur[length] {
				n := 0
				for n < limit && cand[n] == cur[n] {
					n++
				}
				if n > length {
					length, dist = n, d
					if n >= niceMatch || n == limit {
						break
					}
				}
			}
		}
		j = c.prev[j]
	}
	if length < minMatch {
		return 0, 0
	}
	return length, dist
}

func (c *compressor) run() {
	n := len(c.data)
	c.head = make([]int32, 1<<hashBits)
	for i := range c.head {
		c.head[i] = -1
	}
	c.prev = make([]int32, n)
	tokens := make([]token, 0, blockTokens)
	blockStart := 0
	i := 0
	for i < n {
		length, dist := c.find(i)
		c.insert(i)
		// Lazy evaluation (as zlib's deflate_slow): when the next position
		// has a longer match, emit this byte as a literal instead.
		if length >= minMatch && length < niceMatch && i+1 < n {
			if l2, _ := c.find(i + 1); l2 > length {
				length = 0
			}
		}
		if length >= minMatch {
			tokens = append(tokens, token{lit: uint16(length), dist: uint16(dist)})
			for k := i + 1; k < i+length; k++ {
				c.insert(k)
			}
			i += length
		} else {
			tokens = append(tokens, token{lit: uint16(c.data[i])})
			i++
		}
		if len(tokens) == blockTokens {
			c.block(tokens, c.data[blockStart:i], i == n)
			tokens, blockStart = tokens[:0], i
		}
	}
	if len(tokens) > 0 || n == 0 {
		c.block(tokens, c.data[blockStart:n], true)
	}
	c.w.flush()
}

// Length and distance code tables (RFC 1951 section 3.2.5).
var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// Order in which code length code lengths are sent (section 3.2.7).
	codeLenOrder = [19]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

func lengthCode(l int) int {
	i := len(lengthBase) - 1
	for int(lengthBase[i]) > l {
		i--
	}
	return i
}

func distCode(d int) int {
	i := len(distBase) - 1
	for int(distBase[i]) > d {
		i--
	}
	return i
}

// huffCode is a canonical Huffman code: per symbol its length and its code
// already bit-reversed for the LSB-first bit stream.
type huffCode struct {
	lens  []uint8
	codes []uint16
}

func newHuffCode(lens []uint8) huffCode {
	var count [16]int
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	var next [16]int
	code := 0
	for l := 1; l < 16; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	h := huffCode{lens: lens, codes: make([]uint16, len(lens))}
	for s, l := range lens {
		if l == 0 {
			continue
		}
		c := next[l]
		next[l]++
		var r uint16
		for k := uint8(0); k < l; k++ {
			r = r<<1 | uint16(c>>k&1)
		}
		h.codes[s] = r
	}
	return h
}

// huffLengths builds code lengths no longer than limit for the given
// frequencies. It always returns a complete code (at least two symbols get
// a length), so strict decoders such as zlib accept it.
func huffLengths(freq []int, limit int) []uint8 {
	f := make([]int, len(freq))
	copy(f, freq)
	used := 0
	for _, v := range f {
		if v > 0 {
			used++
		}
	}
	for s := 0; used < 2; s++ {
		if f[s] == 0 {
			f[s] = 1
			used++
		}
	}
	for round := 0; ; round++ {
		lens, deepest := huffDepths(f)
		if deepest <= limit {
			return lens
		}
		// Flatten the distribution and try again; after enough rounds all
		// weights are equal and the tree is balanced (depth <= 9 for 286
		// symbols, <= 5 for 19).
		for s, v := range f {
			if v > 0 {
				if round > 20 {
					f[s] = 1
				} else {
					f[s] = v/2 + 1
				}
			}
		}
	}
}

// huffDepths returns Huffman code lengths (unbounded) for the non-zero
// weights, using the two-queue construction over weight-sorted leaves.
func huffDepths(f []int) ([]uint8, int) {
	type node struct{ w, parent, sym int }
	var nodes []node
	for s, v := range f {
		if v > 0 {
			nodes = append(nodes, node{w: v, parent: -1, sym: s})
		}
	}
	sort.SliceStable(nodes, func(a, b int) bool { return nodes[a].w < nodes[b].w })
	m := len(nodes)
	li, ii := 0, m
	pick := func() int {
		if li < m && (ii >= len(nodes) || nodes[li].w <= nodes[ii].w) {
			li++
			return li - 1
		}
		ii++
		return ii - 1
	}
	for k := 0; k < m-1; k++ {
		a, b := pick(), pick()
		nodes = append(nodes, node{w: nodes[a].w + nodes[b].w, parent: -1, sym: -1})
		nodes[a].parent, nodes[b].parent = len(nodes)-1, len(nodes)-1
	}
	depth := make([]int, len(nodes))
	for i := len(nodes) - 2; i >= 0; i-- {
		depth[i] = depth[nodes[i].parent] + 1
	}
	lens := make([]uint8, len(f))
	deepest := 0
	for i := 0; i < m; i++ {
		lens[nodes[i].sym] = uint8(min(depth[i], 255))
		deepest = max(deepest, depth[i])
	}
	return lens, deepest
}

// fixedLit and fixedDist are the fixed codes of BTYPE=01 (section 3.2.6).
func fixedCodes() (huffCode, huffCode) {
	lit := make([]uint8, 288)
	for s := range lit {
		switch {
		case s < 144:
			lit[s] = 8
		case s < 256:
			lit[s] = 9
		case s < 280:
			lit[s] = 7
		default:
			lit[s] = 8
		}
	}
	dist := make([]uint8, 30)
	for s := range dist {
		dist[s] = 5
	}
	return newHuffCode(lit), newHuffCode(dist)
}

// clSym is one symbol of the run-length coded code lengths.
type clSym struct {
	sym, extra uint8
}

// runLengths codes the concatenated code lengths with symbols 0..18.
func runLengths(lens []uint8) []clSym {
	var out []clSym
	for i := 0; i < len(lens); {
		v := lens[i]
		run := 1
		for i+run < len(lens) && lens[i+run] == v {
			run++
		}
		i += run
		if v == 0 {
			for run >= 11 {
				n := min(run, 138)
				out = append(out, clSym{18, uint8(n - 11)})
				run -= n
			}
			if run >= 3 {
				out = append(out, clSym{17, uint8(run - 3)})
				run = 0
			}
		} else {
			out = append(out, clSym{v, 0})
			run--
			for run >= 3 {
				n := min(run, 6)
				out = append(out, clSym{16, uint8(n - 3)})
				run -= n
			}
		}
		for ; run > 0; run-- {
			out = append(out, clSym{v, 0})
		}
	}
	return out
}

var clExtraBits = [19]uint{16: 2, 17: 3, 18: 7}

// block writes one deflate block for tokens covering raw, picking the
// smallest of stored, fixed and dynamic Huffman coding.
func (c *compressor) block(tokens []token, raw []byte, final bool) {
	litFreq := make([]int, 286)
	distFreq := make([]int, 30)
	for _, t := range tokens {
		if t.dist == 0 {
			litFreq[t.lit]++
		} else {
			litFreq[257+lengthCode(int(t.lit))]++
			distFreq[distCode(int(t.dist))]++
		}
	}
	litFreq[256]++ // end of block

	// Dynamic codes and their header.
	litLens := huffLengths(litFreq, 15)
	distLens := huffLengths(distFreq, 15)
	nlit, ndist := 286, 30
	for nlit > 257 && litLens[nlit-1] == 0 {
		nlit--
	}
	for ndist > 1 && distLens[ndist-1] == 0 {
		ndist--
	}
	seq := append(append([]uint8{}, litLens[:nlit]...), distLens[:ndist]...)
	rle := runLengths(seq)
	clFreq := make([]int, 19)
	for _, s := range rle {
		clFreq[s.sym]++
	}
	clLens := huffLengths(clFreq, 7)
	nclen := 19
	for nclen > 4 && clLens[codeLenOrder[nclen-1]] == 0 {
		nclen--
	}
	dynBits := 3 + 5 + 5 + 4 + 3*nclen
	for _, s := range rle {
		dynBits += int(clLens[s.sym]) + int(clExtraBits[s.sym])
	}
	dynBits += tokenBits(tokens, litLens, distLens)

	fixLit, fixDist := fixedCodes()
	fixBits := 3 + tokenBits(tokens, fixLit.lens, fixDist.lens)

	chunks := (len(raw) + maxStoredLen - 1) / maxStoredLen
	storedBits := 8 * (len(raw) + 5*max(chunks, 1))

	switch {
	case storedBits <= fixBits && storedBits <= dynBits:
		c.stored(raw, final)
	case fixBits <= dynBits:
		c.w.bits(boolBit(final), 1)
		c.w.bits(1, 2)
		c.tokens(tokens, fixLit, fixDist)
	default:
		c.w.bits(boolBit(final), 1)
		c.w.bits(2, 2)
		c.w.bits(uint32(nlit-257), 5)
		c.w.bits(uint32(ndist-1), 5)
		c.w.bits(uint32(nclen-4), 4)
		for _, s := range codeLenOrder[:nclen] {
			c.w.bits(uint32(clLens[s]), 3)
		}
		cl := newHuffCode(clLens)
		for _, s := range rle {
			c.w.bits(uint32(cl.codes[s.sym]), uint(cl.lens[s.sym]))
			if eb := clExtraBits[s.sym]; eb > 0 {
				c.w.bits(uint32(s.extra), eb)
			}
		}
		c.tokens(tokens, newHuffCode(litLens), newHuffCode(distLens))
	}
}

func boolBit(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

func tokenBits(tokens []token, litLens, distLens []uint8) int {
	bits := int(litLens[256])
	for _, t := range tokens {
		if t.dist == 0 {
			bits += int(litLens[t.lit])
			continue
		}
		lc, dc := lengthCode(int(t.lit)), distCode(int(t.dist))
		bits += int(litLens[257+lc]) + int(lengthExtra[lc]) + int(distLens[dc]) + int(distExtra[dc])
	}
	return bits
}

func (c *compressor) tokens(tokens []token, lit, dist huffCode) {
	for _, t := range tokens {
		if t.dist == 0 {
			c.w.bits(uint32(lit.codes[t.lit]), uint(lit.lens[t.lit]))
			continue
		}
		lc, dc := lengthCode(int(t.lit)), distCode(int(t.dist))
		c.w.bits(uint32(lit.codes[257+lc]), uint(lit.lens[257+lc]))
		if eb := lengthExtra[lc]; eb > 0 {
			c.w.bits(uint32(int(t.lit)-int(lengthBase[lc])), uint(eb))
		}
		c.w.bits(uint32(dist.codes[dc]), uint(dist.lens[dc]))
		if eb := distExtra[dc]; eb > 0 {
			c.w.bits(uint32(int(t.dist)-int(distBase[dc])), uint(eb))
		}
	}
	c.w.bits(uint32(lit.codes[256]), uint(lit.lens[256]))
}

// stored writes raw as stored blocks of at most 65535 bytes.
func (c *compressor) stored(raw []byte, final bool) {
	for {
		n := min(len(raw), maxStoredLen)
		last := final && n == len(raw)
		c.w.bits(boolBit(last), 1)
		c.w.bits(0, 2)
		c.w.flush()
		c.w.out = append(c.w.out, byte(n), byte(n>>8), ^byte(n), ^byte(n>>8))
		c.w.out = append(c.w.out, raw[:n]...)
		raw = raw[n:]
		if len(raw) == 0 {
			return
		}
	}
}

// bitWriter packs bits LSB first, as deflate requires.
type bitWriter struct {
	out  []byte
	acc  uint64
	nacc uint
}

func (w *bitWriter) bits(v uint32, n uint) {
	w.acc |= uint64(v) << w.nacc
	w.nacc += n
	for w.nacc >= 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.nacc -= 8
	}
}

// flush pads to a byte boundary with zero bits.
func (w *bitWriter) flush() {
	if w.nacc > 0 {
		w.out = append(w.out, byte(w.acc))
		w.acc, w.nacc = 0, 0
	}
}
