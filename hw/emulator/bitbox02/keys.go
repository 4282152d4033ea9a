package bitbox02

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
)

// Coins the emulator serves (btc.proto BTCCoin; params.rs).
const (
	coinBTC  = 0
	coinTBTC = 1
	coinLTC  = 2
	coinTLTC = 3
	coinRBTC = 4
)

// coinParams is what params.rs says about a coin.
type coinParams struct {
	name  string
	bip44 uint32 // hardened coin type
	net   *chaincfg.Params
}

func paramsOf(coin uint64) (*coinParams, error) {
	const h = hdkeychain.HardenedKeyStart
	switch coin {
	case coinBTC:
		return &coinParams{"Bitcoin", h + 0, &chaincfg.MainNetParams}, nil
	case coinTBTC:
		return &coinParams{"BTC Testnet", h + 1, &chaincfg.TestNet3Params}, nil
	case coinRBTC:
		return &coinParams{"BTC Regtest", h + 1, &chaincfg.RegressionNetParams}, nil
	case coinLTC, coinTLTC:
		// The Bitcoin-only edition and this emulator: disabled.
		return nil, apiErr(errDisabled)
	}
	return nil, apiErr(errInvalidInput)
}

// coinByte is the coin's byte in registration hashes (multisig.rs get_hash).
func coinByte(coin uint64) byte { return byte(coin) }

// xpubParts is common.proto XPub.
type xpubParts struct {
	depth     byte
	parentFP  [4]byte
	childNum  uint32
	chainCode []byte
	pubKey    []byte
}

func parseXPub(m pmsg) (*xpubParts, error) {
	d, err := m.bytes(1)
	if err != nil {
		return nil, err
	}
	pfp, err := m.bytes(2)
	if err != nil {
		return nil, err
	}
	child, err := m.u32(3)
	if err != nil {
		return nil, err
	}
	cc, err := m.bytes(4)
	if err != nil {
		return nil, err
	}
	pk, err := m.bytes(5)
	if err != nil {
		return nil, err
	}
	// bip32.rs Xpub::serialize refuses any other sizes.
	if len(d) != 1 || len(pfp) != 4 || len(cc) != 32 || len(pk) != 33 {
		return nil, apiErr(errInvalidInput)
	}
	x := &xpubParts{depth: d[0], childNum: child, chainCode: bytes.Clone(cc), pubKey: bytes.Clone(pk)}
	copy(x.parentFP[:], pfp)
	return x, nil
}

// serialize is bip32.rs Xpub::serialize(None): the 74 bytes after the
// version, which registration hashes and "is this our xpub" compare.
func (x *xpubParts) serialize() []byte {
	out := []byte{x.depth}
	out = append(out, x.parentFP[:]...)
	out = binary.BigEndian.AppendUint32(out, x.childNum)
	out = append(out, x.chainCode...)
	return append(out, x.pubKey...)
}

// extended turns the parts into a public extended key for derivation.
func (x *xpubParts) extended() *hdkeychain.ExtendedKey {
	return hdkeychain.NewExtendedKey(chaincfg.MainNetParams.HDPublicKeyID[:], x.pubKey, x.chainCode, x.parentFP[:], x.depth, x.childNum, false)
}

// derive returns the compressed public key at the unhardened path below x.
func (x *xpubParts) derive(path ...uint32) ([]byte, error) {
	k := x.extended()
	for _, c := range path {
		if c >= hdkeychain.HardenedKeyStart {
			return nil, apiErr(errInvalidInput)
		}
		var err error
		if k, err = k.Derive(c); err != nil {
			return nil, apiErr(errInvalidInput)
		}
	}
	pub, err := k.ECPubKey()
	if err != nil {
		return nil, apiErr(errInvalidInput)
	}
	return pub.SerializeCompressed(), nil
}

// partsOf describes one of the emulator's own keys.
func partsOf(k *hdkeychain.ExtendedKey) (*xpubParts, error) {
	pub, err := k.ECPubKey()
	if err != nil {
		return nil, err
	}
	x := &xpubParts{depth: k.Depth(), childNum: k.ChildIndex(), chainCode: bytes.Clone(k.ChainCode()), pubKey: pub.SerializeCompressed()}
	binary.BigEndian.PutUint32(x.parentFP[:], k.ParentFingerprint())
	return x, nil
}

// multisigScript is OP_m <keys> OP_n OP_CHECKMULTISIG; sorted for a Multisig
// config (multisig.rs pkscript), in order for a policy's multi().
func multisigScript(m int, keys [][]byte, sorted bool) ([]byte, error) {
	if m < 1 || m > len(keys) || len(keys) > 20 {
		return nil, apiErr(errInvalidInput)
	}
	ks := append([][]byte(nil), keys...)
	if sorted {
		sort.Slice(ks, func(i, j int) bool { return bytes.Compare(ks[i], ks[j]) < 0 })
	}
	s := pushInt(nil, m)
	for _, k := range ks {
		s = append(s, byte(len(k)))
		s = append(s, k...)
	}
	s = pushInt(s, len(ks))
	return append(s, 0xae), nil // OP_CHECKMULTISIG
}

// pushInt pushes a small number: OP_1..OP_16, else a one-byte push.
func pushInt(s []byte, n int) []byte {
	if n >= 1 && n <= 16 {
		return append(s, byte(0x50+n))
	}
	return append(s, 1, byte(n))
}

// output is a derived wallet output: its script and address.
type output struct {
	witnessScript []byte
	pkScript      []byte
	address       string
}

// wshOutput wraps a witness script as p2wsh, or p2wsh-p2sh when nested.
func wshOutput(ws []byte, nested bool, net *chaincfg.Params) (*output, error) {
	h := sha256.Sum256(ws)
	p2wsh := append([]byte{0x00, 0x20}, h[:]...)
	if !nested {
		a, err := btcutil.NewAddressWitnessScriptHash(h[:], net)
		if err != nil {
			return nil, err
		}
		return &output{witnessScript: ws, pkScript: p2wsh, address: a.EncodeAddress()}, nil
	}
	h160 := btcutil.Hash160(p2wsh)
	a, err := btcutil.NewAddressScriptHashFromHash(h160, net)
	if err != nil {
		return nil, err
	}
	pk := append(append([]byte{0xa9, 0x14}, h160...), 0x87)
	return &output{witnessScript: ws, pkScript: pk, address: a.EncodeAddress()}, nil
}

// policyKey is one "@i/<a;b>/*" placeholder (policies.rs
// parse_wallet_policy_pk).
type policyKey struct {
	index         int
	receive, chng uint32
}

func parsePolicyKey(s string) (policyKey, error) {
	bad := apiErr(errInvalidInput)
	rest, ok := strings.CutPrefix(s, "@")
	if !ok {
		return policyKey{}, bad
	}
	left, right, ok := strings.Cut(rest, "/")
	if !ok || noLeadingZero(left) != nil {
		return policyKey{}, bad
	}
	k := policyKey{}
	if right == "**" {
		k.receive, k.chng = 0, 1
	} else {
		inner, ok := strings.CutPrefix(right, "<")
		if !ok {
			return policyKey{}, bad
		}
		inner, ok = strings.CutSuffix(inner, ">/*")
		if !ok {
			return policyKey{}, bad
		}
		a, b, ok := strings.Cut(inner, ";")
		if !ok || noLeadingZero(a) != nil || noLeadingZero(b) != nil {
			return policyKey{}, bad
		}
		av, err1 := strconv.ParseUint(a, 10, 32)
		bv, err2 := strconv.ParseUint(b, 10, 32)
		if err1 != nil || err2 != nil {
			return policyKey{}, bad
		}
		k.receive, k.chng = uint32(av), uint32(bv)
	}
	if k.receive == k.chng || k.receive >= hdkeychain.HardenedKeyStart || k.chng >= hdkeychain.HardenedKeyStart {
		return policyKey{}, bad
	}
	idx, err := strconv.ParseUint(left, 10, 16)
	if err != nil {
		return policyKey{}, bad
	}
	k.index = int(idx)
	return k, nil
}

func noLeadingZero(s string) error {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return errors.New("leading zero")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return errors.New("not a number")
		}
	}
	return nil
}

func fmtKeypath(p []uint32) string {
	var b strings.Builder
	b.WriteString("m")
	for _, c := range p {
		if c >= hdkeychain.HardenedKeyStart {
			fmt.Fprintf(&b, "/%d'", c-hdkeychain.HardenedKeyStart)
		} else {
			fmt.Fprintf(&b, "/%d", c)
		}
	}
	return b.String()
}
