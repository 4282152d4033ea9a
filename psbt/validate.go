package psbt

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/internal/secp"
)

// psbtMagic opens every serialized PSBT: "psbt" and the 0xff separator.
var psbtMagic = []byte{0x70, 0x73, 0x62, 0x74, 0xff}

// malformed builds an ErrMalformed error with a reason.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// requestError is an invalid request to Build or EstimateVSize: bad input
// like a malformed PSBT (it matches ErrMalformed, exit code 2), but its
// message does not speak of a PSBT.
type requestError struct{ msg string }

func (e *requestError) Error() string { return "invalid request: " + e.msg }
func (e *requestError) Unwrap() error { return ErrMalformed }

func badRequest(format string, args ...any) error {
	return &requestError{msg: fmt.Sprintf(format, args...)}
}

// byteReader walks a serialized PSBT. Every read is bounds-checked so that
// no input, however truncated, can make the scan index out of range.
type byteReader struct {
	b   []byte
	off int
}

func (r *byteReader) remaining() int { return len(r.b) - r.off }

func (r *byteReader) take(n uint64) ([]byte, bool) {
	if n > uint64(r.remaining()) {
		return nil, false
	}
	// Capped, so that an append to a record read from a PSBT can never
	// write over the record after it.
	s := r.b[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return s, true
}

// compactSize reads a Bitcoin compact size integer and insists on its
// shortest encoding, as BIP-174 requires for key types and as Bitcoin Core
// requires for every length.
func (r *byteReader) compactSize() (uint64, error) {
	head, ok := r.take(1)
	if !ok {
		return 0, errors.New("unexpected end of data")
	}
	var v, min uint64
	switch head[0] {
	case 0xfd:
		b, ok := r.take(2)
		if !ok {
			return 0, errors.New("unexpected end of data in a compact size")
		}
		v, min = uint64(binary.LittleEndian.Uint16(b)), 0xfd
	case 0xfe:
		b, ok := r.take(4)
		if !ok {
			return 0, errors.New("unexpected end of data in a compact size")
		}
		v, min = uint64(binary.LittleEndian.Uint32(b)), 0x10000
	case 0xff:
		b, ok := r.take(8)
		if !ok {
			return 0, errors.New("unexpected end of data in a compact size")
		}
		v, min = binary.LittleEndian.Uint64(b), 0x100000000
	default:
		return uint64(head[0]), nil
	}
	if v < min {
		return 0, errors.New("compact size is not minimally encoded")
	}
	return v, nil
}

// record is one key-value pair of a map, with the key split into its type
// and key data.
type record struct {
	key     []byte // the whole key: type and key data
	keyType uint64
	keyData []byte
	value   []byte
	tx      *wire.MsgTx // a non_witness_utxo's transaction, parsed by the scan
}

// next reads one record; end reports the 0x00 separator that closes a map.
func (r *byteReader) next() (rec record, end bool, err error) {
	keyLen, err := r.compactSize()
	if err != nil {
		return rec, false, fmt.Errorf("key length: %v", err)
	}
	if keyLen == 0 {
		return rec, true, nil
	}
	if keyLen > maxKeyLength {
		return rec, false, fmt.Errorf("key of %d bytes exceeds the %d-byte limit", keyLen, maxKeyLength)
	}
	key, ok := r.take(keyLen)
	if !ok {
		return rec, false, fmt.Errorf("key of %d bytes runs past the end of the data", keyLen)
	}
	kr := byteReader{b: key}
	keyType, err := kr.compactSize()
	if err != nil {
		return rec, false, fmt.Errorf("key type: %v", err)
	}
	valLen, err := r.compactSize()
	if err != nil {
		return rec, false, fmt.Errorf("value length of key type 0x%02x: %v", keyType, err)
	}
	if valLen > maxValueLength {
		return rec, false, fmt.Errorf("value of key type 0x%02x is %d bytes, above the %d-byte limit", keyType, valLen, maxValueLength)
	}
	value, ok := r.take(valLen)
	if !ok {
		return rec, false, fmt.Errorf("value of key type 0x%02x claims %d bytes but only %d remain", keyType, valLen, r.remaining())
	}
	return record{key: key, keyType: keyType, keyData: key[kr.off:], value: value}, false, nil
}

// scanMaps reads n input or output maps (what names them in errors, and
// perMap is room for the records a map usually has), each up to its
// separator, refusing duplicate keys and records that break
// their type's format. A sweep has thousands of maps of about ten records
// each: their records share one slice (each map's capped, so appending to
// one cannot overwrite the next), and duplicates are found by comparing
// keys, with an index only for a map of many records, instead of a slice
// and an index per map, which were most of decoding's allocations.
func scanMaps(r *byteReader, n, perMap int, check func(*record) error, what string) ([][]record, error) {
	all := make([]record, 0, perMap*n)
	bounds := make([]int, n+1)
	var seen map[string]struct{}
	for i := range n {
		if r.remaining() == 0 {
			return nil, malformed("%s %d: map is missing: the data ends before every input and output of the unsigned transaction has its map", what, i)
		}
		start := len(all)
		indexed := false
		for {
			rec, end, err := r.next()
			if err != nil {
				return nil, malformed("%s %d: %v", what, i, err)
			}
			if end {
				break
			}
			if len(all)-start == linearKeyCheck && !indexed {
				// Past a few records, comparing each new key with all the
				// others would grow with the square of a hostile map.
				if seen == nil {
					seen = make(map[string]struct{})
				}
				clear(seen)
				for k := start; k < len(all); k++ {
					seen[string(all[k].key)] = struct{}{}
				}
				indexed = true
			}
			dup := false
			if indexed {
				_, dup = seen[string(rec.key)]
				seen[string(rec.key)] = struct{}{}
			} else {
				for k := start; k < len(all) && !dup; k++ {
					dup = bytes.Equal(all[k].key, rec.key)
				}
			}
			if dup {
				return nil, malformed("%s %d: duplicate key %x (BIP-174: keys in a map must be unique)", what, i, rec.key)
			}
			all = append(all, rec)
			if err := check(&all[len(all)-1]); err != nil {
				return nil, malformed("%s %d: %v", what, i, err)
			}
		}
		bounds[i+1] = len(all)
	}
	maps := make([][]record, n)
	for i := range n {
		maps[i] = all[bounds[i]:bounds[i+1]:bounds[i+1]]
	}
	return maps, nil
}

// linearKeyCheck is how many records of a map are checked for a duplicate
// key by comparison before an index is built.
const linearKeyCheck = 16

func checkGlobalRecord(rec record) error {
	switch rec.keyType {
	case globalUnsignedTx:
		return noKeyData(rec, "unsigned transaction")
	case globalXpub:
		if len(rec.keyData) != xpubSerializedBytes {
			return fmt.Errorf("global xpub key data is %d bytes; a serialized BIP-32 extended key is %d", len(rec.keyData), xpubSerializedBytes)
		}
		if !validPubKey(rec.keyData[45:]) {
			return errors.New("global xpub does not hold a valid compressed public key")
		}
		return checkKeyOrigin(rec.value, "global xpub")
	case globalTxVersion, globalFallbackLock, globalInputCount, globalOutputCount, globalTxModifiable:
		return fmt.Errorf("key type 0x%02x (%s) belongs to PSBT version 2 and is not allowed in a version 0 PSBT", rec.keyType, globalName(rec.keyType))
	case globalVersion:
		if _, err := versionOf(rec); err != nil {
			return err
		}
	case globalProprietary:
		return checkProprietary(rec)
	}
	return nil
}

// checkInputRecord checks one record of a version 0 input map. A
// non_witness_utxo is parsed to be checked; the transaction is kept in the
// record for the Packet builder.
func checkInputRecord(rec *record) error {
	switch rec.keyType {
	case inNonWitnessUtxo:
		if err := noKeyData(*rec, "non_witness_utxo"); err != nil {
			return err
		}
		tx, err := parseFullTx(rec.value)
		if err != nil {
			return fmt.Errorf("non_witness_utxo: %v", err)
		}
		rec.tx = tx
	case inWitnessUtxo:
		if err := noKeyData(*rec, "witness_utxo"); err != nil {
			return err
		}
		if _, err := parseTxOut(rec.value); err != nil {
			return fmt.Errorf("witness_utxo: %v", err)
		}
	case inPartialSig:
		// btcd's parser checks that the key is on the curve; the encoding
		// is checked here because btcd also accepts hybrid (06/07) keys.
		if !pubKeyEncoding(rec.keyData) {
			return fmt.Errorf("partial signature key data is not a valid public key (%d bytes)", len(rec.keyData))
		}
		if !strictDER(rec.value) {
			return fmt.Errorf("partial signature for pubkey %x is not a strict DER signature followed by a sighash byte (BIP-66)", rec.keyData)
		}
	case inSighashType:
		if err := noKeyData(*rec, "sighash type"); err != nil {
			return err
		}
		if len(rec.value) != 4 {
			return fmt.Errorf("sighash type value is %d bytes; it must be a 4-byte integer", len(rec.value))
		}
	case inRedeemScript:
		return noKeyData(*rec, "redeem script")
	case inWitnessScript:
		return noKeyData(*rec, "witness script")
	case inBip32Derivation:
		if !pubKeyEncoding(rec.keyData) {
			return fmt.Errorf("BIP-32 derivation key data is not a valid public key (%d bytes)", len(rec.keyData))
		}
		return checkKeyOrigin(rec.value, "BIP-32 derivation")
	case inFinalScriptSig:
		return noKeyData(*rec, "final scriptSig")
	case inFinalScriptWit:
		if err := noKeyData(*rec, "final scriptWitness"); err != nil {
			return err
		}
		if _, err := parseWitness(rec.value); err != nil {
			return fmt.Errorf("final scriptWitness: %v", err)
		}
	case inPorCommitment:
		return noKeyData(*rec, "proof-of-reserves commitment")
	case inRipemd160, inHash160:
		if len(rec.keyData) != 20 {
			return fmt.Errorf("hash preimage key (type 0x%02x) holds %d bytes; it must be a 20-byte hash", rec.keyType, len(rec.keyData))
		}
		// RIPEMD160 alone is not available from the btcd libraries, so only
		// HASH160 preimages are checked against their hash.
		if rec.keyType == inHash160 && !bytes.Equal(btcutil.Hash160(rec.value), rec.keyData) {
			return errors.New("HASH160 preimage does not hash to its key")
		}
	case inSha256, inHash256:
		if len(rec.keyData) != 32 {
			return fmt.Errorf("hash preimage key (type 0x%02x) holds %d bytes; it must be a 32-byte hash", rec.keyType, len(rec.keyData))
		}
		h := sha256.Sum256(rec.value)
		if rec.keyType == inHash256 {
			h = sha256.Sum256(h[:])
		}
		if !bytes.Equal(h[:], rec.keyData) {
			return fmt.Errorf("hash preimage (type 0x%02x) does not hash to its key", rec.keyType)
		}
	case inPreviousTxid, inOutputIndex, inSequence, inRequiredTimeLock, inRequiredHeightLck:
		return fmt.Errorf("key type 0x%02x (%s) belongs to PSBT version 2 and is not allowed in a version 0 PSBT", rec.keyType, inputName(rec.keyType))
	case inTapKeySig:
		if err := noKeyData(*rec, "taproot key signature"); err != nil {
			return err
		}
		return checkSchnorrSig(rec.value)
	case inTapScriptSig:
		if len(rec.keyData) != 64 || !validXOnly(rec.keyData[:32]) {
			return errors.New("taproot script signature key must be a 32-byte x-only pubkey and a 32-byte leaf hash")
		}
		return checkSchnorrSig(rec.value)
	case inTapLeafScript:
		n := len(rec.keyData)
		if n < 33 || (n-33)%32 != 0 || (n-33)/32 > 128 {
			return fmt.Errorf("taproot control block of %d bytes is not 33 + 32k bytes (k <= 128)", n)
		}
		if len(rec.value) < 1 {
			return errors.New("taproot leaf script value lacks its leaf version byte")
		}
	case inTapBip32:
		if len(rec.keyData) != 32 || !validXOnly(rec.keyData) {
			return errors.New("taproot BIP-32 derivation key must be a valid 32-byte x-only pubkey")
		}
		return checkTapDerivation(rec.value)
	case inTapInternalKey:
		if err := noKeyData(*rec, "taproot internal key"); err != nil {
			return err
		}
		if len(rec.value) != 32 || !validXOnly(rec.value) {
			return errors.New("taproot internal key must be a valid 32-byte x-only pubkey")
		}
	case inTapMerkleRoot:
		if err := noKeyData(*rec, "taproot merkle root"); err != nil {
			return err
		}
		if len(rec.value) != 32 {
			return fmt.Errorf("taproot merkle root is %d bytes; it must be 32", len(rec.value))
		}
	case inProprietary:
		return checkProprietary(*rec)
	}
	return nil
}

func checkOutputRecord(rec *record) error {
	switch rec.keyType {
	case outRedeemScript:
		return noKeyData(*rec, "output redeem script")
	case outWitnessScript:
		return noKeyData(*rec, "output witness script")
	case outBip32Derivation:
		if !pubKeyEncoding(rec.keyData) {
			return fmt.Errorf("output BIP-32 derivation key data is not a valid public key (%d bytes)", len(rec.keyData))
		}
		return checkKeyOrigin(rec.value, "output BIP-32 derivation")
	case outAmount, outScript:
		return fmt.Errorf("key type 0x%02x (%s) belongs to PSBT version 2 and is not allowed in a version 0 PSBT", rec.keyType, outputName(rec.keyType))
	case outTapInternalKey:
		if err := noKeyData(*rec, "taproot internal key"); err != nil {
			return err
		}
		if len(rec.value) != 32 || !validXOnly(rec.value) {
			return errors.New("taproot internal key must be a valid 32-byte x-only pubkey")
		}
	case outTapTree:
		if err := noKeyData(*rec, "taproot tree"); err != nil {
			return err
		}
		return checkTapTree(rec.value)
	case outTapBip32:
		if len(rec.keyData) != 32 || !validXOnly(rec.keyData) {
			return errors.New("taproot BIP-32 derivation key must be a valid 32-byte x-only pubkey")
		}
		return checkTapDerivation(rec.value)
	case outProprietary:
		return checkProprietary(*rec)
	}
	return nil
}

func noKeyData(rec record, name string) error {
	if len(rec.keyData) != 0 {
		return fmt.Errorf("%s key (type 0x%02x) carries %d bytes of key data; BIP-174 defines it with none", name, rec.keyType, len(rec.keyData))
	}
	return nil
}

// checkKeyOrigin checks a <4-byte fingerprint> <32-bit index>* value.
func checkKeyOrigin(v []byte, name string) error {
	if len(v) < 4 || len(v)%4 != 0 {
		return fmt.Errorf("%s value is %d bytes; it must be a 4-byte fingerprint followed by 4-byte path elements", name, len(v))
	}
	return nil
}

func checkProprietary(rec record) error {
	kr := byteReader{b: rec.keyData}
	n, err := kr.compactSize()
	if err != nil {
		return fmt.Errorf("proprietary key: identifier length: %v", err)
	}
	if _, ok := kr.take(n); !ok {
		return errors.New("proprietary key: identifier runs past the end of the key")
	}
	if _, err := kr.compactSize(); err != nil {
		return fmt.Errorf("proprietary key: subtype: %v", err)
	}
	return nil
}

func checkSchnorrSig(v []byte) error {
	if len(v) != 64 && len(v) != 65 {
		return fmt.Errorf("schnorr signature is %d bytes; it must be 64 or 65", len(v))
	}
	return nil
}

func checkTapDerivation(v []byte) error {
	r := byteReader{b: v}
	n, err := r.compactSize()
	if err != nil {
		return fmt.Errorf("taproot BIP-32 derivation: leaf hash count: %v", err)
	}
	if n > uint64(len(v))/32 {
		return errors.New("taproot BIP-32 derivation: more leaf hashes than the value holds")
	}
	if _, ok := r.take(n * 32); !ok {
		return errors.New("taproot BIP-32 derivation: leaf hashes run past the end of the value")
	}
	return checkKeyOrigin(r.b[r.off:], "taproot BIP-32 derivation")
}

func checkTapTree(v []byte) error {
	if len(v) == 0 {
		return errors.New("taproot tree is empty")
	}
	r := byteReader{b: v}
	for r.remaining() > 0 {
		if _, ok := r.take(2); !ok {
			return errors.New("taproot tree: truncated leaf (depth and leaf version)")
		}
		n, err := r.compactSize()
		if err != nil {
			return fmt.Errorf("taproot tree: script length: %v", err)
		}
		if _, ok := r.take(n); !ok {
			return errors.New("taproot tree: leaf script runs past the end of the value")
		}
	}
	return nil
}

// validPubKey accepts the two public key encodings script uses: 33-byte
// compressed (02/03) and 65-byte uncompressed (04), on the curve.
func validPubKey(b []byte) bool { return secp.ValidPubKey(b) }

// curveLater is the curve check for keys btcd's parser has already
// put on the curve.
func curveLater([]byte) bool { return true }

// pubKeyEncoding checks only the length and prefix of a public key.
func pubKeyEncoding(b []byte) bool {
	return (len(b) == 33 && (b[0] == 0x02 || b[0] == 0x03)) || (len(b) == 65 && b[0] == 0x04)
}

func validXOnly(b []byte) bool {
	_, err := schnorr.ParsePubKey(b)
	return err == nil
}

// strictDER reports whether sig (with its trailing sighash byte) follows
// the BIP-66 strict DER rules that consensus enforces: a sequence of two
// positive, minimally encoded integers whose lengths add up exactly.
func strictDER(sig []byte) bool {
	// 0x30 len 0x02 lenR R 0x02 lenS S hashtype: 9 to 73 bytes.
	if len(sig) < 9 || len(sig) > 73 {
		return false
	}
	if sig[0] != 0x30 || int(sig[1]) != len(sig)-3 {
		return false
	}
	lenR := int(sig[3])
	if 5+lenR >= len(sig) {
		return false
	}
	lenS := int(sig[5+lenR])
	if lenR+lenS+7 != len(sig) {
		return false
	}
	if !derInteger(sig[2], sig[4:4+lenR]) {
		return false
	}
	return derInteger(sig[4+lenR], sig[6+lenR:6+lenR+lenS])
}

// derInteger checks one INTEGER of a DER signature: its tag, that it is not
// empty or negative, and that it has no superfluous leading zero.
func derInteger(tag byte, n []byte) bool {
	if tag != 0x02 || len(n) == 0 || n[0]&0x80 != 0 {
		return false
	}
	return !(len(n) > 1 && n[0] == 0x00 && n[1]&0x80 == 0)
}

// parseUnsignedTx decodes the global unsigned transaction: non-witness
// serialization, empty scriptSigs, and no bytes left over. A transaction in
// witness serialization fails the last check, as Bitcoin Core's does.
func parseUnsignedTx(v []byte) (*wire.MsgTx, error) {
	tx := &wire.MsgTx{}
	rd := bytes.NewReader(v)
	if err := tx.DeserializeNoWitness(rd); err != nil {
		return nil, fmt.Errorf("cannot decode it: %v", err)
	}
	if rd.Len() != 0 {
		hint := ""
		if len(tx.TxIn) == 0 {
			hint = " (is it in witness serialization? BIP-174 requires the old format without witnesses)"
		}
		return nil, fmt.Errorf("%d bytes are left after the transaction: the value is not the stated size%s", rd.Len(), hint)
	}
	for i, in := range tx.TxIn {
		if len(in.SignatureScript) != 0 {
			return nil, fmt.Errorf("input %d has a scriptSig; the unsigned transaction must have empty scriptSigs", i)
		}
	}
	return tx, nil
}

// parseFullTx decodes a previous transaction (non_witness_utxo), which may
// be in witness serialization, and insists on the canonical encoding.
func parseFullTx(v []byte) (*wire.MsgTx, error) {
	tx := &wire.MsgTx{}
	rd := bytes.NewReader(v)
	if err := tx.Deserialize(rd); err != nil {
		return nil, fmt.Errorf("cannot decode the transaction: %v", err)
	}
	if rd.Len() != 0 {
		return nil, fmt.Errorf("%d bytes are left after the transaction: the value is not the stated size", rd.Len())
	}
	if len(tx.TxIn) == 0 || len(tx.TxOut) == 0 {
		return nil, errors.New("a transaction needs at least one input and one output")
	}
	// In witness serialization the input count is replaced by the 0x00
	// marker; a witness flag without any witness is not canonical (Bitcoin
	// Core refuses it as a superfluous witness record).
	if len(v) > 4 && v[4] == 0x00 && !tx.HasWitness() {
		return nil, errors.New("witness serialization without any witness (superfluous witness record)")
	}
	return tx, nil
}

// parseTxOut decodes a serialized transaction output and checks that the
// script length matches the bytes present. btcd's own reader skips the
// length prefix and assumes it is one byte.
func parseTxOut(v []byte) (*wire.TxOut, error) {
	if len(v) < 9 {
		return nil, fmt.Errorf("%d bytes is too short for an amount and a script length", len(v))
	}
	value := int64(binary.LittleEndian.Uint64(v[:8]))
	r := byteReader{b: v, off: 8}
	n, err := r.compactSize()
	if err != nil {
		return nil, fmt.Errorf("script length: %v", err)
	}
	script, ok := r.take(n)
	if !ok || r.remaining() != 0 {
		return nil, fmt.Errorf("script length %d does not match the %d bytes present", n, len(v)-r.off)
	}
	if value < 0 || value > btcutil.MaxSatoshi {
		return nil, fmt.Errorf("amount %d is outside 0..21e14 satoshis", value)
	}
	return wire.NewTxOut(value, bytes.Clone(script)), nil
}

// parseWitness decodes a serialized witness stack and checks that it uses
// every byte.
func parseWitness(v []byte) (wire.TxWitness, error) {
	r := byteReader{b: v}
	n, err := r.compactSize()
	if err != nil {
		return nil, fmt.Errorf("item count: %v", err)
	}
	if n > uint64(len(v)) {
		return nil, fmt.Errorf("claims %d items in %d bytes", n, len(v))
	}
	wit := make(wire.TxWitness, 0, n)
	for i := uint64(0); i < n; i++ {
		l, err := r.compactSize()
		if err != nil {
			return nil, fmt.Errorf("item %d length: %v", i, err)
		}
		item, ok := r.take(l)
		if !ok {
			return nil, fmt.Errorf("item %d runs past the end", i)
		}
		wit = append(wit, bytes.Clone(item))
	}
	if r.remaining() != 0 {
		return nil, fmt.Errorf("%d bytes left after the last item", r.remaining())
	}
	return wit, nil
}

// Validate checks an in-memory packet against the BIP-174 version 0 rules
// that btcd's Packet type can express: one map per transaction input and
// output, an unsigned transaction without scriptSigs or witnesses, valid
// public keys and no duplicate keys in partial signatures and BIP-32
// derivations, strict-DER partial signatures, a decodable final
// scriptWitness, well-formed global records (xpubs, PSBT version 0) and no
// version 2 records. Decode runs it on every packet; Combine runs it on the
// PSBTs it is given; call it on packets that come from elsewhere (a
// signer's reply). Errors wrap ErrMalformed.
func Validate(p *bpsbt.Packet) error { return validate(p, validPubKey) }

// validate is Validate with onCurve checking that a partial-signature or
// BIP-32 key (whose encoding is checked here) is a point: a Memo's
// validKey, which knows the keys a wallet derived or a signature verified
// against; or curveLater when that is done elsewhere. Checking a key costs a field square root, so checking
// each one once matters for a PSBT with thousands.
func validate(p *bpsbt.Packet, onCurve func([]byte) bool) error {
	if p == nil || p.UnsignedTx == nil {
		return malformed("no unsigned transaction")
	}
	tx := p.UnsignedTx
	if len(p.Inputs) != len(tx.TxIn) {
		return malformed("%d input maps for %d transaction inputs", len(p.Inputs), len(tx.TxIn))
	}
	if len(p.Outputs) != len(tx.TxOut) {
		return malformed("%d output maps for %d transaction outputs", len(p.Outputs), len(tx.TxOut))
	}
	if err := checkTransaction(tx); err != nil {
		return err
	}
	seen := make(map[string]bool, len(p.Unknowns))
	for _, u := range p.Unknowns {
		if u == nil || len(u.Key) == 0 {
			return malformed("global map: empty key")
		}
		if seen[string(u.Key)] {
			return malformed("global map: duplicate key %x", u.Key)
		}
		seen[string(u.Key)] = true
		rec, err := recordOf(u.Key, u.Value)
		if err != nil {
			return malformed("global map: %v", err)
		}
		if rec.keyType == globalUnsignedTx {
			return malformed("global map: a second unsigned transaction record")
		}
		if err := checkGlobalUnknown(rec); err != nil {
			return malformed("global map: %v", err)
		}
	}
	for i := range p.Inputs {
		if err := validateInput(&p.Inputs[i], onCurve); err != nil {
			return malformed("input %d: %v", i, err)
		}
		if err := checkNonWitnessUtxo(&p.Inputs[i], tx.TxIn[i].PreviousOutPoint); err != nil {
			return malformed("input %d: %v", i, err)
		}
	}
	for i := range p.Outputs {
		if err := validateOutput(&p.Outputs[i], onCurve); err != nil {
			return malformed("output %d: %v", i, err)
		}
	}
	return nil
}

// checkTransaction holds the unsigned transaction to what any valid
// transaction must be, whatever wallet it comes from (Bitcoin Core's
// CheckTransaction): empty scriptSigs and witnesses, no outpoint spent
// twice, amounts within 0..21e14 satoshis in total.
func checkTransaction(tx *wire.MsgTx) error {
	seen := make(map[wire.OutPoint]int, len(tx.TxIn))
	for i, in := range tx.TxIn {
		if len(in.SignatureScript) != 0 || len(in.Witness) != 0 {
			return malformed("input %d of the unsigned transaction carries a scriptSig or witness; it must be empty", i)
		}
		if j, ok := seen[in.PreviousOutPoint]; ok {
			return malformed("inputs %d and %d both spend %s: a transaction cannot spend one output twice", j, i, in.PreviousOutPoint)
		}
		seen[in.PreviousOutPoint] = i
	}
	var total int64
	for j, out := range tx.TxOut {
		if out.Value < 0 || out.Value > btcutil.MaxSatoshi {
			return malformed("output %d pays %d satoshis, outside 0..21e14", j, out.Value)
		}
		total += out.Value
		if total > btcutil.MaxSatoshi {
			return malformed("the outputs pay more than 21 million bitcoin in total")
		}
	}
	return nil
}

// checkNonWitnessUtxo refuses a previous transaction that is not the one
// the input spends, as Bitcoin Core's decoder does: it is not this input's
// UTXO record at all.
func checkNonWitnessUtxo(in *bpsbt.PInput, op wire.OutPoint) error {
	if in.NonWitnessUtxo == nil {
		return nil
	}
	if h := in.NonWitnessUtxo.TxHash(); h != op.Hash {
		return fmt.Errorf("non_witness_utxo is transaction %s but the input spends %s", h, op.Hash)
	}
	if int(op.Index) >= len(in.NonWitnessUtxo.TxOut) {
		return fmt.Errorf("the input spends output %d but non_witness_utxo %s has only %d outputs", op.Index, op.Hash, len(in.NonWitnessUtxo.TxOut))
	}
	return nil
}

// validSighash reports the sighash types a signature can commit to:
// ALL, NONE, SINGLE, each with ANYONECANPAY, and taproot's DEFAULT (0).
// Anything else is not a sighash type (rust-bitcoin refuses it on decode).
func validSighash(t txscript.SigHashType) bool {
	switch t &^ txscript.SigHashAnyOneCanPay {
	case txscript.SigHashAll, txscript.SigHashNone, txscript.SigHashSingle:
		return true
	}
	return t == txscript.SigHashDefault
}

// recordOf splits an unknown record's key into type and key data.
func recordOf(key, value []byte) (record, error) {
	kr := byteReader{b: key}
	kt, err := kr.compactSize()
	if err != nil {
		return record{}, fmt.Errorf("key type: %v", err)
	}
	return record{key: key, keyType: kt, keyData: key[kr.off:], value: value}, nil
}

func validateInput(in *bpsbt.PInput, onCurve func([]byte) bool) error {
	if in.NonWitnessUtxo != nil && (len(in.NonWitnessUtxo.TxIn) == 0 || len(in.NonWitnessUtxo.TxOut) == 0) {
		return errors.New("non_witness_utxo: a transaction needs at least one input and one output")
	}
	if in.WitnessUtxo != nil && (in.WitnessUtxo.Value < 0 || in.WitnessUtxo.Value > btcutil.MaxSatoshi) {
		return fmt.Errorf("witness_utxo amount %d is outside 0..21e14 satoshis", in.WitnessUtxo.Value)
	}
	if in.SighashType != 0 && !validSighash(in.SighashType) {
		return fmt.Errorf("sighash type 0x%x is not a sighash type (ALL, NONE, SINGLE, optionally with ANYONECANPAY)", uint32(in.SighashType))
	}
	sigKeys := make(map[string]bool, len(in.PartialSigs))
	for _, ps := range in.PartialSigs {
		if ps == nil || !pubKeyEncoding(ps.PubKey) || !onCurve(ps.PubKey) {
			return errors.New("partial signature with an invalid public key")
		}
		if sigKeys[string(ps.PubKey)] {
			return fmt.Errorf("two partial signatures for pubkey %x", ps.PubKey)
		}
		sigKeys[string(ps.PubKey)] = true
		if !strictDER(ps.Signature) {
			return fmt.Errorf("partial signature for pubkey %x is not strict DER with a sighash byte", ps.PubKey)
		}
		if st := txscript.SigHashType(ps.Signature[len(ps.Signature)-1]); !validSighash(st) || st == txscript.SigHashDefault {
			return fmt.Errorf("partial signature for pubkey %x ends in 0x%02x, which is not a sighash type", ps.PubKey, byte(st))
		}
	}
	if err := validateDerivations(in.Bip32Derivation, onCurve); err != nil {
		return err
	}
	if in.FinalScriptWitness != nil {
		if _, err := parseWitness(in.FinalScriptWitness); err != nil {
			return fmt.Errorf("final scriptWitness: %v", err)
		}
	}
	return validateUnknowns(in.Unknowns, checkInputUnknown)
}

// checkGlobalUnknown checks a global record btcd keeps as unknown,
// allowing the version 2 fields a Packet carries (see scan.go).
func checkGlobalUnknown(rec record) error {
	switch rec.keyType {
	case globalFallbackLock:
		return fixedValue(rec, "PSBT_GLOBAL_FALLBACK_LOCKTIME", 4)
	case globalTxModifiable:
		return fixedValue(rec, "PSBT_GLOBAL_TX_MODIFIABLE", 1)
	}
	return checkGlobalRecord(rec)
}

// checkInputUnknown is checkInputRecord allowing the carried version 2
// lock time requirements.
func checkInputUnknown(rec *record) error {
	if carriedInput(rec.keyType) {
		return checkRequiredLock(*rec)
	}
	return checkInputRecord(rec)
}

func validateOutput(out *bpsbt.POutput, onCurve func([]byte) bool) error {
	if err := validateDerivations(out.Bip32Derivation, onCurve); err != nil {
		return err
	}
	return validateUnknowns(out.Unknowns, checkOutputRecord)
}

func validateDerivations(ds []*bpsbt.Bip32Derivation, onCurve func([]byte) bool) error {
	keys := make(map[string]bool, len(ds))
	for _, d := range ds {
		if d == nil || !pubKeyEncoding(d.PubKey) || !onCurve(d.PubKey) {
			return errors.New("BIP-32 derivation with an invalid public key")
		}
		if keys[string(d.PubKey)] {
			return fmt.Errorf("two BIP-32 derivations for pubkey %x", d.PubKey)
		}
		keys[string(d.PubKey)] = true
	}
	return nil
}

// validateUnknowns checks the records btcd keeps without interpreting
// (preimages, version 2 types, proprietary records) as the scan does.
func validateUnknowns(us []*bpsbt.Unknown, check func(*record) error) error {
	keys := make(map[string]bool, len(us))
	for _, u := range us {
		if u == nil || len(u.Key) == 0 {
			return errors.New("unknown record with an empty key")
		}
		if keys[string(u.Key)] {
			return fmt.Errorf("duplicate key %x", u.Key)
		}
		keys[string(u.Key)] = true
		rec, err := recordOf(u.Key, u.Value)
		if err != nil {
			return err
		}
		if err := check(&rec); err != nil {
			return err
		}
	}
	return nil
}
