package psbt

import (
	"errors"
	"fmt"
	"math"

	"github.com/btcsuite/btcd/txscript"

	"github.com/countersign/countersign/descriptor"
)

// Sizes in bytes of the parts of a transaction (BIP-141 weights: base
// bytes count 4, witness bytes 1).
const (
	// maxSigSize is the largest signature a cosigner can return: a 72-byte
	// DER signature (both R and S 33 bytes) and the sighash byte. Real
	// low-S signatures are at most 72 bytes with the sighash byte, so an
	// estimate using 73 never under-pays.
	maxSigSize = 73

	outPointSize          = 36 // txid and output index
	sequenceSize          = 4
	txVersionLockTimeSize = 8
	segwitMarkerFlagSize  = 2 // witness bytes: counted once per transaction
	p2wshProgramSize      = 34
	maxStandardTxWeight   = 400000 // Bitcoin Core's MAX_STANDARD_TX_WEIGHT

	witnessScale = 4
)

// Fee constants, in satoshis per 1000 virtual bytes as Bitcoin Core keeps
// them.
const (
	// dustRelayFeeRate is Core's DUST_RELAY_TX_FEE: an output is dust when
	// spending it costs more than it is worth at 3 sat/vB.
	dustRelayFeeRate = 3000
	// discardFeeRate prices spending a change output when deciding whether
	// it is worth creating; Core's discard rate never goes below the dust
	// relay rate, which is what is used here.
	discardFeeRate = 3000
	// maxFeeRate is the rate above which Build refuses without AllowHighFee
	// (1,000 sat/vB).
	maxFeeRate = 1000 * 1000
	// minFeeRate is the minimum relay fee of btcd and Bitcoin Core.
	minFeeRate = 1000
	// maxFeeShare: a fee above this share (in percent) of the amount sent
	// is refused without AllowHighFee.
	maxFeeShare = 5
)

// compactSizeLen is the length of a Bitcoin compact size integer.
func compactSizeLen(n int) int {
	switch {
	case n < 0xfd:
		return 1
	case n <= 0xffff:
		return 3
	case n <= 0xffffffff:
		return 5
	}
	return 9
}

// pushLen is the length of the opcode that pushes n bytes in a scriptSig.
func pushLen(n int) int {
	switch {
	case n < txscript.OP_PUSHDATA1:
		return 1
	case n <= 0xff:
		return 2
	case n <= 0xffff:
		return 3
	}
	return 5
}

// inputSize is an input's size in its two parts: base bytes (outpoint,
// scriptSig, sequence) and witness bytes (the witness stack with its item
// count). An sh input has no witness.
type inputSize struct {
	base, witness int
}

// multisigInputSize is the worst-case size of an input spending an m-of-n
// multisig whose script (redeem or witness script) is scriptLen bytes, with
// m signatures of maxSigSize.
func multisigInputSize(kind scriptKind, m, scriptLen int) inputSize {
	sigs := m * (1 + maxSigSize) // each signature with its push / length byte
	switch kind {
	case kindSh:
		// OP_0 (CHECKMULTISIG's extra pop), the signatures, the redeem script.
		scriptSig := 1 + sigs + pushLen(scriptLen) + scriptLen
		return inputSize{base: outPointSize + compactSizeLen(scriptSig) + scriptSig + sequenceSize}
	case kindShWsh, kindWsh:
		// Item count, the empty dummy item, signatures, the witness script.
		wit := compactSizeLen(m+2) + 1 + sigs + compactSizeLen(scriptLen) + scriptLen
		scriptSig := 0
		if kind == kindShWsh {
			scriptSig = 1 + p2wshProgramSize // push of the P2WSH redeem script
		}
		return inputSize{base: outPointSize + compactSizeLen(scriptSig) + scriptSig + sequenceSize, witness: wit}
	}
	return inputSize{}
}

// outputSize is the serialized size of an output: amount, script length,
// script.
func outputSize(pkScript []byte) int {
	return 8 + compactSizeLen(len(pkScript)) + len(pkScript)
}

// txWeight is the weight of a transaction with the given input sizes and
// output bytes. segwit says whether any input has a witness; then every
// input also carries a witness item count, at least one byte.
func txWeight(inputs []inputSize, outputBytes, nOut int) int64 {
	base := txVersionLockTimeSize + compactSizeLen(len(inputs)) + compactSizeLen(nOut) + outputBytes
	wit := 0
	segwit := false
	for _, in := range inputs {
		base += in.base
		if in.witness > 0 {
			segwit = true
		}
	}
	if segwit {
		wit = segwitMarkerFlagSize
		for _, in := range inputs {
			if in.witness > 0 {
				wit += in.witness
			} else {
				wit++ // empty witness: its item count 0
			}
		}
	}
	return int64(base)*witnessScale + int64(wit)
}

// vsizeOf converts weight to virtual bytes, rounding up as BIP-141 does.
func vsizeOf(weight int64) int64 {
	return (weight + witnessScale - 1) / witnessScale
}

// scriptKindOf maps a descriptor's script type to its input kind.
func scriptKindOf(t descriptor.ScriptType) scriptKind {
	switch t {
	case descriptor.ScriptSh:
		return kindSh
	case descriptor.ScriptShWsh:
		return kindShWsh
	case descriptor.ScriptWsh:
		return kindWsh
	}
	return kindUnknown
}

// walletInputSize is the worst-case size of one input of the wallet:
// the multisig script's length follows from the key count and each key's
// serialization (65 bytes for an uncompressed key, allowed only under sh).
func walletInputSize(d *descriptor.Descriptor) (inputSize, error) {
	if d == nil {
		return inputSize{}, errors.New("no descriptor")
	}
	if d.Miniscript != nil {
		return miniscriptInputSize(d.Miniscript)
	}
	if d.Tap != nil {
		return tapWalletInputSize(d), nil
	}
	kind := scriptKindOf(d.Script)
	n := len(d.Keys)
	if kind == kindUnknown || n == 0 || n > maxMultisigKeys || d.Threshold < 1 || d.Threshold > n {
		return inputSize{}, fmt.Errorf("descriptor is not an m-of-n multisig countersign can spend (script type %d, %d of %d)", int(d.Script), d.Threshold, n)
	}
	scriptLen := numberLen(d.Threshold) + numberLen(n) + 1 // OP_m, OP_n, OP_CHECKMULTISIG
	for _, k := range d.Keys {
		if k.PubKey != nil && k.Uncompressed {
			scriptLen += 1 + 65
		} else {
			scriptLen += 1 + 33
		}
	}
	return multisigInputSize(kind, d.Threshold, scriptLen), nil
}

// numberLen is the length of a multisig count in script: OP_1..OP_16 or a
// one-byte push for 17 to 20.
func numberLen(v int) int {
	if v <= 16 {
		return 1
	}
	return 2
}

// EstimateVSize returns the virtual size of a transaction spending nIn
// inputs of the wallet described by d to outputs with the given scripts,
// once every input carries m signatures of the worst-case 73 bytes. The
// size counts exactly what finalization writes (the CHECKMULTISIG dummy,
// the redeem and witness scripts), so a fee computed from it at a rate
// never pays less than that rate.
func EstimateVSize(d *descriptor.Descriptor, nIn int, outputScripts [][]byte) (int64, error) {
	if nIn < 0 {
		return 0, badRequest("negative input count %d", nIn)
	}
	in, err := walletInputSize(d)
	if err != nil {
		return 0, badRequest("wallet descriptor: %v", err)
	}
	inputs := make([]inputSize, nIn)
	for i := range inputs {
		inputs[i] = in
	}
	outBytes := 0
	for _, s := range outputScripts {
		outBytes += outputSize(s)
	}
	return vsizeOf(txWeight(inputs, outBytes, len(outputScripts))), nil
}

// DustThreshold returns the smallest amount an output with this script may
// carry and still be relayed: Bitcoin Core's GetDustThreshold at the dust
// relay fee of 3 sat/vB, i.e. three times the size of the output plus the
// size of the input that would spend it (67 bytes for a witness program,
// 148 otherwise). Unspendable scripts (OP_RETURN) have no threshold. For a
// P2WSH output it is 330 sat, P2SH 540, P2PKH 546, P2WPKH 294.
func DustThreshold(pkScript []byte) int64 {
	if (len(pkScript) > 0 && pkScript[0] == txscript.OP_RETURN) || len(pkScript) > txscript.MaxScriptSize {
		return 0
	}
	size := outputSize(pkScript)
	if txscript.IsWitnessProgram(pkScript) {
		// outpoint, empty scriptSig, sequence, and a witness of 107 bytes
		// counted at a quarter (Core's integer arithmetic).
		size += outPointSize + 1 + 107/witnessScale + sequenceSize
	} else {
		size += outPointSize + 1 + 107 + sequenceSize
	}
	return feeAt(dustRelayFeeRate, int64(size))
}

// feeAt returns the fee for vsize virtual bytes at rate sat/kvB, rounded up
// so that the rate paid is never below rate.
func feeAt(rate, vsize int64) int64 {
	return (rate*vsize + 999) / 1000
}

// feeRateKvB converts a rate in sat/vB to sat/kvB, rounding up (beyond
// float noise) so the rate paid is never below the one asked for.
func feeRateKvB(satPerVByte float64) (int64, error) {
	if math.IsNaN(satPerVByte) || math.IsInf(satPerVByte, 0) || satPerVByte <= 0 {
		return 0, badRequest("fee rate %v sat/vB is not a positive number", satPerVByte)
	}
	if satPerVByte > 1e8 {
		return 0, badRequest("fee rate %v sat/vB is beyond any sensible value", satPerVByte)
	}
	return int64(math.Ceil(satPerVByte*1000 - 1e-6)), nil
}
