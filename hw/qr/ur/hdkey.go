package ur

import (
	"encoding/binary"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/fxamacker/cbor/v2"

	"github.com/countersign/countersign/descriptor"
)

// BCR-2020-007 hdkey / keypath / coin-info, as used inside output
// descriptors and accounts. Only public keys are accepted: a signer export
// or a wallet descriptor has no business carrying private keys, and
// countersign never sends them.

// pathComponent is one keypath step: an index (possibly hardened), a
// wildcard, or a BIP-389 pair <a;b> (BCR-2020-007 child-pair-component).
type pathComponent struct {
	index    uint32
	hardened bool
	wildcard bool
	pair     []uint32 // set for a pair; hardened pairs are refused
}

// keypath is a decoded crypto-keypath.
type keypath struct {
	components  []pathComponent
	fingerprint uint32 // source fingerprint; 0 when absent
	depth       int    // -1 when absent
}

func decodeKeypath(v any) (*keypath, error) {
	content, ok := untag(v, tagKeypath)
	if !ok {
		return nil, fmt.Errorf("%w: keypath is not tagged %d", ErrInvalid, tagKeypath)
	}
	m, err := intMap(content, "keypath")
	if err != nil {
		return nil, err
	}
	kp := &keypath{depth: -1}
	raw, ok := m[1].([]any)
	if !ok {
		return nil, fmt.Errorf("%w: keypath components are not an array", ErrInvalid)
	}
	for i := 0; i < len(raw); {
		var c pathComponent
		switch x := raw[i].(type) {
		case uint64:
			if x >= hdkeychain.HardenedKeyStart {
				return nil, fmt.Errorf("%w: keypath index %d is not below 2^31", ErrInvalid, x)
			}
			c.index = uint32(x)
		case []any:
			switch len(x) {
			case 0:
				c.wildcard = true
			case 4: // child-pair-component: [a, hardened, b, hardened], no flag after it
				for k := 0; k < 4; k += 2 {
					idx, ok1 := x[k].(uint64)
					h, ok2 := x[k+1].(bool)
					if !ok1 || !ok2 || idx >= hdkeychain.HardenedKeyStart || h {
						return nil, fmt.Errorf("%w: keypath pair must be two unhardened indexes", ErrInvalid)
					}
					c.pair = append(c.pair, uint32(idx))
				}
				kp.components = append(kp.components, c)
				i++
				continue
			default:
				return nil, fmt.Errorf("%w: keypath ranges are not supported in descriptors", ErrInvalid)
			}
		default:
			return nil, fmt.Errorf("%w: keypath component %d is neither an index nor an array", ErrInvalid, i)
		}
		if i+1 >= len(raw) {
			return nil, fmt.Errorf("%w: keypath component %d lacks its hardened flag", ErrInvalid, i)
		}
		h, ok := raw[i+1].(bool)
		if !ok {
			return nil, fmt.Errorf("%w: keypath hardened flag %d is not a boolean", ErrInvalid, i)
		}
		c.hardened = h
		kp.components = append(kp.components, c)
		i += 2
	}
	fp, _, err := getUint(m, 2, 0xffffffff, "keypath source fingerprint")
	if err != nil {
		return nil, err
	}
	kp.fingerprint = uint32(fp)
	if d, ok, err := getUint(m, 3, 255, "keypath depth"); err != nil {
		return nil, err
	} else if ok {
		kp.depth = int(d)
	}
	return kp, nil
}

func (kp *keypath) item() cbor.Tag {
	comps := []any{}
	for _, c := range kp.components {
		switch {
		case c.pair != nil:
			comps = append(comps, []any{uint64(c.pair[0]), false, uint64(c.pair[1]), false})
			continue
		case c.wildcard:
			comps = append(comps, []any{})
		default:
			comps = append(comps, uint64(c.index))
		}
		comps = append(comps, c.hardened)
	}
	m := map[uint64]any{1: comps}
	if kp.fingerprint != 0 {
		m[2] = uint64(kp.fingerprint)
	}
	if kp.depth >= 0 {
		m[3] = uint64(kp.depth)
	}
	return cbor.Tag{Number: tagKeypath, Content: m}
}

// hdKey is a decoded crypto-hdkey (public, derived).
type hdKey struct {
	keyData           []byte
	chainCode         []byte
	testnet           bool
	origin, children  *keypath
	parentFingerprint uint32
	name              string
}

// decodeHDKey reads the content of a 303 / 40303 tag.
func decodeHDKey(content any) (*hdKey, error) {
	m, err := intMap(content, "hdkey")
	if err != nil {
		return nil, err
	}
	if master, err := getBool(m, 1, "hdkey is-master"); err != nil || master {
		if err == nil {
			err = fmt.Errorf("%w: hdkey is a master (private) key; only public keys are accepted", ErrInvalid)
		}
		return nil, err
	}
	if priv, err := getBool(m, 2, "hdkey is-private"); err != nil || priv {
		if err == nil {
			err = fmt.Errorf("%w: hdkey is private; only public keys are accepted", ErrInvalid)
		}
		return nil, err
	}
	k := &hdKey{}
	var ok bool
	if k.keyData, ok, err = getBytes(m, 3, "hdkey key-data"); err != nil || !ok || len(k.keyData) != 33 {
		if err == nil {
			err = fmt.Errorf("%w: hdkey key-data must be a 33-byte public key", ErrInvalid)
		}
		return nil, err
	}
	if _, err := btcec.ParsePubKey(k.keyData); err != nil {
		return nil, fmt.Errorf("%w: hdkey key-data: %v", ErrInvalid, err)
	}
	if k.chainCode, ok, err = getBytes(m, 4, "hdkey chain-code"); err != nil || !ok || len(k.chainCode) != 32 {
		if err == nil {
			err = fmt.Errorf("%w: hdkey without a 32-byte chain code cannot derive addresses", ErrInvalid)
		}
		return nil, err
	}
	if ui, ok := m[5]; ok {
		content, ok := untag(ui, tagCoinInfo)
		if !ok {
			return nil, fmt.Errorf("%w: hdkey use-info is not tagged %d", ErrInvalid, tagCoinInfo)
		}
		cm, err := intMap(content, "coin-info")
		if err != nil {
			return nil, err
		}
		if ct, _, err := getUint(cm, 1, 0x7fffffff, "coin type"); err != nil || ct != 0 {
			if err == nil {
				err = fmt.Errorf("%w: coin type %d is not bitcoin", ErrInvalid, ct)
			}
			return nil, err
		}
		network, _, err := getUint(cm, 2, 1, "coin-info network")
		if err != nil {
			return nil, err
		}
		k.testnet = network == 1
	}
	if o, ok := m[6]; ok {
		if k.origin, err = decodeKeypath(o); err != nil {
			return nil, err
		}
	}
	if c, ok := m[7]; ok {
		if k.children, err = decodeKeypath(c); err != nil {
			return nil, err
		}
	}
	pf, _, err := getUint(m, 8, 0xffffffff, "hdkey parent fingerprint")
	if err != nil {
		return nil, err
	}
	k.parentFingerprint = uint32(pf)
	if k.name, err = getText(m, 9, "hdkey name"); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *hdKey) item(tag uint64) cbor.Tag {
	m := map[uint64]any{3: k.keyData, 4: k.chainCode}
	if k.testnet {
		m[5] = cbor.Tag{Number: tag - tagHDKey + tagCoinInfo, Content: map[uint64]any{2: uint64(1)}}
	}
	if k.origin != nil {
		o := k.origin.item()
		o.Number = tag - tagHDKey + tagKeypath
		m[6] = o
	}
	if k.children != nil {
		c := k.children.item()
		c.Number = tag - tagHDKey + tagKeypath
		m[7] = c
	}
	if k.parentFingerprint != 0 {
		m[8] = uint64(k.parentFingerprint)
	}
	if k.name != "" {
		m[9] = k.name
	}
	return cbor.Tag{Number: tag, Content: m}
}

// descriptorKey turns the hdkey into a descriptor key expression.
// fallbackFingerprint is the account's master fingerprint, used when the
// origin carries none (BCR-2020-015 resolution rule).
func (k *hdKey) descriptorKey(fallbackFingerprint uint32) (descriptor.Key, error) {
	var key descriptor.Key
	depth, childNum := 0, uint32(0)
	if o := k.origin; o != nil {
		path := make([]uint32, 0, len(o.components))
		for _, c := range o.components {
			if c.wildcard || c.pair != nil {
				return key, fmt.Errorf("%w: hdkey origin has a wildcard or pair step", ErrInvalid)
			}
			v := c.index
			if c.hardened {
				v += hdkeychain.HardenedKeyStart
			}
			path = append(path, v)
		}
		depth = len(path)
		if o.depth >= 0 {
			depth = o.depth
		}
		if len(path) > 0 {
			childNum = path[len(path)-1]
		}
		fp := o.fingerprint
		if fp == 0 {
			fp = fallbackFingerprint
		}
		// An origin path without any fingerprint cannot be written as a
		// key origin; the key keeps its depth and child number only.
		if fp != 0 {
			key.Origin = &descriptor.Origin{Path: path}
			binary.BigEndian.PutUint32(key.Origin.Fingerprint[:], fp)
		}
	}
	parent := k.parentFingerprint
	if parent == 0 && depth == 1 && key.Origin != nil {
		// "If origin contains only a single derivation step and also
		// contains source-fingerprint, then parent-fingerprint MUST be
		// identical to source-fingerprint or may be omitted."
		parent = binary.BigEndian.Uint32(key.Origin.Fingerprint[:])
	}
	net := &chaincfg.MainNetParams
	if k.testnet {
		net = &chaincfg.TestNet3Params
	}
	var pf [4]byte
	binary.BigEndian.PutUint32(pf[:], parent)
	key.XPub = hdkeychain.NewExtendedKey(net.HDPublicKeyID[:], k.keyData, k.chainCode, pf[:], uint8(depth), childNum, false)
	if k.children != nil {
		for i, c := range k.children.components {
			switch {
			case c.wildcard:
				if i != len(k.children.components)-1 {
					return key, fmt.Errorf("%w: wildcard is not the last child step", ErrInvalid)
				}
				key.Wildcard, key.HardenedWildcard = true, c.hardened
			case c.hardened:
				return key, fmt.Errorf("%w: hardened child step after a public key", ErrInvalid)
			case c.pair != nil:
				key.Path = append(key.Path, descriptor.PathElem{Multi: append([]uint32{}, c.pair...)})
			default:
				key.Path = append(key.Path, descriptor.PathElem{Index: c.index})
			}
		}
	}
	return key, nil
}

// hdKeyFromDescriptor builds the hdkey of an xpub key expression. With
// pair set, a multipath step is written as a BCR-2020-007 child pair;
// otherwise the caller has already picked one branch.
func hdKeyFromDescriptor(key descriptor.Key) (*hdKey, error) {
	x := key.XPub
	if x == nil {
		return nil, fmt.Errorf("%w: key %s is not an extended public key", ErrInvalid, key.String())
	}
	pub, err := x.ECPubKey()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	k := &hdKey{
		keyData:           pub.SerializeCompressed(),
		chainCode:         x.ChainCode(),
		testnet:           !x.IsForNet(&chaincfg.MainNetParams),
		parentFingerprint: x.ParentFingerprint(),
	}
	if o := key.Origin; o != nil {
		kp := &keypath{fingerprint: binary.BigEndian.Uint32(o.Fingerprint[:]), depth: -1}
		for _, v := range o.Path {
			kp.components = append(kp.components, pathComponent{index: v &^ hdkeychain.HardenedKeyStart, hardened: v >= hdkeychain.HardenedKeyStart})
		}
		if len(o.Path) != int(x.Depth()) {
			kp.depth = int(x.Depth())
		}
		k.origin = kp
	} else if x.Depth() != 0 {
		k.origin = &keypath{depth: int(x.Depth())}
	}
	if len(key.Path) > 0 || key.Wildcard {
		kp := &keypath{depth: -1}
		for _, e := range key.Path {
			switch {
			case e.Multi != nil:
				if len(e.Multi) != 2 || e.Multi[0] >= hdkeychain.HardenedKeyStart || e.Multi[1] >= hdkeychain.HardenedKeyStart {
					return nil, fmt.Errorf("%w: only unhardened two-way multipath steps (<0;1>) have a CBOR form", ErrInvalid)
				}
				kp.components = append(kp.components, pathComponent{pair: append([]uint32{}, e.Multi...)})
			default:
				kp.components = append(kp.components, pathComponent{index: e.Index &^ hdkeychain.HardenedKeyStart, hardened: e.Index >= hdkeychain.HardenedKeyStart})
			}
		}
		if key.Wildcard {
			kp.components = append(kp.components, pathComponent{wildcard: true, hardened: key.HardenedWildcard})
		}
		k.children = kp
	}
	return k, nil
}
