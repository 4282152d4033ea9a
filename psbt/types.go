package psbt

// Key types of BIP-174 (version 0), BIP-370 and BIP-371, by the names the
// BIPs give them. btcd's parser knows most of them; these are the ones the
// stricter pass in validate.go checks record by record.

// Global map.
const (
	globalUnsignedTx    = 0x00 // PSBT_GLOBAL_UNSIGNED_TX: no key data; the unsigned tx, non-witness serialization
	globalXpub          = 0x01 // PSBT_GLOBAL_XPUB: key data is a 78-byte BIP-32 xpub; value fingerprint || path
	globalTxVersion     = 0x02 // PSBT_GLOBAL_TX_VERSION: version 2 only
	globalFallbackLock  = 0x03 // PSBT_GLOBAL_FALLBACK_LOCKTIME: version 2 only
	globalInputCount    = 0x04 // PSBT_GLOBAL_INPUT_COUNT: version 2 only
	globalOutputCount   = 0x05 // PSBT_GLOBAL_OUTPUT_COUNT: version 2 only
	globalTxModifiable  = 0x06 // PSBT_GLOBAL_TX_MODIFIABLE: version 2 only
	globalVersion       = 0xfb // PSBT_GLOBAL_VERSION: 32-bit PSBT version; only 0 is supported
	globalProprietary   = 0xfc // PSBT_GLOBAL_PROPRIETARY
	xpubSerializedBytes = 78   // BIP-32 serialized extended key without checksum
)

// Per-input map.
const (
	inNonWitnessUtxo    = 0x00 // PSBT_IN_NON_WITNESS_UTXO
	inWitnessUtxo       = 0x01 // PSBT_IN_WITNESS_UTXO
	inPartialSig        = 0x02 // PSBT_IN_PARTIAL_SIG: key data is the pubkey
	inSighashType       = 0x03 // PSBT_IN_SIGHASH_TYPE: 32-bit little endian
	inRedeemScript      = 0x04 // PSBT_IN_REDEEM_SCRIPT
	inWitnessScript     = 0x05 // PSBT_IN_WITNESS_SCRIPT
	inBip32Derivation   = 0x06 // PSBT_IN_BIP32_DERIVATION: key data is the pubkey
	inFinalScriptSig    = 0x07 // PSBT_IN_FINAL_SCRIPTSIG
	inFinalScriptWit    = 0x08 // PSBT_IN_FINAL_SCRIPTWITNESS
	inPorCommitment     = 0x09 // PSBT_IN_POR_COMMITMENT
	inRipemd160         = 0x0a // PSBT_IN_RIPEMD160: key data is the 20-byte hash
	inSha256            = 0x0b // PSBT_IN_SHA256: key data is the 32-byte hash
	inHash160           = 0x0c // PSBT_IN_HASH160: key data is the 20-byte hash
	inHash256           = 0x0d // PSBT_IN_HASH256: key data is the 32-byte hash
	inPreviousTxid      = 0x0e // PSBT_IN_PREVIOUS_TXID: version 2 only
	inOutputIndex       = 0x0f // PSBT_IN_OUTPUT_INDEX: version 2 only
	inSequence          = 0x10 // PSBT_IN_SEQUENCE: version 2 only
	inRequiredTimeLock  = 0x11 // PSBT_IN_REQUIRED_TIME_LOCKTIME: version 2 only
	inRequiredHeightLck = 0x12 // PSBT_IN_REQUIRED_HEIGHT_LOCKTIME: version 2 only
	inTapKeySig         = 0x13 // PSBT_IN_TAP_KEY_SIG
	inTapScriptSig      = 0x14 // PSBT_IN_TAP_SCRIPT_SIG
	inTapLeafScript     = 0x15 // PSBT_IN_TAP_LEAF_SCRIPT
	inTapBip32          = 0x16 // PSBT_IN_TAP_BIP32_DERIVATION
	inTapInternalKey    = 0x17 // PSBT_IN_TAP_INTERNAL_KEY
	inTapMerkleRoot     = 0x18 // PSBT_IN_TAP_MERKLE_ROOT
	inProprietary       = 0xfc // PSBT_IN_PROPRIETARY
)

// Per-output map.
const (
	outRedeemScript    = 0x00 // PSBT_OUT_REDEEM_SCRIPT
	outWitnessScript   = 0x01 // PSBT_OUT_WITNESS_SCRIPT
	outBip32Derivation = 0x02 // PSBT_OUT_BIP32_DERIVATION
	outAmount          = 0x03 // PSBT_OUT_AMOUNT: version 2 only
	outScript          = 0x04 // PSBT_OUT_SCRIPT: version 2 only
	outTapInternalKey  = 0x05 // PSBT_OUT_TAP_INTERNAL_KEY
	outTapTree         = 0x06 // PSBT_OUT_TAP_TREE
	outTapBip32        = 0x07 // PSBT_OUT_TAP_BIP32_DERIVATION
	outProprietary     = 0xfc // PSBT_OUT_PROPRIETARY
)

// Size limits. btcd's parser refuses keys and values above these; checking
// them first lets the error say which record is too large.
const (
	maxKeyLength   = 10000   // bytes of one key (btcd's MaxPsbtKeyLength)
	maxValueLength = 4000000 // bytes of one value (btcd's MaxPsbtValueLength)
)
