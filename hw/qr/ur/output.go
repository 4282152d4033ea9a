package ur

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/fxamacker/cbor/v2"

	"github.com/countersign/countersign/descriptor"
)

// Multisig wallet descriptors as crypto-output (BCR-2020-010, version 1)
// and output-descriptor (BCR-2023-010, version 3).
//
// Version 1 has no standard way to say "<0;1>" that signers read: the
// keypath child-pair component was added to BCR-2020-007 later, and
// Keystone's registry (@keystonehq/bc-ur-registry 0.8.0), like the devices
// built on it, reads a pair as garbage. So EncodeCryptoOutput writes the
// receive branch, .../0/*, which is what Sparrow and the devices exchange,
// unless OutputOptions.Multipath asks for the pair. Decoding accepts both;
// descriptor.Multipath() turns a /0/* wallet back into its <0;1> form.
// Version 3 carries the text descriptor with @N placeholders and writes
// the pair, as its spec example does.

// OutputOptions tune EncodeCryptoOutput.
type OutputOptions struct {
	// Multipath writes a <0;1> step as a BCR-2020-007 child pair instead of
	// the receive branch alone. Few signers read it.
	Multipath bool
}

// EncodeCryptoOutput returns the CBOR message of a crypto-output UR for a
// multisig descriptor string (sh, sh-wsh or wsh of multi or sortedmulti).
func EncodeCryptoOutput(desc string, opts OutputOptions) ([]byte, error) {
	d, err := descriptor.Parse(desc)
	if err != nil {
		return nil, err
	}
	return EncodeCryptoOutputDescriptor(d, opts)
}

// EncodeCryptoOutputDescriptor is EncodeCryptoOutput for a parsed
// descriptor.
func EncodeCryptoOutputDescriptor(d *descriptor.Descriptor, opts OutputOptions) ([]byte, error) {
	if d.Branches() > 1 && !opts.Multipath {
		var err error
		if d, err = d.Single(0); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	keys := make([]any, len(d.Keys))
	for i, k := range d.Keys {
		item, err := keyItem(k, tagHDKey)
		if err != nil {
			return nil, err
		}
		keys[i] = item
	}
	multiTag := uint64(tagMulti)
	if d.Sorted {
		multiTag = tagSortedMult
	}
	var v any = cbor.Tag{Number: multiTag, Content: map[uint64]any{1: uint64(d.Threshold), 2: keys}}
	switch d.Script {
	case descriptor.ScriptWsh:
		v = cbor.Tag{Number: tagWSH, Content: v}
	case descriptor.ScriptShWsh:
		v = cbor.Tag{Number: tagSH, Content: cbor.Tag{Number: tagWSH, Content: v}}
	case descriptor.ScriptSh:
		v = cbor.Tag{Number: tagSH, Content: v}
	default:
		return nil, fmt.Errorf("%w: %s wallets have no crypto-output (BCR-2020-010) encoding here: export the wallet as a descriptor instead", ErrInvalid, d.Script)
	}
	return marshal(v), nil
}

// keyItem encodes one key as a tagged hdkey or, for a plain public key,
// an eckey (BCR-2020-008: {3: key-data}).
func keyItem(k descriptor.Key, hdTag uint64) (cbor.Tag, error) {
	if k.PubKey != nil {
		data := k.PubKey.SerializeCompressed()
		if k.Uncompressed {
			data = k.PubKey.SerializeUncompressed()
		}
		return cbor.Tag{Number: hdTag - tagHDKey + tagECKey, Content: map[uint64]any{3: data}}, nil
	}
	hk, err := hdKeyFromDescriptor(k)
	if err != nil {
		return cbor.Tag{}, err
	}
	return hk.item(hdTag), nil
}

// DecodeCryptoOutput reads a crypto-output message holding a multisig
// descriptor and returns it as a canonical descriptor string (with
// checksum), as it was encoded: .../0/* stays .../0/*.
func DecodeCryptoOutput(msg []byte) (string, error) {
	d, err := DecodeCryptoOutputDescriptor(msg)
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// DecodeCryptoOutputDescriptor is DecodeCryptoOutput returning the parsed
// descriptor.
func DecodeCryptoOutputDescriptor(msg []byte) (*descriptor.Descriptor, error) {
	v, err := decodeItem(msg)
	if err != nil {
		return nil, err
	}
	if inner, ok := untag(v, tagOutput); ok { // tolerate an explicit 308
		v = inner
	}
	return multisigFromItem(v, 0)
}

// multisigFromItem rebuilds the descriptor text from the script tags and
// lets the descriptor package validate it (limits, key network, checksum).
func multisigFromItem(v any, fallbackFP uint32) (*descriptor.Descriptor, error) {
	var wrappers []string
	for {
		if inner, ok := untag(v, tagSH); ok {
			wrappers, v = append(wrappers, "sh"), inner
			continue
		}
		if inner, ok := untag(v, tagWSH); ok {
			wrappers, v = append(wrappers, "wsh"), inner
			continue
		}
		break
	}
	fn := "multi"
	content, ok := untag(v, tagMulti)
	if !ok {
		if content, ok = untag(v, tagSortedMult); !ok {
			return nil, fmt.Errorf("%w: not a multisig output descriptor (sh/wsh of multi or sortedmulti)", ErrInvalid)
		}
		fn = "sortedmulti"
	}
	m, err := intMap(content, "multikey")
	if err != nil {
		return nil, err
	}
	threshold, ok, err := getUint(m, 1, 20, "multisig threshold")
	if err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("%w: multisig without a threshold", ErrInvalid)
		}
		return nil, err
	}
	rawKeys, ok := m[2].([]any)
	if !ok || len(rawKeys) == 0 {
		return nil, fmt.Errorf("%w: multisig keys are not a non-empty array", ErrInvalid)
	}
	var b strings.Builder
	for _, w := range wrappers {
		b.WriteString(w + "(")
	}
	b.WriteString(fn + "(" + strconv.FormatUint(threshold, 10))
	for _, rk := range rawKeys {
		k, err := keyFromItem(rk, fallbackFP)
		if err != nil {
			return nil, err
		}
		b.WriteString("," + k)
	}
	b.WriteString(")" + strings.Repeat(")", len(wrappers)))
	d, err := descriptor.Parse(b.String())
	if err != nil {
		return nil, err
	}
	return d, nil
}

// keyFromItem turns a tagged hdkey or eckey into key expression text.
func keyFromItem(v any, fallbackFP uint32) (string, error) {
	if content, ok := untag(v, tagHDKey); ok {
		hk, err := decodeHDKey(content)
		if err != nil {
			return "", err
		}
		k, err := hk.descriptorKey(fallbackFP)
		if err != nil {
			return "", err
		}
		return k.String(), nil
	}
	if content, ok := untag(v, tagECKey); ok {
		m, err := intMap(content, "eckey")
		if err != nil {
			return "", err
		}
		if priv, err := getBool(m, 2, "eckey is-private"); err != nil || priv {
			if err == nil {
				err = fmt.Errorf("%w: eckey is private; only public keys are accepted", ErrInvalid)
			}
			return "", err
		}
		data, ok, err := getBytes(m, 3, "eckey data")
		if err != nil || !ok {
			if err == nil {
				err = fmt.Errorf("%w: eckey without data", ErrInvalid)
			}
			return "", err
		}
		if _, err := btcec.ParsePubKey(data); err != nil {
			return "", fmt.Errorf("%w: eckey: %v", ErrInvalid, err)
		}
		return fmt.Sprintf("%x", data), nil
	}
	return "", fmt.Errorf("%w: key is neither an hdkey nor an eckey", ErrInvalid)
}

// EncodeOutputDescriptor returns the CBOR message of an output-descriptor
// UR (BCR-2023-010, version 3) for a multisig descriptor, keeping <0;1>,
// with an optional wallet name.
func EncodeOutputDescriptor(desc, name string) ([]byte, error) {
	d, err := descriptor.Parse(desc)
	if err != nil {
		return nil, err
	}
	if d.Script == descriptor.ScriptTr || d.IsMiniscript() {
		// The key array below fits an m-of-n template; a taproot or
		// miniscript wallet goes as its whole descriptor text, with no
		// @N references (BCR-2023-010 makes the key array optional), which
		// every reader of the type parses as it would the descriptor.
		m := map[uint64]any{1: d.String()}
		if name != "" {
			m[3] = name
		}
		return marshal(cbor.Tag{Number: tagOutput + tagV2Offset, Content: m}), nil
	}
	keys := make([]any, len(d.Keys))
	refs := make([]string, len(d.Keys))
	for i, k := range d.Keys {
		item, err := keyItem(k, tagHDKey+tagV2Offset)
		if err != nil {
			return nil, err
		}
		keys[i] = item
		refs[i] = "@" + strconv.Itoa(i)
	}
	fn := "multi"
	if d.Sorted {
		fn = "sortedmulti"
	}
	src := fn + "(" + strconv.Itoa(d.Threshold) + "," + strings.Join(refs, ",") + ")"
	switch d.Script {
	case descriptor.ScriptWsh:
		src = "wsh(" + src + ")"
	case descriptor.ScriptShWsh:
		src = "sh(wsh(" + src + "))"
	case descriptor.ScriptSh:
		src = "sh(" + src + ")"
	}
	m := map[uint64]any{1: src, 2: keys}
	if name != "" {
		m[3] = name
	}
	return marshal(cbor.Tag{Number: tagOutput + tagV2Offset, Content: m}), nil
}

// DecodeOutputDescriptor reads an output-descriptor (version 3) message
// holding a multisig descriptor: the descriptor string and the name.
func DecodeOutputDescriptor(msg []byte) (desc, name string, err error) {
	v, err := decodeItem(msg)
	if err != nil {
		return "", "", err
	}
	src, name, keys, err := outputV3(v, 0)
	if err != nil {
		return "", "", err
	}
	text, err := substitute(src, keys)
	if err != nil {
		return "", "", err
	}
	d, err := descriptor.Parse(text)
	if err != nil {
		return "", "", err
	}
	return d.String(), name, nil
}

// outputV3 reads a version 3 output descriptor (tagged 40308 or, as the
// UR top level, untagged) into its source text, name and key expressions.
func outputV3(v any, fallbackFP uint32) (src, name string, keys []string, err error) {
	if inner, ok := untag(v, tagOutput); ok {
		v = inner
	}
	m, err := intMap(v, "output-descriptor")
	if err != nil {
		return "", "", nil, err
	}
	if src, err = getText(m, 1, "output-descriptor source"); err != nil || src == "" {
		if err == nil {
			err = fmt.Errorf("%w: output-descriptor without source text", ErrInvalid)
		}
		return "", "", nil, err
	}
	if name, err = getText(m, 3, "output-descriptor name"); err != nil {
		return "", "", nil, err
	}
	if rk, ok := m[2]; ok {
		arr, ok := rk.([]any)
		if !ok {
			return "", "", nil, fmt.Errorf("%w: output-descriptor keys are not an array", ErrInvalid)
		}
		for _, k := range arr {
			s, err := keyFromItem(k, fallbackFP)
			if err != nil {
				return "", "", nil, err
			}
			keys = append(keys, s)
		}
	}
	return src, name, keys, nil
}

// substitute replaces the @N placeholders of a version 3 source text.
func substitute(src string, keys []string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(src); i++ {
		if src[i] != '@' {
			b.WriteByte(src[i])
			continue
		}
		j := i + 1
		for j < len(src) && src[j] >= '0' && src[j] <= '9' {
			j++
		}
		n, err := strconv.Atoi(src[i+1 : j])
		if err != nil || n >= len(keys) {
			return "", fmt.Errorf("%w: placeholder %q has no key", ErrInvalid, src[i:j])
		}
		b.WriteString(keys[n])
		i = j - 1
	}
	return b.String(), nil
}
