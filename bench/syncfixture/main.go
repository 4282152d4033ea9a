// Command syncfixture starts a btcd regtest node and builds a treasury-
// scale wallet history on it, for timing `countersign wallet sync`,
// `wallet history` and `wallet balance` as whole processes (bench/sync.sh).
//
// Usage: syncfixture -dir DIR [-addresses 10000] [-txs 30000] [-hold]
//
// The wallet is a 2-of-3 wsh(sortedmulti) over keys from fixed seeds. Its
// receive addresses 0..A-1 are each paid by T/A transactions of their own
// (transaction j pays address j mod A), so the wallet has A used
// addresses and T transactions. The fixture is built without the node's
// wallet: the harness pays a key of this program from mature coinbase
// outputs, which fans out into T coins (transactions of 3,000 outputs,
// under the standard size), each of which then pays one wallet address,
// signed here (P2WPKH, BIP-143) and sent in concurrent batches; blocks are
// mined after every 5,000 payments until the mempool is empty. It writes,
// in DIR:
//
//	desc   the wallet's descriptor
//	url    the node's backend URL (btcd://...)
//	ready  written last, once everything is confirmed
//
// With -hold it keeps the node running until stdin closes or it gets
// SIGINT/SIGTERM; without, it stops the node when the fixture is built.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/internal/regtest"
)

const (
	payValue   = 10_000 // sat each payment gives the wallet
	payFee     = 300    // a one-in one-out P2WPKH to P2WSH payment is ~123 vB: > 2 sat/vB
	fanOutputs = 3_000  // outputs per fan-out transaction: ~93 kvB, under the standard 100 kvB
	fanFee     = 200_000
	roundTxs   = 5_000 // payments sent between mining rounds
	sendBatch  = 500   // payments in flight at once
)

func main() {
	dir := flag.String("dir", "", "output folder (required)")
	nAddr := flag.Int("addresses", 10_000, "used receive addresses")
	nTx := flag.Int("txs", 30_000, "transactions paying the wallet")
	hold := flag.Bool("hold", false, "keep the node running until stdin closes or a signal")
	flag.Parse()
	if *dir == "" || *nAddr < 1 || *nTx < *nAddr {
		log.Fatal("usage: syncfixture -dir DIR [-addresses A] [-txs T] [-hold] (T >= A)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t0 := time.Now()
	node, err := regtest.StartNode(ctx, regtest.Options{DataDir: filepath.Join(*dir, "btcd")})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Stop()
	if err := build(ctx, node, *dir, *nAddr, *nTx); err != nil {
		node.Stop()
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*dir, "ready"), nil, 0o600); err != nil {
		log.Fatal(err)
	}
	log.Printf("fixture built in %.1f s: %d addresses, %d transactions", time.Since(t0).Seconds(), *nAddr, *nTx)
	if *hold {
		done := make(chan struct{})
		go func() { b := make([]byte, 1); os.Stdin.Read(b); close(done) }()
		select {
		case <-ctx.Done():
		case <-done:
		}
	}
}

// walletDescriptor is a 2-of-3 wsh(sortedmulti) over keys from fixed seeds.
func walletDescriptor(net *chaincfg.Params) (*descriptor.Descriptor, error) {
	var keys []string
	for i := 1; i <= 3; i++ {
		m, err := hdkeychain.NewMaster(bytes.Repeat([]byte{byte(i)}, 32), net)
		if err != nil {
			return nil, err
		}
		pub, err := m.ECPubKey()
		if err != nil {
			return nil, err
		}
		fp := btcutil.Hash160(pub.SerializeCompressed())[:4]
		k := m
		for _, c := range []uint32{48, 1, 0, 2} {
			if k, err = k.Derive(hdkeychain.HardenedKeyStart + c); err != nil {
				return nil, err
			}
		}
		n, err := k.Neuter()
		if err != nil {
			return nil, err
		}
		keys = append(keys, fmt.Sprintf("[%x/48h/1h/0h/2h]%s/<0;1>/*", fp, n))
	}
	return descriptor.Parse("wsh(sortedmulti(2," + strings.Join(keys, ",") + "))")
}

// funder is this program's own key: it receives from the harness and
// pays the wallet.
type funder struct {
	key    *btcec.PrivateKey
	script []byte
}

func newFunder(net *chaincfg.Params) (*funder, error) {
	seed := sha256.Sum256([]byte("countersign syncfixture funder"))
	key, _ := btcec.PrivKeyFromBytes(seed[:])
	addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(key.PubKey().SerializeCompressed()), net)
	if err != nil {
		return nil, err
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, err
	}
	return &funder{key: key, script: script}, nil
}

// sign signs every input of tx, each spending one of f's outputs worth
// values[i] (BIP-143).
func (f *funder) sign(tx *wire.MsgTx, values []int64) error {
	prev := txscript.NewMultiPrevOutFetcher(nil)
	for i, in := range tx.TxIn {
		prev.AddPrevOut(in.PreviousOutPoint, wire.NewTxOut(values[i], f.script))
	}
	hashes := txscript.NewTxSigHashes(tx, prev)
	for i := range tx.TxIn {
		w, err := txscript.WitnessSignature(tx, hashes, i, values[i], f.script, txscript.SigHashAll, f.key, true)
		if err != nil {
			return err
		}
		tx.TxIn[i].Witness = w
	}
	return nil
}

func build(ctx context.Context, node *regtest.Node, dir string, nAddr, nTx int) error {
	net := node.Params()
	d, err := walletDescriptor(net)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "desc"), []byte(d.String()+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "url"), []byte(node.RPCURL()+"\n"), 0o600); err != nil {
		return err
	}
	f, err := newFunder(net)
	if err != nil {
		return err
	}
	scripts := make([][]byte, nAddr)
	for i := range scripts {
		der, err := d.Derive(0, uint32(i), net)
		if err != nil {
			return err
		}
		scripts[i] = der.ScriptPubKey
	}

	// The harness pays the funder one coin per fan-out transaction.
	nFan := (nTx + fanOutputs - 1) / fanOutputs
	coinValue := int64(payValue + payFee)
	var seedOuts []*wire.TxOut
	for i := 0; i < nFan; i++ {
		n := min(fanOutputs, nTx-i*fanOutputs)
		seedOuts = append(seedOuts, wire.NewTxOut(int64(n)*coinValue+fanFee, f.script))
	}
	seed, err := node.Spend(ctx, seedOuts)
	if err != nil {
		return err
	}
	if _, err := node.SendRaw(ctx, seed); err != nil {
		return err
	}
	if err := mineAll(ctx, node); err != nil {
		return err
	}
	log.Printf("harness paid the funder %d coins", nFan)

	// Fan out into nTx coins of payValue + payFee.
	var coins []wire.OutPoint
	var fans []*wire.MsgTx
	for i, out := range seedOuts {
		tx := wire.NewMsgTx(2)
		tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: seed.TxHash(), Index: uint32(i)}, nil, nil))
		n := int((out.Value - fanFee) / coinValue)
		for k := 0; k < n; k++ {
			tx.AddTxOut(wire.NewTxOut(coinValue, f.script))
		}
		// A segwit txid leaves the witness out: signing does not change it.
		id := tx.TxHash()
		for k := 0; k < n; k++ {
			coins = append(coins, wire.OutPoint{Hash: id, Index: uint32(k)})
		}
		if err := f.sign(tx, []int64{out.Value}); err != nil {
			return err
		}
		fans = append(fans, tx)
	}
	if err := sendAll(ctx, node.Client(), fans); err != nil {
		return err
	}
	if err := mineAll(ctx, node); err != nil {
		return err
	}
	log.Printf("fanned out into %d coins", len(coins))

	// Each coin pays one wallet address: transaction j pays address j mod A.
	for start := 0; start < nTx; start += roundTxs {
		var txs []*wire.MsgTx
		for j := start; j < min(start+roundTxs, nTx); j++ {
			tx := wire.NewMsgTx(2)
			tx.AddTxIn(wire.NewTxIn(&coins[j], nil, nil))
			tx.AddTxOut(wire.NewTxOut(payValue, scripts[j%nAddr]))
			if err := f.sign(tx, []int64{coinValue}); err != nil {
				return err
			}
			txs = append(txs, tx)
		}
		if err := sendAll(ctx, node.Client(), txs); err != nil {
			return err
		}
		if err := mineAll(ctx, node); err != nil {
			return err
		}
		log.Printf("%d of %d payments confirmed", min(start+roundTxs, nTx), nTx)
	}
	return nil
}

// sendAll sends txs, sendBatch requests in flight at a time.
func sendAll(ctx context.Context, c *rpcclient.Client, txs []*wire.MsgTx) error {
	for i := 0; i < len(txs); i += sendBatch {
		var fs []rpcclient.FutureSendRawTransactionResult
		for _, tx := range txs[i:min(i+sendBatch, len(txs))] {
			fs = append(fs, c.SendRawTransactionAsync(tx, false))
		}
		for k, f := range fs {
			if _, err := f.Receive(); err != nil {
				return fmt.Errorf("send transaction %d: %w", i+k, err)
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// mineAll mines blocks until the mempool is empty.
func mineAll(ctx context.Context, node *regtest.Node) error {
	for {
		if _, err := node.Mine(ctx, 1); err != nil {
			return err
		}
		pool, err := node.Client().GetRawMempool()
		if err != nil {
			return err
		}
		if len(pool) == 0 {
			return nil
		}
	}
}
