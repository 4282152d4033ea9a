package jade

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/fxamacker/cbor/v2"
	"github.com/tyler-smith/go-bip39"
)

const h = hdkeychain.HardenedKeyStart

// Other cosigners of the test wallet: BIP-39 reference mnemonics.
var otherMnemonics = []string{
	"abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
	"legal winner thank year wave sausage worth useful legal winner thank yellow",
}

// cosigner is one key of a test wallet, made with hdkeychain.
type cosigner struct {
	master  *hdkeychain.ExtendedKey
	fp      [4]byte
	account *hdkeychain.ExtendedKey
}

var account = []uint32{48 + h, 1 + h, 0 + h, 2 + h}

func newCosigner(t testing.TB, mnemonic string) cosigner {
	t.Helper()
	m, err := hdkeychain.NewMaster(bip39.NewSeed(mnemonic, ""), &chaincfg.TestNet3Params)
	if err != nil {
		t.Fatal(err)
	}
	c := cosigner{master: m}
	c.fp, _ = fingerprintOf(m)
	k, _ := derive(m, account)
	c.account, _ = k.Neuter()
	return c
}

// testWallet is a 2-of-3 of the emulator's seed and two others.
type testWallet struct {
	variant string
	sorted  bool
	keys    []cosigner
}

func newTestWallet(t testing.TB, variant string, sorted bool) *testWallet {
	w := &testWallet{variant: variant, sorted: sorted}
	for _, m := range append([]string{testMnemonic}, otherMnemonics...) {
		w.keys = append(w.keys, newCosigner(t, m))
	}
	return w
}

func (w *testWallet) registration(name string) map[string]any {
	var signers []map[string]any
	for _, k := range w.keys {
		signers = append(signers, map[string]any{"fingerprint": k.fp[:], "derivation": account, "xpub": k.account.String(), "path": []uint32{}})
	}
	return map[string]any{"network": "testnet", "multisig_name": name, "descriptor": map[string]any{
		"variant": w.variant, "sorted": w.sorted, "threshold": 2, "signers": signers,
	}}
}

// at derives the wallet at (branch, index): scriptPubKey, redeem and
// witness scripts, derivations. The multisig script is built with
// txscript, not the emulator's code.
func (w *testWallet) at(t testing.TB, branch, index uint32) (spk, redeem, witness []byte, ds []*bpsbt.Bip32Derivation) {
	t.Helper()
	b := txscript.NewScriptBuilder().AddOp(txscript.OP_2)
	var pubs [][]byte
	for _, k := range w.keys {
		c, _ := derive(k.account, []uint32{branch, index})
		pub, _ := c.ECPubKey()
		pubs = append(pubs, pub.SerializeCompressed())
		ds = append(ds, &bpsbt.Bip32Derivation{PubKey: pub.SerializeCompressed(), MasterKeyFingerprint: binary.LittleEndian.Uint32(k.fp[:]), Bip32Path: append(append([]uint32(nil), account...), branch, index)})
	}
	if w.sorted {
		for i := range pubs {
			for j := i + 1; j < len(pubs); j++ {
				if bytes.Compare(pubs[j], pubs[i]) < 0 {
					pubs[i], pubs[j] = pubs[j], pubs[i]
				}
			}
		}
	}
	for _, p := range pubs {
		b.AddData(p)
	}
	ms, err := b.AddOp(txscript.OP_3).AddOp(txscript.OP_CHECKMULTISIG).Script()
	if err != nil {
		t.Fatal(err)
	}
	wsh := func(s []byte) []byte {
		a, _ := btcutil.NewAddressWitnessScriptHash(chainhashSHA(s), &chaincfg.TestNet3Params)
		out, _ := txscript.PayToAddrScript(a)
		return out
	}
	sh := func(s []byte) []byte {
		a, _ := btcutil.NewAddressScriptHash(s, &chaincfg.TestNet3Params)
		out, _ := txscript.PayToAddrScript(a)
		return out
	}
	switch w.variant {
	case variantWsh:
		return wsh(ms), nil, ms, ds
	case variantShWsh:
		return sh(wsh(ms)), wsh(ms), ms, ds
	}
	return sh(ms), ms, nil, ds
}

func chainhashSHA(b []byte) []byte {
	h := chainhash.HashB(b)
	return h
}

// buildPSBT spends n coins of the wallet to an outside address, with
// change to (1, 3).
func (w *testWallet) buildPSBT(t testing.TB, n int) *bpsbt.Packet {
	t.Helper()
	tx := wire.NewMsgTx(2)
	var prevs []*wire.MsgTx
	var total int64
	for i := 0; i < n; i++ {
		spk, _, _, _ := w.at(t, 0, uint32(i))
		prev := wire.NewMsgTx(2)
		prev.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{byte(i), 1}, Index: 0}, []byte{0x51}, nil))
		prev.AddTxOut(wire.NewTxOut(int64(50_000+i), spk))
		prevs = append(prevs, prev)
		total += int64(50_000 + i)
		tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: prev.TxHash(), Index: 0}, nil, nil))
	}
	outside := append([]byte{0, 20}, bytes.Repeat([]byte{7}, 20)...)
	tx.AddTxOut(wire.NewTxOut(total/2, outside))
	change, credeem, cwitness, cds := w.at(t, 1, 3)
	tx.AddTxOut(wire.NewTxOut(total-total/2-2_000, change))
	p, err := bpsbt.NewFromUnsignedTx(tx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		_, redeem, witness, ds := w.at(t, 0, uint32(i))
		p.Inputs[i].NonWitnessUtxo = prevs[i]
		if w.variant != variantSh {
			p.Inputs[i].WitnessUtxo = prevs[i].TxOut[0]
		}
		p.Inputs[i].RedeemScript, p.Inputs[i].WitnessScript, p.Inputs[i].Bip32Derivation = redeem, witness, ds
	}
	p.Outputs[1].RedeemScript, p.Outputs[1].WitnessScript, p.Outputs[1].Bip32Derivation = credeem, cwitness, cds
	return p
}

func serialize(t testing.TB, p *bpsbt.Packet) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := p.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// verifySigs checks every partial signature of signed with txscript's
// digests and returns how many there are.
func verifySigs(t testing.TB, signed []byte, variant string) int {
	t.Helper()
	p, err := bpsbt.NewFromRawBytes(bytes.NewReader(signed), false)
	if err != nil {
		t.Fatal(err)
	}
	fetch := txscript.NewMultiPrevOutFetcher(nil)
	for i, in := range p.UnsignedTx.TxIn {
		fetch.AddPrevOut(in.PreviousOutPoint, p.Inputs[i].NonWitnessUtxo.TxOut[in.PreviousOutPoint.Index])
	}
	hashes := txscript.NewTxSigHashes(p.UnsignedTx, fetch)
	n := 0
	for i, in := range p.Inputs {
		for _, ps := range in.PartialSigs {
			var d []byte
			if variant == variantSh {
				d, err = txscript.CalcSignatureHash(in.RedeemScript, txscript.SigHashAll, p.UnsignedTx, i)
			} else {
				d, err = txscript.CalcWitnessSigHash(in.WitnessScript, hashes, txscript.SigHashAll, p.UnsignedTx, i, in.NonWitnessUtxo.TxOut[0].Value)
			}
			if err != nil {
				t.Fatal(err)
			}
			sig, err := ecdsa.ParseDERSignature(ps.Signature[:len(ps.Signature)-1])
			if err != nil {
				t.Fatal(err)
			}
			pub, _ := btcec.ParsePubKey(ps.PubKey)
			if ps.Signature[len(ps.Signature)-1] != hashAll || !sig.Verify(d, pub) {
				t.Fatalf("input %d: signature does not verify", i)
			}
			n++
		}
	}
	return n
}

func TestVersionInfoPingAndNetworks(t *testing.T) {
	c, _ := newClient(t, Config{Networks: NetworksTest})
	var info map[string]any
	c.mustCall("get_version_info", nil, &info)
	if info["JADE_STATE"] != "READY" || info["JADE_NETWORKS"] != "TEST" || info["JADE_VERSION"] != DefaultVersion {
		t.Fatalf("version info %v", info)
	}
	c.mustCall("get_version_info", map[string]any{"nonblocking": true}, &info)
	var ping int
	c.mustCall("ping", nil, &ping)
	if ping != 0 {
		t.Fatalf("ping %d", ping)
	}
	err := c.call("get_xpub", map[string]any{"network": "mainnet", "path": []uint32{}}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "-32003:") {
		t.Fatalf("mainnet on a test wallet: %v", err)
	}
	err = c.call("get_xpub", map[string]any{"network": "liquid", "path": []uint32{}}, nil)
	if err == nil || !strings.Contains(err.Error(), "-32602: Liquid") {
		t.Fatalf("liquid: %v", err)
	}
}

func TestErrorReplies(t *testing.T) {
	c, _ := newClient(t, Config{})
	for _, tc := range []struct {
		method string
		params any
		want   string
	}{
		{"no_such_method", nil, "-32601: Unknown method"},
		{"get_extended_data", map[string]any{}, "-32001: Unexpected method"},
		{"pin", map[string]any{}, "-32001: Unexpected method"},
		{"get_xpub", nil, "-32602: Expecting parameters map"},
		{"get_xpub", map[string]any{"network": "bogus", "path": []uint32{}}, "-32602: Failed to extract valid network from parameters"},
		{"get_xpub", map[string]any{"network": "testnet"}, "-32602: Failed to extract valid path from parameters"},
		{"get_receive_address", map[string]any{"network": "testnet", "multisig_name": "nope", "paths": [][]uint32{{0, 1}}}, "-32602: Cannot find named multisig wallet"},
		{"get_registered_multisig", map[string]any{"multisig_name": "nope"}, "-32602: Named multisig wallet does not exist for this signer"},
		{"sign_psbt", map[string]any{"network": "testnet", "psbt": []byte("psbt\xffjunk")}, "-32602: Failed to extract psbt from passed bytes"},
	} {
		err := c.call(tc.method, tc.params, nil)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %s", tc.method, err, tc.want)
		}
	}
	// cancel is ignored without a reply: the next request still pairs up.
	c.send("cancel", nil)
	var ping int
	c.mustCall("ping", nil, &ping)
}

func TestRegisterChecks(t *testing.T) {
	c, e := newClient(t, Config{})
	w := newTestWallet(t, variantWsh, true)
	bad := func(mutate func(map[string]any), want string) {
		t.Helper()
		p := w.registration("treasury")
		mutate(p)
		if err := c.call("register_multisig", p, nil); err == nil || err.Error() != want {
			t.Errorf("%v, want %s", err, want)
		}
	}
	bad(func(p map[string]any) { p["multisig_name"] = "sixteen-chars-xx" }, "-32602: Missing or invalid multisig name parameter")
	bad(func(p map[string]any) { p["multisig_name"] = "has space" }, "-32602: Missing or invalid multisig name parameter")
	bad(func(p map[string]any) { p["descriptor"].(map[string]any)["variant"] = "wpkh(k)" }, "-32602: Invalid script variant parameter")
	bad(func(p map[string]any) { p["descriptor"].(map[string]any)["threshold"] = 4 }, "-32602: Invalid multisig threshold")
	bad(func(p map[string]any) {
		s := p["descriptor"].(map[string]any)["signers"].([]map[string]any)
		s[0]["path"] = []uint32{h}
	}, "-32602: Failed to validate co-signers")
	bad(func(p map[string]any) {
		s := p["descriptor"].(map[string]any)["signers"].([]map[string]any)
		s[0]["fingerprint"] = []byte{1, 2, 3, 4} // no signer is this device
	}, "-32602: Failed to validate co-signers")
	bad(func(p map[string]any) {
		s := p["descriptor"].(map[string]any)["signers"].([]map[string]any)
		s[1]["xpub"] = "Zpub" + s[1]["xpub"].(string)[4:]
	}, "-32602: Failed to validate co-signers")
	if len(e.Registrations()) != 0 {
		t.Fatal("a refused registration was stored")
	}
	for i := 0; i < maxRegistrations; i++ {
		c.mustCall("register_multisig", w.registration(fmt.Sprint("w", i)), nil)
	}
	if err := c.call("register_multisig", w.registration("one-too-many"), nil); err == nil || !strings.Contains(err.Error(), "maximum number") {
		t.Fatalf("17th registration: %v", err)
	}
	// Overwriting a name with another wallet asks again and says so.
	other := newTestWallet(t, variantSh, false)
	c.mustCall("register_multisig", other.registration("w0"), nil)
	s := e.Screens()
	if last := s[len(s)-1]; last.Kind != "register" || !last.Overwrite || last.Variant != variantSh {
		t.Fatalf("screen %+v", last)
	}
}

func TestRejectMode(t *testing.T) {
	c, e := newClient(t, Config{Approve: func(context.Context, Screen) bool { return false }})
	w := newTestWallet(t, variantWsh, true)
	if err := c.call("register_multisig", w.registration("x"), nil); err == nil || err.Error() != "-32000: User declined to register multisig" {
		t.Fatalf("register: %v", err)
	}
	// Register behind the emulator's back to reach the other screens.
	e.cfg.Approve = nil
	c.mustCall("register_multisig", w.registration("x"), nil)
	e.cfg.Approve = func(context.Context, Screen) bool { return false }
	if err := c.call("get_receive_address", map[string]any{"network": "testnet", "multisig_name": "x", "paths": [][]uint32{{0, 0}, {0, 0}, {0, 0}}}, nil); err == nil || err.Error() != "-32000: User declined to confirm address" {
		t.Fatalf("address: %v", err)
	}
	if _, _, err := c.signPSBT("testnet", serialize(t, w.buildPSBT(t, 1))); err == nil || err.Error() != "-32000: User declined to sign psbt" {
		t.Fatalf("sign: %v", err)
	}
}

// TestSignLargePSBTInChunks: 50 inputs under every variant, sorted and
// not; the PSBT comes back in 3008-byte chunks, every signature verifies
// with txscript's digests, and the change is recognised only once the
// wallet is registered.
func TestSignLargePSBTInChunks(t *testing.T) {
	for _, variant := range []string{variantWsh, variantShWsh, variantSh} {
		for _, sorted := range []bool{true, false} {
			c, e := newClient(t, Config{})
			w := newTestWallet(t, variant, sorted)
			unsigned := serialize(t, w.buildPSBT(t, 50))
			signed, replies, err := c.signPSBT("testnet", unsigned)
			if err != nil {
				t.Fatal(err)
			}
			if want := (len(signed) + DefaultOutputChunk - 1) / DefaultOutputChunk; replies != want || replies < 5 {
				t.Fatalf("%s: %d replies for %d bytes", variant, replies, len(signed))
			}
			if n := verifySigs(t, signed, variant); n != 50 {
				t.Fatalf("%s: %d signatures", variant, n)
			}
			s := e.Screens()
			if out := s[len(s)-1].Outputs; out[1].Change || s[len(s)-1].Wallet != "" {
				t.Fatalf("%s: change recognised without a registration: %+v", variant, s[len(s)-1])
			}
			c.mustCall("register_multisig", w.registration("vault"), nil)
			if _, _, err := c.signPSBT("testnet", unsigned); err != nil {
				t.Fatal(err)
			}
			s = e.Screens()
			last := s[len(s)-1]
			if !last.Outputs[1].Change || last.Outputs[0].Change || last.Wallet != "vault" || last.Fee != 2_000 {
				t.Fatalf("%s sorted=%v: screen %+v", variant, sorted, last)
			}
		}
	}
}

func TestExtendedDataProtocol(t *testing.T) {
	c, _ := newClient(t, Config{OutputChunk: 100})
	w := newTestWallet(t, variantWsh, false)
	id := c.send("sign_psbt", map[string]any{"network": "testnet", "psbt": serialize(t, w.buildPSBT(t, 2))})
	r := c.read()
	if r.SeqNum != 1 || r.SeqLen < 2 {
		t.Fatalf("first reply %d/%d", r.SeqNum, r.SeqLen)
	}
	c.send("get_extended_data", map[string]any{"origid": id, "orig": "sign_psbt", "seqnum": 3, "seqlen": r.SeqLen})
	if r := c.read(); r.Error == nil || r.Error.Code != codeProtocol {
		t.Fatalf("skipped chunk: %+v", r)
	}
	c.send("sign_psbt", map[string]any{"network": "testnet", "psbt": serialize(t, w.buildPSBT(t, 2))})
	c.read()
	c.send("ping", nil) // answered at once, the main task still waits
	if r := c.read(); r.Error != nil {
		t.Fatalf("ping: %+v", r)
	}
	c.send("get_xpub", map[string]any{"network": "testnet", "path": []uint32{}})
	if r := c.read(); r.Error == nil || r.Error.Message != "Unexpected message, expecting 'get_extended_data'" {
		t.Fatalf("interrupting message: %+v", r)
	}
}

// TestFraming: requests split anywhere or run together parse as the
// firmware's buffer does; bytes that cannot be CBOR are rejected with id
// "00", and so are the bytes of a message that stops arriving.
func TestFraming(t *testing.T) {
	c, e := newClient(t, Config{})
	e.stale = 200 * time.Millisecond
	one, _ := cbor.Marshal(map[string]any{"id": "a", "method": "ping"})
	two, _ := cbor.Marshal(map[string]any{"id": "b", "method": "get_xpub", "params": map[string]any{"network": "testnet", "path": []uint32{0}}})
	both := append(append([]byte(nil), one...), two...)
	go func() { // byte by byte; the pipe is synchronous, replies come meanwhile
		for i := range both {
			c.conn.Write(both[i : i+1])
		}
	}()
	if r := c.read(); r.ID != "a" || r.Error != nil {
		t.Fatalf("%+v", r)
	}
	if r := c.read(); r.ID != "b" || r.Error != nil {
		t.Fatalf("%+v", r)
	}
	c.conn.Write([]byte{0xff, 0x00}) // a break where an item must start
	if r := c.read(); r.ID != "00" || r.Error == nil || r.Error.Code != codeInvalidRequest {
		t.Fatalf("garbage: %+v", r)
	}
	notRPC, _ := cbor.Marshal(map[string]any{"method": "ping"}) // no id
	c.conn.Write(notRPC)
	if r := c.read(); r.ID != "00" || r.Error == nil || r.Error.Code != codeInvalidRequest {
		t.Fatalf("no id: %+v", r)
	}
	c.conn.Write(one[:3]) // and then nothing
	if r := c.read(); r.ID != "00" || r.Error == nil || string(r.Error.Data) != "3" {
		t.Fatalf("stale: %+v", r)
	}
	var ping int
	c.mustCall("ping", nil, &ping)
}

// TestLockedPINRelay: a locked emulator answers auth_user with an
// http_request; relaying it to the stand-in PIN server unlocks it, a wrong
// PIN does not, nor does a server that never answered.
func TestLockedPINRelay(t *testing.T) {
	secret := []byte("pin server secret")
	srv := httptest.NewServer(NewPINServer(secret))
	defer srv.Close()
	typed := "123456"
	c, e := newClient(t, Config{PINServer: srv.URL, PINSecret: secret, PIN: "123456",
		PINEntry: func(context.Context) (string, bool) { return typed, typed != "" }})
	if err := c.call("get_xpub", map[string]any{"network": "testnet", "path": []uint32{}}, nil); err == nil || !strings.HasPrefix(err.Error(), "-32002:") {
		t.Fatalf("locked: %v", err)
	}
	var info map[string]any
	c.mustCall("get_version_info", nil, &info)
	if info["JADE_STATE"] != "LOCKED" {
		t.Fatalf("state %v", info["JADE_STATE"])
	}
	relay := func(pinParams func(url string, data map[string]any) any) (bool, error) {
		t.Helper()
		var hr struct {
			HTTPRequest struct {
				Params struct {
					URLs   []string       `cbor:"urls"`
					Method string         `cbor:"method"`
					Accept string         `cbor:"accept"`
					Data   map[string]any `cbor:"data"`
				} `cbor:"params"`
				OnReply string `cbor:"on-reply"`
			} `cbor:"http_request"`
		}
		if err := c.call("auth_user", map[string]any{"network": "testnet", "epoch": time.Now().Unix()}, &hr); err != nil {
			return false, err
		}
		p := hr.HTTPRequest.Params
		if p.Method != "POST" || p.Accept != "json" || hr.HTTPRequest.OnReply != "pin" || len(p.URLs) != 2 || !strings.HasSuffix(p.URLs[1], ".onion/get_pin") {
			t.Fatalf("http_request %+v", hr)
		}
		var ok bool
		err := c.call(hr.HTTPRequest.OnReply, pinParams(p.URLs[0], p.Data), &ok)
		return ok, err
	}
	post := func(url string, data map[string]any) any {
		body, _ := json.Marshal(data)
		resp, err := http.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}

	typed = "654321"
	if ok, err := relay(post); err != nil || ok {
		t.Fatalf("wrong PIN: %v %v", ok, err)
	}
	if e.BadPINs() != 1 || !e.Locked() {
		t.Fatal("wrong PIN not counted")
	}
	typed = "123456"
	if _, err := relay(func(string, map[string]any) any { return nil }); err == nil || err.Error() != "-32602: Failed to read parameters from Oracle" {
		t.Fatalf("server never answered: %v", err)
	}
	if _, err := relay(func(string, map[string]any) any {
		return map[string]any{"data": base64.StdEncoding.EncodeToString([]byte("forged"))}
	}); err != nil {
		t.Fatalf("forged answer: %v", err)
	}
	if !e.Locked() {
		t.Fatal("a forged server answer unlocked it")
	}
	typed = ""
	if _, err := relay(post); err == nil || !strings.HasPrefix(err.Error(), "-32000:") {
		t.Fatalf("PIN entry abandoned: %v", err)
	}
	typed = "123456"
	if ok, err := relay(post); err != nil || !ok {
		t.Fatalf("right PIN: %v %v", ok, err)
	}
	if e.Locked() || e.BadPINs() != 0 {
		t.Fatal("still locked")
	}
	c.mustCall("get_version_info", nil, &info)
	if info["JADE_STATE"] != "READY" || info["JADE_NETWORKS"] != "TEST" {
		t.Fatalf("after unlock: %v", info)
	}
	var ok bool
	c.mustCall("auth_user", map[string]any{"network": "testnet"}, &ok) // unlocked: at once
	if !ok {
		t.Fatal("auth_user on an unlocked device")
	}
	if e.Requests()["pin"] != 4 {
		t.Fatalf("requests %v", e.Requests())
	}
}
