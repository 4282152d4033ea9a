package chain

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// fakeChain is the state behind the replay servers: blocks of real
// transactions plus a mempool. Blocks have real headers (previous hash,
// merkle root over a made-up coinbase and the transactions) but no proof
// of work; block 0 is the network's real genesis block so network
// detection works as against a real server.
type fakeChain struct {
	mu      sync.Mutex
	net     *chaincfg.Params
	blocks  []fakeBlock
	mempool []*wire.MsgTx
}

type fakeBlock struct {
	hash     chainhash.Hash
	time     int64
	header   wire.BlockHeader
	coinbase *wire.MsgTx   // kept apart: the model's queries never see it
	txs      []*wire.MsgTx // the transactions after the coinbase
}

// msgBlock is the whole block as a node serves it.
func (b fakeBlock) msgBlock() *wire.MsgBlock {
	return &wire.MsgBlock{Header: b.header, Transactions: append([]*wire.MsgTx{b.coinbase}, b.txs...)}
}

// raw is the block's serialization (with witnesses).
func (b fakeBlock) raw() []byte {
	var buf bytes.Buffer
	if err := b.msgBlock().Serialize(&buf); err != nil {
		panic(err) // a block of valid transactions always serializes
	}
	return buf.Bytes()
}

// fakeOut is an output as the model sees it.
type fakeOut struct {
	op     wire.OutPoint
	out    *wire.TxOut
	height int32 // 0 = mempool
}

var (
	errMissingInputs = errors.New("bad-txns-inputs-missingorspent")
	errInMempool     = errors.New("txn-already-in-mempool")
	errInChain       = errors.New("transaction already in block chain")
)

func newFakeChain(net *chaincfg.Params) *fakeChain {
	g := net.GenesisBlock
	return &fakeChain{net: net, blocks: []fakeBlock{{
		hash: *net.GenesisHash, time: g.Header.Timestamp.Unix(), header: g.Header, coinbase: g.Transactions[0],
	}}}
}

// mine adds a block holding txs (unchecked: tests use it to fund scripts
// from nowhere) and drops them from the mempool.
func (c *fakeChain) mine(txs ...*wire.MsgTx) chainhash.Hash {
	c.mu.Lock()
	defer c.mu.Unlock()
	height := len(c.blocks)
	prev := c.blocks[height-1]
	// A coinbase unique to the height (as BIP 34 makes real ones), paying
	// nothing to OP_TRUE.
	var heightBytes [4]byte
	binary.LittleEndian.PutUint32(heightBytes[:], uint32(height))
	coinbase := wire.NewMsgTx(1)
	coinbase.AddTxIn(wire.NewTxIn(&wire.OutPoint{Index: wire.MaxPrevOutIndex}, append([]byte{4}, heightBytes[:]...), nil))
	coinbase.AddTxOut(wire.NewTxOut(0, []byte{0x51}))
	root, err := merkleRoot(append([]*wire.MsgTx{coinbase}, txs...))
	if err != nil {
		panic(fmt.Sprintf("fakeChain.mine: %v", err)) // a test put one transaction in twice
	}
	header := wire.BlockHeader{
		Version: 0x20000000, PrevBlock: prev.hash, MerkleRoot: root,
		Timestamp: time.Unix(prev.time+600, 0), Bits: 0x207fffff,
	}
	hash := header.BlockHash()
	c.blocks = append(c.blocks, fakeBlock{hash: hash, time: prev.time + 600, header: header, coinbase: coinbase, txs: txs})
	mined := map[chainhash.Hash]bool{}
	for _, tx := range txs {
		mined[tx.TxHash()] = true
	}
	kept := c.mempool[:0]
	for _, tx := range c.mempool {
		if !mined[tx.TxHash()] {
			kept = append(kept, tx)
		}
	}
	c.mempool = kept
	return hash
}

// addMempool accepts a transaction whose inputs are unspent outputs.
func (c *fakeChain) addMempool(tx *wire.MsgTx) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	txid := tx.TxHash()
	if _, h, ok := c.findLocked(txid); ok {
		if h == 0 {
			return errInMempool
		}
		return errInChain
	}
	unspent := map[wire.OutPoint]bool{}
	for _, o := range c.outputsLocked(nil, true) {
		unspent[o.op] = true
	}
	for _, in := range tx.TxIn {
		if !unspent[in.PreviousOutPoint] {
			return errMissingInputs
		}
	}
	c.mempool = append(c.mempool, tx)
	return nil
}

func (c *fakeChain) tip() (int32, chainhash.Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int32(len(c.blocks) - 1), c.blocks[len(c.blocks)-1].hash
}

// each calls fn for every transaction, confirmed in chain order, then the
// mempool (height 0).
func (c *fakeChain) eachLocked(fn func(tx *wire.MsgTx, height int32)) {
	for h, b := range c.blocks {
		for _, tx := range b.txs {
			fn(tx, int32(h))
		}
	}
	for _, tx := range c.mempool {
		fn(tx, 0)
	}
}

func (c *fakeChain) find(txid chainhash.Hash) (*wire.MsgTx, int32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.findLocked(txid)
}

func (c *fakeChain) findLocked(txid chainhash.Hash) (tx *wire.MsgTx, height int32, ok bool) {
	c.eachLocked(func(t *wire.MsgTx, h int32) {
		if !ok && t.TxHash() == txid {
			tx, height, ok = t, h, true
		}
	})
	return tx, height, ok
}

// outputs returns the unspent outputs paying script (nil: any script).
// withMempool false gives the confirmed UTXO set, as scantxoutset sees it.
func (c *fakeChain) outputs(script []byte, withMempool bool) []fakeOut {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.outputsLocked(script, withMempool)
}

func (c *fakeChain) outputsLocked(script []byte, withMempool bool) []fakeOut {
	spent := map[wire.OutPoint]bool{}
	var outs []fakeOut
	c.eachLocked(func(tx *wire.MsgTx, h int32) {
		if h == 0 && !withMempool {
			return
		}
		for _, in := range tx.TxIn {
			spent[in.PreviousOutPoint] = true
		}
		for i, out := range tx.TxOut {
			if script == nil || bytes.Equal(out.PkScript, script) {
				outs = append(outs, fakeOut{op: wire.OutPoint{Hash: tx.TxHash(), Index: uint32(i)}, out: out, height: h})
			}
		}
	})
	kept := outs[:0]
	for _, o := range outs {
		if !spent[o.op] {
			kept = append(kept, o)
		}
	}
	return kept
}

// touching returns the transactions paying or spending script, each with
// its height, in chain order then mempool.
func (c *fakeChain) touching(script []byte) []fakeTx {
	c.mu.Lock()
	defer c.mu.Unlock()
	scriptOf := map[wire.OutPoint][]byte{}
	c.eachLocked(func(tx *wire.MsgTx, _ int32) {
		for i, out := range tx.TxOut {
			scriptOf[wire.OutPoint{Hash: tx.TxHash(), Index: uint32(i)}] = out.PkScript
		}
	})
	var found []fakeTx
	c.eachLocked(func(tx *wire.MsgTx, h int32) {
		if txTouches(tx, scriptOf, script) {
			found = append(found, fakeTx{tx: tx, height: h})
		}
	})
	return found
}

type fakeTx struct {
	tx     *wire.MsgTx
	height int32
}

func txTouches(tx *wire.MsgTx, scriptOf map[wire.OutPoint][]byte, script []byte) bool {
	for _, out := range tx.TxOut {
		if bytes.Equal(out.PkScript, script) {
			return true
		}
	}
	for _, in := range tx.TxIn {
		if bytes.Equal(scriptOf[in.PreviousOutPoint], script) {
			return true
		}
	}
	return false
}

// mempoolTxids lists the mempool in arrival order.
func (c *fakeChain) mempoolTxids() []chainhash.Hash {
	c.mu.Lock()
	defer c.mu.Unlock()
	txids := make([]chainhash.Hash, len(c.mempool))
	for i, tx := range c.mempool {
		txids[i] = tx.TxHash()
	}
	return txids
}

func (c *fakeChain) blockAt(height int32) (fakeBlock, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if height < 0 || int(height) >= len(c.blocks) {
		return fakeBlock{}, false
	}
	return c.blocks[height], true
}

func (c *fakeChain) blockByHash(hash chainhash.Hash) (fakeBlock, int32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, b := range c.blocks {
		if b.hash == hash {
			return b, int32(h), true
		}
	}
	return fakeBlock{}, 0, false
}

// fundTx makes a transaction from nowhere paying each amount to its
// script (the model does not check inputs of mined transactions).
func fundTx(tag string, outs ...*wire.TxOut) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: hashOf(tag)}, nil, nil))
	for _, o := range outs {
		tx.AddTxOut(o)
	}
	return tx
}

// replayScenario builds the chain both replay servers serve to the
// conformance suite, and what the suite must find in it:
//
//	block 1: F1 pays A 1_000_000 and B 2_000_000
//	block 2: F2 pays A 300_000; S1 spends A of F1
//	block 3: empty
//	mempool: F3 pays B 50_000; S2 spends B of F1
func replayScenario(net *chaincfg.Params) (*fakeChain, suiteEnv) {
	wsA, wsB := witnessScript(1), witnessScript(2)
	a, b := p2wshScript(wsA), p2shScript(p2wshScript(wsB))
	away := p2wshScript(witnessScript(3))
	c := newFakeChain(net)

	f1 := fundTx("F1", wire.NewTxOut(1_000_000, a), wire.NewTxOut(2_000_000, b))
	c.mine(f1)
	f2 := fundTx("F2", wire.NewTxOut(300_000, a))
	s1 := spendTx(wire.OutPoint{Hash: f1.TxHash(), Index: 0}, 1_000_000, wsA, away, 1_000)
	c.mine(f2, s1)
	tipHash := c.mine()
	f3 := fundTx("F3", wire.NewTxOut(50_000, b))
	s2 := spendTx(wire.OutPoint{Hash: f1.TxHash(), Index: 1}, 2_000_000, wsB, away, 2_000)
	c.mempool = append(c.mempool, f3, s2)

	env := suiteEnv{
		net:       net,
		tipHeight: 3,
		tipHash:   tipHash,
		scripts:   [][]byte{a, b},
		unspent: []UTXO{
			{OutPoint: wire.OutPoint{Hash: f2.TxHash()}, Value: 300_000, PkScript: a, Height: 2},
			{OutPoint: wire.OutPoint{Hash: f3.TxHash()}, Value: 50_000, PkScript: b},
		},
		history: []TxRef{
			{TxID: f1.TxHash(), Height: 1, Time: c.blocks[1].time}, {TxID: f2.TxHash(), Height: 2, Time: c.blocks[2].time},
			{TxID: s1.TxHash(), Height: 2, Time: c.blocks[2].time}, {TxID: f3.TxHash()}, {TxID: s2.TxHash()},
		},
		knownTx:   f2.TxHash(),
		broadcast: spendTx(wire.OutPoint{Hash: s1.TxHash()}, 999_000, witnessScript(3), p2wshScript(witnessScript(4)), 1_000),
		invalid:   spendTx(wire.OutPoint{Hash: hashOf("nowhere")}, 10_000, wsA, away, 1_000),
	}
	return c, env
}

// btcAmount renders satoshis the way bitcoind prints amounts: a JSON
// number with exactly eight decimals.
func btcAmount(sats int64) string {
	sign := ""
	if sats < 0 {
		sign, sats = "-", -sats
	}
	return fmt.Sprintf("%s%d.%08d", sign, sats/satsPerBTC, sats%satsPerBTC)
}

// sortedKeys is a small helper for deterministic server answers.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
