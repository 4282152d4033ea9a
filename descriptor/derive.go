package descriptor

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
)

// Derive computes the scripts and address at (branch, index) for network
// net. branch picks the multipath alternative (0 receive, 1 change; only 0
// without multipath); index fills the wildcard and is ignored when there is
// none. Keys come back in descriptor order with their full origin paths;
// the multisig script orders them per BIP-67 for sortedmulti. Errors wrap
// ErrInvalid.
func (d *Descriptor) Derive(branch, index uint32, net *chaincfg.Params) (*Derived, error) {
	nodes, _, err := d.prepare(branch, net)
	if err != nil {
		return nil, err
	}
	if d.IsRange() && index >= HardenedKeyStart {
		return nil, errIndexRange(index)
	}
	return d.deriveAt(nodes, branch, index, net)
}

func errIndexRange(index uint32) error {
	return invalid(fmt.Errorf("index %d is out of range: address indexes go from 0 to 2147483647", index))
}

// prepare runs the checks shared by Derive and DeriveRange and returns the
// branch's key nodes, from the cache when the descriptor has one.
func (d *Descriptor) prepare(branch uint32, net *chaincfg.Params) ([]keyNode, *nodeCache, error) {
	if d == nil {
		return nil, nil, invalid(errors.New("no descriptor"))
	}
	cache := d.cache
	if cache == nil {
		// A Descriptor built by hand has skipped Parse's checks.
		if err := validate(d, nil); err != nil {
			return nil, nil, err
		}
		cache = newNodeCache()
	}
	if err := d.CheckNetwork(net); err != nil {
		return nil, nil, err
	}
	if n := d.Branches(); int64(branch) >= int64(n) {
		return nil, nil, invalid(fmt.Errorf("branch %d does not exist: this descriptor has %d (0 = receive, 1 = change)", branch, n))
	}
	nodes, err := cache.nodes(d, branch)
	if err != nil {
		return nil, nil, err
	}
	if len(nodes) != len(d.Keys) {
		return nil, nil, invalid(errors.New("the descriptor's keys changed after parsing: parse it again"))
	}
	return nodes, cache, nil
}

// deriveAt derives one position from prepared nodes. It is safe for
// concurrent use: nodes are read-only.
func (d *Descriptor) deriveAt(nodes []keyNode, branch, index uint32, net *chaincfg.Params) (*Derived, error) {
	pubs := make([][]byte, len(nodes))
	for i := range nodes {
		pub, err := nodes[i].pubKeyAt(index)
		if err != nil {
			return nil, childError(i, branch, index, err)
		}
		pubs[i] = pub
	}
	return d.assemble(nodes, pubs, branch, index, net)
}

func childError(key int, branch, index uint32, err error) error {
	return invalidKey(key, fmt.Errorf("at branch %d index %d: %w", branch, index, err))
}

// assemble builds the scripts and address from the keys' public keys at one
// position (pubs in descriptor order).
func (d *Descriptor) assemble(nodes []keyNode, pubs [][]byte, branch, index uint32, net *chaincfg.Params) (*Derived, error) {
	if d.Tap != nil {
		return d.assembleTr(nodes, pubs, branch, index, net)
	}
	out := &Derived{Branch: branch, Index: index, Keys: make([]DerivedKey, len(nodes))}
	// All keys' paths share one allocation; each slice is capped so that
	// appending to one cannot overwrite the next.
	total := 0
	for i := range nodes {
		total += nodes[i].pathLen()
	}
	paths := make([]uint32, 0, total)
	for i := range nodes {
		start := len(paths)
		paths = nodes[i].appendPath(paths, index)
		out.Keys[i] = DerivedKey{PubKey: pubs[i], Fingerprint: nodes[i].fingerprint, Path: paths[start:len(paths):len(paths)]}
	}

	// BIP-67: sortedmulti puts keys in lexicographic order of their
	// serialization. The sorted copy also exposes a repeated key.
	sorted := slices.Clone(pubs)
	slices.SortFunc(sorted, bytes.Compare)
	for i := 1; i < len(sorted); i++ {
		if bytes.Equal(sorted[i-1], sorted[i]) {
			return nil, duplicateChildError(pubs, branch, index)
		}
	}
	var multisig []byte
	if d.Miniscript != nil {
		ms, err := d.Miniscript.Script(KeyBytes(out.Keys))
		if err != nil {
			return nil, invalid(fmt.Errorf("building the miniscript at branch %d index %d: %w", branch, index, err))
		}
		multisig = ms
	} else {
		scriptKeys := pubs
		if d.Sorted {
			scriptKeys = sorted
		}
		multisig = multisigScript(d.Threshold, scriptKeys)
	}

	var addr btcutil.Address
	var err error
	switch d.Script {
	case ScriptSh:
		out.RedeemScript = multisig
		addr, err = btcutil.NewAddressScriptHashFromHash(btcutil.Hash160(multisig), net)
	case ScriptWsh:
		out.WitnessScript = multisig
		h := sha256.Sum256(multisig)
		addr, err = btcutil.NewAddressWitnessScriptHash(h[:], net)
	case ScriptShWsh:
		out.WitnessScript = multisig
		h := sha256.Sum256(multisig)
		out.RedeemScript = append([]byte{txscript.OP_0, txscript.OP_DATA_32}, h[:]...)
		addr, err = btcutil.NewAddressScriptHashFromHash(btcutil.Hash160(out.RedeemScript), net)
	default:
		return nil, invalid(fmt.Errorf("unknown script type %d", int(d.Script)))
	}
	if err != nil {
		return nil, invalid(fmt.Errorf("encoding the address for %s: %w", NetworkName(net), err))
	}
	out.Address = addr.EncodeAddress()
	out.ScriptPubKey = scriptPubKey(addr)
	return out, nil
}

// duplicateChildError names the two keys that derived the same public key.
func duplicateChildError(pubs [][]byte, branch, index uint32) error {
	for j := range pubs {
		for i := range j {
			if bytes.Equal(pubs[i], pubs[j]) {
				return invalidKey(j, fmt.Errorf("derives the same public key as key %d at branch %d index %d: each cosigner key may appear once", i+1, branch, index))
			}
		}
	}
	return invalid(errors.New("two keys derive the same public key"))
}

// scriptPubKey is the output script paying to a P2SH or P2WSH address.
func scriptPubKey(addr btcutil.Address) []byte {
	h := addr.ScriptAddress()
	if _, ok := addr.(*btcutil.AddressScriptHash); ok {
		s := make([]byte, 0, 23)
		s = append(s, txscript.OP_HASH160, txscript.OP_DATA_20)
		s = append(s, h...)
		return append(s, txscript.OP_EQUAL)
	}
	s := make([]byte, 0, 34)
	s = append(s, txscript.OP_0, txscript.OP_DATA_32)
	return append(s, h...)
}

// multisigScript is OP_m <key>... OP_n OP_CHECKMULTISIG (BIP-11). Keys are
// 33 or 65 bytes, below OP_PUSHDATA1, so each push is its length byte.
func multisigScript(m int, keys [][]byte) []byte {
	size := 3
	for _, k := range keys {
		size += 1 + len(k)
	}
	s := make([]byte, 0, size+2)
	s = appendNumber(s, m)
	for _, k := range keys {
		s = append(s, byte(len(k)))
		s = append(s, k...)
	}
	s = appendNumber(s, len(keys))
	return append(s, txscript.OP_CHECKMULTISIG)
}

// appendNumber pushes a count the way Bitcoin Core's CScript << int does:
// OP_1..OP_16, and above 16 a minimal one-byte script number (17..20 here).
func appendNumber(s []byte, v int) []byte {
	if v >= 1 && v <= 16 {
		return append(s, byte(txscript.OP_1-1+v))
	}
	return append(s, txscript.OP_DATA_1, byte(v))
}
