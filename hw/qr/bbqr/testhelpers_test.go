package bbqr

import "testing"

// maxDistance walks a raw deflate stream (a small test-only decoder of the
// block structure) and returns the largest back-reference distance in it,
// so tests can prove the 1 KiB window is respected.
func maxDistance(t testing.TB, z []byte) int {
	t.Helper()
	r := bitReader{in: z}
	maxD := 0
	for {
		final := r.bits(1)
		typ := r.bits(2)
		switch typ {
		case 0:
			r.align()
			n := int(r.bits(16))
			r.bits(16)
			for i := 0; i < n; i++ {
				r.bits(8)
			}
		case 1, 2:
			var lit, dist decoder
			if typ == 1 {
				l, d := fixedCodes()
				lit, dist = newDecoder(l.lens), newDecoder(d.lens)
			} else {
				nlit, ndist, nclen := int(r.bits(5))+257, int(r.bits(5))+1, int(r.bits(4))+4
				cl := make([]uint8, 19)
				for _, s := range codeLenOrder[:nclen] {
					cl[s] = uint8(r.bits(3))
				}
				cld := newDecoder(cl)
				lens := make([]uint8, 0, nlit+ndist)
				for len(lens) < nlit+ndist {
					s := cld.decode(&r)
					switch {
					case s < 16:
						lens = append(lens, uint8(s))
					case s == 16:
						for n := 3 + r.bits(2); n > 0; n-- {
							lens = append(lens, lens[len(lens)-1])
						}
					case s == 17:
						for n := 3 + r.bits(3); n > 0; n-- {
							lens = append(lens, 0)
						}
					default:
						for n := 11 + r.bits(7); n > 0; n-- {
							lens = append(lens, 0)
						}
					}
				}
				lit, dist = newDecoder(lens[:nlit]), newDecoder(lens[nlit:])
			}
			for {
				s := lit.decode(&r)
				if s < 256 {
					continue
				}
				if s == 256 {
					break
				}
				r.bits(uint(lengthExtra[s-257]))
				d := dist.decode(&r)
				dv := int(distBase[d]) + int(r.bits(uint(distExtra[d])))
				maxD = max(maxD, dv)
			}
		default:
			t.Fatalf("reserved block type")
		}
		if r.err {
			t.Fatalf("stream ran out")
		}
		if final == 1 {
			return maxD
		}
	}
}

type bitReader struct {
	in   []byte
	pos  int
	acc  uint32
	nacc uint
	err  bool
}

func (r *bitReader) bits(n uint) int {
	for r.nacc < n {
		if r.pos >= len(r.in) {
			r.err = true
			return 0
		}
		r.acc |= uint32(r.in[r.pos]) << r.nacc
		r.pos++
		r.nacc += 8
	}
	v := r.acc & (1<<n - 1)
	r.acc >>= n
	r.nacc -= n
	return int(v)
}

func (r *bitReader) align() { r.acc, r.nacc = 0, 0 }

// decoder decodes canonical Huffman codes bit by bit (slow but simple).
type decoder struct {
	codes map[[2]int]int // (length, code) -> symbol
}

func newDecoder(lens []uint8) decoder {
	h := newHuffCode(lens)
	d := decoder{codes: map[[2]int]int{}}
	for s, l := range lens {
		if l > 0 {
			// Undo the bit reversal to get the canonical code.
			var c int
			for k := uint8(0); k < l; k++ {
				c = c<<1 | int(h.codes[s]>>k&1)
			}
			d.codes[[2]int{int(l), c}] = s
		}
	}
	return d
}

func (d decoder) decode(r *bitReader) int {
	c := 0
	for l := 1; l <= 15; l++ {
		c = c<<1 | r.bits(1)
		if s, ok := d.codes[[2]int{l, c}]; ok {
			return s
		}
		if r.err {
			return 256
		}
	}
	r.err = true
	return 256
}
