// Command psbtfixture writes a 3-of-5 wsh(sortedmulti) regtest wallet
// descriptor and a PSBT spending N of its coins, signed by three cosigners,
// for timing `countersign psbt inspect` and `psbt finalize` as whole
// processes. Usage: psbtfixture -n 500 -dir DIR (writes DIR/desc, DIR/signed.psbt).
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
	var utxos []psbt.UTXO
	var total int64
	for i := 0; i < *n; i++ {
		der, err := d.Derive(0, uint32(i), net)
		if err != nil {
			log.Fatal(err)
		}
		prev := wire.NewMsgTx(2)
		prev.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{byte(i), byte(i >> 8), 1}, Index: 0}, nil, nil))
		prev.AddTxOut(wire.NewTxOut(100_000, der.ScriptPubKey))
		utxos = append(utxos, psbt.UTXO{OutPoint: wire.OutPoint{Hash: prev.TxHash(), Index: 0}, Value: 100_000, Branch: 0, Index: uint32(i), PrevTx: prev, Confirmations: 6})
		total += 100_000
	}
	dest, _ := d.Derive(0, 100_000, net)
	pre := make([]wire.OutPoint, len(utxos))
	for i, u := range utxos {
		pre[i] = u.OutPoint
	}
	p, _, err := psbt.Build(psbt.BuildRequest{
		Wallet: psbt.WalletInfo{Descriptor: d, Network: net}, UTXOs: utxos, Preselected: pre,
		Outputs: []psbt.Output{{Script: dest.ScriptPubKey}}, SendAll: true, FeeRate: 2, ChangeBranch: 1,
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range masters[:3] {
		if _, err := psbt.Sign(p, m); err != nil {
			log.Fatal(err)
		}
	}
	raw, err := psbt.Serialize(p)
	if err != nil {
		log.Fatal(err)
	}
	must(os.WriteFile(filepath.Join(*dir, "desc"), []byte(d.String()+"\n"), 0o644))
	must(os.WriteFile(filepath.Join(*dir, "signed.psbt"), raw, 0o644))
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
