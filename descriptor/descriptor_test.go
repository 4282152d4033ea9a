package descriptor

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
)

// withSum appends the checksum; Checksum itself is pinned by the BIP-380
// vectors.
func withSum(t *testing.T, s string) string {
	t.Helper()
	sum, err := Checksum(s)
	if err != nil {
		t.Fatal(err)
	}
	return s + "#" + sum
}

// testnetWallet is benchWallet with its xpubs re-encoded as tpubs.
func testnetWallet(t *testing.T, m, n int) *Descriptor {
	t.Helper()
	w := benchWallet(t, m, n)
	s := w.StringNoChecksum()
	for _, k := range w.Keys {
		x := k.XPub.String()
		s = strings.ReplaceAll(s, x, withVersion(t, x, "043587cf"))
	}
	d, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestCanonicalString: String normalises hardened markers, fingerprint
// case, SLIP-132 versions and adds the checksum; canonical input is kept.
func TestCanonicalString(t *testing.T) {
	w := benchWallet(t, 2, 2)
	x1, x2 := w.Keys[0].XPub.String(), w.Keys[1].XPub.String()
	z1 := withVersion(t, x1, "02aa7ed3") // SLIP-132 Zpub of the same key
	canonical := fmt.Sprintf("wsh(sortedmulti(2,[deadbeef/48h/0h/0h/2h]%s/<0;1>/*,[0badf00d/48h/0h/0h/2h]%s/<0;1>/*))", x1, x2)
	cases := []struct{ in, want string }{
		{canonical, withSum(t, canonical)},
		{withSum(t, canonical), withSum(t, canonical)},
		{fmt.Sprintf("wsh(sortedmulti(2,[DEADBEEF/48'/0'/0h/2']%s/<0;1>/*,[0BADF00D/48h/0'/0'/2h]%s/<0;1>/*))", z1, x2), withSum(t, canonical)},
		{"  " + canonical + "\n", withSum(t, canonical)},
		{fmt.Sprintf("sh(multi(1,%s/0/1h/*h,%s))", x1, strings.ToUpper(testPubKey(3, false))),
			withSum(t, fmt.Sprintf("sh(multi(1,%s/0/1h/*h,%s))", x1, testPubKey(3, false)))},
		{fmt.Sprintf("sh(wsh(multi(1,%s/<1';0h;2>/00)))", x1), withSum(t, fmt.Sprintf("sh(wsh(multi(1,%s/<1h;0h;2>/0)))", x1))},
	}
	for _, c := range cases {
		d, err := Parse(c.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.in, err)
		}
		if got := d.String(); got != c.want {
			t.Fatalf("String() =\n%s\nwant\n%s", got, c.want)
		}
		if got := d.StringNoChecksum(); got+"#"+c.want[len(c.want)-8:] != c.want {
			t.Fatalf("StringNoChecksum() = %s", got)
		}
		again, err := Parse(d.String())
		if err != nil || again.String() != d.String() {
			t.Fatalf("Parse(String()) = %v, %v", again, err)
		}
	}
}

// TestAccessors covers the small queries on a parsed descriptor.
func TestAccessors(t *testing.T) {
	w := benchWallet(t, 2, 3)
	if w.N() != 3 || w.Policy() != "2 of 3" || !w.IsRange() || w.HasPrivate() || w.Branches() != 2 || !w.IsMainnet() {
		t.Fatalf("N=%d Policy=%q IsRange=%v HasPrivate=%v Branches=%d IsMainnet=%v",
			w.N(), w.Policy(), w.IsRange(), w.HasPrivate(), w.Branches(), w.IsMainnet())
	}
	plain, err := Parse("sh(multi(1," + testPubKeys(2, false) + "))")
	if err != nil {
		t.Fatal(err)
	}
	if plain.IsRange() || plain.Branches() != 1 || !plain.IsMainnet() || plain.Policy() != "1 of 2" {
		t.Fatal("plain-key descriptor accessors wrong")
	}
	priv, err := Parse(fmt.Sprintf("wsh(multi(1,%s/0/*,%s))", benchXprv(t, 1), w.Keys[0]))
	if err != nil {
		t.Fatal(err)
	}
	if !priv.HasPrivate() || strings.Contains(priv.String(), "xprv") {
		t.Fatalf("private descriptor: HasPrivate=%v String=%s", priv.HasPrivate(), priv)
	}
	if testnetWallet(t, 1, 2).IsMainnet() {
		t.Fatal("tpub wallet reports mainnet")
	}
}

// TestMultipathSingleEqual: receive/change descriptors and the multipath
// wallet form convert into each other and compare equal.
func TestMultipathSingleEqual(t *testing.T) {
	w := benchWallet(t, 2, 3)
	receive, err := w.Single(0)
	if err != nil {
		t.Fatal(err)
	}
	change, err := w.Single(1)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(receive.String(), "<") || !strings.Contains(receive.String(), "/0/*") || !strings.Contains(change.String(), "/1/*") {
		t.Fatalf("Single: %s / %s", receive, change)
	}
	for _, d := range []*Descriptor{receive, change, w} {
		if got := d.Multipath().String(); got != w.String() {
			t.Fatalf("Multipath(%s) = %s, want %s", d, got, w)
		}
		if !Equal(d, w) {
			t.Fatalf("Equal(%s, wallet) = false", d)
		}
	}
	// Receive address 5 of the wallet is address 5 of its receive form.
	a, err1 := w.Derive(0, 5, &chaincfg.MainNetParams)
	b, err2 := receive.Derive(0, 5, &chaincfg.MainNetParams)
	if err1 != nil || err2 != nil || a.Address != b.Address {
		t.Fatalf("wallet and receive descriptor disagree: %v %v", err1, err2)
	}

	// Mixed /0/* and /1/* keys are not a receive/change pair: unchanged.
	k := receive.Keys
	mixed, err := Parse(fmt.Sprintf("wsh(multi(2,%s,%s,%s))", k[0], k[1], change.Keys[2]))
	if err != nil {
		t.Fatal(err)
	}
	if mixed.Multipath().String() != mixed.String() || Equal(mixed, w) {
		t.Fatal("a mixed descriptor was turned into the wallet form")
	}

	threshold := w.clone()
	threshold.Threshold = 3
	reordered := w.clone()
	reordered.Keys[0], reordered.Keys[1] = reordered.Keys[1], reordered.Keys[0]
	for _, other := range []*Descriptor{threshold, reordered, nil} {
		if Equal(w, other) {
			t.Fatalf("Equal(wallet, %v) = true", other)
		}
	}
	if !Equal(nil, nil) {
		t.Fatal("Equal(nil, nil) = false")
	}
	// Multipath must not alias the original's keys.
	m := receive.Multipath()
	m.Keys[0].Path[0].Multi[0] = 9
	if receive.String() == m.String() || strings.Contains(receive.String(), "<") {
		t.Fatal("Multipath shares key paths with its source")
	}
}

// TestCheckNetwork: xpubs only on mainnet, tpubs on the test networks, plain
// keys anywhere.
func TestCheckNetwork(t *testing.T) {
	main, test := benchWallet(t, 1, 2), testnetWallet(t, 1, 2)
	plain, err := Parse("wsh(multi(1," + testPubKeys(2, false) + "))")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mainnet", "testnet", "signet", "regtest"} {
		p, err := NetworkParams(name)
		if err != nil {
			t.Fatal(err)
		}
		isMain := name == "mainnet"
		if err := main.CheckNetwork(p); (err == nil) != isMain {
			t.Errorf("xpub wallet on %s: %v", name, err)
		}
		if err := test.CheckNetwork(p); (err == nil) == isMain {
			t.Errorf("tpub wallet on %s: %v", name, err)
		} else if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("error does not wrap ErrInvalid: %v", err)
		}
		if err := plain.CheckNetwork(p); err != nil {
			t.Errorf("plain keys on %s: %v", name, err)
		}
		r, err := test.Derive(0, 0, p)
		if !isMain && (err != nil || r.Address == "") {
			t.Errorf("tpub wallet Derive on %s: %v", name, err)
		}
	}
	if err := main.CheckNetwork(nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("CheckNetwork(nil) = %v", err)
	}
	if err := main.CheckNetwork(&chaincfg.SimNetParams); !errors.Is(err, ErrInvalid) {
		t.Errorf("CheckNetwork(simnet) = %v", err)
	}
}

// TestNetworkNames covers NetworkParams and NetworkName.
func TestNetworkNames(t *testing.T) {
	cases := []struct {
		in   string
		want *chaincfg.Params
		name string
	}{
		{"mainnet", &chaincfg.MainNetParams, "mainnet"},
		{"main", &chaincfg.MainNetParams, "mainnet"},
		{"testnet", &chaincfg.TestNet3Params, "testnet"},
		{"test", &chaincfg.TestNet3Params, "testnet"},
		{"testnet3", &chaincfg.TestNet3Params, "testnet"},
		{"signet", &chaincfg.SigNetParams, "signet"},
		{"regtest", &chaincfg.RegressionNetParams, "regtest"},
		{" Regtest ", &chaincfg.RegressionNetParams, "regtest"},
	}
	for _, c := range cases {
		p, err := NetworkParams(c.in)
		if err != nil || p != c.want || NetworkName(p) != c.name {
			t.Errorf("NetworkParams(%q) = %v, %v; name %q", c.in, p, err, NetworkName(p))
		}
	}
	if _, err := NetworkParams("litecoin"); !errors.Is(err, ErrInvalid) {
		t.Errorf("NetworkParams(litecoin) = %v", err)
	}
	if NetworkName(nil) != "" || NetworkName(&chaincfg.SimNetParams) != "simnet" {
		t.Error("NetworkName of nil or simnet")
	}
}

// TestScriptTypeNames covers ScriptType.String and ParseScriptType.
func TestScriptTypeNames(t *testing.T) {
	cases := map[string]ScriptType{
		"sh": ScriptSh, "p2sh": ScriptSh, "sh-wsh": ScriptShWsh, "P2SH-P2WSH": ScriptShWsh, "wsh": ScriptWsh, "p2wsh": ScriptWsh,
	}
	for in, want := range cases {
		got, err := ParseScriptType(in)
		if err != nil || got != want {
			t.Errorf("ParseScriptType(%q) = %v, %v", in, got, err)
		}
	}
	for _, st := range []ScriptType{ScriptSh, ScriptShWsh, ScriptWsh, ScriptTr} {
		if back, err := ParseScriptType(st.String()); err != nil || back != st {
			t.Errorf("round trip of %v: %v, %v", st, back, err)
		}
	}
	if st, err := ParseScriptType("tr"); err != nil || st != ScriptTr {
		t.Errorf("ParseScriptType(tr) = %v, %v", st, err)
	}
	if _, err := ParseScriptType("pkh"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseScriptType(pkh) = %v", err)
	}
	if ScriptType(0).String() != "ScriptType(0)" {
		t.Error("unknown ScriptType name")
	}
}

// TestRoundTripVectors: every vector descriptor that parses prints a
// canonical string that reparses to an equal descriptor.
func TestRoundTripVectors(t *testing.T) {
	parsed := 0
	for _, s := range vectorStrings(t) {
		d, err := Parse(s)
		if err != nil {
			continue
		}
		parsed++
		canon := d.String()
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("Parse(String() of %q): %v", s, err)
		}
		if again.String() != canon || !Equal(d, again) {
			t.Fatalf("round trip of %q changed it: %s then %s", s, canon, again)
		}
		if strings.Contains(canon, "'") || !strings.Contains(canon, "#") {
			t.Fatalf("String() = %s is not canonical", canon)
		}
	}
	if parsed < 10 {
		t.Fatalf("only %d vector descriptors parsed", parsed)
	}
	t.Logf("%d vector descriptors round-tripped", parsed)
}
