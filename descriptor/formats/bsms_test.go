package formats

import (
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
)

// TestBSMSNetworkFromAddress checks that a tpub record's network comes
// from its first address: bcrt1 is regtest whatever the default, while tb1
// and 2... addresses are shared by the test networks, so the default picks
// among them (testnet when there is none).
func TestBSMSNetworkFromAddress(t *testing.T) {
	tests := []struct {
		name       string
		script     descriptor.ScriptType
		walletNet  *chaincfg.Params
		defaultNet *chaincfg.Params
		want       string
		prefix     string
	}{
		{"bcrt1 without default", descriptor.ScriptWsh, &chaincfg.RegressionNetParams, nil, "regtest", "bcrt1"},
		{"bcrt1 with testnet default", descriptor.ScriptWsh, &chaincfg.RegressionNetParams, &chaincfg.TestNet3Params, "regtest", "bcrt1"},
		{"tb1 without default", descriptor.ScriptWsh, &chaincfg.TestNet3Params, nil, "testnet", "tb1"},
		{"tb1 with signet default", descriptor.ScriptWsh, &chaincfg.TestNet3Params, &chaincfg.SigNetParams, "signet", "tb1"},
		{"tb1 with regtest default", descriptor.ScriptWsh, &chaincfg.TestNet3Params, &chaincfg.RegressionNetParams, "testnet", "tb1"},
		{"2N with regtest default", descriptor.ScriptShWsh, &chaincfg.TestNet3Params, &chaincfg.RegressionNetParams, "regtest", "2"},
		{"2N without default", descriptor.ScriptSh, &chaincfg.RegressionNetParams, nil, "testnet", "2"},
		{"bc1 with testnet default", descriptor.ScriptWsh, &chaincfg.MainNetParams, &chaincfg.TestNet3Params, "mainnet", "bc1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := testWallet(t, tc.script, 2, 3, tc.walletNet, true)
			out, err := Export(w, FormatBSMS)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(out), "\n")
			if !strings.HasPrefix(lines[3], tc.prefix) {
				t.Fatalf("first address %s, want one starting %s", lines[3], tc.prefix)
			}
			got, _, err := Import(out, tc.defaultNet)
			if err != nil {
				t.Fatal(err)
			}
			if descriptor.NetworkName(got.Network) != tc.want {
				t.Errorf("network %s, want %s", descriptor.NetworkName(got.Network), tc.want)
			}
		})
	}
}

// TestBSMSUpperCaseAddress accepts a bech32 address in upper case, the
// form QR codes use.
func TestBSMSUpperCaseAddress(t *testing.T) {
	rec := bip129Records(t)[1].content
	i := strings.LastIndexByte(rec, '\n')
	upper := rec[:i+1] + strings.ToUpper(rec[i+1:])
	if _, _, err := Import([]byte(upper), nil); err != nil {
		t.Errorf("Import with an upper-case address: %v", err)
	}
}

// TestSpecterDevices checks how device labels map to keys: one device per
// key gives labels in key order, any other count gives none.
func TestSpecterDevices(t *testing.T) {
	d := testWallet(t, descriptor.ScriptWsh, 2, 3, &chaincfg.TestNet3Params, true).Descriptor
	recv, err := d.Single(0)
	if err != nil {
		t.Fatal(err)
	}
	three := mustJSON(t, map[string]any{"label": "w", "descriptor": recv.String(),
		"devices": []map[string]string{{"type": "coldcard", "label": "A"}, {"type": "trezor", "label": "B"}, {"type": "other", "label": "C"}}})
	two := mustJSON(t, map[string]any{"label": "w", "descriptor": recv.String(),
		"devices": []map[string]string{{"type": "coldcard", "label": "A"}, {"type": "trezor", "label": "B"}}})
	w, _, err := Import([]byte(three), nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(w.Labels, ",") != "A,B,C" {
		t.Errorf("labels %q, want A,B,C", w.Labels)
	}
	w, _, err = Import([]byte(two), nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(w.Labels, ",") != ",," {
		t.Errorf("labels %q, want three empty labels: two devices for three keys say nothing about which key is which", w.Labels)
	}
}
