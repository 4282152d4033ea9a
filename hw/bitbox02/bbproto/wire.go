// Package bbproto holds the BitBox02 API messages countersign uses, encoded
// and decoded by hand with protowire (no generated code). The messages
// follow the vendor's published schema, github.com/BitBoxSwiss/bitbox02-firmware
// at commit a3467ad11daee7081cc041ba9217c81e471022e6:
//
//	messages/hww.proto              Request, Response, Error
//	messages/common.proto           PubResponse, RootFingerprint*, XPub, KeyOriginInfo
//	messages/bitbox02_system.proto  DeviceInfoRequest/Response
//	messages/btc.proto              BTCPubRequest, BTCScriptConfig, BTCSignInit/Next/Input/Output,
//	                                BTCRequest/Response, BTCIsScriptConfigRegistered*,
//	                                BTCRegisterScriptConfigRequest, BTCPrevTx*
//
// Only the fields countersign sends or reads are modelled; unknown fields of
// a received message are skipped as protobuf requires. Every decoder returns
// an error wrapping ErrDecode for a payload that is not a valid encoding,
// never panics, and bounds what it allocates by the payload's size.
package bbproto

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrDecode is wrapped by every error about a payload that does not decode
// as the message it should be.
var ErrDecode = errors.New("bitbox02 message")

func decodeErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrDecode, fmt.Sprintf(format, args...))
}

// field is one field of a received message: v holds a varint or fixed
// value, b a length-delimited value.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64
	b   []byte
}

// parse splits a message payload into its fields, in order. Groups (wire
// types 3 and 4) are refused: no BitBox02 message has them.
func parse(what string, b []byte) ([]field, error) {
	var out []field
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, decodeErr("%s: bad field tag: %v", what, protowire.ParseError(n))
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.v = uint64(v)
		case protowire.Fixed64Type:
			f.v, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b)
		default:
			return nil, decodeErr("%s field %d: unsupported wire type %d", what, num, typ)
		}
		if n < 0 {
			return nil, decodeErr("%s field %d: %v", what, num, protowire.ParseError(n))
		}
		b = b[n:]
		out = append(out, f)
	}
	return out, nil
}

func (f field) want(t protowire.Type) error {
	if f.typ != t {
		return decodeErr("field %d has wire type %d, want %d", f.num, f.typ, t)
	}
	return nil
}

func (f field) u64() (uint64, error) {
	if err := f.want(protowire.VarintType); err != nil {
		return 0, err
	}
	return f.v, nil
}

func (f field) u32() (uint32, error) {
	v, err := f.u64()
	if err != nil {
		return 0, err
	}
	if v > math.MaxUint32 {
		return 0, decodeErr("field %d: %d overflows uint32", f.num, v)
	}
	return uint32(v), nil
}

// i32 decodes an int32 (negative values are sign-extended to 64 bits on
// the wire).
func (f field) i32() (int32, error) {
	v, err := f.u64()
	if err != nil {
		return 0, err
	}
	s := int64(v)
	if s < math.MinInt32 || s > math.MaxInt32 {
		return 0, decodeErr("field %d: %d overflows int32", f.num, s)
	}
	return int32(s), nil
}

func (f field) boolean() (bool, error) {
	v, err := f.u64()
	return v != 0, err
}

func (f field) bytes() ([]byte, error) {
	if err := f.want(protowire.BytesType); err != nil {
		return nil, err
	}
	return append([]byte(nil), f.b...), nil
}

func (f field) str() (string, error) {
	if err := f.want(protowire.BytesType); err != nil {
		return "", err
	}
	if !utf8.Valid(f.b) {
		return "", decodeErr("field %d: string is not UTF-8", f.num)
	}
	return string(f.b), nil
}

// appendU32s adds the values of a repeated uint32 field, packed (proto3's
// default) or not.
func (f field) appendU32s(dst []uint32) ([]uint32, error) {
	if f.typ == protowire.VarintType {
		v, err := f.u32()
		return append(dst, v), err
	}
	if err := f.want(protowire.BytesType); err != nil {
		return nil, err
	}
	b := f.b
	for len(b) > 0 {
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return nil, decodeErr("field %d: packed varint: %v", f.num, protowire.ParseError(n))
		}
		if v > math.MaxUint32 {
			return nil, decodeErr("field %d: %d overflows uint32", f.num, v)
		}
		dst = append(dst, uint32(v))
		b = b[n:]
	}
	return dst, nil
}

// enc builds a message. Scalars at their default value are left out, as
// proto3 encoders do; the "always" forms are for oneof members, whose
// presence is the point even at a default value.
type enc []byte

func (e *enc) tag(num protowire.Number, t protowire.Type) {
	*e = protowire.AppendTag(*e, num, t)
}

func (e *enc) uintAlways(num protowire.Number, v uint64) {
	e.tag(num, protowire.VarintType)
	*e = protowire.AppendVarint(*e, v)
}

func (e *enc) uint(num protowire.Number, v uint64) {
	if v != 0 {
		e.uintAlways(num, v)
	}
}

func (e *enc) boolean(num protowire.Number, v bool) {
	if v {
		e.uintAlways(num, 1)
	}
}

func (e *enc) bytesAlways(num protowire.Number, b []byte) {
	e.tag(num, protowire.BytesType)
	*e = protowire.AppendBytes(*e, b)
}

func (e *enc) bytes(num protowire.Number, b []byte) {
	if len(b) > 0 {
		e.bytesAlways(num, b)
	}
}

func (e *enc) str(num protowire.Number, s string) { e.bytes(num, []byte(s)) }

// packed writes a repeated uint32 field in packed form.
func (e *enc) packed(num protowire.Number, vs []uint32) {
	if len(vs) == 0 {
		return
	}
	var p []byte
	for _, v := range vs {
		p = protowire.AppendVarint(p, uint64(v))
	}
	e.bytesAlways(num, p)
}

// singleBytes returns bytes field num of the message b (what names it in
// errors); nil when absent.
func singleBytes(what string, b []byte, num protowire.Number) ([]byte, error) {
	fs, err := parse(what, b)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, f := range fs {
		if f.num == num {
			if out, err = f.bytes(); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
