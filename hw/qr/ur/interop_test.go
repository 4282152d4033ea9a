package ur

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw/qr/internal/jspeer"
)

type jsDecode struct {
	Complete bool
	Fed      int
	Error    string
	Type     string
	CBOR     string
}

// TestURJSInterop cross-checks the multi-part transport with
// @ngraveio/bc-ur 1.1.13 (the library under Keystone's and many wallets'
// registries): both encoders give the very same parts, fixed-rate and
// fountain; each decoder finishes from the other's parts shuffled, with
// most of the first sequence lost so only fountain parts can fill in.
func TestURJSInterop(t *testing.T) {
	peer := jspeer.Require(t)
	raw, err := os.ReadFile("../bbqr/testdata/coinkite/1in100out.psbt")
	if err != nil {
		t.Fatalf("PSBT vector missing: %v", err)
	}
	msg, err := EncodePSBT(raw)
	if err != nil {
		t.Fatal(err)
	}
	const maxFrag, minFrag = 250, 10
	e, err := NewEncoder(TypeCryptoPSBT, msg, maxFrag, minFrag)
	if err != nil {
		t.Fatal(err)
	}
	n := e.SeqLen()
	ours := e.Parts(4 * n)
	var theirs struct {
		Parts  []string
		SeqLen int
	}
	peer.Call(t, map[string]any{"op": "ur-encode", "type": TypeCryptoPSBT, "cbor": hex.EncodeToString(msg), "maxFragmentLength": maxFrag, "minFragmentLength": minFrag, "count": 4 * n}, &theirs)
	if theirs.SeqLen != n || !slices.Equal(ours, theirs.Parts) {
		for i := range ours {
			if i >= len(theirs.Parts) || ours[i] != theirs.Parts[i] {
				t.Fatalf("part %d differs (seqLen %d vs %d):\n ours   %.80s\n theirs %.80s", i+1, n, theirs.SeqLen, ours[i], theirs.Parts[i])
			}
		}
	}
	rng := rand.New(rand.NewPCG(11, 12))
	// Lose 2 of every 3 fixed-rate parts; keep all fountain parts, shuffle.
	lossy := func(parts []string) []string {
		var out []string
		for i, p := range parts {
			if i >= n || i%3 == 0 {
				out = append(out, p)
			}
		}
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out
	}
	oursLossy := lossy(ours)
	upper := make([]string, len(oursLossy))
	for i, p := range oursLossy {
		upper[i] = strings.ToUpper(p)
	}
	var dec []jsDecode
	peer.Call(t, map[string]any{"op": "batch", "requests": []any{
		map[string]any{"op": "ur-decode", "parts": oursLossy},
		map[string]any{"op": "ur-decode", "parts": upper},
		map[string]any{"op": "ur-decode", "parts": e.Parts(3 * n)}, // fountain parts only (seqNum > 4n)
	}}, &dec)
	for i, d := range dec {
		if !d.Complete || d.Error != "" || d.Type != TypeCryptoPSBT || d.CBOR != hex.EncodeToString(msg) {
			t.Fatalf("ngrave decoding our parts (case %d): %+v", i, d)
		}
		t.Logf("ngrave decoded our parts (case %d) after %d parts for %d fragments", i, d.Fed, n)
	}
	// Their parts into our Decoder.
	var d Decoder
	fed := 0
	for _, p := range lossy(theirs.Parts) {
		if _, err := d.Receive(p); err != nil {
			t.Fatal(err)
		}
		fed++
		if d.IsComplete() {
			break
		}
	}
	u, err := d.Result()
	if err != nil {
		t.Fatalf("our decoder on ngrave's parts (%d fed): %v", fed, err)
	}
	got, err := PSBTFromUR(u)
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("PSBT differs: %v", err)
	}
	t.Logf("we decoded ngrave's parts after %d parts for %d fragments", fed, n)
}

type jsKeypath struct {
	Path, Fingerprint string
	Depth             *int
}

type jsHDKey struct {
	Key, ChainCode    string
	Testnet           bool
	Origin, Children  *jsKeypath
	ParentFingerprint string
}

// keyJSON describes a descriptor key for the peer in Keystone's terms.
func keyJSON(t *testing.T, k descriptor.Key, children bool) map[string]any {
	pub, err := k.XPub.ECPubKey()
	if err != nil {
		t.Fatal(err)
	}
	var comps []map[string]any
	for _, v := range k.Origin.Path {
		comps = append(comps, map[string]any{"index": v &^ 0x80000000, "hardened": v >= 0x80000000})
	}
	var pf [4]byte
	binary.BigEndian.PutUint32(pf[:], k.XPub.ParentFingerprint())
	m := map[string]any{
		"key": hex.EncodeToString(pub.SerializeCompressed()), "chainCode": hex.EncodeToString(k.XPub.ChainCode()),
		"testnet": !k.XPub.IsForNet(&chaincfg.MainNetParams), "parentFingerprint": hex.EncodeToString(pf[:]),
		"origin": map[string]any{"components": comps, "fingerprint": hex.EncodeToString(k.Origin.Fingerprint[:])},
	}
	if children {
		m["children"] = map[string]any{"components": []map[string]any{{"index": 0, "hardened": false}, {"wildcard": true, "hardened": false}}}
	}
	return m
}

// TestRegistryJSInterop cross-checks the registry CBOR with Keystone's
// @keystonehq/bc-ur-registry 0.8.0: crypto-psbt byte for byte and through
// Keystone's own multi-part encoder; a 2-of-3 crypto-output both ways;
// and a Keystone-style crypto-account (no 308/410 tags) into cosigner keys.
func TestRegistryJSInterop(t *testing.T) {
	peer := jspeer.Require(t)
	raw, err := os.ReadFile("../bbqr/testdata/coinkite/1in10out.psbt")
	if err != nil {
		t.Fatalf("PSBT vector missing: %v", err)
	}
	msg, _ := EncodePSBT(raw)
	var ps struct {
		PSBT, CBOR string
		Parts      []string
	}
	peer.Call(t, map[string]any{"op": "psbt", "cbor": hex.EncodeToString(msg), "psbt": hex.EncodeToString(raw), "maxFragmentLength": 100, "count": 40}, &ps)
	if ps.PSBT != hex.EncodeToString(raw) || ps.CBOR != hex.EncodeToString(msg) {
		t.Fatal("Keystone's crypto-psbt CBOR differs from ours")
	}
	var d Decoder
	for _, p := range ps.Parts {
		if _, err := d.Receive(p); err != nil {
			t.Fatal(err)
		}
	}
	u, err := d.Result()
	if got, err2 := PSBTFromUR(u); err != nil || err2 != nil || !bytes.Equal(got, raw) {
		t.Fatalf("Keystone's crypto-psbt parts: %v %v", err, err2)
	}

	// crypto-output: ours into Keystone.
	wallet := testWallet(t)
	desc, _ := descriptor.Parse(wallet)
	out, err := EncodeCryptoOutput(wallet, OutputOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ko struct {
		Scripts   []string
		Threshold int
		Keys      []jsHDKey
	}
	peer.Call(t, map[string]any{"op": "output-decode", "cbor": hex.EncodeToString(out)}, &ko)
	if !slices.Equal(ko.Scripts, []string{"wsh", "sortedmulti"}) || ko.Threshold != 2 || len(ko.Keys) != 3 {
		t.Fatalf("Keystone read %+v", ko)
	}
	var keys []any
	for i, k := range desc.Keys {
		want := keyJSON(t, k, true)
		got := ko.Keys[i]
		if got.Key != want["key"] || got.ChainCode != want["chainCode"] || !got.Testnet || got.Children == nil || got.Children.Path != "0/*" ||
			got.Origin == nil || got.Origin.Fingerprint != want["origin"].(map[string]any)["fingerprint"] || got.Origin.Path != "48'/1'/0'/2'" ||
			got.ParentFingerprint != want["parentFingerprint"] {
			t.Fatalf("key %d: Keystone read %+v", i, got)
		}
		keys = append(keys, want)
	}
	// The same wallet built by Keystone into our decoder.
	var ke struct{ CBOR, UR string }
	peer.Call(t, map[string]any{"op": "output-encode", "scripts": []string{"wsh", "sortedmulti"}, "threshold": 2, "keys": keys}, &ke)
	got, err := DecodeCryptoOutputDescriptor(unhex(t, ke.CBOR))
	if err != nil {
		t.Fatal(err)
	}
	single, _ := desc.Single(0)
	if got.String() != single.String() || !descriptor.Equal(got.Multipath(), desc) {
		t.Fatalf("Keystone's crypto-output decoded as %s, want %s", got, single)
	}
	t.Logf("Keystone's crypto-output CBOR is %d bytes, ours %d; same bytes: %v", len(ke.CBOR)/2, len(out), ke.CBOR == hex.EncodeToString(out))
	var rd struct{ Type, Text string }
	u2, _ := Decode(ke.UR)
	if u2.Type != TypeCryptoOutput {
		t.Fatalf("Keystone UR type %s", u2.Type)
	}
	e, _ := NewEncoder(TypeCryptoOutput, out, 60, 10)
	peer.Call(t, map[string]any{"op": "registry-decode", "parts": e.Parts(3 * e.SeqLen())}, &rd)
	if rd.Type != "crypto-output" || !strings.HasPrefix(rd.Text, "wsh(sortedmulti(") {
		t.Fatalf("Keystone's URRegistryDecoder on our parts: %+v", rd)
	}

	// crypto-account as Keystone writes it: one BIP-48 key per script.
	var entries []any
	for _, c := range []struct {
		scripts []string
		key     descriptor.Key
	}{{[]string{"sh"}, desc.Keys[0]}, {[]string{"sh", "wsh"}, desc.Keys[1]}, {[]string{"wsh"}, desc.Keys[2]}} {
		entries = append(entries, map[string]any{"scripts": c.scripts, "key": keyJSON(t, c.key, false)})
	}
	var ka struct{ CBOR string }
	peer.Call(t, map[string]any{"op": "account-encode", "masterFingerprint": hex.EncodeToString(desc.Keys[2].Origin.Fingerprint[:]), "entries": entries}, &ka)
	acct, err := DecodeAccount(unhex(t, ka.CBOR))
	if err != nil {
		t.Fatal(err)
	}
	wsh, err := acct.Multisig(descriptor.ScriptWsh)
	if err != nil {
		t.Fatal(err)
	}
	want := desc.Keys[2]
	want.Path, want.Wildcard = nil, false
	if wsh.String() != want.String() {
		t.Fatalf("cosigner key %s, want %s", wsh.String(), want.String())
	}
	if shwsh, err := acct.Multisig(descriptor.ScriptShWsh); err != nil || !strings.HasSuffix(shwsh.String(), desc.Keys[1].XPub.String()) {
		t.Fatalf("sh-wsh entry: %s %v", shwsh.String(), err)
	}
}
