package soft_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg"
)

// TestNostrSecretNIP06: a software key imported from each NIP-06 vector's
// mnemonic gives the vector's Nostr private and public key
// (testdata/nip06.json, from NIP-06 itself; a missing file fails).
func TestNostrSecretNIP06(t *testing.T) {
	b, err := os.ReadFile("testdata/nip06.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []struct {
		Mnemonic   string `json:"mnemonic"`
		PrivateKey string `json:"private_key"`
		PublicKey  string `json:"public_key"`
	}
	if err := json.Unmarshal(b, &vs); err != nil || len(vs) != 2 {
		t.Fatalf("nip06.json: %d vectors, %v", len(vs), err)
	}
	s := newStore(t)
	for i, v := range vs {
		name := []string{"n0", "n1"}[i]
		if _, err := s.Import(name, v.Mnemonic, "", &chaincfg.MainNetParams, []byte("correct horse battery")); err != nil {
			t.Fatal(err)
		}
		k, err := s.Open(name, []byte("correct horse battery"))
		if err != nil {
			t.Fatal(err)
		}
		sk, err := k.NostrSecret(context.Background())
		k.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(sk[:]); got != v.PrivateKey {
			t.Errorf("vector %d: private key %s, want %s", i, got, v.PrivateKey)
		}
		_, pub := btcec.PrivKeyFromBytes(sk[:])
		if got := hex.EncodeToString(pub.SerializeCompressed()[1:]); got != v.PublicKey {
			t.Errorf("vector %d: public key %s, want %s", i, got, v.PublicKey)
		}
		if _, err := k.NostrSecret(context.Background()); err == nil {
			t.Error("a closed key gave a Nostr secret")
		}
	}
}
