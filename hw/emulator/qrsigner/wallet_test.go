package qrsigner

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw/qr/ur"
)

// testKeys makes n account keys [fp/48h/1h/0h/2h]tpub from fixed seeds.
func testKeys(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		m, err := hdkeychain.NewMaster(bytes.Repeat([]byte{byte(i + 11)}, 32), &chaincfg.TestNet3Params)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := m.ECPubKey()
		k := m
		for _, s := range []uint32{48, 1, 0, 2} {
			k, _ = k.Derive(hdkeychain.HardenedKeyStart + s)
		}
		x, _ := k.Neuter()
		out = append(out, fmt.Sprintf("[%x/48h/1h/0h/2h]%s", btcutil.Hash160(pub.SerializeCompressed())[:4], x))
	}
	return out
}

// crossWallets are wallets of every shape the emulator reads.
func crossWallets(t *testing.T) []string {
	keys := testKeys(t, 17)
	var out []string
	for _, tc := range []struct {
		wrap   string
		fn     string
		m, n   int
		suffix string
	}{
		{"wsh(%s)", "sortedmulti", 2, 3, "/<0;1>/*"},
		{"wsh(%s)", "multi", 2, 3, "/<0;1>/*"},
		{"sh(wsh(%s))", "sortedmulti", 3, 5, "/<0;1>/*"},
		{"sh(%s)", "sortedmulti", 1, 2, "/<0;1>/*"},
		{"sh(%s)", "multi", 2, 15, "/<0;1>/*"},
		{"wsh(%s)", "sortedmulti", 1, 1, "/<0;1>/*"},
		{"wsh(%s)", "multi", 9, 17, "/<0;1>/*"},
	} {
		ks := make([]string, tc.n)
		for i := range ks {
			ks[i] = keys[i] + tc.suffix
		}
		out = append(out, fmt.Sprintf(tc.wrap, fmt.Sprintf("%s(%d,%s)", tc.fn, tc.m, strings.Join(ks, ","))))
	}
	return out
}

// checkScripts compares the emulator's scripts with countersign's
// descriptor package at a few positions: two implementations that share
// no code.
func checkScripts(t *testing.T, w *wallet, desc string) {
	t.Helper()
	d, err := descriptor.Parse(desc)
	if err != nil {
		t.Fatal(err)
	}
	d = d.Multipath()
	for _, pos := range [][2]uint32{{0, 0}, {1, 0}, {0, 7}, {1, 1000}} {
		ms, redeem, spk, err := w.scripts(pos[0], pos[1])
		if err != nil {
			t.Fatal(err)
		}
		der, err := d.Derive(pos[0], pos[1], &chaincfg.TestNet3Params)
		if err != nil {
			t.Fatal(err)
		}
		ws := der.WitnessScript
		if ws == nil {
			ws = der.RedeemScript
		}
		if !bytes.Equal(spk, der.ScriptPubKey) || !bytes.Equal(ms, ws) || (redeem != nil && !bytes.Equal(redeem, der.RedeemScript)) {
			t.Fatalf("%s at %v: scripts differ from the descriptor package's", desc, pos)
		}
	}
}

// TestWalletMatchesDescriptorPackage: the emulator derives the same
// scripts as countersign for every wallet shape, from the descriptor text
// (with and without checksum, /<0;1>/* or /0/*) and from countersign's
// crypto-output encoding read by the emulator's own CBOR decoder.
func TestWalletMatchesDescriptorPackage(t *testing.T) {
	for _, desc := range crossWallets(t) {
		d, err := descriptor.Parse(desc)
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range []string{desc, d.String(), strings.ReplaceAll(desc, "/<0;1>/*", "/0/*")} {
			w, err := parseWallet(text)
			if err != nil {
				t.Fatalf("%s: %v", text, err)
			}
			checkScripts(t, w, desc)
		}
		for _, multipath := range []bool{false, true} {
			msg, err := ur.EncodeCryptoOutputDescriptor(d, ur.OutputOptions{Multipath: multipath})
			if err != nil {
				t.Fatal(err)
			}
			w, err := walletFromCryptoOutput(msg)
			if err != nil {
				t.Fatalf("crypto-output of %s (multipath %v): %v", desc, multipath, err)
			}
			checkScripts(t, w, desc)
		}
	}
}

// TestParseWalletRefuses: wallets a device cannot use are refused with a
// reason.
func TestParseWalletRefuses(t *testing.T) {
	k := testKeys(t, 2)
	good := fmt.Sprintf("wsh(sortedmulti(2,%s/<0;1>/*,%s/<0;1>/*))", k[0], k[1])
	sum, _ := descriptorChecksum(good)
	for _, tc := range []struct{ desc, want string }{
		{good + "#" + strings.Repeat("q", 8), "checksum"},
		{"wpkh(" + k[0] + "/<0;1>/*)", "not sh(), sh(wsh()) or wsh()"},
		{"wsh(thresh(2," + k[0] + "))", "not a multi()"},
		{strings.Replace(good, "(2,", "(3,", 1), "threshold 3 of 2"},
		{strings.Replace(good, k[0][:10], "", 1), "no key origin"},
		{strings.Replace(good, "/<0;1>/*", "/<0;1;2>/*", 1), "want /<0;1>/* or /0/*"},
		{strings.Replace(good, "/48h/1h/0h/2h", "/48h/1h", 1), "depth 4 but its origin has 2 steps"},
		{good + "#" + sum + "x", "checksum"},
	} {
		if _, err := parseWallet(tc.desc); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.desc, err, tc.want)
		}
	}
	if _, err := parseWallet(good + "#" + sum); err != nil {
		t.Fatal(err)
	}
}
