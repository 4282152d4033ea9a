package qrsigner

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/fxamacker/cbor/v2"
)

// The registry types the emulator reads and writes, from the specs
// (github.com/BlockchainCommons/Research, commit e4a4fbb): crypto-output
// (BCR-2020-010) with crypto-hdkey and crypto-keypath (BCR-2020-007), and
// crypto-account (BCR-2020-015). This is the emulator's own CBOR handling,
// not hw/qr/ur's, so that the two cross-check each other.
const (
	tagHDKey       = 303
	tagKeypath     = 304
	tagCoinInfo    = 305
	tagOutput      = 308
	tagAccount     = 311
	tagSH          = 400
	tagWSH         = 401
	tagMulti       = 406
	tagSortedMulti = 407
)

var cborDec = func() cbor.DecMode {
	m, err := cbor.DecOptions{MaxNestedLevels: 12, MaxArrayElements: 512, MaxMapPairs: 64, IndefLength: cbor.IndefLengthForbidden}.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}()

var cborEnc = func() cbor.EncMode {
	m, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	return m
}()

// untagged returns the content of v if it is tagged n.
func untagged(v any, n uint64) (any, bool) {
	t, ok := v.(cbor.Tag)
	if !ok || t.Number != n {
		return nil, false
	}
	return t.Content, true
}

// field reads key k of a CBOR map with integer keys.
func field(v any, k uint64) (any, bool) {
	m, ok := v.(map[any]any)
	if !ok {
		return nil, false
	}
	x, ok := m[k]
	return x, ok
}

// walletFromCryptoOutput reads a crypto-output message of a multisig
// wallet: sh / sh(wsh) / wsh around multi / sortedmulti of hdkeys, each
// with its origin (source fingerprint and path) and children /0/* (or
// /<0;1>/*, or none).
func walletFromCryptoOutput(msg []byte) (*wallet, error) {
	var v any
	if err := cborDec.Unmarshal(msg, &v); err != nil {
		return nil, fmt.Errorf("crypto-output CBOR: %v", err)
	}
	if inner, ok := untagged(v, tagOutput); ok {
		v = inner
	}
	w := &wallet{}
	switch {
	case isTag(v, tagSH) && isTag(mustUntag(v, tagSH), tagWSH):
		w.script, v = p2shP2wsh, mustUntag(mustUntag(v, tagSH), tagWSH)
	case isTag(v, tagWSH):
		w.script, v = p2wsh, mustUntag(v, tagWSH)
	case isTag(v, tagSH):
		w.script, v = p2sh, mustUntag(v, tagSH)
	default:
		return nil, errors.New("crypto-output is not sh, sh(wsh) or wsh")
	}
	switch {
	case isTag(v, tagSortedMulti):
		w.sorted, v = true, mustUntag(v, tagSortedMulti)
	case isTag(v, tagMulti):
		v = mustUntag(v, tagMulti)
	default:
		return nil, errors.New("crypto-output is not a multisig")
	}
	th, _ := field(v, 1)
	m, ok := th.(uint64)
	if !ok || m > maxKeys {
		return nil, errors.New("multisig threshold missing")
	}
	w.threshold = int(m)
	ks, _ := field(v, 2)
	keys, ok := ks.([]any)
	if !ok {
		return nil, errors.New("multisig keys missing")
	}
	for i, kv := range keys {
		k, err := hdKeyFromCBOR(kv)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		w.keys = append(w.keys, k)
	}
	return w, w.check()
}

func isTag(v any, n uint64) bool { _, ok := untagged(v, n); return ok }

func mustUntag(v any, n uint64) any { c, _ := untagged(v, n); return c }

// hdKeyFromCBOR reads a tagged crypto-hdkey into a wallet key.
func hdKeyFromCBOR(v any) (walletKey, error) {
	var k walletKey
	c, ok := untagged(v, tagHDKey)
	if !ok {
		return k, errors.New("not a crypto-hdkey")
	}
	if p, _ := field(c, 2); p == true {
		return k, errors.New("private hdkey")
	}
	keyData, _ := field(c, 3)
	chain, _ := field(c, 4)
	kd, ok1 := keyData.([]byte)
	cc, ok2 := chain.([]byte)
	if !ok1 || !ok2 || len(kd) != 33 || len(cc) != 32 {
		return k, errors.New("hdkey needs a 33-byte key and a 32-byte chain code")
	}
	if _, err := btcec.ParsePubKey(kd); err != nil {
		return k, err
	}
	net := &chaincfg.MainNetParams
	if ui, ok := field(c, 5); ok {
		if n, _ := field(mustUntag(ui, tagCoinInfo), 2); n == uint64(1) {
			net = &chaincfg.TestNet3Params
		}
	}
	o, ok := field(c, 6)
	if !ok {
		return k, errors.New("hdkey without an origin: the device cannot find its key")
	}
	oc, ok := untagged(o, tagKeypath)
	if !ok {
		return k, errors.New("origin is not a crypto-keypath")
	}
	comps, _ := field(oc, 1)
	steps, ok := comps.([]any)
	if !ok || len(steps)%2 != 0 {
		return k, errors.New("origin path")
	}
	for i := 0; i < len(steps); i += 2 {
		idx, ok1 := steps[i].(uint64)
		hard, ok2 := steps[i+1].(bool)
		if !ok1 || !ok2 || idx >= hdkeychain.HardenedKeyStart {
			return k, errors.New("origin path step")
		}
		if hard {
			idx += hdkeychain.HardenedKeyStart
		}
		k.origin = append(k.origin, uint32(idx))
	}
	src, _ := field(oc, 2)
	fp, ok := src.(uint64)
	if !ok || fp > 0xffffffff {
		return k, errors.New("origin without a source fingerprint")
	}
	binary.BigEndian.PutUint32(k.fingerprint[:], uint32(fp))
	if ch, ok := field(c, 7); ok {
		if err := checkChildren(ch); err != nil {
			return k, err
		}
	}
	var parent [4]byte
	if pf, ok := field(c, 8); ok {
		p, ok := pf.(uint64)
		if !ok || p > 0xffffffff {
			return k, errors.New("parent fingerprint")
		}
		binary.BigEndian.PutUint32(parent[:], uint32(p))
	}
	child := uint32(0)
	if n := len(k.origin); n > 0 {
		child = k.origin[n-1]
	}
	k.xpub = hdkeychain.NewExtendedKey(net.HDPublicKeyID[:], kd, cc, parent[:], uint8(len(k.origin)), child, false)
	return k, nil
}

// checkChildren accepts the children paths a wallet key can have: 0/*
// (the receive branch Sparrow and the devices exchange), <0;1>/* (a
// child pair) or nothing after the account.
func checkChildren(v any) error {
	c, ok := untagged(v, tagKeypath)
	if !ok {
		return errors.New("children is not a crypto-keypath")
	}
	comps, _ := field(c, 1)
	steps, _ := comps.([]any)
	wildcard := func(x any) bool { a, ok := x.([]any); return ok && len(a) == 0 }
	switch {
	case len(steps) == 0:
		return nil
	case len(steps) == 4 && steps[0] == uint64(0) && steps[1] == false && wildcard(steps[2]) && steps[3] == false:
		return nil
	case len(steps) == 3 && wildcard(steps[1]) && steps[2] == false:
		if pair, ok := steps[0].([]any); ok && len(pair) == 4 && pair[0] == uint64(0) && pair[2] == uint64(1) {
			return nil
		}
	}
	return errors.New("key children: want 0/* or <0;1>/*")
}

// accountCBOR is the emulator's cosigner export, crypto-account
// (BCR-2020-015) as Keystone writes it: the master fingerprint and one
// output per multisig script type, the account xpub under script tags
// without the 308 wrapper: sh at m/45', sh(wsh) at m/48'/coin'/0'/1' and
// wsh at m/48'/coin'/0'/2'.
func (e *Emulator) accountCBOR() ([]byte, error) {
	coin := uint32(1)
	testnet := true
	if e.net.Name == chaincfg.MainNetParams.Name {
		coin, testnet = 0, false
	}
	h := uint32(hdkeychain.HardenedKeyStart)
	var outs []any
	for _, o := range []struct {
		path []uint32
		wrap []uint64
	}{
		{[]uint32{45 + h}, []uint64{tagSH}},
		{[]uint32{48 + h, coin + h, h, 1 + h}, []uint64{tagSH, tagWSH}},
		{[]uint32{48 + h, coin + h, h, 2 + h}, []uint64{tagWSH}},
	} {
		k, err := e.derive(o.path)
		if err != nil {
			return nil, err
		}
		x, err := k.Neuter()
		if err != nil {
			return nil, err
		}
		pub, err := x.ECPubKey()
		if err != nil {
			return nil, err
		}
		var comps []any
		for _, s := range o.path {
			comps = append(comps, uint64(s&^h), s >= h)
		}
		hk := map[uint64]any{
			3: pub.SerializeCompressed(),
			4: x.ChainCode(),
			6: cbor.Tag{Number: tagKeypath, Content: map[uint64]any{1: comps, 2: uint64(binary.BigEndian.Uint32(e.fp[:])), 3: uint64(len(o.path))}},
			8: uint64(x.ParentFingerprint()),
		}
		if testnet {
			hk[5] = cbor.Tag{Number: tagCoinInfo, Content: map[uint64]any{2: uint64(1)}}
		}
		var item any = cbor.Tag{Number: tagHDKey, Content: hk}
		for i := len(o.wrap) - 1; i >= 0; i-- {
			item = cbor.Tag{Number: o.wrap[i], Content: item}
		}
		outs = append(outs, item)
	}
	return cborEnc.Marshal(map[uint64]any{1: uint64(binary.BigEndian.Uint32(e.fp[:])), 2: outs})
}
