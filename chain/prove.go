package chain

import (
	"bytes"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"
)

// Name names a backend in messages: "Esplora at blockstream.info",
// "btcd at 127.0.0.1:18334" (never credentials), or "the chain backend"
// for one that does not say (a fmt.Stringer).
func Name(b Backend) string {
	if s, ok := b.(fmt.Stringer); ok {
		return s.String()
	}
	return "the chain backend"
}

// ProveUTXO checks a UTXO that b listed against tx, the transaction that
// created it, and returns it with Value and PkScript read from tx. tx must
// be one whose txid was checked: from Tx or Txs (which check it), from a
// block Blocks checked, or from the caller's own store.
//
// ListUnspent's Value and PkScript are the server's word, and a hostile
// Esplora or Core can claim 100 BTC on an output its own transaction
// shows paying 1 BTC; what a wallet stores must come from the transaction.
// A UTXO tx does not prove (another transaction, no such output, another
// value or script) is ErrLying naming the backend and the transaction.
func ProveUTXO(b Backend, u UTXO, tx *wire.MsgTx) (UTXO, error) {
	if tx == nil {
		return UTXO{}, fmt.Errorf("chain: no transaction to prove output %s with", u.OutPoint)
	}
	who := Name(b)
	if got := tx.TxHash(); got != u.OutPoint.Hash {
		return UTXO{}, fmt.Errorf("%w: %s listed output %s, to be proven with transaction %s", ErrLying, who, u.OutPoint, got)
	}
	if int(u.OutPoint.Index) >= len(tx.TxOut) {
		return UTXO{}, fmt.Errorf("%w: %s listed unspent output %s, but transaction %s has only %d outputs; it is broken or hostile: use another backend",
			ErrLying, who, u.OutPoint, u.OutPoint.Hash, len(tx.TxOut))
	}
	out := tx.TxOut[u.OutPoint.Index]
	if out.Value != u.Value {
		return UTXO{}, fmt.Errorf("%w: %s claims output %s holds %s, but its transaction %s pays %s there; it is broken or hostile: use another backend",
			ErrLying, who, u.OutPoint, btcutil.Amount(u.Value), u.OutPoint.Hash, btcutil.Amount(out.Value))
	}
	if u.PkScript != nil && !bytes.Equal(out.PkScript, u.PkScript) {
		return UTXO{}, fmt.Errorf("%w: %s claims output %s pays script %x, but its transaction %s pays %x there; it is broken or hostile: use another backend",
			ErrLying, who, u.OutPoint, u.PkScript, u.OutPoint.Hash, out.PkScript)
	}
	u.Value = out.Value
	u.PkScript = out.PkScript
	return u, nil
}
