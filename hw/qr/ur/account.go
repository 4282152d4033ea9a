package ur

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/countersign/countersign/descriptor"
)

// Cosigner exports: crypto-account (BCR-2020-015) and account-descriptor
// (BCR-2023-019). A signer (Keystone, Passport, SeedSigner, Jade) shows
// one QR with its master fingerprint and an account-level xpub per script
// type; for a multisig wallet we want the BIP-48 entry of the wallet's
// script type as a key expression [fpr/48h/1h/0h/2h]xpub...
//
// The spec wraps each entry in tag 308 and marks multisig entries with
// cosigner (410); Keystone's registry writes neither (e.g. 401(303(...))
// for P2WSH). Both forms are read.

// AccountEntry is one output of an account export.
type AccountEntry struct {
	// Script names the script wrappers outermost first, as descriptor
	// functions: "pkh", "sh,wpkh", "wpkh", "tr", "sh", "sh,wsh", "wsh".
	Script string
	// Cosigner is set when the entry used the cosigner() marker.
	Cosigner bool
	// Key is the account key expression, [fpr/path]xpub (no child steps).
	Key descriptor.Key
}

// Account is a decoded cosigner export.
type Account struct {
	MasterFingerprint [4]byte
	Entries           []AccountEntry
}

// DecodeAccount reads a crypto-account or account-descriptor UR message
// (the type tells which; both layouts are tried).
func DecodeAccount(msg []byte) (*Account, error) {
	v, err := decodeItem(msg)
	if err != nil {
		return nil, err
	}
	if inner, ok := untag(v, tagAccount); ok {
		v = inner
	}
	m, err := intMap(v, "account")
	if err != nil {
		return nil, err
	}
	fp, ok, err := getUint(m, 1, 0xffffffff, "master fingerprint")
	if err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("%w: account without a master fingerprint", ErrInvalid)
		}
		return nil, err
	}
	a := &Account{}
	binary.BigEndian.PutUint32(a.MasterFingerprint[:], uint32(fp))
	outs, ok := m[2].([]any)
	if !ok || len(outs) == 0 {
		return nil, fmt.Errorf("%w: account has no output descriptors", ErrInvalid)
	}
	for i, o := range outs {
		e, err := accountEntry(o, uint32(fp))
		if err != nil {
			return nil, fmt.Errorf("account entry %d: %w", i+1, err)
		}
		if e != nil {
			a.Entries = append(a.Entries, *e)
		}
	}
	return a, nil
}

// accountEntry reads one output: version 1 script tags around a key, or a
// version 3 output descriptor with text source. Entries of kinds
// countersign does not use (raw, addr, combo, pk) are skipped (nil).
func accountEntry(v any, masterFP uint32) (*AccountEntry, error) {
	if inner, ok := untag(v, tagOutput); ok {
		if _, isMap := inner.(map[any]any); isMap {
			return accountEntryV3(inner, masterFP)
		}
		v = inner
	}
	var script []string
	e := &AccountEntry{}
	for {
		next, tag, ok := scriptTag(v)
		if !ok {
			break
		}
		switch tag {
		case tagCosigner:
			e.Cosigner = true
		case tagSH, tagWSH, tagPKH, tagWPKH, tagTaproot:
			script = append(script, map[uint64]string{tagSH: "sh", tagWSH: "wsh", tagPKH: "pkh", tagWPKH: "wpkh", tagTaproot: "tr"}[tag])
		default:
			return nil, nil
		}
		v = next
	}
	content, ok := untag(v, tagHDKey)
	if !ok || len(script) == 0 {
		return nil, nil
	}
	hk, err := decodeHDKey(content)
	if err != nil {
		return nil, err
	}
	if hk.children != nil && len(hk.children.components) > 0 {
		return nil, fmt.Errorf("%w: account key has child steps; account exports are account-level keys", ErrInvalid)
	}
	if e.Key, err = hk.descriptorKey(masterFP); err != nil {
		return nil, err
	}
	e.Script = strings.Join(script, ",")
	return e, nil
}

// scriptTag unwraps one script-expression tag (400-410 or 40400-40410 are
// not registered; only the version 1 numbers are script tags).
func scriptTag(v any) (any, uint64, bool) {
	for _, tag := range []uint64{tagSH, tagWSH, tagPK, tagPKH, tagWPKH, tagCombo, tagMulti, tagSortedMult, tagRaw, tagTaproot, tagCosigner, tagAddress} {
		if inner, ok := untag(v, tag); ok {
			return inner, tag, true
		}
	}
	return nil, 0, false
}

// accountEntryV3 reads a version 3 entry such as "wsh(cosigner(@0))".
func accountEntryV3(v any, masterFP uint32) (*AccountEntry, error) {
	src, _, _, err := outputV3(v, masterFP)
	if err != nil {
		return nil, err
	}
	m, _ := intMap(v, "output-descriptor")
	arr, _ := m[2].([]any)
	if len(arr) != 1 {
		return nil, nil
	}
	content, ok := untag(arr[0], tagHDKey)
	if !ok {
		return nil, nil
	}
	hk, err := decodeHDKey(content)
	if err != nil {
		return nil, err
	}
	e := &AccountEntry{}
	if e.Key, err = hk.descriptorKey(masterFP); err != nil {
		return nil, err
	}
	// Peel "f(" ... ")" wrappers down to the @0 placeholder.
	var script []string
	s := strings.TrimSpace(src)
	for s != "@0" {
		open := strings.IndexByte(s, '(')
		if open <= 0 || !strings.HasSuffix(s, ")") {
			return nil, nil
		}
		fn := s[:open]
		switch fn {
		case "cosigner":
			e.Cosigner = true
		case "sh", "wsh", "pkh", "wpkh", "tr":
			script = append(script, fn)
		default:
			return nil, nil
		}
		s = s[open+1 : len(s)-1]
	}
	if len(script) == 0 {
		return nil, nil
	}
	e.Script = strings.Join(script, ",")
	return e, nil
}

// Multisig returns the entry for a multisig wallet of the given script
// type: the cosigner (or bare) key under sh, sh-wsh or wsh. The key
// expression it returns carries the signer's origin, e.g.
// [37b5eed4/48h/0h/0h/2h]xpub...; add /<0;1>/* for a wallet descriptor.
func (a *Account) Multisig(script descriptor.ScriptType) (descriptor.Key, error) {
	want := map[descriptor.ScriptType]string{descriptor.ScriptSh: "sh", descriptor.ScriptShWsh: "sh,wsh", descriptor.ScriptWsh: "wsh"}[script]
	if want == "" {
		return descriptor.Key{}, fmt.Errorf("%w: unknown script type", ErrInvalid)
	}
	for _, e := range a.Entries {
		if e.Script == want {
			return e.Key, nil
		}
	}
	return descriptor.Key{}, fmt.Errorf("%w: the export has no %s multisig key", ErrInvalid, script)
}
