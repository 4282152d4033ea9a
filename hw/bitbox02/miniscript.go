package bitbox02

import (
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	bb "github.com/countersign/countersign/hw/bitbox02/bbproto"
)

// Miniscript wallets (wsh(MINISCRIPT), issue 18) go to the BitBox02 as a
// BIP-388 wallet policy, the same script config as a wsh(multi(...))
// wallet. Firmware 9.15.0 added wallet policies "of the form wsh(<miniscript
// expression>)" (CHANGELOG.md); the firmware parses the miniscript itself,
// sanity-checks it and derives the witness script at each address
// (src/rust/bitbox02-rust/src/hww/api/bitcoin/policies.rs, parse,
// validate, derive; BitBoxSwiss/bitbox02-firmware a3467ad1).

// policyMajor.policyMinor.policyPatch is the first firmware that holds
// wallet policies.
const (
	policyMajor = 9
	policyMinor = 15
	policyPatch = 0
)

// maxPolicyKeys is MAX_KEYS of policies.rs.
const maxPolicyKeys = 20

// newMiniscriptView describes a wsh(MINISCRIPT) wallet as a wallet policy.
// The firmware's checks (policies.rs parse and validate): Bitcoin or
// testnet only (check_enabled), at most 20 keys, each an xpub, every key
// used, one of them the device's, no duplicate xpubs, no hash fragments
// (its key translator fails on them), a sane miniscript (countersign's
// descriptor parser already refused an insane one).
func newMiniscriptView(w *hw.Wallet, d *descriptor.Descriptor, coin uint32, fp [4]byte) (*walletView, error) {
	if d.Script != descriptor.ScriptWsh {
		return nil, unsupported("a BitBox02 holds miniscript only as wsh(MINISCRIPT), not %s", d.Script)
	}
	var shownNet *chaincfg.Params
	switch coin {
	case bb.CoinBTC, bb.CoinTBTC:
	case bb.CoinRBTC:
		// The firmware takes policies for Bitcoin and testnet only
		// (policies.rs check_enabled). A regtest wallet has testnet's
		// keys (tpub, coin type 1') and the same scripts; only the
		// address's human-readable part differs. So it goes to the device
		// as testnet, which shows the tb1 form of each address, and the
		// driver turns the device's answer back into bcrt1 after checking
		// it is a P2WSH address.
		coin, shownNet = bb.CoinTBTC, &chaincfg.TestNet3Params
	default:
		return nil, unsupported("a BitBox02 holds miniscript wallets (wallet policies) on mainnet and testnet only, not on %s (firmware policies.rs check_enabled)", descriptor.NetworkName(w.Network))
	}
	text := d.Miniscript.String()
	for _, frag := range []string{"sha256(", "hash256(", "ripemd160(", "hash160("} {
		if strings.Contains(text, frag) {
			return nil, unsupported("a BitBox02 cannot hold a miniscript with hash locks (%s...): its wallet policies take key, multi, thresh and time-lock fragments only", strings.TrimSuffix(frag, "("))
		}
	}
	v := &walletView{d: d, net: w.Network, coin: coin, own: -1, shownNet: shownNet}
	for i, k := range d.Keys {
		if k.XPub == nil {
			return nil, unsupported("key #%d is a plain public key; a BitBox02 wallet policy needs an xpub for every key", i+1)
		}
		a, b, ok := twoBranches(k)
		if !ok {
			return nil, unsupported("key #%d is derived at %s; a BitBox02 derives a wallet's keys at <xpub>/<a;b>/* (unhardened)", i+1, keyPathString(k))
		}
		if k.Origin != nil && k.Origin.Fingerprint == fp {
			if v.own >= 0 {
				return nil, unsupported("the wallet holds this BitBox02's key twice (#%d and #%d); countersign lets the device sign for one key, once, per wallet", v.own+1, i+1)
			}
			if a != 0 || b != 1 {
				return nil, unsupported("this BitBox02's key #%d is derived at %s; countersign has the device sign at <xpub>/<0;1>/* only", i+1, keyPathString(k))
			}
			v.own = i
		}
	}
	// The policy's key list holds each xpub once: a cosigner written
	// twice with other derivations (a recovery path's /<2;3>/*, as
	// countersign writes a key that is in both paths) is one key with two
	// placeholders, @i/** and @i/<2;3>/* (BIP-388; policies.rs
	// validate_keys wants distinct xpubs and distinct derivations).
	tmpl, policyKeys, err := d.MiniscriptPolicy()
	if err != nil {
		return nil, unsupported("%v", err)
	}
	keys := make([]*bb.KeyOriginInfo, len(policyKeys))
	for i, k := range policyKeys {
		x, err := xpubMessage(k.XPub)
		if err != nil {
			return nil, fmt.Errorf("key #%d: %w", i+1, err)
		}
		keys[i] = &bb.KeyOriginInfo{Xpub: x}
		if k.Origin != nil {
			keys[i].RootFingerprint = append([]byte(nil), k.Origin.Fingerprint[:]...)
			keys[i].Keypath = append([]uint32(nil), k.Origin.Path...)
		}
	}
	if len(keys) > maxPolicyKeys {
		return nil, unsupported("a BitBox02 wallet policy holds at most %d keys; this wallet has %d", maxPolicyKeys, len(keys))
	}
	if v.own < 0 {
		return nil, fmt.Errorf("%w: none of the wallet's keys has this BitBox02's fingerprint %x (wrong device, or another passphrase?)", hw.ErrMismatch, fp)
	}
	v.account = append([]uint32(nil), d.Keys[v.own].Origin.Path...)
	if len(v.account) == 0 {
		return nil, unsupported("the device's key is the master key itself; a BitBox02 signs only below an account path such as m/48'/0'/0'/2'")
	}
	if d.Keys[v.own].XPub.Depth() != uint8(len(v.account)) {
		return nil, fmt.Errorf("the device's key has depth %d but its origin path %s has %d steps", d.Keys[v.own].XPub.Depth(), descriptor.Path(v.account), len(v.account))
	}
	v.cfg = &bb.ScriptConfig{Policy: &bb.Policy{Policy: tmpl, Keys: keys}}
	return v, nil
}

// checkPolicyVersion refuses a wallet policy on firmware older than
// 9.15.0, which has no policies (its script configs are single-sig and
// Multisig only).
func checkPolicyVersion(running string, v *walletView) error {
	if v.cfg.Policy == nil {
		return nil
	}
	got, ok := parseVersion(running)
	if ok && !versionBefore(got, hw.Version{policyMajor, policyMinor, policyPatch}) {
		return nil
	}
	what := "a wsh(multi(...)) wallet (keys in their written order)"
	if v.d.IsMiniscript() {
		what = "a miniscript wallet"
	}
	return unsupported("the BitBox02 runs firmware %q; it holds %s as a wallet policy from firmware 9.15.0 on: update the firmware with the BitBoxApp", running, what)
}

// parseVersion reads "v9.21.0" (the info reply's version).
func parseVersion(s string) (hw.Version, bool) {
	v, err := hw.ParseVersion(strings.TrimPrefix(s, "v"))
	return v, err == nil
}

// versionBefore reports whether firmware a is older than b.
func versionBefore(a, b hw.Version) bool { return a.Less(b) }

// reencode writes a P2WSH address of network from for network to.
func reencode(addr string, from, to *chaincfg.Params) (string, error) {
	a, err := btcutil.DecodeAddress(addr, from)
	if err != nil {
		return "", err
	}
	wsh, ok := a.(*btcutil.AddressWitnessScriptHash)
	if !ok || !a.IsForNet(from) {
		return "", errors.New("not a P2WSH address of " + from.Name)
	}
	out, err := btcutil.NewAddressWitnessScriptHash(wsh.WitnessProgram(), to)
	if err != nil {
		return "", err
	}
	return out.EncodeAddress(), nil
}

// twoBranches returns a and b of a key derived at <xpub>/<a;b>/*, both
// unhardened and distinct (policies.rs parse_wallet_policy_pk).
func twoBranches(k descriptor.Key) (a, b uint32, ok bool) {
	if !k.Wildcard || k.HardenedWildcard || len(k.Path) != 1 {
		return 0, 0, false
	}
	m := k.Path[0].Multi
	if len(m) != 2 || m[0] == m[1] || m[0] >= hdkeychain.HardenedKeyStart || m[1] >= hdkeychain.HardenedKeyStart {
		return 0, 0, false
	}
	return m[0], m[1], true
}
