package descriptor

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/countersign/countersign/descriptor/miniscript"
)

// This file wires descriptor/miniscript into wsh(MINISCRIPT) descriptors
// (BIP-382 wsh() with a BIP-379 miniscript inside). The miniscript package
// knows keys only as opaque expressions; here each key expression is parsed
// as a descriptor Key (origins, xpubs, BIP-389 multipath) and stored in
// d.Keys, and the miniscript refers to it by position, so the cache, the
// network and duplicate checks and Derive treat a miniscript wallet's keys
// exactly as a multisig's.

// msKey is a miniscript key: the position of the key in Descriptor.Keys and
// its canonical expression, which String prints (so the miniscript's text
// is the canonical descriptor text).
type msKey struct {
	idx  int
	expr string
}

func (k msKey) String() string { return k.expr }

// IsMiniscript reports whether d is wsh(MINISCRIPT) rather than a plain
// multisig.
func (d *Descriptor) IsMiniscript() bool { return d != nil && d.Miniscript != nil }

// KeyIndex returns the position in d.Keys of a key of d's miniscript (as
// found in miniscript.Path.Keys), or -1 for a key that is not d's.
func (d *Descriptor) KeyIndex(k miniscript.Key) int {
	mk, ok := k.(msKey)
	if !ok || mk.idx < 0 || mk.idx >= len(d.Keys) {
		return -1
	}
	return mk.idx
}

// KeyBytes returns the miniscript.KeyBytes for d's miniscript at one
// position, given the derived keys in descriptor order (Derived.Keys).
func KeyBytes(keys []DerivedKey) miniscript.KeyBytes {
	return func(k miniscript.Key) ([]byte, error) {
		mk, ok := k.(msKey)
		if !ok || mk.idx < 0 || mk.idx >= len(keys) {
			return nil, fmt.Errorf("key %s is not one of this descriptor's keys", k)
		}
		return keys[mk.idx].PubKey, nil
	}
}

// parseMiniscript parses the miniscript inside wsh(). Each key expression is
// parsed by parseKey; a key written twice is refused by the sanity check
// (and by checkDuplicates, which also sees keys equal under another
// spelling).
func parseMiniscript(inner string) (*Descriptor, []family, error) {
	d := &Descriptor{Script: ScriptWsh}
	var fams []family
	var keyErr error
	parse := func(expr string) (miniscript.Key, error) {
		if strings.ContainsAny(expr, "()") {
			keyErr = invalidKey(len(d.Keys), errors.New("is a script expression, not a key"))
			return nil, keyErr
		}
		k, f, err := parseKey(expr)
		if err != nil {
			keyErr = invalidKey(len(d.Keys), err)
			return nil, keyErr
		}
		if k.Uncompressed {
			keyErr = invalidKey(len(d.Keys), errors.New("uncompressed public key under wsh: segwit allows only compressed keys (33 bytes, 02/03 prefix)"))
			return nil, keyErr
		}
		d.Keys = append(d.Keys, k)
		fams = append(fams, f)
		return msKey{idx: len(d.Keys) - 1, expr: k.String()}, nil
	}
	node, err := miniscript.Parse(inner, miniscript.P2WSH, parse)
	if err != nil {
		if keyErr != nil {
			return nil, nil, keyErr
		}
		return nil, nil, invalid(fmt.Errorf("wsh() holds neither multi()/sortedmulti() nor a valid miniscript: %w", err))
	}
	if err := checkSane(node); err != nil {
		return nil, nil, err
	}
	d.Miniscript = node
	return d, fams, nil
}

// checkSane refuses a miniscript that is valid but unsafe as a wallet's
// spending policy, saying which rule it breaks and what to do, as Bitcoin
// Core does for descriptors.
func checkSane(n *miniscript.Node) error {
	err := n.IsSane()
	if err == nil {
		return nil
	}
	var hint string
	switch {
	case errors.Is(err, miniscript.ErrMalleable):
		hint = "a third party could change the witness of a spend (malleable); rewrite the branch, e.g. give every path a signature check"
	case errors.Is(err, miniscript.ErrNoSignature):
		hint = "some spending path needs no signature, so anyone could spend once its locks open; add a key to that path"
	case errors.Is(err, miniscript.ErrTimelockMix):
		hint = "a spending path mixes a block-height lock with a time lock of the same kind, which no transaction can satisfy; use heights or times, not both"
	case errors.Is(err, miniscript.ErrResourceLimit):
		hint = "a spend would exceed a consensus or standardness limit; use fewer keys or branches"
	case errors.Is(err, miniscript.ErrDuplicateKey):
		hint = "a key is written more than once; each key may appear once"
	default:
		hint = "it cannot be used as a wallet's spending policy"
	}
	return invalid(fmt.Errorf("miniscript is not safe for a wallet: %s (%w)", hint, err))
}

// rebindMiniscript re-creates d's miniscript over d.Keys after the keys
// were changed (Multipath, Single): the node's keys print their old
// expressions, so the tree is parsed again with each key's new text.
func (d *Descriptor) rebindMiniscript(old *miniscript.Node) error {
	byExpr := make(map[string]int, len(d.Keys))
	for _, k := range old.AllKeys() {
		mk, ok := k.(msKey)
		if !ok {
			return errors.New("miniscript holds a key that is not the descriptor's")
		}
		byExpr[mk.expr] = mk.idx
	}
	parse := func(expr string) (miniscript.Key, error) {
		i, ok := byExpr[expr]
		if !ok || i >= len(d.Keys) {
			return nil, fmt.Errorf("unknown key %s", shorten(expr))
		}
		return msKey{idx: i, expr: d.Keys[i].String()}, nil
	}
	n, err := miniscript.Parse(old.String(), miniscript.P2WSH, parse)
	if err != nil {
		return err
	}
	d.Miniscript = n
	return nil
}

// primaryThreshold is the number of signatures the cheapest spending path
// without a time lock needs, or 0 when every path is locked. It fills
// Threshold for a miniscript descriptor so that code counting a wallet's
// required signatures sees the everyday (primary) path. It asks the
// satisfier (linear in the script) rather than listing every path, which
// a large multi() inside the miniscript makes too many to list.
func primaryThreshold(d *Descriptor) (int, error) {
	used, err := cheapestSignatures(d, miniscript.LockState{Sequence: 0xffffffff})
	if errors.Is(err, miniscript.ErrCannotSatisfy) {
		return 0, nil
	}
	if err != nil {
		return 0, invalid(fmt.Errorf("finding the miniscript's primary path: %w", err))
	}
	return len(used), nil
}

// cheapestSignatures returns the positions of the keys whose signatures
// the non-malleable satisfier uses when every key can sign and the
// transaction has the locks given: the cheapest path those locks open.
func cheapestSignatures(d *Descriptor, locks miniscript.LockState) ([]int, error) {
	kb := placeholderKeys(d)
	sigs := map[string][]byte{}
	bySig := map[string]int{}
	for i := range d.Keys {
		// A made-up 72-byte "signature" per key, told apart by its index:
		// the satisfier does not verify, it only places them.
		sig := make([]byte, 72)
		sig[0], sig[1], sig[2], sig[71] = 0x30, byte(i>>8), byte(i), 0x01
		sigs[hex.EncodeToString(placeholderPub(i))] = sig
		bySig[string(sig)] = i
	}
	stack, err := d.Miniscript.Satisfy(&miniscript.Satisfier{Keys: kb, Signatures: sigs, Locks: locks})
	if err != nil {
		return nil, err
	}
	var used []int
	for _, item := range stack {
		if i, ok := bySig[string(item)]; ok {
			used = append(used, i)
		}
	}
	slices.Sort(used)
	return used, nil
}

// placeholderKeys gives every key a distinct valid public key (the
// generator's multiples) so that the spending paths can be listed before
// any address is derived: what a path needs does not depend on the keys'
// values.
func placeholderKeys(d *Descriptor) miniscript.KeyBytes {
	return func(k miniscript.Key) ([]byte, error) {
		mk, ok := k.(msKey)
		if !ok || mk.idx < 0 || mk.idx >= len(d.Keys) {
			return nil, fmt.Errorf("key %s is not one of this descriptor's keys", k)
		}
		return placeholderPub(mk.idx), nil
	}
}

// placeholderPub is (i+1)·G, compressed.
func placeholderPub(i int) []byte {
	var sk [32]byte
	v := uint32(i + 1)
	sk[28], sk[29], sk[30], sk[31] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	priv, _ := btcec.PrivKeyFromBytes(sk[:])
	return priv.PubKey().SerializeCompressed()
}

// checkMiniscriptKeys checks that the miniscript's keys are exactly
// d.Keys, each used once, so a hand-built Descriptor cannot point past its
// keys or leave one unused.
func checkMiniscriptKeys(d *Descriptor) error {
	used := make([]bool, len(d.Keys))
	for _, k := range d.Miniscript.AllKeys() {
		mk, ok := k.(msKey)
		if !ok || mk.idx < 0 || mk.idx >= len(d.Keys) {
			return invalid(fmt.Errorf("miniscript key %s is not one of the descriptor's keys", shorten(k.String())))
		}
		if used[mk.idx] {
			return invalidKey(mk.idx, errors.New("appears more than once in the miniscript: each key may appear once"))
		}
		used[mk.idx] = true
	}
	for i, u := range used {
		if !u {
			return invalidKey(i, errors.New("is not used by the miniscript"))
		}
	}
	return nil
}
