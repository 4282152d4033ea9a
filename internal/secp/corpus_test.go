package secp

import (
	"math/big"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/countersign/countersign/internal/fuzzseed"
)

// TestFuzzCorpus derives FuzzFieldMul's seeds (see internal/fuzzseed):
// pairs of field values at the edges that carry and reduction handle
// (0, 1, p-1, p, p+1, 2^256-1, limb boundaries) and the generator's
// coordinates.
func TestFuzzCorpus(t *testing.T) {
	c := fuzzseed.New("FuzzFieldMul")
	one := big.NewInt(1)
	pow := func(n uint) *big.Int { return new(big.Int).Lsh(one, n) }
	g := btcec.Generator()
	vals := map[string]*big.Int{
		"zero": new(big.Int), "one": one,
		"p_minus_1": new(big.Int).Sub(fieldP, one), "p": fieldP, "p_plus_1": new(big.Int).Add(fieldP, one),
		"max256":  new(big.Int).Sub(pow(256), one),
		"limb_52": new(big.Int).Sub(pow(52), one), "limb_64": pow(64), "limb_104": new(big.Int).Sub(pow(104), one),
		"limb_208": pow(208), "half_p": new(big.Int).Rsh(fieldP, 1),
		"gx": g.X(), "gy": g.Y(),
	}
	names := []string{"zero", "one", "p_minus_1", "p", "p_plus_1", "max256", "limb_52", "limb_64", "limb_104", "limb_208", "half_p", "gx", "gy"}
	for i, a := range names {
		for _, b := range names[i:] {
			c.Add(a+"_x_"+b, vals[a].FillBytes(make([]byte, 32)), vals[b].FillBytes(make([]byte, 32)))
		}
	}
	c.Add("short_inputs", []byte{2}, []byte{3})
	c.Add("long_input", make([]byte, 40), []byte{1})
	fuzzseed.Check(t, c)
}
