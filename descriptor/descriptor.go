// Package descriptor parses, validates, prints and derives the output script
// descriptors countersign's multisig wallets are made of: sh(multi),
// sh(wsh(multi)) and wsh(multi), each also with sortedmulti (BIP-380, 381,
// 382, 383, 389).
//
// Parse checks the BIP-380 checksum when present and every wallet rule:
// 1 <= m <= n, at most 15 keys under sh (and a 520-byte redeem script), at
// most 20 under wsh and sh(wsh), compressed keys under segwit, no repeated
// key, one network (xpub or tpub), and BIP-389 multipath steps of equal
// length. Hardened markers are h or ' (BIP-380 no longer allows H).
// SLIP-132 keys (Ypub, Zpub, ...) are accepted and stored as xpub/tpub.
// Private keys are accepted so BIP vectors can be checked; they are never
// printed, and HasPrivate lets callers refuse them.
//
// A Descriptor is immutable once parsed. String always prints the canonical
// form: 'h' for hardened steps, lower-case fingerprints, keys normalised to
// xpub/tpub version bytes, and the BIP-380 checksum.
//
// Derive computes one address; each key's parent node is cached per branch
// so that an address costs one child derivation per key. DeriveRange
// derives many in parallel with batched affine arithmetic (batch.go), each
// batch checked against btcec before it is used.
package descriptor

import (
	"errors"

	"github.com/countersign/countersign/descriptor/miniscript"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
)

// ErrInvalid is wrapped by every parse and validation error; the CLI maps it
// to exit code 2 (bad input).
var ErrInvalid = errors.New("invalid descriptor")

// ScriptType is the script wrapper around the multisig.
type ScriptType int

const (
	ScriptSh    ScriptType = iota + 1 // sh(multi): legacy P2SH, n <= 15
	ScriptShWsh                       // sh(wsh(multi)): nested segwit, n <= 20
	ScriptWsh                         // wsh(multi): native segwit, n <= 20
	ScriptTr                          // tr(KEY[,TREE]) and rawtr(KEY): taproot (BIP-386); see Descriptor.Tap
)

// HardenedKeyStart is the BIP-32 offset of hardened child indexes.
const HardenedKeyStart = hdkeychain.HardenedKeyStart

// Origin is a key origin: the master key fingerprint and the path from the
// master to the key, e.g. [d34db33f/48h/0h/0h/2h].
type Origin struct {
	Fingerprint [4]byte
	Path        []uint32
}

// PathElem is one derivation step after an extended key. When Multi is
// non-nil the step is a BIP-389 multipath step <a;b;...> and Index is unused.
type PathElem struct {
	Index uint32
	Multi []uint32
}

// Key is one key expression of a multisig descriptor.
type Key struct {
	Origin *Origin // nil when the descriptor gave none

	// Exactly one of XPub and PubKey is set.
	XPub   *hdkeychain.ExtendedKey // public extended key (private keys are neutered on parse; see Private)
	PubKey *btcec.PublicKey        // a plain hex (or WIF-derived) public key

	Uncompressed     bool       // PubKey was given in 65-byte form
	XOnly            bool       // PubKey was given as a 64-character x-only key (tr() only; BIP-386)
	Path             []PathElem // steps after XPub, e.g. /<0;1>/*
	Wildcard         bool       // the path ends in /*
	HardenedWildcard bool       // the wildcard is /*h: only derivable with the private key
	Private          bool       // the expression held private key material (WIF or xprv)

	// xprv keeps the private extended key of an xprv/tprv expression so that
	// hardened steps after it can be derived, as BIP-380 requires for private
	// descriptors. It is never printed: String always shows the neutered xpub.
	xprv *hdkeychain.ExtendedKey
}

// Descriptor is a parsed multisig output descriptor.
type Descriptor struct {
	Script ScriptType
	// Threshold is m of a multisig. For a miniscript it is the number of
	// signatures the cheapest spending path without a time lock needs (0
	// when every path is locked): the wallet's everyday threshold.
	Threshold int
	Sorted    bool // sortedmulti (BIP-67 key order) rather than multi
	// Keys are the multisig's keys, or every key of the miniscript in the
	// order they first appear.
	Keys []Key
	// Miniscript is set for wsh(MINISCRIPT) (BIP-379): the spending policy
	// whose keys refer to Keys by position. Nil for multi/sortedmulti.
	Miniscript *miniscript.Node

	// Tap describes a taproot descriptor (Script == ScriptTr): its internal
	// key and script tree, pointing into Keys. For tr(), Threshold is the
	// fewest signatures any path needs and Sorted is unused. Nil otherwise.
	Tap *Taproot

	// cache holds each key's parent node per branch, filled on first use, so
	// that one address costs one child derivation per key. Parse, Multipath
	// and Single set it; a Descriptor built as a literal derives without it.
	cache *nodeCache
}

// Derived is the result of deriving a descriptor at (branch, index).
type Derived struct {
	Branch, Index uint32
	ScriptPubKey  []byte
	RedeemScript  []byte // sh and sh-wsh: the script the P2SH commits to
	WitnessScript []byte // wsh and sh-wsh: the multisig (or miniscript) script
	Address       string
	// Keys in descriptor order (not script order).
	Keys []DerivedKey

	// Taproot only (tr and rawtr).
	Tap *DerivedTap
}

// DerivedKey is one cosigner's key at a derived position.
type DerivedKey struct {
	PubKey      []byte // 33 bytes compressed (65 for an uncompressed key under sh)
	Fingerprint [4]byte
	Path        []uint32 // full path from the master: origin path + key path
}
