package trezorproto

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrDecode is wrapped by every error about a payload that is not a valid
// encoding of the message it is decoded as.
var ErrDecode = errors.New("trezor message")

// maxRepeated bounds repeated fields so a hostile peer cannot make the
// decoder allocate without limit (a payload is at most MaxMessageSize anyway;
// this only caps per-field slices of tiny elements).
const maxRepeated = 1 << 16

func decodeErr(msg string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrDecode, fmt.Sprintf(msg, args...))
}

// fieldFunc handles one field; it returns the bytes it consumed from b, or
// -1 when it does not know the field (the caller skips it).
type fieldFunc func(num protowire.Number, typ protowire.Type, b []byte) (int, error)

// walk calls f for each field of a message payload, skipping unknown ones
// the way protobuf requires.
func walk(what string, b []byte, f fieldFunc) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return decodeErr("%s: bad field tag: %v", what, protowire.ParseError(n))
		}
		b = b[n:]
		m, err := f(num, typ, b)
		if err != nil {
			return fmt.Errorf("%s field %d: %w", what, num, err)
		}
		if m < 0 {
			m = protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return decodeErr("%s field %d: %v", what, num, protowire.ParseError(m))
			}
		}
		b = b[m:]
	}
	return nil
}

func wantType(got, want protowire.Type) error {
	if got != want {
		return decodeErr("wire type %d, want %d", got, want)
	}
	return nil
}

func getVarint(typ protowire.Type, b []byte) (uint64, int, error) {
	if err := wantType(typ, protowire.VarintType); err != nil {
		return 0, 0, err
	}
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, 0, decodeErr("varint: %v", protowire.ParseError(n))
	}
	return v, n, nil
}

func getUint32(typ protowire.Type, b []byte) (uint32, int, error) {
	v, n, err := getVarint(typ, b)
	if err != nil {
		return 0, 0, err
	}
	if v > math.MaxUint32 {
		return 0, 0, decodeErr("value %d overflows uint32", v)
	}
	return uint32(v), n, nil
}

func getBool(typ protowire.Type, b []byte) (bool, int, error) {
	v, n, err := getVarint(typ, b)
	return v != 0, n, err
}

func getBytes(typ protowire.Type, b []byte) ([]byte, int, error) {
	if err := wantType(typ, protowire.BytesType); err != nil {
		return nil, 0, err
	}
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return nil, 0, decodeErr("length-delimited field: %v", protowire.ParseError(n))
	}
	return append([]byte{}, v...), n, nil
}

func getString(typ protowire.Type, b []byte) (string, int, error) {
	v, n, err := getBytes(typ, b)
	if err != nil {
		return "", 0, err
	}
	if !utf8.Valid(v) {
		return "", 0, decodeErr("string is not UTF-8")
	}
	return string(v), n, nil
}

// getUint32s appends one element of a repeated uint32 field, accepting both
// the unpacked form (proto2's default, what trezorlib and the firmware send)
// and the packed form.
func getUint32s(dst []uint32, typ protowire.Type, b []byte) ([]uint32, int, error) {
	if typ == protowire.BytesType {
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, 0, decodeErr("packed field: %v", protowire.ParseError(n))
		}
		for len(v) > 0 {
			x, m := protowire.ConsumeVarint(v)
			if m < 0 {
				return nil, 0, decodeErr("packed field: %v", protowire.ParseError(m))
			}
			if x > math.MaxUint32 {
				return nil, 0, decodeErr("value %d overflows uint32", x)
			}
			if len(dst) >= maxRepeated {
				return nil, 0, decodeErr("more than %d elements", maxRepeated)
			}
			dst = append(dst, uint32(x))
			v = v[m:]
		}
		return dst, n, nil
	}
	x, n, err := getUint32(typ, b)
	if err != nil {
		return nil, 0, err
	}
	if len(dst) >= maxRepeated {
		return nil, 0, decodeErr("more than %d elements", maxRepeated)
	}
	return append(dst, x), n, nil
}

// getMessage decodes an embedded message into m.
func getMessage(typ protowire.Type, b []byte, m unmarshaler) (int, error) {
	if err := wantType(typ, protowire.BytesType); err != nil {
		return 0, err
	}
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return 0, decodeErr("embedded message: %v", protowire.ParseError(n))
	}
	return n, m.Unmarshal(v)
}

type unmarshaler interface{ Unmarshal([]byte) error }

// Encoding helpers: each appends one field.

func putVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func putBool(b []byte, num protowire.Number, v bool) []byte {
	return putVarint(b, num, protowire.EncodeBool(v))
}

func putBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func putString(b []byte, num protowire.Number, v string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, v)
}

// putUint32s writes a repeated uint32 unpacked, as proto2 does by default.
func putUint32s(b []byte, num protowire.Number, vs []uint32) []byte {
	for _, v := range vs {
		b = putVarint(b, num, uint64(v))
	}
	return b
}

func putMessage(b []byte, num protowire.Number, m marshaler) []byte {
	return putBytes(b, num, m.appendTo(nil))
}

type marshaler interface{ appendTo([]byte) []byte }

// Optional scalars are pointers; these build them.

// U32 returns a pointer to v, for optional uint32 fields.
func U32(v uint32) *uint32 { return &v }

// U64 returns a pointer to v, for optional uint64 fields.
func U64(v uint64) *uint64 { return &v }

// Str returns a pointer to v, for optional string fields.
func Str(v string) *string { return &v }
