package miniscript_test

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/countersign/countersign/descriptor/miniscript"
)

// derivedKey stands for a descriptor key such as [fp/48'/0'/0'/2']xpub.../<0;1>/*:
// the miniscript keeps the expression, the descriptor derives the bytes.
type derivedKey struct {
	expr string
	seed byte
}

func (k derivedKey) String() string { return k.expr }

// derive is what a descriptor's KeyBytes does at one address index.
func (k derivedKey) derive(index uint32) []byte {
	var sk [32]byte
	sk[30], sk[31] = k.seed, byte(index+1)
	priv, _ := btcec.PrivKeyFromBytes(sk[:])
	return priv.PubKey().SerializeCompressed()
}

// Example shows how a wsh(<miniscript>) descriptor uses the package: parse
// once with its own key parser, check sanity, then build the script and
// plan spends per address index with a KeyBytes that derives.
func Example() {
	parseKey := func(expr string) (miniscript.Key, error) {
		if !strings.HasPrefix(expr, "xpub_") || len(expr) != 6 {
			return nil, fmt.Errorf("unknown key %q", expr)
		}
		return derivedKey{expr: expr, seed: expr[5]}, nil
	}
	n, err := miniscript.Parse("or_d(multi(2,xpub_A,xpub_B,xpub_C),and_v(v:pkh(xpub_L),older(52560)))",
		miniscript.P2WSH, parseKey)
	if err != nil {
		panic(err)
	}
	fmt.Println("sane:", n.IsSane() == nil)

	atIndex := func(i uint32) miniscript.KeyBytes {
		return func(k miniscript.Key) ([]byte, error) { return k.(derivedKey).derive(i), nil }
	}
	script, _ := n.Script(atIndex(7))
	fmt.Println("script bytes:", len(script))
	wsh := miniscript.WitnessScriptHash(script)
	fmt.Println("wsh program:", hex.EncodeToString(wsh[:4])+"...")

	max, _ := n.MaxWitnessSize()
	fmt.Println("worst-case witness bytes:", max)

	// A year later, only the heir can sign: which path, which nSequence?
	plan, err := n.Plan(atIndex(7), miniscript.PlanAssets{
		CanSign: func(k miniscript.Key, _ []byte) bool { return k.String() == "xpub_L" },
		Locks:   miniscript.LockState{Sequence: 60000},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("sign with:", plan.Best.Keys, "nSequence:", plan.Best.Sequence, "witness bytes:", plan.Best.WitnessSize)
	// Output:
	// sane: true
	// script bytes: 138
	// wsh program: 0860c8c8...
	// worst-case witness bytes: 147
	// sign with: [xpub_L] nSequence: 52560 witness bytes: 110
}
