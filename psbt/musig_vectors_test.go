package psbt

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcec/v2/schnorr/musig2"
)

// The BIP-327 vectors (testdata/bip327, see its README) against the
// btcec musig2 code SignMuSig2 and aggregateMuSig use. btcec's API takes
// 32-byte messages only (countersign signs 32-byte sighashes); vectors
// with other message lengths cannot be expressed and are counted as such.

func loadVec(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("testdata/bip327/" + name)
	if err != nil {
		t.Fatalf("BIP-327 vectors missing (they are part of the repository): %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBIP327KeyAgg(t *testing.T) {
	var v struct {
		Pubkeys []string `json:"pubkeys"`
		Valid   []struct {
			KeyIndices []int  `json:"key_indices"`
			Expected   string `json:"expected"`
		} `json:"valid_test_cases"`
	}
	loadVec(t, "key_agg_vectors.json", &v)
	if len(v.Valid) != 4 {
		t.Fatalf("%d valid key aggregation vectors, want 4", len(v.Valid))
	}
	for i, c := range v.Valid {
		var keys []*btcec.PublicKey
		for _, k := range c.KeyIndices {
			pk, err := btcec.ParsePubKey(unhex(t, v.Pubkeys[k]))
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, pk)
		}
		agg, _, _, err := musig2.AggregateKeys(keys, false)
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		if got := strings.ToUpper(hex.EncodeToString(schnorr.SerializePubKey(agg.FinalKey))); got != c.Expected {
			t.Errorf("vector %d: aggregate %s, want %s", i, got, c.Expected)
		}
	}
}

// fixedReader returns the vector's rand_ bytes.
type fixedReader struct{ b []byte }

func (r *fixedReader) Read(p []byte) (int, error) { return copy(p, r.b), nil }

func TestBIP327NonceGen(t *testing.T) {
	var v struct {
		Cases []struct {
			Rand     string  `json:"rand_"`
			Sk       *string `json:"sk"`
			Pk       string  `json:"pk"`
			AggPk    *string `json:"aggpk"`
			Msg      *string `json:"msg"`
			ExtraIn  *string `json:"extra_in"`
			SecNonce string  `json:"expected_secnonce"`
			PubNonce string  `json:"expected_pubnonce"`
		} `json:"test_cases"`
	}
	loadVec(t, "nonce_gen_vectors.json", &v)
	ran := 0
	for i, c := range v.Cases {
		if c.Msg != nil && len(*c.Msg) != 64 {
			t.Logf("vector %d: a %d-byte message cannot be passed to btcec (32-byte messages only)", i, len(*c.Msg)/2)
			continue
		}
		pk, err := btcec.ParsePubKey(unhex(t, c.Pk))
		if err != nil {
			t.Fatal(err)
		}
		opts := []musig2.NonceGenOption{musig2.WithCustomRand(&fixedReader{unhex(t, c.Rand)}), musig2.WithPublicKey(pk)}
		if c.Sk != nil {
			sk, _ := btcec.PrivKeyFromBytes(unhex(t, *c.Sk))
			opts = append(opts, musig2.WithNonceSecretKeyAux(sk))
		}
		if c.AggPk != nil {
			agg, err := schnorr.ParsePubKey(unhex(t, *c.AggPk))
			if err != nil {
				t.Fatal(err)
			}
			opts = append(opts, musig2.WithNonceCombinedKeyAux(agg))
		}
		if c.Msg != nil {
			opts = append(opts, musig2.WithNonceMessageAux([32]byte(unhex(t, *c.Msg))))
		}
		if c.ExtraIn != nil {
			opts = append(opts, musig2.WithNonceAuxInput(unhex(t, *c.ExtraIn)))
		}
		n, err := musig2.GenNonces(opts...)
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		if !bytes.Equal(n.SecNonce[:], unhex(t, c.SecNonce)) || !bytes.Equal(n.PubNonce[:], unhex(t, c.PubNonce)) {
			t.Errorf("vector %d: nonces differ:\n sec %x\n pub %x", i, n.SecNonce, n.PubNonce)
		}
		ran++
	}
	if ran < 2 {
		t.Fatalf("only %d nonce generation vectors ran", ran)
	}
}

func TestBIP327Sign(t *testing.T) {
	var v struct {
		Sk        string   `json:"sk"`
		Pubkeys   []string `json:"pubkeys"`
		SecNonces []string `json:"secnonces"`
		PNonces   []string `json:"pnonces"`
		AggNonces []string `json:"aggnonces"`
		Msgs      []string `json:"msgs"`
		Valid     []struct {
			KeyIndices   []int  `json:"key_indices"`
			NonceIndices []int  `json:"nonce_indices"`
			AggNonce     int    `json:"aggnonce_index"`
			Msg          int    `json:"msg_index"`
			Signer       int    `json:"signer_index"`
			Expected     string `json:"expected"`
		} `json:"valid_test_cases"`
	}
	loadVec(t, "sign_verify_vectors.json", &v)
	sk, _ := btcec.PrivKeyFromBytes(unhex(t, v.Sk))
	ran := 0
	for i, c := range v.Valid {
		if len(v.Msgs[c.Msg]) != 64 {
			t.Logf("vector %d: a %d-byte message cannot be passed to btcec (32-byte messages only)", i, len(v.Msgs[c.Msg])/2)
			continue
		}
		var keys []*btcec.PublicKey
		for _, k := range c.KeyIndices {
			pk, err := btcec.ParsePubKey(unhex(t, v.Pubkeys[k]))
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, pk)
		}
		agg := [musig2.PubNonceSize]byte(unhex(t, v.AggNonces[c.AggNonce]))
		msg := [32]byte(unhex(t, v.Msgs[c.Msg]))
		sec := [musig2.SecNonceSize]byte(unhex(t, v.SecNonces[0]))
		ps, err := musig2.Sign(sec, sk, agg, keys, msg)
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		var s [32]byte
		ps.S.PutBytes(&s)
		if got := strings.ToUpper(hex.EncodeToString(s[:])); got != c.Expected {
			t.Errorf("vector %d: partial signature %s, want %s", i, got, c.Expected)
		}
		// PartialSigVerify accepts it with the signer's public nonce.
		pn := [musig2.PubNonceSize]byte(unhex(t, v.PNonces[c.NonceIndices[c.Signer]]))
		if !ps.Verify(pn, agg, keys, keys[c.Signer], msg) {
			t.Errorf("vector %d: the partial signature does not verify", i)
		}
		ran++
	}
	if ran != 4 {
		t.Fatalf("%d signing vectors ran, want the 4 with 32-byte messages", ran)
	}
}

// TestFinalNonceMatchesBtcec: finalNonce (used to combine partial
// signatures read back from a PSBT) gives the R btcec's Sign computed.
func TestFinalNonceMatchesBtcec(t *testing.T) {
	var keys []*btcec.PublicKey
	var privs []*btcec.PrivateKey
	for i := range 3 {
		k, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{byte(i + 1)}, 32))
		privs = append(privs, k)
		keys = append(keys, k.PubKey())
	}
	var nonces []*musig2.Nonces
	var pubs [][musig2.PubNonceSize]byte
	for _, k := range privs {
		n, err := musig2.GenNonces(musig2.WithPublicKey(k.PubKey()))
		if err != nil {
			t.Fatal(err)
		}
		nonces = append(nonces, n)
		pubs = append(pubs, n.PubNonce)
	}
	agg, err := musig2.AggregateNonces(pubs)
	if err != nil {
		t.Fatal(err)
	}
	msg := [32]byte{7}
	ps, err := musig2.Sign(nonces[0].SecNonce, privs[0], agg, keys, msg, musig2.WithSortedKeys())
	if err != nil {
		t.Fatal(err)
	}
	aggKey, _, _, _ := musig2.AggregateKeys(keys, true)
	r, err := finalNonce(agg, schnorr.SerializePubKey(aggKey.FinalKey), msg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(schnorr.SerializePubKey(r), schnorr.SerializePubKey(ps.R)) {
		t.Fatal("finalNonce differs from btcec's signing nonce")
	}
}
