package chain

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"sort"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// decodeTx decodes a serialized transaction (with or without witness) and
// refuses trailing bytes, which would mean it is not what was asked for.
func decodeTx(raw []byte) (*wire.MsgTx, error) {
	r := bytes.NewReader(raw)
	tx := &wire.MsgTx{}
	if err := tx.Deserialize(r); err != nil {
		return nil, err
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%d bytes after the transaction", r.Len())
	}
	return tx, nil
}

func encodeTx(tx *wire.MsgTx) ([]byte, error) {
	if tx == nil {
		return nil, fmt.Errorf("chain: no transaction to send")
	}
	var buf bytes.Buffer
	buf.Grow(tx.SerializeSize())
	if err := tx.Serialize(&buf); err != nil {
		return nil, fmt.Errorf("chain: serialize transaction: %w", err)
	}
	return buf.Bytes(), nil
}

// scriptSet indexes the queried scripts by their bytes.
type scriptSet map[string][]byte

// newScriptSet drops duplicates and empty scripts.
func newScriptSet(scripts [][]byte) scriptSet {
	set := make(scriptSet, len(scripts))
	for _, s := range scripts {
		if len(s) > 0 {
			set[string(s)] = s
		}
	}
	return set
}

func (s scriptSet) has(script []byte) bool {
	_, ok := s[string(script)]
	return ok
}

// sorted returns the scripts in a fixed order (by hex), so requests are
// deterministic.
func (s scriptSet) sorted() [][]byte {
	out := make([][]byte, 0, len(s))
	for _, script := range s {
		out = append(out, script)
	}
	sort.Slice(out, func(i, j int) bool { return hex.EncodeToString(out[i]) < hex.EncodeToString(out[j]) })
	return out
}

// heightLess orders heights confirmed-first ascending, unconfirmed (0) last.
func heightLess(a, b int32) bool {
	if (a == 0) != (b == 0) {
		return b == 0
	}
	return a < b
}

func sortUTXOs(utxos []UTXO) {
	sort.Slice(utxos, func(i, j int) bool {
		a, b := utxos[i], utxos[j]
		if a.Height != b.Height {
			return heightLess(a.Height, b.Height)
		}
		if c := cmpHash(a.OutPoint.Hash, b.OutPoint.Hash); c != 0 {
			return c < 0
		}
		return a.OutPoint.Index < b.OutPoint.Index
	})
}

// cmpHash orders hashes as their displayed (byte-reversed hex) strings
// order, without formatting both at every comparison.
func cmpHash(a, b chainhash.Hash) int {
	for i := chainhash.HashSize - 1; i >= 0; i-- {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

// historySet collects TxRefs, keeping one per txid (a confirmed sighting
// over an unconfirmed one).
type historySet map[chainhash.Hash]TxRef

func (h historySet) add(r TxRef) {
	// A block header's timestamp is a uint32: anything else a backend
	// says is not a block time, and is dropped rather than stored.
	if r.Height == 0 || r.Time < 0 || r.Time > math.MaxUint32 {
		r.Time = 0
	}
	if old, ok := h[r.TxID]; !ok || (old.Height == 0 && r.Height != 0) {
		h[r.TxID] = r
	}
}

func (h historySet) sorted() []TxRef {
	refs := make([]TxRef, 0, len(h))
	for _, r := range h {
		refs = append(refs, r)
	}
	sort.Slice(refs, func(i, j int) bool {
		a, b := refs[i], refs[j]
		if a.Height != b.Height {
			return heightLess(a.Height, b.Height)
		}
		return cmpHash(a.TxID, b.TxID) < 0
	})
	return refs
}
