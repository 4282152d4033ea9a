package ledger_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/tyler-smith/go-bip39"

	"github.com/countersign/countersign/descriptor"
	emu "github.com/countersign/countersign/hw/emulator/ledger"
	"github.com/countersign/countersign/psbt"
)

// policyCase is one wallet policy the JS client registers and signs with.
type policyCase struct {
	name, template string
	keys           []string // the policy's key vector
	desc           string   // the same wallet as a descriptor, for countersign's builder and derivation
	sigsPerInput   int      // signatures the emulator yields per input
	tap            bool
}

type jsPolicyResult struct {
	ID        string   `json:"id"`
	PolicyID  string   `json:"policyId"`
	HMAC      string   `json:"hmac"`
	Addresses []string `json:"addresses"`
	Sigs      []struct {
		Input       int    `json:"input"`
		Pubkey      string `json:"pubkey"`
		Signature   string `json:"signature"`
		TapleafHash string `json:"tapleafHash"`
	} `json:"sigs"`
	Yields []string `json:"yields"` // raw YIELD payloads (cases with raw)
}

// interopKeys are the emulator's key and two software cosigners at
// m/48'/1'/0'/2', as policy keys ("[fpr/48'/1'/0'/2']tpub").
func interopKeys(t *testing.T) []string {
	t.Helper()
	seeds := [][]byte{bip39.NewSeed(interopMnemonic, "")}
	for k := 1; k < 3; k++ {
		s := sha256.Sum256([]byte(fmt.Sprintf("interop cosigner %d", k)))
		seeds = append(seeds, s[:])
	}
	var keys []string
	for _, seed := range seeds {
		m, err := hdkeychain.NewMaster(seed, &chaincfg.TestNet3Params)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := m.ECPubKey()
		k := m
		for _, s := range []uint32{48, 1, 0, 2} {
			if k, err = k.Derive(s + hdkeychain.HardenedKeyStart); err != nil {
				t.Fatal(err)
			}
		}
		x, _ := k.Neuter()
		keys = append(keys, fmt.Sprintf("[%x/48'/1'/0'/2']%s", btcutil.Hash160(pub.SerializeCompressed())[:4], x))
	}
	return keys
}

// numsXpub is an xpub whose key is BIP-341's unspendable point H (the app
// labels it a dummy key), with a made-up chain code.
func numsXpub(t *testing.T) string {
	t.Helper()
	h, _ := hex.DecodeString("0250929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0")
	cc := sha256.Sum256([]byte("countersign interop unspendable"))
	return hdkeychain.NewExtendedKey(chaincfg.TestNet3Params.HDPublicKeyID[:], h, cc[:], []byte{0, 0, 0, 0}, 0, 0, false).String()
}

// toDescriptor writes a template with its keys as a descriptor.
func toDescriptor(template string, keys []string) string {
	s := strings.ReplaceAll(template, "/**", "/<0;1>/*")
	for i := len(keys) - 1; i >= 0; i-- {
		s = strings.ReplaceAll(s, fmt.Sprintf("@%d", i), keys[i])
	}
	return s
}

func policyCases(t *testing.T) []policyCase {
	k := interopKeys(t)
	mk := func(name, tmpl string, keys []string, sigs int, tap bool) policyCase {
		return policyCase{name: name, template: tmpl, keys: keys, desc: toDescriptor(tmpl, keys), sigsPerInput: sigs, tap: tap}
	}
	return []policyCase{
		// The device's key is the internal key (key path) and, at
		// <2;3>, in a sortedmulti_a leaf (script path).
		mk("Tap key and leaf", "tr(@0/**,{sortedmulti_a(2,@0/<2;3>/*,@1/**),pk(@2/**)})", k, 2, true),
		// An unspendable internal key: script paths only.
		mk("Tap NUMS 2of3", "tr(@0/**,sortedmulti_a(2,@1/**,@2/**,@3/**))", append([]string{numsXpub(t)}, k...), 1, true),
		// countersign's decaying 2-of-3 with the device also the
		// recovery key (at <2;3>): both its key expressions sign.
		mk("Decay 2of3", "wsh(or_d(multi(2,@0/**,@1/**,@2/**),and_v(v:pkh(@0/<2;3>/*),older(52560))))", k, 2, false),
	}
}

// TestLedgerJSClientPolicies registers a tr() policy with key and script
// paths, one with an unspendable internal key and a wsh(miniscript)
// policy with Ledger's JS client against the emulator (app
// LatestAppVersion), and checks what the client got independently: the
// HMAC under the emulator's key, every address against countersign's
// descriptor derivation, and every signature with btcd (txscript's BIP-341
// and BIP-143 digests, schnorr and ecdsa verification) for a key the PSBT
// names as the device's.
func TestLedgerJSClientPolicies(t *testing.T) {
	hmacKey := bytes.Repeat([]byte{7}, 32)
	h := newJSHarness(t, emu.Config{Mnemonic: interopMnemonic, AppVersion: emu.LatestAppVersion, HMACKey: hmacKey})

	net3 := &chaincfg.TestNet3Params
	positions := [][2]uint32{{0, 0}, {0, 5}, {1, 3}}
	cases := policyCases(t)
	var in []map[string]any
	var descs []*descriptor.Descriptor
	var packets []*bpsbt.Packet
	for _, c := range cases {
		d, err := descriptor.Parse(c.desc)
		if err != nil {
			t.Fatalf("%s: %v", c.desc, err)
		}
		p := policyPSBT(t, d, 2)
		b64, err := psbt.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		descs, packets = append(descs, d), append(packets, p)
		in = append(in, map[string]any{"name": c.name, "template": c.template, "keys": c.keys, "psbt": b64, "positions": positions})
	}
	res, err := h.run(in...)
	if err != nil {
		t.Fatal(err)
	}
	efp := h.e.Fingerprint()
	for ci, c := range cases {
		r := res[ci]
		id, _ := hex.DecodeString(r.ID)
		m := hmac.New(sha256.New, hmacKey)
		m.Write(id)
		if r.ID != r.PolicyID || r.HMAC != hex.EncodeToString(m.Sum(nil)) {
			t.Errorf("%s: id %s (client computes %s), hmac %s", c.name, r.ID, r.PolicyID, r.HMAC)
		}
		for i, pos := range positions {
			der, err := descs[ci].Derive(pos[0], pos[1], net3)
			if err != nil {
				t.Fatal(err)
			}
			if r.Addresses[i] != der.Address {
				t.Errorf("%s %d/%d: emulator %s, countersign %s", c.name, pos[0], pos[1], r.Addresses[i], der.Address)
			}
		}
		p := packets[ci]
		if len(r.Sigs) != c.sigsPerInput*len(p.Inputs) {
			t.Errorf("%s: %d signatures for %d inputs, want %d each", c.name, len(r.Sigs), len(p.Inputs), c.sigsPerInput)
		}
		for _, s := range r.Sigs {
			if err := verifyYield(p, s.Input, s.Pubkey, s.Signature, s.TapleafHash, efp); err != nil {
				t.Errorf("%s input %d: %v", c.name, s.Input, err)
			}
		}
		t.Logf("%s: %s, %d signatures verified", c.name, r.Addresses[0], len(r.Sigs))
	}
}

// verifyYield checks one signature the client got: the key is one the
// PSBT derives from the emulator's fingerprint, and the signature verifies
// against btcd's digest for that input (BIP-341 key path, BIP-342 script
// path of the leaf named, or BIP-143 with the witness script).
func verifyYield(p *bpsbt.Packet, i int, pubHex, sigHex, leafHex string, fp [4]byte) error {
	if i < 0 || i >= len(p.Inputs) {
		return fmt.Errorf("no input %d", i)
	}
	in := &p.Inputs[i]
	pub, _ := hex.DecodeString(pubHex)
	sig, _ := hex.DecodeString(sigHex)
	fetcher := txscript.NewMultiPrevOutFetcher(nil)
	for j, pin := range p.Inputs {
		fetcher.AddPrevOut(p.UnsignedTx.TxIn[j].PreviousOutPoint, pin.WitnessUtxo)
	}
	hashes := txscript.NewTxSigHashes(p.UnsignedTx, fetcher)
	fpU := uint32(fp[0]) | uint32(fp[1])<<8 | uint32(fp[2])<<16 | uint32(fp[3])<<24
	if len(pub) == 32 { // taproot
		if len(sig) != 64 {
			return fmt.Errorf("a %d-byte schnorr signature (SIGHASH_DEFAULT is 64)", len(sig))
		}
		s, err := schnorr.ParseSignature(sig)
		if err != nil {
			return err
		}
		key, err := schnorr.ParsePubKey(pub)
		if err != nil {
			return err
		}
		var digest []byte
		if leafHex == "" {
			// Key path: the key is the output key of the spent script.
			if !bytes.Equal(in.WitnessUtxo.PkScript[2:], pub) {
				return fmt.Errorf("key-path signature by %x, the output key is %x", pub, in.WitnessUtxo.PkScript[2:])
			}
			if digest, err = txscript.CalcTaprootSignatureHash(hashes, txscript.SigHashDefault, p.UnsignedTx, i, fetcher); err != nil {
				return err
			}
		} else {
			var leaf *bpsbt.TaprootTapLeafScript
			for _, l := range in.TaprootLeafScript {
				h := txscript.NewTapLeaf(l.LeafVersion, l.Script).TapHash()
				if hex.EncodeToString(h[:]) == leafHex {
					leaf = l
				}
			}
			if leaf == nil {
				return fmt.Errorf("leaf %s is not in the PSBT", leafHex)
			}
			mine := false
			for _, d := range in.TaprootBip32Derivation {
				if bytes.Equal(d.XOnlyPubKey, pub) && d.MasterKeyFingerprint == fpU {
					mine = true
				}
			}
			if !mine || !bytes.Contains(leaf.Script, pub) {
				return fmt.Errorf("key %x is not the device's key in the leaf", pub)
			}
			if digest, err = txscript.CalcTapscriptSignaturehash(hashes, txscript.SigHashDefault, p.UnsignedTx, i, fetcher, txscript.NewTapLeaf(leaf.LeafVersion, leaf.Script)); err != nil {
				return err
			}
		}
		if !s.Verify(digest, key) {
			return fmt.Errorf("schnorr signature does not verify")
		}
		return nil
	}
	mine := false
	for _, d := range in.Bip32Derivation {
		if bytes.Equal(d.PubKey, pub) && d.MasterKeyFingerprint == fpU {
			mine = true
		}
	}
	if !mine {
		return fmt.Errorf("key %x is not one of the device's in the PSBT", pub)
	}
	if len(sig) < 2 || sig[len(sig)-1] != byte(txscript.SigHashAll) {
		return fmt.Errorf("signature without SIGHASH_ALL")
	}
	digest, err := txscript.CalcWitnessSigHash(in.WitnessScript, hashes, txscript.SigHashAll, p.UnsignedTx, i, in.WitnessUtxo.Value)
	if err != nil {
		return err
	}
	es, err := ecdsa.ParseDERSignature(sig[:len(sig)-1])
	if err != nil {
		return err
	}
	key, err := btcec.ParsePubKey(pub)
	if err != nil {
		return err
	}
	if !es.Verify(digest, key) {
		return fmt.Errorf("ecdsa signature does not verify")
	}
	return nil
}

// policyPSBT spends n coins of the wallet (receive indexes 0..n-1) with
// countersign's builder, change at 1/3.
func policyPSBT(t *testing.T, d *descriptor.Descriptor, n int) *bpsbt.Packet {
	t.Helper()
	net3 := &chaincfg.TestNet3Params
	var utxos []psbt.UTXO
	var pre []wire.OutPoint
	for i := 0; i < n; i++ {
		der, err := d.Derive(0, uint32(i), net3)
		if err != nil {
			t.Fatal(err)
		}
		prev := wire.NewMsgTx(2)
		prev.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash{byte(i + 1), 9}}, SignatureScript: []byte{0x51}, Sequence: wire.MaxTxInSequenceNum})
		prev.AddTxOut(wire.NewTxOut(150000, der.ScriptPubKey))
		op := wire.OutPoint{Hash: prev.TxHash(), Index: 0}
		utxos = append(utxos, psbt.UTXO{OutPoint: op, Value: 150000, Index: uint32(i), PrevTx: prev, Confirmations: 3})
		pre = append(pre, op)
	}
	p, _, err := psbt.Build(psbt.BuildRequest{
		Wallet:       psbt.WalletInfo{Descriptor: d, Network: net3},
		UTXOs:        utxos,
		Outputs:      []psbt.Output{{Script: append([]byte{0, 20}, bytes.Repeat([]byte{7}, 20)...), Value: 120000}},
		Preselected:  pre,
		FeeRate:      3,
		ChangeBranch: 1,
		ChangeIndex:  3,
		Rand:         rand.New(rand.NewPCG(7, 8)),
	})
	if err != nil {
		t.Fatalf("%s: %v", d, err)
	}
	return p
}

// TestLedgerJSClientTapMiniscript signs with Ledger's JS client for a
// tr() policy with miniscript leaves (app 2.2.0 and later) and an
// unspendable internal key: tr(NUMS,{and_v(v:pk(device),older(144)),
// multi_a(2,device',cosigner)}). countersign's builder does not make such
// PSBTs, so the test builds the wallet and the PSBT itself with btcd
// (txscript's script builder, taproot tree and output key; BIP-371 fields)
// and checks the emulator's addresses and signatures against them.
func TestLedgerJSClientTapMiniscript(t *testing.T) {
	js := newJSHarness(t, emu.Config{Mnemonic: interopMnemonic, AppVersion: emu.LatestAppVersion})

	k := interopKeys(t)
	keys := []string{numsXpub(t), k[0], k[2]}
	const tmpl = "tr(@0/**,{and_v(v:pk(@1/**),older(144)),multi_a(2,@1/<2;3>/*,@2/**)})"
	xpubOf := func(s string) *hdkeychain.ExtendedKey {
		if i := strings.IndexByte(s, ']'); i >= 0 {
			s = s[i+1:]
		}
		x, err := hdkeychain.NewKeyFromString(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	at := func(key string, steps ...uint32) *btcec.PublicKey {
		x := xpubOf(key)
		var err error
		for _, s := range steps {
			if x, err = x.Derive(s); err != nil {
				t.Fatal(err)
			}
		}
		pub, _ := x.ECPubKey()
		return pub
	}
	type position struct {
		pkScript, leaf1, leaf2, internal []byte
		tree                             *txscript.IndexedTapScriptTree
		dev1, dev2                       *btcec.PublicKey
	}
	derive := func(index uint32) position {
		var p position
		p.dev1, p.dev2 = at(keys[1], 0, index), at(keys[1], 2, index)
		co := at(keys[2], 0, index)
		internal := at(keys[0], 0, index)
		p.internal = schnorr.SerializePubKey(internal)
		var err error
		if p.leaf1, err = txscript.NewScriptBuilder().AddData(schnorr.SerializePubKey(p.dev1)).AddOp(txscript.OP_CHECKSIGVERIFY).AddInt64(144).AddOp(txscript.OP_CHECKSEQUENCEVERIFY).Script(); err != nil {
			t.Fatal(err)
		}
		if p.leaf2, err = txscript.NewScriptBuilder().AddData(schnorr.SerializePubKey(p.dev2)).AddOp(txscript.OP_CHECKSIG).AddData(schnorr.SerializePubKey(co)).AddOp(txscript.OP_CHECKSIGADD).AddInt64(2).AddOp(txscript.OP_NUMEQUAL).Script(); err != nil {
			t.Fatal(err)
		}
		p.tree = txscript.AssembleTaprootScriptTree(txscript.NewBaseTapLeaf(p.leaf1), txscript.NewBaseTapLeaf(p.leaf2))
		root := p.tree.RootNode.TapHash()
		q := txscript.ComputeTaprootOutputKey(internal, root[:])
		if p.pkScript, err = txscript.PayToTaprootScript(q); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Two coins at receive 0 and 1, spent to an external output.
	fp := js.e.Fingerprint()
	fpU := uint32(fp[0]) | uint32(fp[1])<<8 | uint32(fp[2])<<16 | uint32(fp[3])<<24
	h := uint32(hdkeychain.HardenedKeyStart)
	tx := wire.NewMsgTx(2)
	var pos []position
	for i := uint32(0); i < 2; i++ {
		pos = append(pos, derive(i))
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash{byte(i + 1), 7}, Index: i}, Sequence: 144})
	}
	tx.AddTxOut(wire.NewTxOut(250000, append([]byte{0, 20}, bytes.Repeat([]byte{7}, 20)...)))
	p, err := bpsbt.NewFromUnsignedTx(tx)
	if err != nil {
		t.Fatal(err)
	}
	for i, ps := range pos {
		in := &p.Inputs[i]
		in.WitnessUtxo = wire.NewTxOut(150000, ps.pkScript)
		root := ps.tree.RootNode.TapHash()
		in.TaprootInternalKey, in.TaprootMerkleRoot = ps.internal, root[:]
		for li, script := range [][]byte{ps.leaf1, ps.leaf2} {
			ctl := ps.tree.LeafMerkleProofs[li].ToControlBlock(mustXOnly(t, ps.internal))
			cb, err := ctl.ToBytes()
			if err != nil {
				t.Fatal(err)
			}
			in.TaprootLeafScript = append(in.TaprootLeafScript, &bpsbt.TaprootTapLeafScript{ControlBlock: cb, Script: script, LeafVersion: txscript.BaseLeafVersion})
		}
		l1, l2 := txscript.NewBaseTapLeaf(ps.leaf1).TapHash(), txscript.NewBaseTapLeaf(ps.leaf2).TapHash()
		in.TaprootBip32Derivation = []*bpsbt.TaprootBip32Derivation{
			{XOnlyPubKey: schnorr.SerializePubKey(ps.dev1), LeafHashes: [][]byte{l1[:]}, MasterKeyFingerprint: fpU, Bip32Path: []uint32{48 + h, 1 + h, h, 2 + h, 0, uint32(i)}},
			{XOnlyPubKey: schnorr.SerializePubKey(ps.dev2), LeafHashes: [][]byte{l2[:]}, MasterKeyFingerprint: fpU, Bip32Path: []uint32{48 + h, 1 + h, h, 2 + h, 2, uint32(i)}},
		}
	}
	b64, err := p.B64Encode()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]any{"port": js.port, "cases": []map[string]any{
		{"name": "Tap miniscript", "template": tmpl, "keys": keys, "psbt": b64, "positions": [][2]uint32{{0, 0}, {0, 1}}},
	}})
	cmd := exec.CommandContext(js.ctx, js.node, filepath.Join(js.dir, "policies.js"))
	cmd.Dir = js.dir
	cmd.Stdin = bytes.NewReader(raw)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("js.node policies.js: %v\n%s", err, stderr.String())
	}
	var res []jsPolicyResult
	if err := json.Unmarshal(out, &res); err != nil || len(res) != 1 {
		t.Fatalf("js.node output %q: %v", out, err)
	}
	for i, ps := range pos {
		a, err := btcutil.NewAddressTaproot(ps.pkScript[2:], &chaincfg.TestNet3Params)
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Addresses[i] != a.EncodeAddress() {
			t.Errorf("receive %d: emulator %s, btcd %s", i, res[0].Addresses[i], a.EncodeAddress())
		}
	}
	if len(res[0].Sigs) != 4 {
		t.Errorf("%d signatures, want 2 leaves x 2 inputs", len(res[0].Sigs))
	}
	for _, s := range res[0].Sigs {
		if err := verifyYield(p, s.Input, s.Pubkey, s.Signature, s.TapleafHash, fp); err != nil {
			t.Errorf("input %d: %v", s.Input, err)
		}
	}
}

func mustXOnly(t *testing.T, x []byte) *btcec.PublicKey {
	t.Helper()
	k, err := schnorr.ParsePubKey(x)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
