package psbt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcutil"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"
)

// Version 0 (BIP-174) and version 2 (BIP-370) PSBTs are read by one
// scanner. It walks every record of every map, refuses what either BIP
// calls invalid with the record named, and hands btcd's parser a version 0
// serialization in the order it expects: the unsigned transaction first
// (BIP-174 fixes no order, btcd's parser needs it first), and for a
// version 2 PSBT an unsigned transaction built from the per-input and
// per-output fields.
//
// In memory every PSBT is a btcd version 0 Packet. The version 2 fields
// that a version 0 PSBT cannot express (PSBT_GLOBAL_FALLBACK_LOCKTIME,
// PSBT_GLOBAL_TX_MODIFIABLE, PSBT_IN_REQUIRED_TIME_LOCKTIME and
// PSBT_IN_REQUIRED_HEIGHT_LOCKTIME) ride along as unknown records under
// their own key types, so that a version 2 PSBT read and written again
// keeps them. Serialize (version 0) leaves them out; SerializeVersion(p, 2)
// writes them back.

// scanned is a PSBT's records, map by map, after the scan's checks.
type scanned struct {
	version uint32
	tx      *wire.MsgTx // v0: the global unsigned tx; v2: built from the maps
	globals []record
	inputs  [][]record
	outputs [][]record
}

// carried reports the version 2 key types that ride along in a version 0
// Packet's unknown records.
func carriedGlobal(t uint64) bool { return t == globalFallbackLock || t == globalTxModifiable }
func carriedInput(t uint64) bool  { return t == inRequiredTimeLock || t == inRequiredHeightLck }

// scanPSBT checks a serialized PSBT against the rules of BIP-174 and
// BIP-370 before btcd's parser sees it. btcd accepts some forbidden
// encodings (a value longer than the transaction it holds, duplicate
// unknown keys with different values, trailing data, non-minimal key
// types, a witness_utxo whose script length it does not read) and panics
// on an empty BIP-32 derivation value; this pass refuses all of them with
// a reason.
func scanPSBT(raw []byte) (*scanned, error) {
	if !bytes.HasPrefix(raw, psbtMagic) {
		return nil, malformed("missing the magic bytes 70736274ff (\"psbt\" and 0xff): this is not a PSBT")
	}
	r := &byteReader{b: raw, off: len(psbtMagic)}
	sc := &scanned{}
	seen := make(map[string]bool)
	for {
		rec, end, err := r.next()
		if err != nil {
			return nil, malformed("global map: %v", err)
		}
		if end {
			break
		}
		if seen[string(rec.key)] {
			return nil, malformed("global map: duplicate key %x (BIP-174: keys in a map must be unique)", rec.key)
		}
		seen[string(rec.key)] = true
		sc.globals = append(sc.globals, rec)
		if rec.keyType == globalVersion {
			if sc.version, err = versionOf(rec); err != nil {
				return nil, malformed("global map: %v", err)
			}
		}
	}
	var nIn, nOut int
	switch sc.version {
	case 0:
		if err := sc.globalsV0(); err != nil {
			return nil, err
		}
		nIn, nOut = len(sc.tx.TxIn), len(sc.tx.TxOut)
	case 2:
		var err error
		if nIn, nOut, err = sc.globalsV2(); err != nil {
			return nil, err
		}
	}
	if nIn > MaxInputs || nOut > MaxOutputs {
		return nil, malformed("%d inputs and %d outputs: above the %d inputs or %d outputs a transaction can have and still be relayed (Bitcoin Core's 400,000 weight standardness limit)", nIn, nOut, MaxInputs, MaxOutputs)
	}
	checkIn, checkOut := checkInputRecord, checkOutputRecord
	if sc.version == 2 {
		checkIn, checkOut = checkInputRecordV2, checkOutputRecordV2
	}
	// A multisig input has about a dozen records (a derivation and a
	// signature per cosigner); an output a few.
	var err error
	if sc.inputs, err = scanMaps(r, nIn, 16, checkIn, "input"); err != nil {
		return nil, err
	}
	if sc.outputs, err = scanMaps(r, nOut, 4, checkOut, "output"); err != nil {
		return nil, err
	}
	if r.remaining() != 0 {
		return nil, malformed("%d bytes of unexpected data after the last output map", r.remaining())
	}
	if sc.version == 2 {
		if err := sc.buildTx(); err != nil {
			return nil, err
		}
	}
	return sc, nil
}

// versionOf reads PSBT_GLOBAL_VERSION: 0 or 2 (BIP-370 defines no
// version 1).
func versionOf(rec record) (uint32, error) {
	if err := noKeyData(rec, "PSBT version"); err != nil {
		return 0, err
	}
	if len(rec.value) != 4 {
		return 0, fmt.Errorf("PSBT version value is %d bytes; it must be a 4-byte integer", len(rec.value))
	}
	v := binary.LittleEndian.Uint32(rec.value)
	if v != 0 && v != 2 {
		return 0, fmt.Errorf("PSBT version %d is not defined: countersign reads version 0 (BIP-174) and version 2 (BIP-370)", v)
	}
	return v, nil
}

// globalsV0 checks a version 0 global map and decodes its transaction.
func (sc *scanned) globalsV0() error {
	for _, rec := range sc.globals {
		if err := checkGlobalRecord(rec); err != nil {
			return malformed("global map: %v", err)
		}
		if rec.keyType == globalUnsignedTx {
			tx, err := parseUnsignedTx(rec.value)
			if err != nil {
				return malformed("global unsigned transaction: %v", err)
			}
			sc.tx = tx
		}
	}
	if sc.tx == nil {
		return malformed("no unsigned transaction: a version 0 PSBT must carry PSBT_GLOBAL_UNSIGNED_TX")
	}
	return nil
}

// globalsV2 checks a version 2 global map and returns its input and output
// counts. The transaction is built once the maps are read.
func (sc *scanned) globalsV2() (nIn, nOut int, err error) {
	var haveVersion, haveIn, haveOut bool
	for _, rec := range sc.globals {
		switch rec.keyType {
		case globalUnsignedTx:
			return 0, 0, malformed("global map: PSBT_GLOBAL_UNSIGNED_TX is not allowed in a version 2 PSBT (BIP-370): the transaction is in the per-input and per-output fields")
		case globalTxVersion:
			if err := fixedValue(rec, "PSBT_GLOBAL_TX_VERSION", 4); err != nil {
				return 0, 0, malformed("global map: %v", err)
			}
			haveVersion = true
		case globalFallbackLock:
			if err := fixedValue(rec, "PSBT_GLOBAL_FALLBACK_LOCKTIME", 4); err != nil {
				return 0, 0, malformed("global map: %v", err)
			}
		case globalInputCount, globalOutputCount:
			name := globalName(rec.keyType)
			if err := noKeyData(rec, name); err != nil {
				return 0, 0, malformed("global map: %v", err)
			}
			vr := byteReader{b: rec.value}
			n, err := vr.compactSize()
			if err != nil || vr.remaining() != 0 {
				return 0, 0, malformed("global map: %s is not one compact size integer", name)
			}
			// Every map takes at least its one-byte separator.
			if n > uint64(maxValueLength) {
				return 0, 0, malformed("global map: %s of %d is more than any PSBT holds", name, n)
			}
			if rec.keyType == globalInputCount {
				nIn, haveIn = int(n), true
			} else {
				nOut, haveOut = int(n), true
			}
		case globalTxModifiable:
			if err := fixedValue(rec, "PSBT_GLOBAL_TX_MODIFIABLE", 1); err != nil {
				return 0, 0, malformed("global map: %v", err)
			}
		default:
			if err := checkGlobalRecord(rec); err != nil {
				return 0, 0, malformed("global map: %v", err)
			}
		}
	}
	switch {
	case !haveVersion:
		return 0, 0, malformed("global map: a version 2 PSBT must carry PSBT_GLOBAL_TX_VERSION (BIP-370)")
	case !haveIn:
		return 0, 0, malformed("global map: a version 2 PSBT must carry PSBT_GLOBAL_INPUT_COUNT (BIP-370)")
	case !haveOut:
		return 0, 0, malformed("global map: a version 2 PSBT must carry PSBT_GLOBAL_OUTPUT_COUNT (BIP-370)")
	}
	return nIn, nOut, nil
}

// fixedValue checks a record without key data whose value has n bytes.
func fixedValue(rec record, name string, n int) error {
	if err := noKeyData(rec, name); err != nil {
		return err
	}
	if len(rec.value) != n {
		return fmt.Errorf("%s value is %d bytes; it must be %d", name, len(rec.value), n)
	}
	return nil
}

// checkInputRecordV2 checks one record of a version 2 input map: the
// version 2 fields, and the rest as in version 0.
func checkInputRecordV2(rec *record) error {
	switch rec.keyType {
	case inPreviousTxid:
		return fixedValue(*rec, "PSBT_IN_PREVIOUS_TXID", 32)
	case inOutputIndex:
		return fixedValue(*rec, "PSBT_IN_OUTPUT_INDEX", 4)
	case inSequence:
		return fixedValue(*rec, "PSBT_IN_SEQUENCE", 4)
	case inRequiredTimeLock, inRequiredHeightLck:
		return checkRequiredLock(*rec)
	}
	return checkInputRecord(rec)
}

// checkRequiredLock checks PSBT_IN_REQUIRED_TIME_LOCKTIME (a time, at or
// above 500000000) and PSBT_IN_REQUIRED_HEIGHT_LOCKTIME (a height, 1 to
// 499999999), as BIP-370 defines them.
func checkRequiredLock(rec record) error {
	name := inputName(rec.keyType)
	if err := fixedValue(rec, name, 4); err != nil {
		return err
	}
	v := binary.LittleEndian.Uint32(rec.value)
	if rec.keyType == inRequiredTimeLock && v < 500000000 {
		return fmt.Errorf("%s is %d, a block height; a time lock is at least 500000000", name, v)
	}
	if rec.keyType == inRequiredHeightLck && (v == 0 || v >= 500000000) {
		return fmt.Errorf("%s is %d; a height lock is between 1 and 499999999", name, v)
	}
	return nil
}

// checkOutputRecordV2 checks one record of a version 2 output map.
func checkOutputRecordV2(rec *record) error {
	switch rec.keyType {
	case outAmount:
		if err := fixedValue(*rec, "PSBT_OUT_AMOUNT", 8); err != nil {
			return err
		}
		if v := int64(binary.LittleEndian.Uint64(rec.value)); v < 0 || v > btcutil.MaxSatoshi {
			return fmt.Errorf("PSBT_OUT_AMOUNT %d is outside 0..21e14 satoshis", v)
		}
		return nil
	case outScript:
		return noKeyData(*rec, "PSBT_OUT_SCRIPT")
	}
	return checkOutputRecord(rec)
}

// buildTx assembles a version 2 PSBT's unsigned transaction from its maps
// and determines its lock time as BIP-370 says.
func (sc *scanned) buildTx() error {
	tx := &wire.MsgTx{}
	for _, rec := range sc.globals {
		if rec.keyType == globalTxVersion {
			tx.Version = int32(binary.LittleEndian.Uint32(rec.value))
		}
	}
	for i, recs := range sc.inputs {
		in := &wire.TxIn{Sequence: wire.MaxTxInSequenceNum}
		var haveTxid, haveIndex bool
		for _, rec := range recs {
			switch rec.keyType {
			case inPreviousTxid:
				copy(in.PreviousOutPoint.Hash[:], rec.value)
				haveTxid = true
			case inOutputIndex:
				in.PreviousOutPoint.Index = binary.LittleEndian.Uint32(rec.value)
				haveIndex = true
			case inSequence:
				in.Sequence = binary.LittleEndian.Uint32(rec.value)
			}
		}
		if !haveTxid {
			return malformed("input %d: a version 2 PSBT must carry PSBT_IN_PREVIOUS_TXID for every input (BIP-370)", i)
		}
		if !haveIndex {
			return malformed("input %d: a version 2 PSBT must carry PSBT_IN_OUTPUT_INDEX for every input (BIP-370)", i)
		}
		tx.TxIn = append(tx.TxIn, in)
	}
	for j, recs := range sc.outputs {
		out := &wire.TxOut{}
		var haveAmount, haveScript bool
		for _, rec := range recs {
			switch rec.keyType {
			case outAmount:
				out.Value = int64(binary.LittleEndian.Uint64(rec.value))
				haveAmount = true
			case outScript:
				out.PkScript = bytes.Clone(rec.value)
				haveScript = true
			}
		}
		if !haveAmount {
			return malformed("output %d: a version 2 PSBT must carry PSBT_OUT_AMOUNT for every output (BIP-370)", j)
		}
		if !haveScript {
			return malformed("output %d: a version 2 PSBT must carry PSBT_OUT_SCRIPT for every output (BIP-370)", j)
		}
		tx.TxOut = append(tx.TxOut, out)
	}
	lt, err := sc.lockTime()
	if err != nil {
		return err
	}
	tx.LockTime = lt
	sc.tx = tx
	return nil
}

// ErrLockTimeConflict means a version 2 PSBT's inputs require lock times of
// both kinds (a height and a time) and no single lock time satisfies them.
var ErrLockTimeConflict = errors.New("the inputs require both a height and a time lock, which no transaction can satisfy")

// lockTime determines a version 2 PSBT's nLockTime (BIP-370): without any
// input requirement, the fallback (default 0); otherwise the largest
// requirement of the one kind every requiring input accepts, heights when
// both kinds are possible.
func (sc *scanned) lockTime() (uint32, error) {
	var fallback uint32
	for _, rec := range sc.globals {
		if rec.keyType == globalFallbackLock {
			fallback = binary.LittleEndian.Uint32(rec.value)
		}
	}
	var maxTime, maxHeight uint32
	heightOK, timeOK, any := true, true, false
	for _, recs := range sc.inputs {
		var hasTime, hasHeight bool
		for _, rec := range recs {
			v := func() uint32 { return binary.LittleEndian.Uint32(rec.value) }
			switch rec.keyType {
			case inRequiredTimeLock:
				hasTime, maxTime = true, max(maxTime, v())
			case inRequiredHeightLck:
				hasHeight, maxHeight = true, max(maxHeight, v())
			}
		}
		if !hasTime && !hasHeight {
			continue
		}
		any = true
		heightOK = heightOK && hasHeight
		timeOK = timeOK && hasTime
	}
	switch {
	case !any:
		return fallback, nil
	case heightOK:
		return maxHeight, nil
	case timeOK:
		return maxTime, nil
	}
	return 0, fmt.Errorf("%w: %w", ErrMalformed, ErrLockTimeConflict)
}

// v0Bytes is the version 0 serialization btcd's parser reads: the global
// unsigned transaction first, the version 2 records that have a version 0
// equivalent left out (they are in the transaction), the others carried
// as unknown records.
func (sc *scanned) v0Bytes() ([]byte, error) {
	var b bytes.Buffer
	b.Write(psbtMagic)
	var tx bytes.Buffer
	if err := sc.tx.SerializeNoWitness(&tx); err != nil {
		return nil, malformed("cannot serialize the unsigned transaction: %v", err)
	}
	writeRecord(&b, []byte{globalUnsignedTx}, tx.Bytes())
	for _, rec := range sc.globals {
		switch {
		case rec.keyType == globalUnsignedTx:
		case sc.version == 2 && rec.keyType == globalVersion:
		case sc.version == 2 && (rec.keyType == globalTxVersion || rec.keyType == globalInputCount || rec.keyType == globalOutputCount):
		default:
			writeRecord(&b, rec.key, rec.value)
		}
	}
	b.WriteByte(0)
	for _, recs := range sc.inputs {
		for _, rec := range recs {
			if sc.version == 2 && (rec.keyType == inPreviousTxid || rec.keyType == inOutputIndex || rec.keyType == inSequence) {
				continue
			}
			writeRecord(&b, rec.key, rec.value)
		}
		b.WriteByte(0)
	}
	for _, recs := range sc.outputs {
		for _, rec := range recs {
			if sc.version == 2 && (rec.keyType == outAmount || rec.keyType == outScript) {
				continue
			}
			writeRecord(&b, rec.key, rec.value)
		}
		b.WriteByte(0)
	}
	return b.Bytes(), nil
}

// inOrder reports whether a version 0 PSBT already has its transaction
// first, so that btcd can read the bytes as they are.
func (sc *scanned) inOrder() bool {
	return sc.version == 0 && len(sc.globals) > 0 && sc.globals[0].keyType == globalUnsignedTx
}

func writeRecord(b *bytes.Buffer, key, value []byte) {
	writeCompactSize(b, uint64(len(key)))
	b.Write(key)
	writeCompactSize(b, uint64(len(value)))
	b.Write(value)
}

func writeCompactSize(b *bytes.Buffer, n uint64) {
	switch {
	case n < 0xfd:
		b.WriteByte(byte(n))
	case n <= 0xffff:
		b.WriteByte(0xfd)
		b.Write(binary.LittleEndian.AppendUint16(nil, uint16(n)))
	case n <= 0xffffffff:
		b.WriteByte(0xfe)
		b.Write(binary.LittleEndian.AppendUint32(nil, uint32(n)))
	default:
		b.WriteByte(0xff)
		b.Write(binary.LittleEndian.AppendUint64(nil, n))
	}
}

// Names of the version 2 key types, for messages.
func globalName(t uint64) string {
	return map[uint64]string{globalTxVersion: "PSBT_GLOBAL_TX_VERSION", globalFallbackLock: "PSBT_GLOBAL_FALLBACK_LOCKTIME",
		globalInputCount: "PSBT_GLOBAL_INPUT_COUNT", globalOutputCount: "PSBT_GLOBAL_OUTPUT_COUNT", globalTxModifiable: "PSBT_GLOBAL_TX_MODIFIABLE"}[t]
}

func inputName(t uint64) string {
	return map[uint64]string{inPreviousTxid: "PSBT_IN_PREVIOUS_TXID", inOutputIndex: "PSBT_IN_OUTPUT_INDEX", inSequence: "PSBT_IN_SEQUENCE",
		inRequiredTimeLock: "PSBT_IN_REQUIRED_TIME_LOCKTIME", inRequiredHeightLck: "PSBT_IN_REQUIRED_HEIGHT_LOCKTIME"}[t]
}

func outputName(t uint64) string {
	return map[uint64]string{outAmount: "PSBT_OUT_AMOUNT", outScript: "PSBT_OUT_SCRIPT"}[t]
}

// serializeV2 writes p as a version 2 PSBT (BIP-370): the global
// transaction becomes PSBT_GLOBAL_TX_VERSION, _FALLBACK_LOCKTIME (the one p
// carries, else the transaction's lock time), _INPUT_COUNT and
// _OUTPUT_COUNT, and each input and output gets its outpoint, sequence,
// amount and script; every other record is written as in version 0.
func serializeV2(p *bpsbt.Packet) ([]byte, error) {
	if err := checkShape(p); err != nil {
		return nil, err
	}
	var v0 bytes.Buffer
	withCarried := *withoutCarried(p)
	withCarried.Unknowns = sortedUnknowns(p.Unknowns, func(uint64) bool { return false })
	for i := range withCarried.Inputs {
		withCarried.Inputs[i].Unknowns = sortedUnknowns(p.Inputs[i].Unknowns, func(uint64) bool { return false })
	}
	if err := withCarried.Serialize(&v0); err != nil {
		return nil, malformed("cannot serialize: %v", err)
	}
	sc, err := scanPSBTCarried(v0.Bytes())
	if err != nil {
		return nil, err
	}
	tx := p.UnsignedTx
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	var b bytes.Buffer
	b.Write(psbtMagic)
	writeRecord(&b, []byte{globalTxVersion}, u32(uint32(tx.Version)))
	fallback := u32(tx.LockTime)
	for _, rec := range sc.globals {
		if rec.keyType == globalFallbackLock {
			fallback = rec.value
		}
	}
	writeRecord(&b, []byte{globalFallbackLock}, fallback)
	for _, c := range []struct {
		t byte
		n int
	}{{globalInputCount, len(tx.TxIn)}, {globalOutputCount, len(tx.TxOut)}} {
		var cnt bytes.Buffer
		writeCompactSize(&cnt, uint64(c.n))
		writeRecord(&b, []byte{c.t}, cnt.Bytes())
	}
	globals := []record{{key: []byte{globalVersion}, value: u32(2)}}
	for _, rec := range sc.globals {
		switch rec.keyType {
		case globalUnsignedTx, globalFallbackLock, globalVersion:
		default:
			globals = append(globals, rec)
		}
	}
	writeSorted(&b, globals)
	for i, recs := range sc.inputs {
		in := tx.TxIn[i]
		recs = append(recs, record{key: []byte{inPreviousTxid}, value: in.PreviousOutPoint.Hash[:]},
			record{key: []byte{inOutputIndex}, value: u32(in.PreviousOutPoint.Index)})
		if in.Sequence != wire.MaxTxInSequenceNum {
			recs = append(recs, record{key: []byte{inSequence}, value: u32(in.Sequence)})
		}
		writeSorted(&b, recs)
	}
	for j, recs := range sc.outputs {
		out := tx.TxOut[j]
		recs = append(recs, record{key: []byte{outAmount}, value: binary.LittleEndian.AppendUint64(nil, uint64(out.Value))},
			record{key: []byte{outScript}, value: out.PkScript})
		writeSorted(&b, recs)
	}
	return b.Bytes(), nil
}

// writeSorted writes one map's records in key order, then its separator.
func writeSorted(b *bytes.Buffer, recs []record) {
	slices.SortStableFunc(recs, func(x, y record) int { return bytes.Compare(x.key, y.key) })
	for _, rec := range recs {
		writeRecord(b, rec.key, rec.value)
	}
	b.WriteByte(0)
}

// scanPSBTCarried splits a version 0 serialization that may hold carried
// version 2 records into its maps, without the version checks.
func scanPSBTCarried(raw []byte) (*scanned, error) {
	r := &byteReader{b: raw, off: len(psbtMagic)}
	sc := &scanned{}
	read := func() ([]record, error) {
		var recs []record
		for {
			rec, end, err := r.next()
			if err != nil {
				return nil, malformed("re-reading the serialization: %v", err)
			}
			if end {
				return recs, nil
			}
			recs = append(recs, rec)
		}
	}
	var err error
	if sc.globals, err = read(); err != nil {
		return nil, err
	}
	for _, rec := range sc.globals {
		if rec.keyType == globalUnsignedTx {
			if sc.tx, err = parseUnsignedTx(rec.value); err != nil {
				return nil, malformed("re-reading the serialization: %v", err)
			}
		}
	}
	if sc.tx == nil {
		return nil, malformed("re-reading the serialization: no unsigned transaction")
	}
	for range sc.tx.TxIn {
		recs, err := read()
		if err != nil {
			return nil, err
		}
		sc.inputs = append(sc.inputs, recs)
	}
	for range sc.tx.TxOut {
		recs, err := read()
		if err != nil {
			return nil, err
		}
		sc.outputs = append(sc.outputs, recs)
	}
	return sc, nil
}
