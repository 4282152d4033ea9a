package bitbox02

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	bb "github.com/countersign/countersign/hw/bitbox02/bbproto"
)

// maxSigners is MAX_SIGNERS of the firmware (bitcoin/multisig.rs).
const maxSigners = 15

// walletView is a wallet as the BitBox02 sees it: a script config (a
// Multisig for sortedmulti, a wallet policy for multi), the coin, and which
// key is the device's.
type walletView struct {
	d       *descriptor.Descriptor // multipath form
	net     *chaincfg.Params
	coin    uint32
	cfg     *bb.ScriptConfig
	own     int      // index of the device's key in d.Keys
	account []uint32 // the device's account keypath (its key's origin path)
	// shownNet is the network the device encodes addresses for when it is
	// not the wallet's (a regtest wallet policy goes as testnet), or nil.
	shownNet *chaincfg.Params
}

// coinFor is the BitBox02 coin of a network: signet shares testnet's.
func coinFor(net *chaincfg.Params) (uint32, error) {
	if net == nil {
		return 0, errors.New("no network given")
	}
	switch net.Name {
	case chaincfg.MainNetParams.Name:
		return bb.CoinBTC, nil
	case chaincfg.TestNet3Params.Name, chaincfg.SigNetParams.Name:
		return bb.CoinTBTC, nil
	case chaincfg.RegressionNetParams.Name:
		return bb.CoinRBTC, nil
	}
	if strings.HasPrefix(net.Name, "testnet") {
		return bb.CoinTBTC, nil
	}
	return 0, fmt.Errorf("a BitBox02 has no coin for network %s", net.Name)
}

// unsupported wraps an explanation in hw.ErrUnsupported.
func unsupported(format string, args ...any) error {
	return &hw.Error{Kind: hw.ErrUnsupported, Err: fmt.Errorf(format, args...)}
}

// newWalletView checks that the device can hold the wallet, with fp the
// device's master fingerprint. The firmware's rules
// (bitcoin/multisig.rs validate, keypath.rs, policies.rs): 2 to 15 keys,
// p2wsh or p2wsh-p2sh, every key an xpub derived at /<0;1>/*, exactly one
// key of this device, account-level xpubs.
func newWalletView(w *hw.Wallet, fp [4]byte) (*walletView, error) {
	if w == nil || w.Descriptor == nil {
		return nil, errors.New("no wallet descriptor given")
	}
	coin, err := coinFor(w.Network)
	if err != nil {
		return nil, unsupported("%v", err)
	}
	if err := w.Descriptor.CheckNetwork(w.Network); err != nil {
		return nil, err
	}
	d := w.Descriptor.Multipath()
	if d.IsMiniscript() {
		return newMiniscriptView(w, d, coin, fp)
	}
	var scriptType uint32
	switch d.Script {
	case descriptor.ScriptWsh:
		scriptType = bb.MultisigP2WSH
	case descriptor.ScriptShWsh:
		scriptType = bb.MultisigP2WSHP2SH
	case descriptor.ScriptSh:
		return nil, unsupported("the BitBox02 cannot use legacy P2SH (sh) multisig wallets: its multisig supports only wsh (p2wsh) and sh-wsh (p2wsh-p2sh); move the funds to a wsh or sh-wsh wallet to use a BitBox02")
	default:
		return nil, unsupported("script type %s is not one a BitBox02 signs", d.Script)
	}
	n := len(d.Keys)
	if n < 2 || n > maxSigners {
		return nil, unsupported("a BitBox02 handles multisig wallets of 2 to %d keys; this one has %d", maxSigners, n)
	}
	if d.Threshold < 1 || d.Threshold > n {
		return nil, fmt.Errorf("threshold %d of %d keys", d.Threshold, n)
	}
	v := &walletView{d: d, net: w.Network, coin: coin, own: -1}
	xpubs := make([]*bb.XPub, n)
	for i, k := range d.Keys {
		if k.XPub == nil {
			return nil, unsupported("key #%d is a plain public key; a BitBox02 needs an xpub for every cosigner", i+1)
		}
		if !derivesChangeIndex(k) {
			return nil, unsupported("key #%d is derived at %s; a BitBox02 derives every cosigner's addresses at <xpub>/<0;1>/*", i+1, keyPathString(k))
		}
		x, err := xpubMessage(k.XPub)
		if err != nil {
			return nil, fmt.Errorf("key #%d: %w", i+1, err)
		}
		xpubs[i] = x
		if k.Origin != nil && k.Origin.Fingerprint == fp {
			if v.own >= 0 {
				return nil, unsupported("the wallet holds two keys of this BitBox02 (#%d and #%d); the device signs for one key per wallet", v.own+1, i+1)
			}
			v.own = i
		}
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
	if d.Sorted {
		v.cfg = &bb.ScriptConfig{Multisig: &bb.Multisig{
			Threshold: uint32(d.Threshold), Xpubs: xpubs, OurXpubIndex: uint32(v.own), ScriptType: scriptType,
		}}
		return v, nil
	}
	// multi(...) keeps the keys in their order, which a Multisig config
	// cannot say (it sorts): only a wallet policy can, and the firmware
	// takes policies for wsh on Bitcoin and testnet (policies.rs,
	// check_enabled and parse).
	if d.Script != descriptor.ScriptWsh || (coin != bb.CoinBTC && coin != bb.CoinTBTC) {
		return nil, unsupported("a BitBox02 keeps the key order of multi(...) only in a wallet policy, which it accepts for wsh on mainnet and testnet; this %s wallet on %s needs sortedmulti", d.Script, descriptor.NetworkName(w.Network))
	}
	var pol strings.Builder
	fmt.Fprintf(&pol, "wsh(multi(%d", d.Threshold)
	keys := make([]*bb.KeyOriginInfo, n)
	for i, k := range d.Keys {
		fmt.Fprintf(&pol, ",@%d/**", i)
		ki := &bb.KeyOriginInfo{Xpub: xpubs[i]}
		if k.Origin != nil {
			ki.RootFingerprint = append([]byte(nil), k.Origin.Fingerprint[:]...)
			ki.Keypath = append([]uint32(nil), k.Origin.Path...)
		}
		keys[i] = ki
	}
	pol.WriteString("))")
	v.cfg = &bb.ScriptConfig{Policy: &bb.Policy{Policy: pol.String(), Keys: keys}}
	return v, nil
}

// registration is the wallet as registered: the account keypath matters
// for a Multisig config and is unused for a policy.
func (v *walletView) registration() *bb.Registration {
	r := &bb.Registration{Coin: v.coin, Script: v.cfg}
	if v.cfg.Multisig != nil {
		r.Keypath = v.account
	}
	return r
}

// derivesChangeIndex reports whether k's path after the xpub is
// /<0;1>/*: the only shape the device derives.
func derivesChangeIndex(k descriptor.Key) bool {
	if !k.Wildcard || k.HardenedWildcard || len(k.Path) != 1 {
		return false
	}
	m := k.Path[0].Multi
	return len(m) == 2 && m[0] == 0 && m[1] == 1
}

func keyPathString(k descriptor.Key) string {
	s := k.String()
	if i := strings.LastIndexAny(s, "]"); i >= 0 {
		s = s[i+1:]
	}
	if j := strings.IndexByte(s, '/'); j >= 0 {
		return "<xpub>" + s[j:]
	}
	return "<xpub>"
}

// xpubMessage describes an extended key in the device's parts.
func xpubMessage(k *hdkeychain.ExtendedKey) (*bb.XPub, error) {
	pub, err := k.ECPubKey()
	if err != nil {
		return nil, err
	}
	x := &bb.XPub{
		Depth:     k.Depth(),
		ChildNum:  k.ChildIndex(),
		ChainCode: append([]byte(nil), k.ChainCode()...),
		PublicKey: pub.SerializeCompressed(),
	}
	binary.BigEndian.PutUint32(x.ParentFingerprint[:], k.ParentFingerprint())
	return x, nil
}

// position finds the (branch, index) at which the device's key has full
// path path: the account path, then 0 or 1, then the index.
func (v *walletView) position(path []uint32) (branch, index uint32, ok bool) {
	if len(path) != len(v.account)+2 {
		return 0, 0, false
	}
	for i, e := range v.account {
		if path[i] != e {
			return 0, 0, false
		}
	}
	branch, index = path[len(path)-2], path[len(path)-1]
	if branch > 1 || index >= hdkeychain.HardenedKeyStart {
		return 0, 0, false
	}
	return branch, index, true
}
