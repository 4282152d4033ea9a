package descriptor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
)

// NetworkParams returns the chain parameters for a network name: mainnet,
// testnet (testnet3), signet or regtest; main, test and testnet3 are
// accepted as aliases.
func NetworkParams(name string) (*chaincfg.Params, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "mainnet", "main":
		return &chaincfg.MainNetParams, nil
	case "testnet", "test", "testnet3":
		return &chaincfg.TestNet3Params, nil
	case "signet":
		return &chaincfg.SigNetParams, nil
	case "regtest":
		return &chaincfg.RegressionNetParams, nil
	}
	return nil, invalid(fmt.Errorf("unknown network %q: use mainnet, testnet, signet or regtest", name))
}

// NetworkName is the inverse of NetworkParams: "mainnet", "testnet",
// "signet" or "regtest" (a custom signet is "signet"). Other parameter sets
// return their own name, and nil returns "".
func NetworkName(p *chaincfg.Params) string {
	if p == nil {
		return ""
	}
	switch p.Name {
	case chaincfg.MainNetParams.Name:
		return "mainnet"
	case chaincfg.TestNet3Params.Name:
		return "testnet"
	case chaincfg.SigNetParams.Name:
		return "signet"
	case chaincfg.RegressionNetParams.Name:
		return "regtest"
	}
	return p.Name
}

// family is the network family a key belongs to. BIP-32 has only two sets
// of version bytes: xpub for mainnet and tpub for every test network.
type family int

const (
	familyAny  family = iota // plain public keys work on any network
	familyMain               // xpub, xprv, mainnet WIF
	familyTest               // tpub, tprv, testnet WIF (testnet, signet, regtest)
)

func (f family) String() string {
	switch f {
	case familyMain:
		return "mainnet"
	case familyTest:
		return "testnet/signet/regtest"
	}
	return "any network"
}

// paramsFamily tells which key family a network's addresses pair with.
func paramsFamily(p *chaincfg.Params) (family, error) {
	if p == nil {
		return familyAny, errors.New("no network given: choose mainnet, testnet, signet or regtest")
	}
	switch binary.BigEndian.Uint32(p.HDPublicKeyID[:]) {
	case versionXpub:
		return familyMain, nil
	case versionTpub:
		return familyTest, nil
	}
	return familyAny, fmt.Errorf("network %q uses extended key version %x, which countersign does not support: use mainnet, testnet, signet or regtest",
		p.Name, p.HDPublicKeyID[:])
}

// keyFamily is the family of an extended key by its (normalised) version
// bytes; plain public keys belong to any network.
func keyFamily(k *Key) family {
	if k.XPub == nil {
		return familyAny
	}
	if v := k.XPub.Version(); len(v) == 4 && binary.BigEndian.Uint32(v) == versionTpub {
		return familyTest
	}
	return familyMain
}

// IsMainnet reports whether the descriptor's extended keys are xpubs (true)
// or tpubs (false). A descriptor of plain public keys returns true.
func (d *Descriptor) IsMainnet() bool {
	for i := range d.Keys {
		if keyFamily(&d.Keys[i]) == familyTest {
			return false
		}
	}
	return true
}

// CheckNetwork verifies that the descriptor's extended keys belong to the
// network p: xpubs only on mainnet, tpubs only on testnet, signet and
// regtest. Plain public keys fit any network.
func (d *Descriptor) CheckNetwork(p *chaincfg.Params) error {
	want, err := paramsFamily(p)
	if err != nil {
		return invalid(err)
	}
	for i := range d.Keys {
		got := keyFamily(&d.Keys[i])
		if got != familyAny && got != want {
			return invalidKey(i, fmt.Errorf("%s is a %s key but the network is %s; use the %s of this cosigner or choose the matching --network",
				prefixName(got), got, NetworkName(p), prefixName(want)))
		}
	}
	return nil
}

// prefixName is the extended public key prefix of a family.
func prefixName(f family) string {
	if f == familyTest {
		return "tpub"
	}
	return "xpub"
}

// ScriptAddress encodes a scriptPubKey as an address of net, or returns ""
// for a script that has no single address (OP_RETURN, bare multisig).
func ScriptAddress(pkScript []byte, net *chaincfg.Params) string {
	if net == nil {
		return ""
	}
	_, addrs, _, err := txscript.ExtractPkScriptAddrs(pkScript, net)
	if err != nil || len(addrs) != 1 {
		return ""
	}
	return addrs[0].EncodeAddress()
}
