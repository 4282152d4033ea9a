package psbt

import (
	"bytes"
	"errors"
	"testing"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/countersign/countersign/internal/vectors"
)

// bip370 is psbt_bip370.json: BIP-370's test vectors, copied verbatim.
type bip370 struct {
	Invalid  []vectorCase `json:"invalid"`
	Valid    []vectorCase `json:"valid"`
	Timelock []struct {
		vectorCase
		Expected any `json:"expected_locktime"`
	} `json:"timelock_determination"`
}

func loadBIP370(t *testing.T) *bip370 {
	t.Helper()
	var v bip370
	vectors.Load(t, "psbt_bip370.json", &v)
	if len(v.Invalid) == 0 || len(v.Valid) == 0 || len(v.Timelock) == 0 {
		t.Fatal("psbt_bip370.json holds no vectors: the file layout changed")
	}
	return &v
}

func TestBIP370Invalid(t *testing.T) {
	for _, c := range loadBIP370(t).Invalid {
		t.Run(c.Description, func(t *testing.T) {
			for _, form := range [][]byte{[]byte(c.Base64), mustHex(t, c.Hex)} {
				if _, err := Decode(form); !errors.Is(err, ErrMalformed) {
					t.Fatalf("Decode accepted an invalid PSBT: err = %v", err)
				} else {
					t.Logf("refused: %v", err)
				}
			}
		})
	}
}

// TestBIP370Valid reads every valid version 2 vector, writes it as
// version 2 and as version 0, and reads both back to the same PSBT.
func TestBIP370Valid(t *testing.T) {
	for _, c := range loadBIP370(t).Valid {
		t.Run(c.Description, func(t *testing.T) {
			p, version, err := DecodeVersion([]byte(c.Base64))
			if err != nil || version != 2 {
				t.Fatalf("version %d, %v", version, err)
			}
			v2, err := SerializeVersion(p, 2)
			if err != nil {
				t.Fatal(err)
			}
			q, version, err := DecodeVersion(v2)
			if err != nil || version != 2 {
				t.Fatalf("our version 2 does not read back: version %d, %v", version, err)
			}
			if !samePacket(t, p, q) {
				t.Fatalf("version 2 round trip changed the PSBT\n in %s\nout %x", c.Hex, v2)
			}
			v0, err := Serialize(p)
			if err != nil {
				t.Fatal(err)
			}
			r, version, err := DecodeVersion(v0)
			if err != nil || version != 0 {
				t.Fatalf("the version 0 form does not read back: version %d, %v", version, err)
			}
			if r.UnsignedTx.TxHash() != p.UnsignedTx.TxHash() {
				t.Fatal("the version 0 form is another transaction")
			}
			// Converting back keeps everything version 0 can hold.
			back, err := SerializeVersion(r, 2)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Decode(back); err != nil {
				t.Fatalf("version 0 -> 2: %v", err)
			}
		})
	}
}

// samePacket compares two packets by their serialization, version 2
// records included.
func samePacket(t *testing.T, a, b *bpsbt.Packet) bool {
	t.Helper()
	x, err := SerializeVersion(a, 2)
	if err != nil {
		t.Fatal(err)
	}
	y, err := SerializeVersion(b, 2)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}

func TestBIP370LockTimeDetermination(t *testing.T) {
	for _, c := range loadBIP370(t).Timelock {
		t.Run(c.Description, func(t *testing.T) {
			p, err := Decode([]byte(c.Base64))
			want, isNumber := c.Expected.(float64)
			if !isNumber {
				if !errors.Is(err, ErrLockTimeConflict) || !errors.Is(err, ErrMalformed) {
					t.Fatalf("lock time cannot be computed: err = %v, want ErrLockTimeConflict", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.UnsignedTx.LockTime; got != uint32(want) {
				t.Fatalf("lock time %d, want %d", got, uint32(want))
			}
		})
	}
}
