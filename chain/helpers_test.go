package chain

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Scripts in these tests are anyone-can-spend P2WSH and P2SH-P2WSH
// outputs: the harness can fund them and a test can spend them without
// keys, and they have the shapes of countersign's wsh and sh-wsh wallets.

// witnessScript returns a distinct script that leaves true on the stack:
// <n> OP_DROP OP_TRUE.
func witnessScript(n uint32) []byte {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], n)
	s, err := txscript.NewScriptBuilder().AddData(b[:]).AddOp(txscript.OP_DROP).AddOp(txscript.OP_TRUE).Script()
	if err != nil {
		panic(err) // a fixed-shape script always builds
	}
	return s
}

func p2wshScript(ws []byte) []byte {
	h := sha256.Sum256(ws)
	return append([]byte{txscript.OP_0, 0x20}, h[:]...)
}

func p2shScript(redeem []byte) []byte {
	h := btcutil.Hash160(redeem)
	s := append([]byte{txscript.OP_HASH160, 0x14}, h...)
	return append(s, txscript.OP_EQUAL)
}

// spendTx spends one anyone-can-spend P2WSH output (witness script ws)
// to pkScript, paying fee.
func spendTx(op wire.OutPoint, value int64, ws []byte, pkScript []byte, fee int64) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	in := wire.NewTxIn(&op, nil, wire.TxWitness{ws})
	tx.AddTxIn(in)
	tx.AddTxOut(wire.NewTxOut(value-fee, pkScript))
	return tx
}

// outputTo returns the outpoint of tx's first output paying script.
func outputTo(t *testing.T, tx *wire.MsgTx, script []byte) wire.OutPoint {
	t.Helper()
	for i, out := range tx.TxOut {
		if string(out.PkScript) == string(script) {
			return wire.OutPoint{Hash: tx.TxHash(), Index: uint32(i)}
		}
	}
	t.Fatalf("transaction %s pays nothing to %x", tx.TxHash(), script)
	return wire.OutPoint{}
}

func hashOf(s string) chainhash.Hash {
	return chainhash.Hash(sha256.Sum256([]byte(s)))
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
