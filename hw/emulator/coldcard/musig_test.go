package coldcard

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcec/v2/schnorr/musig2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/tyler-smith/go-bip39"
)

type bip390Vectors struct {
	Valid []struct {
		Descriptor string   `json:"descriptor"`
		Scripts    []string `json:"scripts"`
	} `json:"valid"`
}

// BIP-390's valid vectors: the plain-key one through the emulator's
// aggregation, the ranged xpub ones (rawtr: the derived aggregate is the
// output key; tr with a pk() leaf is checked by its internal key's
// derivation) through the descriptor parser at 6.5.0X, as
// tr(musig(...)/<0;1>/*) on a mainnet device.
func TestMusigVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/bip390_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v bip390Vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Mnemonic: abandonWords, Firmware: "6.5.0X", Network: &chaincfg.MainNetParams})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, c := range v.Valid {
		switch {
		case strings.HasPrefix(c.Descriptor, "tr(musig(02"):
			inner := strings.TrimSuffix(strings.TrimPrefix(c.Descriptor, "tr(musig("), "))")
			var parts []*btcec.PublicKey
			for _, h := range strings.Split(inner, ",") {
				b, _ := hex.DecodeString(h)
				k, err := btcec.ParsePubKey(b)
				if err != nil {
					t.Fatal(err)
				}
				parts = append(parts, k)
			}
			_, agg, _, err := musigDerive(parts, nil)
			if err != nil {
				t.Fatal(err)
			}
			internal, _ := schnorr.ParsePubKey(agg.SerializeCompressed()[1:])
			got := schnorr.SerializePubKey(txscript.ComputeTaprootOutputKey(internal, nil))
			if want := c.Scripts[0][4:]; hex.EncodeToString(got) != want {
				t.Errorf("%s: %x, want %s", c.Descriptor, got, want)
			}
			checked++
		case strings.HasPrefix(c.Descriptor, "rawtr(musig(xpub"):
			body := strings.TrimSuffix(strings.TrimPrefix(c.Descriptor, "rawtr("), "/0/*)")
			w, err := e.parseDescriptorText("tr(" + body + "/<0;1>/*)")
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range c.Scripts {
				d, err := w.derive(e, 0, uint32(i))
				if err != nil {
					t.Fatal(err)
				}
				if hex.EncodeToString(d.internal) != s[4:] {
					t.Errorf("%s #%d: internal key %x, want %s", c.Descriptor, i, d.internal, s[4:])
				}
				checked++
			}
		}
	}
	if checked != 4 {
		t.Fatalf("checked %d vector scripts, want 4", checked)
	}
}

// The firmware's musig() limits (docs/musig.md) and the 6.5.0X line.
func TestMusigEnrolment(t *testing.T) {
	const x1 = "xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL"
	const x2 = "xpub68NZiKmJWnxxS6aaHmn81bvJeTESw724CRDs6HbuccFQN9Ku14VQrADWgqbhhTHBaohPX4CjNLf9fq9MYo6oDaPPLPxSb7gwQN3ih19Zm4Y"
	e, err := New(Config{Mnemonic: abandonWords, Firmware: "6.5.0X", Network: &chaincfg.MainNetParams})
	if err != nil {
		t.Fatal(err)
	}
	for desc, want := range map[string]string{
		"tr(musig(" + x1 + "," + x2 + "))":                                                         "",
		"tr(musig(" + x1 + "," + x2 + ")/<2;3>/*)":                                                 "",
		"tr(musig(" + x1 + "," + x1 + "))":                                                         "musig keys not unique",
		"tr(musig(" + x1 + "/0," + x2 + "))":                                                       "key derivation not allowed inside musig",
		"tr(musig(" + x1 + "," + x2 + ")/0/*)":                                                     "only unhardened",
		"tr(musig(" + x1 + "," + x2 + ")/<0h;1h>/*)":                                               "only unhardened",
		"tr(musig(musig(" + x1 + "," + x2 + ")," + x2 + "))":                                       "nested musig",
		"tr(" + x1 + ",pk(musig(" + x1 + "," + x2 + ")))":                                          "not modelled",
		"wsh(pk(musig(" + x1 + "," + x2 + ")))":                                                    "",
		"tr(musig(02f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9," + x2 + "))": "only extended pubkeys",
	} {
		_, err := e.parseDescriptorText(desc)
		switch {
		case want == "" && strings.HasPrefix(desc, "wsh(") && err == nil:
			t.Errorf("%s accepted", desc)
		case want == "" && !strings.HasPrefix(desc, "wsh(") && err != nil:
			t.Errorf("%s: %v", desc, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want %q", desc, err, want)
		}
	}
	old, err := New(Config{Mnemonic: abandonWords, Firmware: "6.4.1X", Network: &chaincfg.MainNetParams})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.parseDescriptorText("tr(musig(" + x1 + "," + x2 + "))"); err == nil || !strings.Contains(err.Error(), "6.5.0X") {
		t.Errorf("6.4.1X: %v", err)
	}
}

// musigFixture is a 6.5.0X emulator and two software cosigners in
// tr(musig(cc,A,B)/<0;1>/*,sortedmulti_a(2,cc,A,B)), with a PSBT spending
// its first receive address as BIP-373 and BIP-371 ask.
type musigFixture struct {
	e       *Emulator
	soft    []*hdkeychain.ExtendedKey // account keys of A and B
	parts   []*btcec.PublicKey        // cc, A, B account keys
	tweaks  []musig2.KeyTweakDesc
	outKey  *btcec.PublicKey
	psbt    *bpsbt.Packet
	msg     [32]byte
	aggRec  []byte // Q with parity: the firmware's record aggregate
	prevOut *wire.TxOut
}

func newMusigFixture(t testing.TB) *musigFixture {
	t.Helper()
	net := &chaincfg.RegressionNetParams
	e, err := New(Config{Mnemonic: abandonWords, Firmware: "6.5.0X", Network: net})
	if err != nil {
		t.Fatal(err)
	}
	path := []uint32{86 + hdkeychain.HardenedKeyStart, 1 + hdkeychain.HardenedKeyStart, hdkeychain.HardenedKeyStart}
	f := &musigFixture{e: e}
	var texts []string
	var fps []uint32
	accounts := []*hdkeychain.ExtendedKey{}
	for i, words := range []string{abandonWords, "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong", "legal winner thank year wave sausage worth useful legal winner thank yellow"} {
		m, err := hdkeychain.NewMaster(bip39.NewSeed(words, ""), net)
		if err != nil {
			t.Fatal(err)
		}
		mp, _ := m.ECPubKey()
		fp := binary.LittleEndian.Uint32(hash160(mp.SerializeCompressed())[:4])
		k := m
		for _, s := range path {
			if k, err = k.Derive(s); err != nil {
				t.Fatal(err)
			}
		}
		if i > 0 {
			f.soft = append(f.soft, k)
		}
		accounts = append(accounts, k)
		pub, _ := k.Neuter()
		pk, _ := pub.ECPubKey()
		f.parts = append(f.parts, pk)
		fps = append(fps, fp)
		var fpb [4]byte
		binary.LittleEndian.PutUint32(fpb[:], fp)
		texts = append(texts, fmt.Sprintf("[%x/86h/1h/0h]%s", fpb, pub.String()))
	}
	desc := fmt.Sprintf("tr(musig(%s,%s,%s)/<0;1>/*,sortedmulti_a(2,%s/<0;1>/*,%s/<0;1>/*,%s/<0;1>/*))", texts[0], texts[1], texts[2], texts[0], texts[1], texts[2])
	w, err := e.parseMiniscriptDescriptor(desc)
	if err != nil {
		t.Fatal(err)
	}
	w.name = "vault"
	e.msWallets = append(e.msWallets, w)
	d, err := w.derive(e, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.prevOut = wire.NewTxOut(100000, d.spk)
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{1}, Index: 0}, nil, nil))
	tx.AddTxOut(wire.NewTxOut(90000, []byte{txscript.OP_0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}))
	p, err := bpsbt.NewFromUnsignedTx(tx)
	if err != nil {
		t.Fatal(err)
	}
	in := &p.Inputs[0]
	in.WitnessUtxo = f.prevOut
	in.TaprootInternalKey = d.internal
	in.TaprootMerkleRoot = d.root
	for j, acc := range accounts {
		pk, _ := acc.ECPubKey()
		full := append([]uint32{}, path...)
		in.TaprootBip32Derivation = append(in.TaprootBip32Derivation, &bpsbt.TaprootBip32Derivation{
			XOnlyPubKey: pk.SerializeCompressed()[1:], MasterKeyFingerprint: fps[j], Bip32Path: full})
		c0, _ := acc.Derive(0)
		c, _ := c0.Derive(0)
		cp, _ := c.ECPubKey()
		in.TaprootBip32Derivation = append(in.TaprootBip32Derivation, &bpsbt.TaprootBip32Derivation{
			XOnlyPubKey: cp.SerializeCompressed()[1:], MasterKeyFingerprint: fps[j], Bip32Path: append(full, 0, 0),
			LeafHashes: [][]byte{d.leaves[0].hash[:]}})
	}
	plain, derived, tweaks, err := musigDerive(f.parts, []uint32{0, 0})
	if err != nil {
		t.Fatal(err)
	}
	aggFP := binary.LittleEndian.Uint32(hash160(plain.SerializeCompressed())[:4])
	in.TaprootBip32Derivation = append(in.TaprootBip32Derivation, &bpsbt.TaprootBip32Derivation{
		XOnlyPubKey: derived.SerializeCompressed()[1:], MasterKeyFingerprint: aggFP, Bip32Path: []uint32{0, 0}})
	var rec []byte
	sorted := append([]*btcec.PublicKey{}, f.parts...)
	for a := range sorted {
		for b := a + 1; b < len(sorted); b++ {
			if bytes.Compare(sorted[b].SerializeCompressed(), sorted[a].SerializeCompressed()) < 0 {
				sorted[a], sorted[b] = sorted[b], sorted[a]
			}
		}
	}
	for _, k := range sorted {
		rec = append(rec, k.SerializeCompressed()...)
	}
	in.Unknowns = append(in.Unknowns, &bpsbt.Unknown{Key: append([]byte{inMuSigParticipants}, plain.SerializeCompressed()...), Value: rec})
	t1 := chainhash.TaggedHash(chainhash.TagTapTweak, d.internal, d.root)
	f.tweaks = append(tweaks, musig2.KeyTweakDesc{Tweak: *t1, IsXOnly: true})
	internal, _ := schnorr.ParsePubKey(d.internal)
	f.outKey = txscript.ComputeTaprootOutputKey(internal, d.root)
	f.aggRec = f.outKey.SerializeCompressed()
	hashes := txscript.NewTxSigHashes(tx, txscript.NewCannedPrevOutputFetcher(f.prevOut.PkScript, f.prevOut.Value))
	h, err := txscript.CalcTaprootSignatureHash(hashes, txscript.SigHashDefault, tx, 0, txscript.NewCannedPrevOutputFetcher(f.prevOut.PkScript, f.prevOut.Value))
	if err != nil {
		t.Fatal(err)
	}
	copy(f.msg[:], h)
	f.psbt = p
	return f
}

// pass runs one review-and-sign pass of the emulator on p.
func (f *musigFixture) pass(t testing.TB, p *bpsbt.Packet) (*bpsbt.Packet, error) {
	t.Helper()
	var b bytes.Buffer
	if err := p.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	pl, err := f.e.reviewPSBT(b.Bytes(), nil)
	if err != nil {
		return nil, err
	}
	out, err := f.e.signPSBT(pl)
	if err != nil {
		return nil, err
	}
	return bpsbt.NewFromRawBytes(bytes.NewReader(out), false)
}

func recordKey(t byte, pub, agg []byte) []byte {
	return append(append([]byte{t}, pub...), agg...)
}

// The two rounds as the firmware runs them: the nonce (under the tweaked
// output key), then the partial signature, which BIP-327's
// PartialSigVerify accepts and which, with the software cosigners', makes
// a BIP-340 signature for the output key. A repeated round fails the way
// the firmware's does.
func TestMusigRounds(t *testing.T) {
	f := newMusigFixture(t)
	cc := f.parts[0].SerializeCompressed()
	r1, err := f.pass(t, f.psbt)
	if err != nil {
		t.Fatal(err)
	}
	ccNonce := unknownValue(&r1.Inputs[0], recordKey(inMuSigPubNonce, cc, f.aggRec))
	if len(ccNonce) != 66 {
		t.Fatalf("round 1 gave no nonce under the output key: %v", r1.Inputs[0].Unknowns)
	}
	if len(r1.Inputs[0].TaprootScriptSpendSig) != 1 {
		t.Fatalf("leaf signatures: %d, want 1", len(r1.Inputs[0].TaprootScriptSpendSig))
	}
	// The software cosigners' nonces.
	var secs []*musig2.Nonces
	for j, k := range f.soft {
		priv, _ := k.ECPrivKey()
		n, err := musig2.GenNonces(musig2.WithPublicKey(priv.PubKey()))
		if err != nil {
			t.Fatal(err)
		}
		secs = append(secs, n)
		r1.Inputs[0].Unknowns = append(r1.Inputs[0].Unknowns, &bpsbt.Unknown{Key: recordKey(inMuSigPubNonce, f.parts[j+1].SerializeCompressed(), f.aggRec), Value: n.PubNonce[:]})
	}
	// A second round 1 would need the session it has: the firmware's
	// "musig needs restart" comes only when the session is gone, so run
	// round 2 first.
	r2, err := f.pass(t, r1)
	if err != nil {
		t.Fatal(err)
	}
	psig := unknownValue(&r2.Inputs[0], recordKey(inMuSigPartialSig, cc, f.aggRec))
	if len(psig) != 32 {
		t.Fatal("round 2 gave no partial signature")
	}
	all := [][66]byte{[66]byte(ccNonce), secs[0].PubNonce, secs[1].PubNonce}
	agg, err := musig2.AggregateNonces(all)
	if err != nil {
		t.Fatal(err)
	}
	var ps musig2.PartialSignature
	if err := ps.Decode(bytes.NewReader(psig)); err != nil {
		t.Fatal(err)
	}
	if !ps.Verify(all[0], agg, f.parts, f.parts[0], f.msg, musig2.WithSortedKeys(), musig2.WithTweaks(f.tweaks...)) {
		t.Fatal("the emulator's partial signature does not verify")
	}
	sigs := []*musig2.PartialSignature{&ps}
	for j, k := range f.soft {
		priv, _ := k.ECPrivKey()
		s, err := musig2.Sign(secs[j].SecNonce, priv, agg, f.parts, f.msg, musig2.WithSortedKeys(), musig2.WithTweaks(f.tweaks...))
		if err != nil {
			t.Fatal(err)
		}
		sigs = append(sigs, s)
	}
	final := musig2.CombineSigs(sigs[1].R, sigs, musig2.WithTweakedCombine(f.msg, f.parts, f.tweaks, true))
	if !final.Verify(f.msg[:], f.outKey) {
		t.Fatal("the aggregate signature does not verify for the output key")
	}
	// The session served once: the round-2 PSBT again is a round 1 that
	// finds its nonce in the PSBT.
	if _, err := f.pass(t, r1); err == nil || !strings.Contains(err.Error(), "musig needs restart") {
		t.Fatalf("round 2 twice: %v", err)
	}
	// Its partial signature in: nothing left to sign.
	if _, err := f.pass(t, r2); err == nil {
		t.Fatal("a third pass signed")
	}
}

// Round 2 without its nonce in the PSBT ("resign"), and round 2 before
// every nonce is in: no signature, and the session is gone.
func TestMusigRoundErrors(t *testing.T) {
	f := newMusigFixture(t)
	cc := f.parts[0].SerializeCompressed()
	if _, err := f.pass(t, f.psbt); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pass(t, f.psbt); err == nil || !strings.Contains(err.Error(), "resign") {
		t.Fatalf("round 2 without its nonce: %v", err)
	}
	r1, err := f.pass(t, f.psbt) // the session was taken: a new round 1
	if err != nil {
		t.Fatal(err)
	}
	r2, err := f.pass(t, r1)
	if err != nil {
		t.Fatal(err)
	}
	if unknownValue(&r2.Inputs[0], recordKey(inMuSigPartialSig, cc, f.aggRec)) != nil {
		t.Fatal("signed without the cosigners' nonces")
	}
	if _, err := f.pass(t, r1); err == nil || !strings.Contains(err.Error(), "musig needs restart") {
		t.Fatalf("after the session was spent: %v", err)
	}
}

// The Coldcard's partial signature last: like the firmware, it also
// writes the aggregate key-path signature, valid for the output key.
func TestMusigLastSigner(t *testing.T) {
	f := newMusigFixture(t)
	cc := f.parts[0].SerializeCompressed()
	r1, err := f.pass(t, f.psbt)
	if err != nil {
		t.Fatal(err)
	}
	all := [][66]byte{[66]byte(unknownValue(&r1.Inputs[0], recordKey(inMuSigPubNonce, cc, f.aggRec)))}
	var secs []*musig2.Nonces
	for j, k := range f.soft {
		priv, _ := k.ECPrivKey()
		n, err := musig2.GenNonces(musig2.WithPublicKey(priv.PubKey()))
		if err != nil {
			t.Fatal(err)
		}
		secs = append(secs, n)
		all = append(all, n.PubNonce)
		r1.Inputs[0].Unknowns = append(r1.Inputs[0].Unknowns, &bpsbt.Unknown{Key: recordKey(inMuSigPubNonce, f.parts[j+1].SerializeCompressed(), f.aggRec), Value: n.PubNonce[:]})
	}
	agg, err := musig2.AggregateNonces(all)
	if err != nil {
		t.Fatal(err)
	}
	for j, k := range f.soft {
		priv, _ := k.ECPrivKey()
		s, err := musig2.Sign(secs[j].SecNonce, priv, agg, f.parts, f.msg, musig2.WithSortedKeys(), musig2.WithTweaks(f.tweaks...))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		s.Encode(&b)
		r1.Inputs[0].Unknowns = append(r1.Inputs[0].Unknowns, &bpsbt.Unknown{Key: recordKey(inMuSigPartialSig, f.parts[j+1].SerializeCompressed(), f.aggRec), Value: b.Bytes()})
	}
	r2, err := f.pass(t, r1)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := schnorr.ParseSignature(r2.Inputs[0].TaprootKeySpendSig)
	if err != nil {
		t.Fatalf("no key-path signature: %v", err)
	}
	if !sig.Verify(f.msg[:], f.outKey) {
		t.Fatal("the key-path signature does not verify for the output key")
	}
}

// FuzzMusigSign: any PSBT given to a 6.5.0X device holding a musig()
// wallet gets an answer (signed, failed or refused), never a panic. The
// seeds (testdata/fuzz/FuzzMusigSign) are the fixture's unsigned PSBT and
// its round-1 result with the cosigners' nonces.
func FuzzMusigSign(f *testing.F) {
	fx := newMusigFixture(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		a := &approval{kind: "sign"}
		fx.e.runSign(&session{e: fx.e, ctx: context.Background()}, a, raw, nil)
		if !a.done && a.failed == "" && !a.refused {
			t.Fatal("review neither failed nor finished")
		}
	})
}

// BIP-328's vectors: the aggregate of the keys, the synthetic xpub of the
// emulator's chain code, and its unhardened steps against btcd's BIP-32
// derivation of the published xpub.
func TestBIP328Vectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/bip328_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Vectors []struct {
			Keys      []string `json:"keys"`
			Aggregate string   `json:"aggregate"`
			XPub      string   `json:"synthetic_xpub"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Vectors) != 3 {
		t.Fatalf("%d vectors, want 3", len(v.Vectors))
	}
	for _, c := range v.Vectors {
		var parts []*btcec.PublicKey
		for _, h := range c.Keys {
			b, _ := hex.DecodeString(h)
			k, err := btcec.ParsePubKey(b)
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, k)
		}
		// BIP-328's vectors aggregate the keys in the order given (the
		// firmware and BIP-390 sort them first: musigDerive).
		agg, _, _, err := musig2.AggregateKeys(parts, false)
		if err != nil {
			t.Fatal(err)
		}
		plain := agg.FinalKey
		derived, tweaks, err := bip328Derive(plain, []uint32{1, 7})
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(plain.SerializeCompressed()); got != c.Aggregate {
			t.Errorf("aggregate %s, want %s", got, c.Aggregate)
		}
		x := hdkeychain.NewExtendedKey(chaincfg.MainNetParams.HDPublicKeyID[:], plain.SerializeCompressed(), musigChainCode(), []byte{0, 0, 0, 0}, 0, 0, false)
		if x.String() != c.XPub {
			t.Errorf("synthetic xpub %s, want %s", x, c.XPub)
		}
		pub, err := hdkeychain.NewKeyFromString(c.XPub)
		if err != nil {
			t.Fatal(err)
		}
		k1, _ := pub.Derive(1)
		k2, _ := k1.Derive(7)
		want, _ := k2.ECPubKey()
		if !want.IsEqual(derived) || len(tweaks) != 2 {
			t.Errorf("%s/1/7: %x, want %x", c.XPub, derived.SerializeCompressed(), want.SerializeCompressed())
		}
	}
}
