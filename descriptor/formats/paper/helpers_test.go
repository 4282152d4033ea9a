package paper

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
)

const hard = hdkeychain.HardenedKeyStart

// testCosigner derives cosigner i's account key from a fixed seed, as a
// signing device would export it: "[fingerprint/path]xpub".
func testCosigner(t testing.TB, i int, net *chaincfg.Params, path []uint32) string {
	t.Helper()
	seed := sha256.Sum256([]byte(fmt.Sprintf("countersign paper test cosigner %d", i)))
	k, err := hdkeychain.NewMaster(seed[:], net)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.ECPubKey()
	if err != nil {
		t.Fatal(err)
	}
	fp := btcutil.Hash160(pub.SerializeCompressed())[:4]
	var p strings.Builder
	for _, step := range path {
		if k, err = k.Derive(step); err != nil {
			t.Fatal(err)
		}
		if step >= hard {
			fmt.Fprintf(&p, "/%dh", step-hard)
		} else {
			fmt.Fprintf(&p, "/%d", step)
		}
	}
	xpub, err := k.Neuter()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("[%x%s]%s", fp, p.String(), xpub.String())
}

var testLabels = []string{"Alice (phone)", "Bob's Coldcard", "Carol - safe deposit box", "Dave", "Erin",
	"Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Zoe"}

// testWallet builds an m-of-n receive/change wallet of fixed cosigners.
func testWallet(t testing.TB, script descriptor.ScriptType, m, n int, net *chaincfg.Params) *formats.Wallet {
	t.Helper()
	coin := uint32(0)
	if net.Name != chaincfg.MainNetParams.Name {
		coin = 1
	}
	path := []uint32{48 + hard, coin + hard, hard, 2 + hard}
	wrap := "wsh(%s)"
	switch script {
	case descriptor.ScriptShWsh:
		path[3] = 1 + hard
		wrap = "sh(wsh(%s))"
	case descriptor.ScriptSh:
		path = []uint32{45 + hard}
		wrap = "sh(%s)"
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = testCosigner(t, i, net, path) + "/<0;1>/*"
	}
	d, err := descriptor.Parse(fmt.Sprintf(wrap, fmt.Sprintf("sortedmulti(%d,%s)", m, strings.Join(keys, ","))))
	if err != nil {
		t.Fatal(err)
	}
	return &formats.Wallet{
		Name:        fmt.Sprintf("Family vault %d-of-%d", m, n),
		Descriptor:  d,
		Network:     net,
		Labels:      append([]string(nil), testLabels[:n]...),
		BirthHeight: 850123,
	}
}
