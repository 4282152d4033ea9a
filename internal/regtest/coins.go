package regtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

const (
	// coinbaseMaturity is how many confirmations a coinbase output needs
	// before a transaction spending it may enter a block (regtest too).
	coinbaseMaturity = 100
	// harnessFeeRate is the fee rate of harness transactions in sat/vB,
	// above btcd's 1 sat/vB relay minimum.
	harnessFeeRate = 2
	// minChange is the smallest change output worth keeping; anything
	// below goes to the fee rather than creating dust.
	minChange = 1000
)

// coin is one output the harness key can spend.
type coin struct {
	value    int64
	height   int32 // 0 while unconfirmed
	coinbase bool
	// pending is the change of a transaction built by Spend but not yet
	// sent with SendRaw; it must not be spent before the node knows it.
	pending bool
}

// coins is the harness's wallet: one key, the outputs paying it, and how far
// the chain has been scanned for them.
type coins struct {
	mu      sync.Mutex
	key     *btcec.PrivateKey
	addr    btcutil.Address
	script  []byte
	utxos   map[wire.OutPoint]*coin
	scanned int32 // blocks up to this height have been scanned
}

// newCoins derives the harness key. It is fixed, not random: regtest coins
// are worthless and a fixed key makes node logs comparable between runs.
func newCoins() (*coins, error) {
	seed := sha256.Sum256([]byte("countersign regtest harness key"))
	key, _ := btcec.PrivKeyFromBytes(seed[:])
	pkHash := btcutil.Hash160(key.PubKey().SerializeCompressed())
	addr, err := btcutil.NewAddressWitnessPubKeyHash(pkHash, &chaincfg.RegressionNetParams)
	if err != nil {
		return nil, fmt.Errorf("regtest: harness address: %w", err)
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, fmt.Errorf("regtest: harness script: %w", err)
	}
	return &coins{key: key, addr: addr, script: script, utxos: map[wire.OutPoint]*coin{}}, nil
}

// Address is the harness key's P2WPKH address; mined blocks pay it.
func (n *Node) Address() btcutil.Address { return n.coins.addr }

// Fund sends amount satoshis to addr from the harness's coins and returns
// the txid. The transaction is left unconfirmed; call Mine to confirm it.
// On first use Fund mines the 101 blocks that make a coinbase spendable.
func (n *Node) Fund(ctx context.Context, addr btcutil.Address, amount int64) (chainhash.Hash, error) {
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return chainhash.Hash{}, fmt.Errorf("regtest: fund %s: %w", addr, err)
	}
	return n.FundScript(ctx, script, amount)
}

// FundScript is Fund for an output script.
func (n *Node) FundScript(ctx context.Context, pkScript []byte, amount int64) (chainhash.Hash, error) {
	tx, err := n.Spend(ctx, []*wire.TxOut{wire.NewTxOut(amount, pkScript)})
	if err != nil {
		return chainhash.Hash{}, err
	}
	return n.SendRaw(ctx, tx)
}

// Spend builds and signs a transaction paying outs from the harness's
// coins, with change back to the harness, and returns it without sending
// it. The coins it spends are gone from the harness whether or not the
// transaction is ever sent; its change becomes spendable once SendRaw sends
// it.
func (n *Node) Spend(ctx context.Context, outs []*wire.TxOut) (*wire.MsgTx, error) {
	var total int64
	for _, out := range outs {
		if out.Value <= 0 {
			return nil, fmt.Errorf("regtest: spend: output amount %d is not positive", out.Value)
		}
		total += out.Value
	}
	c := n.coins
	c.mu.Lock()
	defer c.mu.Unlock()

	// When the coins on hand do not cover the outputs, mine until enough
	// coinbase outputs have matured and select again.
	const rounds = 3
	for round := 0; ; round++ {
		tip, err := n.scan(ctx)
		if err != nil {
			return nil, err
		}
		picked, sum := c.selectCoins(tip, func(nIn int) int64 { return total + maxFee(outs, nIn) })
		if sum >= total+maxFee(outs, len(picked)) {
			return c.build(outs, picked, total)
		}
		if round == rounds-1 {
			return nil, fmt.Errorf("regtest: spend %d sat: the harness holds only %d sat of spendable coins", total, sum)
		}
		if _, err := n.Mine(ctx, c.blocksToMature(tip, total+maxFee(outs, len(picked)+1)-sum)); err != nil {
			return nil, err
		}
	}
}

// SendRaw sends tx to the node and returns its txid. Outputs paying the
// harness become spendable coins.
func (n *Node) SendRaw(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		return chainhash.Hash{}, fmt.Errorf("regtest: serialize transaction: %w", err)
	}
	var txid string
	if err := n.rpc.call(ctx, "sendrawtransaction", &txid, hex.EncodeToString(buf.Bytes())); err != nil {
		return chainhash.Hash{}, err
	}
	hash := tx.TxHash()
	if txid != hash.String() {
		return chainhash.Hash{}, fmt.Errorf("regtest: node accepted %s but reported txid %s", hash, txid)
	}
	c := n.coins
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, out := range tx.TxOut {
		if !bytes.Equal(out.PkScript, c.script) {
			continue
		}
		op := wire.OutPoint{Hash: hash, Index: uint32(i)}
		if known, ok := c.utxos[op]; ok {
			known.pending = false
		} else {
			c.utxos[op] = &coin{value: out.Value}
		}
	}
	return hash, nil
}

// scan reads the blocks mined since the last scan and records the outputs
// paying the harness (coinbases included). It returns the tip height.
// The caller holds c.mu.
func (n *Node) scan(ctx context.Context) (int32, error) {
	c := n.coins
	var tip int32
	if err := n.rpc.call(ctx, "getblockcount", &tip); err != nil {
		return 0, err
	}
	for h := c.scanned + 1; h <= tip; h++ {
		var hash string
		if err := n.rpc.call(ctx, "getblockhash", &hash, h); err != nil {
			return 0, err
		}
		var blockHex string
		if err := n.rpc.call(ctx, "getblock", &blockHex, hash, 0); err != nil {
			return 0, err
		}
		raw, err := hex.DecodeString(blockHex)
		if err != nil {
			return 0, fmt.Errorf("regtest: block %s is not hex: %w", hash, err)
		}
		var block wire.MsgBlock
		if err := block.Deserialize(bytes.NewReader(raw)); err != nil {
			return 0, fmt.Errorf("regtest: decode block %s: %w", hash, err)
		}
		for i, tx := range block.Transactions {
			c.record(tx, h, i == 0)
		}
		c.scanned = h
	}
	return tip, nil
}

// record updates the coin set with one confirmed transaction.
func (c *coins) record(tx *wire.MsgTx, height int32, coinbase bool) {
	if !coinbase {
		for _, in := range tx.TxIn {
			delete(c.utxos, in.PreviousOutPoint)
		}
	}
	txid := tx.TxHash()
	for i, out := range tx.TxOut {
		if !bytes.Equal(out.PkScript, c.script) {
			continue
		}
		op := wire.OutPoint{Hash: txid, Index: uint32(i)}
		c.utxos[op] = &coin{value: out.Value, height: height, coinbase: coinbase}
	}
}

type pickedCoin struct {
	op    wire.OutPoint
	value int64
}

// selectCoins picks spendable coins, oldest confirmed first (which keeps
// unconfirmed chains short), until they cover target(number of inputs).
func (c *coins) selectCoins(tip int32, target func(nIn int) int64) ([]pickedCoin, int64) {
	var candidates []pickedCoin
	heights := map[wire.OutPoint]int32{}
	for op, cn := range c.utxos {
		if cn.pending || (cn.coinbase && tip+1-cn.height < coinbaseMaturity) {
			continue
		}
		candidates = append(candidates, pickedCoin{op: op, value: cn.value})
		heights[op] = cn.height
	}
	sort.Slice(candidates, func(i, j int) bool {
		hi, hj := heights[candidates[i].op], heights[candidates[j].op]
		if (hi == 0) != (hj == 0) {
			return hj == 0 // confirmed before unconfirmed
		}
		if hi != hj {
			return hi < hj
		}
		return candidates[i].op.String() < candidates[j].op.String()
	})
	var picked []pickedCoin
	var sum int64
	for _, cand := range candidates {
		if len(picked) > 0 && sum >= target(len(picked)) {
			break
		}
		picked = append(picked, cand)
		sum += cand.value
	}
	return picked, sum
}

// blocksToMature is how many blocks to mine so that newly mature coinbase
// value covers shortfall. A coinbase mined at height h may be spent by a
// transaction entering block h+100, so it is spendable from the mempool
// once the tip reaches h+99. Without enough immature coinbases it mines
// 101 blocks, which matures at least one new coinbase.
func (c *coins) blocksToMature(tip int32, shortfall int64) int {
	var immature []*coin
	for _, cn := range c.utxos {
		if cn.coinbase && tip+1-cn.height < coinbaseMaturity {
			immature = append(immature, cn)
		}
	}
	sort.Slice(immature, func(i, j int) bool { return immature[i].height < immature[j].height })
	var covered int64
	for _, cn := range immature {
		covered += cn.value
		if covered >= shortfall {
			return max(1, int(cn.height+coinbaseMaturity-1-tip))
		}
	}
	return coinbaseMaturity + 1
}

// build signs a transaction spending picked to outs, with change to the
// harness key, and updates the coin set. The caller holds c.mu.
//
// The fee is computed from the signed size: sign once with the largest
// change, measure, set the change, sign again.
func (c *coins) build(outs []*wire.TxOut, picked []pickedCoin, total int64) (*wire.MsgTx, error) {
	tx := wire.NewMsgTx(2)
	prevOuts := map[wire.OutPoint]*wire.TxOut{}
	var in int64
	for _, p := range picked {
		// A sequence below 0xfffffffe signals BIP-125 replaceability, so
		// tests can also exercise fee bumping.
		txIn := wire.NewTxIn(&p.op, nil, nil)
		txIn.Sequence = wire.MaxTxInSequenceNum - 2
		tx.AddTxIn(txIn)
		prevOuts[p.op] = wire.NewTxOut(p.value, c.script)
		in += p.value
	}
	for _, out := range outs {
		tx.AddTxOut(wire.NewTxOut(out.Value, out.PkScript))
	}
	change := wire.NewTxOut(in-total, c.script)
	tx.AddTxOut(change)
	if err := c.sign(tx, prevOuts); err != nil {
		return nil, err
	}
	// A signature is at most one byte longer than the one just made;
	// one extra vbyte per input covers it.
	fee := (vsize(tx) + int64(len(tx.TxIn))) * harnessFeeRate
	if in-total < fee {
		return nil, fmt.Errorf("regtest: spend %d sat: the selected coins (%d sat) do not cover the fee of %d sat", total, in, fee)
	}
	change.Value = in - total - fee
	if change.Value < minChange {
		// Dust change would be refused; leave it to the miner.
		tx.TxOut = tx.TxOut[:len(tx.TxOut)-1]
	}
	if err := c.sign(tx, prevOuts); err != nil {
		return nil, err
	}
	for _, p := range picked {
		delete(c.utxos, p.op)
	}
	if len(tx.TxOut) > len(outs) {
		op := wire.OutPoint{Hash: tx.TxHash(), Index: uint32(len(outs))}
		c.utxos[op] = &coin{value: change.Value, pending: true}
	}
	return tx, nil
}

// vsize is a transaction's virtual size in vbytes (BIP-141).
func vsize(tx *wire.MsgTx) int64 {
	weight := tx.SerializeSizeStripped()*3 + tx.SerializeSize()
	return int64((weight + 3) / 4)
}

func (c *coins) sign(tx *wire.MsgTx, prevOuts map[wire.OutPoint]*wire.TxOut) error {
	fetcher := txscript.NewMultiPrevOutFetcher(prevOuts)
	sigHashes := txscript.NewTxSigHashes(tx, fetcher)
	for i, txIn := range tx.TxIn {
		prev := prevOuts[txIn.PreviousOutPoint]
		witness, err := txscript.WitnessSignature(tx, sigHashes, i, prev.Value, prev.PkScript, txscript.SigHashAll, c.key, true)
		if err != nil {
			return fmt.Errorf("regtest: sign input %d: %w", i, err)
		}
		txIn.Witness = witness
	}
	return nil
}

// maxFee bounds the fee of a transaction paying outs from nIn harness
// inputs and one change output, at harnessFeeRate. Coin selection uses it;
// build then charges the fee of the actual signed size.
func maxFee(outs []*wire.TxOut, nIn int) int64 {
	const (
		overheadVB = 11 // version, locktime, counts, segwit marker
		inputVB    = 69 // outpoint, sequence, empty scriptSig, ~108 WU witness
		changeVB   = 31 // value + 22-byte P2WPKH script
	)
	size := overheadVB + nIn*inputVB + changeVB
	for _, out := range outs {
		size += 9 + len(out.PkScript) + 2 // value, script length, script
	}
	return int64(size) * harnessFeeRate
}
