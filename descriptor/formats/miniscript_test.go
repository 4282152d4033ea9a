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

// miniscriptWallet is an inheritance wallet: 2 of alice, bob, carol, or
// after 144 blocks 1 of lawyer and alice's second key (/<2;3>/*).
func miniscriptWallet(t *testing.T) *Wallet {
	t.Helper()
	keys := map[string]string{}
	for _, n := range []string{"alice", "bob", "carol", "lawyer"} {
		seed := sha256.Sum256([]byte("formats miniscript " + n))
		m, err := hdkeychain.NewMaster(seed[:], &chaincfg.TestNet3Params)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := m.Neuter()
		pk, _ := pub.ECPubKey()
		acct := m
		for _, s := range []uint32{48, 1, 0, 2} {
			acct, _ = acct.Derive(s + hdkeychain.HardenedKeyStart)
		}
		x, _ := acct.Neuter()
		keys[n] = fmt.Sprintf("[%x/48h/1h/0h/2h]%s", btcutil.Hash160(pk.SerializeCompressed())[:4], x)
	}
	d, err := descriptor.Parse(fmt.Sprintf("wsh(or_d(multi(2,%s/<0;1>/*,%s/<0;1>/*,%s/<0;1>/*),and_v(v:multi(1,%s/<0;1>/*,%s/<2;3>/*),older(144))))",
		keys["alice"], keys["bob"], keys["carol"], keys["lawyer"], keys["alice"]))
	if err != nil {
		t.Fatal(err)
	}
	return &Wallet{Name: "family", Descriptor: d, Network: &chaincfg.TestNet3Params}
}

// TestMiniscriptExports: descriptor, Core (receive /0/* and /1/* with the
// recovery key at /2/* and /3/*), Specter and BSMS carry a miniscript
// wallet and read back the same; Coldcard and Caravan files cannot hold
// one and say so.
func TestMiniscriptExports(t *testing.T) {
	w := miniscriptWallet(t)
	for _, f := range []Format{FormatDescriptor, FormatCore, FormatSpecter, FormatBSMS} {
		out, err := Export(w, f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		back, _, err := Import(out, &chaincfg.TestNet3Params)
		if err != nil {
			t.Fatalf("%s import: %v", f, err)
		}
		if back.Descriptor.String() != w.Descriptor.String() {
			t.Fatalf("%s: read back %s", f, back.Descriptor)
		}
		if f == FormatCore && (!strings.Contains(string(out), "/2/*") || !strings.Contains(string(out), "/3/*")) {
			t.Fatalf("core export lacks the recovery branches:\n%s", out)
		}
	}
	for _, f := range []Format{FormatColdcard, FormatCaravan} {
		if _, err := Export(w, f); err == nil || !strings.Contains(err.Error(), "time-locked miniscript paths") {
			t.Fatalf("%s: %v", f, err)
		}
	}
}
