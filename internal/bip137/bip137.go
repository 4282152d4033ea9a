// Package bip137 signs and verifies Bitcoin signed messages in the legacy
// format BIP-137 describes (bitcoin/bips bip-0137.mediawiki at commit
// 01d1398c159d3260c98a3a4f7d22fc983756bfd6): a 65-byte compact signature,
// base64, over the double SHA-256 of
//
//	"\x18Bitcoin Signed Message:\n" || CompactSize(len(message)) || message
//
// whose header byte is 27 + recovery id, plus 4 for a compressed key's
// P2PKH address (31-34), 8 for P2SH-P2WPKH (35-38), 12 for P2WPKH (39-42).
// Bitcoin Core's signmessage/verifymessage and Electrum read and write it.
// Signing here makes P2PKH signatures of compressed keys (header 31-34),
// which every verifier accepts.
package bip137

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// magic is the prefix Bitcoin Core's MessageHash writes: the length byte
// 0x18 (24) and the 24 characters after it.
const magic = "\x18Bitcoin Signed Message:\n"

// MaxMessageBytes bounds what Verify hashes: a signed journal head is one
// line, and an input file must not make it hash gigabytes.
const MaxMessageBytes = 1 << 20

// ErrInvalid is wrapped by a signature that does not decode; ErrMismatch by
// one that decodes but was not made by the address's key for this message.
var (
	ErrInvalid  = errors.New("malformed signed message")
	ErrMismatch = errors.New("the signature does not match the address and message")
)

// Hash is the double SHA-256 a message signature commits to.
func Hash(message string) chainhash.Hash {
	var b bytes.Buffer
	b.WriteString(magic)
	_ = wire.WriteVarInt(&b, 0, uint64(len(message)))
	b.WriteString(message)
	return chainhash.DoubleHashH(b.Bytes())
}

// Sign signs message with key and returns the P2PKH address of the key's
// compressed public key on net and the base64 signature (header 31-34).
// The nonce is RFC 6979's, so the same key and message always give the
// same signature, as Bitcoin Core's does.
func Sign(key *btcec.PrivateKey, message string, net *chaincfg.Params) (address, signature string, err error) {
	addr, err := btcutil.NewAddressPubKeyHash(btcutil.Hash160(key.PubKey().SerializeCompressed()), net)
	if err != nil {
		return "", "", err
	}
	h := Hash(message)
	sig := ecdsa.SignCompact(key, h[:], true)
	return addr.EncodeAddress(), base64.StdEncoding.EncodeToString(sig), nil
}

// Verify checks that signature (base64) was made for message by the key
// of address (P2PKH, P2SH-P2WPKH or P2WPKH on net). The header's kind must
// agree with the address's: a P2PKH header for a P2PKH address, a segwit
// one for a segwit address.
func Verify(address, signature, message string, net *chaincfg.Params) error {
	if len(message) > MaxMessageBytes {
		return fmt.Errorf("%w: the message is longer than %d bytes", ErrInvalid, MaxMessageBytes)
	}
	addr, err := btcutil.DecodeAddress(strings.TrimSpace(address), net)
	if err != nil || !addr.IsForNet(net) {
		return fmt.Errorf("%w: %q is not an address on this network", ErrInvalid, address)
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(signature))
	if err != nil || len(sig) != 65 {
		return fmt.Errorf("%w: the signature is not 65 bytes of base64", ErrInvalid)
	}
	header := sig[0]
	if header < 27 || header > 42 {
		return fmt.Errorf("%w: header byte %d is outside 27-42", ErrInvalid, header)
	}
	// btcec reads headers 27-34; a segwit header is its compressed form
	// with another address kind.
	kind := "p2pkh"
	compact := append([]byte(nil), sig...)
	switch {
	case header >= 39:
		kind, compact[0] = "p2wpkh", header-8
	case header >= 35:
		kind, compact[0] = "p2sh-p2wpkh", header-4
	}
	h := Hash(message)
	pub, compressed, err := ecdsa.RecoverCompact(compact, h[:])
	if err != nil {
		return fmt.Errorf("%w: no public key recovers from it: %v", ErrMismatch, err)
	}
	var ser []byte
	if compressed {
		ser = pub.SerializeCompressed()
	} else {
		ser = pub.SerializeUncompressed()
	}
	var want btcutil.Address
	switch kind {
	case "p2pkh":
		want, err = btcutil.NewAddressPubKeyHash(btcutil.Hash160(ser), net)
	case "p2wpkh":
		want, err = btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(ser), net)
	case "p2sh-p2wpkh":
		var w *btcutil.AddressWitnessPubKeyHash
		if w, err = btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(ser), net); err == nil {
			var script []byte
			if script, err = txscript.PayToAddrScript(w); err == nil {
				want, err = btcutil.NewAddressScriptHash(script, net)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if want.EncodeAddress() != addr.EncodeAddress() {
		return fmt.Errorf("%w: it was made by the key of %s (%s header), not %s", ErrMismatch, want.EncodeAddress(), kind, addr.EncodeAddress())
	}
	return nil
}
