package formats

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw/qr/bbqr"
	"github.com/countersign/countersign/hw/qr/ur"
)

// qrVectors are the published Blockchain Commons examples in testdata/qr.
type qrVectors struct {
	CryptoAccount struct {
		UR          string   `json:"ur"`
		Descriptors []string `json:"descriptors"`
	} `json:"crypto_account"`
	OutputDescriptor struct {
		Name       string `json:"name"`
		Descriptor string `json:"descriptor"`
		CBORHex    string `json:"cbor_hex"`
	} `json:"output_descriptor"`
}

func loadQRVectors(t testing.TB) *qrVectors {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "qr", "bcr-vectors.json"))
	if err != nil {
		t.Fatalf("the QR vectors are part of the repository: %v", err)
	}
	var v qrVectors
	if err := json.Unmarshal(b, &v); err != nil || v.CryptoAccount.UR == "" || v.OutputDescriptor.CBORHex == "" {
		t.Fatalf("testdata/qr/bcr-vectors.json: %v", err)
	}
	return &v
}

// shuffle reverses parts and repeats the middle one, as a scanner
// catching an animation part-way would.
func shuffle(parts []string) string {
	out := make([]string, 0, len(parts)+1)
	for i := len(parts) - 1; i >= 0; i-- {
		out = append(out, parts[i])
	}
	out = append(out, parts[len(parts)/2])
	return strings.Join(out, "\r\n") + "\n"
}

// urParts is a multi-part UR in upper case, as a scanner types it.
func urParts(t *testing.T, urType string, msg []byte, frag int) []string {
	t.Helper()
	e, err := ur.NewEncoder(urType, msg, frag, 10)
	if err != nil {
		t.Fatal(err)
	}
	parts := e.Parts(e.SeqLen())
	for i := range parts {
		parts[i] = strings.ToUpper(parts[i])
	}
	return parts
}

// TestImportBBQr: Coldcard's own multisig setup file, and its descriptor,
// carried by BBQr parts in any order, import as the same wallet as the
// plain files, name included.
func TestImportBBQr(t *testing.T) {
	file := readVector(t, "coldcard_multisig_file.txt")
	plain, f, err := Import(file, nil)
	if err != nil || f != FormatColdcard {
		t.Fatalf("plain file: %v %v", f, err)
	}
	for _, data := range [][]byte{file, []byte(coldcardDescriptorVector(t))} {
		parts, _, err := bbqr.Split(data, bbqr.FileTypeUnicode, bbqr.SplitOptions{MaxVersion: 7})
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) < 3 {
			t.Fatalf("%d parts: the test wants a multi-part BBQr", len(parts))
		}
		w, f, err := Import([]byte(shuffle(parts)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if f != FormatBBQr || !descriptor.Equal(w.Descriptor, plain.Descriptor) || w.Network.Name != plain.Network.Name {
			t.Fatalf("imported as %s: %s", f, w.Descriptor)
		}
		if strings.Contains(string(data), "Name:") && w.Name != plain.Name {
			t.Fatalf("name %q, want %q", w.Name, plain.Name)
		}
		// One part short says how many are there.
		_, _, err = Import([]byte(strings.Join(parts[1:], "\n")), nil)
		if !errors.Is(err, descriptor.ErrInvalid) || !strings.Contains(err.Error(), "incomplete: "+itoa(len(parts)-1)+" of "+itoa(len(parts))) {
			t.Fatalf("missing part: %v", err)
		}
	}
	// A BBQr of something that is not a wallet file.
	parts, _, _ := bbqr.Split([]byte("psbt\xff\x00\x00"), bbqr.FileTypePSBT, bbqr.SplitOptions{})
	if _, _, err := Import([]byte(strings.Join(parts, "\n")), nil); !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "PSBT") {
		t.Fatalf("BBQr of a PSBT: %v", err)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestImportUR: a wallet as crypto-output (receive branch, as devices
// show it) and as output-descriptor (the published "Satoshi's Stash"
// example, with its name) imports from parts in any order.
func TestImportUR(t *testing.T) {
	w := testWallet(t, descriptor.ScriptShWsh, 2, 3, &chaincfg.TestNet3Params, true)
	msg, err := ur.EncodeCryptoOutputDescriptor(w.Descriptor, ur.OutputOptions{})
	if err != nil {
		t.Fatal(err)
	}
	parts := urParts(t, ur.TypeCryptoOutput, msg, 60)
	got, f, err := Import([]byte(shuffle(parts)), &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	if f != FormatUR || !descriptor.Equal(got.Descriptor, w.Descriptor) || got.Network.Name != chaincfg.RegressionNetParams.Name {
		t.Fatalf("crypto-output imported as %s %s on %s", f, got.Descriptor, got.Network.Name)
	}
	if _, _, err := Import([]byte(parts[0]), nil); !errors.Is(err, descriptor.ErrInvalid) || !strings.Contains(err.Error(), "incomplete") {
		t.Fatalf("one part: %v", err)
	}

	v := loadQRVectors(t)
	cb, _ := hex.DecodeString(v.OutputDescriptor.CBORHex)
	single, err := ur.Encode(ur.UR{Type: ur.TypeOutputDescriptor, CBOR: cb})
	if err != nil {
		t.Fatal(err)
	}
	got, f, err = Import([]byte(single+"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := mustParse(t, v.OutputDescriptor.Descriptor)
	if f != FormatUR || got.Name != v.OutputDescriptor.Name || !descriptor.Equal(got.Descriptor, want) || got.Network.Name != chaincfg.MainNetParams.Name {
		t.Fatalf("output-descriptor imported as %q %s", got.Name, got.Descriptor)
	}
	psbtUR, _ := ur.Encode(ur.UR{Type: ur.TypeCryptoPSBT, CBOR: []byte{0x41, 0}})
	if _, _, err := Import([]byte(psbtUR), nil); !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "ur:crypto-psbt is not a wallet") {
		t.Fatalf("a PSBT UR: %v", err)
	}
}

// TestImportCryptoAccount: a cosigner's key export (the published
// BCR-2020-015 example) is not a wallet; the error says so and carries
// the multisig keys for --cosigner.
func TestImportCryptoAccount(t *testing.T) {
	v := loadQRVectors(t)
	_, _, err := Import([]byte(strings.ToUpper(v.CryptoAccount.UR)), nil)
	var ce *CosignerExportError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCosignerExport) || !errors.Is(err, descriptor.ErrInvalid) {
		t.Fatalf("crypto-account: %v", err)
	}
	if hex.EncodeToString(ce.Fingerprint[:]) != "37b5eed4" || len(ce.Keys) != 3 || ce.Keys[0].Script != descriptor.ScriptWsh {
		t.Fatalf("keys %+v", ce.Keys)
	}
	for _, k := range ce.Keys {
		xpub := k.Key.XPub.String()
		if !strings.Contains(strings.Join(v.CryptoAccount.Descriptors, " "), xpub) || !strings.Contains(err.Error(), k.Key.String()) {
			t.Errorf("%s key %s is not the paper's or not in the message", k.Script, k.Key)
		}
	}
	if !strings.HasPrefix(ce.Keys[0].Key.String(), "[37b5eed4/48h/0h/0h/2h]xpub") {
		t.Errorf("wsh key %s", ce.Keys[0].Key)
	}
}
