package descriptor

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// maxScriptElementSize is the consensus limit on one stack element, which
// the P2SH redeem script is when it is pushed in the scriptSig.
const maxScriptElementSize = 520

var errNoKeyMaterial = errors.New("has neither an extended key nor a public key")

// validate enforces the rules that make a descriptor a usable wallet. fams
// holds each key's network family as parsed (WIF keys carry one too); nil
// derives it from the keys.
func validate(d *Descriptor, fams []family) error {
	if d == nil {
		return invalid(errors.New("no descriptor"))
	}
	switch d.Script {
	case ScriptSh, ScriptShWsh, ScriptWsh:
		if d.Tap != nil {
			return invalid(fmt.Errorf("%s descriptor with a taproot structure", d.Script))
		}
	case ScriptTr:
		return validateTr(d, fams)
	default:
		return invalid(fmt.Errorf("unknown script type %d: use sh, sh-wsh or wsh", int(d.Script)))
	}
	n, m := len(d.Keys), d.Threshold
	if n == 0 {
		return invalid(errors.New("multisig has no keys"))
	}
	for i := range d.Keys {
		k := &d.Keys[i]
		if (k.XPub == nil) == (k.PubKey == nil) {
			if k.XPub == nil {
				return invalidKey(i, errNoKeyMaterial)
			}
			return invalidKey(i, errors.New("has both an extended key and a public key; set one"))
		}
		if k.Uncompressed && d.Script.segwit() {
			return invalidKey(i, fmt.Errorf("uncompressed public key under %s: segwit allows only compressed keys (33 bytes, 02/03 prefix)", d.Script))
		}
	}
	if d.Miniscript != nil {
		// The miniscript's own checks (type, sanity, resource limits)
		// replace the multisig's key count and threshold rules.
		if d.Script != ScriptWsh {
			return invalid(fmt.Errorf("miniscript under %s: countersign accepts miniscript only directly inside wsh()", d.Script))
		}
		if err := checkMiniscriptKeys(d); err != nil {
			return err
		}
	} else {
		if err := checkKeyCount(d.Script, n); err != nil {
			return err
		}
		if m < 1 {
			return invalid(fmt.Errorf("threshold %d: at least 1 signature must be required", m))
		}
		if m > n {
			return invalid(fmt.Errorf("threshold %d is more than the %d keys: a %d-of-%d multisig could never be spent", m, n, m, n))
		}
	}
	if d.Script == ScriptSh {
		if size := redeemScriptSize(d); size > maxScriptElementSize {
			return invalid(fmt.Errorf("sh redeem script would be %d bytes, more than the %d-byte limit: use fewer keys, compressed keys, or wsh", size, maxScriptElementSize))
		}
	}
	if err := checkNetworks(d, fams); err != nil {
		return err
	}
	if err := checkMultipath(d); err != nil {
		return err
	}
	return checkDuplicates(d)
}

// checkKeyCount enforces the per-script key limit.
func checkKeyCount(script ScriptType, n int) error {
	limit := script.maxKeys()
	if n <= limit {
		return nil
	}
	hint := ""
	if script == ScriptSh {
		hint = "; use wsh or sh-wsh for up to 20 keys"
	}
	return invalid(fmt.Errorf("%d keys is more than %s allows (at most %d)%s", n, script, limit, hint))
}

// redeemScriptSize is the length of the multisig script: OP_m, one push per
// key, OP_n, OP_CHECKMULTISIG (n <= 15 here, so m and n are one byte each).
func redeemScriptSize(d *Descriptor) int {
	size := 3
	for i := range d.Keys {
		size++
		if d.Keys[i].Uncompressed {
			size += 65
		} else {
			size += 33
		}
	}
	return size
}

// checkNetworks refuses a wallet that mixes mainnet and test-network keys.
func checkNetworks(d *Descriptor, fams []family) error {
	first := -1
	var firstFam family
	for i := range d.Keys {
		f := keyFamily(&d.Keys[i])
		if fams != nil {
			f = fams[i]
		}
		if f == familyAny {
			continue
		}
		if first < 0 {
			first, firstFam = i, f
			continue
		}
		if f != firstFam {
			return invalidKey(i, fmt.Errorf("is a %s key (%s) but key %d is a %s key (%s): all keys of a wallet must be for the same network",
				f, prefixName(f), first+1, firstFam, prefixName(firstFam)))
		}
	}
	return nil
}

// checkMultipath enforces BIP-389's lockstep rule: every multipath step in
// the descriptor has the same number of alternatives.
func checkMultipath(d *Descriptor) error {
	first, want := -1, 0
	for i := range d.Keys {
		k := &d.Keys[i]
		count := 0
		for _, e := range k.Path {
			if e.Multi == nil {
				continue
			}
			if count++; count > 1 {
				return invalidKey(i, errors.New("has more than one multipath step <a;b>: BIP-389 allows one per key"))
			}
			if len(e.Multi) < 2 {
				return invalidKey(i, errors.New("multipath step has fewer than two alternatives"))
			}
			if first < 0 {
				first, want = i, len(e.Multi)
			} else if len(e.Multi) != want {
				return invalidKey(i, fmt.Errorf("has %d multipath alternatives but key %d has %d: BIP-389 requires every <a;b> step of a descriptor to have the same number",
					len(e.Multi), first+1, want))
			}
		}
	}
	return nil
}

// checkDuplicates refuses a key listed twice: a repeated key lets one
// cosigner sign twice. Plain keys compare by point (compressed or not), and
// extended keys by key, chain code and path, ignoring origin and version.
func checkDuplicates(d *Descriptor) error {
	seen := make(map[string]int, len(d.Keys))
	for i := range d.Keys {
		id, err := keyIdentity(&d.Keys[i])
		if err != nil {
			return invalidKey(i, err)
		}
		if j, ok := seen[id]; ok {
			return invalidKey(i, fmt.Errorf("duplicates key %d: each cosigner key may appear once (a repeated key lets one cosigner sign twice)", j+1))
		}
		seen[id] = i
	}
	return nil
}

func keyIdentity(k *Key) (string, error) {
	if k.XPub == nil {
		return "pub:" + hex.EncodeToString(k.PubKey.SerializeCompressed()), nil
	}
	pk, err := k.XPub.ECPubKey()
	if err != nil {
		return "", fmt.Errorf("extended key holds an invalid public key: %w", err)
	}
	pub := hex.EncodeToString(pk.SerializeCompressed())
	if len(k.Path) == 0 && !k.Wildcard {
		// An underived xpub is just its public key.
		return "pub:" + pub, nil
	}
	var b strings.Builder
	b.WriteString("xpub:" + pub + ":" + hex.EncodeToString(k.XPub.ChainCode()))
	formatPath(&b, k)
	return b.String(), nil
}
