package jade

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/wire"
)

// The emulator reads and writes PSBTs (BIP-174, version 0) itself, with
// wire only for the transactions inside: it must not share the PSBT code of
// the driver it is there to test. Every key-value pair is kept as it came,
// in its order, so the PSBT goes back to the host exactly as received plus
// the signatures, as the firmware's libwally round trip does.

// PSBT key types the emulator reads (BIP-174).
const (
	globalUnsignedTx = 0x00
	globalVersion    = 0xFB

	inNonWitnessUtxo  = 0x00
	inWitnessUtxo     = 0x01
	inPartialSig      = 0x02
	inSighashType     = 0x03
	inRedeemScript    = 0x04
	inWitnessScript   = 0x05
	inBip32Derivation = 0x06

	outRedeemScript    = 0x00
	outWitnessScript   = 0x01
	outBip32Derivation = 0x02
)

var psbtMagic = []byte{'p', 's', 'b', 't', 0xff}

// maxPSBTFieldLen bounds one key or value: nothing in a PSBT the firmware
// accepts comes near it, and it keeps a lying length from allocating.
const maxPSBTFieldLen = MaxInputMessage

// kv is one key-value pair of a PSBT map.
type kv struct{ key, value []byte }

type psbtMap []kv

// get returns the value of the pair whose key is exactly key.
func (m psbtMap) get(key ...byte) ([]byte, bool) {
	for _, e := range m {
		if bytes.Equal(e.key, key) {
			return e.value, true
		}
	}
	return nil, false
}

// set replaces the value of key, or appends the pair.
func (m *psbtMap) set(key, value []byte) {
	for i := range *m {
		if bytes.Equal((*m)[i].key, key) {
			(*m)[i].value = value
			return
		}
	}
	*m = append(*m, kv{key: key, value: value})
}

// packet is a parsed PSBT.
type packet struct {
	global  psbtMap
	tx      *wire.MsgTx
	inputs  []psbtMap
	outputs []psbtMap
}

func readCompact(r *bytes.Reader) (uint64, error) {
	return wire.ReadVarInt(r, 0)
}

func readMap(r *bytes.Reader) (psbtMap, error) {
	var m psbtMap
	seen := map[string]bool{}
	for {
		kl, err := readCompact(r)
		if err != nil {
			return nil, err
		}
		if kl == 0 {
			return m, nil
		}
		if kl > maxPSBTFieldLen || kl > uint64(r.Len()) {
			return nil, errors.New("key length beyond the data")
		}
		key := make([]byte, kl)
		if _, err := io.ReadFull(r, key); err != nil {
			return nil, err
		}
		vl, err := readCompact(r)
		if err != nil {
			return nil, err
		}
		if vl > maxPSBTFieldLen || vl > uint64(r.Len()) {
			return nil, errors.New("value length beyond the data")
		}
		value := make([]byte, vl)
		if _, err := io.ReadFull(r, value); err != nil {
			return nil, err
		}
		if seen[string(key)] {
			return nil, fmt.Errorf("duplicate key %x", key)
		}
		seen[string(key)] = true
		m = append(m, kv{key: key, value: value})
	}
}

// parsePSBT reads a version 0 PSBT with the checks the firmware's strict
// libwally parse makes on what it uses: the unsigned transaction with empty
// scriptSigs and witnesses, one map per input and output, no trailing data,
// key sizes of the types read below, and previous transactions that are
// the ones the inputs spend.
func parsePSBT(b []byte) (*packet, error) {
	if !bytes.HasPrefix(b, psbtMagic) {
		return nil, errors.New("not a PSBT")
	}
	r := bytes.NewReader(b[len(psbtMagic):])
	var p packet
	var err error
	if p.global, err = readMap(r); err != nil {
		return nil, fmt.Errorf("global map: %w", err)
	}
	if v, ok := p.global.get(globalVersion); ok {
		if len(v) != 4 || binary.LittleEndian.Uint32(v) != 0 {
			return nil, errors.New("only PSBT version 0 is emulated")
		}
	}
	raw, ok := p.global.get(globalUnsignedTx)
	if !ok {
		return nil, errors.New("no unsigned transaction")
	}
	var tx wire.MsgTx
	if err := tx.DeserializeNoWitness(bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("unsigned transaction: %w", err)
	}
	if len(tx.TxIn) == 0 || len(tx.TxOut) == 0 || tx.SerializeSizeStripped() != len(raw) {
		return nil, errors.New("unsigned transaction without inputs or outputs, or with trailing bytes")
	}
	for _, in := range tx.TxIn {
		if len(in.SignatureScript) > 0 || len(in.Witness) > 0 {
			return nil, errors.New("unsigned transaction has a scriptSig")
		}
	}
	p.tx = &tx
	for i := range tx.TxIn {
		m, err := readMap(r)
		if err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
		p.inputs = append(p.inputs, m)
	}
	for i := range tx.TxOut {
		m, err := readMap(r)
		if err != nil {
			return nil, fmt.Errorf("output %d: %w", i, err)
		}
		p.outputs = append(p.outputs, m)
	}
	if r.Len() != 0 {
		return nil, errors.New("trailing bytes after the last output")
	}
	for i := range p.inputs {
		if err := p.checkInput(i); err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
	}
	for i := range p.outputs {
		for _, e := range p.outputs[i] {
			if e.key[0] == outBip32Derivation {
				if _, _, err := parseDerivation(e); err != nil {
					return nil, fmt.Errorf("output %d: %w", i, err)
				}
			}
		}
	}
	return &p, nil
}

// checkInput validates the fields of input i the signer relies on.
func (p *packet) checkInput(i int) error {
	m := p.inputs[i]
	op := p.tx.TxIn[i].PreviousOutPoint
	var nwOut *wire.TxOut
	if v, ok := m.get(inNonWitnessUtxo); ok {
		var prev wire.MsgTx
		if err := prev.Deserialize(bytes.NewReader(v)); err != nil {
			return fmt.Errorf("non_witness_utxo: %w", err)
		}
		if prev.TxHash() != op.Hash || int(op.Index) >= len(prev.TxOut) {
			return errors.New("non_witness_utxo is not the transaction the input spends")
		}
		nwOut = prev.TxOut[op.Index]
	}
	if v, ok := m.get(inWitnessUtxo); ok {
		out, err := parseTxOut(v)
		if err != nil {
			return fmt.Errorf("witness_utxo: %w", err)
		}
		if nwOut != nil && (nwOut.Value != out.Value || !bytes.Equal(nwOut.PkScript, out.PkScript)) {
			return errors.New("witness_utxo and non_witness_utxo disagree")
		}
	}
	if v, ok := m.get(inSighashType); ok && len(v) != 4 {
		return errors.New("sighash type is not 4 bytes")
	}
	for _, e := range m {
		switch e.key[0] {
		case inBip32Derivation:
			if _, _, err := parseDerivation(e); err != nil {
				return err
			}
		case inPartialSig:
			if len(e.key) != 34 && len(e.key) != 66 {
				return errors.New("partial signature key is not a public key")
			}
		case inNonWitnessUtxo, inWitnessUtxo, inSighashType, inRedeemScript, inWitnessScript:
			if len(e.key) != 1 {
				return fmt.Errorf("key type %#x with key data", e.key[0])
			}
		}
	}
	return nil
}

// parseTxOut reads a serialized transaction output (witness_utxo).
func parseTxOut(v []byte) (*wire.TxOut, error) {
	if len(v) < 9 {
		return nil, errors.New("too short")
	}
	r := bytes.NewReader(v[8:])
	n, err := readCompact(r)
	if err != nil || n != uint64(r.Len()) {
		return nil, errors.New("script length does not match")
	}
	return &wire.TxOut{Value: int64(binary.LittleEndian.Uint64(v)), PkScript: bytes.Clone(v[len(v)-int(n):])}, nil
}

// parseDerivation reads a BIP32_DERIVATION pair: a compressed public key as
// the key data, and the master fingerprint and path as the value.
func parseDerivation(e kv) (pub []byte, origin []uint32, err error) {
	if len(e.key) != 34 {
		return nil, nil, errors.New("BIP-32 derivation key is not a compressed public key")
	}
	v := e.value
	if len(v) < 4 || len(v)%4 != 0 || len(v)/4-1 > maxPathLen {
		return nil, nil, errors.New("BIP-32 derivation value is malformed or too deep")
	}
	path := make([]uint32, len(v)/4) // fingerprint first, as origin[0]
	for i := range path {
		path[i] = binary.LittleEndian.Uint32(v[4*i:])
	}
	return e.key[1:], path, nil
}

// derivation is one BIP32_DERIVATION entry.
type derivation struct {
	pub         []byte
	fingerprint [4]byte
	path        []uint32
}

// derivations lists a map's BIP-32 derivations (key type t), in order.
func derivations(m psbtMap, t byte) []derivation {
	var out []derivation
	for _, e := range m {
		if e.key[0] != t {
			continue
		}
		pub, fpath, err := parseDerivation(e)
		if err != nil {
			continue // refused when the PSBT was parsed
		}
		d := derivation{pub: pub, path: fpath[1:]}
		binary.LittleEndian.PutUint32(d.fingerprint[:], fpath[0])
		out = append(out, d)
	}
	return out
}

// serialize writes the PSBT back, every pair in the order it came.
func (p *packet) serialize() []byte {
	b := append([]byte(nil), psbtMagic...)
	writeMap := func(m psbtMap) {
		for _, e := range m {
			b = appendBytes(b, e.key)
			b = appendBytes(b, e.value)
		}
		b = append(b, 0)
	}
	writeMap(p.global)
	for _, m := range p.inputs {
		writeMap(m)
	}
	for _, m := range p.outputs {
		writeMap(m)
	}
	return b
}
