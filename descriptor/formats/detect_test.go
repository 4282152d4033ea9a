package formats

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
)

// detectCase is a real wallet file of some format that Import must
// recognise and read.
type detectCase struct {
	name, in string
	want     Format
	desc     *descriptor.Descriptor // when set, the imported wallet must equal it
	wantName string
}

// detectCases are the files of every format TestDetect reads; the fuzz
// targets' corpora start from them too.
func detectCases(t testing.TB) []detectCase {
	ccFile := string(readVector(t, "coldcard_multisig_file.txt"))
	ccDesc := coldcardDescriptorVector(t)
	ccWallet := mustParse(t, ccDesc)
	body, _, _ := strings.Cut(ccDesc, "#")
	recv := mustParse(t, body)
	change := mustParse(t, strings.ReplaceAll(body, "/0/*", "/1/*"))
	multipath := recv.Multipath()
	caravan := string(readVector(t, "caravan_config.json"))
	bsms := bip129Records(t)[1].content

	coreArray := mustJSON(t, []map[string]any{
		{"desc": recv.String(), "active": true, "internal": false, "timestamp": "now", "range": []int{0, 999}},
		{"desc": change.String(), "active": true, "internal": true, "timestamp": "now", "range": []int{0, 999}},
	})
	listDescriptors := mustJSON(t, map[string]any{
		"wallet_name": "cc-watch",
		"descriptors": []map[string]any{
			{"desc": change.String(), "timestamp": 1700000000, "active": true, "internal": true, "range": []int{0, 999}, "next": 0},
			{"desc": recv.String(), "timestamp": 1700000000, "active": true, "internal": false, "range": []int{0, 999}, "next": 3},
		},
	})
	// Coldcard's pretty descriptor export spreads the keys over lines.
	pretty := "# comment\n" + strings.ReplaceAll(strings.Replace(ccDesc, "sortedmulti(", "sortedmulti(\n  ", 1), ",", ",\n  ")
	sparrow := "# Receive and change descriptor (BIP389):\n" + multipath.String() +
		"\n\n# Receive descriptor (Bitcoin Core):\n" + recv.String() +
		"\n\n# Change descriptor (Bitcoin Core):\n" + change.String() + "\n"

	return []detectCase{
		{"coldcard file", ccFile, FormatColdcard, ccWallet, "CC-2-of-4"},
		{"coldcard file with CRLF", strings.ReplaceAll(ccFile, "\n", "\r\n"), FormatColdcard, ccWallet, "CC-2-of-4"},
		{"descriptor with checksum", ccDesc, FormatDescriptor, ccWallet, ""},
		{"descriptor without checksum", body + "\n", FormatDescriptor, ccWallet, ""},
		{"change descriptor", change.String(), FormatDescriptor, ccWallet, ""},
		{"multipath descriptor", multipath.String(), FormatDescriptor, ccWallet, ""},
		{"pretty descriptor", pretty, FormatDescriptor, ccWallet, ""},
		{"sparrow descriptor file", sparrow, FormatDescriptor, ccWallet, ""},
		{"core importdescriptors", coreArray, FormatCore, ccWallet, ""},
		{"core listdescriptors", listDescriptors, FormatCore, ccWallet, "cc-watch"},
		{"coldcard core export", "importdescriptors '" + strings.ReplaceAll(coreArray, "\n", "") + "'\n", FormatCore, ccWallet, ""},
		{"core single request", mustJSON(t, map[string]any{"desc": multipath.String(), "timestamp": 0}), FormatCore, ccWallet, ""},
		{"caravan", caravan, FormatCaravan, nil, "P2WSH-M"},
		{"caravan with byte-order mark", "\ufeff" + caravan, FormatCaravan, nil, "P2WSH-M"},
		{"specter", mustJSON(t, map[string]any{"label": "cc", "blockheight": 638325, "descriptor": recv.String()}), FormatSpecter, ccWallet, "cc"},
		{"specter older fields", mustJSON(t, map[string]any{"name": "cc", "recv_descriptor": body, "devices": []string{"a", "b", "c", "d"}}), FormatSpecter, ccWallet, "cc"},
		{"bsms", bsms, FormatBSMS, nil, ""},
		{"bsms with trailing newline", bsms + "\n", FormatBSMS, nil, ""},
	}
}

func TestDetect(t *testing.T) {
	for _, tc := range detectCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			w, f, err := Import([]byte(tc.in), nil)
			if err != nil {
				t.Fatalf("Import: %v\n%s", err, tc.in)
			}
			if f != tc.want {
				t.Errorf("detected %q, want %q", f, tc.want)
			}
			if tc.desc != nil && !descriptor.Equal(w.Descriptor, tc.desc) {
				t.Errorf("descriptor\n got %s\nwant %s", w.Descriptor, tc.desc.Multipath())
			}
			if w.Name != tc.wantName {
				t.Errorf("name %q, want %q", w.Name, tc.wantName)
			}
		})
	}
}

// unknownCases are contents Import must not recognise.
var unknownCases = []struct{ name, in, msg string }{
	{"empty", "", "empty"},
	{"blank", " \n\t\n", "empty"},
	{"prose", "hello world\nthis is not a wallet\n", "not a descriptor"},
	{"name only", "Name: my wallet\n", "not a descriptor"},
	{"empty object", "{}", "none of the fields"},
	{"other object", `{"foo": 1, "bar": [2]}`, "none of the fields"},
	{"number array", "[1, 2]", "not a Bitcoin Core"},
	{"empty array", "[]", "not a Bitcoin Core"},
	{"broken JSON", `{"descriptor": `, "not valid JSON"},
	{"binary", "\xff\xfe\x00\x01", "not UTF-8"},
	{"too large", strings.Repeat("a", maxImportSize+1), "bytes"},
}

func TestDetectUnknown(t *testing.T) {
	for _, tc := range unknownCases {
		t.Run(tc.name, func(t *testing.T) {
			_, f, err := Import([]byte(tc.in), &chaincfg.MainNetParams)
			if !errors.Is(err, ErrUnknownFormat) {
				t.Fatalf("Import: format %q, err %v; want ErrUnknownFormat", f, err)
			}
			if errors.Is(err, descriptor.ErrInvalid) {
				t.Errorf("error %q wraps ErrInvalid too: unrecognised content is not a broken file", err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
			if tc.name != "binary" && tc.name != "too large" && !strings.Contains(err.Error(), "coldcard, caravan, specter, bsms") {
				t.Errorf("error %q does not list the formats tried", err)
			}
		})
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
