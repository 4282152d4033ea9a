package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/psbt"
)

// The app signs PSBTs of version 2 (BIP-370) only: the transaction is not
// one global field but spread over the maps.

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

// merkleizePSBT writes p as version 2 (the psbt package's BIP-370 writer,
// the one every version 2 PSBT countersign writes goes through) and builds
// every tree the app may ask about. p is not modified.
func merkleizePSBT(p *bpsbt.Packet) (*merkleizedPSBT, error) {
	if p == nil || p.UnsignedTx == nil {
		return nil, errors.New("the PSBT has no unsigned transaction")
	}
	tx := p.UnsignedTx
	if len(p.Inputs) != len(tx.TxIn) || len(p.Outputs) != len(tx.TxOut) {
		return nil, fmt.Errorf("the PSBT has %d input and %d output maps for a transaction with %d inputs and %d outputs",
			len(p.Inputs), len(p.Outputs), len(tx.TxIn), len(tx.TxOut))
	}
	raw, err := psbt.SerializeVersion(p, 2)
	if err != nil {
		return nil, fmt.Errorf("write the PSBT as version 2: %w", err)
	}
	r := bytes.NewReader(raw)
	magic := make([]byte, 5)
	if _, err := io.ReadFull(r, magic); err != nil || !bytes.Equal(magic, []byte("psbt\xff")) {
		return nil, errors.New("the PSBT does not start with the PSBT magic")
	}
	global, err := readMap(r)
	if err != nil {
		return nil, fmt.Errorf("global map: %w", err)
	}
	m := &merkleizedPSBT{}
	if m.global, err = newMerkleMap(global); err != nil {
		return nil, fmt.Errorf("global map: %w", err)
	}
	inCommit := make([][]byte, len(tx.TxIn))
	for i := range tx.TxIn {
		entries, err := readMap(r)
		if err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
		mm, err := newMerkleMap(entries)
		if err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
		m.inputs = append(m.inputs, mm)
		inCommit[i] = mm.commitment().bytes()
	}
	outCommit := make([][]byte, len(tx.TxOut))
	for i := range tx.TxOut {
		entries, err := readMap(r)
		if err != nil {
			return nil, fmt.Errorf("output %d: %w", i, err)
		}
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
