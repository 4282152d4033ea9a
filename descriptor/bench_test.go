package descriptor

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
)

// benchWallet builds an m-of-n wsh(sortedmulti) wallet from fixed seeds at
// the BIP-48 P2WSH account path, with origins, in multipath form.
func benchWallet(tb testing.TB, m, n int) *Descriptor {
	tb.Helper()
	keys := make([]string, n)
	for i := range n {
		seed := sha256.Sum256([]byte(fmt.Sprintf("countersign benchmark cosigner %d", i)))
		master, err := hdkeychain.NewMaster(seed[:], &chaincfg.MainNetParams)
		if err != nil {
			tb.Fatal(err)
		}
		pub, err := master.Neuter()
		if err != nil {
			tb.Fatal(err)
		}
		fp, err := fingerprintOf(pub)
		if err != nil {
			tb.Fatal(err)
		}
		acct := master
		for _, s := range []uint32{48, 0, 0, 2} {
			if acct, err = acct.Derive(s + HardenedKeyStart); err != nil {
				tb.Fatal(err)
			}
		}
		xpub, err := acct.Neuter()
		if err != nil {
			tb.Fatal(err)
		}
		keys[i] = fmt.Sprintf("[%x/48h/0h/0h/2h]%s/<0;1>/*", fp, xpub)
	}
	d, err := Parse(fmt.Sprintf("wsh(sortedmulti(%d,%s))", m, strings.Join(keys, ",")))
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// BenchmarkDeriveRange3of5 derives 10,000 receive addresses of a 3-of-5
// wsh(sortedmulti) wallet from a freshly parsed descriptor (cold cache), the
// work behind `countersign address --count 10000`.
func BenchmarkDeriveRange3of5(b *testing.B) {
	desc := benchWallet(b, 3, 5).String()
	b.ReportAllocs()
	for b.Loop() {
		d, err := Parse(desc)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := d.DeriveRange(0, 0, 10000, &chaincfg.MainNetParams); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDerive3of5 is one address with a warm cache: n child derivations.
func BenchmarkDerive3of5(b *testing.B) {
	d := benchWallet(b, 3, 5)
	b.ReportAllocs()
	i := uint32(0)
	for b.Loop() {
		if _, err := d.Derive(0, i, &chaincfg.MainNetParams); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkChildHdkeychain and BenchmarkChildPubNode compare one public
// child derivation through hdkeychain with the cached-point version.
func BenchmarkChildHdkeychain(b *testing.B) {
	k := benchWallet(b, 1, 1).Keys[0].XPub
	i := uint32(0)
	for b.Loop() {
		if _, err := k.Derive(i % HardenedKeyStart); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkChildPubNode(b *testing.B) {
	n, err := nodeFromExtendedKey(benchWallet(b, 1, 1).Keys[0].XPub)
	if err != nil {
		b.Fatal(err)
	}
	i := uint32(0)
	for b.Loop() {
		if _, _, err := n.ckd(i % HardenedKeyStart); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
