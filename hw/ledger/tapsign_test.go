package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
)

// The yields a Ledger sends for taproot and miniscript inputs, made here
// with the device's key and btcd's sighash code (not countersign's), then
// taken back by the driver: a script-path signature becomes a BIP-371
// PSBT_IN_TAP_SCRIPT_SIG, a miniscript ECDSA signature a partial
// signature, each only after the driver checked the key is the device's,
// in that leaf or script, and the signature verifies.

// yieldFor writes input | len | augm | sig as the app does.
func yieldFor(input int, augm, sig []byte) []byte {
	y := appendVarint(nil, uint64(input))
	y = append(y, byte(len(augm)))
	y = append(y, augm...)
	return append(y, sig...)
}

func prevOuts(p *bpsbt.Packet) *txscript.MultiPrevOutFetcher {
	f := txscript.NewMultiPrevOutFetcher(nil)
	for i, in := range p.UnsignedTx.TxIn {
		f.AddPrevOut(in.PreviousOutPoint, p.Inputs[i].WitnessUtxo)
	}
	return f
}

func deviceLedger(t *testing.T) *Ledger {
	return &Ledger{xfp: fingerprintOf(t, deviceMaster(t))}
}

func TestTaprootYieldsTakenBack(t *testing.T) {
	keys, _ := policyKeys(t)
	w := newTestWallet(t, descriptor.ScriptWsh, 2, true)
	w.desc = mustTaproot(t, keys, descriptor.TaprootOptions{})
	p := w.spend(t, 2)
	d := deviceLedger(t)
	xfp := binary.LittleEndian.Uint32(d.xfp[:])
	fetch := prevOuts(p)
	hashes := txscript.NewTxSigHashes(p.UnsignedTx, fetch)
	var yields [][]byte
	leafHash := make([][]byte, len(p.Inputs))
	for i := range p.Inputs {
		in := &p.Inputs[i]
		if len(in.TaprootLeafScript) != 1 {
			t.Fatalf("input %d: %d leaf scripts", i, len(in.TaprootLeafScript))
		}
		leaf := txscript.NewBaseTapLeaf(in.TaprootLeafScript[0].Script)
		h := leaf.TapHash()
		leafHash[i] = h[:]
		for _, der := range in.TaprootBip32Derivation {
			if der.MasterKeyFingerprint != xfp || len(der.LeafHashes) == 0 {
				continue
			}
			priv, err := derivePath(t, deviceMaster(t), der.Bip32Path).ECPrivKey()
			if err != nil {
				t.Fatal(err)
			}
			sh, err := txscript.CalcTapscriptSignaturehash(hashes, txscript.SigHashDefault, p.UnsignedTx, i, fetch, leaf)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := schnorr.Sign(priv, sh)
			if err != nil {
				t.Fatal(err)
			}
			yields = append(yields, yieldFor(i, append(bytes.Clone(der.XOnlyPubKey), h[:]...), sig.Serialize()))
		}
	}
	if len(yields) != 2 {
		t.Fatalf("%d yields, want one per input", len(yields))
	}

	// Refusals first: each leaves the PSBT as it was.
	bad := func(y []byte, what, want string) {
		t.Helper()
		c := clonePacket(t, p)
		if _, err := d.addSignatures(c, [][]byte{y}, &muSigPlan{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", what, err, want)
		}
	}
	y := yields[0]
	flip := bytes.Clone(y)
	flip[len(flip)-1] ^= 1
	bad(flip, "a bad signature", "refused")
	otherLeaf := bytes.Clone(y)
	otherLeaf[2+32] ^= 1
	bad(otherLeaf, "another leaf", "does not place in that leaf")
	withSighash := append(bytes.Clone(y), 0x01)
	bad(withSighash, "SIGHASH_ALL", "SIGHASH_DEFAULT only")
	foreign := bytes.Clone(y)
	copy(foreign[2:34], p.Inputs[0].TaprootInternalKey)
	bad(foreign, "a key that is not the device's", "not one of its keys")

	// A MuSig2 public nonce comes along (app 2.4). In round 1 it must be
	// for the input's output key; with no round of this Ledger in the
	// PSBT (a round 1 no one uses) it is left out.
	nonce := append([]byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0}, bytes.Repeat([]byte{2}, 66+33+33)...)
	plan, err := d.planMuSig(p)
	if err != nil || plan.Round != hw.MuSigRound1 || len(plan.Sessions) != 2 {
		t.Fatalf("plan %+v, %v; want round 1 for both inputs", plan, err)
	}
	if _, err := d.addSignatures(clonePacket(t, p), [][]byte{nonce}, plan); err == nil || !strings.Contains(err.Error(), "not the input's output key") {
		t.Errorf("a nonce for another aggregate in round 1: %v", err)
	}
	unknowns := len(p.Inputs[0].Unknowns)
	added, err := d.addSignatures(p, append(yields, nonce), &muSigPlan{})
	if err != nil || added != 2 || len(p.Inputs[0].Unknowns) != unknowns {
		t.Fatalf("added %d: %v", added, err)
	}
	for i := range p.Inputs {
		s := p.Inputs[i].TaprootScriptSpendSig
		if len(s) != 1 || !bytes.Equal(s[0].LeafHash, leafHash[i]) || len(s[0].Signature) != 64 || s[0].SigHash != txscript.SigHashDefault {
			t.Errorf("input %d: %+v", i, s)
		}
	}
	// The same yields again add nothing.
	if added, err := d.addSignatures(p, yields, &muSigPlan{}); err != nil || added != 0 {
		t.Errorf("again: %d, %v", added, err)
	}
}

func TestMiniscriptYieldsTakenBack(t *testing.T) {
	keys, _ := policyKeys(t)
	w := newTestWallet(t, descriptor.ScriptWsh, 2, true)
	// The device's key is the recovery key, under pkh(): the script holds
	// its HASH160, not the key.
	w.desc = mustParse(t, fmt.Sprintf("wsh(or_d(multi(2,%s,%s),and_v(v:pkh(%s),older(144))))", keys[1], keys[2], keys[0]))
	p := w.spend(t, 1)
	d := deviceLedger(t)
	xfp := binary.LittleEndian.Uint32(d.xfp[:])
	in := &p.Inputs[0]
	var der *bpsbt.Bip32Derivation
	for _, x := range in.Bip32Derivation {
		if x.MasterKeyFingerprint == xfp {
			der = x
		}
	}
	if der == nil {
		t.Fatal("no derivation of the device's key")
	}
	priv, err := derivePath(t, deviceMaster(t), der.Bip32Path).ECPrivKey()
	if err != nil {
		t.Fatal(err)
	}
	hashes := txscript.NewTxSigHashes(p.UnsignedTx, prevOuts(p))
	h, err := txscript.CalcWitnessSigHash(in.WitnessScript, hashes, txscript.SigHashAll, p.UnsignedTx, 0, in.WitnessUtxo.Value)
	if err != nil {
		t.Fatal(err)
	}
	sig := append(ecdsa.Sign(priv, h).Serialize(), byte(txscript.SigHashAll))
	added, err := d.addSignatures(p, [][]byte{yieldFor(0, der.PubKey, sig)}, &muSigPlan{})
	if err != nil || added != 1 || len(in.PartialSigs) != 1 || !bytes.Equal(in.PartialSigs[0].PubKey, der.PubKey) {
		t.Fatalf("added %d: %v", added, err)
	}
}

func clonePacket(t *testing.T, p *bpsbt.Packet) *bpsbt.Packet {
	t.Helper()
	var buf bytes.Buffer
	if err := p.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	c, err := bpsbt.NewFromRawBytes(&buf, false)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// keyPathDevice holds the device's master key and signs the key path of
// every input whose internal key is its own, as a Ledger does for
// tr(@0/**,...) when @0 is its key; flip corrupts the signature.
type keyPathDevice struct {
	master *hdkeychain.ExtendedKey
	fp     [4]byte
	flip   bool
}

func (k *keyPathDevice) Info() hw.DeviceInfo {
	return hw.DeviceInfo{Type: "ledger", Fingerprint: hex.EncodeToString(k.fp[:])}
}
func (k *keyPathDevice) Fingerprint(context.Context) ([4]byte, error) { return k.fp, nil }
func (k *keyPathDevice) Xpub(context.Context, descriptor.Path) (*hdkeychain.ExtendedKey, error) {
	return nil, errors.New("not used")
}
func (k *keyPathDevice) Register(context.Context, *hw.Wallet) ([]byte, error) { return nil, nil }
func (k *keyPathDevice) DisplayAddress(context.Context, *hw.Wallet, uint32, uint32) (string, error) {
	return "", errors.New("not used")
}
func (k *keyPathDevice) Close() error { return nil }
func (k *keyPathDevice) SignPSBT(_ context.Context, p *bpsbt.Packet, _ *hw.Wallet) (*bpsbt.Packet, error) {
	fetch := prevOuts(p)
	hashes := txscript.NewTxSigHashes(p.UnsignedTx, fetch)
	xfp := binary.LittleEndian.Uint32(k.fp[:])
	for i := range p.Inputs {
		in := &p.Inputs[i]
		for _, der := range in.TaprootBip32Derivation {
			if der.MasterKeyFingerprint != xfp || !bytes.Equal(der.XOnlyPubKey, in.TaprootInternalKey) {
				continue
			}
			key := k.master
			for _, s := range der.Bip32Path {
				var err error
				if key, err = key.Derive(s); err != nil {
					return nil, err
				}
			}
			priv, err := key.ECPrivKey()
			if err != nil {
				return nil, err
			}
			h, err := txscript.CalcTaprootSignatureHash(hashes, txscript.SigHashDefault, p.UnsignedTx, i, fetch)
			if err != nil {
				return nil, err
			}
			sig, err := schnorr.Sign(txscript.TweakTaprootPrivKey(*priv, in.TaprootMerkleRoot), h)
			if err != nil {
				return nil, err
			}
			in.TaprootKeySpendSig = sig.Serialize()
			if k.flip {
				in.TaprootKeySpendSig[5] ^= 1
			}
		}
	}
	return p, nil
}

// TestAdapterTakesKeyPathSignature: the hw.Signer adapter takes back a
// taproot key-path signature from the holder of the input's internal key
// only after it verifies against the output key.
func TestAdapterTakesKeyPathSignature(t *testing.T) {
	keys, _ := policyKeys(t)
	w := newTestWallet(t, descriptor.ScriptWsh, 2, true)
	w.desc = mustParse(t, fmt.Sprintf("tr(%s,sortedmulti_a(2,%s,%s))", keys[0], keys[1], keys[2]))
	p := w.spend(t, 2)
	dev := &keyPathDevice{master: deviceMaster(t), fp: fingerprintOf(t, deviceMaster(t)), flip: true}
	wallet := &hw.Wallet{Name: "tap", Descriptor: w.desc, Network: testNet}
	if _, err := hw.NewSigner(dev).Sign(context.Background(), p, wallet); err == nil || !strings.Contains(err.Error(), "key-path signature does not verify") {
		t.Fatalf("corrupted key-path signature: %v", err)
	}
	dev.flip = false
	res, err := hw.NewSigner(dev).Sign(context.Background(), p, wallet)
	if err != nil || res.Added != 2 {
		t.Fatalf("%+v, %v", res, err)
	}
	for i := range res.PSBT.Inputs {
		if len(res.PSBT.Inputs[i].TaprootKeySpendSig) != 64 {
			t.Errorf("input %d: no key-path signature", i)
		}
	}
	again, err := hw.NewSigner(dev).Sign(context.Background(), res.PSBT, wallet)
	if err != nil || !again.AlreadySigned {
		t.Errorf("signed again: %+v, %v", again, err)
	}
}
