package ledger

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

func parseTestTx(t testing.TB, s string) (*wire.MsgTx, *tx) {
	t.Helper()
	var m wire.MsgTx
	if err := m.Deserialize(bytes.NewReader(mustHex(t, s))); err != nil {
		t.Fatalf("transaction %s: %v", s, err)
	}
	return &m, txFromWire(&m)
}

// TestBIP143Vectors checks the BIP-143 preimage and digest against every
// example of the BIP (testdata/bip143.json).
func TestBIP143Vectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "bip143.json"))
	if err != nil {
		t.Fatalf("the BIP-143 vectors are part of the repository: %v", err)
	}
	var vectors []struct {
		Name       string `json:"name"`
		Tx         string `json:"tx"`
		Input      int    `json:"input"`
		ScriptCode string `json:"scriptCode"`
		Amount     int64  `json:"amount"`
		HashType   uint32 `json:"hashType"`
		Preimage   string `json:"preimage"`
		SigHash    string `json:"sigHash"`
	}
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) != 14 {
		t.Fatalf("%d BIP-143 vectors, want the BIP's 14", len(vectors))
	}
	for _, v := range vectors {
		_, tx := parseTestTx(t, v.Tx)
		code := mustHex(t, v.ScriptCode)
		n, rest := code[0], code[1:] // every scriptCode here is shorter than 0xfd
		if int(n) != len(rest) {
			t.Fatalf("%s: scriptCode length prefix %d for %d bytes", v.Name, n, len(rest))
		}
		h := newBIP143Hashes(tx)
		pre, err := bip143Preimage(tx, h, v.Input, rest, v.Amount, v.HashType)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(pre) != v.Preimage {
			t.Errorf("%s, hash type %#x: preimage\n%x\nwant\n%s", v.Name, v.HashType, pre, v.Preimage)
		}
		got, err := segwitV0Sighash(tx, h, v.Input, rest, v.Amount, v.HashType)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got[:]) != v.SigHash {
			t.Errorf("%s, hash type %#x: sighash %x, want %s", v.Name, v.HashType, got, v.SigHash)
		}
	}
}

// TestLegacySighashCoreVectors checks the legacy digest against Bitcoin
// Core's 500 sighash vectors (testdata/core_sighash.json).
func TestLegacySighashCoreVectors(t *testing.T) {
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
		if len(row) == 1 {
			continue // a comment
		}
		txHex, script, idx, ht, want := row[0].(string), row[1].(string), int(row[2].(float64)), int32(row[3].(float64)), row[4].(string)
		_, tx := parseTestTx(t, txHex)
		got, err := legacySighash(tx, idx, mustHex(t, script), uint32(ht))
		if err != nil {
			t.Fatalf("row %d: %v", n, err)
		}
		// Bitcoin Core prints the hash as a number: bytes reversed.
		slices.Reverse(got[:])
		if hex.EncodeToString(got[:]) != want {
			t.Errorf("row %d (hash type %#x, input %d): %x, want %s", n, uint32(ht), idx, got, want)
		}
		n++
	}
	if n != 500 {
		t.Fatalf("%d vectors, want 500", n)
	}
}

// randomTx makes a transaction of 1..5 inputs and 1..5 outputs with
// random fields, some scriptSigs and witnesses included.
func randomTx(r *rand.Rand) *wire.MsgTx {
	m := wire.NewMsgTx(int32(r.Uint32()))
	m.LockTime = r.Uint32()
	randBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	for i := 0; i < 1+r.IntN(5); i++ {
		var h chainhash.Hash
		copy(h[:], randBytes(32))
		in := wire.NewTxIn(&wire.OutPoint{Hash: h, Index: r.Uint32N(4)}, randBytes(r.IntN(80)), nil)
		in.Sequence = r.Uint32()
		if r.IntN(2) == 0 {
			in.Witness = wire.TxWitness{randBytes(72), randBytes(33)}
		}
		m.AddTxIn(in)
	}
	for i := 0; i < 1+r.IntN(5); i++ {
		m.AddTxOut(wire.NewTxOut(r.Int64N(21e14), randBytes(r.IntN(40))))
	}
	return m
}

// randomMultisig makes an m-of-n script of random 33-byte "keys", some of
// which contain the byte 0xab (OP_CODESEPARATOR) as data.
func randomMultisig(r *rand.Rand) []byte {
	n := 1 + r.IntN(15)
	var keys [][]byte
	for i := 0; i < n; i++ {
		k := make([]byte, 33)
		for j := range k {
			k[j] = byte(r.Uint32())
		}
		if r.IntN(3) == 0 {
			k[1+r.IntN(32)] = opCodeSeparator
		}
		keys = append(keys, k)
	}
	ms := &node{frag: "multi", k: uint32(1 + r.IntN(n))}
	for i := range keys {
		ms.keys = append(ms.keys, &keyExpr{key: i})
	}
	s, err := compile(ms, func(k *keyExpr) ([]byte, error) { return keys[k.key], nil })
	if err != nil {
		panic(err)
	}
	return s.b
}

// TestSighashAgainstTxscript compares both digests with btcd's txscript on
// random transactions under every base hash type, with and without
// ANYONECANPAY: the second implementation is consulted here, in a test,
// never by the emulator.
func TestSighashAgainstTxscript(t *testing.T) {
	r := rand.New(rand.NewPCG(143, 16))
	types := []txscript.SigHashType{
		txscript.SigHashAll, txscript.SigHashNone, txscript.SigHashSingle,
		txscript.SigHashAll | txscript.SigHashAnyOneCanPay,
		txscript.SigHashNone | txscript.SigHashAnyOneCanPay,
		txscript.SigHashSingle | txscript.SigHashAnyOneCanPay,
	}
	for round := 0; round < 300; round++ {
		m := randomTx(r)
		tx := txFromWire(m)
		prevs := txscript.NewMultiPrevOutFetcher(nil)
		for _, in := range m.TxIn {
			prevs.AddPrevOut(in.PreviousOutPoint, wire.NewTxOut(r.Int64N(21e14), nil))
		}
		cache := txscript.NewTxSigHashes(m, prevs)
		h := newBIP143Hashes(tx)
		for idx := range m.TxIn {
			script := randomMultisig(r)
			amount := prevs.FetchPrevOutput(m.TxIn[idx].PreviousOutPoint).Value
			for _, ht := range types {
				want, err := txscript.CalcSignatureHash(script, ht, m, idx)
				if err != nil {
					t.Fatal(err)
				}
				got, err := legacySighash(tx, idx, script, uint32(ht))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got[:], want) {
					t.Fatalf("round %d input %d type %#x: legacy %x, txscript %x", round, idx, ht, got, want)
				}
				want, err = txscript.CalcWitnessSigHash(script, cache, ht, m, idx, amount)
				if err != nil {
					t.Fatal(err)
				}
				got, err = segwitV0Sighash(tx, h, idx, script, amount, uint32(ht))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got[:], want) {
					t.Fatalf("round %d input %d type %#x: BIP-143 %x, txscript %x", round, idx, ht, got, want)
				}
			}
		}
	}
}

// TestTxSerialization checks the emulator's serialization and txid
// against btcd's wire package, on random transactions with witnesses
// (which both leave out).
func TestTxSerialization(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		m := randomTx(r)
		var want bytes.Buffer
		if err := m.SerializeNoWitness(&want); err != nil {
			t.Fatal(err)
		}
		tx := txFromWire(m)
		if !bytes.Equal(tx.serialize(), want.Bytes()) {
			t.Fatalf("round %d: serialization\n%x\nwant\n%x", round, tx.serialize(), want.Bytes())
		}
		if id := tx.txid(); chainhash.Hash(id) != m.TxHash() {
			t.Fatalf("round %d: txid %x, want %s", round, id, m.TxHash())
		}
	}
	// CompactSize boundaries.
	for n, want := range map[uint64]string{0: "00", 0xfc: "fc", 0xfd: "fdfd00", 0xffff: "fdffff", 0x10000: "fe00000100", 0x100000000: "ff0000000001000000"} {
		if got := hex.EncodeToString(appendCompactSize(nil, n)); got != want {
			t.Errorf("CompactSize(%#x) = %s, want %s", n, got, want)
		}
	}
}

func TestWithoutCodeSeparators(t *testing.T) {
	for in, want := range map[string]string{
		"ab":                "",
		"51ab52ab":          "5152",
		"02abab ab":         "02abab",     // pushed 0xab bytes are data
		"4c02abab ab 51":    "4c02abab51", // PUSHDATA1
		"4d0200abab ab":     "4d0200abab", // PUSHDATA2
		"4e02000000abab ab": "4e02000000abab",
		"":                  "",
	} {
		got, err := withoutCodeSeparators(mustHex(t, removeSpaces(in)))
		if err != nil || hex.EncodeToString(got) != want {
			t.Errorf("%s: %x, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"02ab", "4c", "4c03abab", "4d01", "4e01000000", "4effffffff00"} {
		if _, err := withoutCodeSeparators(mustHex(t, bad)); err == nil {
			t.Errorf("%s: a truncated push was accepted", bad)
		}
	}
}

func removeSpaces(s string) string { return string(bytes.ReplaceAll([]byte(s), []byte(" "), nil)) }

func TestParsePSBTFields(t *testing.T) {
	pub := mustHex(t, "02"+strings.Repeat("11", 32))
	for val, ok := range map[string]bool{
		"73c5da0a":               true, // a master key itself
		"73c5da0a30000080":       true,
		"73c5da0a300000":         false,
		"":                       false,
		strings.Repeat("00", 44): true, // fingerprint and 10 steps
		strings.Repeat("00", 48): false,
	} {
		d, err := parseDerivation(pub, mustHex(t, val))
		if (err == nil) != ok {
			t.Errorf("value %s: %v", val, err)
		}
		if ok && (len(d.path) != len(val)/8-1 || hex.EncodeToString(d.fpr[:]) != val[:8]) {
			t.Errorf("value %s: %+v", val, d)
		}
	}
	for _, key := range []string{"04" + strings.Repeat("11", 64), "05" + strings.Repeat("11", 32), "02" + strings.Repeat("11", 31)} {
		if _, err := parseDerivation(mustHex(t, key), mustHex(t, "73c5da0a")); err == nil {
			t.Errorf("key %s accepted: the app takes compressed keys only", key)
		}
	}
	for raw, want := range map[string]string{
		"a086010000000000" + "0151":   "100000 51",
		"a086010000000000" + "00":     "100000 ",
		"a086010000000000" + "0251":   "",
		"a086010000000000" + "015151": "",
		"a0860100":                    "",
	} {
		o, err := parseWitnessUtxo(mustHex(t, raw))
		got := ""
		if err == nil {
			got = fmt.Sprintf("%d %x", o.value, o.script)
		}
		if got != want {
			t.Errorf("witness_utxo %s: %q, want %q", raw, got, want)
		}
	}
}
