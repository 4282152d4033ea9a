package cli

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
)

// testCosigner is a BIP-48 key from a fixed seed, for regtest wallets.
type testCosigner struct {
	Master *hdkeychain.ExtendedKey
	FP     string
	Expr   string // [fp/48h/1h/0h/2h]tpub...
}

// bip48Path is m/48'/1'/0'/<script>' (script 2 = wsh, 1 = sh-wsh); plain sh
// uses m/45' by convention but BIP-48 paths work for every type here.
func newTestCosigner(t testing.TB, seedByte byte, script uint32) testCosigner {
	t.Helper()
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = seedByte
	}
	m, err := hdkeychain.NewMaster(seed, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := m.ECPubKey()
	fp := btcutil.Hash160(pub.SerializeCompressed())[:4]
	k := m
	for _, c := range []uint32{48, 1, 0, script} {
		if k, err = k.Derive(hdkeychain.HardenedKeyStart + c); err != nil {
			t.Fatal(err)
		}
	}
	n, err := k.Neuter()
	if err != nil {
		t.Fatal(err)
	}
	fps := fmt.Sprintf("%08x", binary.BigEndian.Uint32(fp))
	return testCosigner{Master: m, FP: fps, Expr: fmt.Sprintf("[%s/48h/1h/0h/%dh]%s", fps, script, n.String())}
}

// testDescriptor builds an m-of-n sortedmulti descriptor of the given
// script type over cosigners made from seeds 1..n.
func testDescriptor(t testing.TB, script string, m, n int) (string, []testCosigner) {
	t.Helper()
	st := uint32(2)
	if script == "sh-wsh" {
		st = 1
	}
	var cs []testCosigner
	var keys []string
	for i := 0; i < n; i++ {
		c := newTestCosigner(t, byte(i+1), st)
		cs = append(cs, c)
		keys = append(keys, c.Expr+"/<0;1>/*")
	}
	inner := fmt.Sprintf("sortedmulti(%d,%s)", m, strings.Join(keys, ","))
	switch script {
	case "wsh":
		return "wsh(" + inner + ")", cs
	case "sh-wsh":
		return "sh(wsh(" + inner + "))", cs
	default:
		return "sh(" + inner + ")", cs
	}
}
