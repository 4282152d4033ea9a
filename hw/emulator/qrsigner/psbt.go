package qrsigner

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/wire"
)

// The emulator reads and writes PSBTs (BIP-174, version 0) itself, as a
// list of key-value pairs per map, so what it does not understand passes
// through untouched and what it adds (partial signatures) is appended.

// PSBT key types the emulator uses (BIP-174).
const (
	globalUnsignedTx = 0x00
	globalVersion    = 0xfb

	inNonWitnessUtxo  = 0x00
	inWitnessUtxo     = 0x01
	inPartialSig      = 0x02
	inSighashType     = 0x03
	inRedeemScript    = 0x04
	inWitnessScript   = 0x05
	inBip32Derivation = 0x06
	inFinalScriptSig  = 0x07
	inFinalWitness    = 0x08

	outRedeemScript    = 0x00
	outWitnessScript   = 0x01
	outBip32Derivation = 0x02
)

// Limits on what the emulator parses: a scanned PSBT is a few kilobytes;
// these are far above any real one and keep a hostile one small.
const (
	maxPSBT    = 4 << 20
	maxEntries = 1000
	maxIO      = 1000
)

var psbtMagic = []byte("psbt\xff")

type pair struct{ key, value []byte }

// pmap is one PSBT map in the order read.
type pmap []pair

// get returns the value of the key of type t with no key data.
func (m pmap) get(t byte) ([]byte, bool) {
	for _, p := range m {
		if len(p.key) == 1 && p.key[0] == t {
			return p.value, true
		}
	}
	return nil, false
}

// each calls fn for every pair of type t with its key data.
func (m pmap) each(t byte, fn func(keyData, value []byte) error) error {
	for _, p := range m {
		if p.key[0] == t {
			if err := fn(p.key[1:], p.value); err != nil {
				return err
			}
		}
	}
	return nil
}

// packet is a parsed PSBT.
type packet struct {
	global  pmap
	tx      *wire.MsgTx
	inputs  []pmap
	outputs []pmap
}

// parsePSBT reads a binary PSBT.
func parsePSBT(raw []byte) (*packet, error) {
	if len(raw) > maxPSBT {
		return nil, fmt.Errorf("PSBT of %d bytes is too large", len(raw))
	}
	if !bytes.HasPrefix(raw, psbtMagic) {
		return nil, errors.New("not a PSBT (no magic)")
	}
	r := bytes.NewReader(raw[len(psbtMagic):])
	p := &packet{}
	var err error
	if p.global, err = readMap(r); err != nil {
		return nil, fmt.Errorf("global map: %w", err)
	}
	if v, ok := p.global.get(globalVersion); ok && (len(v) != 4 || binary.LittleEndian.Uint32(v) != 0) {
		return nil, errors.New("only PSBT version 0 is supported")
	}
	utx, ok := p.global.get(globalUnsignedTx)
	if !ok {
		return nil, errors.New("no unsigned transaction")
	}
	p.tx = &wire.MsgTx{}
	tr := bytes.NewReader(utx)
	if err := p.tx.DeserializeNoWitness(tr); err != nil || tr.Len() != 0 {
		return nil, errors.New("the unsigned transaction does not parse")
	}
	if len(p.tx.TxIn) == 0 || len(p.tx.TxIn) > maxIO || len(p.tx.TxOut) > maxIO {
		return nil, fmt.Errorf("%d inputs and %d outputs", len(p.tx.TxIn), len(p.tx.TxOut))
	}
	for _, in := range p.tx.TxIn {
		if len(in.SignatureScript) > 0 {
			return nil, errors.New("the unsigned transaction has a scriptSig")
		}
	}
	for i := range p.tx.TxIn {
		m, err := readMap(r)
		if err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
		p.inputs = append(p.inputs, m)
	}
	for i := range p.tx.TxOut {
		m, err := readMap(r)
		if err != nil {
			return nil, fmt.Errorf("output %d: %w", i, err)
		}
		p.outputs = append(p.outputs, m)
	}
	if r.Len() != 0 {
		return nil, errors.New("bytes after the last map")
	}
	return p, nil
}

// readMap reads key-value pairs up to the 0x00 separator; duplicate keys
// are refused (BIP-174).
func readMap(r *bytes.Reader) (pmap, error) {
	var m pmap
	seen := map[string]bool{}
	for {
		key, err := readBytes(r)
		if err != nil {
			return nil, err
		}
		if len(key) == 0 {
			return m, nil
		}
		if seen[string(key)] {
			return nil, fmt.Errorf("duplicate key %x", key)
		}
		seen[string(key)] = true
		val, err := readBytes(r)
		if err != nil {
			return nil, err
		}
		if len(m) == maxEntries {
			return nil, errors.New("too many entries")
		}
		m = append(m, pair{key, val})
	}
}

func readBytes(r *bytes.Reader) ([]byte, error) {
	n, err := wire.ReadVarInt(r, 0)
	if err != nil {
		return nil, errors.New("truncated")
	}
	if n > uint64(r.Len()) {
		return nil, errors.New("length past the end")
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, errors.New("truncated")
	}
	return b, nil
}

// serialize writes the packet back, maps in the order read.
func (p *packet) serialize() []byte {
	var b bytes.Buffer
	b.Write(psbtMagic)
	for _, m := range append(append([]pmap{p.global}, p.inputs...), p.outputs...) {
		for _, kv := range m {
			wire.WriteVarBytes(&b, 0, kv.key)
			wire.WriteVarBytes(&b, 0, kv.value)
		}
		b.WriteByte(0)
	}
	return b.Bytes()
}

// derivation is a BIP32_DERIVATION entry.
type derivation struct {
	pubkey      []byte
	fingerprint [4]byte
	path        []uint32
}

func derivations(m pmap, t byte) ([]derivation, error) {
	var out []derivation
	err := m.each(t, func(k, v []byte) error {
		if len(k) != 33 || len(v) < 4 || len(v)%4 != 0 || len(v) > 4*256 {
			return errors.New("malformed BIP-32 derivation")
		}
		d := derivation{pubkey: k}
		copy(d.fingerprint[:], v)
		for i := 4; i < len(v); i += 4 {
			d.path = append(d.path, binary.LittleEndian.Uint32(v[i:]))
		}
		out = append(out, d)
		return nil
	})
	return out, err
}

// witnessUtxo parses an input's WITNESS_UTXO value.
func witnessUtxo(v []byte) (*wire.TxOut, error) {
	if len(v) < 9 {
		return nil, errors.New("malformed witness UTXO")
	}
	r := bytes.NewReader(v[8:])
	script, err := readBytes(r)
	if err != nil || r.Len() != 0 {
		return nil, errors.New("malformed witness UTXO")
	}
	return &wire.TxOut{Value: int64(binary.LittleEndian.Uint64(v)), PkScript: script}, nil
}
