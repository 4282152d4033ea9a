package descriptor

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcec/v2/schnorr/musig2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
)

// tapKeys returns n account keys [fp/48h/coin/0h/3h]xpub/<0;1>/* for net.
func tapKeys(t *testing.T, n int, net *chaincfg.Params) []Key {
	t.Helper()
	path, err := MultisigPath(net, ScriptTr, 0)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]Key, n)
	for i := range keys {
		seed := sha256.Sum256([]byte(fmt.Sprintf("countersign taproot test %d", i)))
		m, err := hdkeychain.NewMaster(seed[:], net)
		if err != nil {
			t.Fatal(err)
		}
		fp, err := fingerprintOf(m)
		if err != nil {
			t.Fatal(err)
		}
		acct := m
		for _, s := range path {
			if acct, err = acct.Derive(s); err != nil {
				t.Fatal(err)
			}
		}
		pub, err := acct.Neuter()
		if err != nil {
			t.Fatal(err)
		}
		k, err := ParseKey(fmt.Sprintf("[%x%s]%s/<0;1>/*", fp, path.Steps(), pub))
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	return keys
}

func TestNewTaprootWallet(t *testing.T) {
	for _, net := range []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params, &chaincfg.SigNetParams, &chaincfg.RegressionNetParams} {
		keys := tapKeys(t, 3, net)
		d, err := New(ScriptTr, 2, true, keys)
		if err != nil {
			t.Fatalf("%s: %v", net.Name, err)
		}
		s := d.StringNoChecksum()
		if !strings.HasPrefix(s, "tr(musig(") || !strings.Contains(s, ")/<0;1>/*,sortedmulti_a(2,") {
			t.Fatalf("%s: unexpected shape %s", net.Name, s)
		}
		if d.N() != 3 || d.Threshold != 2 || d.Branches() != 2 || !d.IsRange() || d.Unspendable() {
			t.Fatalf("%s: N %d threshold %d branches %d", net.Name, d.N(), d.Threshold, d.Branches())
		}
		if got := d.Policy(); got != "musig of 3 or 2 of 3" {
			t.Errorf("policy %q", got)
		}
		again, err := Parse(d.String())
		if err != nil || again.String() != d.String() {
			t.Fatalf("%s: round trip: %v", net.Name, err)
		}
		seen := map[string]bool{}
		for branch := uint32(0); branch < 2; branch++ {
			for index := uint32(0); index < 3; index++ {
				der, err := d.Derive(branch, index, net)
				if err != nil {
					t.Fatal(err)
				}
				checkTapDerived(t, der, net)
				if seen[der.Address] {
					t.Fatalf("address %s repeats", der.Address)
				}
				seen[der.Address] = true
				// The key path is the aggregate of the three keys at the
				// same branch/index, derived from the synthetic xpub.
				mu := der.Tap.MuSig[der.Tap.KeyPath]
				if len(mu.Participants) != 3 || len(mu.Path) != 2 || mu.Path[0] != branch || mu.Path[1] != index {
					t.Fatalf("musig entry %+v", mu)
				}
				if !bytes.Equal(der.Tap.InternalKey, mu.PubKey[1:]) {
					t.Fatal("internal key is not the derived aggregate")
				}
				if len(der.Tap.Leaves) != 1 || der.Tap.Leaves[0].Threshold != 2 || len(der.Tap.Leaves[0].XOnlyKeys) != 3 {
					t.Fatalf("leaves %+v", der.Tap.Leaves)
				}
			}
		}
		// Range derivation agrees with single derivation.
		r, err := d.DeriveRange(1, 0, 70, net)
		if err != nil {
			t.Fatal(err)
		}
		one, _ := d.Derive(1, 69, net)
		if r[69].Address != one.Address {
			t.Fatalf("DeriveRange %s, Derive %s", r[69].Address, one.Address)
		}
		// The receive descriptor alone (Core imports it this way) and back.
		recv, err := d.Single(0)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(recv.String(), "<0;1>") || !Equal(recv, d) {
			t.Fatalf("Single(0) = %s", recv)
		}
		a, _ := recv.Derive(0, 5, net)
		b, _ := d.Derive(0, 5, net)
		if a.Address != b.Address {
			t.Fatal("Single(0) derives other addresses")
		}
		if d.Multipath().String() != d.String() || recv.Multipath().String() != d.String() {
			t.Fatalf("Multipath: %s", recv.Multipath())
		}
	}
}

// checkTapDerived verifies a derived taproot output with btcd: the address
// decodes to the script, every control block proves its leaf against the
// output key, and the leaf scripts parse.
func checkTapDerived(t *testing.T, der *Derived, net *chaincfg.Params) {
	t.Helper()
	want, err := txscript.PayToTaprootScript(mustSchnorr(t, der.Tap.OutputKey))
	if err != nil || !bytes.Equal(want, der.ScriptPubKey) {
		t.Fatalf("scriptPubKey %x, want %x (%v)", der.ScriptPubKey, want, err)
	}
	if ScriptAddress(der.ScriptPubKey, net) != der.Address {
		t.Fatalf("address %s does not match the script", der.Address)
	}
	for i, l := range der.Tap.Leaves {
		cb, err := txscript.ParseControlBlock(l.ControlBlock)
		if err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
		if err := txscript.VerifyTaprootLeafCommitment(cb, der.Tap.OutputKey, l.Script); err != nil {
			t.Fatalf("leaf %d: control block does not commit: %v", i, err)
		}
		if _, err := txscript.DisasmString(l.Script); err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
	}
}

func mustSchnorr(t *testing.T, x []byte) *btcec.PublicKey {
	t.Helper()
	k, err := schnorr.ParsePubKey(x)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestTaprootTreeControlBlocks(t *testing.T) {
	net := &chaincfg.TestNet3Params
	keys := tapKeys(t, 4, net)
	ks := make([]string, len(keys))
	for i := range keys {
		ks[i] = keys[i].String()
	}
	desc := fmt.Sprintf("tr(%s,{{sortedmulti_a(2,%s,%s),multi_a(2,%s,%s)},{pk(%s),sortedmulti_a(3,%s,%s,%s,%s)}})",
		NUMSKey, ks[0], ks[1], ks[2], ks[3], ks[0], ks[0], ks[1], ks[2], ks[3])
	d, err := Parse(desc)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Unspendable() || d.N() != 4 || d.Threshold != 1 {
		t.Fatalf("unspendable %v N %d threshold %d", d.Unspendable(), d.N(), d.Threshold)
	}
	der, err := d.Derive(1, 7, net)
	if err != nil {
		t.Fatal(err)
	}
	if len(der.Tap.Leaves) != 4 || !der.Tap.Unspendable || der.Tap.KeyPath != -1 {
		t.Fatalf("%+v", der.Tap)
	}
	for _, l := range der.Tap.Leaves {
		if l.Depth != 2 {
			t.Fatalf("leaf depth %d", l.Depth)
		}
	}
	checkTapDerived(t, der, net)
	// multi_a keeps the written order, sortedmulti_a sorts by x-only key.
	l0, l1 := der.Tap.Leaves[0], der.Tap.Leaves[1]
	if bytes.Compare(l0.XOnlyKeys[0], l0.XOnlyKeys[1]) > 0 {
		t.Error("sortedmulti_a is not sorted")
	}
	if !bytes.Equal(l1.XOnlyKeys[0], der.Keys[3].PubKey[1:]) { // Keys[0] is the NUMS key
		t.Error("multi_a changed the key order")
	}
	// The NUMS xpub form is unspendable too.
	nums := "xpub661MyMwAqRbcEYS8w7XLSVeEsBXy79zSzH1J8vCdxAZningWLdN3zgtU6QgnecKFpJFPpdzxKrwoaZoV44qAJewsc4kX9vGaCaBExuvJH57"
	d2, err := Parse("tr(" + nums + ",pk(" + testPubKey(1, false) + "))")
	if err != nil || !d2.Unspendable() {
		t.Fatalf("NUMS xpub: %v", err)
	}
}

func TestMuSigAggregateMatchesBtcec(t *testing.T) {
	// musig() of plain keys is KeyAgg over the sorted keys; the written
	// order must not matter (BIP-390).
	a, b, c := testPubKey(2, false), testPubKey(0, false), testPubKey(1, false)
	d1, err := Parse("rawtr(musig(" + a + "," + b + "," + c + "))")
	if err != nil {
		t.Fatal(err)
	}
	d2, err := Parse("rawtr(musig(" + c + "," + a + "," + b + "))")
	if err != nil {
		t.Fatal(err)
	}
	x1, _ := d1.Derive(0, 0, &chaincfg.MainNetParams)
	x2, _ := d2.Derive(0, 0, &chaincfg.MainNetParams)
	if !bytes.Equal(x1.ScriptPubKey, x2.ScriptPubKey) {
		t.Fatal("musig() depends on the written order")
	}
	var pubs []*btcec.PublicKey
	for _, s := range []string{a, b, c} {
		k, _ := ParseKey(s)
		pubs = append(pubs, k.PubKey)
	}
	agg, _, _, err := musig2.AggregateKeys(pubs, true)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(schnorr.SerializePubKey(agg.FinalKey), x1.Tap.OutputKey) {
		t.Fatal("rawtr(musig()) is not the KeyAgg result")
	}
}

func TestTaprootParseErrors(t *testing.T) {
	k0, k1 := testPubKey(0, false), testPubKey(1, false)
	cases := []struct{ desc, want string }{
		{"tr()", "has no key"},
		{"tr(" + k0 + ",{pk(" + k1 + ")})", "exactly two"},
		{"tr(" + k0 + ",multi(1," + k1 + "))", "use multi_a()"},
		{"tr(" + k0 + ",multi_a(1," + k1 + "," + k1 + "))", "duplicates key 1"},
		{"tr(" + k0 + ",pk(" + k1 + "),pk(" + k1 + "))", "at most one tree"},
		{"rawtr(" + k0 + ",pk(" + k1 + "))", "no script tree"},
		{"tr(musig(musig(" + k0 + ")))", "cannot be nested"},
		{"tr(musig(" + k0 + "," + k1 + ")/<0;1>/*,pk(" + k1 + "))", "needs every participant to be an xpub"},
		{"tr(" + k0 + ",{pk(" + k1 + "),pk(" + k0 + ")", "not closed"},
		{"tr(" + strings.Repeat("{", 130) + ")", "unbalanced"},
		{"tr(" + NUMSKey + ")", "no spending path"},
		{"tr(" + k0 + ",wsh(multi(1," + k1 + ")))", "nested in tr()"},
	}
	for _, c := range cases {
		_, err := Parse(c.desc)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%.60s...) = %v, want %q", c.desc, err, c.want)
		}
	}
	deep := "pk(" + k1 + ")"
	for range 129 {
		deep = "{" + deep + ",pk(" + k0 + ")}"
	}
	if _, err := Parse("tr(" + k0 + "," + deep + ")"); err == nil || !strings.Contains(err.Error(), "deeper than 128") {
		t.Errorf("129-deep tree: %v", err)
	}
}

func TestNewTaprootLeafPerSubset(t *testing.T) {
	net := &chaincfg.RegressionNetParams
	keys := tapKeys(t, 4, net)
	d, err := NewTaproot(2, keys, TaprootOptions{LeafPerSubset: true})
	if err != nil {
		t.Fatal(err)
	}
	if d.N() != 4 || d.Threshold != 2 {
		t.Fatalf("N %d threshold %d", d.N(), d.Threshold)
	}
	der, err := d.Derive(0, 1, net)
	if err != nil {
		t.Fatal(err)
	}
	if len(der.Tap.Leaves) != 6 {
		t.Fatalf("%d leaves, want C(4,2) = 6", len(der.Tap.Leaves))
	}
	for _, l := range der.Tap.Leaves {
		if len(l.XOnlyKeys) != 2 || l.Threshold != 2 || l.Depth < 2 || l.Depth > 3 {
			t.Fatalf("leaf %+v", l)
		}
	}
	checkTapDerived(t, der, net)
	if _, err := NewTaproot(10, tapKeys(t, 20, net), TaprootOptions{LeafPerSubset: true}); err == nil || !strings.Contains(err.Error(), "key subsets") {
		t.Fatalf("10-of-20 per subset: %v", err)
	}
}
