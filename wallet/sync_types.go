package wallet

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// UTXO is an unspent output paying one of the wallet's scripts, as the last
// sync saw it.
type UTXO struct {
	OutPoint wire.OutPoint
	Value    int64  // satoshis
	PkScript []byte // the output script, from the funding transaction
	Branch   uint32 // 0 receive, 1 change: where in the descriptor it derives
	Index    uint32
	Height   int32 // block height of the funding transaction; 0 while unconfirmed
	// SpentBy is the txid of an unconfirmed transaction spending this output
	// (ours from MarkBroadcast, or one sync saw in the mempool); nil when
	// nothing is known to spend it. Balance and coin selection skip outputs
	// with a spender.
	SpentBy *chainhash.Hash
}

// Tx is a transaction touching the wallet.
type Tx struct {
	TxID   chainhash.Hash
	Height int32  // block height; 0 while unconfirmed
	Raw    []byte // serialized transaction (with witness); nil when not fetched
	// Net is the transaction's effect on the wallet's balance in satoshis:
	// outputs paying the wallet minus wallet outputs it spends. Negative for
	// a payment out.
	Net int64
	// Fee in satoshis; nil when unknown (some inputs are not the wallet's and
	// their values were not fetched).
	Fee *int64
	// SeenAt is when a sync first saw the transaction. ApplySync fills a zero
	// SeenAt with the current time and never moves a stored one later.
	SeenAt time.Time
	// BlockTime is the timestamp of the block that confirmed it, as the
	// backend reported it; zero while unconfirmed or unknown. ApplySync
	// keeps a stored one while the height stays the same and the update
	// has none, and clears it when the transaction leaves the chain.
	BlockTime time.Time
}

// ScanState records how far the wallet's last sync got.
type ScanState struct {
	Height int32          // chain tip height the last sync ran against; 0 before the first
	Hash   chainhash.Hash // that tip's block hash; zero before the first sync
	// ReceiveHighWater and ChangeHighWater are one past the highest index on
	// each branch that has ever had on-chain history (0: none used). They
	// only grow: an address once used stays used.
	ReceiveHighWater, ChangeHighWater uint32
	SyncedAt                          time.Time // zero before the first sync
}

// SyncUpdate is everything one sync learned; ApplySync stores it atomically.
type SyncUpdate struct {
	Height int32          // the tip the scan ran against
	Hash   chainhash.Hash // its block hash
	// UTXOs is the wallet's complete unspent set; it replaces the stored one.
	UTXOs []UTXO
	// Txs are upserted by txid; a nil Raw or Fee keeps the stored value.
	Txs []Tx
	// Forget lists txids the backend no longer knows (replaced, or dropped
	// from the mempool): their stored transactions are deleted and the
	// outputs they were spending are free again.
	Forget []chainhash.Hash
	// High-water marks seen by this scan (see ScanState). The stored marks
	// and the NextAddress counters are raised to them, never lowered.
	ReceiveHighWater, ChangeHighWater uint32
	// TipOnly says the scan found nothing new for the wallet: the stored
	// UTXOs and transactions stay as they are (UTXOs, Txs and Forget must
	// be empty) and only the tip and the sync time move.
	TipOnly bool
}

// check refuses values the store cannot represent or that no backend
// reports, before any write starts.
func (u *SyncUpdate) check() error {
	switch {
	case u.TipOnly && (len(u.UTXOs) > 0 || len(u.Txs) > 0 || len(u.Forget) > 0):
		return fmt.Errorf("a tip-only sync update carries UTXOs or transactions: %w", ErrInvalid)
	case u.Height < 0:
		return fmt.Errorf("negative tip height %d: %w", u.Height, ErrInvalid)
	case u.ReceiveHighWater > maxIndex || u.ChangeHighWater > maxIndex:
		return fmt.Errorf("high-water marks %d/%d beyond the non-hardened range: %w", u.ReceiveHighWater, u.ChangeHighWater, ErrInvalid)
	}
	forgotten := make(map[chainhash.Hash]bool, len(u.Forget))
	for _, h := range u.Forget {
		forgotten[h] = true
	}
	for _, o := range u.UTXOs {
		switch {
		case o.Value < 0 || o.Value > btcutil.MaxSatoshi:
			return fmt.Errorf("UTXO %s: value %d outside 0..%d: %w", o.OutPoint, o.Value, int64(btcutil.MaxSatoshi), ErrInvalid)
		case o.Branch > 1 || o.Index >= maxIndex:
			return fmt.Errorf("UTXO %s: derivation %d/%d is not a wallet branch and index: %w", o.OutPoint, o.Branch, o.Index, ErrInvalid)
		case o.Height < 0:
			return fmt.Errorf("UTXO %s: negative height %d: %w", o.OutPoint, o.Height, ErrInvalid)
		case o.SpentBy != nil && forgotten[*o.SpentBy]:
			return fmt.Errorf("UTXO %s: spent by %s, which the same update forgets: %w", o.OutPoint, o.SpentBy, ErrInvalid)
		}
	}
	for _, t := range u.Txs {
		switch {
		case t.Height < 0:
			return fmt.Errorf("transaction %s: negative height %d: %w", t.TxID, t.Height, ErrInvalid)
		case t.Fee != nil && *t.Fee < 0:
			return fmt.Errorf("transaction %s: negative fee %d: %w", t.TxID, *t.Fee, ErrInvalid)
		case forgotten[t.TxID]:
			return fmt.Errorf("transaction %s is both stored and forgotten by the same update: %w", t.TxID, ErrInvalid)
		}
	}
	return nil
}

// parseHash reads a stored hex txid or block hash.
// parseHashBytes is parseHash of a hash read as bytes (sql.RawBytes),
// without copying it into a string first.
func parseHashBytes(b []byte) (chainhash.Hash, error) {
	var h chainhash.Hash
	if len(b) != 2*chainhash.HashSize {
		return h, fmt.Errorf("stored hash %q is corrupt: not %d hex digits", b, 2*chainhash.HashSize)
	}
	var rev [chainhash.HashSize]byte
	if _, err := hex.Decode(rev[:], b); err != nil {
		return h, fmt.Errorf("stored hash %q is corrupt: %w", b, err)
	}
	// Stored in display order, the reverse of the hash's bytes.
	for i := range rev {
		h[i] = rev[chainhash.HashSize-1-i]
	}
	return h, nil
}

func parseHash(s string) (chainhash.Hash, error) {
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		return chainhash.Hash{}, fmt.Errorf("stored hash %q is corrupt: %w", s, err)
	}
	return *h, nil
}
