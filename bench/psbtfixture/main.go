// Command psbtfixture writes a 3-of-5 wsh(sortedmulti) regtest wallet
// descriptor and PSBTs spending N of its coins, for timing `countersign
// psbt combine`, `psbt finalize`, `psbt inspect` and `sign` as whole
// processes. Usage: psbtfixture -n 500 -dir DIR. It writes, in DIR:
//
//	desc          the wallet descriptor
//	unsigned.psbt the PSBT, signed by no one
//	part1.psbt, part2.psbt, part3.psbt
//	              the unsigned PSBT signed by cosigner 1, 2 and 3 alone:
//	              what three cosigners hand back to be combined
//	part12.psbt   signed by cosigners 1 and 2 (the third signs it next)
//	signed.psbt   signed by cosigners 1, 2 and 3
//	key1.tprv, key3.tprv
//	              the master keys of cosigners 1 and 3, for `key import`
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/psbt"
)

func main() {
	n := flag.Int("n", 500, "inputs")
	dir := flag.String("dir", ".", "output folder")
	flag.Parse()
	net := &chaincfg.RegressionNetParams
	var keys []string
	var masters []*hdkeychain.ExtendedKey
	for i := 1; i <= 5; i++ {
		seed := make([]byte, 32)
		for j := range seed {
			seed[j] = byte(i)
		}
		m, err := hdkeychain.NewMaster(seed, net)
		if err != nil {
			log.Fatal(err)
		}
		masters = append(masters, m)
		pub, _ := m.ECPubKey()
		fp := btcutil.Hash160(pub.SerializeCompressed())[:4]
		k := m
		for _, c := range []uint32{48, 1, 0, 2} {
			k, _ = k.Derive(hdkeychain.HardenedKeyStart + c)
		}
		x, _ := k.Neuter()
		keys = append(keys, fmt.Sprintf("[%x/48h/1h/0h/2h]%s/<0;1>/*", fp, x))
	}
	d, err := descriptor.Parse("wsh(sortedmulti(3," + strings.Join(keys, ",") + "))")
	if err != nil {
		log.Fatal(err)
	}
	// The packet is made by hand and completed by psbt.Update (the
	// Updater the coordinator runs on other tools' PSBTs), not by
	// psbt.Build: 2,000 inputs weigh more than Build lets a relayable
	// transaction weigh, and the benchmark measures the steps after it.
	tx := wire.NewMsgTx(2)
	prevs := map[chainhash.Hash]*wire.MsgTx{}
	where := map[string]uint32{}
	var total int64
	for i := 0; i < *n; i++ {
		der, err := d.Derive(0, uint32(i), net)
		if err != nil {
			log.Fatal(err)
		}
		prev := wire.NewMsgTx(2)
		prev.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{byte(i), byte(i >> 8), 1}, Index: 0}, nil, nil))
		prev.AddTxOut(wire.NewTxOut(100_000, der.ScriptPubKey))
		prevs[prev.TxHash()] = prev
		where[string(der.ScriptPubKey)] = uint32(i)
		in := wire.NewTxIn(&wire.OutPoint{Hash: prev.TxHash(), Index: 0}, nil, nil)
		in.Sequence = wire.MaxTxInSequenceNum - 2 // BIP-125 replaceable
		tx.AddTxIn(in)
		total += 100_000
	}
	dest, _ := d.Derive(0, 100_000, net)
	vsize, err := psbt.EstimateVSize(d, *n, [][]byte{dest.ScriptPubKey})
	if err != nil {
		log.Fatal(err)
	}
	tx.AddTxOut(wire.NewTxOut(total-2*vsize, dest.ScriptPubKey)) // 2 sat/vB
	p, err := bpsbt.NewFromUnsignedTx(tx)
	if err != nil {
		log.Fatal(err)
	}
	_, err = psbt.Update(p, psbt.WalletInfo{Descriptor: d, Network: net}, psbt.UpdateSource{
		Locate: func(script []byte) (uint32, uint32, bool) {
			i, ok := where[string(script)]
			return 0, i, ok
		},
		PrevTx: func(h chainhash.Hash) *wire.MsgTx { return prevs[h] },
	})
	if err != nil {
		log.Fatal(err)
	}
	write := func(name string, p *bpsbt.Packet) {
		raw, err := psbt.Serialize(p)
		if err != nil {
			log.Fatal(err)
		}
		must(os.WriteFile(filepath.Join(*dir, name), raw, 0o644))
	}
	sign := func(p *bpsbt.Packet, m *hdkeychain.ExtendedKey) *bpsbt.Packet {
		q, err := psbt.Clone(p)
		if err != nil {
			log.Fatal(err)
		}
		if _, err := psbt.Sign(q, m); err != nil {
			log.Fatal(err)
		}
		return q
	}
	write("unsigned.psbt", p)
	for k, m := range masters[:3] {
		write(fmt.Sprintf("part%d.psbt", k+1), sign(p, m))
	}
	p12 := sign(sign(p, masters[0]), masters[1])
	write("part12.psbt", p12)
	write("signed.psbt", sign(p12, masters[2]))
	must(os.WriteFile(filepath.Join(*dir, "desc"), []byte(d.String()+"\n"), 0o644))
	must(os.WriteFile(filepath.Join(*dir, "key1.tprv"), []byte(masters[0].String()+"\n"), 0o600))
	must(os.WriteFile(filepath.Join(*dir, "key3.tprv"), []byte(masters[2].String()+"\n"), 0o600))
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
