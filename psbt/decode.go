package psbt

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Building the Packet from the scanned records.
//
// btcd's parser reads the records a second time after the scan, allocates
// every key and value again, and builds a btcec point for every partial
// signature and BIP-32 public key (a field square root each, most of the
// time spent decoding a large PSBT: a 500-input 3-of-5 sweep carries 2,500
// derivation keys and up to 1,500 partial signature keys, mostly the same
// keys twice). packet fills the same Packet btcd's parser would from the
// records the scan has already checked, with btcd's rules for each field,
// except that whether those keys are points is left to the first function
// that reads the packet (Memo.checkKeys): by then the wallet has derived
// its own keys, which need no square root. TestPacketMatchesBtcdParser and
// FuzzPacketMatchesBtcdParser check that both give the same Packet (or
// both refuse), keys checked.
//
// The taproot records (BIP-371) are left to btcd's parser, whose checks
// of x-only keys and control blocks this does not repeat: packet reports
// errUseBtcdParser for a PSBT that carries any.

// errUseBtcdParser means the PSBT holds records packet leaves to btcd.
var errUseBtcdParser = errors.New("taproot records: parsed by btcd")

// packet builds the version 0 Packet of the scanned PSBT. The records
// must point into a buffer no one else changes: the Packet's byte slices
// share it.
func (sc *scanned) packet() (*bpsbt.Packet, error) {
	// The unsigned transaction as btcd reads it: the scan parsed a
	// version 0 one from its non-witness serialization the same way; a
	// version 2 one is built from the maps and read back from its
	// serialization.
	tx := sc.tx
	if sc.version == 2 {
		var txb bytes.Buffer
		if err := sc.tx.SerializeNoWitness(&txb); err != nil {
			return nil, malformed("cannot serialize the unsigned transaction: %v", err)
		}
		tx = wire.NewMsgTx(2)
		if err := tx.DeserializeNoWitness(bytes.NewReader(txb.Bytes())); err != nil {
			return nil, malformed("unsigned transaction: %v", err)
		}
	}
	p := &bpsbt.Packet{
		UnsignedTx: tx,
		Inputs:     make([]bpsbt.PInput, len(sc.inputs)),
		Outputs:    make([]bpsbt.POutput, len(sc.outputs)),
	}
	for _, rec := range sc.globals {
		switch {
		case rec.keyType == globalUnsignedTx:
		case sc.version == 2 && (rec.keyType == globalVersion || rec.keyType == globalTxVersion || rec.keyType == globalInputCount || rec.keyType == globalOutputCount):
			// In the transaction (version 2 fields btcd's form has no
			// place for are carried as unknown records, as v0Bytes does).
		default:
			p.Unknowns = append(p.Unknowns, &bpsbt.Unknown{Key: rec.key, Value: rec.value})
		}
	}
	for i, recs := range sc.inputs {
		in := &p.Inputs[i]
		for _, rec := range recs {
			if sc.version == 2 && (rec.keyType == inPreviousTxid || rec.keyType == inOutputIndex || rec.keyType == inSequence) {
				continue
			}
			if err := fillInput(in, rec); err != nil {
				return nil, err
			}
		}
	}
	for j, recs := range sc.outputs {
		out := &p.Outputs[j]
		for _, rec := range recs {
			if sc.version == 2 && (rec.keyType == outAmount || rec.keyType == outScript) {
				continue
			}
			if err := fillOutput(out, rec); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// fillInput puts one input record into in as btcd's parser does
// (PInput.deserialize). The scan has checked the record's format
// (checkInputRecord).
func fillInput(in *bpsbt.PInput, rec record) error {
	switch rec.keyType {
	case inNonWitnessUtxo:
		// Parsed by the scan's check (parseFullTx, the same
		// deserialization).
		if rec.tx == nil {
			return malformed("non_witness_utxo was not parsed")
		}
		in.NonWitnessUtxo = rec.tx
	case inWitnessUtxo:
		// btcd refuses fewer than 10 bytes (an output needs a script).
		out, err := parseTxOut(rec.value)
		if err != nil || len(rec.value) < 10 {
			return malformed("witness_utxo is not an amount and a script")
		}
		out.PkScript = rec.value[len(rec.value)-len(out.PkScript):]
		in.WitnessUtxo = out
	case inPartialSig:
		// btcd's parser also parses the signature (R and S below the
		// group order).
		if _, err := ecdsa.ParseDERSignature(rec.value); err != nil {
			return malformed("partial signature for pubkey %x: %v", rec.keyData, err)
		}
		in.PartialSigs = append(in.PartialSigs, &bpsbt.PartialSig{PubKey: rec.keyData, Signature: rec.value})
	case inSighashType:
		in.SighashType = txscript.SigHashType(binary.LittleEndian.Uint32(rec.value))
	case inRedeemScript:
		in.RedeemScript = rec.value
	case inWitnessScript:
		in.WitnessScript = rec.value
	case inBip32Derivation:
		in.Bip32Derivation = append(in.Bip32Derivation, derivationOf(rec))
	case inFinalScriptSig:
		in.FinalScriptSig = rec.value
	case inFinalScriptWit:
		in.FinalScriptWitness = rec.value
	case inTapKeySig, inTapScriptSig, inTapLeafScript, inTapBip32, inTapInternalKey, inTapMerkleRoot:
		return errUseBtcdParser
	default:
		in.Unknowns = append(in.Unknowns, &bpsbt.Unknown{Key: rec.key, Value: rec.value})
	}
	return nil
}

// fillOutput is fillInput for an output record (POutput.deserialize).
func fillOutput(out *bpsbt.POutput, rec record) error {
	switch rec.keyType {
	case outRedeemScript:
		out.RedeemScript = rec.value
	case outWitnessScript:
		out.WitnessScript = rec.value
	case outBip32Derivation:
		out.Bip32Derivation = append(out.Bip32Derivation, derivationOf(rec))
	case outTapInternalKey, outTapTree, outTapBip32:
		return errUseBtcdParser
	default:
		out.Unknowns = append(out.Unknowns, &bpsbt.Unknown{Key: rec.key, Value: rec.value})
	}
	return nil
}

// derivationOf reads a BIP-32 derivation record: the key data is the
// public key, the value a 4-byte fingerprint and 4-byte path elements
// (checked by the scan), little endian as btcd holds them.
func derivationOf(rec record) *bpsbt.Bip32Derivation {
	d := &bpsbt.Bip32Derivation{PubKey: rec.keyData, MasterKeyFingerprint: binary.LittleEndian.Uint32(rec.value)}
	for k := 4; k < len(rec.value); k += 4 {
		d.Bip32Path = append(d.Bip32Path, binary.LittleEndian.Uint32(rec.value[k:]))
	}
	return d
}
