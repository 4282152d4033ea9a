package ledger_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcec/v2/schnorr/musig2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
	emu "github.com/countersign/countersign/hw/emulator/ledger"
	"github.com/countersign/countersign/psbt"
)

// musigYield is a decoded MuSig2 YIELD (doc/bitcoin.md): tag, input,
// pubnonce or partial signature, participant key, aggregate key.
type musigYield struct {
	tag         uint64
	input       int
	data        []byte
	participant []byte
	aggregate   []byte
	leaf        []byte
}

func readVarint(b []byte) (uint64, []byte) {
	switch {
	case len(b) == 0:
		return 0, nil
	case b[0] < 0xfd:
		return uint64(b[0]), b[1:]
	case b[0] == 0xfd && len(b) >= 3:
		return uint64(binary.LittleEndian.Uint16(b[1:])), b[3:]
	case b[0] == 0xfe && len(b) >= 5:
		return uint64(binary.LittleEndian.Uint32(b[1:])), b[5:]
	}
	return 0, nil
}

// splitYields sorts raw YIELDs into signatures (input, pubkey_augm,
// signature) and MuSig2 data.
func splitYields(t *testing.T, raw []string) (sigs [][3][]byte, inputs []int, ms []musigYield) {
	t.Helper()
	for _, h := range raw {
		b, _ := hex.DecodeString(h)
		tag, rest := readVarint(b)
		if tag <= 0xffff {
			if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
				t.Fatalf("short signature YIELD %s", h)
			}
			n := int(rest[0])
			sigs = append(sigs, [3][]byte{nil, rest[1 : 1+n], rest[1+n:]})
			inputs = append(inputs, int(tag))
			continue
		}
		in, rest := readVarint(rest)
		size := 66
		if tag == 0xFFFFFFFE {
			size = 32
		} else if tag != 0xFFFFFFFF {
			t.Fatalf("YIELD tag %#x", tag)
		}
		if len(rest) != size+66 && len(rest) != size+98 {
			t.Fatalf("MuSig2 YIELD of %d bytes after the input", len(rest))
		}
		y := musigYield{tag: tag, input: int(in), data: rest[:size], participant: rest[size : size+33], aggregate: rest[size+33 : size+66]}
		if len(rest) == size+98 {
			y.leaf = rest[size+66:]
		}
		ms = append(ms, y)
	}
	return sigs, inputs, ms
}

// bip32Tweak is BIP-32's CKDpub with its tweak IL, written here for the
// test: IL||IR = HMAC-SHA512(c, serP(K) || ser32(i)).
func bip32Tweak(t *testing.T, k *btcec.PublicKey, cc []byte, i uint32) ([32]byte, *btcec.PublicKey, []byte) {
	t.Helper()
	m := hmac.New(sha512.New, cc)
	m.Write(k.SerializeCompressed())
	m.Write(binary.BigEndian.AppendUint32(nil, i))
	sum := m.Sum(nil)
	var il [32]byte
	copy(il[:], sum[:32])
	x, err := hdkeychain.NewExtendedKey(chaincfg.TestNet3Params.HDPublicKeyID[:], k.SerializeCompressed(), cc, []byte{0, 0, 0, 0}, 0, 0, false).Derive(i)
	if err != nil {
		t.Fatal(err)
	}
	child, _ := x.ECPubKey()
	return il, child, sum[32:]
}

// cosignerPriv is interop cosigner k's private key at m/48'/1'/0'/2'.
func cosignerPriv(t *testing.T, k int) *btcec.PrivateKey {
	t.Helper()
	s := sha256.Sum256([]byte(fmt.Sprintf("interop cosigner %d", k)))
	m, err := hdkeychain.NewMaster(s[:], &chaincfg.TestNet3Params)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []uint32{48, 1, 0, 2} {
		if m, err = m.Derive(st + hdkeychain.HardenedKeyStart); err != nil {
			t.Fatal(err)
		}
	}
	priv, err := m.ECPrivKey()
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// TestLedgerJSClientMuSig2 runs both MuSig2 rounds of a key-path spend of
// tr(musig(@0,@1,@2)/**,sortedmulti_a(2,@0/**,@1/**,@2/**)) (app 2.4)
// with the emulator as participant @0, over Ledger's JS client (raw
// YIELDs), and two cosigners played by btcd's musig2 package: round 1
// must yield the device's pubnonce for the output key (and the leaf
// signature of its plain key, checked like the other policies'), round 2 (the PSBT
// with all three pubnonces) a partial signature that BIP-327's
// PartialSigVerify accepts and that, aggregated with the cosigners', is a
// BIP-340 signature for the output key over txscript's key-path digest.
// The tweaks (BIP-328 derivation, BIP-341) are computed here, and the
// aggregate signature spends the output in btcd's script engine. A second
// round 2 must fail (0xB007): the session is used once.
func TestLedgerJSClientMuSig2(t *testing.T) {
	h := newJSHarness(t, emu.Config{Mnemonic: interopMnemonic, AppVersion: emu.LatestAppVersion})
	run := func(b64 string) (jsPolicyResult, error) {
		res, err := h.run(map[string]any{"name": "MuSig 2of3", "template": "tr(musig(@0,@1,@2)/**,sortedmulti_a(2,@0/**,@1/**,@2/**))", "keys": interopKeys(t), "psbt": b64, "raw": true, "positions": [][2]uint32{{0, 0}}})
		if err != nil {
			return jsPolicyResult{}, err
		}
		return res[0], nil
	}

	keys := interopKeys(t)
	d, err := descriptor.Parse(toDescriptor("tr(musig(@0,@1,@2)/**,sortedmulti_a(2,@0/**,@1/**,@2/**))", keys))
	if err != nil {
		t.Fatal(err)
	}
	p := policyPSBT(t, d, 2)
	b64, err := psbt.Encode(p)
	if err != nil {
		t.Fatal(err)
	}

	// The participants, sorted, and each input's tweaks, computed here.
	var pubs []*btcec.PublicKey
	for _, k := range keys {
		x, err := hdkeychain.NewKeyFromString(k[strings.IndexByte(k, ']')+1:])
		if err != nil {
			t.Fatal(err)
		}
		pk, _ := x.ECPubKey()
		pubs = append(pubs, pk)
	}
	device := pubs[0]
	privs := map[int]*btcec.PrivateKey{1: cosignerPriv(t, 1), 2: cosignerPriv(t, 2)}
	// (AggregateKeys sorts the slice it is given: keep pubs in policy order.)
	agg, _, _, err := musig2.AggregateKeys(slices.Clone(pubs), true)
	if err != nil {
		t.Fatal(err)
	}
	cc := sha256.Sum256([]byte("MuSig2MuSig2MuSig2")) // BIP-328's chain code
	type session struct {
		tweaks []musig2.KeyTweakDesc
		output []byte // 33 bytes, after all tweaks
		msg    [32]byte
	}
	fetcher := txscript.NewMultiPrevOutFetcher(nil)
	for j, pin := range p.Inputs {
		fetcher.AddPrevOut(p.UnsignedTx.TxIn[j].PreviousOutPoint, pin.WitnessUtxo)
	}
	hashes := txscript.NewTxSigHashes(p.UnsignedTx, fetcher)
	sessions := make([]session, len(p.Inputs))
	for i := range p.Inputs {
		// The builder orders the inputs at random: find the coin's index.
		var der *descriptor.Derived
		index := uint32(0)
		for ; index < uint32(len(p.Inputs)); index++ {
			if der, err = d.Derive(0, index, &chaincfg.TestNet3Params); err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(der.ScriptPubKey, p.Inputs[i].WitnessUtxo.PkScript) {
				break
			}
		}
		t1, k1, c1 := bip32Tweak(t, agg.PreTweakedKey, cc[:], 0)
		t2, k2, _ := bip32Tweak(t, k1, c1, index)
		tap := [32]byte(chainhash.TaggedHash(chainhash.TagTapTweak, schnorr.SerializePubKey(k2), der.Tap.MerkleRoot)[:])
		tw := []musig2.KeyTweakDesc{{Tweak: t1}, {Tweak: t2}, {Tweak: tap, IsXOnly: true}}
		full, _, _, err := musig2.AggregateKeys(slices.Clone(pubs), true, musig2.WithKeyTweaks(tw...))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(full.FinalKey.SerializeCompressed()[1:], p.Inputs[i].WitnessUtxo.PkScript[2:]) {
			t.Fatalf("input %d: the test's tweaks do not give the output key", i)
		}
		m, err := txscript.CalcTaprootSignatureHash(hashes, txscript.SigHashDefault, p.UnsignedTx, i, fetcher)
		if err != nil {
			t.Fatal(err)
		}
		sessions[i] = session{tweaks: tw, output: full.FinalKey.SerializeCompressed(), msg: [32]byte(m)}
	}

	// Round 1: no pubnonce in the PSBT.
	r1, err := run(b64)
	if err != nil {
		t.Fatal(err)
	}
	sigs, sigInputs, ms := splitYields(t, r1.Yields)
	if len(ms) != len(p.Inputs) || len(sigs) != len(p.Inputs) {
		t.Fatalf("round 1: %d MuSig2 YIELDs and %d signatures for %d inputs", len(ms), len(sigs), len(p.Inputs))
	}
	// The device's plain key @0/** signs the sortedmulti_a leaf as usual.
	for j, sg := range sigs {
		augm := sg[1]
		if len(augm) != 64 {
			t.Fatalf("script-path pubkey_augm of %d bytes", len(augm))
		}
		if err := verifyYield(p, sigInputs[j], hex.EncodeToString(augm[:32]), hex.EncodeToString(sg[2]), hex.EncodeToString(augm[32:]), h.e.Fingerprint()); err != nil {
			t.Errorf("round 1 script-path signature, input %d: %v", sigInputs[j], err)
		}
	}
	nonces := make([]map[int][66]byte, len(p.Inputs))
	secs := make([]map[int]*musig2.Nonces, len(p.Inputs))
	for _, y := range ms {
		i := y.input
		if y.tag != 0xFFFFFFFF || i < 0 || i >= len(p.Inputs) || !bytes.Equal(y.participant, device.SerializeCompressed()) || !bytes.Equal(y.aggregate, sessions[i].output) || y.leaf != nil {
			t.Fatalf("round 1 YIELD %+v", y)
		}
		nonces[i] = map[int][66]byte{0: [66]byte(y.data)}
		secs[i] = map[int]*musig2.Nonces{}
		for k, priv := range privs {
			n, err := musig2.GenNonces(musig2.WithPublicKey(priv.PubKey()))
			if err != nil {
				t.Fatal(err)
			}
			secs[i][k], nonces[i][k] = n, n.PubNonce
		}
		for k := 0; k < 3; k++ {
			nk := nonces[i][k]
			key := append(append([]byte{0x1b}, pubs[k].SerializeCompressed()...), sessions[i].output...)
			p.Inputs[i].Unknowns = append(p.Inputs[i].Unknowns, &bpsbt.Unknown{Key: key, Value: nk[:]})
		}
	}

	// Round 2: every pubnonce in the PSBT.
	b64, err = psbt.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := run(b64)
	if err != nil {
		t.Fatal(err)
	}
	_, _, ms = splitYields(t, r2.Yields)
	if len(ms) != len(p.Inputs) {
		t.Fatalf("round 2: %d MuSig2 YIELDs for %d inputs", len(ms), len(p.Inputs))
	}
	for _, y := range ms {
		i, s := y.input, sessions[y.input]
		if y.tag != 0xFFFFFFFE || !bytes.Equal(y.aggregate, s.output) {
			t.Fatalf("round 2 YIELD %+v", y)
		}
		var all [][66]byte
		for k := 0; k < 3; k++ {
			all = append(all, nonces[i][k])
		}
		aggNonce, err := musig2.AggregateNonces(all)
		if err != nil {
			t.Fatal(err)
		}
		var sc btcec.ModNScalar
		if sc.SetByteSlice(y.data) {
			t.Fatal("partial signature overflows")
		}
		mine := &musig2.PartialSignature{S: &sc}
		if !mine.Verify(nonces[i][0], aggNonce, slices.Clone(pubs), device, s.msg, musig2.WithSortedKeys(), musig2.WithTweaks(s.tweaks...)) {
			t.Errorf("input %d: the device's partial signature fails PartialSigVerify", i)
			continue
		}
		parts := []*musig2.PartialSignature{mine}
		var r *btcec.PublicKey
		for k, priv := range privs {
			ps, err := musig2.Sign(secs[i][k].SecNonce, priv, aggNonce, slices.Clone(pubs), s.msg, musig2.WithSortedKeys(), musig2.WithTweaks(s.tweaks...))
			if err != nil {
				t.Fatal(err)
			}
			parts, r = append(parts, ps), ps.R
		}
		final := musig2.CombineSigs(r, parts, musig2.WithTweakedCombine(s.msg, slices.Clone(pubs), s.tweaks, true))
		outKey, _ := schnorr.ParsePubKey(s.output[1:])
		if !final.Verify(s.msg[:], outKey) {
			t.Errorf("input %d: the aggregate signature does not verify for the output key", i)
		}
		// The whole spend, through btcd's script engine.
		tx := p.UnsignedTx.Copy()
		tx.TxIn[i].Witness = wire.TxWitness{final.Serialize()}
		vm, err := txscript.NewEngine(p.Inputs[i].WitnessUtxo.PkScript, tx, i, txscript.StandardVerifyFlags, nil, txscript.NewTxSigHashes(tx, fetcher), p.Inputs[i].WitnessUtxo.Value, fetcher)
		if err != nil {
			t.Fatal(err)
		}
		if err := vm.Execute(); err != nil {
			t.Errorf("input %d: key-path spend: %v", i, err)
		}
	}
	// The session is spent: a second round 2 is refused.
	if _, err := run(b64); err == nil || !strings.Contains(err.Error(), "b007") && !strings.Contains(strings.ToLower(err.Error()), "0xb007") {
		t.Errorf("second round 2: %v, want status 0xb007", err)
	}
}

// jsHarness is an emulator served over TCP and the way to run policies.js
// against it.
type jsHarness struct {
	t         *testing.T
	node, dir string
	port      int
	tcp       *net.TCPAddr
	ctx       context.Context
	e         *emu.Emulator
}

// newJSHarness starts an emulator with cfg, or skips (fails under
// COUNTERSIGN_REQUIRE_INTEROP=1) without node or the npm packages.
func newJSHarness(t *testing.T, cfg emu.Config) *jsHarness {
	t.Helper()
	skip := func(why string) {
		if os.Getenv(EnvRequireInterop) == "1" {
			t.Fatalf("%s (%s=1 requires this test)", why, EnvRequireInterop)
		}
		t.Skip(why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skip("node is not installed: install Node.js 18 or later to run the Ledger JS client cross-check")
	}
	dir, _ := filepath.Abs(filepath.Join("testdata", "js"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ledger-bitcoin", "package.json")); err != nil {
		skip("the Ledger JS client is not installed: run (cd hw/emulator/ledger/testdata/js && npm ci)")
	}
	e, err := emu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	served := make(chan error, 1)
	go func() { served <- e.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("emulator: %v", err)
		}
	})
	tcp := ln.Addr().(*net.TCPAddr)
	return &jsHarness{t: t, node: node, dir: dir, port: tcp.Port, tcp: tcp, ctx: ctx, e: e}
}

// addr is the emulator's address.
func (h *jsHarness) addr() *net.TCPAddr { return h.tcp }

// run has policies.js register, derive and sign each case.
func (h *jsHarness) run(cases ...map[string]any) ([]jsPolicyResult, error) {
	raw, _ := json.Marshal(map[string]any{"port": h.port, "cases": cases})
	cmd := exec.CommandContext(h.ctx, h.node, filepath.Join(h.dir, "policies.js"))
	cmd.Dir = h.dir
	cmd.Stdin = bytes.NewReader(raw)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("node policies.js: %v: %s", err, stderr.String())
	}
	var res []jsPolicyResult
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(cases) {
		h.t.Fatalf("node output %q: %v", out, err)
	}
	return res, nil
}

// TestLedgerJSClientMuSig2ScriptPath runs both MuSig2 rounds for a
// musig() key inside a tapleaf, tr(NUMS,pk(musig(@1,@2,@3)/**)) (app 2.4
// takes musig() in any taproot key position), with the emulator as @1
// and two cosigners in btcd's musig2. The wallet and PSBT are built here
// with btcd (countersign's builder has no pk(musig()) leaves): the leaf
// key is the BIP-328 aggregate derived /0/index, the PSBT derivation of it
// names the aggregate xpub's fingerprint, and the YIELDs and PSBT records
// carry the leaf hash. The aggregate signature must verify for the leaf
// key over txscript's tapscript digest, and spend in btcd's engine.
func TestLedgerJSClientMuSig2ScriptPath(t *testing.T) {
	h := newJSHarness(t, emu.Config{Mnemonic: interopMnemonic, AppVersion: emu.LatestAppVersion})
	k := interopKeys(t)
	keys := []string{numsXpub(t), k[0], k[1], k[2]}
	const tmpl = "tr(@0/**,pk(musig(@1,@2,@3)/**))"
	var pubs []*btcec.PublicKey
	for _, s := range keys[1:] {
		x, err := hdkeychain.NewKeyFromString(s[strings.IndexByte(s, ']')+1:])
		if err != nil {
			t.Fatal(err)
		}
		pk, _ := x.ECPubKey()
		pubs = append(pubs, pk)
	}
	device := pubs[0]
	privs := map[int]*btcec.PrivateKey{1: cosignerPriv(t, 1), 2: cosignerPriv(t, 2)}
	agg, _, _, err := musig2.AggregateKeys(slices.Clone(pubs), true)
	if err != nil {
		t.Fatal(err)
	}
	cc := sha256.Sum256([]byte("MuSig2MuSig2MuSig2"))
	nums, _ := hdkeychain.NewKeyFromString(keys[0])

	type position struct {
		leaf     []byte
		leafHash [32]byte
		tweaks   []musig2.KeyTweakDesc
		leafKey  *btcec.PublicKey // 33-byte form after the two tweaks
		tree     *txscript.IndexedTapScriptTree
		internal *btcec.PublicKey
		pkScript []byte
	}
	derive := func(index uint32) position {
		var p position
		t1, k1, c1 := bip32Tweak(t, agg.PreTweakedKey, cc[:], 0)
		t2, k2, _ := bip32Tweak(t, k1, c1, index)
		p.tweaks, p.leafKey = []musig2.KeyTweakDesc{{Tweak: t1}, {Tweak: t2}}, k2
		var err error
		if p.leaf, err = txscript.NewScriptBuilder().AddData(schnorr.SerializePubKey(k2)).AddOp(txscript.OP_CHECKSIG).Script(); err != nil {
			t.Fatal(err)
		}
		p.leafHash = txscript.NewBaseTapLeaf(p.leaf).TapHash()
		p.tree = txscript.AssembleTaprootScriptTree(txscript.NewBaseTapLeaf(p.leaf))
		x, _ := nums.Derive(0)
		x, _ = x.Derive(index)
		p.internal, _ = x.ECPubKey()
		root := p.tree.RootNode.TapHash()
		if p.pkScript, err = txscript.PayToTaprootScript(txscript.ComputeTaprootOutputKey(p.internal, root[:])); err != nil {
			t.Fatal(err)
		}
		return p
	}
	aggFp := btcutil.Hash160(agg.PreTweakedKey.SerializeCompressed())[:4]
	fpU := uint32(aggFp[0]) | uint32(aggFp[1])<<8 | uint32(aggFp[2])<<16 | uint32(aggFp[3])<<24

	tx := wire.NewMsgTx(2)
	var pos []position
	for i := uint32(0); i < 2; i++ {
		pos = append(pos, derive(i))
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: [32]byte{byte(i + 1), 3}, Index: i}, Sequence: wire.MaxTxInSequenceNum})
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
		in.TaprootInternalKey, in.TaprootMerkleRoot = schnorr.SerializePubKey(ps.internal), root[:]
		ctl := ps.tree.LeafMerkleProofs[0].ToControlBlock(ps.internal)
		cb, err := ctl.ToBytes()
		if err != nil {
			t.Fatal(err)
		}
		in.TaprootLeafScript = []*bpsbt.TaprootTapLeafScript{{ControlBlock: cb, Script: ps.leaf, LeafVersion: txscript.BaseLeafVersion}}
		in.TaprootBip32Derivation = []*bpsbt.TaprootBip32Derivation{{XOnlyPubKey: schnorr.SerializePubKey(ps.leafKey), LeafHashes: [][]byte{ps.leafHash[:]}, MasterKeyFingerprint: fpU, Bip32Path: []uint32{0, uint32(i)}}}
	}
	fetcher := txscript.NewMultiPrevOutFetcher(nil)
	for j, pin := range p.Inputs {
		fetcher.AddPrevOut(p.UnsignedTx.TxIn[j].PreviousOutPoint, pin.WitnessUtxo)
	}
	hashes := txscript.NewTxSigHashes(p.UnsignedTx, fetcher)
	policy := func(b64 string) map[string]any {
		return map[string]any{"name": "MuSig leaf", "template": tmpl, "keys": keys, "psbt": b64, "raw": true, "positions": [][2]uint32{{0, 0}, {0, 1}}}
	}

	b64, err := p.B64Encode()
	if err != nil {
		t.Fatal(err)
	}
	r1, err := h.run(policy(b64))
	if err != nil {
		t.Fatal(err)
	}
	for i, ps := range pos {
		a, _ := btcutilTaprootAddress(ps.pkScript[2:])
		if r1[0].Addresses[i] != a {
			t.Errorf("receive %d: emulator %s, btcd %s", i, r1[0].Addresses[i], a)
		}
	}
	sigs, _, ms := splitYields(t, r1[0].Yields)
	if len(ms) != 2 || len(sigs) != 0 {
		t.Fatalf("round 1: %d MuSig2 YIELDs, %d signatures", len(ms), len(sigs))
	}
	nonces := make([]map[int][66]byte, 2)
	secs := make([]map[int]*musig2.Nonces, 2)
	for _, y := range ms {
		i := y.input
		ps := pos[i]
		if y.tag != 0xFFFFFFFF || !bytes.Equal(y.participant, device.SerializeCompressed()) || !bytes.Equal(y.aggregate, ps.leafKey.SerializeCompressed()) || !bytes.Equal(y.leaf, ps.leafHash[:]) {
			t.Fatalf("round 1 YIELD %+v", y)
		}
		nonces[i], secs[i] = map[int][66]byte{0: [66]byte(y.data)}, map[int]*musig2.Nonces{}
		for k, priv := range privs {
			n, err := musig2.GenNonces(musig2.WithPublicKey(priv.PubKey()))
			if err != nil {
				t.Fatal(err)
			}
			secs[i][k], nonces[i][k] = n, n.PubNonce
		}
		for k := 0; k < 3; k++ {
			nk := nonces[i][k]
			key := append(append(append([]byte{0x1b}, pubs[k].SerializeCompressed()...), ps.leafKey.SerializeCompressed()...), ps.leafHash[:]...)
			p.Inputs[i].Unknowns = append(p.Inputs[i].Unknowns, &bpsbt.Unknown{Key: key, Value: nk[:]})
		}
	}
	if b64, err = p.B64Encode(); err != nil {
		t.Fatal(err)
	}
	r2, err := h.run(policy(b64))
	if err != nil {
		t.Fatal(err)
	}
	_, _, ms = splitYields(t, r2[0].Yields)
	if len(ms) != 2 {
		t.Fatalf("round 2: %d MuSig2 YIELDs", len(ms))
	}
	for _, y := range ms {
		i, ps := y.input, pos[y.input]
		m, err := txscript.CalcTapscriptSignaturehash(hashes, txscript.SigHashDefault, p.UnsignedTx, i, fetcher, txscript.NewBaseTapLeaf(ps.leaf))
		if err != nil {
			t.Fatal(err)
		}
		msg := [32]byte(m)
		all := [][66]byte{nonces[i][0], nonces[i][1], nonces[i][2]}
		aggNonce, err := musig2.AggregateNonces(all)
		if err != nil {
			t.Fatal(err)
		}
		var sc btcec.ModNScalar
		if y.tag != 0xFFFFFFFE || sc.SetByteSlice(y.data) {
			t.Fatalf("round 2 YIELD %+v", y)
		}
		mine := &musig2.PartialSignature{S: &sc}
		if !mine.Verify(nonces[i][0], aggNonce, slices.Clone(pubs), device, msg, musig2.WithSortedKeys(), musig2.WithTweaks(ps.tweaks...)) {
			t.Errorf("input %d: the device's partial signature fails PartialSigVerify", i)
			continue
		}
		parts := []*musig2.PartialSignature{mine}
		var r *btcec.PublicKey
		for k, priv := range privs {
			s, err := musig2.Sign(secs[i][k].SecNonce, priv, aggNonce, slices.Clone(pubs), msg, musig2.WithSortedKeys(), musig2.WithTweaks(ps.tweaks...))
			if err != nil {
				t.Fatal(err)
			}
			parts, r = append(parts, s), s.R
		}
		final := musig2.CombineSigs(r, parts, musig2.WithTweakedCombine(msg, slices.Clone(pubs), ps.tweaks, true))
		spend := p.UnsignedTx.Copy()
		spend.TxIn[i].Witness = wire.TxWitness{final.Serialize(), ps.leaf, p.Inputs[i].TaprootLeafScript[0].ControlBlock}
		vm, err := txscript.NewEngine(ps.pkScript, spend, i, txscript.StandardVerifyFlags, nil, txscript.NewTxSigHashes(spend, fetcher), 150000, fetcher)
		if err != nil {
			t.Fatal(err)
		}
		if err := vm.Execute(); err != nil {
			t.Errorf("input %d: script-path spend: %v", i, err)
		}
	}
}

// btcutilTaprootAddress is the testnet bech32m address of an output key.
func btcutilTaprootAddress(x []byte) (string, error) {
	a, err := btcutil.NewAddressTaproot(x, &chaincfg.TestNet3Params)
	if err != nil {
		return "", err
	}
	return a.EncodeAddress(), nil
}
