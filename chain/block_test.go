package chain

import (
	"bytes"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// TestMerkleRootVectors checks the tree against real headers: mainnet
// block 100000 (four transactions, so two levels; txids and root as
// published by any block explorer) and the genesis block (one
// transaction: the root is its txid).
func TestMerkleRootVectors(t *testing.T) {
	var txids []chainhash.Hash
	for _, s := range []string{
		"8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87",
		"fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4",
		"6359f0868171b1d194cbee1af2f16ea598ae8fad666d9b012c8ed2b79a236ec4",
		"e9a66845e05d5abc0ad04ec80f774a7e585c6e8db975962d069a522137b80c1d",
	} {
		h, err := parseHash(s)
		if err != nil {
			t.Fatal(err)
		}
		txids = append(txids, h)
	}
	if got := merkleRootOf(txids); got.String() != "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766" {
		t.Errorf("merkle root of block 100000 = %s", got)
	}
	genesis := chaincfg.MainNetParams.GenesisBlock
	if got, err := merkleRoot(genesis.Transactions); err != nil || got != genesis.Header.MerkleRoot {
		t.Errorf("merkle root of the genesis block = %s, %v; want %s", got, err, genesis.Header.MerkleRoot)
	}
}

// TestDecodeBlock feeds decodeBlock a good block and each way a server's
// answer can be wrong, and checks the reason given.
func TestDecodeBlock(t *testing.T) {
	c := newFakeChain(&chaincfg.RegressionNetParams)
	a, b := fundTx("A", wire.NewTxOut(1_000, p2wshScript(witnessScript(1)))), fundTx("B", wire.NewTxOut(2_000, p2wshScript(witnessScript(2))))
	hash := c.mine(a, b) // coinbase + 2: an odd count, so the last is paired with itself
	good, _, _ := c.blockByHash(hash)
	raw := good.raw()

	// The same header over [coinbase, a, b, b]: same root (CVE-2012-2459).
	dup := good.msgBlock()
	dup.Transactions = append(dup.Transactions, b)
	var dupRaw bytes.Buffer
	if err := dup.Serialize(&dupRaw); err != nil {
		t.Fatal(err)
	}
	// Another value in a's output: the header no longer covers it.
	changed := good.msgBlock()
	changed.Transactions[1] = fundTx("A", wire.NewTxOut(1_001, p2wshScript(witnessScript(1))))
	var changedRaw bytes.Buffer
	if err := changed.Serialize(&changedRaw); err != nil {
		t.Fatal(err)
	}
	// A header with no transactions after it.
	var empty bytes.Buffer
	if err := (&wire.MsgBlock{Header: good.header}).Serialize(&empty); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		raw  []byte
		want chainhash.Hash
		err  string // "" = must decode
	}{
		{"good", raw, hash, ""},
		{"truncated", raw[:len(raw)-5], hash, "does not decode"},
		{"header only", raw[:80], hash, "does not decode"},
		{"empty", nil, hash, "does not decode"},
		{"trailing bytes", append(append([]byte{}, raw...), 0, 0), hash, "2 bytes follow the block"},
		{"another block", raw, hashOf("other"), "it is block " + hash.String()},
		{"changed transaction", changedRaw.Bytes(), hash, "merkle root"},
		{"repeated transaction", dupRaw.Bytes(), hash, "holds transaction " + b.TxHash().String() + " twice"},
		{"no transactions", empty.Bytes(), hash, "holds no transactions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			block, err := decodeBlock(tc.raw, tc.want)
			if tc.err == "" {
				if err != nil || block.BlockHash() != hash || len(block.Transactions) != 3 {
					t.Fatalf("decodeBlock = %v, want the block with 3 transactions", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("decodeBlock = %v, want an error saying %q", err, tc.err)
			}
		})
	}
	if _, err := decodeBlockHex("zz", hash); err == nil || !strings.Contains(err.Error(), "not hex") {
		t.Errorf("decodeBlockHex(zz) = %v, want a hex error", err)
	}
}

func TestParseHash(t *testing.T) {
	for _, s := range []string{"", "00", strings.Repeat("0", 63), strings.Repeat("0", 65), strings.Repeat("g", 64), "Block not found"} {
		if _, err := parseHash(s); err == nil {
			t.Errorf("parseHash(%q) accepted a non-hash", s)
		}
	}
	want := hashOf("x")
	if got, err := parseHash(want.String()); err != nil || got != want {
		t.Errorf("parseHash(%s) = %s, %v", want, got, err)
	}
}
