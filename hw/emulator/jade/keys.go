package jade

import (
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
)

// network is one of the Bitcoin networks the firmware names
// (main/utils/network.c): "mainnet", "testnet" and "localtest" (regtest).
// The Liquid networks are not emulated.
type network struct {
	name   string
	params *chaincfg.Params
	test   bool // NETWORK_TYPE_TEST
}

var networks = map[string]network{
	"mainnet":   {"mainnet", &chaincfg.MainNetParams, false},
	"testnet":   {"testnet", &chaincfg.TestNet3Params, true},
	"localtest": {"localtest", &chaincfg.RegressionNetParams, true},
}

// Network restrictions as get_version_info reports them (JADE_NETWORKS).
const (
	NetworksAll  = "ALL"
	NetworksMain = "MAIN"
	NetworksTest = "TEST"
)

// xpubVersion is the serialization the firmware gives keys of net: xpub on
// mainnet (and Liquid), tpub on every test network (wallet_get_xpub).
func xpubVersion(n network) []byte {
	if n.test {
		return chaincfg.TestNet3Params.HDPublicKeyID[:]
	}
	return chaincfg.MainNetParams.HDPublicKeyID[:]
}

// derive walks path from k.
func derive(k *hdkeychain.ExtendedKey, path []uint32) (*hdkeychain.ExtendedKey, error) {
	for _, i := range path {
		var err error
		if k, err = k.Derive(i); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// xpubString is the public key at path from master, serialized for n.
func xpubString(master *hdkeychain.ExtendedKey, path []uint32, n network) (string, error) {
	k, err := derive(master, path)
	if err != nil {
		return "", err
	}
	if k, err = k.Neuter(); err != nil {
		return "", err
	}
	if k, err = k.CloneWithVersion(xpubVersion(n)); err != nil {
		return "", err
	}
	return k.String(), nil
}

// fingerprintOf is the BIP-32 fingerprint of k: the first four bytes of
// HASH160 of its compressed public key.
func fingerprintOf(k *hdkeychain.ExtendedKey) ([4]byte, error) {
	pub, err := k.ECPubKey()
	if err != nil {
		return [4]byte{}, err
	}
	var fp [4]byte
	copy(fp[:], btcutil.Hash160(pub.SerializeCompressed()))
	return fp, nil
}

// parseXpub reads a serialized public extended key the way libwally's
// bip32_key_from_base58 does for the firmware: the Base58Check
// serialization of BIP-32 with the xpub or tpub version only. The firmware
// keeps the key as given; only its key material is used.
func parseXpub(s string) (*hdkeychain.ExtendedKey, error) {
	raw, ver, err := base58.CheckDecode(s)
	if err != nil || len(raw) != 77 {
		return nil, errors.New("not a Base58Check BIP-32 key")
	}
	full := append([]byte{ver}, raw[:3]...)
	if string(full) != string(chaincfg.MainNetParams.HDPublicKeyID[:]) && string(full) != string(chaincfg.TestNet3Params.HDPublicKeyID[:]) {
		return nil, fmt.Errorf("version %x is neither xpub nor tpub", full)
	}
	k, err := hdkeychain.NewKeyFromString(s)
	if err != nil {
		return nil, err
	}
	if k.IsPrivate() {
		return nil, errors.New("a private key")
	}
	return k, nil
}

// samePublicNode compares the key material the firmware compares when it
// checks a cosigner xpub against its own (validate_signers): public key
// and chain code, not the metadata some wallets get wrong.
func samePublicNode(a, b *hdkeychain.ExtendedKey) bool {
	pa, err1 := a.ECPubKey()
	pb, err2 := b.ECPubKey()
	return err1 == nil && err2 == nil && pa.IsEqual(pb) && string(a.ChainCode()) == string(b.ChainCode())
}
