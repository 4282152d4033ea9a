// Command desc35 prints a fixed 3-of-5 wsh(sortedmulti) mainnet descriptor
// (keys from constant seeds) for the benchmark scripts.
package main

import (
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
)

func main() {
	var keys []string
	for i := 1; i <= 5; i++ {
		seed := make([]byte, 32)
		for j := range seed {
			seed[j] = byte(i)
		}
		m, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
		if err != nil {
			panic(err)
		}
		pub, _ := m.ECPubKey()
		fp := btcutil.Hash160(pub.SerializeCompressed())[:4]
		k := m
		for _, c := range []uint32{48, 0, 0, 2} {
			if k, err = k.Derive(hdkeychain.HardenedKeyStart + c); err != nil {
				panic(err)
			}
		}
		n, _ := k.Neuter()
		keys = append(keys, fmt.Sprintf("[%x/48h/0h/0h/2h]%s/<0;1>/*", fp, n))
	}
	fmt.Printf("wsh(sortedmulti(3,%s))\n", strings.Join(keys, ","))
}
