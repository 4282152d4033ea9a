// Package formats imports and exports multisig wallet configurations in the
// file formats other coordinators and signing devices use, so a wallet made
// here can be registered on a Coldcard, opened in Caravan or Sparrow, or
// imported into Bitcoin Core, and the other way round.
//
// # Formats
//
//   - "descriptor": one line, the canonical BIP-389 multipath descriptor
//     with its BIP-380 checksum. Import also takes single-branch /0/* or
//     /1/* descriptors (turned into the <0;1> wallet form), several lines
//     that all describe the same wallet, and Coldcard's multi-line
//     "pretty" descriptor.
//   - "core": Bitcoin Core importdescriptors JSON, a receive (internal
//     false) and change (internal true) pair, which every Core version with
//     descriptor wallets accepts. Import also takes listdescriptors output
//     and Coldcard's "importdescriptors '...'" file.
//   - "coldcard": the Coldcard multisig setup file (Name, Policy, Format,
//     Derivation and "XFP: xpub" lines), parsed by Coldcard's rules.
//   - "caravan": Caravan's wallet configuration JSON.
//   - "specter": the Specter Desktop JSON that Sparrow also reads and writes
//     ({"label", "blockheight", "descriptor", "devices"}).
//   - "bsms": a BIP-129 descriptor record: version, descriptor or
//     template, path restrictions, first address. ExportBSMS encrypts it
//     with a setup TOKEN (AES-256-CTR, HMAC-SHA256) and ImportWithOptions
//     decrypts it; without a token an encrypted record is recognised and
//     refused with ErrBSMSToken. Round-1 key records (a signer's
//     [fingerprint/path]xpub, signed with the legacy Bitcoin signed-message
//     scheme) are read by ParseBSMSKeyRecord and written by
//     NewBSMSKeyRecord; NewBSMSToken makes tokens.
//   - "ur" and "bbqr" (import only): a wallet scanned from QR codes, the
//     text a USB QR scanner types or that is pasted, one part a line in
//     any order. A UR is crypto-output or output-descriptor; a BBQr
//     carries any of the files above as text or JSON (a Coldcard Q shows
//     its multisig setup file so). A cosigner's key export
//     (crypto-account) is recognised and refused with a
//     CosignerExportError that carries its multisig keys for --cosigner.
//     The QR codes countersign shows for a wallet are made from the
//     exported files by hw/qrsigner.
//
// Import detects the format from the content. Export writes one format by
// name and, before returning, imports its own output again and checks that
// it gives back the same wallet, so a file that would describe different
// addresses is never produced.
//
// # What each format carries
//
// Every format carries the descriptor. Names are carried by coldcard,
// caravan and specter; per-key labels by caravan (key names) and specter
// (device labels); the birth height by specter. The network is carried by
// caravan explicitly, by bsms through its first address, and by the others
// only through the keys: an xpub is mainnet, a tpub is one of the test
// networks, and Import's defaultNet chooses which (testnet when defaultNet
// is nil or mainnet).
//
// Coldcard and Caravan only know sortedmulti wallets whose keys derive
// /0/* for receiving and /1/* for change; exporting anything else to them is
// refused with a message saying which format to use instead. Coldcard also
// needs every key's origin (fingerprint and path), at most 15 keys, distinct
// fingerprints and a name of at most 20 ASCII characters.
//
// A Caravan key whose fingerprint is missing or whose bip32Path is
// "Unknown" is imported without a key origin: the descriptor language
// cannot state a fingerprint without its path, and a guessed path would be
// wrong. Addresses are unaffected, but signers that need the origin to
// recognise their key (most hardware wallets) cannot sign for that key until
// the origin is known.
//
// Wallets are watch-only: a descriptor that holds private keys (xprv, WIF)
// imports as its public keys, and nothing private is kept or written.
//
// # Errors
//
// Import errors wrap ErrUnknownFormat when the content is none of the
// formats, and descriptor.ErrInvalid when the format is recognised but the
// content is wrong. An encrypted BSMS file read without its token wraps
// ErrBSMSToken and ErrBSMSNeedToken; a wrong token (the MAC does not
// match) wraps ErrBSMSToken; both also wrap descriptor.ErrInvalid. Export errors wrap ErrUnknownFormat for an unknown
// format name and descriptor.ErrInvalid when the wallet cannot be written in
// the chosen format.
package formats
