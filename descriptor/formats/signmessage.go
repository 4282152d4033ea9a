package formats

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// The legacy "Bitcoin Signed Message" scheme, which BIP-129 accepts for a
// key record's SIG ("The signature should follow BIP-0322, legacy format
// accepted"; every BIP-129 test vector is legacy): the message is hashed as
// SHA256d(varstr("Bitcoin Signed Message:\n") || varstr(message)) and
// signed as a 65-byte compact recoverable signature, base64-encoded. The
// first byte is 27 + recovery id, plus 4 for a compressed key (BIP-137
// adds 8 and 12 for P2SH-P2WPKH and P2WPKH addresses; the key recovered is
// the same, so those headers verify too).
const bitcoinMessageMagic = "Bitcoin Signed Message:\n"

// compactSigLen is the size of a compact recoverable signature.
const compactSigLen = 65

var errBadMessageSignature = errors.New("the signature is not made by this key over this record")

func bitcoinMessageHash(msg []byte) []byte {
	var b bytes.Buffer
	_ = wire.WriteVarString(&b, 0, bitcoinMessageMagic)
	_ = wire.WriteVarBytes(&b, 0, msg)
	return chainhash.DoubleHashB(b.Bytes())
}

// signBitcoinMessage signs msg with priv in the legacy format, for a
// compressed key (every key BIP-129 records can hold is compressed).
func signBitcoinMessage(priv *btcec.PrivateKey, msg []byte) string {
	sig := ecdsa.SignCompact(priv, bitcoinMessageHash(msg), true)
	return base64.StdEncoding.EncodeToString(sig)
}

// verifyBitcoinMessage checks a legacy base64 signature over msg against
// pub. It recovers the signing key and compares points, so the header's
// address-type flag does not matter.
func verifyBitcoinMessage(pub *btcec.PublicKey, msg []byte, sigB64 string) error {
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		return fmt.Errorf("the signature is not base64: %v", err)
	}
	if len(sig) != compactSigLen {
		return fmt.Errorf("the signature has %d bytes; a legacy Bitcoin signed message has %d (BIP-322 signatures are not supported)", len(sig), compactSigLen)
	}
	if h := sig[0]; h < 27 || h > 42 {
		return fmt.Errorf("the signature's header byte %d is not one of a legacy Bitcoin signed message (27-42)", h)
	}
	// btcec reads the header as 27+recid(+4 when compressed); fold BIP-137's
	// segwit headers back onto the compressed P2PKH ones.
	if sig[0] >= 35 {
		sig = bytes.Clone(sig)
		sig[0] = 31 + (sig[0]-35)%4
	}
	got, _, err := ecdsa.RecoverCompact(sig, bitcoinMessageHash(msg))
	if err != nil || !got.IsEqual(pub) {
		return errBadMessageSignature
	}
	return nil
}
