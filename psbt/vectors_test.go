package psbt

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/internal/vectors"
)

// bip174 is psbt_bip174.json: BIP-174's test vectors, copied verbatim.
type bip174 struct {
	Invalid             []vectorCase `json:"invalid"`
	Valid               []vectorCase `json:"valid"`
	SignerCheckFailures []vectorCase `json:"signer_check_failures"`
	WorkedExample       struct {
		MasterTprv string `json:"master_private_key_tprv"`
		Creator    struct {
			Outputs []struct {
				ScriptPubKey string `json:"scriptPubKey"`
				AmountBTC    string `json:"amount_btc"`
			} `json:"outputs"`
			Inputs []struct {
				Txid  string `json:"txid"`
				Index uint32 `json:"index"`
			} `json:"inputs"`
			Expected encoded `json:"expected_psbt"`
		} `json:"creator"`
		Updater struct {
			RedeemScripts  []string `json:"redeem_scripts"`
			WitnessScripts []string `json:"witness_scripts"`
			PrevTxs        []string `json:"previous_transactions"`
			PublicKeys     []struct {
				PubKey string `json:"pubkey"`
				Path   string `json:"path"`
			} `json:"public_keys"`
			Expected encoded `json:"expected_psbt"`
		} `json:"updater"`
		UpdaterSighashAll struct {
			Expected encoded `json:"expected_psbt"`
		} `json:"updater_sighash_all"`
		Signer1        signerStep `json:"signer_1"`
		Signer2        signerStep `json:"signer_2"`
		CombinerResult struct {
			Expected encoded `json:"expected_psbt"`
		} `json:"combiner"`
		Finalizer struct {
			Expected encoded `json:"expected_psbt"`
		} `json:"input_finalizer"`
		Extractor struct {
			ExpectedTx string `json:"expected_tx_hex"`
		} `json:"transaction_extractor"`
	} `json:"worked_example"`
	CombinerOrdering struct {
		Inputs   []encoded `json:"input_psbts"`
		Expected encoded   `json:"expected_psbt"`
	} `json:"combiner_unknown_key_ordering"`
}

type vectorCase struct {
	Description string `json:"description"`
	Hex         string `json:"hex"`
	Base64      string `json:"base64"`
}

type encoded struct {
	Hex    string `json:"hex"`
	Base64 string `json:"base64"`
}

type signerStep struct {
	Keys []struct {
		WIF  string `json:"wif"`
		Path string `json:"path"`
	} `json:"keys"`
	Expected encoded `json:"expected_psbt"`
}

func loadBIP174(t *testing.T) *bip174 {
	t.Helper()
	var v bip174
	vectors.Load(t, "psbt_bip174.json", &v)
	if len(v.Invalid) == 0 || len(v.Valid) == 0 || v.WorkedExample.MasterTprv == "" {
		t.Fatal("psbt_bip174.json holds no vectors: the file layout changed")
	}
	return &v
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in vector: %v", err)
	}
	return b
}

func mustDecode(t testing.TB, e encoded) *bpsbt.Packet {
	t.Helper()
	p, err := Decode([]byte(e.Base64))
	if err != nil {
		t.Fatalf("decode vector PSBT: %v", err)
	}
	return p
}

func mustSerialize(t testing.TB, p *bpsbt.Packet) []byte {
	t.Helper()
	b, err := Serialize(p)
	if err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return b
}

// equalPSBTContent compares a packet with a vector after putting the
// vector through the same serializer: btcd writes partial signatures in
// public key order, while Bitcoin Core, which produced the BIP's combiner
// vector, orders them by the hash160 of the key. Every record must still be
// there with the same value.
func equalPSBTContent(t *testing.T, step string, got *bpsbt.Packet, want encoded) {
	t.Helper()
	norm := mustSerialize(t, mustDecode(t, want))
	if b := mustSerialize(t, got); !bytes.Equal(b, norm) {
		t.Fatalf("%s: PSBT content differs from the BIP-174 vector\n got %x\nwant %x", step, b, norm)
	}
	if !bytes.Equal(norm, mustHex(t, want.Hex)) {
		t.Logf("%s: compared after re-serializing the vector: btcd orders partial signatures by public key, the vector (Bitcoin Core) by key hash", step)
	}
}

// equalPSBT compares a packet with a vector byte for byte.
func equalPSBT(t *testing.T, step string, got *bpsbt.Packet, want encoded) {
	t.Helper()
	b := mustSerialize(t, got)
	if !bytes.Equal(b, mustHex(t, want.Hex)) {
		t.Fatalf("%s: PSBT differs from the BIP-174 vector\n got %x\nwant %s", step, b, want.Hex)
	}
	if s, _ := Encode(got); s != want.Base64 {
		t.Fatalf("%s: base64 differs from the vector", step)
	}
}

func TestInvalidVectorsRefused(t *testing.T) {
	v := loadBIP174(t)
	for _, c := range v.Invalid {
		t.Run(c.Description, func(t *testing.T) {
			for _, form := range []string{c.Hex, c.Base64} {
				_, err := Decode([]byte(form))
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Decode accepted an invalid PSBT (%.20s...): err = %v", form, err)
				}
				t.Logf("refused: %v", err)
			}
			raw := mustHex(t, c.Hex)
			if _, err := Decode(raw); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode accepted the binary form: err = %v", err)
			}
		})
	}
}

func TestValidVectorsRoundTrip(t *testing.T) {
	v := loadBIP174(t)
	for _, c := range v.Valid {
		t.Run(c.Description, func(t *testing.T) {
			raw := mustHex(t, c.Hex)
			for _, form := range [][]byte{raw, []byte(c.Hex), []byte(c.Base64), []byte("\n " + c.Base64 + "\r\n")} {
				p, err := Decode(form)
				if err != nil {
					t.Fatalf("Decode refused a valid PSBT: %v", err)
				}
				if got := mustSerialize(t, p); !bytes.Equal(got, raw) {
					t.Fatalf("re-serialization differs\n got %x\nwant %x", got, raw)
				}
				if s, _ := Encode(p); s != c.Base64 {
					t.Fatalf("base64 differs:\n got %s\nwant %s", s, c.Base64)
				}
			}
		})
	}
}

func TestDecodeRejectsNonCanonicalText(t *testing.T) {
	v := loadBIP174(t)
	b64 := v.Valid[0].Base64
	padded := ""
	for _, c := range v.Valid {
		if strings.HasSuffix(c.Base64, "=") {
			padded = c.Base64
		}
	}
	if padded == "" {
		t.Fatal("no valid vector with base64 padding")
	}
	cases := map[string]string{
		"line break inside base64": b64[:20] + "\n" + b64[20:],
		"missing padding":          strings.TrimRight(padded, "="),
		"base64url alphabet":       strings.NewReplacer("+", "-", "/", "_").Replace(b64),
		"not a PSBT":               "hello",
		"empty":                    "  \n",
		"odd hex":                  v.Valid[0].Hex + "0",
	}
	for name, in := range cases {
		if _, err := Decode([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

// workedExampleMaster returns the worked example's master key and its
// fingerprint.
func workedExampleMaster(t *testing.T, v *bip174) (*hdkeychain.ExtendedKey, [4]byte) {
	t.Helper()
	m, err := hdkeychain.NewKeyFromString(v.WorkedExample.MasterTprv)
	if err != nil {
		t.Fatalf("master key: %v", err)
	}
	pub, err := m.ECPubKey()
	if err != nil {
		t.Fatal(err)
	}
	var fp [4]byte
	copy(fp[:], btcutil.Hash160(pub.SerializeCompressed()))
	return m, fp
}

// parsePath parses the vectors' m/0'/0'/1' notation.
func parsePath(t testing.TB, s string) []uint32 {
	t.Helper()
	parts := strings.Split(s, "/")
	if parts[0] != "m" {
		t.Fatalf("path %q does not start at m", s)
	}
	var out []uint32
	for _, p := range parts[1:] {
		hard := strings.HasSuffix(p, "'") || strings.HasSuffix(p, "h")
		n, err := strconv.ParseUint(strings.TrimRight(p, "'h"), 10, 31)
		if err != nil {
			t.Fatalf("path %q: %v", s, err)
		}
		if hard {
			n += hdkeychain.HardenedKeyStart
		}
		out = append(out, uint32(n))
	}
	return out
}

// wifKeys is a signer holding only the WIF keys a signer step lists.
func wifKeys(t *testing.T, step signerStep) keySource {
	t.Helper()
	byPath := map[string]*btcec.PrivateKey{}
	for _, k := range step.Keys {
		w, err := btcutil.DecodeWIF(k.WIF)
		if err != nil {
			t.Fatalf("WIF: %v", err)
		}
		byPath[descriptor.Path(parsePath(t, k.Path)).String()] = w.PrivKey
	}
	return func(path []uint32) (*btcec.PrivateKey, error) { return byPath[descriptor.Path(path).String()], nil }
}

// TestWorkedExample follows BIP-174's worked example role by role with this
// package's creator, updater, signer, combiner, finalizer and extractor.
func TestWorkedExample(t *testing.T) {
	v := loadBIP174(t)
	we := &v.WorkedExample
	master, fp := workedExampleMaster(t, v)

	// Creator: version 2, lock time 0, final sequences (the vector's
	// choices, not Build's: Build signals RBF and sets a lock time).
	var ins []wire.OutPoint
	for _, in := range we.Creator.Inputs {
		h, err := chainhash.NewHashFromStr(in.Txid)
		if err != nil {
			t.Fatal(err)
		}
		ins = append(ins, wire.OutPoint{Hash: *h, Index: in.Index})
	}
	var outs []*wire.TxOut
	for _, o := range we.Creator.Outputs {
		amt, err := strconv.ParseFloat(o.AmountBTC, 64)
		if err != nil {
			t.Fatal(err)
		}
		sat, err := btcutil.NewAmount(amt)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, wire.NewTxOut(int64(sat), mustHex(t, o.ScriptPubKey)))
	}
	p, err := createPacket(2, 0, ins, wire.MaxTxInSequenceNum, outs)
	if err != nil {
		t.Fatal(err)
	}
	equalPSBT(t, "creator", p, we.Creator.Expected)

	// Updater: previous transactions, scripts and derivations, through the
	// same functions Build uses.
	keys := map[string]descriptor.DerivedKey{}
	for _, k := range we.Updater.PublicKeys {
		keys[k.PubKey] = descriptor.DerivedKey{PubKey: mustHex(t, k.PubKey), Fingerprint: fp, Path: parsePath(t, k.Path)}
	}
	pub := func(i int) descriptor.DerivedKey { return keys[we.Updater.PublicKeys[i].PubKey] }
	prevTxs := make(map[chainhash.Hash]*wire.MsgTx)
	for _, s := range we.Updater.PrevTxs {
		tx := &wire.MsgTx{}
		if err := tx.Deserialize(bytes.NewReader(mustHex(t, s))); err != nil {
			t.Fatal(err)
		}
		prevTxs[tx.TxHash()] = tx
	}
	in0 := &descriptor.Derived{RedeemScript: mustHex(t, we.Updater.RedeemScripts[0]), Keys: []descriptor.DerivedKey{pub(0), pub(1)}}
	in1 := &descriptor.Derived{RedeemScript: mustHex(t, we.Updater.RedeemScripts[1]), WitnessScript: mustHex(t, we.Updater.WitnessScripts[0]), Keys: []descriptor.DerivedKey{pub(2), pub(3)}}
	updateInput(&p.Inputs[0], prevTxs[ins[0].Hash], ins[0].Index, in0, descriptor.ScriptSh)
	updateInput(&p.Inputs[1], prevTxs[ins[1].Hash], ins[1].Index, in1, descriptor.ScriptShWsh)
	// The example predates the rule that segwit inputs carry the whole
	// previous transaction too; Build always adds it, the vector has only
	// the witness_utxo.
	t.Log("worked example: updater vector has no non_witness_utxo for its P2SH-P2WSH input (predates the BIP-143 fee-attack fix); it is removed before comparing")
	p.Inputs[1].NonWitnessUtxo = nil
	updateOutput(&p.Outputs[0], &descriptor.Derived{Keys: []descriptor.DerivedKey{pub(4)}})
	updateOutput(&p.Outputs[1], &descriptor.Derived{Keys: []descriptor.DerivedKey{pub(5)}})
	equalPSBT(t, "updater", p, we.Updater.Expected)

	for i := range p.Inputs {
		p.Inputs[i].SighashType = txscript.SigHashAll
	}
	equalPSBT(t, "updater (SIGHASH_ALL)", p, we.UpdaterSighashAll.Expected)

	// Signers: each holds two WIF keys. The BIP's signers use RFC 6979, as
	// Sign does, so signatures match byte for byte.
	signed := make([]*bpsbt.Packet, 2)
	for k, step := range []signerStep{we.Signer1, we.Signer2} {
		sp := mustDecode(t, we.UpdaterSighashAll.Expected)
		n, err := signWith(sp, fp, wifKeys(t, step), false)
		if err != nil {
			t.Fatalf("signer %d: %v", k+1, err)
		}
		if n != 2 {
			t.Fatalf("signer %d added %d signatures, want 2", k+1, n)
		}
		equalPSBT(t, "signer "+strconv.Itoa(k+1), sp, step.Expected)
		signed[k] = sp
	}

	// Sign derives the same four keys from the master key.
	all := mustDecode(t, we.UpdaterSighashAll.Expected)
	chain := &keyChain{root: master, nodes: map[string]*hdkeychain.ExtendedKey{}}
	if n, err := signWith(all, fp, chain.privKey, false); err != nil || n != 4 {
		t.Fatalf("signing with the master key: n=%d err=%v", n, err)
	}
	equalPSBTContent(t, "signer with the master key", all, we.CombinerResult.Expected)
	// The exported Sign insists on non_witness_utxo, which the example's
	// second input lacks.
	if _, err := Sign(mustDecode(t, we.UpdaterSighashAll.Expected), master); !errors.Is(err, ErrRefused) {
		t.Fatalf("Sign without non_witness_utxo: err = %v, want ErrRefused", err)
	}

	combined, err := Combine(signed, WalletInfo{})
	if err != nil {
		t.Fatalf("combiner: %v", err)
	}
	equalPSBTContent(t, "combiner", combined, we.CombinerResult.Expected)
	// The combiner must not have changed its inputs.
	equalPSBT(t, "combiner input", signed[0], we.Signer1.Expected)

	if err := FinalizePacket(combined, WalletInfo{}); err != nil {
		t.Fatalf("finalizer: %v", err)
	}
	equalPSBT(t, "finalizer", combined, we.Finalizer.Expected)

	tx, err := Extract(combined)
	if err != nil {
		t.Fatalf("extractor: %v", err)
	}
	var b bytes.Buffer
	if err := tx.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b.Bytes()); got != we.Extractor.ExpectedTx {
		t.Fatalf("extractor: transaction differs\n got %s\nwant %s", got, we.Extractor.ExpectedTx)
	}

	// Finalize does both steps.
	again := mustDecode(t, we.CombinerResult.Expected)
	tx2, err := Finalize(again, WalletInfo{})
	if err != nil || tx2.TxHash() != tx.TxHash() {
		t.Fatalf("Finalize: %v", err)
	}
}

// TestWorkedExampleFinalizeNeedsAllSigners checks the refusal when one
// signer is missing: it names the cosigner.
func TestWorkedExampleFinalizeNeedsAllSigners(t *testing.T) {
	v := loadBIP174(t)
	p := mustDecode(t, v.WorkedExample.Signer1.Expected)
	err := FinalizePacket(p, WalletInfo{})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "d90c6a4f") || !strings.Contains(err.Error(), "1 of the 2") {
		t.Fatalf("err = %v, want a refusal naming the missing cosigner d90c6a4f", err)
	}
	// Nothing was changed.
	equalPSBT(t, "after refusal", p, v.WorkedExample.Signer1.Expected)
	if _, err := Extract(p); !errors.Is(err, ErrRefused) {
		t.Fatalf("Extract of an unfinalized PSBT: err = %v", err)
	}
}

func TestCombinerKeyOrderingVector(t *testing.T) {
	v := loadBIP174(t)
	var ps []*bpsbt.Packet
	for _, e := range v.CombinerOrdering.Inputs {
		ps = append(ps, mustDecode(t, e))
	}
	got, err := Combine(ps, WalletInfo{})
	if err != nil {
		t.Fatal(err)
	}
	equalPSBT(t, "combiner", got, v.CombinerOrdering.Expected)
}

// TestSignerCheckFailureVectors: the BIP's PSBTs that parse but that a
// signer must refuse. Each is offered to the signer with the worked
// example's master key (whose fingerprint the derivations carry) and to
// CheckWallet with the wallet of the input concerned.
func TestSignerCheckFailureVectors(t *testing.T) {
	v := loadBIP174(t)
	master, fp := workedExampleMaster(t, v)
	for _, c := range v.SignerCheckFailures {
		t.Run(c.Description, func(t *testing.T) {
			p, err := Decode([]byte(c.Base64))
			if err != nil {
				t.Fatalf("the vector must parse: %v", err)
			}
			// Every input is held to the signer checks, whoever signs it.
			a := analyze(p, nil)
			refused := false
			for i := range p.Inputs {
				if a.in[i].prevErr != nil {
					continue
				}
				if err := signerChecks(&p.Inputs[i], &a.in[i], i, false); err != nil {
					if !errors.Is(err, ErrRefused) {
						t.Fatalf("input %d: err = %v, want ErrRefused", i, err)
					}
					t.Logf("input %d refused: %v", i, err)
					refused = true
				}
			}
			if !refused {
				t.Fatal("no input was refused by the signer checks")
			}
			chain := &keyChain{root: master, nodes: map[string]*hdkeychain.ExtendedKey{}}
			n, err := signWith(p, fp, chain.privKey, false)
			if hasDerivationFor(p, fp) {
				if !errors.Is(err, ErrRefused) || n != 0 {
					t.Fatalf("signer: n=%d err=%v, want a refusal", n, err)
				}
			} else {
				t.Logf("no input has a derivation for the example's master key: the signer has nothing to sign (n=%d, err=%v)", n, err)
				if n != 0 {
					t.Fatal("signed an input it must refuse")
				}
			}
			before := countSigs(p)
			_, err = Sign(p, master)
			if countSigs(p) != before {
				t.Fatal("Sign added signatures to a PSBT that fails the signer checks")
			}
			if hasDerivationFor(p, fp) && !errors.Is(err, ErrRefused) {
				t.Fatalf("Sign: err = %v, want ErrRefused", err)
			}
		})
	}
}

func hasDerivationFor(p *bpsbt.Packet, fp [4]byte) bool {
	for i := range p.Inputs {
		for _, d := range p.Inputs[i].Bip32Derivation {
			if fingerprintOf(d) == fp {
				return true
			}
		}
	}
	return false
}

func countSigs(p *bpsbt.Packet) int {
	n := 0
	for i := range p.Inputs {
		n += len(p.Inputs[i].PartialSigs)
	}
	return n
}

// TestWorkedExampleWallet checks CheckWallet and Inspect on the worked
// example with the descriptor of its P2SH input.
func TestWorkedExampleWallet(t *testing.T) {
	v := loadBIP174(t)
	we := &v.WorkedExample
	_, fp := workedExampleMaster(t, v)
	origin := "[" + hex.EncodeToString(fp[:]) + "/0h/0h/"
	d, err := descriptor.Parse("sh(multi(2," + origin + "0h]" + we.Updater.PublicKeys[0].PubKey + "," + origin + "1h]" + we.Updater.PublicKeys[1].PubKey + "))")
	if err != nil {
		t.Fatalf("descriptor: %v", err)
	}
	w := WalletInfo{Descriptor: d, Network: &chaincfg.TestNet3Params, Labels: []string{"alice", "bob"}}
	p := mustDecode(t, we.Signer1.Expected)
	r, err := Inspect(p, w)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Inputs[0].Ours || r.Inputs[1].Ours {
		t.Fatalf("ours = %v, %v; want input 0 only", r.Inputs[0].Ours, r.Inputs[1].Ours)
	}
	in0 := r.Inputs[0]
	if len(in0.Signatures) != 1 || in0.Signatures[0].Label != "alice" || in0.Missing != 1 || in0.Required != 2 ||
		len(in0.NotSigned) != 1 || in0.NotSigned[0].Label != "bob" {
		t.Fatalf("input 0 report = %+v", in0)
	}
	if r.ReadyToFinalize {
		t.Fatal("ready to finalize with one signature of two")
	}
	if !r.FeeKnown || r.Fee != r.TotalIn-r.TotalOut || r.Fee <= 0 {
		t.Fatalf("fee = %d (known %v)", r.Fee, r.FeeKnown)
	}
	// Input 1 is not the wallet's: the gate refuses it by index.
	err = CheckWallet(p, w)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "input 1") {
		t.Fatalf("CheckWallet: %v", err)
	}
}
