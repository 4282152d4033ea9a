// Package soft is countersign's software signer: a BIP-32 master key kept in
// an encrypted key store on this computer and used to sign PSBTs of the
// multisig wallets it is a cosigner of.
//
// # The key store
//
// A Store is a directory (the CLI uses <data-dir>/keys) holding two files per
// key NAME:
//
//   - NAME.age: the secret, encrypted with age to a passphrase (an scrypt
//     recipient). It holds a BIP-39 mnemonic and its optional BIP-39
//     passphrase, or a master xprv/tprv.
//   - NAME.json: public data only (fingerprint, network, kind, creation time)
//     so that listing keys needs no passphrase.
//
// Secrets are encrypted in memory before anything is written: no plaintext
// ever reaches the disk, not even a temporary file. Every write goes through
// a temporary file, fsync, rename and a directory fsync, so a crash leaves
// the previous state or the next one. Files are 0600, the directory 0700. An
// existing key is never overwritten.
//
// # The signer
//
// Store.Open decrypts a key and returns a Signer implementing hw.Signer. It
// signs only PSBTs that the wallet's descriptor fully explains (the checks of
// package psbt) and only inputs whose BIP-32 derivations name its own master
// fingerprint. A software key has no screen and no buttons: DisplayAddress
// derives the address on this same computer, so it is not the independent
// check a hardware device gives. Close wipes the key material that Go lets us
// wipe (byte slices; Go strings cannot be cleared and are left to the garbage
// collector).
//
// # Compatibility
//
// Mnemonics follow BIP-39 with the English word list; the seed hashes the
// NFKD form of the mnemonic and of the BIP-39 passphrase, as the BIP says,
// so a passphrase with accents or in another script gives the wallet other
// software derives from the same words (the bip32JP vectors and Trezor's
// python-mnemonic check it). Passphrases with control characters are
// refused.
package soft
