package trezor

import (
	"bytes"
	"errors"
	"fmt"
	"sort"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	tp "github.com/countersign/countersign/hw/trezor/trezorproto"
)

// maxMultisigKeys is the firmware's limit on n.
const maxMultisigKeys = 15

// coinName is the Trezor coin of a network: signet shares Testnet's
// addresses and keys.
func coinName(net *chaincfg.Params) (string, error) {
	if net == nil {
		return "", errors.New("no network given")
	}
	switch net.Name {
	case chaincfg.MainNetParams.Name:
		return "Bitcoin", nil
	case chaincfg.TestNet3Params.Name, chaincfg.SigNetParams.Name:
		return "Testnet", nil
	case chaincfg.RegressionNetParams.Name:
		return "Regtest", nil
	}
	return "", fmt.Errorf("a Trezor has no coin for network %s", net.Name)
}

// walletView is a descriptor as a Trezor sees it: script types, each
// cosigner's xpub node, and derived positions.
type walletView struct {
	d        *descriptor.Descriptor
	net      *chaincfg.Params
	coin     string
	inType   uint32 // InputScriptType
	outType  uint32 // OutputScriptType of change
	nodes    []tp.HDNodeType
	prefixes []int // per key: length of its origin path
	cache    map[[2]uint32]*descriptor.Derived
}

func newWalletView(d *descriptor.Descriptor, net *chaincfg.Params) (*walletView, error) {
	if d == nil {
		return nil, errors.New("no wallet descriptor given")
	}
	coin, err := coinName(net)
	if err != nil {
		return nil, err
	}
	if err := d.CheckNetwork(net); err != nil {
		return nil, err
	}
	w := &walletView{d: d, net: net, coin: coin, cache: map[[2]uint32]*descriptor.Derived{}}
	switch d.Script {
	case descriptor.ScriptSh:
		w.inType, w.outType = tp.SpendMultisig, tp.PayToMultisig
	case descriptor.ScriptShWsh:
		w.inType, w.outType = tp.SpendP2SHWitness, tp.PayToP2SHWitness
	case descriptor.ScriptWsh:
		w.inType, w.outType = tp.SpendWitness, tp.PayToWitness
	case descriptor.ScriptTr:
		return nil, errors.New(TaprootLimit)
	default:
		return nil, fmt.Errorf("script type %v is not one a Trezor signs", d.Script)
	}
	if len(d.Keys) > maxMultisigKeys {
		return nil, fmt.Errorf("a Trezor handles multisig wallets of at most %d keys; this one has %d", maxMultisigKeys, len(d.Keys))
	}
	for i, k := range d.Keys {
		prefix := 0
		if k.Origin != nil {
			prefix = len(k.Origin.Path)
		}
		w.prefixes = append(w.prefixes, prefix)
		switch {
		case k.XPub != nil:
			pub, err := k.XPub.ECPubKey()
			if err != nil {
				return nil, fmt.Errorf("key #%d: %w", i+1, err)
			}
			w.nodes = append(w.nodes, tp.HDNodeType{
				Depth: uint32(k.XPub.Depth()), Fingerprint: k.XPub.ParentFingerprint(), ChildNum: k.XPub.ChildIndex(),
				ChainCode: k.XPub.ChainCode(), PublicKey: pub.SerializeCompressed(),
			})
		case k.PubKey != nil && !k.Uncompressed:
			// A plain key: a node of its own with no path below it, as
			// trezorlib and HWI describe one.
			w.nodes = append(w.nodes, tp.HDNodeType{ChainCode: make([]byte, 32), PublicKey: k.PubKey.SerializeCompressed()})
		default:
			return nil, fmt.Errorf("key #%d is an uncompressed public key, which a Trezor cannot describe", i+1)
		}
	}
	return w, nil
}

// derive is the descriptor's derivation at (branch, index), cached.
func (w *walletView) derive(branch, index uint32) (*descriptor.Derived, error) {
	pos := [2]uint32{branch, index}
	if d, ok := w.cache[pos]; ok {
		return d, nil
	}
	d, err := w.d.Derive(branch, index, w.net)
	if err != nil {
		return nil, err
	}
	w.cache[pos] = d
	return d, nil
}

// multisig describes the script at a derived position: each key's node and
// its path below the node, in script order. For sortedmulti the keys are
// sorted here (BIP-67) and pubkeys_order says LEXICOGRAPHIC, so firmware
// with and without that field builds the same script.
func (w *walletView) multisig(der *descriptor.Derived) (*tp.MultisigRedeemScriptType, error) {
	if len(der.Keys) != len(w.nodes) {
		return nil, errors.New("derived keys do not match the descriptor")
	}
	type entry struct {
		pub []byte
		p   tp.HDNodePathType
	}
	entries := make([]entry, len(der.Keys))
	for i, k := range der.Keys {
		if len(k.Path) < w.prefixes[i] {
			return nil, fmt.Errorf("key #%d: derived path shorter than its origin", i+1)
		}
		rel := append([]uint32(nil), k.Path[w.prefixes[i]:]...)
		if w.d.Keys[i].XPub == nil {
			rel = nil
		}
		entries[i] = entry{pub: k.PubKey, p: tp.HDNodePathType{Node: w.nodes[i], AddressN: rel}}
	}
	ms := &tp.MultisigRedeemScriptType{M: uint32(w.d.Threshold)}
	if w.d.Sorted {
		sort.SliceStable(entries, func(i, j int) bool { return bytes.Compare(entries[i].pub, entries[j].pub) < 0 })
		ms.PubkeysOrder = tp.U32(tp.PubkeysOrderLexicographic)
	}
	for _, e := range entries {
		ms.Pubkeys = append(ms.Pubkeys, e.p)
		ms.Signatures = append(ms.Signatures, []byte{})
	}
	return ms, nil
}

// locate finds the (branch, index) at which key k of the descriptor has the
// full path path, or false.
func (w *walletView) locate(k int, path []uint32) (branch, index uint32, ok bool) {
	key := &w.d.Keys[k]
	if key.XPub == nil {
		return 0, 0, false
	}
	pre := w.prefixes[k]
	if key.Origin != nil {
		if len(path) < pre || !equalPath(path[:pre], key.Origin.Path) {
			return 0, 0, false
		}
	}
	rest := path[pre:]
	want := len(key.Path)
	if key.Wildcard {
		want++
	}
	if len(rest) != want {
		return 0, 0, false
	}
	branch = 0
	multi := false
	for j, e := range key.Path {
		if e.Multi == nil {
			if rest[j] != e.Index {
				return 0, 0, false
			}
			continue
		}
		found := false
		for b, v := range e.Multi {
			if v == rest[j] && (!multi || uint32(b) == branch) {
				branch, found, multi = uint32(b), true, true
				break
			}
		}
		if !found {
			return 0, 0, false
		}
	}
	if key.Wildcard {
		index = rest[len(rest)-1]
	}
	return branch, index, true
}

func equalPath(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TaprootLimit is why a Trezor cannot be a cosigner of a taproot (tr)
// wallet: Trezor firmware signs taproot only as single-key BIP-86 outputs;
// its multisig messages describe sh/wsh CHECKMULTISIG scripts, with no
// multi_a leaves and no MuSig2 (taproot multisig is an open firmware pull
// request, trezor/trezor-firmware#4159).
const TaprootLimit = "a Trezor cannot sign for a taproot (tr) multisig wallet: its firmware has taproot for single-key (BIP-86) accounts only, no multi_a script leaves and no MuSig2; sign with another cosigner (software key, file) or use a wsh wallet with this Trezor"
