package jade

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func txFromHex(t testing.TB, s string) *wire.MsgTx {
	t.Helper()
	var m wire.MsgTx
	if err := m.Deserialize(bytes.NewReader(unhex(t, s))); err != nil {
		t.Fatal(err)
	}
	return &m
}

// TestBIP143Examples: every example of BIP-143 (testdata/bip143.json).
func TestBIP143Examples(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "bip143.json"))
	if err != nil {
		t.Fatalf("the BIP-143 vectors are part of the repository: %v", err)
	}
	var vs []struct {
		Name       string `json:"name"`
		Tx         string `json:"tx"`
		Input      int    `json:"input"`
		ScriptCode string `json:"scriptCode"`
		Amount     int64  `json:"amount"`
		HashType   uint32 `json:"hashType"`
		Preimage   string `json:"preimage"`
		SigHash    string `json:"sigHash"`
	}
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) != 14 {
		t.Fatalf("%d vectors, want BIP-143's 14", len(vs))
	}
	for _, v := range vs {
		tx := newSigTx(txFromHex(t, v.Tx))
		code := unhex(t, v.ScriptCode)[1:] // the BIP prints the length prefix
		c := newSegwitCache(tx)
		pre, err := segwitPreimage(tx, c, v.Input, code, v.Amount, v.HashType)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(pre) != v.Preimage {
			t.Errorf("%s %#x: preimage\n%x\nwant\n%s", v.Name, v.HashType, pre, v.Preimage)
		}
		d, _ := segwitDigest(tx, c, v.Input, code, v.Amount, v.HashType)
		if hex.EncodeToString(d[:]) != v.SigHash {
			t.Errorf("%s %#x: digest %x, want %s", v.Name, v.HashType, d, v.SigHash)
		}
	}
}

// TestLegacyCoreVectors: Bitcoin Core's 500 legacy sighash vectors.
func TestLegacyCoreVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "core_sighash.json"))
	if err != nil {
		t.Fatalf("Bitcoin Core's sighash vectors are part of the repository: %v", err)
	}
	var rows [][]any
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, row := range rows {
		if len(row) != 5 {
			continue // the header
		}
		tx := newSigTx(txFromHex(t, row[0].(string)))
		d, err := legacyDigest(tx, int(row[2].(float64)), unhex(t, row[1].(string)), uint32(int32(row[3].(float64))))
		if err != nil {
			t.Fatalf("row %d: %v", n, err)
		}
		slices.Reverse(d[:]) // Core prints the digest as a number
		if got := hex.EncodeToString(d[:]); got != row[4].(string) {
			t.Errorf("row %d: %s, want %s", n, got, row[4])
		}
		n++
	}
	if n != 500 {
		t.Fatalf("%d vectors, want 500", n)
	}
}

// TestDigestsAgainstTxscript compares both digests with btcd's txscript on
// random transactions and multisig scripts (some keys holding 0xab, which
// is data there, not OP_CODESEPARATOR), every hash type: a second
// implementation, consulted by this test only.
func TestDigestsAgainstTxscript(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 143))
	rnd := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	types := []uint32{hashAll, hashNone, hashSingle, hashAll | hashAnyoneCanPay, hashNone | hashAnyoneCanPay, hashSingle | hashAnyoneCanPay}
	for round := 0; round < 200; round++ {
		m := wire.NewMsgTx(int32(r.Uint32()))
		m.LockTime = r.Uint32()
		for i := 0; i < 1+r.IntN(4); i++ {
			var h chainhash.Hash
			copy(h[:], rnd(32))
			in := wire.NewTxIn(&wire.OutPoint{Hash: h, Index: r.Uint32N(3)}, rnd(r.IntN(50)), nil)
			in.Sequence = r.Uint32()
			m.AddTxIn(in)
		}
		for i := 0; i < 1+r.IntN(4); i++ {
			m.AddTxOut(wire.NewTxOut(r.Int64N(1e15), rnd(r.IntN(40))))
		}
		var keys [][]byte
		for i := 0; i < 1+r.IntN(5); i++ {
			k := rnd(33)
			if r.IntN(2) == 0 {
				k[5] = 0xab
			}
			keys = append(keys, k)
		}
		script, err := multisigScript(1+r.IntN(len(keys)), keys, false)
		if err != nil {
			t.Fatal(err)
		}
		prevs := txscript.NewMultiPrevOutFetcher(nil)
		for _, in := range m.TxIn {
			prevs.AddPrevOut(in.PreviousOutPoint, wire.NewTxOut(r.Int64N(1e15), nil))
		}
		hashes := txscript.NewTxSigHashes(m, prevs)
		tx := newSigTx(m)
		c := newSegwitCache(tx)
		for idx, in := range m.TxIn {
			amount := prevs.FetchPrevOutput(in.PreviousOutPoint).Value
			for _, ht := range types {
				want, err := txscript.CalcSignatureHash(script, txscript.SigHashType(ht), m, idx)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := legacyDigest(tx, idx, script, ht)
				if !bytes.Equal(got[:], want) {
					t.Fatalf("legacy round %d input %d type %#x", round, idx, ht)
				}
				want, err = txscript.CalcWitnessSigHash(script, hashes, txscript.SigHashType(ht), m, idx, amount)
				if err != nil {
					t.Fatal(err)
				}
				got, _ = segwitDigest(tx, c, idx, script, amount, ht)
				if !bytes.Equal(got[:], want) {
					t.Fatalf("segwit round %d input %d type %#x", round, idx, ht)
				}
			}
		}
	}
}

// TestSignLowR: every signature has a low R, verifies, and equals btcec's
// RFC 6979 signature whenever that one already had a low R (the first
// try, without extra data, is plain RFC 6979); about half the keys need
// grinding.
func TestSignLowR(t *testing.T) {
	ground := 0
	for i := 0; i < 300; i++ {
		seed := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		priv, _ := btcec.PrivKeyFromBytes(seed[:])
		hash := sha256.Sum256(seed[:])
		der := signLowR(priv, hash)
		sig, err := ecdsa.ParseDERSignature(der)
		if err != nil {
			t.Fatal(err)
		}
		if !sig.Verify(hash[:], priv.PubKey()) {
			t.Fatalf("key %d: signature does not verify", i)
		}
		// DER pads an R with its top bit set to 33 bytes.
		if der[3] > 32 {
			t.Fatalf("key %d: high R", i)
		}
		if len(der) > 70 {
			t.Fatalf("key %d: %d-byte signature", i, len(der))
		}
		plain := ecdsa.Sign(priv, hash[:]).Serialize()
		if plain[3] <= 32 {
			if !bytes.Equal(plain, der) {
				t.Fatalf("key %d: differs from RFC 6979 without grinding", i)
			}
		} else {
			ground++
		}
	}
	if ground < 100 || ground > 200 {
		t.Fatalf("%d of 300 signatures needed grinding", ground)
	}
}
