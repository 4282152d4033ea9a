package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
)

// The app signs PSBTs of version 2 (BIP-370) only: the transaction is not
// one global field but spread over the maps. These are the key types the
// conversion from version 0 removes or adds.
const (
	globalUnsignedTx       = 0x00 // v0 only
	globalTxVersion        = 0x02
	globalFallbackLocktime = 0x03
	globalInputCount       = 0x04
	globalOutputCount      = 0x05
	globalTxModifiable     = 0x06
	globalVersion          = 0xFB

	inPreviousTxid = 0x0E
	inOutputIndex  = 0x0F
	inSequence     = 0x10

	outAmount = 0x03
	outScript = 0x04
)

// maxVarKey bounds a key or value read back from btcd's serialisation.
const maxVarKey = 1 << 24

// merkleizedPSBT is a PSBT as SIGN_PSBT presents it: one merkleized map
// for the globals and each input and output, and the lists of the input
// and output map commitments.
type merkleizedPSBT struct {
	global            *merkleMap
	inputs, outputs   []*merkleMap
	inputCommitments  *merkleList
	outputCommitments *merkleList
}

// merkleizePSBT converts p to version 2 and builds every tree the app may
// ask about. p is not modified.
func merkleizePSBT(p *bpsbt.Packet) (*merkleizedPSBT, error) {
	if p == nil || p.UnsignedTx == nil {
		return nil, errors.New("the PSBT has no unsigned transaction")
	}
	tx := p.UnsignedTx
	if len(p.Inputs) != len(tx.TxIn) || len(p.Outputs) != len(tx.TxOut) {
		return nil, fmt.Errorf("the PSBT has %d input and %d output maps for a transaction with %d inputs and %d outputs",
			len(p.Inputs), len(p.Outputs), len(tx.TxIn), len(tx.TxOut))
	}
	var raw bytes.Buffer
	if err := p.Serialize(&raw); err != nil {
		return nil, fmt.Errorf("serialize the PSBT: %w", err)
	}
	r := bytes.NewReader(raw.Bytes())
	magic := make([]byte, 5)
	if _, err := io.ReadFull(r, magic); err != nil || !bytes.Equal(magic, []byte("psbt\xff")) {
		return nil, errors.New("the PSBT does not start with the PSBT magic")
	}
	global, err := readMap(r)
	if err != nil {
		return nil, fmt.Errorf("global map: %w", err)
	}
	var g []kv
	for _, e := range global {
		switch {
		case len(e.key) == 1 && e.key[0] == globalUnsignedTx:
			continue // replaced by the fields below
		case len(e.key) == 1 && e.key[0] == globalVersion:
			continue
		case len(e.key) == 1 && e.key[0] >= globalTxVersion && e.key[0] <= globalTxModifiable:
			return nil, fmt.Errorf("a version 0 PSBT carries the version 2 global field %#02x", e.key[0])
		}
		g = append(g, e)
	}
	g = append(g,
		kv{[]byte{globalTxVersion}, binary.LittleEndian.AppendUint32(nil, uint32(tx.Version))},
		kv{[]byte{globalFallbackLocktime}, binary.LittleEndian.AppendUint32(nil, tx.LockTime)},
		kv{[]byte{globalInputCount}, appendVarint(nil, uint64(len(tx.TxIn)))},
		kv{[]byte{globalOutputCount}, appendVarint(nil, uint64(len(tx.TxOut)))},
		kv{[]byte{globalVersion}, binary.LittleEndian.AppendUint32(nil, 2)},
	)
	m := &merkleizedPSBT{}
	if m.global, err = newMerkleMap(g); err != nil {
		return nil, fmt.Errorf("global map: %w", err)
	}
	inCommit := make([][]byte, len(tx.TxIn))
	for i, in := range tx.TxIn {
		entries, err := readMap(r)
		if err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
		entries = append(entries,
			kv{[]byte{inPreviousTxid}, append([]byte(nil), in.PreviousOutPoint.Hash[:]...)},
			kv{[]byte{inOutputIndex}, binary.LittleEndian.AppendUint32(nil, in.PreviousOutPoint.Index)},
			kv{[]byte{inSequence}, binary.LittleEndian.AppendUint32(nil, in.Sequence)},
		)
		mm, err := newMerkleMap(entries)
		if err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
		m.inputs = append(m.inputs, mm)
		inCommit[i] = mm.commitment().bytes()
	}
	outCommit := make([][]byte, len(tx.TxOut))
	for i, out := range tx.TxOut {
		entries, err := readMap(r)
		if err != nil {
			return nil, fmt.Errorf("output %d: %w", i, err)
		}
		entries = append(entries,
			kv{[]byte{outAmount}, binary.LittleEndian.AppendUint64(nil, uint64(out.Value))},
			kv{[]byte{outScript}, append([]byte(nil), out.PkScript...)},
		)
		mm, err := newMerkleMap(entries)
		if err != nil {
			return nil, fmt.Errorf("output %d: %w", i, err)
		}
		m.outputs = append(m.outputs, mm)
		outCommit[i] = mm.commitment().bytes()
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%d bytes left after the last output map", r.Len())
	}
	m.inputCommitments = newMerkleList(inCommit)
	m.outputCommitments = newMerkleList(outCommit)
	return m, nil
}

// addTo makes every tree of the PSBT available to the app's requests.
func (m *merkleizedPSBT) addTo(it *interpreter) {
	it.addMap(m.global)
	for _, mm := range m.inputs {
		it.addMap(mm)
	}
	for _, mm := range m.outputs {
		it.addMap(mm)
	}
	it.addList(m.inputCommitments)
	it.addList(m.outputCommitments)
}

// readMap reads key-value pairs up to the 0x00 separator.
func readMap(r *bytes.Reader) ([]kv, error) {
	var out []kv
	for {
		key, err := readVarBytes(r)
		if err != nil {
			return nil, err
		}
		if len(key) == 0 {
			return out, nil
		}
		value, err := readVarBytes(r)
		if err != nil {
			return nil, err
		}
		out = append(out, kv{key: key, value: value})
	}
}

func readVarBytes(r *bytes.Reader) ([]byte, error) {
	n, err := readVarint(r)
	if err != nil {
		return nil, fmt.Errorf("truncated map: %w", err)
	}
	if n > maxVarKey || n > uint64(r.Len()) {
		return nil, fmt.Errorf("truncated map: a field of %d bytes with %d left", n, r.Len())
	}
	b := make([]byte, n)
	_, _ = io.ReadFull(r, b)
	return b, nil
}
