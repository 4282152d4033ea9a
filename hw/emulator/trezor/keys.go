package trezor

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"

	tp "github.com/countersign/countersign/hw/trezor/trezorproto"
)

const hardened = hdkeychain.HardenedKeyStart

// coin is one of the coins the emulator serves.
type coin struct {
	name   string
	params *chaincfg.Params
	slip44 uint32
	// SLIP-132 version bytes of xpubs for the segwit script types.
	ypub, zpub [4]byte
}

var coins = []coin{
	{"Bitcoin", &chaincfg.MainNetParams, 0, [4]byte{0x04, 0x9d, 0x7c, 0xb2}, [4]byte{0x04, 0xb2, 0x47, 0x46}},
	{"Testnet", &chaincfg.TestNet3Params, 1, [4]byte{0x04, 0x4a, 0x52, 0x62}, [4]byte{0x04, 0x5f, 0x1c, 0xf6}},
	{"Regtest", &chaincfg.RegressionNetParams, 1, [4]byte{0x04, 0x4a, 0x52, 0x62}, [4]byte{0x04, 0x5f, 0x1c, 0xf6}},
}

func coinByName(name string) (*coin, error) {
	if name == "" {
		name = "Bitcoin"
	}
	for i := range coins {
		if strings.EqualFold(coins[i].name, name) {
			return &coins[i], nil
		}
	}
	return nil, dataError("Invalid coin name")
}

func fingerprintOf(k *hdkeychain.ExtendedKey) ([4]byte, error) {
	pub, err := k.ECPubKey()
	if err != nil {
		return [4]byte{}, err
	}
	var fp [4]byte
	copy(fp[:], btcutil.Hash160(pub.SerializeCompressed())[:4])
	return fp, nil
}

// derivePrivate walks path from the session's master, caching every node.
func (s *session) derivePrivate(master *hdkeychain.ExtendedKey, pass string, path []uint32) (*hdkeychain.ExtendedKey, error) {
	if len(path) > 255 {
		return nil, dataError("Path too long")
	}
	node := master
	key := make([]byte, 0, len(pass)+1+4*len(path))
	key = append(key, pass...)
	key = append(key, 0)
	for _, step := range path {
		key = binary.LittleEndian.AppendUint32(key, step)
		s.e.mu.Lock()
		n, ok := s.e.keyCache[string(key)]
		s.e.mu.Unlock()
		if ok {
			node = n
			continue
		}
		child, err := node.Derive(step)
		if err != nil {
			return nil, fail(tp.FailureProcessError, "Failed to derive private key")
		}
		s.e.mu.Lock()
		s.e.keyCache[string(key)] = child
		s.e.mu.Unlock()
		node = child
	}
	return node, nil
}

// nodeKey turns an HDNodeType into a public extended key.
func nodeKey(n *tp.HDNodeType) (*hdkeychain.ExtendedKey, error) {
	if len(n.ChainCode) != 32 || len(n.PublicKey) != 33 || n.Depth > 255 {
		return nil, dataError("Invalid multisig parameters")
	}
	if _, err := btcec.ParsePubKey(n.PublicKey); err != nil {
		return nil, dataError("Invalid multisig parameters")
	}
	var fp [4]byte
	binary.BigEndian.PutUint32(fp[:], n.Fingerprint)
	return hdkeychain.NewExtendedKey(chaincfg.MainNetParams.HDPublicKeyID[:], n.PublicKey, n.ChainCode, fp[:], uint8(n.Depth), n.ChildNum, false), nil
}

// derivePublic derives a cosigner's key from its node, caching nodes.
func (s *session) derivePublic(n *tp.HDNodeType, path []uint32) ([]byte, error) {
	key := string(n.Marshal())
	s.e.mu.Lock()
	node, ok := s.e.pubCache[key]
	s.e.mu.Unlock()
	if !ok {
		var err error
		if node, err = nodeKey(n); err != nil {
			return nil, err
		}
	}
	for _, step := range path {
		if step >= hardened {
			return nil, dataError("Invalid multisig parameters")
		}
		key += fmt.Sprintf("/%d", step)
		s.e.mu.Lock()
		c, ok := s.e.pubCache[key]
		s.e.mu.Unlock()
		if ok {
			node = c
			continue
		}
		c, err := node.Derive(step)
		if err != nil {
			return nil, dataError("Failed to derive multisig key")
		}
		s.e.mu.Lock()
		if len(s.e.pubCache) < 1<<16 {
			s.e.pubCache[key] = c
		}
		s.e.mu.Unlock()
		node = c
	}
	pub, err := node.ECPubKey()
	if err != nil {
		return nil, dataError("Invalid multisig parameters")
	}
	return pub.SerializeCompressed(), nil
}

// multisigPubkeys derives the keys of a multisig description in script
// order.
func (s *session) multisigPubkeys(ms *tp.MultisigRedeemScriptType) ([][]byte, error) {
	var keys [][]byte
	switch {
	case len(ms.Nodes) > 0:
		for i := range ms.Nodes {
			k, err := s.derivePublic(&ms.Nodes[i], ms.AddressN)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
	default:
		var first []uint32
		for i := range ms.Pubkeys {
			p := &ms.Pubkeys[i]
			// Strict safety checks: every key at the same path.
			if i == 0 {
				first = p.AddressN
			} else if !equalPath(first, p.AddressN) {
				return nil, dataError("Using different paths for different xpubs is not allowed")
			}
			k, err := s.derivePublic(&p.Node, p.AddressN)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
	}
	n := len(keys)
	if n < 1 || n > 15 || ms.M < 1 || int(ms.M) > n {
		return nil, dataError("Invalid multisig parameters")
	}
	if len(ms.Signatures) != 0 && len(ms.Signatures) != n {
		return nil, dataError("Invalid multisig parameters")
	}
	if ms.PubkeysOrder != nil {
		switch *ms.PubkeysOrder {
		case tp.PubkeysOrderPreserved:
		case tp.PubkeysOrderLexicographic:
			sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 })
		default:
			return nil, dataError("Invalid multisig parameters")
		}
	}
	return keys, nil
}

// multisigFingerprint identifies a wallet the way the firmware does
// (apps/bitcoin/multisig.py): m, n, the order, and every node, sorted when
// the order is lexicographic. Paths are left out, so every address of a
// wallet has the same fingerprint.
func multisigFingerprint(ms *tp.MultisigRedeemScriptType) [32]byte {
	var nodes []tp.HDNodeType
	if len(ms.Nodes) > 0 {
		nodes = append(nodes, ms.Nodes...)
	} else {
		for _, p := range ms.Pubkeys {
			nodes = append(nodes, p.Node)
		}
	}
	order := uint32(0)
	if ms.PubkeysOrder != nil {
		order = *ms.PubkeysOrder
	}
	if order == tp.PubkeysOrderLexicographic {
		sort.Slice(nodes, func(i, j int) bool {
			a := append(append([]byte{}, nodes[i].PublicKey...), nodes[i].ChainCode...)
			b := append(append([]byte{}, nodes[j].PublicKey...), nodes[j].ChainCode...)
			return bytes.Compare(a, b) < 0
		})
	}
	h := sha256.New()
	w := func(v uint32) { _ = binary.Write(h, binary.LittleEndian, v) }
	w(ms.M)
	w(uint32(len(nodes)))
	w(order)
	for _, n := range nodes {
		w(n.Depth)
		w(n.Fingerprint)
		w(n.ChildNum)
		h.Write(n.ChainCode)
		h.Write(n.PublicKey)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
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

// multisigScript is OP_m <keys> OP_n OP_CHECKMULTISIG.
func multisigScript(m int, keys [][]byte) ([]byte, error) {
	b := txscript.NewScriptBuilder().AddInt64(int64(m))
	for _, k := range keys {
		b.AddData(k)
	}
	return b.AddInt64(int64(len(keys))).AddOp(txscript.OP_CHECKMULTISIG).Script()
}

// checkMultisigPath applies the firmware's strict safety checks to the path
// of the device's own key in a multisig: BIP-48 for the script type
// (m/48'/coin'/account'/script'/change/index, script 0' for P2SH, 1' for
// P2SH-P2WSH, 2' for P2WSH) or BIP-45 for P2SH (m/45'/cosigner/change/index).
func checkMultisigPath(c *coin, scriptType uint32, path []uint32) error {
	ok := false
	if len(path) == 6 && path[0] == 48+hardened && path[1] == c.slip44+hardened &&
		path[2] >= hardened && path[2] <= 100+hardened && path[4] <= 1 && path[5] < 1_000_000 {
		want := map[uint32]uint32{tp.SpendMultisig: 0, tp.SpendP2SHWitness: 1, tp.SpendWitness: 2}
		if w, known := want[scriptType]; known && path[3] == w+hardened {
			ok = true
		}
	}
	if len(path) == 4 && scriptType == tp.SpendMultisig && path[0] == 45+hardened &&
		path[1] < hardened && path[2] <= 1 && path[3] < 1_000_000 {
		ok = true
	}
	if !ok {
		return dataError("Forbidden key path")
	}
	return nil
}

// script is what a multisig or single-key description resolves to.
type script struct {
	pkScript []byte
	redeem   []byte // P2SH redeem script
	witness  []byte // witness script (multisig under segwit)
	ownKey   []byte
	priv     *btcec.PrivateKey
}

// resolve derives the device's key at path and the script of scriptType
// (an InputScriptType) with or without a multisig description.
func (s *session) resolve(c *coin, master *hdkeychain.ExtendedKey, pass string, path []uint32, scriptType uint32, ms *tp.MultisigRedeemScriptType) (*script, error) {
	node, err := s.derivePrivate(master, pass, path)
	if err != nil {
		return nil, err
	}
	priv, err := node.ECPrivKey()
	if err != nil {
		return nil, fail(tp.FailureProcessError, "Failed to derive private key")
	}
	own := priv.PubKey().SerializeCompressed()
	out := &script{ownKey: own, priv: priv}
	if ms == nil {
		h := btcutil.Hash160(own)
		switch scriptType {
		case tp.SpendAddress:
			out.pkScript, err = payTo(btcutil.NewAddressPubKeyHash(h, c.params))
		case tp.SpendWitness:
			out.pkScript, err = payTo(btcutil.NewAddressWitnessPubKeyHash(h, c.params))
		case tp.SpendP2SHWitness:
			out.redeem = append([]byte{0, 20}, h...)
			out.pkScript, err = payTo(btcutil.NewAddressScriptHash(out.redeem, c.params))
		default:
			return nil, dataError("Invalid script type")
		}
		return out, err
	}
	if err := checkMultisigPath(c, scriptType, path); err != nil {
		return nil, err
	}
	keys, err := s.multisigPubkeys(ms)
	if err != nil {
		return nil, err
	}
	found := false
	for _, k := range keys {
		if bytes.Equal(k, own) {
			found = true
		}
	}
	if !found {
		return nil, dataError("Pubkey not found in multisig script")
	}
	ms2, err := multisigScript(int(ms.M), keys)
	if err != nil {
		return nil, dataError("Invalid multisig parameters")
	}
	if len(ms2) > 520 && scriptType == tp.SpendMultisig {
		return nil, dataError("Invalid multisig parameters")
	}
	h := sha256.Sum256(ms2)
	switch scriptType {
	case tp.SpendMultisig:
		out.redeem = ms2
		out.pkScript, err = payTo(btcutil.NewAddressScriptHash(ms2, c.params))
	case tp.SpendWitness:
		out.witness = ms2
		out.pkScript, err = payTo(btcutil.NewAddressWitnessScriptHash(h[:], c.params))
	case tp.SpendP2SHWitness:
		out.witness = ms2
		out.redeem = append([]byte{0, 32}, h[:]...)
		out.pkScript, err = payTo(btcutil.NewAddressScriptHash(out.redeem, c.params))
	default:
		return nil, dataError("Multisig field provided but not relevant")
	}
	return out, err
}

func payTo[A btcutil.Address](a A, err error) ([]byte, error) {
	if err != nil {
		return nil, dataError("Invalid address")
	}
	return txscript.PayToAddrScript(a)
}

// addressOf encodes pkScript as an address of coin c.
func addressOf(c *coin, pkScript []byte) (string, error) {
	_, addrs, _, err := txscript.ExtractPkScriptAddrs(pkScript, c.params)
	if err != nil || len(addrs) != 1 {
		return "", errors.New("script has no address")
	}
	return addrs[0].EncodeAddress(), nil
}

func (s *session) getPublicKey(m *tp.GetPublicKey) error {
	if m.EcdsaCurveName != "" && m.EcdsaCurveName != "secp256k1" {
		return dataError("Unsupported curve")
	}
	c, err := coinByName(m.CoinName)
	if err != nil {
		return err
	}
	master, pass, err := s.seed()
	if err != nil {
		return err
	}
	node, err := s.derivePrivate(master, pass, m.AddressN)
	if err != nil {
		return err
	}
	pub, err := node.Neuter()
	if err != nil {
		return err
	}
	ecpub, err := pub.ECPubKey()
	if err != nil {
		return err
	}
	version := c.params.HDPublicKeyID
	if m.ScriptType != nil && !m.IgnoreXpubMagic {
		switch *m.ScriptType {
		case tp.SpendP2SHWitness:
			version = c.ypub
		case tp.SpendWitness:
			version = c.zpub
		}
	}
	xk, err := pub.CloneWithVersion(version[:])
	if err != nil {
		return err
	}
	xpub := xk.String()
	if m.ShowDisplay {
		if err := s.confirm(tp.ButtonRequestPublicKey, Screen{Kind: "public key", Address: xpub, Text: "XPUB\n" + xpub}); err != nil {
			return err
		}
	}
	root, err := fingerprintOf(master)
	if err != nil {
		return err
	}
	s.send(&tp.PublicKey{
		HasNode: true,
		Node: tp.HDNodeType{
			Depth: uint32(pub.Depth()), Fingerprint: pub.ParentFingerprint(), ChildNum: pub.ChildIndex(),
			ChainCode: pub.ChainCode(), PublicKey: ecpub.SerializeCompressed(),
		},
		Xpub:            xpub,
		RootFingerprint: tp.U32(binary.BigEndian.Uint32(root[:])),
	})
	return nil
}

func (s *session) getAddress(m *tp.GetAddress) error {
	c, err := coinByName(m.CoinName)
	if err != nil {
		return err
	}
	master, pass, err := s.seed()
	if err != nil {
		return err
	}
	sc, err := s.resolve(c, master, pass, m.AddressN, m.ScriptType, m.Multisig)
	if err != nil {
		return err
	}
	addr, err := addressOf(c, sc.pkScript)
	if err != nil {
		return fail(tp.FailureProcessError, "Failed to encode the address")
	}
	if m.ShowDisplay {
		text := "Address\n" + addr
		if m.Multisig != nil {
			n := len(m.Multisig.Pubkeys) + len(m.Multisig.Nodes)
			text = fmt.Sprintf("Multisig %d of %d\n%s", m.Multisig.M, n, addr)
		}
		if err := s.confirm(tp.ButtonRequestAddress, Screen{Kind: "address", Address: addr, Text: text}); err != nil {
			return err
		}
	}
	s.send(&tp.Address{Address: addr})
	return nil
}
