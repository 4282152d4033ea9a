package descriptor

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
)

// BIP-32 version bytes countersign stores and prints.
const (
	versionXpub uint32 = 0x0488b21e
	versionXprv uint32 = 0x0488ade4
	versionTpub uint32 = 0x043587cf
	versionTprv uint32 = 0x04358394
)

// extendedKeyLen is the BIP-32 serialization length: version (4), depth (1),
// parent fingerprint (4), child number (4), chain code (32), key data (33).
const extendedKeyLen = 78

// versionInfo says what a version prefix means once SLIP-132's script-type
// hint is dropped: the key's network family and whether it is private.
type versionInfo struct {
	prefix  string
	family  family
	private bool
}

// lookupVersion maps every Bitcoin and Bitcoin Testnet row of the SLIP-132
// registry to its BIP-32 meaning. Descriptors carry the script type
// explicitly (BIP-380 calls version-byte script hints a layer violation), so
// Ypub/Zpub and friends are accepted on input and stored as xpub/tpub.
func lookupVersion(v uint32) (versionInfo, bool) {
	switch v {
	case versionXpub:
		return versionInfo{"xpub", familyMain, false}, true
	case 0x049d7cb2:
		return versionInfo{"ypub", familyMain, false}, true
	case 0x04b24746:
		return versionInfo{"zpub", familyMain, false}, true
	case 0x0295b43f:
		return versionInfo{"Ypub", familyMain, false}, true
	case 0x02aa7ed3:
		return versionInfo{"Zpub", familyMain, false}, true
	case versionXprv:
		return versionInfo{"xprv", familyMain, true}, true
	case 0x049d7878:
		return versionInfo{"yprv", familyMain, true}, true
	case 0x04b2430c:
		return versionInfo{"zprv", familyMain, true}, true
	case 0x0295b005:
		return versionInfo{"Yprv", familyMain, true}, true
	case 0x02aa7a99:
		return versionInfo{"Zprv", familyMain, true}, true
	case versionTpub:
		return versionInfo{"tpub", familyTest, false}, true
	case 0x044a5262:
		return versionInfo{"upub", familyTest, false}, true
	case 0x045f1cf6:
		return versionInfo{"vpub", familyTest, false}, true
	case 0x024289ef:
		return versionInfo{"Upub", familyTest, false}, true
	case 0x02575483:
		return versionInfo{"Vpub", familyTest, false}, true
	case versionTprv:
		return versionInfo{"tprv", familyTest, true}, true
	case 0x044a4e28:
		return versionInfo{"uprv", familyTest, true}, true
	case 0x045f18bc:
		return versionInfo{"vprv", familyTest, true}, true
	case 0x024285b5:
		return versionInfo{"Uprv", familyTest, true}, true
	case 0x02575048:
		return versionInfo{"Vprv", familyTest, true}, true
	}
	return versionInfo{}, false
}

// publicVersion is the xpub/tpub version of a family.
func publicVersion(f family) []byte {
	v := versionXpub
	if f == familyTest {
		v = versionTpub
	}
	return binary.BigEndian.AppendUint32(nil, v)
}

// privateVersion is the xprv/tprv version of a family.
func privateVersion(f family) []byte {
	v := versionXprv
	if f == familyTest {
		v = versionTprv
	}
	return binary.BigEndian.AppendUint32(nil, v)
}

// decodedExtendedKey is a validated BIP-32 extended key with its version
// normalised from SLIP-132 to xpub/tpub (and xprv/tprv).
type decodedExtendedKey struct {
	pub    *hdkeychain.ExtendedKey // always set: the public (neutered) key
	priv   *hdkeychain.ExtendedKey // set for xprv/tprv input
	family family
}

// decodeExtendedKey checks a Base58Check extended key the way BIP-32 test
// vector 5 demands (version known and matching the key data, valid key,
// consistent depth) and returns it with xpub/tpub version bytes.
func decodeExtendedKey(s string) (*decodedExtendedKey, error) {
	raw := base58.Decode(s)
	if len(raw) != extendedKeyLen+4 {
		return nil, fmt.Errorf("extended key is %d bytes after Base58 decoding, not %d: check that it was copied completely", len(raw), extendedKeyLen+4)
	}
	payload, check := raw[:extendedKeyLen], raw[extendedKeyLen:]
	first := sha256.Sum256(payload)
	second := sha256.Sum256(first[:])
	if !bytes.Equal(check, second[:4]) {
		return nil, errors.New("extended key checksum does not match: a character is wrong; copy the key again")
	}

	info, ok := lookupVersion(binary.BigEndian.Uint32(payload[:4]))
	if !ok {
		return nil, fmt.Errorf("unknown extended key version %x: countersign accepts Bitcoin xpub/tpub (and SLIP-132 ypub, zpub, Ypub, Zpub, upub, vpub, Upub, Vpub) and their private forms",
			payload[:4])
	}
	depth := payload[4]
	parentFP := payload[5:9]
	childNum := binary.BigEndian.Uint32(payload[9:13])
	chainCode := payload[13:45]
	keyData := payload[45:78]

	// A master key (depth 0) has no parent, so its parent fingerprint and
	// child number must be zero.
	if depth == 0 && !bytes.Equal(parentFP, []byte{0, 0, 0, 0}) {
		return nil, errors.New("extended key has depth 0 (a master key) but a non-zero parent fingerprint: the key is malformed")
	}
	if depth == 0 && childNum != 0 {
		return nil, errors.New("extended key has depth 0 (a master key) but a non-zero child number: the key is malformed")
	}

	out := &decodedExtendedKey{family: info.family}
	var pubKey []byte
	if info.private {
		if keyData[0] != 0x00 {
			return nil, fmt.Errorf("%s version but the key data starts with %02x, not the 00 of a private key: the version and key do not match; the key is malformed", info.prefix, keyData[0])
		}
		var k btcec.ModNScalar
		if overflow := k.SetByteSlice(keyData[1:]); overflow || k.IsZero() {
			return nil, fmt.Errorf("%s private key is not in the range 1..n-1 of secp256k1: the key is malformed", info.prefix)
		}
		priv := btcec.PrivKeyFromScalar(&k)
		pubKey = priv.PubKey().SerializeCompressed()
		out.priv = hdkeychain.NewExtendedKey(privateVersion(info.family), keyData[1:], chainCode, parentFP, depth, childNum, true)
	} else {
		if keyData[0] != 0x02 && keyData[0] != 0x03 {
			return nil, fmt.Errorf("%s version with key data starting %02x: a public key starts with 02 or 03; the key is malformed", info.prefix, keyData[0])
		}
		if _, err := btcec.ParsePubKey(keyData); err != nil {
			return nil, fmt.Errorf("%s public key is not a point on secp256k1: the key is malformed", info.prefix)
		}
		pubKey = keyData
	}
	out.pub = hdkeychain.NewExtendedKey(publicVersion(info.family), bytes.Clone(pubKey), bytes.Clone(chainCode), bytes.Clone(parentFP), depth, childNum, false)
	return out, nil
}
