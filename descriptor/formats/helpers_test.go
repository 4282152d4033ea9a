package formats

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
)

const hard = hdkeychain.HardenedKeyStart

// testAccountKey derives cosigner i's account key, private or public.
func testAccountKey(t testing.TB, i int, net *chaincfg.Params, path []uint32, private bool) string {
	t.Helper()
	seed := sha256.Sum256([]byte(fmt.Sprintf("countersign formats test cosigner %d", i)))
	k, err := hdkeychain.NewMaster(seed[:], net)
	if err != nil {
		t.Fatalf("master key %d: %v", i, err)
	}
	for _, step := range path {
		if k, err = k.Derive(step); err != nil {
			t.Fatalf("derive cosigner %d: %v", i, err)
		}
	}
	if !private {
		if k, err = k.Neuter(); err != nil {
			t.Fatalf("neuter cosigner %d: %v", i, err)
		}
	}
	return k.String()
}

// testCosigner derives cosigner i's account xpub from a fixed seed, the way
// a signing device would export it, and returns its key expression
// "[fingerprint/path]xpub" (path written with ', as devices print it).
func testCosigner(t testing.TB, i int, net *chaincfg.Params, path []uint32) string {
	t.Helper()
	seed := sha256.Sum256([]byte(fmt.Sprintf("countersign formats test cosigner %d", i)))
	master, err := hdkeychain.NewMaster(seed[:], net)
	if err != nil {
		t.Fatalf("master key %d: %v", i, err)
	}
	pub, err := master.ECPubKey()
	if err != nil {
		t.Fatalf("master pubkey %d: %v", i, err)
	}
	fp := btcutil.Hash160(pub.SerializeCompressed())[:4]
	k := master
	var p strings.Builder
	for _, step := range path {
		if k, err = k.Derive(step); err != nil {
			t.Fatalf("derive cosigner %d: %v", i, err)
		}
		if step >= hard {
			fmt.Fprintf(&p, "/%d'", step-hard)
		} else {
			fmt.Fprintf(&p, "/%d", step)
		}
	}
	xpub, err := k.Neuter()
	if err != nil {
		t.Fatalf("neuter cosigner %d: %v", i, err)
	}
	return fmt.Sprintf("[%x%s]%s", fp, p.String(), xpub.String())
}

// accountPath is the conventional cosigner path for a script type: BIP-48
// for segwit (script 1' nested, 2' native), BIP-45 for legacy P2SH.
func accountPath(script descriptor.ScriptType, net *chaincfg.Params) []uint32 {
	coin := uint32(1)
	if net.Name == chaincfg.MainNetParams.Name {
		coin = 0
	}
	switch script {
	case descriptor.ScriptWsh:
		return []uint32{48 + hard, coin + hard, hard, 2 + hard}
	case descriptor.ScriptShWsh:
		return []uint32{48 + hard, coin + hard, hard, 1 + hard}
	}
	return []uint32{45 + hard}
}

func wrapScript(script descriptor.ScriptType, inner string) string {
	switch script {
	case descriptor.ScriptWsh:
		return "wsh(" + inner + ")"
	case descriptor.ScriptShWsh:
		return "sh(wsh(" + inner + "))"
	}
	return "sh(" + inner + ")"
}

var testLabels = []string{"Alice", "Bob", "Carol", "Dave", "Erin", "Frank"}

// testWallet builds an m-of-n receive/change wallet of fixed cosigners.
func testWallet(t testing.TB, script descriptor.ScriptType, m, n int, net *chaincfg.Params, sorted bool) *Wallet {
	t.Helper()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = testCosigner(t, i, net, accountPath(script, net)) + "/<0;1>/*"
	}
	fn := "sortedmulti"
	if !sorted {
		fn = "multi"
	}
	s := wrapScript(script, fmt.Sprintf("%s(%d,%s)", fn, m, strings.Join(keys, ",")))
	d, err := descriptor.Parse(s)
	if err != nil {
		t.Fatalf("parse test wallet %s: %v", s, err)
	}
	return &Wallet{
		Name:        fmt.Sprintf("Vault %d-of-%d %s", m, n, script),
		Descriptor:  d,
		Network:     net,
		Labels:      append([]string(nil), testLabels[:n]...),
		BirthHeight: 850123,
	}
}

func mustParse(t testing.TB, s string) *descriptor.Descriptor {
	t.Helper()
	d, err := descriptor.Parse(s)
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return d
}
