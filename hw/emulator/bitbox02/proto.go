package bitbox02

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// The emulator reads and writes the API's protobuf messages with this small
// field-level codec of its own, by field number as the vendor's schema
// (bitbox02-firmware messages/*.proto, commit
// a3467ad11daee7081cc041ba9217c81e471022e6) gives them. It shares nothing
// with the driver's message package, so a wrong field number on one side
// shows up as a failing exchange, not as two matching mistakes.

// errDecode marks a request that is not valid protobuf; the firmware
// answers it with error 101 (invalid input).
var errDecode = errors.New("malformed protobuf")

// pfield is one field of a message.
type pfield struct {
	num int
	typ protowire.Type
	v   uint64
	b   []byte
}

// pmsg is a decoded message: its fields in order.
type pmsg []pfield

// decodeMsg splits b into fields. Nested messages stay as bytes until they
// are asked for.
func decodeMsg(b []byte) (pmsg, error) {
	var m pmsg
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("%w: tag: %v", errDecode, protowire.ParseError(n))
		}
		b = b[n:]
		f := pfield{num: int(num), typ: typ}
		switch typ {
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.v = uint64(v)
		case protowire.Fixed64Type:
			f.v, n = protowire.ConsumeFixed64(b)
		default:
			return nil, fmt.Errorf("%w: wire type %d", errDecode, typ)
		}
		if n < 0 {
			return nil, fmt.Errorf("%w: field %d: %v", errDecode, num, protowire.ParseError(n))
		}
		b = b[n:]
		m = append(m, f)
	}
	return m, nil
}

// last returns the last occurrence of field num (protobuf: last one wins).
func (m pmsg) last(num int) (pfield, bool) {
	for i := len(m) - 1; i >= 0; i-- {
		if m[i].num == num {
			return m[i], true
		}
	}
	return pfield{}, false
}

func (m pmsg) has(num int) bool {
	_, ok := m.last(num)
	return ok
}

// uint reads a varint field; absent is 0, a wrong wire type an error.
func (m pmsg) uint(num int) (uint64, error) {
	f, ok := m.last(num)
	if !ok {
		return 0, nil
	}
	if f.typ != protowire.VarintType {
		return 0, fmt.Errorf("%w: field %d is not a varint", errDecode, num)
	}
	return f.v, nil
}

func (m pmsg) u32(num int) (uint32, error) {
	v, err := m.uint(num)
	if err != nil {
		return 0, err
	}
	if v > 0xffffffff {
		return 0, fmt.Errorf("%w: field %d overflows uint32", errDecode, num)
	}
	return uint32(v), nil
}

func (m pmsg) flag(num int) (bool, error) {
	v, err := m.uint(num)
	return v != 0, err
}

// bytes reads a length-delimited field; absent is nil.
func (m pmsg) bytes(num int) ([]byte, error) {
	f, ok := m.last(num)
	if !ok {
		return nil, nil
	}
	if f.typ != protowire.BytesType {
		return nil, fmt.Errorf("%w: field %d is not length-delimited", errDecode, num)
	}
	return f.b, nil
}

// sub decodes a nested message field; ok is false when absent.
func (m pmsg) sub(num int) (pmsg, bool, error) {
	f, ok := m.last(num)
	if !ok {
		return nil, false, nil
	}
	if f.typ != protowire.BytesType {
		return nil, false, fmt.Errorf("%w: field %d is not a message", errDecode, num)
	}
	s, err := decodeMsg(f.b)
	return s, true, err
}

// subs decodes every occurrence of a repeated message field.
func (m pmsg) subs(num int) ([]pmsg, error) {
	var out []pmsg
	for _, f := range m {
		if f.num != num {
			continue
		}
		if f.typ != protowire.BytesType {
			return nil, fmt.Errorf("%w: field %d is not a message", errDecode, num)
		}
		s, err := decodeMsg(f.b)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// u32s reads a repeated uint32 field, packed or not.
func (m pmsg) u32s(num int) ([]uint32, error) {
	var out []uint32
	for _, f := range m {
		if f.num != num {
			continue
		}
		switch f.typ {
		case protowire.VarintType:
			if f.v > 0xffffffff {
				return nil, fmt.Errorf("%w: field %d overflows uint32", errDecode, num)
			}
			out = append(out, uint32(f.v))
		case protowire.BytesType:
			b := f.b
			for len(b) > 0 {
				v, n := protowire.ConsumeVarint(b)
				if n < 0 || v > 0xffffffff {
					return nil, fmt.Errorf("%w: field %d: bad packed value", errDecode, num)
				}
				out = append(out, uint32(v))
				b = b[n:]
			}
		default:
			return nil, fmt.Errorf("%w: field %d has wire type %d", errDecode, num, f.typ)
		}
	}
	return out, nil
}

// oneof returns the number of the last field present among nums, or 0.
func (m pmsg) oneof() int {
	if len(m) == 0 {
		return 0
	}
	return m[len(m)-1].num
}

// pbuf builds a message.
type pbuf []byte

func (p pbuf) varint(num int, v uint64) pbuf {
	if v == 0 {
		return p
	}
	p = protowire.AppendTag(p, protowire.Number(num), protowire.VarintType)
	return protowire.AppendVarint(p, v)
}

func (p pbuf) flag(num int, v bool) pbuf {
	if !v {
		return p
	}
	return p.varint(num, 1)
}

// field writes a length-delimited field, even when empty (a oneof member
// or a nested message must be present).
func (p pbuf) field(num int, b []byte) pbuf {
	p = protowire.AppendTag(p, protowire.Number(num), protowire.BytesType)
	return protowire.AppendBytes(p, b)
}

// opt writes a length-delimited field unless it is empty.
func (p pbuf) opt(num int, b []byte) pbuf {
	if len(b) == 0 {
		return p
	}
	return p.field(num, b)
}
