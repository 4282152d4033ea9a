package chain

import (
	"bytes"
	"fmt"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// decodeBlock decodes a serialized block (with witnesses) and checks that
// it is the block asked for: its header hashes to want, and its
// transactions are the ones the header commits to. The header check alone
// would let a server (an Esplora run by someone else) pair a real header
// with other transactions; the merkle root check closes that. Witness
// data is not covered (it commits through the coinbase), which is fine for
// finding outputs and spends: those are all in the txid-committed part.
func decodeBlock(raw []byte, want chainhash.Hash) (*wire.MsgBlock, error) {
	r := bytes.NewReader(raw)
	block := &wire.MsgBlock{}
	if err := block.Deserialize(r); err != nil {
		return nil, fmt.Errorf("it does not decode (%d bytes): %w", len(raw), err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%d bytes follow the block", r.Len())
	}
	if got := block.BlockHash(); got != want {
		return nil, fmt.Errorf("it is block %s", got)
	}
	root, err := merkleRoot(block.Transactions)
	if err != nil {
		return nil, err
	}
	if root != block.Header.MerkleRoot {
		return nil, fmt.Errorf("its transactions have merkle root %s but its header says %s", root, block.Header.MerkleRoot)
	}
	return block, nil
}

// merkleRoot computes the root of the transactions' txid tree, refusing
// what no valid block holds: no transaction at all, or one txid twice.
// The repeat matters because an odd last entry is paired with itself, so a
// list with its last transactions repeated hashes to the same root as the
// real one (CVE-2012-2459).
func merkleRoot(txs []*wire.MsgTx) (chainhash.Hash, error) {
	if len(txs) == 0 {
		return chainhash.Hash{}, fmt.Errorf("it holds no transactions (a block always has a coinbase)")
	}
	txids := make([]chainhash.Hash, len(txs))
	seen := make(map[chainhash.Hash]bool, len(txs))
	for i, tx := range txs {
		txids[i] = tx.TxHash()
		if seen[txids[i]] {
			return chainhash.Hash{}, fmt.Errorf("it holds transaction %s twice", txids[i])
		}
		seen[txids[i]] = true
	}
	return merkleRootOf(txids), nil
}

// merkleRootOf is the root block headers commit to: the txids are
// double-SHA256ed in pairs, level by level, an odd last entry paired with
// itself. txids must not be empty; it is overwritten.
func merkleRootOf(txids []chainhash.Hash) chainhash.Hash {
	level := txids
	var pair [2 * chainhash.HashSize]byte
	for len(level) > 1 {
		// Each parent is written at i/2, behind the children still to read.
		n := 0
		for i := 0; i < len(level); i += 2 {
			right := level[i]
			if i+1 < len(level) {
				right = level[i+1]
			}
			copy(pair[:chainhash.HashSize], level[i][:])
			copy(pair[chainhash.HashSize:], right[:])
			level[n] = chainhash.DoubleHashH(pair[:])
			n++
		}
		level = level[:n]
	}
	return level[0]
}

// nodeBlocksPerRequest is how many getblock calls go in one JSON-RPC
// request: 20 blocks, one round trip for the usual incremental sync. An
// answer over maxListAnswer (64 MiB: twenty mainnet blocks near the 4 MB
// limit, as hex) is not an error: the request is sent again in halves
// (rpcClient.sendSplitting), and one block always fits its own budget.
const nodeBlocksPerRequest = 20
