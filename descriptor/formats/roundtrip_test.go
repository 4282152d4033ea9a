package formats

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
)

// What each format carries besides the descriptor and network, stated here
// independently of the package's own table.
var (
	namedFormats    = map[Format]bool{FormatColdcard: true, FormatCaravan: true, FormatSpecter: true}
	labelledFormats = map[Format]bool{FormatCaravan: true, FormatSpecter: true}
)

func TestRoundTrip(t *testing.T) {
	scripts := []descriptor.ScriptType{descriptor.ScriptWsh, descriptor.ScriptShWsh, descriptor.ScriptSh}
	nets := []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params}
	policies := [][2]int{{2, 3}, {3, 5}}
	for _, script := range scripts {
		for _, net := range nets {
			for _, p := range policies {
				w := testWallet(t, script, p[0], p[1], net, true)
				for _, f := range Formats() {
					name := fmt.Sprintf("%s/%s/%d-of-%d/%s", script, descriptor.NetworkName(net), p[0], p[1], f)
					t.Run(name, func(t *testing.T) { checkRoundTrip(t, w, f, nil) })
				}
			}
		}
	}
}

// TestRoundTripDefaultNetwork checks that tpub wallets on regtest and signet
// come back on that network when the importer says so, and that xpub
// wallets stay mainnet whatever the default.
func TestRoundTripDefaultNetwork(t *testing.T) {
	for _, net := range []*chaincfg.Params{&chaincfg.RegressionNetParams, &chaincfg.SigNetParams} {
		w := testWallet(t, descriptor.ScriptWsh, 2, 3, net, true)
		for _, f := range Formats() {
			t.Run(descriptor.NetworkName(net)+"/"+string(f), func(t *testing.T) { checkRoundTrip(t, w, f, net) })
		}
	}
	main := testWallet(t, descriptor.ScriptWsh, 2, 3, &chaincfg.MainNetParams, true)
	for _, f := range Formats() {
		t.Run("xpub-with-regtest-default/"+string(f), func(t *testing.T) {
			checkRoundTrip(t, main, f, &chaincfg.RegressionNetParams)
		})
	}
}

// TestRoundTripUnsorted covers multi (fixed key order) wallets, which every
// format but Coldcard and Caravan can hold.
func TestRoundTripUnsorted(t *testing.T) {
	w := testWallet(t, descriptor.ScriptShWsh, 2, 3, &chaincfg.TestNet3Params, false)
	for _, f := range []Format{FormatDescriptor, FormatCore, FormatSpecter, FormatBSMS} {
		t.Run(string(f), func(t *testing.T) { checkRoundTrip(t, w, f, nil) })
	}
}

// TestRoundTripWithoutOrigins covers a Caravan-style wallet whose keys have
// no origin: Caravan writes "Unknown" paths and reads them back.
func TestRoundTripWithoutOrigins(t *testing.T) {
	net := &chaincfg.MainNetParams
	keys := make([]string, 3)
	for i := range keys {
		full := testCosigner(t, i, net, accountPath(descriptor.ScriptWsh, net))
		keys[i] = full[strings.IndexByte(full, ']')+1:] + "/<0;1>/*"
	}
	w := &Wallet{
		Name:       "No origins",
		Descriptor: mustParse(t, "wsh(sortedmulti(2,"+strings.Join(keys, ",")+"))"),
		Network:    net,
	}
	for _, f := range []Format{FormatDescriptor, FormatCore, FormatCaravan, FormatSpecter, FormatBSMS} {
		t.Run(string(f), func(t *testing.T) { checkRoundTrip(t, w, f, nil) })
	}
	out, err := Export(w, FormatCaravan)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(`"bip32Path": "Unknown"`)) || bytes.Contains(out, []byte(`"xfp"`)) {
		t.Errorf("Caravan export of keys without origin should say Unknown and omit xfp:\n%s", out)
	}
}

func checkRoundTrip(t *testing.T, w *Wallet, f Format, defaultNet *chaincfg.Params) {
	t.Helper()
	out, err := Export(w, f)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	got, gotF, err := Import(out, defaultNet)
	if err != nil {
		t.Fatalf("Import of the export: %v\n%s", err, out)
	}
	if gotF != f {
		t.Errorf("detected format %q, want %q", gotF, f)
	}
	if !descriptor.Equal(got.Descriptor, w.Descriptor) {
		t.Errorf("descriptor\n got %s\nwant %s", got.Descriptor, w.Descriptor.Multipath())
	}
	if got.Descriptor.Branches() != w.Descriptor.Multipath().Branches() {
		t.Errorf("imported descriptor has %d branches, want the wallet form's %d", got.Descriptor.Branches(), w.Descriptor.Multipath().Branches())
	}
	if descriptor.NetworkName(got.Network) != descriptor.NetworkName(w.Network) {
		t.Errorf("network %s, want %s", descriptor.NetworkName(got.Network), descriptor.NetworkName(w.Network))
	}
	if namedFormats[f] && got.Name != w.Name {
		t.Errorf("name %q, want %q", got.Name, w.Name)
	}
	if len(got.Labels) != got.Descriptor.N() {
		t.Errorf("%d labels for %d keys: Import must return one label per key", len(got.Labels), got.Descriptor.N())
	}
	if labelledFormats[f] && len(w.Labels) > 0 && !slices.Equal(got.Labels, w.Labels) {
		t.Errorf("labels %q, want %q", got.Labels, w.Labels)
	}
	if f == FormatSpecter && got.BirthHeight != w.BirthHeight {
		t.Errorf("birth height %d, want %d", got.BirthHeight, w.BirthHeight)
	}
	// Everything the format carries came back, so writing the imported
	// wallet again must give the same bytes. Core is the exception: its
	// timestamp is a time, which does not convert back into a height.
	if f != FormatCore {
		again, err := Export(got, f)
		if err != nil {
			t.Fatalf("Export of the imported wallet: %v", err)
		}
		if !bytes.Equal(again, out) {
			t.Errorf("export is not stable:\nfirst\n%s\nsecond\n%s", out, again)
		}
	}
}

func TestExportRefuses(t *testing.T) {
	net := &chaincfg.MainNetParams
	wsh := testWallet(t, descriptor.ScriptWsh, 2, 3, net, true)
	unsorted := testWallet(t, descriptor.ScriptWsh, 2, 3, net, false)

	longName := *wsh
	longName.Name = "A name far too long for Coldcard"
	hashName := *wsh
	hashName.Name = "Vault #a"
	unicodeName := *wsh
	unicodeName.Name = "Tresor\u00e9"
	badLabels := *wsh
	badLabels.Labels = []string{"only one"}
	noNet := *wsh
	noNet.Network = nil
	wrongNet := *wsh
	wrongNet.Network = &chaincfg.TestNet3Params

	keys := make([]string, 3)
	for i := range keys {
		full := testCosigner(t, i, net, accountPath(descriptor.ScriptWsh, net))
		keys[i] = full[strings.IndexByte(full, ']')+1:] + "/<0;1>/*"
	}
	noOrigin := &Wallet{Descriptor: mustParse(t, "wsh(sortedmulti(2,"+strings.Join(keys, ",")+"))"), Network: net}

	sixteen := make([]string, 16)
	for i := range sixteen {
		sixteen[i] = testCosigner(t, i, net, accountPath(descriptor.ScriptWsh, net)) + "/<0;1>/*"
	}
	big := &Wallet{Descriptor: mustParse(t, "wsh(sortedmulti(9,"+strings.Join(sixteen, ",")+"))"), Network: net}

	otherPath := make([]string, 3)
	for i := range otherPath {
		otherPath[i] = testCosigner(t, i, net, accountPath(descriptor.ScriptWsh, net)) + "/<0;1>/7/*"
	}
	deepKeys := &Wallet{Descriptor: mustParse(t, "wsh(sortedmulti(2,"+strings.Join(otherPath, ",")+"))"), Network: net}

	threeBranches := make([]string, 3)
	for i := range threeBranches {
		threeBranches[i] = testCosigner(t, i, net, accountPath(descriptor.ScriptWsh, net)) + "/<0;1;2>/*"
	}
	triple := &Wallet{Descriptor: mustParse(t, "wsh(sortedmulti(2,"+strings.Join(threeBranches, ",")+"))"), Network: net}

	tests := []struct {
		name   string
		w      *Wallet
		f      Format
		target error
		msg    string
	}{
		{"unknown format", wsh, "electrum", ErrUnknownFormat, "choose one of"},
		{"nil wallet", nil, FormatDescriptor, descriptor.ErrInvalid, "no wallet"},
		{"no descriptor", &Wallet{Network: net}, FormatDescriptor, descriptor.ErrInvalid, "no descriptor"},
		{"no network", &noNet, FormatDescriptor, descriptor.ErrInvalid, "no network"},
		{"keys of another network", &wrongNet, FormatDescriptor, descriptor.ErrInvalid, "network"},
		{"label count", &badLabels, FormatCaravan, descriptor.ErrInvalid, "1 key labels for 3 keys"},
		{"coldcard multi", unsorted, FormatColdcard, descriptor.ErrInvalid, "sortedmulti"},
		{"caravan multi", unsorted, FormatCaravan, descriptor.ErrInvalid, "sortedmulti"},
		{"coldcard without origins", noOrigin, FormatColdcard, descriptor.ErrInvalid, "no origin"},
		{"coldcard long name", &longName, FormatColdcard, descriptor.ErrInvalid, "at most 20"},
		{"coldcard comment in name", &hashName, FormatColdcard, descriptor.ErrInvalid, "read back as"},
		{"coldcard non-ASCII name", &unicodeName, FormatColdcard, descriptor.ErrInvalid, "printable ASCII"},
		{"coldcard 16 keys", big, FormatColdcard, descriptor.ErrInvalid, "at most 15"},
		{"coldcard other key path", deepKeys, FormatColdcard, descriptor.ErrInvalid, "/<0;1>/*"},
		{"caravan other key path", deepKeys, FormatCaravan, descriptor.ErrInvalid, "/<0;1>/*"},
		{"core three branches", triple, FormatCore, descriptor.ErrInvalid, "3 branches"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Export(tc.w, tc.f)
			if err == nil {
				t.Fatalf("Export succeeded, want an error:\n%s", out)
			}
			if !errors.Is(err, tc.target) {
				t.Errorf("error %q does not wrap %v", err, tc.target)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
}

// TestExportOtherShapes checks that wallets Coldcard and Caravan cannot hold
// still export, and read back, in the formats that can.
func TestExportOtherShapes(t *testing.T) {
	net := &chaincfg.TestNet3Params
	shapes := []struct {
		name, suffix string
		coreOK       bool // Core's pair needs keys ending in /<0;1>/*
	}{
		{"extra step", "/<0;1>/7/*", false},
		{"three branches", "/<0;1;2>/*", false},
		{"single branch", "/5/*", true},
	}
	for _, sh := range shapes {
		keys := make([]string, 3)
		for i := range keys {
			keys[i] = testCosigner(t, i, net, accountPath(descriptor.ScriptWsh, net)) + sh.suffix
		}
		w := &Wallet{Descriptor: mustParse(t, "wsh(sortedmulti(2,"+strings.Join(keys, ",")+"))"), Network: net}
		for _, f := range []Format{FormatDescriptor, FormatSpecter, FormatBSMS} {
			t.Run(sh.name+"/"+string(f), func(t *testing.T) { checkRoundTrip(t, w, f, nil) })
		}
		t.Run(sh.name+"/core", func(t *testing.T) {
			if sh.coreOK {
				checkRoundTrip(t, w, FormatCore, nil)
				return
			}
			if _, err := Export(w, FormatCore); !errors.Is(err, descriptor.ErrInvalid) {
				t.Errorf("Export core: %v, want a refusal wrapping ErrInvalid", err)
			}
		})
	}
}
