package ur

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
)

type regVector struct {
	Paper       string
	Name        string
	CBORHex     string `json:"cbor_hex"`
	UR          string
	Descriptor  string
	Descriptors []string
	XPub        string
}

type regVectors struct {
	PSBT          regVector `json:"psbt"`
	Seed          regVector `json:"seed"`
	BytewordsSeed struct {
		BodyHex                string `json:"body_hex"`
		Standard, URI, Minimal string
	} `json:"bytewords_seed"`
	HDKey             []regVector `json:"hdkey"`
	CryptoOutput      []regVector `json:"crypto_output"`
	CryptoAccount     regVector   `json:"crypto_account"`
	AccountDescriptor regVector   `json:"account_descriptor"`
	OutputDescriptor  regVector   `json:"output_descriptor"`
}

func loadRegistry(t *testing.T) *regVectors {
	t.Helper()
	b, err := os.ReadFile("testdata/registry/vectors.json")
	if err != nil {
		t.Fatalf("registry vectors missing (see testdata/README.md): %v", err)
	}
	var v regVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.CryptoOutput) != 5 || len(v.CryptoAccount.Descriptors) != 7 || v.OutputDescriptor.CBORHex == "" {
		t.Fatal("registry vector file is incomplete")
	}
	return &v
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ToLower(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// urMessage decodes a single-part UR vector and checks its CBOR against
// the vector's hex.
func urMessage(t *testing.T, v regVector, wantType string) []byte {
	t.Helper()
	u, err := Decode(v.UR)
	if err != nil {
		t.Fatalf("%s %s: %v", v.Paper, v.Name, err)
	}
	if u.Type != wantType || !bytes.Equal(u.CBOR, unhex(t, v.CBORHex)) {
		t.Fatalf("%s %s: type %s, CBOR differs from the hex", v.Paper, v.Name, u.Type)
	}
	again, _ := Encode(u)
	if again != v.UR {
		t.Fatalf("%s %s: re-encoded UR differs", v.Paper, v.Name)
	}
	return u.CBOR
}

func TestRegistryPSBT(t *testing.T) {
	v := loadRegistry(t)
	msg := urMessage(t, v.PSBT, "psbt")
	raw, err := PSBTFromUR(UR{Type: "psbt", CBOR: msg})
	if err != nil || !bytes.HasPrefix(raw, []byte("psbt\xff")) || len(raw) != 167 {
		t.Fatalf("%d bytes: %v", len(raw), err)
	}
	enc, err := EncodePSBT(raw)
	if err != nil || !bytes.Equal(enc, msg) {
		t.Fatalf("EncodePSBT: %v", err)
	}
	if _, err := PSBTFromUR(UR{Type: "crypto-psbt", CBOR: msg}); err != nil {
		t.Fatalf("crypto-psbt: %v", err)
	}
	if _, err := PSBTFromUR(UR{Type: "bytes", CBOR: msg}); !errors.Is(err, ErrType) {
		t.Fatalf("wrong type: %v", err)
	}
	if _, err := EncodePSBT([]byte("not a psbt")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("non-PSBT encoded: %v", err)
	}
	if _, err := DecodePSBT(marshal([]byte("not a psbt"))); !errors.Is(err, ErrInvalid) {
		t.Fatalf("non-PSBT decoded: %v", err)
	}
}

func TestRegistrySeedAndBytewords(t *testing.T) {
	v := loadRegistry(t)
	urMessage(t, v.Seed, "seed")
	body := unhex(t, v.BytewordsSeed.BodyHex)
	for style, want := range map[Style]string{Standard: v.BytewordsSeed.Standard, URI: v.BytewordsSeed.URI, Minimal: v.BytewordsSeed.Minimal} {
		if got := EncodeBytewords(style, body); got != want {
			t.Errorf("style %d: %s want %s", style, got, want)
		}
	}
}

func TestRegistryHDKey(t *testing.T) {
	v := loadRegistry(t)
	// Vector 1 is a master (private) key: read, refused for our use.
	msg := urMessage(t, v.HDKey[0], "hdkey")
	item, _ := decodeItem(msg)
	if _, err := decodeHDKey(item); !errors.Is(err, ErrInvalid) {
		t.Fatalf("master key accepted: %v", err)
	}
	// Vector 2 rebuilds the BIP-32 tpub it was made from.
	msg = urMessage(t, v.HDKey[1], "hdkey")
	item, _ = decodeItem(msg)
	hk, err := decodeHDKey(item)
	if err != nil {
		t.Fatal(err)
	}
	k, err := hk.descriptorKey(0)
	if err != nil || k.XPub.String() != v.HDKey[1].XPub {
		t.Fatalf("got %v: %v", k.XPub, err)
	}
}

func TestRegistryCryptoOutput(t *testing.T) {
	v := loadRegistry(t)
	want := map[string]string{
		// Vector 3 as given; vector 5 with the origin its CBOR carries for
		// the second key (the paper's text leaves it out).
		"vector 3": v.CryptoOutput[2].Descriptor,
		"vector 5": strings.Replace(v.CryptoOutput[4].Descriptor, ",xpub69H7", ",[bd16bee5/0]xpub69H7", 1),
	}
	for _, vec := range v.CryptoOutput {
		msg := urMessage(t, vec, "crypto-output")
		got, err := DecodeCryptoOutput(msg)
		w, multisig := want[vec.Name]
		if !multisig {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%s (not multisig): got %q, %v", vec.Name, got, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", vec.Name, err)
		}
		wd, err := descriptor.Parse(w)
		if err != nil {
			t.Fatal(err)
		}
		if got != wd.String() {
			t.Fatalf("%s:\n got %s\nwant %s", vec.Name, got, wd.String())
		}
		// Our encoding of the decoded descriptor decodes to the same.
		enc, err := EncodeCryptoOutput(got, OutputOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if again, err := DecodeCryptoOutput(enc); err != nil || again != got {
			t.Fatalf("%s: round trip %s: %v", vec.Name, again, err)
		}
		if vec.Name == "vector 3" && !bytes.Equal(enc, msg) {
			t.Fatalf("vector 3: our CBOR %x differs from the paper's", enc)
		}
	}
}

// testWallet builds a 2-of-3 testnet P2WSH wallet in its multipath form
// from three fixed seeds (BIP-48 account keys m/48h/1h/0h/2h).
func testWallet(t testing.TB) string {
	t.Helper()
	var keys []string
	for i := byte(1); i <= 3; i++ {
		master, err := hdkeychain.NewMaster(bytes.Repeat([]byte{i}, 32), &chaincfg.TestNet3Params)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := master.Neuter()
		fp := btcutil.Hash160(mustPub(t, pub))[:4]
		k := master
		for _, step := range []uint32{48, 1, 0, 2} {
			if k, err = k.Derive(hdkeychain.HardenedKeyStart + step); err != nil {
				t.Fatal(err)
			}
		}
		xpub, _ := k.Neuter()
		keys = append(keys, fmt.Sprintf("[%x/48h/1h/0h/2h]%s/<0;1>/*", fp, xpub))
	}
	return "wsh(sortedmulti(2," + strings.Join(keys, ",") + "))"
}

func mustPub(t testing.TB, k *hdkeychain.ExtendedKey) []byte {
	p, err := k.ECPubKey()
	if err != nil {
		t.Fatal(err)
	}
	return p.SerializeCompressed()
}

func TestCryptoOutputWallet(t *testing.T) {
	wallet := testWallet(t)
	d, err := descriptor.Parse(wallet)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := EncodeCryptoOutput(wallet, OutputOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeCryptoOutputDescriptor(enc)
	if err != nil {
		t.Fatal(err)
	}
	// Written as the receive branch; Multipath() restores the wallet form.
	if !strings.Contains(got.String(), "/0/*") || !descriptor.Equal(got.Multipath(), d) {
		t.Fatalf("decoded %s", got.String())
	}
	enc, err = EncodeCryptoOutput(wallet, OutputOptions{Multipath: true})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := DecodeCryptoOutput(enc); err != nil || s != d.String() {
		t.Fatalf("pair form: %s %v", s, err)
	}
}

func TestRegistryOutputDescriptorV3(t *testing.T) {
	v := loadRegistry(t)
	vec := v.OutputDescriptor
	enc, err := EncodeOutputDescriptor(vec.Descriptor, vec.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, unhex(t, vec.CBORHex)) {
		t.Fatalf("our CBOR differs from BCR-2023-010 vector 4:\n got %x\nwant %s", enc, vec.CBORHex)
	}
	desc, name, err := DecodeOutputDescriptor(unhex(t, vec.CBORHex))
	want, _ := descriptor.Parse(vec.Descriptor)
	if err != nil || name != vec.Name || desc != want.String() {
		t.Fatalf("decoded %s %q: %v", desc, name, err)
	}
}

func TestRegistryAccounts(t *testing.T) {
	v := loadRegistry(t)
	acc1 := urMessage(t, v.CryptoAccount, "crypto-account")
	acc2 := urMessage(t, v.AccountDescriptor, "account-descriptor")
	for name, msg := range map[string][]byte{"crypto-account": acc1, "account-descriptor": acc2} {
		a, err := DecodeAccount(msg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if hex.EncodeToString(a.MasterFingerprint[:]) != "37b5eed4" || len(a.Entries) != 7 {
			t.Fatalf("%s: %x, %d entries", name, a.MasterFingerprint, len(a.Entries))
		}
		// Each entry's key is the one inside the paper's descriptor text.
		for i, e := range a.Entries {
			text := v.CryptoAccount.Descriptors[i]
			k := e.Key.String()
			xpub := k[strings.Index(k, "]")+1:]
			if !strings.Contains(text, xpub) {
				t.Errorf("%s entry %d (%s): %s not in %s", name, i, e.Script, xpub, text)
			}
			if !strings.Contains(strings.ReplaceAll(text, "'", "h"), k) {
				t.Errorf("%s entry %d: key expression %s not in %s", name, i, k, text)
			}
		}
		for script, path := range map[descriptor.ScriptType]string{
			descriptor.ScriptWsh: "/48h/0h/0h/2h]", descriptor.ScriptShWsh: "/48h/0h/0h/1h]", descriptor.ScriptSh: "/45h]",
		} {
			k, err := a.Multisig(script)
			if err != nil || !strings.HasPrefix(k.String(), "[37b5eed4"+path) {
				t.Errorf("%s %s: %s %v", name, script, k.String(), err)
			}
		}
	}
}
