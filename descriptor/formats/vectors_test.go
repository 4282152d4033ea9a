package formats

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/internal/vectors"
)

func readVector(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(vectors.Path(t, name))
	if err != nil {
		t.Fatalf("read vector %s: %v", name, err)
	}
	return b
}

// coldcardDescriptorVector is Coldcard's own descriptor export of the
// wallet in coldcard_multisig_file.txt (descriptor_checksum.json).
func coldcardDescriptorVector(t testing.TB) string {
	t.Helper()
	var v struct {
		Coldcard []struct {
			Descriptor string `json:"descriptor"`
		} `json:"coldcard_descriptor_export_with_checksum"`
	}
	vectors.Load(t, "descriptor_checksum.json", &v)
	if len(v.Coldcard) != 1 {
		t.Fatalf("descriptor_checksum.json: %d Coldcard descriptors, want 1", len(v.Coldcard))
	}
	return v.Coldcard[0].Descriptor
}

func TestColdcardVectorFile(t *testing.T) {
	file := readVector(t, "coldcard_multisig_file.txt")
	want := mustParse(t, coldcardDescriptorVector(t)).Multipath()

	w, f, err := Import(file, nil)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if f != FormatColdcard {
		t.Errorf("format %q, want coldcard", f)
	}
	if !descriptor.Equal(w.Descriptor, want) || w.Descriptor.String() != want.String() {
		t.Errorf("descriptor\n got %s\nwant %s", w.Descriptor, want)
	}
	if w.Name != "CC-2-of-4" {
		t.Errorf("name %q, want CC-2-of-4", w.Name)
	}
	if descriptor.NetworkName(w.Network) != "testnet" {
		t.Errorf("network %s, want testnet (tpub keys, no default)", descriptor.NetworkName(w.Network))
	}
	if w2, _, err := Import(file, &chaincfg.RegressionNetParams); err != nil || descriptor.NetworkName(w2.Network) != "regtest" {
		t.Errorf("with regtest as default: %v, network %v; want regtest", err, w2)
	}
	if w3, _, err := Import(file, &chaincfg.MainNetParams); err != nil || descriptor.NetworkName(w3.Network) != "testnet" {
		t.Errorf("with mainnet as default: %v; want testnet, since tpub keys are not mainnet", err)
	}

	// Exporting it again gives Coldcard's own file, apart from the header
	// comment that names the exporter.
	out, err := Export(w, FormatColdcard)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	if got, want := withoutComments(string(out)), withoutComments(string(file)); got != want {
		t.Errorf("export differs from the Coldcard file:\n got\n%s\nwant\n%s", got, want)
	}
}

func withoutComments(s string) string {
	var keep []string
	for _, ln := range strings.Split(s, "\n") {
		if !strings.HasPrefix(ln, "#") {
			keep = append(keep, ln)
		}
	}
	return strings.Join(keep, "\n")
}

// TestColdcardVectorDescriptor imports Coldcard's descriptor export of the
// same wallet as a descriptor file.
func TestColdcardVectorDescriptor(t *testing.T) {
	line := coldcardDescriptorVector(t)
	w, f, err := Import([]byte(line+"\n"), nil)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if f != FormatDescriptor {
		t.Errorf("format %q, want descriptor", f)
	}
	fromFile, _, err := Import(readVector(t, "coldcard_multisig_file.txt"), nil)
	if err != nil {
		t.Fatalf("Import Coldcard file: %v", err)
	}
	if !descriptor.Equal(w.Descriptor, fromFile.Descriptor) {
		t.Errorf("descriptor line and setup file differ:\n%s\n%s", w.Descriptor, fromFile.Descriptor)
	}
	if w.Descriptor.Branches() != 2 {
		t.Errorf("the /0/* descriptor was not turned into the <0;1> wallet form: %s", w.Descriptor)
	}
}

func TestCaravanVector(t *testing.T) {
	file := readVector(t, "caravan_config.json")
	var fixture struct {
		Name     string                        `json:"name"`
		Network  string                        `json:"network"`
		Quorum   struct{ RequiredSigners int } `json:"quorum"`
		XPubKeys []struct {
			Name, BIP32Path, XPub, XFP string
		} `json:"extendedPublicKeys"`
	}
	if err := json.Unmarshal(file, &fixture); err != nil {
		t.Fatalf("decode fixture: %v", err)
	}
	// The wallet Caravan describes: P2WSH sortedmulti over the listed
	// xpubs, each deriving /0/* and /1/* under its origin.
	var keys []string
	var labels []string
	for _, k := range fixture.XPubKeys {
		keys = append(keys, "["+k.XFP+strings.TrimPrefix(k.BIP32Path, "m")+"]"+k.XPub+"/<0;1>/*")
		labels = append(labels, k.Name)
	}
	want := mustParse(t, fmt.Sprintf("wsh(sortedmulti(%d,%s))", fixture.Quorum.RequiredSigners, strings.Join(keys, ",")))

	w, f, err := Import(file, &chaincfg.TestNet3Params)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if f != FormatCaravan {
		t.Errorf("format %q, want caravan", f)
	}
	if !descriptor.Equal(w.Descriptor, want) {
		t.Errorf("descriptor\n got %s\nwant %s", w.Descriptor, want)
	}
	if w.Name != fixture.Name || !slices.Equal(w.Labels, labels) {
		t.Errorf("name %q labels %q, want %q %q", w.Name, w.Labels, fixture.Name, labels)
	}
	if descriptor.NetworkName(w.Network) != fixture.Network {
		t.Errorf("network %s, want the configuration's %s", descriptor.NetworkName(w.Network), fixture.Network)
	}

	// Caravan reads our export as the same configuration it wrote.
	out, err := Export(w, FormatCaravan)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	var got, orig any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("decode export: %v", err)
	}
	if err := json.Unmarshal(file, &orig); err != nil {
		t.Fatalf("decode fixture: %v", err)
	}
	if !reflect.DeepEqual(got, orig) {
		t.Errorf("export differs from the Caravan fixture:\n got %s\nwant %s", out, file)
	}
}

// bip129Record is one round-2 descriptor record of bip129.json
// (bip129Records in bsms_vectors_test.go).
type bip129Record struct {
	mode, content string
}

func TestBIP129DescriptorRecords(t *testing.T) {
	for _, rec := range bip129Records(t) {
		t.Run(rec.mode, func(t *testing.T) {
			w, f, err := Import([]byte(rec.content), nil)
			if err != nil {
				t.Fatalf("Import: %v\n%s", err, rec.content)
			}
			if f != FormatBSMS {
				t.Errorf("format %q, want bsms", f)
			}
			if descriptor.NetworkName(w.Network) != "mainnet" {
				t.Errorf("network %s, want mainnet", descriptor.NetworkName(w.Network))
			}
			lines := strings.Split(rec.content, "\n")
			first, err := w.Descriptor.Derive(0, 0, w.Network)
			if err != nil {
				t.Fatalf("Derive: %v", err)
			}
			if first.Address != lines[3] {
				t.Errorf("first address %s, want the record's %s", first.Address, lines[3])
			}
			// Template records come back byte for byte, hardened
			// marker (') included.
			if strings.Contains(lines[1], "/**") {
				out, err := Export(w, FormatBSMS)
				if err != nil {
					t.Fatalf("Export: %v", err)
				}
				if want := rec.content; string(out) != want {
					t.Errorf("export\n%s\nwant\n%s", out, want)
				}
			}
		})
	}
}

// TestBIP129FirstAddressVectors assembles records from the BIP-129
// descriptor/address vectors in descriptor_multisig.json.
func TestBIP129FirstAddressVectors(t *testing.T) {
	var v struct {
		BIP129 struct {
			Vectors []struct {
				Desc         string `json:"descriptor_or_template"`
				Restrictions string `json:"path_restrictions"`
				Address      string `json:"first_address"`
				Network      string `json:"network"`
			} `json:"vectors"`
		} `json:"bip129_first_address"`
	}
	vectors.Load(t, "descriptor_multisig.json", &v)
	if len(v.BIP129.Vectors) == 0 {
		t.Fatal("descriptor_multisig.json has no bip129_first_address vectors")
	}
	for i, vec := range v.BIP129.Vectors {
		record := strings.Join([]string{"BSMS 1.0", vec.Desc, vec.Restrictions, vec.Address}, "\n")
		w, _, err := Import([]byte(record), nil)
		if err != nil {
			t.Errorf("vector %d: Import: %v\n%s", i, err, record)
			continue
		}
		if descriptor.NetworkName(w.Network) != vec.Network {
			t.Errorf("vector %d: network %s, want %s", i, descriptor.NetworkName(w.Network), vec.Network)
		}
		// Another vector's address must not pass the check.
		other := v.BIP129.Vectors[(i+1)%len(v.BIP129.Vectors)].Address
		bad := strings.Join([]string{"BSMS 1.0", vec.Desc, vec.Restrictions, other}, "\n")
		if _, _, err := Import([]byte(bad), nil); !errors.Is(err, descriptor.ErrInvalid) || !strings.Contains(err.Error(), "first address") {
			t.Errorf("vector %d with vector %d's address: %v, want a first-address mismatch", i, (i+1)%len(v.BIP129.Vectors), err)
		}
	}
}

// TestBIP129Invalid alters the published records in the ways the BIP's
// rules forbid; each must be refused as invalid.
func TestBIP129Invalid(t *testing.T) {
	recs := bip129Records(t)
	plain, template := recs[0].content, recs[1].content // pubkeys, no restrictions; xpub template
	tests := []struct {
		name, record, msg string
	}{
		{"wrong version", strings.Replace(template, "BSMS 1.0", "BSMS 2.0", 1), "version"},
		{"three lines", template[:strings.LastIndex(template, "\n")], "4 lines"},
		{"template without restrictions", strings.Replace(template, "/0/*,/1/*", "No path restrictions", 1), "template"},
		{"hardened restriction", strings.Replace(template, "/0/*,/1/*", "/0h/*,/1h/*", 1), "non-hardened"},
		{"restriction without slash", strings.Replace(template, "/0/*,/1/*", "0/*,1/*", 1), "start with '/'"},
		{"altered checksum", strings.Replace(plain, "#rzx9dffd", "#rzx9dffe", 1), "checksum"},
		{"altered address", strings.Replace(template, "bc1qrgc6p3kylfztu06ysl752gwwuekhvtfh9vr7zg43jvu60mutamcsv948ej", "bc1qhs4u273g4azq7kqqpe6vh5wfhasfmrq7nheyzsnq77humd7rwtkqagvakf", 1), "first address"},
		{"swapped restrictions", strings.Replace(template, "/0/*,/1/*", "/1/*,/0/*", 1), "first address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.record == template || tc.record == plain {
				t.Fatal("the alteration did not apply: the vector text changed")
			}
			_, f, err := Import([]byte(tc.record), nil)
			if !errors.Is(err, descriptor.ErrInvalid) {
				t.Fatalf("Import: %v, want an error wrapping ErrInvalid", err)
			}
			if f != FormatBSMS {
				t.Errorf("format %q, want bsms (recognised, then refused)", f)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}
