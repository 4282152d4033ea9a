package psbt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
)

// testNet is the network of the test wallets.
var testNet = &chaincfg.RegressionNetParams

// testWallet is an m-of-n wallet whose cosigners' master keys come from
// fixed seeds, so every run derives the same keys.
type testWallet struct {
	info    WalletInfo
	masters []*hdkeychain.ExtendedKey
	fps     [][4]byte
}

// newTestWallet builds a wallet with keys at the BIP-48 account path
// m/48h/1h/0h/<script>h, each key [fp/48h/1h/0h/Sh]tpub.../<0;1>/*.
func newTestWallet(t testing.TB, script descriptor.ScriptType, m, n int, sorted bool) *testWallet {
	t.Helper()
	tw := &testWallet{}
	scriptIdx := map[descriptor.ScriptType]uint32{descriptor.ScriptSh: 0, descriptor.ScriptShWsh: 1, descriptor.ScriptWsh: 2}[script]
	var keys []string
	for k := 0; k < n; k++ {
		seed := sha256.Sum256([]byte(fmt.Sprintf("countersign psbt test cosigner %d", k)))
		master, err := hdkeychain.NewMaster(seed[:], testNet)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := master.ECPubKey()
		var fp [4]byte
		copy(fp[:], btcutil.Hash160(pub.SerializeCompressed()))
		acct := master
		path := []uint32{48 + hdkeychain.HardenedKeyStart, 1 + hdkeychain.HardenedKeyStart, hdkeychain.HardenedKeyStart, scriptIdx + hdkeychain.HardenedKeyStart}
		for _, s := range path {
			if acct, err = acct.Derive(s); err != nil {
				t.Fatal(err)
			}
		}
		xpub, err := acct.Neuter()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, fmt.Sprintf("[%s/48h/1h/0h/%dh]%s/<0;1>/*", hex.EncodeToString(fp[:]), scriptIdx, xpub))
		tw.masters = append(tw.masters, master)
		tw.fps = append(tw.fps, fp)
		tw.info.Labels = append(tw.info.Labels, fmt.Sprintf("cosigner-%c", 'A'+k))
	}
	multi := "multi"
	if sorted {
		multi = "sortedmulti"
	}
	body := fmt.Sprintf("%s(%d,%s)", multi, m, strings.Join(keys, ","))
	switch script {
	case descriptor.ScriptSh:
		body = "sh(" + body + ")"
	case descriptor.ScriptShWsh:
		body = "sh(wsh(" + body + "))"
	case descriptor.ScriptWsh:
		body = "wsh(" + body + ")"
	}
	d, err := descriptor.Parse(body)
	if err != nil {
		t.Fatalf("descriptor %s: %v", body, err)
	}
	tw.info.Descriptor = d
	tw.info.Network = testNet
	return tw
}

// derive returns the wallet's scripts at a position.
func (tw *testWallet) derive(t testing.TB, branch, index uint32) *descriptor.Derived {
	t.Helper()
	d, err := tw.info.Descriptor.Derive(branch, index, testNet)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// utxo makes a coin of value sat paid to the wallet at (branch, index) by a
// made-up previous transaction; salt keeps txids distinct.
func (tw *testWallet) utxo(t testing.TB, branch, index uint32, value int64, salt int) UTXO {
	t.Helper()
	return utxoFor(tw.derive(t, branch, index), branch, index, value, salt)
}

func utxoFor(d *descriptor.Derived, branch, index uint32, value int64, salt int) UTXO {
	prev := wire.NewMsgTx(2)
	var h chainhash.Hash
	h[0], h[1], h[2] = byte(salt), byte(salt>>8), byte(salt>>16)
	prev.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: h, Index: uint32(salt)}, SignatureScript: []byte{0x51}, Sequence: wire.MaxTxInSequenceNum})
	// A second output in front, so the coin is not always output 0.
	prev.AddTxOut(wire.NewTxOut(1000+int64(salt), []byte{0x51}))
	prev.AddTxOut(wire.NewTxOut(value, d.ScriptPubKey))
	return UTXO{
		OutPoint:      wire.OutPoint{Hash: prev.TxHash(), Index: 1},
		Value:         value,
		Branch:        branch,
		Index:         index,
		PrevTx:        prev,
		Confirmations: 6,
	}
}

// externalScript is a P2WPKH script to someone else.
func externalScript(tag byte) []byte {
	s := []byte{0x00, 0x14}
	for i := 0; i < 20; i++ {
		s = append(s, tag)
	}
	return s
}

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x5eed)) }

// signAll signs p with the masters of the cosigners listed.
func (tw *testWallet) sign(t testing.TB, p *bpsbt.Packet, cosigners ...int) {
	t.Helper()
	for _, k := range cosigners {
		if _, err := Sign(p, tw.masters[k]); err != nil {
			t.Fatalf("cosigner %d signs: %v", k, err)
		}
	}
}

// clone deep-copies a packet through its serialization.
func clone(t testing.TB, p *bpsbt.Packet) *bpsbt.Packet {
	t.Helper()
	b, err := Serialize(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// actualVSize is the virtual size of a signed transaction (BIP-141).
func actualVSize(tx *wire.MsgTx) int64 {
	weight := int64(tx.SerializeSizeStripped())*3 + int64(tx.SerializeSize())
	return (weight + 3) / 4
}

func txBytes(t testing.TB, tx *wire.MsgTx) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := tx.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
