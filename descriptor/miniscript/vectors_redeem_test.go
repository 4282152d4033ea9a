package miniscript

import (
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/txscript"
)

type redeemCase struct {
	Miniscript  string  `json:"miniscript"`
	Comment     string  `json:"comment"`
	Valid       bool    `json:"valid"`
	CanSign1    bool    `json:"can_sign_1"`
	CanSign2    bool    `json:"can_sign_2"`
	CanSign3    bool    `json:"can_sign_3"`
	HasPreimage bool    `json:"has_preimage"`
	Sequence    *uint32 `json:"sequence"`
}

// TestBIP379Redeem runs the satisfaction scenarios of redeem.json: with
// the listed keys signing, the preimage known or not and the input's
// nSequence, a P2WSH spend must exist (and pass btcd's script engine) or
// must not.
func TestBIP379Redeem(t *testing.T) {
	f, err := os.Open("testdata/bip379/redeem.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Identifiers map[string]string `json:"identifiers"`
		TestCases   []redeemCase      `json:"test_cases"`
	}
	if err := json.NewDecoder(zr).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.TestCases) != 46 {
		t.Fatalf("%d cases, want 46", len(doc.TestCases))
	}
	ids := doc.Identifiers
	// Longer names first, so h256_1 is not replaced inside h256_10.
	var repl []string
	for _, name := range []string{"key_1", "key_2", "key_3", "h256_1", "h256_2", "h160_1"} {
		repl = append(repl, name, ids[name])
	}
	// key_4 and key_5 appear only in cases where they do not sign and
	// have no identifier: stand-in keys do.
	letters := letterKeys(t)
	repl = append(repl, "key_4", letters["D"].String(), "key_5", letters["E"].String())
	r := strings.NewReplacer(repl...)
	privs := map[string]*btcec.PrivateKey{}
	for i, name := range []string{"pk_1", "pk_2", "pk_3"} {
		b, _ := hex.DecodeString(ids[name])
		priv, _ := btcec.PrivKeyFromBytes(b)
		key := ids[[]string{"key_1", "key_2", "key_3"}[i]]
		if hex.EncodeToString(priv.PubKey().SerializeCompressed()) != key {
			t.Fatalf("%s does not match its key", name)
		}
		privs[key] = priv
	}
	preimage, _ := hex.DecodeString(ids["preimage_1"])
	valid := 0
	for _, c := range doc.TestCases {
		name := c.Miniscript + ": " + c.Comment
		n, err := Parse(r.Replace(c.Miniscript), P2WSH, nil)
		if err != nil {
			if c.Valid {
				t.Errorf("%s: %v", name, err)
			}
			continue // not even valid miniscript (older(0)): no satisfaction
		}
		locks := LockState{Sequence: 0xfffffffe}
		if c.Sequence != nil {
			locks.Sequence = *c.Sequence
		}
		sc := newSpendCtx(t, n, PubKeyBytes)
		tx := sc.tx(locks)
		sat := &Satisfier{Keys: PubKeyBytes, Signatures: map[string][]byte{}, Preimages: map[string][]byte{}, Locks: locks}
		for i, can := range []bool{c.CanSign1, c.CanSign2, c.CanSign3} {
			if !can {
				continue
			}
			key := ids[[]string{"key_1", "key_2", "key_3"}[i]]
			fetcher := txscript.NewCannedPrevOutputFetcher(sc.pkScript, sc.amount)
			sig, err := txscript.RawTxInWitnessSignature(tx, txscript.NewTxSigHashes(tx, fetcher), 0, sc.amount,
				sc.script, txscript.SigHashAll, privs[key])
			if err != nil {
				t.Fatal(err)
			}
			sat.Signatures[key] = sig
		}
		if c.HasPreimage {
			for _, d := range []string{"h256_1", "h256_2", "h160_1"} {
				sat.Preimages[ids[d]] = preimage // Satisfy uses it only where it hashes to d
			}
		}
		w, err := n.Satisfy(sat)
		if !c.Valid {
			if err == nil {
				if sc.verify(tx, w) == nil {
					t.Errorf("%s: satisfied, want no satisfaction", name)
				}
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if err := sc.verify(tx, w); err != nil {
			t.Errorf("%s: script engine: %v", name, err)
			continue
		}
		valid++
	}
	t.Logf("%d of %d redeem scenarios spent", valid, len(doc.TestCases))
}
