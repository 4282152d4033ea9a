package ur

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// UR types and CBOR tags of the Blockchain Commons registry
// (BCR-2020-006). Version 1 types (crypto-*) are what most signers speak
// today; version 2 types (BCR-2023-010/019) are read, and psbt is written
// on request.
const (
	TypeCryptoPSBT        = "crypto-psbt"        // v1, tag 310
	TypePSBT              = "psbt"               // v2, tag 40310
	TypeCryptoOutput      = "crypto-output"      // v1, tag 308 (BCR-2020-010)
	TypeOutputDescriptor  = "output-descriptor"  // v3, tag 40308 (BCR-2023-010)
	TypeCryptoAccount     = "crypto-account"     // v1, tag 311 (BCR-2020-015)
	TypeAccountDescriptor = "account-descriptor" // v2, tag 40311 (BCR-2023-019)
	TypeCryptoHDKey       = "crypto-hdkey"       // v1, tag 303 (BCR-2020-007)
	TypeHDKey             = "hdkey"              // v2, tag 40303
)

// CBOR tags.
const (
	tagHDKey      = 303
	tagKeypath    = 304
	tagCoinInfo   = 305
	tagECKey      = 306
	tagAddress    = 307
	tagOutput     = 308
	tagPSBT       = 310
	tagAccount    = 311
	tagV2Offset   = 40000 // version 2 tags are 40000 + the version 1 tag
	tagSH         = 400
	tagWSH        = 401
	tagPK         = 402
	tagPKH        = 403
	tagWPKH       = 404
	tagCombo      = 405
	tagMulti      = 406
	tagSortedMult = 407
	tagRaw        = 408
	tagTaproot    = 409
	tagCosigner   = 410
)

// decodeItem decodes untrusted CBOR into generic values (maps with
// integer keys decode as map[any]any, tags as cbor.Tag).
func decodeItem(b []byte) (any, error) {
	var v any
	if err := decMode.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%w: CBOR: %v", ErrInvalid, err)
	}
	return v, nil
}

// untag returns the content of a tag, accepting the v1 tag or its v2
// counterpart; ok is false for any other item.
func untag(v any, tag uint64) (any, bool) {
	t, ok := v.(cbor.Tag)
	if !ok || (t.Number != tag && t.Number != tag+tagV2Offset) {
		return nil, false
	}
	return t.Content, true
}

// intMap reads a CBOR map with small unsigned integer keys.
func intMap(v any, what string) (map[uint64]any, error) {
	m, ok := v.(map[any]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not a map", ErrInvalid, what)
	}
	out := make(map[uint64]any, len(m))
	for k, x := range m {
		ki, ok := k.(uint64)
		if !ok {
			return nil, fmt.Errorf("%w: %s has a key that is not an unsigned integer", ErrInvalid, what)
		}
		out[ki] = x
	}
	return out, nil
}

func getUint(m map[uint64]any, key uint64, max uint64, what string) (uint64, bool, error) {
	x, ok := m[key]
	if !ok {
		return 0, false, nil
	}
	u, ok := x.(uint64)
	if !ok || u > max {
		return 0, false, fmt.Errorf("%w: %s is not an unsigned integer up to %d", ErrInvalid, what, max)
	}
	return u, true, nil
}

func getBytes(m map[uint64]any, key uint64, what string) ([]byte, bool, error) {
	x, ok := m[key]
	if !ok {
		return nil, false, nil
	}
	b, ok := x.([]byte)
	if !ok {
		return nil, false, fmt.Errorf("%w: %s is not a byte string", ErrInvalid, what)
	}
	return b, true, nil
}

func getBool(m map[uint64]any, key uint64, what string) (bool, error) {
	x, ok := m[key]
	if !ok {
		return false, nil
	}
	b, ok := x.(bool)
	if !ok {
		return false, fmt.Errorf("%w: %s is not a boolean", ErrInvalid, what)
	}
	return b, nil
}

func getText(m map[uint64]any, key uint64, what string) (string, error) {
	x, ok := m[key]
	if !ok {
		return "", nil
	}
	s, ok := x.(string)
	if !ok {
		return "", fmt.Errorf("%w: %s is not text", ErrInvalid, what)
	}
	return s, nil
}

func marshal(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		panic(err) // maps of integers, byte and text strings always encode
	}
	return b
}
