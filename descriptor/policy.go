package descriptor

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/countersign/countersign/descriptor/miniscript"
)

// BIP-388 wallet policies (what the Ledger Bitcoin app and the BitBox02
// register): a descriptor template with key placeholders, @i/** for a key
// ending in /<0;1>/* and @i/<a;b>/* for another pair of steps, and the
// list of distinct keys the placeholders number, each an xpub with its
// origin and no steps.

// placeholderKey is a key placeholder inside a template; it prints as
// written.
type placeholderKey string

func (k placeholderKey) String() string { return string(k) }

// MiniscriptPolicy writes a wsh(MINISCRIPT) wallet as a BIP-388 wallet
// policy: the template (wsh(...) with each key expression replaced by its
// placeholder) and the keys, numbered in the order they are first written
// (BIP-388). A cosigner written twice with other steps (a recovery
// path's /<2;3>/*) is one key with two placeholders. Refused (ErrInvalid):
// a plain public key, a key that does not end in /<a;b>/* with two
// distinct unhardened steps, and a key used twice with a step in common
// (BIP-388's disjoint derivations). Devices add their own limits.
func (d *Descriptor) MiniscriptPolicy() (template string, keys []Key, err error) {
	if d == nil || !d.IsMiniscript() || d.Script != ScriptWsh {
		return "", nil, invalid(errors.New("a miniscript wallet policy is written for wsh(MINISCRIPT) wallets only"))
	}
	index := map[string]int{}      // the key without its steps -> position in keys
	steps := map[int][][2]uint32{} // position -> the step pairs it is used with
	var keyErr error
	node, err := miniscript.Parse(d.Miniscript.String(), miniscript.P2WSH, func(expr string) (miniscript.Key, error) {
		k, err := ParseKey(expr)
		if err == nil {
			var ph string
			if ph, err = policyPlaceholder(k, index, steps, &keys); err == nil {
				return placeholderKey(ph), nil
			}
		}
		keyErr = fmt.Errorf("key %d of the wallet: %w", len(keys)+1, err)
		return nil, keyErr
	})
	if keyErr != nil {
		return "", nil, invalid(keyErr)
	}
	if err != nil {
		return "", nil, invalid(fmt.Errorf("writing the miniscript as a wallet policy: %w", err))
	}
	return "wsh(" + node.String() + ")", keys, nil
}

// policyPlaceholder returns k's placeholder, adding k (without its
// steps) to keys on first use.
func policyPlaceholder(k Key, index map[string]int, steps map[int][][2]uint32, keys *[]Key) (string, error) {
	if k.XPub == nil {
		return "", fmt.Errorf("%s is a plain public key; a wallet policy needs an extended key (xpub/tpub)", k)
	}
	if len(k.Path) != 1 || len(k.Path[0].Multi) != 2 || !k.Wildcard || k.HardenedWildcard {
		return "", fmt.Errorf("%s does not end in /<a;b>/*: a wallet policy takes keys with a receive and a change step", k)
	}
	a, b := k.Path[0].Multi[0], k.Path[0].Multi[1]
	if a >= HardenedKeyStart || b >= HardenedKeyStart || a == b {
		return "", fmt.Errorf("%s: a wallet policy's receive and change steps are two distinct unhardened steps", k)
	}
	bare := k.clone()
	bare.Path, bare.Wildcard, bare.HardenedWildcard = nil, false, false
	id := bare.String()
	i, ok := index[id]
	if !ok {
		i = len(*keys)
		index[id] = i
		*keys = append(*keys, bare)
	}
	for _, s := range steps[i] {
		if s[0] == a || s[0] == b || s[1] == a || s[1] == b {
			return "", fmt.Errorf("%s is used twice with a step in common; a wallet policy may use a key once per pair of steps (BIP-388)", k)
		}
	}
	steps[i] = append(steps[i], [2]uint32{a, b})
	if a == 0 && b == 1 {
		return "@" + strconv.Itoa(i) + "/**", nil
	}
	return fmt.Sprintf("@%d/<%d;%d>/*", i, a, b), nil
}
