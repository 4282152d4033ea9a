package qrsigner

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

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

func readTx(t testing.TB, s string) *wire.MsgTx {
	t.Helper()
	var m wire.MsgTx
	if err := m.Deserialize(bytes.NewReader(mustHex(t, s))); err != nil {
		t.Fatalf("transaction %s: %v", s, err)
	}
	return &m
}

// TestBIP143Vectors checks the segwit digest against every example of
// BIP-143, all six hash types included.
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
		SigHash    string `json:"sigHash"`
	}
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) != 14 {
		t.Fatalf("%d BIP-143 vectors, want the BIP's 14", len(vectors))
	}
	for _, v := range vectors {
		tx := readTx(t, v.Tx)
		code := mustHex(t, v.ScriptCode)
		r := bytes.NewReader(code)
		n, err := wire.ReadVarInt(r, 0)
		if err != nil || int(n) != r.Len() {
			t.Fatalf("%s: scriptCode length prefix", v.Name)
		}
		got := witnessSighash(tx, newSegwitHashes(tx), v.Input, code[len(code)-int(n):], v.Amount, v.HashType)
		if hex.EncodeToString(got[:]) != v.SigHash {
			t.Errorf("%s, hash type %#x: %x, want %s", v.Name, v.HashType, got, v.SigHash)
		}
	}
}

// TestLegacySighashCoreVectors checks the legacy digest against Bitcoin
// Core's 500 vectors: every hash type, OP_CODESEPARATOR removal, the
// SIGHASH_SINGLE bug.
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
			continue
		}
		tx := readTx(t, row[0].(string))
		idx, ht, want := int(row[2].(float64)), int32(row[3].(float64)), row[4].(string)
		got := legacySighash(tx, idx, mustHex(t, row[1].(string)), uint32(ht))
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

// TestDescriptorChecksumVectors checks BIP-380's checksum vectors and a
// Coldcard export: valid ones match, invalid ones (wrong checksum, bad
// characters) do not.
func TestDescriptorChecksumVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "descriptor_checksum.json"))
	if err != nil {
		t.Fatalf("the BIP-380 vectors are part of the repository: %v", err)
	}
	var file struct {
		Checksums []struct {
			Descriptor string `json:"descriptor"`
			Valid      *bool  `json:"valid"`
		} `json:"bip380_checksum_vectors"`
		Coldcard []struct {
			Descriptor string `json:"descriptor"`
		} `json:"coldcard_descriptor_export_with_checksum"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	checked := 0
	verify := func(d string) bool {
		body, sum, ok := cut(d)
		if !ok {
			return false
		}
		want, err := descriptorChecksum(body)
		return err == nil && want == sum
	}
	for _, v := range file.Checksums {
		if v.Valid == nil {
			continue
		}
		if got := verify(v.Descriptor); got != *v.Valid {
			t.Errorf("%q: valid %v, want %v", v.Descriptor, got, *v.Valid)
		}
		checked++
	}
	for _, v := range file.Coldcard {
		if !verify(v.Descriptor) {
			t.Errorf("Coldcard export %q does not verify", v.Descriptor)
		}
		if _, err := parseWallet(v.Descriptor); err != nil {
			t.Errorf("Coldcard export: %v", err)
		}
		checked++
	}
	if checked < 7 {
		t.Fatalf("only %d checksum vectors", checked)
	}
}

func cut(d string) (body, sum string, ok bool) {
	i := bytes.LastIndexByte([]byte(d), '#')
	if i < 0 {
		return d, "", false
	}
	return d[:i], d[i+1:], true
}
